#pragma once
// The studio's light and dark themes. The window (panels, menus, tables, text) follows the chosen theme; the
// drawn views (2D plots, image grids, charts, the interval bar) take their colours from `ViewColours`, which
// has one set for the screen (following the theme) and one for paper: every export is drawn on paper, so a
// figure is the same whichever theme the window had.
#include <QColor>
#include <QObject>
#include <QString>

class QWidget;

namespace sims::ui {

enum class Theme { System, Light, Dark };

// "system", "light", "dark" (the settings' and the command line's spelling).
QString theme_name(Theme t);
// false when `name` is not one of the three.
bool parse_theme(const QString& name, Theme* out);

// Applies the theme to the application (the Fusion style with a light or a dark palette; System keeps the
// platform's style and palette as they were at the first call) and tells every view through theme_changed().
void apply_theme(Theme t);
Theme current_theme();
// Whether the window's background is dark (true for Dark, and for System on a dark desktop).
bool theme_is_dark();

// Colours of a drawn view.
struct ViewColours {
  QColor frame;      // around the plot: titles and ticks sit on it
  QColor plot;       // inside the axes
  QColor grid;       // grid lines
  QColor axis;       // axes, ticks and their labels, subtitles
  QColor text;       // chart titles and axis titles
  QColor footnote;   // footers and notes
  QColor reference;  // the real data drawn behind the samples
  QColor ink;        // trails and arrows
  QColor marker;     // the fill of hollow markers
  QColor hover;      // the hover readout's box
  QColor track;      // the interval bar's axis track
  bool dark = false;
  // A data colour (a series, a model's samples) adjusted to stay visible on `plot`.
  QColor data(const QColor& c) const;
  // A title in a data colour, readable on `frame`.
  QColor title(const QColor& c) const;
  // The colours of a 2D view's point clouds: the real data faintly, the samples in their data colour.
  QColor reference_points() const;
  QColor sample_points(const QColor& c) const;
};
const ViewColours& paper_colours();   // exports: always light
const ViewColours& screen_colours();  // on screen: follows the theme

// Text tones for labels and rich text.
enum class Tone { Muted, Faint, Error, Warning, Good, Plain, NoteBackground, NoteBorder, ExampleBackground, ExampleBorder };
QColor tone(Tone t);
// "#rrggbb" of tone(t), for style sheets and rich text.
QString tone_hex(Tone t);
// `text` in a span of tone `t` (the text is used as given: escape it first if it is not rich text).
QString toned(const QString& text, Tone t);

// The widget's text in tone `t` (a style sheet), kept in that tone across changes of theme.
void set_tone(QWidget* w, Tone t);

// Emits changed() after apply_theme(); widgets that bake colours into rich text rebuild it then.
class ThemeSignals final : public QObject {
  Q_OBJECT
 public:
  static ThemeSignals* instance();
 Q_SIGNALS:
  void changed();
};

}  // namespace sims::ui
