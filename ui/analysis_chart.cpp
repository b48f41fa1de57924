#include "analysis_chart.hpp"

#include <algorithm>
#include <cmath>

#include <QAreaSeries>
#include <QBuffer>
#include <QFontMetricsF>
#include <QGraphicsTextItem>
#include <QLegend>
#include <QLineSeries>
#include <QMouseEvent>
#include <QPageSize>
#include <QPainter>
#include <QPdfWriter>
#include <QRegularExpression>
#include <QSaveFile>
#include <QScatterSeries>
#include <QTextDocument>
#include <QTextOption>
#include <QValueAxis>

#include "theme.hpp"

namespace sims::ui {

double nice_tick_step(double range, int target) {
  if (!(range > 0) || !std::isfinite(range)) return 1.0;
  const double raw = range / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw * 0.999) return m * mag;
  return 10 * mag;
}

namespace {

int decimals_for(double step) { return std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 6); }

QString tick_text(double v, double step) {
  if (std::abs(v) < step * 1e-6) v = 0;
  return QString::number(v, 'f', decimals_for(step));
}

// [SECTION] Export back ends ---------------------------------------------------------
// One layout routine (paint_chart) draws through this interface into a QPainter
// (PNG) or SVG text.

struct Canvas {
  virtual ~Canvas() = default;
  virtual void rect(const QRectF& r, const QColor& fill, const QColor& stroke) = 0;
  virtual void line(QPointF a, QPointF b, const QColor& c, double width, bool dashed) = 0;
  virtual void polyline(const std::vector<QPointF>& pts, const QColor& c, double width, bool dashed) = 0;
  virtual void polygon(const std::vector<QPointF>& pts, const QColor& fill) = 0;
  virtual void circle(QPointF c, double r, const QColor& fill, const QColor& stroke, double width) = 0;
  // align: -1 left, 0 centre, 1 right of `at` (the baseline point); rotate: degrees.
  virtual void text(QPointF at, const QString& s, double px, const QColor& c, int align, bool bold, double rotate = 0) = 0;
  virtual void clip(const QRectF& r) = 0;
  virtual void unclip() = 0;
};

QFont font_px(double px, bool bold) {
  QFont f("DejaVu Sans");
  f.setPixelSize(static_cast<int>(std::lround(px)));
  f.setBold(bold);
  return f;
}

double text_width(const QString& s, double px, bool bold = false) { return QFontMetricsF(font_px(px, bold)).horizontalAdvance(s); }

class PainterCanvas final : public Canvas {
 public:
  explicit PainterCanvas(QPainter& p) : p_(p) { p_.setRenderHint(QPainter::Antialiasing, true); }
  void rect(const QRectF& r, const QColor& fill, const QColor& stroke) override {
    p_.setPen(stroke.alpha() ? QPen(stroke, 1) : QPen(Qt::NoPen));
    p_.setBrush(fill.alpha() ? QBrush(fill) : QBrush(Qt::NoBrush));
    p_.drawRect(r);
  }
  void line(QPointF a, QPointF b, const QColor& c, double w, bool dashed) override {
    p_.setPen(pen(c, w, dashed));
    p_.drawLine(a, b);
  }
  void polyline(const std::vector<QPointF>& pts, const QColor& c, double w, bool dashed) override {
    p_.setPen(pen(c, w, dashed));
    p_.setBrush(Qt::NoBrush);
    p_.drawPolyline(pts.data(), static_cast<int>(pts.size()));
  }
  void polygon(const std::vector<QPointF>& pts, const QColor& fill) override {
    p_.setPen(Qt::NoPen);
    p_.setBrush(fill);
    p_.drawPolygon(pts.data(), static_cast<int>(pts.size()));
  }
  void circle(QPointF c, double r, const QColor& fill, const QColor& stroke, double w) override {
    p_.setPen(stroke.alpha() ? QPen(stroke, w) : QPen(Qt::NoPen));
    p_.setBrush(fill.alpha() ? QBrush(fill) : QBrush(Qt::NoBrush));
    p_.drawEllipse(c, r, r);
  }
  void text(QPointF at, const QString& s, double px, const QColor& c, int align, bool bold, double rotate) override {
    p_.save();
    p_.setFont(font_px(px, bold));
    p_.setPen(c);
    p_.translate(at);
    p_.rotate(rotate);
    const double w = QFontMetricsF(p_.font()).horizontalAdvance(s);
    p_.drawText(QPointF(align < 0 ? 0 : align == 0 ? -w / 2 : -w, 0), s);
    p_.restore();
  }
  void clip(const QRectF& r) override {
    p_.save();
    p_.setClipRect(r);
  }
  void unclip() override { p_.restore(); }

 private:
  static QPen pen(const QColor& c, double w, bool dashed) {
    QPen p(c, w);
    if (dashed) p.setStyle(Qt::DashLine);
    p.setCapStyle(Qt::RoundCap);
    p.setJoinStyle(Qt::RoundJoin);
    return p;
  }
  QPainter& p_;
};

QString xml_escape(const QString& s) { return s.toHtmlEscaped(); }

QString num(double v) { return QString::number(v, 'f', 2); }

QString colour_attr(const char* name, const QColor& c) {
  const QString n = QString::fromLatin1(name);
  if (c.alpha() == 0) return QString(" %1=\"none\"").arg(n);
  QString s = QString(" %1=\"%2\"").arg(n, c.name(QColor::HexRgb));
  if (c.alpha() < 255) s += QString(" %1-opacity=\"%2\"").arg(n).arg(c.alphaF(), 0, 'f', 3);
  return s;
}

class SvgCanvas final : public Canvas {
 public:
  QString out;
  void rect(const QRectF& r, const QColor& fill, const QColor& stroke) override {
    out += QString("<rect x=\"%1\" y=\"%2\" width=\"%3\" height=\"%4\"%5%6/>\n")
               .arg(num(r.x()), num(r.y()), num(r.width()), num(r.height()), colour_attr("fill", fill),
                    colour_attr("stroke", stroke));
  }
  void line(QPointF a, QPointF b, const QColor& c, double w, bool dashed) override {
    out += QString("<line x1=\"%1\" y1=\"%2\" x2=\"%3\" y2=\"%4\"%5 stroke-width=\"%6\"%7/>\n")
               .arg(num(a.x()), num(a.y()), num(b.x()), num(b.y()), colour_attr("stroke", c), num(w), dash(dashed));
  }
  void polyline(const std::vector<QPointF>& pts, const QColor& c, double w, bool dashed) override {
    out += QString("<polyline points=\"%1\" fill=\"none\"%2 stroke-width=\"%3\" stroke-linejoin=\"round\"%4/>\n")
               .arg(points(pts), colour_attr("stroke", c), num(w), dash(dashed));
  }
  void polygon(const std::vector<QPointF>& pts, const QColor& fill) override {
    out += QString("<polygon points=\"%1\"%2 stroke=\"none\"/>\n").arg(points(pts), colour_attr("fill", fill));
  }
  void circle(QPointF c, double r, const QColor& fill, const QColor& stroke, double w) override {
    out += QString("<circle cx=\"%1\" cy=\"%2\" r=\"%3\"%4%5 stroke-width=\"%6\"/>\n")
               .arg(num(c.x()), num(c.y()), num(r), colour_attr("fill", fill), colour_attr("stroke", stroke), num(w));
  }
  void text(QPointF at, const QString& s, double px, const QColor& c, int align, bool bold, double rotate) override {
    const QString anchor = align < 0 ? "start" : align == 0 ? "middle" : "end";
    QString t = QString("<text x=\"%1\" y=\"%2\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"%3\" "
                        "text-anchor=\"%4\"%5%6")
                    .arg(num(at.x()), num(at.y()), num(px), anchor, colour_attr("fill", c),
                         bold ? QString(" font-weight=\"bold\"") : QString());
    if (rotate != 0) t += QString(" transform=\"rotate(%1 %2 %3)\"").arg(num(rotate), num(at.x()), num(at.y()));
    out += t + ">" + xml_escape(s) + "</text>\n";
  }
  void clip(const QRectF& r) override {
    const QString id = QString("clip%1").arg(++clip_id_);
    out += QString("<clipPath id=\"%1\"><rect x=\"%2\" y=\"%3\" width=\"%4\" height=\"%5\"/></clipPath>\n<g clip-path=\"url(#%1)\">\n")
               .arg(id, num(r.x()), num(r.y()), num(r.width()), num(r.height()));
  }
  void unclip() override { out += "</g>\n"; }
  static int clip_id_;

 private:
  static QString dash(bool on) { return on ? QString(" stroke-dasharray=\"7,4\"") : QString(); }
  static QString points(const std::vector<QPointF>& pts) {
    QString s;
    for (const auto& p : pts) s += num(p.x()) + "," + num(p.y()) + " ";
    return s.trimmed();
  }
};
int SvgCanvas::clip_id_ = 0;

// Exports are drawn on paper whatever the screen's theme.
const QColor kText = paper_colours().text, kAxisColour = paper_colours().axis, kGridColour = paper_colours().grid,
             kPlotBg = paper_colours().plot;

// Draws one chart in `box` (document pixels).
void paint_chart(Canvas& c, const AnalysisChart& ch, const QRectF& box) {
  const ChartRange r = ch.range();
  c.rect(box, Qt::white, QColor(0, 0, 0, 0));
  c.text(QPointF(box.left() + box.width() / 2, box.top() + 20), ch.title(), 15, kText, 0, true);
  // Legend entries (series with a name), laid out in rows at the bottom.
  struct Item {
    QString name;
    QColor colour;
    bool dashed, band;
  };
  std::vector<Item> items;
  for (int i = 0; i < ch.series_count(); ++i)
    if (!ch.series(i).name.isEmpty())
      items.push_back({ch.series(i).name, ch.series(i).colour, ch.series(i).dashed, ch.series(i).band});
  std::vector<std::vector<size_t>> rows(1);
  double row_w = 0;
  const double max_w = box.width() - 40;
  auto item_w = [&](const Item& it) { return 34 + text_width(it.name + (it.band ? "  (band: 95 % CI)" : ""), 12) + 18; };
  for (size_t i = 0; i < items.size(); ++i) {
    const double w = item_w(items[i]);
    if (row_w + w > max_w && !rows.back().empty()) rows.emplace_back(), row_w = 0;
    rows.back().push_back(i);
    row_w += w;
  }
  const double legend_h = items.empty() ? 0 : 20.0 * rows.size() + 4;
  const QRectF plot(box.left() + 72, box.top() + 36, box.width() - 72 - 20, box.height() - 36 - 50 - legend_h);
  if (plot.width() < 20 || plot.height() < 20) return;
  auto map = [&](double x, double y) {
    return QPointF(plot.left() + (x - r.x0) / (r.x1 - r.x0) * plot.width(),
                   plot.bottom() - (y - r.y0) / (r.y1 - r.y0) * plot.height());
  };
  c.rect(plot, kPlotBg, QColor(0, 0, 0, 0));
  // Grid and tick labels.
  for (double x = std::ceil(r.x0 / r.x_step - 1e-9) * r.x_step; x <= r.x1 + 1e-9 * r.x_step; x += r.x_step) {
    const double px = map(x, r.y0).x();
    c.line(QPointF(px, plot.top()), QPointF(px, plot.bottom()), kGridColour, 1, false);
    c.line(QPointF(px, plot.bottom()), QPointF(px, plot.bottom() + 4), kAxisColour, 1, false);
    c.text(QPointF(px, plot.bottom() + 18), tick_text(x, r.x_step), 12, kAxisColour, 0, false);
  }
  for (double y = std::ceil(r.y0 / r.y_step - 1e-9) * r.y_step; y <= r.y1 + 1e-9 * r.y_step; y += r.y_step) {
    const double py = map(r.x0, y).y();
    c.line(QPointF(plot.left(), py), QPointF(plot.right(), py), kGridColour, 1, false);
    c.line(QPointF(plot.left() - 4, py), QPointF(plot.left(), py), kAxisColour, 1, false);
    c.text(QPointF(plot.left() - 7, py + 4), tick_text(y, r.y_step), 12, kAxisColour, 1, false);
  }
  c.rect(plot, QColor(0, 0, 0, 0), kAxisColour);
  c.text(QPointF(plot.center().x(), plot.bottom() + 38), ch.x_title(), 13, kText, 0, false);
  c.text(QPointF(box.left() + 18, plot.center().y()), ch.y_title(), 13, kText, 0, false, -90);
  // Data: bands, then error bars, then lines and markers (the on-screen selection ring is not exported).
  c.clip(plot.adjusted(-6, -6, 6, 6));
  for (int i = 0; i < ch.series_count(); ++i) {
    const ChartSeries& s = ch.series(i);
    if (!s.band || s.lower.size() != s.points.size()) continue;
    std::vector<QPointF> poly;
    for (size_t k = 0; k < s.points.size(); ++k)
      if (std::isfinite(s.upper[k])) poly.push_back(map(s.points[k].x(), s.upper[k]));
    for (size_t k = s.points.size(); k-- > 0;)
      if (std::isfinite(s.lower[k])) poly.push_back(map(s.points[k].x(), s.lower[k]));
    QColor f = s.colour;
    f.setAlphaF(0.18);
    if (poly.size() >= 3) c.polygon(poly, f);
  }
  for (int i = 0; i < ch.series_count(); ++i) {  // error bars with short caps
    const ChartSeries& s = ch.series(i);
    if (s.band) continue;
    for (size_t k = 0; k < s.points.size() && k < s.lower.size(); ++k) {
      if (!std::isfinite(s.lower[k]) || !std::isfinite(s.upper[k])) continue;
      const QPointF a = map(s.points[k].x(), s.lower[k]), b = map(s.points[k].x(), s.upper[k]);
      c.line(a, b, s.colour, 1.2, false);
      c.line(a - QPointF(4, 0), a + QPointF(4, 0), s.colour, 1.2, false);
      c.line(b - QPointF(4, 0), b + QPointF(4, 0), s.colour, 1.2, false);
    }
  }
  for (int i = 0; i < ch.series_count(); ++i) {
    const ChartSeries& s = ch.series(i);
    std::vector<QPointF> run;
    auto flush = [&] {
      if (run.size() >= 2) c.polyline(run, s.colour, 2, s.dashed);
      run.clear();
    };
    for (const auto& p : s.points) {
      if (std::isfinite(p.y())) run.push_back(map(p.x(), p.y()));
      else flush();
    }
    flush();
    for (const auto& p : s.points)
      if (std::isfinite(p.y())) c.circle(map(p.x(), p.y()), s.dashed ? 2.5 : 3.5, s.dashed ? Qt::white : s.colour, s.colour, 1.2);
  }
  c.unclip();
  // Legend.
  double y = plot.bottom() + 50 + 14;
  for (const auto& row : rows) {
    double w = 0;
    for (size_t i : row) w += item_w(items[i]);
    double x = box.left() + (box.width() - w) / 2;
    for (size_t i : row) {
      const Item& it = items[i];
      if (it.band) {
        QColor f = it.colour;
        f.setAlphaF(0.18);
        c.rect(QRectF(x, y - 10, 26, 12), f, QColor(0, 0, 0, 0));
      }
      c.line(QPointF(x, y - 4), QPointF(x + 26, y - 4), it.colour, 2, it.dashed);
      c.circle(QPointF(x + 13, y - 4), 3, it.dashed ? Qt::white : it.colour, it.colour, 1.2);
      c.text(QPointF(x + 32, y), it.name + (it.band ? "  (band: 95 % CI)" : ""), 12, kText, -1, false);
      x += item_w(it);
    }
    y += 20;
  }
}

}  // namespace

// [SECTION] The chart widget ---------------------------------------------------------------

namespace {

// A 95 % band's opacity over the plot's background: a dark background needs more of the data colour to show it.
double band_alpha(const ViewColours& k) { return k.dark ? 0.34 : 0.2; }

const int kMinHeight = 150;  // the plot stays readable; at 720 lines two charts and a sample strip fit a tab

// A title whose parenthesised remark ("(lower is better)") moves to the next line whole rather than leaving its
// last word behind, where the remark fits on a line of its own.
QString title_html(const QString& title, const QFont& font, qreal width) {
  static const QRegularExpression remark(QStringLiteral("\\([^()]*\\)"));
  const QFontMetricsF fm(font);
  QString html;
  int at = 0;
  for (auto it = remark.globalMatch(title); it.hasNext();) {
    const QRegularExpressionMatch m = it.next();
    html += title.mid(at, m.capturedStart() - at).toHtmlEscaped();
    const QString r = m.captured().toHtmlEscaped();
    html += fm.horizontalAdvance(m.captured()) < width ? "<span style='white-space:nowrap'>" + r + "</span>" : r;
    at = m.capturedEnd();
  }
  return html + title.mid(at).toHtmlEscaped();
}
}  // namespace

AnalysisChart::AnalysisChart(const QString& title, const QString& x_title, const QString& y_title, QWidget* parent)
    : QChartView(parent), title_(title), x_title_(x_title), y_title_(y_title) {
  chart_ = new QChart;
  QFont tf = font();
  tf.setBold(true);
  tf.setPointSizeF(10.5);
  QFont lf = font();
  lf.setPointSizeF(9);
  chart_->legend()->setVisible(false);
  title_item_ = new QGraphicsTextItem(chart_);
  title_item_->setFont(tf);
  legend_item_ = new QGraphicsTextItem(chart_);
  legend_item_->setFont(lf);
  for (QGraphicsTextItem* t : {title_item_, legend_item_}) {
    t->document()->setDocumentMargin(1);
    t->document()->setDefaultTextOption(QTextOption(Qt::AlignHCenter));
    t->setAcceptedMouseButtons(Qt::NoButton);
  }
  chart_->setBackgroundRoundness(0);
  x_axis_ = new QValueAxis;
  y_axis_ = new QValueAxis;
  QFont af = font();
  af.setPointSizeF(9.5);
  QFont kf = font();
  kf.setPointSizeF(8.5);
  for (auto* a : {x_axis_, y_axis_}) {
    a->setTitleFont(af);
    a->setLabelsFont(kf);
    a->setTickType(QValueAxis::TicksDynamic);
    a->setTickAnchor(0);
  }
  x_axis_->setTitleText(x_title);
  y_axis_->setTitleText(y_title);
  chart_->addAxis(x_axis_, Qt::AlignBottom);
  chart_->addAxis(y_axis_, Qt::AlignLeft);
  marks_ = new QScatterSeries;
  marks_->setMarkerSize(15);
  marks_->setColor(QColor(0, 0, 0, 0));
  chart_->addSeries(marks_);
  attach(marks_);
  setChart(chart_);
  setRenderHint(QPainter::Antialiasing);
  setMinimumHeight(kMinHeight);
  apply_colours();
  connect(ThemeSignals::instance(), &ThemeSignals::changed, this, &AnalysisChart::apply_colours);
  rescale();
  layout_text();
}

void AnalysisChart::apply_colours() {
  const ViewColours& k = screen_colours();
  chart_->setBackgroundBrush(k.frame);
  chart_->setPlotAreaBackgroundBrush(k.plot);
  chart_->setPlotAreaBackgroundVisible(true);
  title_item_->setDefaultTextColor(k.text);
  legend_item_->setDefaultTextColor(k.text);
  for (auto* a : {x_axis_, y_axis_}) {
    a->setGridLineColor(k.grid);
    a->setLinePenColor(k.axis);
    a->setLabelsColor(k.axis);
    a->setTitleBrush(k.text);
  }
  marks_->setBorderColor(k.ink);
  marks_->setPen(QPen(k.ink, 1.8));
  for (Entry& e : series_) {
    const QColor c = k.data(e.d.colour);
    QPen pen = e.line->pen();
    pen.setColor(c);
    e.line->setPen(pen);
    if (e.area) {
      QColor f = c;
      f.setAlphaF(band_alpha(k));
      e.area->setBrush(f);
    }
    for (QLineSeries* b : e.bars) b->setPen(QPen(c, 1.4));
  }
  layout_text();
}

void AnalysisChart::resizeEvent(QResizeEvent* e) {
  layout_text();
  // QChartView only ever raises the view's minimum to the chart's (which grows with wrapped title and legend
  // lines): start from the chart's own minimum each time, so a chart made narrow once can shrink again.
  setMinimumSize(0, kMinHeight);
  QChartView::resizeEvent(e);
}

void AnalysisChart::layout_text() {
  const qreal w = std::max(60, width() - 8);
  title_item_->setHtml(title_html(title_, title_item_->font(), w - 2 * title_item_->document()->documentMargin()));
  title_item_->setTextWidth(w);
  title_item_->setPos(4, 2);
  // A line needs no legend when it is the only one: the chart's title names it.
  QString legend;
  if (series_.size() > 1)
    for (const Entry& e : series_) {
      // Entries never break inside; a dashed series shows a dashed key.
      legend += QString("<span style='white-space:nowrap'><span style='color:%1'><b>%2</b></span>&nbsp;%3</span>&nbsp;&nbsp; ")
                    .arg(screen_colours().data(e.d.colour).name(), e.d.dashed ? "- -" : "■", e.d.name.toHtmlEscaped());
    }
  // The shaded bands said once, as the exported chart says them beside each name.
  bool bands = false;
  for (const Entry& e : series_) bands = bands || e.d.band;
  if (bands && !legend.isEmpty() && !title_.contains("band"))  // unless the title says it
    legend += QString("<span style='white-space:nowrap; color:%1'>bands: 95 % CI</span>")
                  .arg(screen_colours().footnote.name());
  legend_item_->setHtml(legend);
  legend_item_->setTextWidth(w);
  legend_item_->setVisible(!legend.isEmpty());
  title_h_ = title_item_->boundingRect().height();
  legend_h_ = legend.isEmpty() ? 0 : legend_item_->boundingRect().height();
  apply_margins();
  for (const QPointer<AnalysisChart>& p : peers_)
    if (p) p->apply_margins();
}

void AnalysisChart::apply_margins() {
  qreal th = title_h_, lh = legend_h_;
  for (const QPointer<AnalysisChart>& p : peers_)
    if (p && !p->isHidden()) th = std::max(th, p->title_h_), lh = std::max(lh, p->legend_h_);  // a hidden chart: none
  legend_item_->setPos(4, height() - lh - 2);  // the legends' first lines at one height
  chart_->setMargins(QMargins(2, static_cast<int>(th) + 2, 2, static_cast<int>(lh) + 2));
}

AnalysisChart::~AnalysisChart() {
  for (const QPointer<AnalysisChart>& p : peers_)
    if (p)
      p->peers_.erase(std::remove_if(p->peers_.begin(), p->peers_.end(),
                                     [this](const QPointer<AnalysisChart>& q) { return q.data() == this; }),
                      p->peers_.end());
}

void AnalysisChart::showEvent(QShowEvent* e) {
  QChartView::showEvent(e);
  for (const QPointer<AnalysisChart>& p : peers_)
    if (p) p->apply_margins();
}

void AnalysisChart::hideEvent(QHideEvent* e) {
  QChartView::hideEvent(e);
  for (const QPointer<AnalysisChart>& p : peers_)
    if (p) p->apply_margins();
}

void AnalysisChart::align_with(AnalysisChart* other) {
  if (!other || other == this) return;
  std::vector<AnalysisChart*> group{this};
  const auto join = [&](AnalysisChart* c) {
    if (c && std::find(group.begin(), group.end(), c) == group.end()) group.push_back(c);
  };
  for (const QPointer<AnalysisChart>& p : peers_) join(p);
  join(other);
  for (const QPointer<AnalysisChart>& p : other->peers_) join(p);
  for (AnalysisChart* c : group) {
    c->peers_.clear();
    for (AnalysisChart* d : group)
      if (d != c) c->peers_.emplace_back(d);
  }
  for (AnalysisChart* c : group) c->apply_margins();
}

void AnalysisChart::attach(QAbstractSeries* s) {
  s->attachAxis(x_axis_);
  s->attachAxis(y_axis_);
}

void AnalysisChart::set_title(const QString& t) {
  title_ = t;
  layout_text();
}

void AnalysisChart::set_y_title(const QString& t) {
  y_title_ = t;
  y_axis_->setTitleText(t);
}

int AnalysisChart::add_series(const QString& name, const QColor& colour, bool dashed, bool band) {
  Entry e;
  e.d.name = name;
  e.d.colour = colour;
  e.d.dashed = dashed;
  e.d.band = band;
  if (band) {
    e.lo = new QLineSeries(chart_);
    e.hi = new QLineSeries(chart_);
    e.area = new QAreaSeries(e.hi, e.lo);
    e.area->setName(name + " (95 % CI)");
    QColor f = screen_colours().data(colour);
    f.setAlphaF(band_alpha(screen_colours()));
    e.area->setBrush(f);
    e.area->setPen(Qt::NoPen);
    chart_->addSeries(e.area);
    attach(e.area);
  }
  e.line = new QLineSeries;
  e.line->setName(name);
  QPen pen(screen_colours().data(colour), dashed ? 1.8 : 2.2);
  if (dashed) pen.setStyle(Qt::DashLine);
  e.line->setPen(pen);
  e.line->setPointsVisible(true);
  chart_->addSeries(e.line);
  attach(e.line);
  // The highlight rings stay on top.
  chart_->removeSeries(marks_);
  chart_->addSeries(marks_);
  attach(marks_);
  series_.push_back(e);
  layout_text();
  return static_cast<int>(series_.size()) - 1;
}

void AnalysisChart::append(int i, double x, double y, double lower, double upper) {
  Entry& e = series_.at(static_cast<size_t>(i));
  e.d.points.emplace_back(x, y);
  e.d.lower.push_back(lower);
  e.d.upper.push_back(upper);
  if (std::isfinite(lower) && std::isfinite(upper)) {
    if (e.d.band) {
      e.lo->append(x, lower), e.hi->append(x, upper);
    } else {
      auto* bar = new QLineSeries;
      bar->setPen(QPen(screen_colours().data(e.d.colour), 1.4));
      bar->append(x, lower);
      bar->append(x, upper);
      chart_->addSeries(bar);
      attach(bar);
      e.bars.push_back(bar);
      chart_->removeSeries(marks_);  // the highlight rings stay on top
      chart_->addSeries(marks_);
      attach(marks_);
    }
  }
  if (std::isfinite(y)) e.line->append(x, y);  // a diverged value (inf) stays in the data, off the chart
  if (std::isfinite(highlight_x_) && std::abs(x - highlight_x_) < 1e-9 && std::isfinite(y)) marks_->append(x, y);
  rescale();
}

void AnalysisChart::clear() {
  for (auto& e : series_) {
    if (e.area) chart_->removeSeries(e.area), delete e.area, delete e.lo, delete e.hi;
    for (QLineSeries* b : e.bars) chart_->removeSeries(b), delete b;
    chart_->removeSeries(e.line);
    delete e.line;
  }
  series_.clear();
  layout_text();
  marks_->clear();
  highlight_x_ = std::numeric_limits<double>::quiet_NaN();
  rescale();
}

void AnalysisChart::set_highlight(double x) {
  highlight_x_ = x;
  marks_->clear();
  if (!std::isfinite(x)) return;
  for (const auto& e : series_)
    for (const auto& p : e.d.points)
      if (std::abs(p.x() - x) < 1e-9 && std::isfinite(p.y())) marks_->append(p);
}

ChartRange AnalysisChart::range() const {
  ChartRange r;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  auto take_y = [&](double v) {
    if (std::isfinite(v)) y0 = std::min(y0, v), y1 = std::max(y1, v);
  };
  for (const auto& e : series_) {
    for (size_t k = 0; k < e.d.points.size(); ++k) {
      const QPointF& p = e.d.points[k];
      if (!std::isfinite(p.y())) continue;
      x0 = std::min(x0, p.x()), x1 = std::max(x1, p.x());
      take_y(p.y());
      if (k < e.d.lower.size() && std::isfinite(e.d.lower[k]) && std::isfinite(e.d.upper[k]))
        take_y(e.d.lower[k]), take_y(e.d.upper[k]);
    }
  }
  take_y(y_inc_lo_);
  take_y(y_inc_hi_);
  if (!(x1 >= x0)) x0 = integer_x_ ? 1 : 0, x1 = integer_x_ ? 2 : 1;
  if (!(y1 >= y0)) y0 = 0, y1 = 1;
  const double data_hi = y1;  // before a flat range is widened (all values 1 must still stop at a ceiling of 1)
  if (x1 - x0 < 1e-12) x0 -= integer_x_ ? 1 : 0.5, x1 += integer_x_ ? 1 : 0.5;
  if (y1 - y0 < 1e-12) {
    const double d = std::max(std::abs(y0) * 0.1, 0.05);
    y0 -= d, y1 += d;
  }
  const double px = 0.05 * (x1 - x0), py = 0.08 * (y1 - y0);
  r.x0 = x0 - px, r.x1 = x1 + px;
  r.y0 = y0 - py, r.y1 = y1 + py;
  // Shares and distances are never negative: keep the axis from dipping below 0 for padding alone.
  if (y0 >= 0 && r.y0 < 0) r.y0 = 0;
  if (data_hi <= y_ceiling_ && r.y1 > y_ceiling_) r.y1 = y_ceiling_;
  r.x_step = nice_tick_step(r.x1 - r.x0, 7);
  if (integer_x_) r.x_step = std::max(1.0, std::round(r.x_step));
  r.y_step = nice_tick_step(r.y1 - r.y0, 5);
  return r;
}

void AnalysisChart::rescale() {
  const ChartRange r = range();
  // Each call lays the axis out with the other value still old: a range that
  // grows by 10^5 under the old fine tick step would create 10^5 tick items
  // (minutes). Coarser step first, finer step last keeps every layout small.
  auto set = [](QValueAxis* a, double lo, double hi, double step) {
    if (step > a->tickInterval()) a->setTickInterval(step), a->setRange(lo, hi);
    else a->setRange(lo, hi), a->setTickInterval(step);
  };
  set(x_axis_, r.x0, r.x1, r.x_step);
  set(y_axis_, r.y0, r.y1, r.y_step);
  x_axis_->setLabelFormat(QString("%.%1f").arg(decimals_for(r.x_step)));
  y_axis_->setLabelFormat(QString("%.%1f").arg(decimals_for(r.y_step)));
}

void AnalysisChart::mousePressEvent(QMouseEvent* e) {
  if (e->button() == Qt::LeftButton) {
    const QPointF in_chart = chart_->mapFromScene(mapToScene(e->position().toPoint()));
    if (chart_->plotArea().adjusted(-8, -8, 8, 8).contains(in_chart)) {
      const double x = chart_->mapToValue(in_chart).x();
      double best = NAN, dist = INFINITY;
      for (const auto& s : series_)
        for (const auto& p : s.d.points)
          if (std::abs(p.x() - x) < dist) dist = std::abs(p.x() - x), best = p.x();
      if (std::isfinite(best)) Q_EMIT x_clicked(best);
    }
  }
  QChartView::mousePressEvent(e);
}

// [SECTION] Exports ----------------------------------------------------------------------------

namespace {

// The caption's lines, wrapped to the document's width.
constexpr double kCaptionPx = 12, kCaptionLine = 16, kCaptionPad = 10;
constexpr double kMaxExportPixels = 200e6;  // 800 MB of RGB32: beyond it a PNG export is refused with a message

QStringList caption_lines(const QString& caption, double width) {
  QStringList lines;
  QString cur;
  for (const QString& word : caption.split(' ', Qt::SkipEmptyParts)) {
    const QString next = cur.isEmpty() ? word : cur + ' ' + word;
    if (!cur.isEmpty() && text_width(next, kCaptionPx) > width) {
      lines << cur;
      cur = word == QStringLiteral("·") ? QString() : word;  // no line starts with the separator
    } else {
      cur = next;
    }
  }
  if (!cur.isEmpty()) lines << cur;
  return lines;
}

double caption_height(const ChartExportOptions& o) {
  const int n = static_cast<int>(caption_lines(o.caption, o.width - 2 * kCaptionPad).size());
  return n == 0 ? 0 : kCaptionPad + n * kCaptionLine + 6;
}

void paint_document(Canvas& c, const std::vector<const AnalysisChart*>& charts, const ChartExportOptions& o) {
  for (size_t i = 0; i < charts.size(); ++i)
    paint_chart(c, *charts[i], QRectF(0, static_cast<double>(i) * o.height_each, o.width, o.height_each));
  double y = static_cast<double>(charts.size()) * o.height_each + kCaptionPad + kCaptionPx;
  for (const QString& line : caption_lines(o.caption, o.width - 2 * kCaptionPad)) {
    c.text(QPointF(kCaptionPad, y), line, kCaptionPx, QColor(85, 85, 92), -1, false);
    y += kCaptionLine;
  }
}

}  // namespace

ChartExportOptions clamped(ChartExportOptions o) {
  o.width = std::clamp(o.width, 300, 4000);
  o.height_each = std::clamp(o.height_each, 200, 3000);
  o.dpi = std::clamp(o.dpi, 72, 600);
  return o;
}

QSizeF charts_size(const std::vector<const AnalysisChart*>& charts, const ChartExportOptions& o) {
  return QSizeF(o.width, static_cast<double>(std::max<size_t>(charts.size(), 1)) * o.height_each + caption_height(o));
}

QString charts_svg(const std::vector<const AnalysisChart*>& charts, const ChartExportOptions& o) {
  const QSizeF size = charts_size(charts, o);
  SvgCanvas c;
  c.rect(QRectF(QPointF(0, 0), size), Qt::white, QColor(0, 0, 0, 0));
  paint_document(c, charts, o);
  return QString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%1\" height=\"%2\" "
                 "viewBox=\"0 0 %1 %2\">\n")
             .arg(std::ceil(size.width()))
             .arg(std::ceil(size.height())) +
         c.out + "</svg>\n";
}

QImage charts_image(const std::vector<const AnalysisChart*>& charts, const ChartExportOptions& o) {
  const QSizeF size = charts_size(charts, o);
  const double scale = o.dpi / 96.0;
  if (size.width() * size.height() * scale * scale > kMaxExportPixels) return QImage();
  QImage img(static_cast<int>(std::ceil(size.width() * scale)), static_cast<int>(std::ceil(size.height() * scale)),
             QImage::Format_RGB32);
  img.fill(Qt::white);
  const int per_metre = static_cast<int>(std::lround(o.dpi / 0.0254));
  img.setDotsPerMeterX(per_metre);
  img.setDotsPerMeterY(per_metre);
  QPainter p(&img);
  p.scale(scale, scale);
  PainterCanvas c(p);
  paint_document(c, charts, o);
  return img;
}

QByteArray charts_pdf(const std::vector<const AnalysisChart*>& charts, const ChartExportOptions& o) {
  const QSizeF size = charts_size(charts, o);
  QByteArray bytes;
  QBuffer buf(&bytes);
  buf.open(QIODevice::WriteOnly);
  {
    QPdfWriter pdf(&buf);
    pdf.setCreator("SIMS Studio");
    pdf.setResolution(96);  // one painter unit = one CSS pixel, as in the SVG
    pdf.setPageMargins(QMarginsF(0, 0, 0, 0));
    pdf.setPageSize(QPageSize(size * 0.75, QPageSize::Point, QString(), QPageSize::ExactMatch));
    QPainter p(&pdf);
    if (!p.isActive()) return QByteArray();  // nothing rather than a broken file
    PainterCanvas c(p);
    paint_document(c, charts, o);
  }
  return bytes;
}

bool save_bytes(const QString& path, const QByteArray& bytes, QString* error) {
  QSaveFile f(path);
  if (!f.open(QIODevice::WriteOnly) || f.write(bytes) != bytes.size() || !f.commit()) {
    if (error) *error = QString("cannot write '%1': %2").arg(path, f.errorString());
    return false;
  }
  return true;
}

bool save_png(const QString& path, const QImage& image, QString* error) {
  if (image.isNull()) {
    if (error) *error = "nothing to export yet";
    return false;
  }
  QSaveFile f(path);
  if (!f.open(QIODevice::WriteOnly) || !image.save(&f, "PNG") || !f.commit()) {
    if (error) *error = QString("cannot write '%1': %2").arg(path, f.errorString());
    return false;
  }
  return true;
}

}  // namespace sims::ui
