// The studio's main window: the wiring of its parts. Models and live guidance
// on the left; the tabs on the right (Live: the sample views with the step
// viewer, then the Sweep, Loops and Shift analyses); messages at the bottom;
// menus. What each part does lives in its own class: LiveView (with the
// engine's LivePolicy deciding what to sample), SessionController (session
// files, recent files, remembered settings), ExportController (view and grid
// exports). The accessors and forwarding calls below are what the app and the
// GUI tests use.
#pragma once
#include <memory>

#include <QMainWindow>

#include "engine/job_runner.hpp"
#include "engine/live_sampler.hpp"
#include "sample_view.hpp"
#include "studio_options.hpp"

#include "widgets_fwd.hpp"

namespace sims::ui {

class ExportController;
class GuidancePanel;
class LiveView;
class AtlasView;
class LoopView;
class MessageArea;
class ModelsPanel;
class SessionController;
class ShiftView;
class StepViewer;
class SweepView;
class TrainPanel;

class MainWindow final : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(const StudioOptions& opts = {}, QWidget* parent = nullptr);
  ~MainWindow() override;

  GuidancePanel* guidance() const { return guidance_; }
  ModelsPanel* models() const { return models_; }
  StepViewer* steps() const;
  MessageArea* messages() const { return messages_; }
  TrainPanel* train_panel();
  // The tabs beside the left panel: "Live", "Sweep", "Loops", "Shift".
  QTabWidget* tabs() const { return tabs_; }
  SweepView* sweep_view() const { return sweep_; }
  LoopView* loop_view() const { return loops_; }
  AtlasView* atlas_view() const { return atlas_; }
  ShiftView* shift_view() const { return shift_; }
  LiveView* live_view() const { return live_view_; }
  SessionController* sessions() const { return sessions_; }
  ExportController* exports() const { return exports_; }

  // Forwarded to the parts (see their headers).
  SampleView* sims_view() const;
  SampleView* base_view() const;
  engine::LiveResultPtr last_result() const;
  engine::LiveSampler& live();
  bool export_png(const QString& path);
  bool save_session(const QString& path);
  bool open_session(const QString& path);
  // Tools ▸ Compute device: reloads the loaded models on `name` ("cpu", "cuda", "cuda:1"), which later jobs use
  // too. False for any other name, or when they cannot be moved there: the models and the choice stay where they
  // were, with an error line.
  bool use_device(const std::string& name);
  QStringList recent_files() const;
  engine::JobPtr start_grid_export(const QString& path, const QString& omegas, const QString& seeds, int64_t per_cell);

 public Q_SLOTS:
  // The live request for the panel's settings (preview: a control is being dragged).
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
  StudioOptions opts_;
  std::unique_ptr<engine::JobRunner> jobs_;
  MessageArea* messages_;
  ModelsPanel* models_;
  GuidancePanel* guidance_;
  QLabel* status_;
  LiveView* live_view_;
  TrainPanel* train_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  SweepView* sweep_ = nullptr;
  LoopView* loops_ = nullptr;
  AtlasView* atlas_ = nullptr;
  ShiftView* shift_ = nullptr;
  SessionController* sessions_ = nullptr;
  ExportController* exports_ = nullptr;
};

}  // namespace sims::ui
