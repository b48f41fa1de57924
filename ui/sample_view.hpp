// The view interface of the studio's sample area: whatever the model's
// samples are (2D points today, image grids with the U-Net models), a view
// takes a torch-free ViewContent and can render itself to an image for
// export. make_sample_view() picks the view for a sample shape.
#pragma once
#include <cstdint>
#include <vector>

#include <QColor>
#include <QImage>
#include <QPointF>
#include <QRectF>
#include <QString>
#include <QWidget>

namespace sims::ui {

// Samples as plain floats: [count, ...shape] row-major.
struct SampleSet {
  std::vector<int64_t> shape;  // per-sample shape: {2} for points, {C,H,W} for images
  std::vector<float> data;
  int64_t count() const {
    int64_t per = 1;
    for (auto s : shape) per *= s;
    return per > 0 && !shape.empty() ? static_cast<int64_t>(data.size()) / per : 0;
  }
};

struct ViewContent {
  QString title;         // e.g. "SIMS  ω = 1.50"
  QString subtitle;      // e.g. "step 12 / 32 · σ = 0.52 · x_t"
  QString footer;        // e.g. "2000 points · 48 ms"
  QColor color{60, 100, 170};
  SampleSet samples;
  SampleSet reference;   // the real data distribution when known (drawn faintly)
  QRectF bounds;         // data range shown (2D); shared by side-by-side views
  bool heatmap = true;   // density of the samples underneath (2D)
  // 2D: paths of a few samples through the denoising steps, and the index of
  // the step shown (its points are marked).
  std::vector<std::vector<QPointF>> trails;
  int trail_step = -1;
  bool arrows = false;   // the trails are displacements: drawn as arrows, without step markers
  // Images: cells of the grid (0: one per sample). A preview of 4 images is
  // laid out in the full grid's cells, so images keep their size when the
  // full set replaces it.
  int grid_cells = 0;
  // A view of its own (the Sweep tab's large view): a subtitle or footer too long for one line breaks between its
  // " · " parts (up to three lines), the data area starting lower, instead of being elided. Views shown side by
  // side (the Live tab) keep one line each, so that their plots stay the same size and aligned.
  bool wrap_texts = false;
};

class SampleView : public QWidget {
 public:
  using QWidget::QWidget;
  virtual void set_content(const ViewContent& content) = 0;
  virtual const ViewContent& content() const = 0;
  // The view as an image (for "Export PNG" and tests): what is on screen.
  virtual QImage render_image() = 0;
  // "OpenGL" or "QPainter" (shown in the about box and logged once).
  virtual QString renderer() const = 0;
  // Frames painted so far: a benchmark waits for the frame after a result
  // was set to know it is on screen. Views call note_frame_painted() after
  // each paint.
  quint64 frames_painted() const { return frames_painted_; }
  void note_frame_painted() { ++frames_painted_; }

 private:
  quint64 frames_painted_ = 0;
};

// 2D points -> PointView; [1 or 3, H, W] -> ImageGridView; other shapes -> a
// placeholder.
SampleView* make_sample_view(const std::vector<int64_t>& shape, QWidget* parent);

// Robust data bounds (1st..99th percentile, padded, square-ish) of 2D sets.
QRectF bounds_of(const std::vector<const SampleSet*>& sets);

}  // namespace sims::ui
