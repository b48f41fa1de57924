// The Atlas tab: the MAD paper's effective sample size n_e / n_r (eq. 3) over a grid of (n_r, n_s) for several
// sampling biases λ and memories K, in the Gaussian family (Fig. 10, 30-33), computed in seconds by the core's
// run_atlas. The heat maps are the CLI's own figure (loops/admissibility.hpp), scaled to the tab; hovering a cell
// shows its numbers, clicking it runs that loop in the Loops tab.
#pragma once
#include <functional>
#include <optional>
#include <vector>

#include <QImage>
#include <QWidget>

#include "analysis_tab.hpp"
#include "loop_view.hpp"
#include "loops/admissibility.hpp"

#include "widgets_fwd.hpp"

namespace sims::ui {

// An image drawn as large as fits (never enlarged), top-left; reports clicks and hovers in image pixels. Given
// several layouts of the same figure (set_images), it shows the one that fits largest at its current size (the
// first of equals), choosing again when resized.
class FittedImage final : public QWidget {
  Q_OBJECT
 public:
  explicit FittedImage(QWidget* parent = nullptr);
  void set_image(const QImage& img) { set_images({img}); }
  void set_images(std::vector<QImage> layouts);
  const QImage& image() const { return img_; }
  size_t chosen() const { return chosen_; }  // index into the layouts of the one shown
  double scale() const;
  // Widget position → image pixel (or nullopt outside the image).
  std::optional<QPoint> to_image(const QPoint& p) const;
  std::function<void(QPoint)> on_click;            // image pixels
  std::function<QString(QPoint)> tooltip_at;      // image pixels → tool tip ("" for none)
  QSize sizeHint() const override;

 protected:
  void paintEvent(QPaintEvent* e) override;
  void resizeEvent(QResizeEvent* e) override;
  void mousePressEvent(QMouseEvent* e) override;
  void mouseMoveEvent(QMouseEvent* e) override;

 private:
  double scale_of(const QImage& img) const;
  void choose();
  std::vector<QImage> layouts_;
  size_t chosen_ = 0;
  QImage img_;
};

class AtlasView final : public AnalysisTab {
  Q_OBJECT
 public:
  explicit AtlasView(MessageArea* messages, QWidget* parent = nullptr);

  // The form as a configuration; throws InputError on a bad list.
  loops::AtlasConfig config() const;
  void set_config(const loops::AtlasConfig& c);
  // The loop that clicking cell k runs (the Loops tab's plan).
  LoopPlan plan_for_cell(size_t k) const;
  // Called with the plan of a clicked cell (the main window runs it in the Loops tab).
  void set_on_cell(std::function<void(const LoopPlan&)> f) { on_cell_ = std::move(f); }
  // Clicks the cell k as a user would (tests).
  bool click_cell(size_t k);

  FittedImage* figure() const { return figure_; }
  // Heat maps per row in the figure as shown (chosen to fit the pane; the CLI's atlas.png has them in one row).
  int figure_columns() const;
  const std::optional<loops::AtlasResult>& result() const { return result_; }
  bool has_results() const override { return result_.has_value(); }
  QString export_caption() const override;
  // The atlas exports as the CLI's PNG (atlas.png) and its CSV; SVG and PDF say so.
  bool export_png(const QString& path) override;
  bool export_svg(const QString& path) override;
  bool export_pdf(const QString& path) override;

 protected:
  engine::JobFn prepare_job() override;
  void job_ended(engine::JobState s) override;
  std::string results_csv() const override;
  std::vector<const AnalysisChart*> export_charts() const override { return {}; }

 private:
  void show_result(const loops::AtlasResult& r);
  void describe();
  QString cell_text(size_t k) const;

  QComboBox *kind_, *pool_;
  QLineEdit *n_real_, *n_synth_, *lambdas_, *memory_;
  QSpinBox *dim_, *generations_, *tail_, *runs_, *seed_;
  FittedImage* figure_;
  QLabel* hint_;
  std::optional<loops::AtlasResult> result_;
  std::vector<int> layout_columns_;  // heat maps per row of each layout given to figure_
  std::function<void(const LoopPlan&)> on_cell_;
};

}  // namespace sims::ui
