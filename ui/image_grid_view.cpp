#include "image_grid_view.hpp"
#include "plot_painter.hpp"

#include <algorithm>
#include <cmath>

#include <QDialog>
#include <QFontMetricsF>
#include <QLabel>
#include <QMouseEvent>
#include <QPainter>
#include <QPixmap>
#include <QVBoxLayout>

namespace sims::ui {

ImageGridView::ImageGridView(QWidget* parent) : SampleView(parent) { setMinimumSize(260, 260); }

void ImageGridView::set_content(const ViewContent& c) {
  content_ = c;
  grid_ = QImage();
  drawn_ = QRectF();  // clicks map to cells once the new grid is painted
  const auto& sh = c.samples.shape;
  if (sh.size() == 3 && (sh[0] == 1 || sh[0] == 3) && c.samples.count() > 0) {
    const int C = static_cast<int>(sh[0]), H = static_cast<int>(sh[1]), W = static_cast<int>(sh[2]);
    const int n = static_cast<int>(std::min<int64_t>(c.samples.count(), 36));
    const int cells = std::clamp(c.grid_cells > 0 ? c.grid_cells : n, n, 36);
    const int cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(cells)))), rows = (cells + cols - 1) / cols;
    const int gap = 1;
    cols_ = cols, cell_w_ = W + gap, cell_h_ = H + gap, shown_ = n;
    grid_ = QImage(cols * (W + gap) - gap, rows * (H + gap) - gap, QImage::Format_ARGB32);
    grid_.fill(Qt::transparent);  // the gaps show the view's background
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

void ImageGridView::paint(QPainter& p, const QSize& size, const ViewColours& k) {
  p.fillRect(QRect(QPoint(0, 0), size), k.frame);
  QFont title = p.font();
  title.setBold(true);
  title.setPointSizeF(11);
  p.setFont(title);
  p.setPen(k.title(content_.color));
  p.drawText(QRectF(12, 6, size.width() - 24, 22), Qt::AlignLeft | Qt::AlignVCenter, content_.title);
  const QFont sub = subtitle_font();
  p.setFont(sub);
  p.setPen(k.axis);
  // Subtitle and footer: one line each, elided, or in a view of its own (wrap_texts) broken between their " · "
  // parts rather than losing their ends; the images take the rest.
  const double text_w = size.width() - 24;
  const QStringList sub_lines = subtitle_lines(content_.subtitle, text_w, content_.wrap_texts);
  for (int i = 0; i < sub_lines.size(); ++i)
    p.drawText(QRectF(12, 27 + i * kSubtitleLine, text_w, 18), Qt::AlignLeft | Qt::AlignVCenter, sub_lines[i]);
  const QStringList foot_lines = break_parts(content_.footer, QFontMetricsF(sub), text_w, content_.wrap_texts ? 3 : 1);
  const double top = 50 + kSubtitleLine * std::max<int>(0, sub_lines.size() - 1);
  const double foot_h = kSubtitleLine * std::max<int>(1, foot_lines.size());
  const QRectF area(12, top, text_w, size.height() - top - foot_h - 6);
  if (!grid_.isNull() && area.width() > 10 && area.height() > 10) {
    // Integer upscaling keeps the pixels crisp.
    const double s = std::max(1.0, std::floor(std::min(area.width() / grid_.width(), area.height() / grid_.height())));
    const QSizeF sz(grid_.width() * s, grid_.height() * s);
    p.setRenderHint(QPainter::SmoothPixmapTransform, false);
    drawn_ = QRectF(area.center() - QPointF(sz.width() / 2, sz.height() / 2), sz);
    p.drawImage(drawn_, grid_);
  }
  p.setFont(sub);
  p.setPen(k.footnote);
  for (int i = 0; i < foot_lines.size(); ++i)
    p.drawText(QRectF(12, size.height() - 4 - foot_h + i * kSubtitleLine, text_w, kSubtitleLine),
               Qt::AlignRight | Qt::AlignVCenter, foot_lines[i]);
}

int ImageGridView::image_at(QPointF pos) const {
  if (grid_.isNull() || !drawn_.contains(pos) || cols_ <= 0) return -1;
  const double scale = drawn_.width() / grid_.width();
  const int c = static_cast<int>((pos.x() - drawn_.left()) / scale) / cell_w_;
  const int r = static_cast<int>((pos.y() - drawn_.top()) / scale) / cell_h_;
  const int i = r * cols_ + c;
  return c < cols_ && i < shown_ ? i : -1;
}

void ImageGridView::mousePressEvent(QMouseEvent* e) {
  const int i = e->button() == Qt::LeftButton ? image_at(e->position()) : -1;
  if (i < 0) return;
  const int c = i % cols_, r = i / cols_;
  // The image at 8x in a window of its own (closes with the window's button or Esc).
  const QImage tile = grid_.copy(c * cell_w_, r * cell_h_, cell_w_ - 1, cell_h_ - 1);
  // One window, reused by the next click.
  if (!enlarged_) {
    enlarged_ = new QDialog(this);
    enlarged_->setObjectName("enlargedImage");
    auto* v = new QVBoxLayout(enlarged_);
    auto* img = new QLabel(enlarged_);
    img->setObjectName("image");
    v->addWidget(img);
    auto* cap = new QLabel(enlarged_);
    cap->setObjectName("caption");
    cap->setWordWrap(true);
    v->addWidget(cap);
  }
  enlarged_->setWindowTitle(QString("sample %1 · %2").arg(i + 1).arg(content_.title));
  enlarged_->findChild<QLabel*>("image")->setPixmap(
      QPixmap::fromImage(tile.scaled(tile.size() * 8, Qt::KeepAspectRatio, Qt::FastTransformation)));
  enlarged_->findChild<QLabel*>("caption")->setText(
      QString("sample %1 of %2 · %3").arg(i + 1).arg(shown_).arg(content_.subtitle));
  enlarged_->show();
  enlarged_->raise();
}

void ImageGridView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  paint(p, size(), screen_colours());
  note_frame_painted();
}

QImage ImageGridView::render_image() {
  const QSize sz = size().isEmpty() ? QSize(600, 600) : size();
  QImage img(sz, QImage::Format_ARGB32_Premultiplied);
  QPainter p(&img);
  paint(p, sz, paper_colours());
  return img;
}

}  // namespace sims::ui
