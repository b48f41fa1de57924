// "Train models" panel: SIMS Algorithm 1 steps 1-3 on a built-in 2D data set
// (train a base, sample its synthetic set, fine-tune the auxiliary on it) as
// one engine job: progress bar, ETA, live loss curves, Cancel. The UI thread
// only receives queued progress events; it never waits for the job.
#pragma once
#include <QDialog>

#include "engine/job_runner.hpp"

class QChart;
#include "widgets_fwd.hpp"
class QLineSeries;
class QValueAxis;

namespace sims::ui {

class JobControls;
class MessageArea;

struct TrainPlan {
  std::string dataset = "grid25";
  int64_t n_data = 2000;
  std::string net_config;        // path to a network JSON (assets/networks)
  int64_t base_budget = 1000000;  // images
  int64_t n_synth = 2000;
  int synth_steps = 32;
  std::string device = "cpu";     // training (the face's device when the job starts; the synthetic set: CPU)
  int64_t aux_budget = 200000;    // images
  int64_t batch = 256;
  double lr = 1e-3;
  uint64_t seed = 0;
  std::string out_dir;
  std::string base_path() const;
  std::string aux_path() const;
};

// The settings that give a good pair on `dataset`: for grid25 and gaussian the recipes of the shipped pairs
// (tools/make_models.sh: grid25 a 64 x 4 network trained on 3M samples, its auxiliary on 20,000 of its samples;
// gaussian the paper's 128 x 3 network, 200 epochs of 1,000 points); for the other sets the grid25 recipe with a
// third of its budget. out_dir and seed stay empty / 0. The network is a path under assets/networks.
TrainPlan recommended_train_plan(const std::string& dataset);

// Runs the whole plan in the calling thread (the job body; exposed for tests).
// Returns the paths {base, aux}; on cancel returns what exists so far.
std::pair<std::string, std::string> run_train_plan(const TrainPlan& plan, engine::JobContext& ctx);

class TrainPanel final : public QDialog {
  Q_OBJECT
 public:
  TrainPanel(engine::JobRunner* runner, MessageArea* messages, QWidget* parent = nullptr);
  TrainPlan plan() const;
  void set_plan(const TrainPlan& p);
  engine::JobPtr job() const;
  QPushButton* start_button() const;
  QPushButton* cancel_button() const;
  int loss_points() const;

 public Q_SLOTS:
  void start();
  void cancel();

 Q_SIGNALS:
  void progressed(double fraction);
  void finished(int state);  // engine::JobState
  // The job finished and "load when done" is checked.
  void models_ready(const QString& base, const QString& aux);

 private:
  void on_progress(const engine::JobProgress& p);
  void apply_recommended(const QString& dataset);  // a new data set: its recipe, keeping folder and seed
  void refresh_recipe();                            // says whether the settings are the data set's recipe
  void on_done(engine::JobState s, const QString& error);

  MessageArea* messages_;
  JobControls* jobs_;
  QComboBox *dataset_, *net_;
  QSpinBox *n_data_, *base_budget_, *n_synth_, *aux_budget_, *seed_;
  QLineEdit* out_dir_;
  QLabel* recipe_;
  double lr_ = 1e-3;
  int64_t batch_ = 256;
  QCheckBox* load_when_done_;
  QChart* chart_;
  QLineSeries *base_loss_, *aux_loss_;
  QValueAxis* x_axis_;
  QValueAxis* y_axis_;
  int64_t base_budget_images_ = 0;  // of the job shown: the aux curve continues after it
  double y_min_ = 1e9, y_max_ = 0;
};

}  // namespace sims::ui
