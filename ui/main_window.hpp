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
class QMenu;
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
class ShiftView;

struct StudioOptions {
  QString base, aux;          // model files; empty: remembered ones, else the shipped models
  bool remember = true;       // read and write QSettings
  int64_t preview_points = 400;
  // Image models: the quick first look (images, Heun steps) shown before the full grid.
  int64_t image_preview_images = 4;
  int image_preview_steps = 8;
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
  // The tabs beside the left panel: "Live", "Sweep", "Loops", "Shift".
  QTabWidget* tabs() const { return tabs_; }
  SweepView* sweep_view() const { return sweep_; }
  LoopView* loop_view() const { return loops_; }
  ShiftView* shift_view() const { return shift_; }
  SampleView* sims_view() const { return sims_view_; }
  SampleView* base_view() const { return base_view_; }
  engine::LiveResultPtr last_result() const { return last_; }
  engine::LiveSampler& live() { return *live_; }
  // The views shown (base | SIMS) as one PNG; false (and a message) on failure.
  bool export_png(const QString& path);

  // Session files (*.simsession, JSON): the model files, the live settings
  // (omega, interval, steps, sampler, seed, points, compare), the step
  // viewer's mode and the tab shown. Saving is atomic; opening a missing or
  // bad file says why in the message area and changes nothing.
  bool save_session(const QString& path);
  bool open_session(const QString& path);
  // Recently used files, newest first, as "session:PATH", "base:PATH" or "aux:PATH" (at most 8).
  QStringList recent_files() const { return recent_; }
  // "Export ω × seed grid…" without the dialogs: samples the loaded models on
  // a labelled grid (columns ω = omegas, rows seeds, the live panel's steps,
  // sampler and interval) as a background job with a cancellable progress
  // dialog, and writes the PNG atomically. nullptr (and a message) when the
  // input is bad; the job otherwise (tests wait on it).
  engine::JobPtr start_grid_export(const QString& path, const QString& omegas, const QString& seeds, int64_t per_cell);

 public Q_SLOTS:
  void request(bool preview);
  void open_train();
  void export_dialog();
  void export_grid_dialog();
  void save_session_dialog();
  void open_session_dialog();
  // Stops the live run in flight; the views keep the last result.
  void cancel_sampling();

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
  void add_recent(const QString& kind, const QString& path);
  void rebuild_recent_menu();

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
  ShiftView* shift_ = nullptr;
  QSplitter* views_;
  SampleView *base_view_ = nullptr, *sims_view_ = nullptr;
  std::vector<int64_t> view_shape_;
  QLabel* status_;
  engine::LiveResultPtr last_;
  uint64_t shown_stamp_ = 0;
  bool shown_preview_ = false;  // the result on screen is a preview (its refinement may replace it)
  // The last full-quality request: submitting an identical one while it is
  // still the newest (in flight or shown) is skipped, so a run started while
  // the slider was held still carries on through the release.
  engine::LiveRequest full_req_;
  uint64_t full_stamp_ = 0;
  // Image models: measured seconds per sample and network evaluation (the
  // last run's), so the first preview's step count fits its time budget on a
  // slow or busy machine.
  double image_eval_seconds_ = 0;
  QStringList recent_;
  QMenu* recent_menu_ = nullptr;
  // At most one preview in flight: a drag sends the next preview when the
  // last one is shown, so previews keep arriving at the worker's pace instead
  // of each cancelling the one before (latest-wins would starve them).
  uint64_t preview_stamp_ = 0;
  bool preview_wanted_ = false;
  QRectF bounds_;
  bool renderer_logged_ = false;
};

}  // namespace sims::ui
