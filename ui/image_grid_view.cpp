#include "image_grid_view.hpp"

#include <algorithm>
#include <cmath>

#include <QFontMetricsF>
#include <QPainter>

namespace sims::ui {

ImageGridView::ImageGridView(QWidget* parent) : SampleView(parent) { setMinimumSize(260, 260); }

void ImageGridView::set_content(const ViewContent& c) {
  content_ = c;
  grid_ = QImage();
  const auto& sh = c.samples.shape;
  if (sh.size() == 3 && (sh[0] == 1 || sh[0] == 3) && c.samples.count() > 0) {
    const int C = static_cast<int>(sh[0]), H = static_cast<int>(sh[1]), W = static_cast<int>(sh[2]);
    const int n = static_cast<int>(std::min<int64_t>(c.samples.count(), 36));
    const int cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n)))), rows = (n + cols - 1) / cols;
    const int gap = 1;
    grid_ = QImage(cols * (W + gap) - gap, rows * (H + gap) - gap, QImage::Format_RGB32);
    grid_.fill(QColor(238, 239, 242));
    const float* d = c.samples.data.data();
    auto u8 = [](float v) { return static_cast<int>(std::clamp(v * 127.5f + 128.f, 0.f, 255.f)); };  // [-1,1] -> uint8
    for (int i = 0; i < n; ++i) {
      const float* img = d + static_cast<size_t>(i) * C * H * W;
      const int ox = (i % cols) * (W + gap), oy = (i / cols) * (H + gap);
      for (int y = 0; y < H; ++y) {
        auto* line = reinterpret_cast<QRgb*>(grid_.scanLine(oy + y)) + ox;
        for (int x = 0; x < W; ++x) {
          const int r = u8(img[y * W + x]);
          const int g = C == 3 ? u8(img[H * W + y * W + x]) : r;
          const int b = C == 3 ? u8(img[2 * H * W + y * W + x]) : r;
          line[x] = qRgb(r, g, b);
        }
      }
    }
  }
  update();
}

void ImageGridView::paint(QPainter& p, const QSize& size) {
  p.fillRect(QRect(QPoint(0, 0), size), QColor(238, 239, 242));
  QFont title = p.font();
  title.setBold(true);
  title.setPointSizeF(11);
  p.setFont(title);
  p.setPen(content_.color.darker(140));
  p.drawText(QRectF(12, 6, size.width() - 24, 22), Qt::AlignLeft | Qt::AlignVCenter, content_.title);
  QFont sub = title;
  sub.setBold(false);
  sub.setPointSizeF(9);
  p.setFont(sub);
  p.setPen(QColor(90, 90, 98));
  p.drawText(QRectF(12, 27, size.width() - 24, 18), Qt::AlignLeft | Qt::AlignVCenter,
             QFontMetricsF(p.font()).elidedText(content_.subtitle, Qt::ElideRight, size.width() - 24));
  const QRectF area(12, 50, size.width() - 24, size.height() - 72);
  if (!grid_.isNull() && area.width() > 10 && area.height() > 10) {
    // Integer upscaling keeps the pixels crisp.
    const double s = std::max(1.0, std::floor(std::min(area.width() / grid_.width(), area.height() / grid_.height())));
    const QSizeF sz(grid_.width() * s, grid_.height() * s);
    p.setRenderHint(QPainter::SmoothPixmapTransform, false);
    p.drawImage(QRectF(area.center() - QPointF(sz.width() / 2, sz.height() / 2), sz), grid_);
  }
  p.setFont(sub);
  p.setPen(QColor(120, 120, 130));
  p.drawText(QRectF(12, size.height() - 20, size.width() - 24, 16), Qt::AlignRight | Qt::AlignVCenter, content_.footer);
}

void ImageGridView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  paint(p, size());
  note_frame_painted();
}

QImage ImageGridView::render_image() {
  const QSize sz = size().isEmpty() ? QSize(600, 600) : size();
  QImage img(sz, QImage::Format_ARGB32_Premultiplied);
  QPainter p(&img);
  paint(p, sz);
  return img;
}

}  // namespace sims::ui
