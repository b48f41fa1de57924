// The studio's main window: models and live guidance on the left, the
// sample views (base | SIMS on the same seeds) with the step viewer on the
// right, messages at the bottom. It turns panel changes into immutable
// LiveRequests for the engine's LiveSampler and shows results as they arrive
// (queued from the worker; stale stamps are ignored).
#pragma once
#include <memory>

#include <QMainWindow>

#include "engine/job_runner.hpp"
#include "engine/live_sampler.hpp"
#include "sample_view.hpp"

class QLabel;
class QSplitter;
class QTabWidget;

namespace sims::ui {

class GuidancePanel;
class MessageArea;
class ModelsPanel;
class StepViewer;
class TrainPanel;
class SweepView;
class LoopView;

struct StudioOptions {
  QString base, aux;          // model files; empty: remembered ones, else the shipped models
  bool remember = true;       // read and write QSettings
  int64_t preview_points = 400;
};

// The shipped 2D models (assets/models/grid25-{base,aux}.ckpt).
QString shipped_model(const char* role);

class MainWindow final : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(const StudioOptions& opts = {}, QWidget* parent = nullptr);
  ~MainWindow() override;

  GuidancePanel* guidance() const { return guidance_; }
  ModelsPanel* models() const { return models_; }
  StepViewer* steps() const { return steps_; }
  MessageArea* messages() const { return messages_; }
  TrainPanel* train_panel();
  // The tabs beside the left panel: "Live", "Sweep", "Loops".
  QTabWidget* tabs() const { return tabs_; }
  SweepView* sweep_view() const { return sweep_; }
  LoopView* loop_view() const { return loops_; }
  SampleView* sims_view() const { return sims_view_; }
  SampleView* base_view() const { return base_view_; }
  engine::LiveResultPtr last_result() const { return last_; }
  engine::LiveSampler& live() { return *live_; }
  // The views shown (base | SIMS) as one PNG; false (and a message) on failure.
  bool export_png(const QString& path);

 public Q_SLOTS:
  void request(bool preview);
  void open_train();
  void export_dialog();

 Q_SIGNALS:
  void result_shown(quint64 stamp, bool preview);

 protected:
  void closeEvent(QCloseEvent* e) override;

 private:
  void on_result(engine::LiveResultPtr r);
  void on_models_changed();
  void refresh_views();
  void ensure_views(const std::vector<int64_t>& shape);
  void load_settings(const StudioOptions& opts);
  void save_settings();

  StudioOptions opts_;
  std::unique_ptr<engine::JobRunner> jobs_;
  std::unique_ptr<engine::LiveSampler> live_;
  MessageArea* messages_;
  ModelsPanel* models_;
  GuidancePanel* guidance_;
  StepViewer* steps_;
  TrainPanel* train_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  SweepView* sweep_ = nullptr;
  LoopView* loops_ = nullptr;
  QSplitter* views_;
  SampleView *base_view_ = nullptr, *sims_view_ = nullptr;
  std::vector<int64_t> view_shape_;
  QLabel* status_;
  engine::LiveResultPtr last_;
  uint64_t shown_stamp_ = 0;
  // At most one preview in flight: a drag sends the next preview when the
  // last one is shown, so previews keep arriving at the worker's pace instead
  // of each cancelling the one before (latest-wins would starve them).
  uint64_t preview_stamp_ = 0;
  bool preview_wanted_ = false;
  QRectF bounds_;
  bool renderer_logged_ = false;
};

}  // namespace sims::ui
