#include "plot_painter.hpp"

#include <algorithm>
#include <cmath>

#include <QFontMetricsF>
#include <QPainterPath>

namespace sims::ui {
namespace {

double nice_step(double range, int target) {
  const double raw = range / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

QString tick_label(double v, double step) {
  if (std::abs(v) < step * 1e-6) v = 0;
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  return QString::number(v, 'f', decimals);
}

}  // namespace

PlotFrame plot_frame(const QSize& size, const ViewContent& c) {
  PlotFrame f;
  f.widget = QRectF(0, 0, size.width(), size.height());
  const double left = 44, right = 12, bottom = 40;
  const double top = 50 + kSubtitleLine * (std::max<int>(1, subtitle_lines(c.subtitle, size.width() - left - 4, c.wrap_texts).size()) - 1);
  f.plot = f.widget.adjusted(left, top, -right, -bottom);
  if (f.plot.width() < 10 || f.plot.height() < 10) f.plot = f.widget;
  QRectF b = c.bounds.isValid() ? c.bounds : QRectF(-3, -3, 6, 6);
  // Equal scale on both axes: widen the data range along the longer side.
  const double sx = f.plot.width() / b.width(), sy = f.plot.height() / b.height();
  if (sx > sy) {
    const double w = f.plot.width() / sy;
    b = QRectF(b.center().x() - w / 2, b.top(), w, b.height());
  } else {
    const double h = f.plot.height() / sx;
    b = QRectF(b.left(), b.center().y() - h / 2, b.width(), h);
  }
  f.bounds = b;
  return f;
}

float point_size_for(int64_t count, double dpr) {
  // Big dots for a few hundred points, small ones for tens of thousands.
  const double s = count <= 0 ? 4.0 : std::clamp(14.0 / std::pow(static_cast<double>(count), 0.22), 2.0, 7.0);
  return static_cast<float>(s * dpr);
}

QRectF heat_region_for(const QRectF& b) {
  const double side = 2.2 * std::max(b.width(), b.height());
  return QRectF(b.center().x() - side / 2, b.center().y() - side / 2, side, side);
}

QImage density_image(const ViewContent& c, const QRectF& region, int bins) {
  const SampleSet& s = c.samples;
  if (!c.heatmap || s.shape != std::vector<int64_t>{2} || s.count() < 20 || !region.isValid()) return {};
  std::vector<float> h(static_cast<size_t>(bins) * bins, 0.f);
  const QRectF b = region;
  for (int64_t i = 0; i < s.count(); ++i) {
    const double x = s.data[2 * i], y = s.data[2 * i + 1];
    const int bx = static_cast<int>((x - b.left()) / b.width() * bins);
    const int by = static_cast<int>((y - b.top()) / b.height() * bins);
    if (bx >= 0 && bx < bins && by >= 0 && by < bins) h[by * bins + bx] += 1.f;
  }
  // Separable Gaussian blur (sigma ~1.5 bins).
  const float k[5] = {0.08f, 0.24f, 0.36f, 0.24f, 0.08f};
  std::vector<float> tmp(h.size(), 0.f);
  for (int y = 0; y < bins; ++y)
    for (int x = 0; x < bins; ++x) {
      float a = 0;
      for (int d = -2; d <= 2; ++d) {
        const int xx = x + d;
        if (xx >= 0 && xx < bins) a += k[d + 2] * h[y * bins + xx];
      }
      tmp[y * bins + x] = a;
    }
  float peak = 0;
  for (int y = 0; y < bins; ++y)
    for (int x = 0; x < bins; ++x) {
      float a = 0;
      for (int d = -2; d <= 2; ++d) {
        const int yy = y + d;
        if (yy >= 0 && yy < bins) a += k[d + 2] * tmp[yy * bins + x];
      }
      h[y * bins + x] = a;
      peak = std::max(peak, a);
    }
  if (peak <= 0) return {};
  QImage img(bins, bins, QImage::Format_ARGB32_Premultiplied);
  const QColor hi = c.color;
  for (int y = 0; y < bins; ++y) {
    auto* line = reinterpret_cast<QRgb*>(img.scanLine(bins - 1 - y));  // image rows go down, y goes up
    for (int x = 0; x < bins; ++x) {
      const float v = std::sqrt(h[y * bins + x] / peak);
      const float a = std::min(1.f, v) * 0.42f;
      line[x] = qPremultiply(qRgba(hi.red(), hi.green(), hi.blue(), static_cast<int>(a * 255)));
    }
  }
  return img;
}

void paint_underlay(QPainter& p, const PlotFrame& f, const QImage& heat, const QRectF& region, const ViewColours& k) {
  p.fillRect(f.widget, k.frame);
  p.fillRect(f.plot, k.plot);
  // Grid lines at the ticks.
  p.setPen(QPen(k.grid, 1));
  const double sx = nice_step(f.bounds.width(), 6), sy = nice_step(f.bounds.height(), 6);
  for (double x = std::ceil(f.bounds.left() / sx) * sx; x <= f.bounds.right(); x += sx)
    p.drawLine(QPointF(f.map(x, 0).x(), f.plot.top()), QPointF(f.map(x, 0).x(), f.plot.bottom()));
  for (double y = std::ceil(f.bounds.top() / sy) * sy; y <= f.bounds.bottom(); y += sy)
    p.drawLine(QPointF(f.plot.left(), f.map(0, y).y()), QPointF(f.plot.right(), f.map(0, y).y()));
  if (!heat.isNull() && region.isValid()) {
    const QPointF a = f.map(region.left(), region.bottom()), b = f.map(region.right(), region.top());
    p.save();
    p.setClipRect(f.plot);
    p.setRenderHint(QPainter::SmoothPixmapTransform, true);
    p.drawImage(QRectF(a, b), heat);
    p.restore();
  }
}

void paint_points(QPainter& p, const PlotFrame& f, const ViewContent& c, const ViewColours& k) {
  p.save();
  p.setClipRect(f.plot);
  p.setRenderHint(QPainter::Antialiasing, true);
  p.setPen(Qt::NoPen);
  auto draw = [&](const SampleSet& s, QColor col, double r) {
    if (s.shape != std::vector<int64_t>{2}) return;
    p.setBrush(col);
    for (int64_t i = 0; i < s.count(); ++i) p.drawEllipse(f.map(s.data[2 * i], s.data[2 * i + 1]), r, r);
  };
  draw(c.reference, k.reference_points(), 1.2);
  draw(c.samples, k.sample_points(c.color), point_size_for(c.samples.count(), 1.0) / 2.0);
  p.restore();
}

void paint_overlay(QPainter& p, const PlotFrame& f, const ViewContent& c, const ViewColours& k) {
  p.save();
  p.setRenderHint(QPainter::Antialiasing, true);
  // Trails: the path of a few samples through the steps.
  if (!c.trails.empty()) {
    p.save();
    p.setClipRect(f.plot);
    for (const auto& path : c.trails) {
      if (path.size() < 2) continue;
      if (c.arrows) {  // a displacement: a line with a small head at its end
        const QPointF a = f.map(path.front().x(), path.front().y()), b = f.map(path.back().x(), path.back().y());
        const QPointF d = b - a;
        const double len = std::hypot(d.x(), d.y());
        QColor ink = k.ink;
        ink.setAlpha(170);
        p.setPen(QPen(ink, 1.1));
        p.drawLine(a, b);
        if (len > 3) {
          const QPointF u = d / len, n(-u.y(), u.x());
          const double h = std::min(5.0, 0.45 * len);
          p.drawLine(b, b - u * h + n * h * 0.5);
          p.drawLine(b, b - u * h - n * h * 0.5);
        }
        continue;
      }
      QPainterPath pp(f.map(path[0].x(), path[0].y()));
      for (size_t i = 1; i < path.size(); ++i) pp.lineTo(f.map(path[i].x(), path[i].y()));
      QColor ink = k.ink;
      ink.setAlpha(150);
      p.setPen(QPen(ink, 1.2));
      p.setBrush(Qt::NoBrush);
      p.drawPath(pp);
      const QPointF end = f.map(path.back().x(), path.back().y());
      p.setPen(QPen(k.ink, 1.2));
      p.setBrush(k.marker);
      p.drawEllipse(end, 3.0, 3.0);
      if (c.trail_step >= 0 && c.trail_step < static_cast<int>(path.size())) {
        const QPointF at = f.map(path[c.trail_step].x(), path[c.trail_step].y());
        p.setBrush(QColor(255, 210, 40));
        p.drawEllipse(at, 4.0, 4.0);
      }
    }
    p.restore();
  }
  // Frame, ticks and labels.
  p.setPen(QPen(k.axis, 1));
  p.setBrush(Qt::NoBrush);
  p.drawRect(f.plot);
  QFont small = p.font();
  small.setPointSizeF(8);
  p.setFont(small);
  const QFontMetricsF fm(small);
  const double sx = nice_step(f.bounds.width(), 6), sy = nice_step(f.bounds.height(), 6);
  for (double x = std::ceil(f.bounds.left() / sx) * sx; x <= f.bounds.right(); x += sx) {
    const double px = f.map(x, 0).x();
    p.drawLine(QPointF(px, f.plot.bottom()), QPointF(px, f.plot.bottom() + 4));
    const QString t = tick_label(x, sx);
    p.drawText(QPointF(px - fm.horizontalAdvance(t) / 2, f.plot.bottom() + 6 + fm.ascent()), t);
  }
  for (double y = std::ceil(f.bounds.top() / sy) * sy; y <= f.bounds.bottom(); y += sy) {
    const double py = f.map(0, y).y();
    p.drawLine(QPointF(f.plot.left() - 4, py), QPointF(f.plot.left(), py));
    const QString t = tick_label(y, sy);
    p.drawText(QPointF(f.plot.left() - 7 - fm.horizontalAdvance(t), py + fm.ascent() / 2 - 1), t);
  }
  QFont label = small;
  label.setPointSizeF(9);
  label.setItalic(true);
  p.setFont(label);
  p.drawText(QRectF(f.plot.left(), f.plot.bottom() + 18, f.plot.width(), 18), Qt::AlignHCenter, "x₁");
  p.save();
  p.translate(12, f.plot.center().y());
  p.rotate(-90);
  p.drawText(QRectF(-40, -9, 80, 18), Qt::AlignCenter, "x₂");
  p.restore();
  // Titles.
  QFont title = p.font();
  title.setItalic(false);
  title.setBold(true);
  title.setPointSizeF(11);
  p.setFont(title);
  p.setPen(k.title(c.color));
  p.drawText(QRectF(f.plot.left(), 6, f.plot.width(), 22), Qt::AlignLeft | Qt::AlignVCenter, c.title);
  p.setFont(subtitle_font());
  p.setPen(k.axis);
  // The subtitle may use the margin right of the plot; too long, it is elided (never cut off) or, in a view of
  // its own, breaks between its parts (plot_frame left room for the lines).
  const double sub_w = f.widget.right() - f.plot.left() - 4;
  const QStringList sub_lines = subtitle_lines(c.subtitle, sub_w, c.wrap_texts);
  for (int i = 0; i < sub_lines.size(); ++i)
    p.drawText(QRectF(f.plot.left(), 27 + i * kSubtitleLine, sub_w, 18), Qt::AlignLeft | Qt::AlignVCenter, sub_lines[i]);
  if (!c.footer.isEmpty()) {
    p.setFont(small);
    p.setPen(k.footnote);
    // Inside the plot's lower right corner, on a plate of the plot's colour so that points do not run through
    // it. Too wide for one line, it breaks between its " · " parts (a part is elided only when it alone does
    // not fit), so a narrow view keeps every part readable instead of cutting words out of the middle.
    const QRectF box = f.plot.adjusted(6, 4, -6, -4);
    const QFontMetricsF sm(small);
    const QStringList lines = break_parts(c.footer, sm, box.width());
    double w = 0;
    for (const QString& l : lines) w = std::max(w, sm.horizontalAdvance(l));
    const double lh = sm.height();
    const QRectF text(box.right() - w, box.bottom() - lh * lines.size(), w, lh * lines.size());
    QColor plate = k.plot;
    plate.setAlpha(215);
    p.setPen(Qt::NoPen);
    p.setBrush(plate);
    p.drawRect(text.adjusted(-3, -1, 3, 1));
    p.setPen(k.footnote);
    for (int i = 0; i < lines.size(); ++i)
      p.drawText(QRectF(text.left(), text.top() + i * lh, w, lh), Qt::AlignRight | Qt::AlignVCenter, lines[i]);
  }
  p.restore();
}

QStringList break_parts(const QString& text, const QFontMetricsF& fm, double width, int max_lines) {
  const QString dot = QStringLiteral(" · ");
  QStringList lines;
  for (const QString& part : text.split(dot)) {
    const QString joined = lines.isEmpty() ? QString() : lines.back() + dot + part;
    if (!lines.isEmpty() && (fm.horizontalAdvance(joined) <= width || lines.size() >= max_lines))
      lines.back() = joined;
    else
      lines << part;
  }
  for (QString& l : lines) l = fm.elidedText(l, Qt::ElideRight, width);
  return lines;
}

QFont subtitle_font() {
  QFont f;
  f.setPointSizeF(9);
  return f;
}

QStringList subtitle_lines(const QString& subtitle, double width, bool wrap) {
  if (subtitle.isEmpty()) return {};
  return break_parts(subtitle, QFontMetricsF(subtitle_font()), width, wrap ? 3 : 1);
}

}  // namespace sims::ui
