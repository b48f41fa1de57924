// The sample view for image models: up to 36 samples ([C,H,W] in [-1, 1],
// C = 1 or 3) as a square grid, upscaled without smoothing so pixels stay
// visible, with the same titles as the point view.
#pragma once
#include "sample_view.hpp"

namespace sims::ui {

class ImageGridView final : public SampleView {
 public:
  explicit ImageGridView(QWidget* parent = nullptr);
  void set_content(const ViewContent& content) override;
  const ViewContent& content() const override { return content_; }
  QImage render_image() override;
  QString renderer() const override { return "QPainter (image grid)"; }

 protected:
  void paintEvent(QPaintEvent*) override;

 private:
  void paint(QPainter& p, const QSize& size);
  ViewContent content_;
  QImage grid_;  // the tiles at native resolution
};

}  // namespace sims::ui
