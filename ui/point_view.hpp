// The 2D sample view: point sprites drawn by OpenGL shaders (shaders/points.*)
// over a density heat map and the real data drawn faintly, with axes and
// trails painted by QPainter. Where no OpenGL context can be created (a
// headless test, a remote display) it falls back to QPainter for everything;
// SIMS_STUDIO_RENDERER=painter|gl forces one.
#pragma once
#include <functional>
#include <QImage>

#include "sample_view.hpp"
#include "theme.hpp"

namespace sims::ui {

struct PlotFrame;

class PointView final : public SampleView {
 public:
  explicit PointView(QWidget* parent = nullptr);
  void set_content(const ViewContent& content) override;
  const ViewContent& content() const override { return content_; }
  QImage render_image() override;
  QString renderer() const override;

  // Zoom (wheel about the cursor) and pan (drag) of the data range shown, until reset_zoom() (double-click):
  // the content's own bounds (e.g. following σ) are then used again.
  void zoom_by(double factor, const QPointF& canvas_px);
  void reset_zoom();
  bool zoomed() const { return zoom_.isValid(); }
  // Sets the zoom box without telling on_zoom (invalid: the content's own bounds).
  void set_zoom(const QRectF& box);
  // Called when the user zooms, pans or resets (e.g. to give the view beside it the same range).
  std::function<void(const QRectF&)> on_zoom;
  QRectF shown_bounds() const { return shown_.bounds; }

  // Whether an OpenGL context can be created here (checked once).
  static bool opengl_available();

  // Used by the canvases.
  // On screen: the theme's colours and the hover readout; for an export: paper colours, no readout.
  void paint_all(QPainter& p, const QSize& size, bool for_export = false);
  void paint_gl(QPainter& p, const QSize& size, double dpr);

 private:
  class GlCanvas;
  class PainterCanvas;
  // The QPainter renderer's points (reference and samples) splatted into an
  // image once per content and size, not drawn as thousands of ellipses per paint.
  const QImage& points_layer(const PlotFrame& f, double dpr, const ViewColours& k);
  bool eventFilter(QObject* o, QEvent* e) override;
  void apply_view();
  void zoom_changed();
  QPointF data_at(const QPointF& canvas_px) const;
  void paint_hover(QPainter& p, const PlotFrame& f, const ViewColours& k);
  ViewContent content_;  // as set
  ViewContent shown_;    // as drawn: the zoom box's bounds when zoomed
  QRectF zoom_;          // data range chosen by the user (invalid: the content's)
  QPointF hover_{-1, -1};
  QPointF drag_from_;
  QRectF drag_bounds_;
  QImage heat_;
  QRectF heat_region_;
  QImage layer_;
  QRectF layer_plot_;
  double layer_dpr_ = 0;
  bool layer_dirty_ = true;
  bool layer_dark_ = false;  // drawn with the dark colours
  QWidget* canvas_ = nullptr;
  GlCanvas* gl_ = nullptr;
};

}  // namespace sims::ui
