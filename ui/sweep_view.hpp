// The studio's "Sweep" tab: the guidance sweep of `sims sweep` for the loaded
// base and auxiliary models (metrics::run_sweep), run as a background job one
// ω at a time so the charts fill as values arrive: distance to the real data
// (exact W2 for 2D models, FD_<net> for image models), precision/recall and,
// for image models with a classifier, attribute shares, each against ω; a
// strip of samples per ω (same seed for every ω); clicking a chart column, a
// strip cell or a table row shows that ω's samples large. Exports: the charts
// as PNG and SVG, the table as CSV (the CLI's sweep.csv columns).
#pragma once
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "analysis_tab.hpp"
#include "engine/job_runner.hpp"
#include "metrics/sweep.hpp"
#include "sample_view.hpp"

#include "widgets_fwd.hpp"

namespace sims::ui {

class AnalysisChart;
class MessageArea;
class ModelsPanel;
class SampleStrip;

struct SweepPlan {
  std::vector<double> omegas{-0.5, 0, 0.5, 1, 1.5, 2, 3};
  double lo = 0, hi = std::numeric_limits<double>::infinity();  // guidance interval in σ
  int64_t n = 1000;       // samples per ω (and real samples compared with)
  int steps = 18;         // Heun steps
  uint64_t seed = 0;      // the same starting noise for every ω
  int64_t keep = 2000;    // samples kept per ω for the strip and the large view
  std::string real;       // points: a built-in 2D data set; images: a data set spec (e.g. faces:ratio=0.5,size=32)
  std::string features;   // images: feature network (FD_<name>, precision/recall in its space)
  std::string classifier; // images: attribute classifier (empty: no shares)
  int ci = 50;            // bootstrap resamples for the 95 % intervals (0: none)
  std::string metric = "w2";  // points: "w2" or "energy" (metrics::SweepConfig::point_metric)
};

// "-0.5, 0, 1" -> values; throws InputError naming a bad value.
std::vector<double> parse_omega_list(const std::string& text);

// The job body (exposed for tests): loads the real data and networks, then
// runs the sweep one ω at a time with the same noise, calling on_reference
// once with the real data (points [M,2] or images) and on_row after each ω
// with the rows so far (the newest last; paired gains over ω = 0 and the
// real-data floor filled in). Returns all rows. Throws InputError / Cancelled.
metrics::SweepResult run_sweep_plan(const SweepPlan& plan, const DenoiserPtr& base, const DenoiserPtr& aux,
                                    const std::string& aux_label, engine::JobContext& ctx,
                                    const std::function<void(const at::Tensor&)>& on_reference,
                                    const std::function<void(const metrics::SweepResult&)>& on_row);

class SweepView final : public AnalysisTab {
  Q_OBJECT
 public:
  SweepView(ModelsPanel* models, MessageArea* messages, QWidget* parent = nullptr);

  // The controls as a plan; throws InputError on a bad ω list or interval.
  SweepPlan plan() const;
  void set_plan(const SweepPlan& p);

  AnalysisChart* distance_chart() const { return dist_chart_; }
  AnalysisChart* pr_chart() const { return pr_chart_; }
  AnalysisChart* ratio_chart() const { return ratio_chart_; }
  SampleStrip* strip() const { return strip_; }
  QTableWidget* table() const { return table_; }
  SampleView* large_view() const { return large_; }
  const metrics::SweepResult& result() const { return result_; }
  int selected() const { return selected_; }
  bool has_results() const override { return !result_.rows.empty(); }

  QString export_caption() const override { return caption_; }

 public Q_SLOTS:
  // Shows row i (one ω) large and marks it in the charts, strip and table.
  void select(int row);

 Q_SIGNALS:
  void row_added(int index);

 protected:
  void showEvent(QShowEvent* e) override;
  void resizeEvent(QResizeEvent* e) override;
  engine::JobFn prepare_job() override;
  void job_ended(engine::JobState s) override;
  std::string results_csv() const override { return result_.to_csv(); }
  std::vector<const AnalysisChart*> export_charts() const override;

 private:
  // The distance chart's title and y axis for a metric ("w2", "energy", "fd" with its feature net).
  void name_distance_chart(const std::string& metric, const std::string& features);
  void on_models_changed();
  void on_reference(const SampleSet& real);
  void add_row(const metrics::SweepResult& one);
  void show_verdict();
  void ensure_large_view();
  void show_shares(bool on);
  void reset_results();
  void describe();

  ModelsPanel* models_;
  QLineEdit *omegas_, *interval_, *real_, *features_;
  QSpinBox *n_, *steps_, *seed_;
  QCheckBox* shares_;
  QLabel* features_label_;
  QComboBox* metric_;      // points: W2 or energy distance
  QLabel* metric_label_;
  QLabel* verdict_ = nullptr;  // the sweep's verdict on the effect, under the charts
  AnalysisChart *dist_chart_, *pr_chart_, *ratio_chart_;
  QGridLayout* charts_grid_;
  SampleStrip* strip_;
  QTableWidget* table_;
  QSplitter* right_;
  SampleView* large_ = nullptr;
  std::vector<int64_t> large_shape_;
  std::vector<int64_t> shape_;          // of the models the shown results came from
  std::vector<int64_t> controls_shape_; // the controls' defaults were set for this shape
  metrics::SweepResult result_;
  std::vector<double> plan_omegas_;  // of the running sweep: the floor line spans them
  int64_t plan_n_ = 0;               // of the running sweep: samples per ω (the shares' Wilson intervals)
  int64_t samples_per_row() const;   // plan_n_, or the form's value before any sweep ran
  QString tuned_for_;                 // the auxiliary whose tuned settings the controls took
  SampleSet real_points_;  // the reference the sweep compares with (points)
  QRectF bounds_;
  int selected_ = -1;
  bool user_selected_ = false;
  size_t planned_ = 0;
  QString models_text_;  // "base.ckpt with aux.ckpt" of the running/shown sweep
  // Earlier sweeps overlaid (dashed) on the distance chart when they used the same metric: up to three.
  struct Earlier {
    metrics::SweepResult result;
    QString label;
  };
  std::vector<Earlier> earlier_;
  QString caption_;  // the running/shown sweep's provenance, under exported charts
  QString running_label_;  // the running sweep's settings, its label once it is an earlier one
  QCheckBox* overlay_ = nullptr;
};

}  // namespace sims::ui
