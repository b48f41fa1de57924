// The studio's "Loops" tab: a self-consuming loop (`sims loop`) as a
// background job. diffusion2d trains R small 2D diffusion models per
// generation (loops/diffusion_loop.hpp, standard or SIMS training); each
// finished generation appears at once as a row with the points of a few saved
// runs (small multiples over p_r in grey), a table row and a point on the
// charts (distance mean with its 95 % t interval over runs, ratio to generation 1). The gaussian
// family (the MAD paper's closed-form model, loops/gaussian_loop.hpp) is
// instant and keeps no samples: its rows show numbers. The previous finished
// run can stay on the charts, dashed, to compare standard with SIMS.
// Exports: the per-generation table as CSV, the charts as PNG and SVG.
#pragma once
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <QTemporaryDir>

#include "analysis_tab.hpp"
#include "engine/job_runner.hpp"
#include "loops/gaussian_loop.hpp"
#include "metrics/uncertainty.hpp"
#include "sample_view.hpp"

#include "widgets_fwd.hpp"

namespace sims::ui {

class AnalysisChart;
class MessageArea;

struct LoopPlan {
  std::string family = "diffusion2d";  // diffusion2d | gaussian | mixture
  // The defaults are the SIMS paper's Fig. 4 setting in miniature (synthetic augmentation, |D_r| = |D_s| =
  // 1000, ω = 1), where its claim shows: standard training drifts away from p_r, SIMS keeps the distance flat.
  loops::LoopKind kind = loops::LoopKind::Augment;
  bool accumulate = false;             // pool: all previous synthetic sets instead of the last
  int64_t generations = 10, runs = 16;  // 16 runs: the generation-10 difference is beyond its interval (6 were not)
  int64_t n_real = 1000, n_synth = 1000;
  uint64_t seed = 0;
  // diffusion2d
  std::string model = "edm";           // edm: EDM MLP, Heun | ddpm: the SIMS paper's Fig. 4 ε-MLP (depth = its blocks)
  std::string data = "gaussian";       // p_r: a built-in 2D data set
  bool sims = false;                   // SIMS training (Algorithm 1) instead of standard
  double omega = 1.0;
  double base_epochs = 60, aux_epochs = 30;
  bool warm = false;                   // each later generation's base trained on from the previous one's
  int64_t n_aux = 500, n_eval = 500;
  int64_t width = 64, depth = 3;
  int steps = 18;
  int64_t save_runs = 4;
  // gaussian (and bias: mixture too)
  int64_t dim = 2;
  double bias = 1.0;
  // mixture: grid x grid modes N(c_j, s^2 I), spacing 2 (MAD App. C.1)
  int64_t grid = 5;
  double mode_std = 0.1;
  int64_t memory = 1;                  // synthetic samples from the last K fits (MAD Fig. 33)

  // One line for people: what the job does.
  std::string summary() const;
  // "standard" / "SIMS ω=1.5" / "Gaussian λ=1"; label() adds the loop kind.
  std::string training_label() const;
  std::string label() const;
};

struct LoopGeneration {
  int generation = 0;  // 1-based
  double w2_mean = 0, w2_median = 0, trace_mean = 0, trace_median = 0, seconds = 0;
  double w2_std = std::numeric_limits<double>::quiet_NaN();       // over runs (diffusion2d)
  double w2_base_mean = std::numeric_limits<double>::quiet_NaN(); // SIMS: the base model's samples S
  // 95 % t intervals over the runs of the mean tr Σ and of the base's W2 (NaN with one run, the mixture family,
  // and generations read from an older record).
  double trace_lo = std::numeric_limits<double>::quiet_NaN(), trace_hi = std::numeric_limits<double>::quiet_NaN();
  double w2_base_lo = std::numeric_limits<double>::quiet_NaN(), w2_base_hi = std::numeric_limits<double>::quiet_NaN();
  // 95 % interval of the ratio E[W2_t] / E[W2_1] over the runs (paired: each run's generation 1 and t); NaN
  // with one run and for the mixture family.
  double ratio_lo = std::numeric_limits<double>::quiet_NaN(), ratio_hi = std::numeric_limits<double>::quiet_NaN();
  // 95 % order-statistics interval of the median W2 over the runs (NaN below 6 runs and where not recorded).
  double w2_median_lo = std::numeric_limits<double>::quiet_NaN(), w2_median_hi = std::numeric_limits<double>::quiet_NaN();
  SampleSet samples;   // diffusion2d: saved runs' points, shape {2}, [save_runs * n_eval] rows
  int saved_runs = 0;   // mixture: 1 at the generations whose fit (run 1) is drawn, its samples in `samples`
  // mixture: modes, recall, precision, variance, modal_variance, components, each a mean over runs with its
  // 95 % t interval. The family has no W2: w2_* stay NaN.
  std::map<std::string, metrics::Estimate> mixture;
};

struct LoopOutcome {
  std::string metric;  // w2_gaussian_fit | w2_empirical | w2_closed_form | modes (mixture: higher is better)
  std::string label;
  std::vector<LoopGeneration> generations;
  double ratio(size_t g) const { return generations[g].w2_mean / generations[0].w2_mean; }
  bool is_mixture() const { return metric == "modes"; }
  // generation,w2_mean,w2_median,w2_std,ratio,ratio_lo,ratio_hi,trace_mean,trace_median,w2_base_mean,seconds,
  // trace_lo,trace_hi,w2_base_lo,w2_base_hi,w2_median_lo,w2_median_hi; the
  // mixture family:
  // generation, then NAME_mean,NAME_lo,NAME_hi for each of its metrics
  std::string to_csv() const;
};

// One line on how a finished loop ended: its last generation's distance with a 95 % t interval over runs, and,
// when `before` is a comparable run (same family, loop kind and length: standard, then SIMS), which of the two
// ends closer to p_r and whether the difference is beyond the intervals. *better: this run is significantly closer.
QString loop_verdict(const LoopOutcome& now, const LoopPlan& now_plan, const LoopOutcome* before,
                     const LoopPlan& before_plan, bool* better);

// The job body (exposed for tests): runs the loop, calling on_generation
// after each generation (diffusion2d: as it finishes; gaussian: all at the
// end). diffusion2d writes its run folder into work_dir. Throws InputError /
// Cancelled (finished generations were already reported).
LoopOutcome run_loop_plan(const LoopPlan& plan, const std::string& work_dir, engine::JobContext& ctx,
                          const std::function<void(const LoopGeneration&)>& on_generation);

class LoopView final : public AnalysisTab {
  Q_OBJECT
 public:
  LoopView(MessageArea* messages, QWidget* parent = nullptr);

  LoopPlan plan() const;
  void set_plan(const LoopPlan& p);

  QCheckBox* overlay_box() const { return overlay_; }
  AnalysisChart* distance_chart() const { return dist_chart_; }
  QLabel* verdict_label() const { return verdict_; }
  AnalysisChart* ratio_chart() const { return ratio_chart_; }
  QTableWidget* table() const { return table_; }
  // Generation rows shown (one per finished generation).
  int row_count() const { return static_cast<int>(rows_.size()); }
  QWidget* row(int i) const { return rows_.at(static_cast<size_t>(i)); }
  const LoopOutcome& outcome() const { return current_; }
  bool has_results() const override { return !current_.generations.empty(); }

  QString export_caption() const override;

 Q_SIGNALS:
  void generation_added(int generation);

 protected:
  engine::JobFn prepare_job() override;
  void job_ended(engine::JobState s) override;
  std::string results_csv() const override { return current_.to_csv(); }
  std::vector<const AnalysisChart*> export_charts() const override { return {dist_chart_, ratio_chart_}; }

 private:
  void add_generation(const LoopGeneration& g);
  void update_controls();
  void describe();
  void add_overlays(const LoopPlan& now);
  static QString overlay_name(size_t age);  // "previous", "2 runs ago", …

  std::unique_ptr<QTemporaryDir> work_;
  QComboBox *family_, *kind_, *pool_, *data_, *algorithm_, *model_;
  QSpinBox *generations_, *runs_, *n_real_, *n_synth_, *width_, *depth_, *dim_, *memory_, *seed_, *grid_;
  QDoubleSpinBox *omega_, *base_epochs_, *bias_, *mode_std_;
  std::vector<QWidget*> diffusion_only_, gaussian_only_, sims_only_, biased_, mixture_only_, pooled_;
  QLabel* depth_label_ = nullptr;
  QCheckBox* overlay_;
  QCheckBox* warm_;
  QLabel* rows_title_;
  QLabel* verdict_;
  // What the two labels say, kept to draw them again in another theme's colours.
  QString rows_note_, verdict_text_;
  bool verdict_better_ = false;
  void show_texts();
  AnalysisChart *dist_chart_, *ratio_chart_;
  QTableWidget* table_;
  QScrollArea* rows_area_;
  QVBoxLayout* rows_layout_;
  std::vector<QWidget*> rows_;
  LoopOutcome current_;
  // The last finished runs (up to three, oldest first) for the overlay; the newest for the verdict.
  struct Earlier {
    LoopOutcome outcome;
    LoopPlan plan;
  };
  std::vector<Earlier> earlier_;
  // The runs drawn dashed on the charts, each with its age (0: the previous run) as the legend names it;
  // runs of another family are skipped, so the ages need not be consecutive.
  std::vector<std::pair<LoopPlan, size_t>> overlaid_;
  LoopPlan running_;
  SampleSet reference_;
  QRectF bounds_;
  int dist_series_ = -1, ratio_series_ = -1;
};

}  // namespace sims::ui
