// The 2D sample view: point sprites drawn by OpenGL shaders (shaders/points.*)
// over a density heat map and the real data drawn faintly, with axes and
// trails painted by QPainter. Where no OpenGL context can be created (a
// headless test, a remote display) it falls back to QPainter for everything;
// SIMS_STUDIO_RENDERER=painter|gl forces one.
#pragma once
#include <QImage>

#include "sample_view.hpp"

namespace sims::ui {

struct PlotFrame;

class PointView final : public SampleView {
 public:
  explicit PointView(QWidget* parent = nullptr);
  void set_content(const ViewContent& content) override;
  const ViewContent& content() const override { return content_; }
  QImage render_image() override;
  QString renderer() const override;

  // Whether an OpenGL context can be created here (checked once).
  static bool opengl_available();

  // Used by the canvases.
  void paint_all(QPainter& p, const QSize& size);
  void paint_gl(QPainter& p, const QSize& size, double dpr);

 private:
  class GlCanvas;
  class PainterCanvas;
  // The QPainter renderer's points (reference and samples) splatted into an
  // image once per content and size, not drawn as thousands of ellipses per paint.
  const QImage& points_layer(const PlotFrame& f, double dpr);
  ViewContent content_;
  QImage heat_;
  QRectF heat_region_;
  QImage layer_;
  QRectF layer_plot_;
  double layer_dpr_ = 0;
  bool layer_dirty_ = true;
  QWidget* canvas_ = nullptr;
  GlCanvas* gl_ = nullptr;
};

}  // namespace sims::ui
