// The sample view for image models: up to 36 samples ([C,H,W] in [-1, 1],
// C = 1 or 3) as a square grid, upscaled without smoothing so pixels stay
// visible, with the same titles as the point view. Clicking an image shows it
// large in a window of its own.
#pragma once
#include "sample_view.hpp"
#include "theme.hpp"

class QDialog;

namespace sims::ui {

class ImageGridView final : public SampleView {
 public:
  explicit ImageGridView(QWidget* parent = nullptr);
  void set_content(const ViewContent& content) override;
  const ViewContent& content() const override { return content_; }
  QImage render_image() override;
  QString renderer() const override { return "QPainter (image grid)"; }
  // The sample under a point of the widget as last painted (-1: none).
  int image_at(QPointF pos) const;
  QRectF grid_rect() const { return drawn_; }

 protected:
  void paintEvent(QPaintEvent*) override;
  void mousePressEvent(QMouseEvent* e) override;

 private:
  void paint(QPainter& p, const QSize& size, const ViewColours& k);
  ViewContent content_;
  QImage grid_;  // the tiles at native resolution
  int cols_ = 0, cell_w_ = 0, cell_h_ = 0, shown_ = 0;  // the grid's layout (cells of image + gap)
  QRectF drawn_;                                      // where the grid was painted
  QDialog* enlarged_ = nullptr;                       // the clicked image, large (a child of this view)
};

}  // namespace sims::ui
