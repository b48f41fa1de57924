#include "theme.hpp"

#include <QApplication>
#include <QPalette>
#include <QStyle>
#include <QStyleFactory>
#include <QWidget>

namespace sims::ui {
namespace {

Theme g_theme = Theme::System;
// The platform's own style and palette, kept at the first apply_theme() for System.
bool g_saved = false;
QString g_system_style;
QPalette g_system_palette;

QPalette dark_palette() {
  QPalette p;
  const QColor window(45, 46, 50), base(31, 32, 36), text(222, 223, 228), disabled(125, 126, 132);
  p.setColor(QPalette::Window, window);
  p.setColor(QPalette::WindowText, text);
  p.setColor(QPalette::Base, base);
  p.setColor(QPalette::AlternateBase, QColor(40, 41, 46));
  p.setColor(QPalette::ToolTipBase, QColor(58, 60, 66));
  p.setColor(QPalette::ToolTipText, text);
  p.setColor(QPalette::PlaceholderText, QColor(140, 141, 148));
  p.setColor(QPalette::Text, text);
  p.setColor(QPalette::Button, QColor(55, 56, 61));
  p.setColor(QPalette::ButtonText, text);
  p.setColor(QPalette::BrightText, QColor(255, 110, 100));
  p.setColor(QPalette::Light, QColor(78, 80, 86));
  p.setColor(QPalette::Midlight, QColor(64, 65, 71));
  p.setColor(QPalette::Mid, QColor(38, 39, 43));
  p.setColor(QPalette::Dark, QColor(26, 27, 30));
  p.setColor(QPalette::Shadow, QColor(12, 12, 14));
  p.setColor(QPalette::Highlight, QColor(52, 112, 196));
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Link, QColor(110, 165, 240));
  p.setColor(QPalette::LinkVisited, QColor(170, 140, 230));
  for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
    p.setColor(QPalette::Disabled, role, disabled);
  p.setColor(QPalette::Disabled, QPalette::Button, QColor(48, 49, 53));
  return p;
}

// Explicit, so Light is light whatever the desktop's colour scheme (a style's standard palette may follow it).
QPalette light_palette() {
  QPalette p;
  const QColor window(239, 239, 241), text(20, 20, 24), disabled(150, 150, 156);
  p.setColor(QPalette::Window, window);
  p.setColor(QPalette::WindowText, text);
  p.setColor(QPalette::Base, Qt::white);
  p.setColor(QPalette::AlternateBase, QColor(246, 246, 248));
  p.setColor(QPalette::ToolTipBase, QColor(255, 255, 225));
  p.setColor(QPalette::ToolTipText, text);
  p.setColor(QPalette::PlaceholderText, QColor(120, 120, 126));
  p.setColor(QPalette::Text, text);
  p.setColor(QPalette::Button, window);
  p.setColor(QPalette::ButtonText, text);
  p.setColor(QPalette::BrightText, Qt::white);
  p.setColor(QPalette::Light, Qt::white);
  p.setColor(QPalette::Midlight, QColor(227, 227, 230));
  p.setColor(QPalette::Mid, QColor(160, 160, 165));
  p.setColor(QPalette::Dark, QColor(120, 120, 125));
  p.setColor(QPalette::Shadow, QColor(60, 60, 64));
  p.setColor(QPalette::Highlight, QColor(48, 140, 198));
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Link, QColor(30, 90, 190));
  p.setColor(QPalette::LinkVisited, QColor(110, 60, 170));
  for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
    p.setColor(QPalette::Disabled, role, disabled);
  return p;
}

ViewColours make_paper() {
  ViewColours c;
  c.frame = QColor(238, 239, 242);
  c.plot = QColor(252, 252, 250);
  c.grid = QColor(225, 226, 230);
  c.axis = QColor(90, 90, 98);
  c.text = QColor(30, 30, 40);
  c.footnote = QColor(120, 120, 130);
  c.reference = QColor(150, 150, 158);
  c.ink = QColor(30, 30, 40);
  c.marker = Qt::white;
  c.hover = QColor(255, 255, 255, 220);
  c.track = QColor(228, 229, 234);
  c.dark = false;
  return c;
}

ViewColours make_dark() {
  ViewColours c;
  c.frame = QColor(40, 41, 45);
  c.plot = QColor(26, 27, 31);
  c.grid = QColor(55, 57, 63);
  c.axis = QColor(165, 167, 175);
  c.text = QColor(224, 225, 230);
  c.footnote = QColor(150, 152, 160);
  c.reference = QColor(165, 165, 175);
  c.ink = QColor(230, 230, 235);
  c.marker = QColor(26, 27, 31);
  c.hover = QColor(20, 20, 24, 225);
  c.track = QColor(70, 72, 78);
  c.dark = true;
  return c;
}

}  // namespace

QString theme_name(Theme t) {
  switch (t) {
    case Theme::Light: return "light";
    case Theme::Dark: return "dark";
    case Theme::System: break;
  }
  return "system";
}

bool parse_theme(const QString& name, Theme* out) {
  for (Theme t : {Theme::System, Theme::Light, Theme::Dark})
    if (name.trimmed().compare(theme_name(t), Qt::CaseInsensitive) == 0) {
      *out = t;
      return true;
    }
  return false;
}

void apply_theme(Theme t) {
  if (!g_saved) {
    g_saved = true;
    g_system_style = QApplication::style() ? QApplication::style()->name() : QString("fusion");
    g_system_palette = QApplication::palette();
  }
  g_theme = t;
  if (t == Theme::System) {
    if (QApplication::style()->name().compare(g_system_style, Qt::CaseInsensitive) != 0)
      QApplication::setStyle(QStyleFactory::create(g_system_style));
    QApplication::setPalette(g_system_palette);
  } else {
    // Fusion draws with the palette on every platform (native styles may ignore it).
    if (QApplication::style()->name().compare("fusion", Qt::CaseInsensitive) != 0)
      QApplication::setStyle(QStyleFactory::create("Fusion"));
    QApplication::setPalette(t == Theme::Dark ? dark_palette() : light_palette());
  }
  Q_EMIT ThemeSignals::instance()->changed();
}

Theme current_theme() { return g_theme; }

bool theme_is_dark() { return QApplication::palette().color(QPalette::Window).lightness() < 128; }

QColor ViewColours::data(const QColor& c) const {
  if (!dark || c.lightness() >= 150) return c;
  QColor l = c.lighter(145);
  l.setAlpha(c.alpha());
  return l;
}

QColor ViewColours::title(const QColor& c) const { return dark ? c.lighter(150) : c.darker(140); }

QColor ViewColours::reference_points() const {
  QColor c = reference;
  c.setAlphaF(0.35);
  return c;
}

QColor ViewColours::sample_points(const QColor& c) const {
  QColor d = data(c);
  d.setAlphaF(0.85);
  return d;
}

const ViewColours& paper_colours() {
  static const ViewColours c = make_paper();
  return c;
}

const ViewColours& screen_colours() {
  static const ViewColours d = make_dark();
  return theme_is_dark() ? d : paper_colours();
}

QColor tone(Tone t) {
  const bool d = theme_is_dark();
  switch (t) {
    case Tone::Muted: return d ? QColor(160, 161, 168) : QColor(95, 95, 102);
    case Tone::Faint: return d ? QColor(135, 136, 143) : QColor(128, 128, 134);
    case Tone::Error: return d ? QColor(255, 112, 100) : QColor(180, 20, 10);
    case Tone::Warning: return d ? QColor(230, 170, 70) : QColor(160, 95, 0);
    case Tone::Good: return d ? QColor(110, 200, 125) : QColor(42, 122, 58);
    case Tone::Plain: return QApplication::palette().color(QPalette::WindowText);
    case Tone::NoteBackground: return d ? QColor(37, 48, 64) : QColor(238, 243, 251);
    case Tone::NoteBorder: return d ? QColor(70, 90, 125) : QColor(184, 200, 224);
    case Tone::ExampleBackground: return d ? QColor(60, 52, 30) : QColor(255, 246, 213);
    case Tone::ExampleBorder: return d ? QColor(125, 108, 50) : QColor(224, 200, 112);
  }
  return QApplication::palette().color(QPalette::WindowText);
}

QString tone_hex(Tone t) { return tone(t).name(QColor::HexRgb); }

QString toned(const QString& text, Tone t) { return QString("<span style='color:%1'>%2</span>").arg(tone_hex(t), text); }

void set_tone(QWidget* w, Tone t) {
  auto apply = [w, t] { w->setStyleSheet(QString("color:%1").arg(tone_hex(t))); };
  apply();
  QObject::connect(ThemeSignals::instance(), &ThemeSignals::changed, w, apply);
}

ThemeSignals* ThemeSignals::instance() {
  static ThemeSignals* s = new ThemeSignals;
  return s;
}

}  // namespace sims::ui
