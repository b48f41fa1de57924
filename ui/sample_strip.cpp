#include "sample_strip.hpp"

#include <algorithm>
#include <cmath>

#include <QMouseEvent>
#include <QPainter>

#include "theme.hpp"

namespace sims::ui {
namespace {
const int kGap = 8, kCaption = 18;
}

QImage points_thumbnail(const SampleSet& pts, const SampleSet& ref, const QRectF& bounds, const QColor& colour,
                        int size, const ViewColours& k) {
  QImage img(size, size, QImage::Format_ARGB32_Premultiplied);
  img.fill(Qt::transparent);  // the strip paints the cell's background in the theme's colours
  QPainter p(&img);
  p.setRenderHint(QPainter::Antialiasing, true);
  const QRectF b = bounds.isValid() ? bounds : QRectF(-3, -3, 6, 6);
  const double s = size / std::max(b.width(), b.height());
  const double ox = (size - b.width() * s) / 2, oy = (size - b.height() * s) / 2;
  auto map = [&](double x, double y) { return QPointF(ox + (x - b.left()) * s, size - oy - (y - b.top()) * s); };
  p.setPen(Qt::NoPen);
  auto draw = [&](const SampleSet& set, QColor c, double r) {
    if (set.shape != std::vector<int64_t>{2}) return;
    p.setBrush(c);
    for (int64_t i = 0; i < set.count(); ++i) {
      const float x = set.data[2 * i], y = set.data[2 * i + 1];
      if (std::isfinite(x) && std::isfinite(y)) p.drawEllipse(map(x, y), r, r);
    }
  };
  QColor c = k.data(colour);
  c.setAlphaF(0.55);
  const double r = std::clamp(size / 90.0 * 1.4 / std::pow(std::max<int64_t>(pts.count(), 1) / 500.0, 0.25), 0.7, 2.6);
  draw(pts, c, r);
  // p_r on top, as fine dots: drawn first, it hid under any cloud that covered it (the point of the comparison).
  QColor rc = k.reference.darker(125);
  rc.setAlpha(200);
  draw(ref, rc, 0.75);
  return img;
}

QImage images_mosaic(const SampleSet& s, int max_count) {
  const auto& sh = s.shape;
  if (sh.size() != 3 || (sh[0] != 1 && sh[0] != 3) || s.count() == 0) return {};
  const int C = static_cast<int>(sh[0]), H = static_cast<int>(sh[1]), W = static_cast<int>(sh[2]);
  const int n = static_cast<int>(std::min<int64_t>(s.count(), max_count));
  const int cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n)))), rows = (n + cols - 1) / cols;
  QImage img(cols * (W + 1) - 1, rows * (H + 1) - 1, QImage::Format_RGB32);
  img.fill(QColor(238, 239, 242));
  auto u8 = [](float v) { return static_cast<int>(std::clamp(v * 127.5f + 128.f, 0.f, 255.f)); };
  for (int i = 0; i < n; ++i) {
    const float* d = s.data.data() + static_cast<size_t>(i) * C * H * W;
    const int ox = (i % cols) * (W + 1), oy = (i / cols) * (H + 1);
    for (int y = 0; y < H; ++y) {
      auto* line = reinterpret_cast<QRgb*>(img.scanLine(oy + y)) + ox;
      for (int x = 0; x < W; ++x) {
        const int r = u8(d[y * W + x]);
        line[x] = qRgb(r, C == 3 ? u8(d[H * W + y * W + x]) : r, C == 3 ? u8(d[2 * H * W + y * W + x]) : r);
      }
    }
  }
  return img;
}

SampleStrip::SampleStrip(QWidget* parent) : QWidget(parent) {
  QSizePolicy sp(QSizePolicy::Expanding, QSizePolicy::Preferred);
  sp.setHeightForWidth(true);
  setSizePolicy(sp);
  setCursor(Qt::PointingHandCursor);
  connect(ThemeSignals::instance(), &ThemeSignals::changed, this, &SampleStrip::redraw_points);
}

int SampleStrip::add_points_cell(const SampleSet& points, const SampleSet& reference, const QRectF& bounds,
                                 const QColor& colour, int size, const QString& caption) {
  auto redraw = [points, reference, bounds, colour, size] {
    return points_thumbnail(points, reference, bounds, colour, size, screen_colours());
  };
  cells_.push_back({redraw(), caption, redraw});
  updateGeometry();
  update();
  return count() - 1;
}

void SampleStrip::redraw_points() {
  for (Cell& c : cells_)
    if (c.redraw) c.image = c.redraw();
  update();
}

void SampleStrip::clear() {
  cells_.clear();
  selected_ = -1;
  updateGeometry();
  update();
}

int SampleStrip::add_cell(const QImage& thumb, const QString& caption) {
  cells_.push_back({thumb, caption, {}});  // image cells: no redraw
  updateGeometry();
  update();
  return count() - 1;
}

void SampleStrip::set_selected(int i) {
  selected_ = (i >= 0 && i < count()) ? i : -1;
  update();
}

void SampleStrip::set_cell_size(int px) {
  cell_px_ = std::max(24, px);
  updateGeometry();
  update();
}

int SampleStrip::side_for(int width) const {
  if (cells_.empty()) return cell_px_;
  const int n = count();
  const int fit = (width - kGap * (n + 1)) / n;
  return std::clamp(fit, 24, cell_px_);
}

int SampleStrip::heightForWidth(int width) const { return side_for(width) + caption_height(side_for(width)) + 8; }

QFont SampleStrip::caption_font() const {
  QFont f = font();
  f.setPointSizeF(9);
  return f;
}

// A caption wider than its cell breaks at " · " onto a second line (one that used the gap ran into its
// neighbour's caption), and where a line is still too wide, a value's interval goes onto a line of its own
// ("0.0052" over "± 0.0014"); when one caption must break, all do, so that the strip's captions read alike. Only
// a line still wider than the cell and its gaps is elided.
namespace {

QStringList caption_lines(const QString& caption, int level) {
  QStringList lines = level >= 1 ? caption.split(" · ") : QStringList{caption};
  if (level < 2) return lines;
  QStringList split;
  for (const QString& l : lines) {
    const int pm = l.indexOf(QChar(0x00B1));
    if (pm > 0) split << l.left(pm).trimmed() << l.mid(pm);
    else split << l;
  }
  return split;
}

}  // namespace

int SampleStrip::caption_level(int side) const {
  const QFontMetrics fm(caption_font());
  auto all_fit = [&](int level, int width) {
    for (const Cell& cell : cells_)
      for (const QString& l : caption_lines(cell.caption, level))
        if (fm.horizontalAdvance(l) > width) return false;
    return true;
  };
  return all_fit(0, side) ? 0 : all_fit(1, side + kGap) ? 1 : 2;
}

QString SampleStrip::caption_at(int i, int side, int level) const {
  const QFontMetrics fm(caption_font());
  QStringList lines = caption_lines(cells_[i].caption, level);
  for (QString& l : lines) l = fm.elidedText(l, Qt::ElideRight, side + kGap);
  return lines.join('\n');
}

QString SampleStrip::caption_text(int i, int side) const { return caption_at(i, side, caption_level(side)); }

int SampleStrip::caption_height(int side) const {
  const int level = caption_level(side);
  int lines = 1;
  for (int i = 0; i < count(); ++i) lines = std::max<int>(lines, caption_at(i, side, level).count('\n') + 1);
  return kCaption + (lines - 1) * (kCaption - 4);
}

QRect SampleStrip::cell_rect(int i) const {
  const int s = side();
  return QRect(kGap + i * (s + kGap), 4, s, s);
}

QSize SampleStrip::sizeHint() const {
  return QSize(kGap + count() * (cell_px_ + kGap), cell_px_ + kCaption + 8);
}

QSize SampleStrip::minimumSizeHint() const { return QSize(120, 24 + kCaption + 8); }

void SampleStrip::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::SmoothPixmapTransform, false);
  p.setFont(caption_font());
  const int caption_h = caption_height(side()), level = caption_level(side());
  for (int i = 0; i < count(); ++i) {
    const QRect r = cell_rect(i);
    const QImage& img = cells_[i].image;
    if (cells_[i].redraw) {  // a points thumbnail: on the plot colour, framed
      p.fillRect(r, screen_colours().plot);
      p.setPen(QPen(screen_colours().grid, 1));
      p.setBrush(Qt::NoBrush);
      p.drawRect(QRectF(r).adjusted(0.5, 0.5, -0.5, -0.5));
    }
    if (!img.isNull()) {
      // Keep the aspect ratio; image mosaics scale by whole pixels when they can.
      const double k = std::min(r.width() / double(img.width()), r.height() / double(img.height()));
      const double kk = k >= 1 ? std::floor(k) : k;
      const QSizeF sz(img.width() * kk, img.height() * kk);
      p.setRenderHint(QPainter::SmoothPixmapTransform, kk < 1);
      p.drawImage(QRectF(QPointF(r.center()) - QPointF(sz.width() / 2, sz.height() / 2), sz), img);
    }
    if (i == selected_) {
      p.setPen(QPen(QColor(214, 82, 48), 3));
      p.setBrush(Qt::NoBrush);
      p.drawRect(r.adjusted(-2, -2, 2, 2));
    }
    p.setPen(i == selected_ ? screen_colours().title(QColor(214, 82, 48)) : palette().color(QPalette::WindowText));
    p.drawText(QRect(r.left() - kGap / 2, r.bottom() + 3, r.width() + kGap, caption_h), Qt::AlignHCenter | Qt::AlignTop,
               caption_at(i, r.width(), level));
  }
}

void SampleStrip::mousePressEvent(QMouseEvent* e) {
  const int caption_h = caption_height(side());
  for (int i = 0; i < count(); ++i)
    if (cell_rect(i).adjusted(-kGap / 2, 0, kGap / 2, caption_h).contains(e->position().toPoint())) {
      set_selected(i);
      Q_EMIT cell_clicked(i);
      return;
    }
  QWidget::mousePressEvent(e);
}

}  // namespace sims::ui
