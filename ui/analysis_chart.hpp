// A Qt Charts line chart for the studio's analysis tabs (Sweep, Loops) that
// keeps its own copy of the data: series of (x, y) points, optionally with a
// band (e.g. mean ± std over runs) and dashed (an overlaid earlier run). The
// data drives the on-screen QChart and the exports, so PNG and SVG show the
// same numbers; the SVG is written here from the data (no QtSvg needed).
// Clicking in the plot area emits the x of the nearest data column.
#pragma once
#include <limits>
#include <vector>

#include <QChartView>
#include <QColor>
#include <QImage>
#include <QPointF>
#include <QPointer>
#include <QSizeF>
#include <QString>

class QAbstractSeries;
class QGraphicsTextItem;
class QAreaSeries;
class QLineSeries;
class QScatterSeries;
class QValueAxis;

namespace sims::ui {

// Axis ranges and tick steps, the same on screen and in the exports.
struct ChartRange {
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  double x_step = 0.2, y_step = 0.2;
};

struct ChartSeries {
  QString name;
  QColor colour;
  bool dashed = false;
  bool band = false;           // draw lower..upper as a shaded band; otherwise as error bars where given
  std::vector<QPointF> points;
  std::vector<double> lower, upper;  // interval edges, one per point (NaN: none)
};

class AnalysisChart final : public QChartView {
  Q_OBJECT
 public:
  AnalysisChart(const QString& title, const QString& x_title, const QString& y_title, QWidget* parent = nullptr);
  ~AnalysisChart() override;  // leaves its aligned peers (align_with)

  void set_title(const QString& title);
  void set_y_title(const QString& title);
  QString title() const { return title_; }
  QString x_title() const { return x_title_; }
  QString y_title() const { return y_title_; }
  // Integer ticks on x (generations).
  void set_integer_x(bool on) { integer_x_ = on; }
  // Keep these values inside the y range (e.g. 0 and 1 for shares).
  void set_y_include(double lo, double hi) { y_inc_lo_ = lo, y_inc_hi_ = hi; }
  // Values never above `hi` (fractions: 1): the axis' padding stops there.
  void set_y_ceiling(double hi) { y_ceiling_ = hi; }

  // Returns the series index.
  int add_series(const QString& name, const QColor& colour, bool dashed = false, bool band = false);
  void append(int series, double x, double y, double lower = std::numeric_limits<double>::quiet_NaN(),
              double upper = std::numeric_limits<double>::quiet_NaN());
  // Removes every series.
  void clear();
  int series_count() const { return static_cast<int>(series_.size()); }
  const ChartSeries& series(int i) const { return series_[i].d; }
  int point_count(int series) const { return static_cast<int>(series_[series].d.points.size()); }
  // Marks the data at x (ring markers); NaN clears.
  void set_highlight(double x);
  double highlight() const { return highlight_x_; }
  ChartRange range() const;
  // Charts side by side: each keeps room for the tallest title and legend of the two groups joined here, so
  // their plot areas line up when one title wraps and the other does not.
  void align_with(AnalysisChart* other);


 Q_SIGNALS:
  // The x of the data column nearest to a click in the plot area.
  void x_clicked(double x);

 protected:
  void mousePressEvent(QMouseEvent* e) override;
  void resizeEvent(QResizeEvent* e) override;
  // An aligned peer shown or hidden changes the room the others keep.
  void showEvent(QShowEvent* e) override;
  void hideEvent(QHideEvent* e) override;

 private:
  struct Entry {
    ChartSeries d;
    QLineSeries* line = nullptr;
    QLineSeries *lo = nullptr, *hi = nullptr;
    QAreaSeries* area = nullptr;
    std::vector<QLineSeries*> bars;  // one vertical segment per point with an interval (not a band)
  };
  void rescale();
  void attach(QAbstractSeries* s);
  // The title and the legend wrap to the chart's width (Qt Charts would elide them) and the plot gets the rest.
  void layout_text();
  // The plot's margins from the tallest title and legend of the aligned charts.
  void apply_margins();
  // The theme's colours on the chart's background, axes, text and series (exports keep paper colours).
  void apply_colours();

  QChart* chart_;
  QGraphicsTextItem *title_item_, *legend_item_;
  QValueAxis *x_axis_, *y_axis_;
  QScatterSeries* marks_;
  std::vector<Entry> series_;
  QString title_, x_title_, y_title_;
  qreal title_h_ = 0, legend_h_ = 0;          // this chart's wrapped title and legend
  std::vector<QPointer<AnalysisChart>> peers_;  // aligned with these (align_with)
  bool integer_x_ = false;
  double y_inc_lo_ = std::numeric_limits<double>::quiet_NaN(), y_inc_hi_ = std::numeric_limits<double>::quiet_NaN();
  double highlight_x_ = std::numeric_limits<double>::quiet_NaN();
  double y_ceiling_ = std::numeric_limits<double>::quiet_NaN();
};

// How exported charts are laid out: several charts stacked vertically, the document's width and each chart's
// height in CSS pixels (1/96 inch), a caption under them saying what produced the numbers, and a PNG's
// resolution. Exports draw the data only (no on-screen selection ring).
struct ChartExportOptions {
  int width = 900, height_each = 400;  // 300..4000 and 200..3000
  int dpi = 96;                        // PNG: pixels = size × dpi / 96, recorded in the file (72..600)
  QString caption;                     // wrapped to the width under the charts; empty: none
};
// Clamps the sizes and the resolution into their ranges.
ChartExportOptions clamped(ChartExportOptions o);
// The document's size in CSS pixels (the caption included).
QSizeF charts_size(const std::vector<const AnalysisChart*>& charts, const ChartExportOptions& o);
// As one SVG document, one image, or one vector PDF page of the document's size.
QString charts_svg(const std::vector<const AnalysisChart*>& charts, const ChartExportOptions& o);
QImage charts_image(const std::vector<const AnalysisChart*>& charts, const ChartExportOptions& o);
QByteArray charts_pdf(const std::vector<const AnalysisChart*>& charts, const ChartExportOptions& o);

// Writes bytes atomically (QSaveFile); false and `error` on failure.
bool save_bytes(const QString& path, const QByteArray& bytes, QString* error);
bool save_png(const QString& path, const QImage& image, QString* error);

// "Nice" axis steps (1, 2, 5 x 10^k), shared by the SVG writer and the Qt axes.
double nice_tick_step(double range, int target);

}  // namespace sims::ui
