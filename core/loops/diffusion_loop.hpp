// Self-consuming loops of 2D diffusion models (SIMS paper Sec. 4.2.1 / Fig. 4;
// MAD paper): R independent runs trained together as a batched ensemble
// (loops/ensemble.hpp).
//
// Generation 1 trains on n_real real points of p_r. Generation t >= 2 trains on
//   fully-synthetic: the synthetic pool
//   augment:         the fixed real set of generation 1 ∪ the synthetic pool
//   fresh:           n_real new real points ∪ the synthetic pool
// where the pool is D_s^{t-1} (replace) or D_s^1 ∪ ... ∪ D_s^{t-1} (accumulate).
// Per generation and run (Algorithm 1 for SIMS, Algorithm 2 for standard):
//   1. train a base model from scratch on D^t for base_epochs x |D^t| images;
//   2. SIMS only: sample n_aux points S from the base, fine-tune a copy of the
//      base (from its EMA) on S for aux_epochs x n_aux images, discard S;
//   3. sample max(n_synth, n_eval) points with D = (1+w) D_base - w D_aux
//      (w = 0 and no aux for standard training) inside the guidance interval:
//      the first n_synth are D_s^t, the first n_eval are scored.
// Metric dist(G^t, p_r) per run: for the Gaussian data set the closed-form W2
// between the Gaussian fitted (mean, unbiased covariance) to the n_eval
// generated points and p_r ("w2_gaussian_fit"); for other data sets the exact
// empirical W2 between the n_eval generated points and a fixed reference set
// of n_eval points of p_r ("w2_empirical"). Reported per generation as the
// mean (and median, std) over runs and as ratio E[dist(G^t)]/E[dist(G^1)].
//
// Every random draw comes from a seed derived from (seed, run index,
// generation, role), so run r gives the same result whatever the number of
// runs or how they are batched (up to float rounding), and a loop stopped
// after generation t and resumed equals an uninterrupted one.
#pragma once
#include <atomic>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/toy2d.hpp"
#include "experiment/progress.hpp"
#include "experiment/settings.hpp"
#include "diffusion/network.hpp"
#include "kernels/dispatch.hpp"
#include "loops/gaussian_loop.hpp"
#include "metrics/uncertainty.hpp"
#include "sampling/schedule.hpp"
#include "training/checkpoint.hpp"

namespace sims::dist {
class Group;
}

namespace sims::loops {

enum class LoopAlgorithm { Standard, Sims };
// The 2D model family: the EDM MLP (diffusion/network.hpp, trained and sampled as EDM does) or the SIMS paper's
// own Fig. 4 model, a DDPM epsilon-MLP (loops/ddpm_ensemble.hpp).
enum class LoopModel { Edm, Ddpm };
LoopAlgorithm parse_loop_algorithm(const std::string& s);  // "standard" | "sims"; throws InputError
std::string to_string(LoopAlgorithm a);

struct DiffusionLoopConfig {
  data::Toy2dSpec data;  // p_r (default: the paper's N([0,0], [[2,1],[1,2]]))
  LoopKind kind = LoopKind::Augment;
  bool accumulate = false;  // synthetic pool: all previous synthetic sets (true) or only the last
  int64_t n_real = 1000;
  int64_t n_synth = 250;  // |D_s| per generation
  int64_t generations = 100;
  int64_t runs = 100;
  uint64_t seed = 0;
  LoopAlgorithm algorithm = LoopAlgorithm::Standard;
  double omega = 3.0;  // SIMS guidance (the paper's best for this experiment is about 3)
  double interval_lo = 0.0, interval_hi = std::numeric_limits<double>::infinity();
  // Sampling bias lambda in (0, 1] of the generation's samples (1: unbiased).
  // The MAD paper biased its conditional models with guidance; for these
  // unconditional models the stand-in is a temperature: the sampler starts
  // from noise scaled by sqrt(lambda), which pulls samples towards the modes.
  double bias = 1.0;
  int64_t n_aux = 2000;     // |S|, SIMS's internal synthetic set
  double base_epochs = 100; // base budget = base_epochs x |D^t| images
  int64_t base_images = 0;  // > 0: a fixed base budget in images seen, whatever |D^t| (0: base_epochs)
  double aux_epochs = 50;   // aux budget = aux_epochs x n_aux images
  int64_t n_eval = 1000;    // generated points per run scored by the metric
  NetConfig net;            // MLP (dim 2)
  TrainConfig train;        // batch, lr, ramp-up, EMA, P_mean/P_std (budget and seed unused)
  SamplerConfig sampler;    // Heun/Euler, steps, sigma range (no churn)
  LoopModel model = LoopModel::Edm;
  // model ddpm: T steps of the cosine schedule, residual blocks of net.width units, the batch (the learning rate
  // is train.lr, falling linearly to 1 % over each training's epochs; base_epochs and aux_epochs are rounded to
  // whole epochs; net.depth, the other train settings and the sampler settings are not used).
  int64_t ddpm_steps = 40;
  int64_t ddpm_blocks = 4;
  int64_t ddpm_batch = 2048;
  // Where generation t > 1's base starts: random weights (the papers' G^t = A(D^t) read as training from scratch)
  // or each run's generation t - 1 base (EDM: its EMA weights; fresh Adam moments and learning-rate schedule),
  // trained on D^t for the same budget.
  WarmStart warm_start = WarmStart::Scratch;
  int64_t batch_runs = 0;   // runs per batched ensemble (0: all at once; 1: one by one)
  int64_t save_runs = 4;    // runs whose generated points are saved per generation

  DiffusionLoopConfig();  // the defaults above + net width 64, depth 3
  nlohmann::json to_json() const;
  static DiffusionLoopConfig from_json(const nlohmann::json& j);  // throws InputError
};

// Throws InputError naming the offending setting.
void validate(const DiffusionLoopConfig& cfg);

// "w2_gaussian_fit" for the Gaussian data set, "w2_empirical" otherwise.
std::string loop_metric_name(const DiffusionLoopConfig& cfg);

struct DiffusionLoopResult {
  std::string metric;
  // One value per finished generation (index 0 = generation 1).
  std::vector<double> w2_mean, w2_median, w2_std;
  std::vector<double> ratio;                      // w2_mean[t] / w2_mean[0]
  std::vector<double> trace_mean, trace_median;   // of tr Σ fitted to the generated points
  std::vector<double> w2_base_mean;               // SIMS: the base model's dist (its samples S); empty otherwise
  std::vector<double> seconds;                    // wall time of each generation
  std::vector<double> rss_mib;                    // resident memory of the process after each generation (Linux)
  // Where a generation's time goes: worker-seconds per phase ("train_base",
  // "sample_s", "train_aux", "sample"), summed over the workers, one value per
  // generation run by this call (not kept across a resume).
  std::map<std::string, std::vector<double>> phase_seconds;
  std::vector<std::vector<double>> w2_runs;       // [generation][run]
  // tr Σ and (SIMS) the base's dist per run, [generation][run]; a generation read from an older record has none.
  std::vector<std::vector<double>> trace_runs, w2_base_runs;
  // The paper's E[dist(G^∞)]/E[dist(G^1)]: mean of ratio over generations
  // limit_from..G (limit_from = 20, or 1 when G < 20).
  double limit_ratio = 0;
  int limit_from = 1;
  // The limit ratio and the mean E[dist] over the same generations, each with its 95 % interval over the runs:
  // from kBootstrapRuns runs on a percentile bootstrap (1,000 resamples of whole runs, so a run's generations stay
  // together), with fewer runs a Student-t interval (the ratio's: Fieller's paired set, metrics::ratio_over_runs),
  // since a bootstrap over a handful of runs is far too narrow; the value alone with one run or without per-run values.
  static constexpr size_t kBootstrapRuns = 10;
  metrics::Estimate limit_ratio_estimate() const;
  metrics::Estimate limit_distance() const;
  // Generation g + 1's ratio E[dist(G^t)]/E[dist(G^1)] (from the means while the loop runs, `ratio` when it has
  // ended) and the same with Fieller's paired interval over the runs, whatever their number (where bounded, it holds
  // 1 exactly when the verdict's paired t change holds 0; none where generation 1's mean is within its own noise of
  // 0, and none for a generation with a non-finite run).
  double ratio_at(size_t g) const;
  metrics::Estimate ratio_interval(size_t g) const;
  // How the ratio intervals were made, in words (for figures and metrics.json).
  std::string ratio_method() const;
  int resumed_from = 0;  // generations found in the run folder
  nlohmann::json to_json() const;  // arrays + metric, limit_ratio(_lo/_hi), limit_from, limit_dist(_lo/_hi), w2_lo/w2_hi
  // The 95 % Student-t interval of generation g + 1's mean W2 over the runs
  // (none with one run).
  metrics::Estimate w2_interval(size_t g) const;
  // The same for the mean tr Σ and (SIMS) the base's mean dist; the value alone where the runs were not kept.
  metrics::Estimate trace_interval(size_t g) const;
  metrics::Estimate w2_base_interval(size_t g) const;
  // The median dist over the runs with its distribution-free 95 % interval (metrics::median_over_runs); the
  // median alone where the runs were not kept.
  metrics::Estimate w2_median_interval(size_t g) const;
  // The last generation's distance against the first's, paired over the runs (loops/loop_verdict.hpp); empty
  // without generations.
  std::string verdict() const;
  // One generation's row (index g = generation g + 1), as progress carries it.
  nlohmann::json row(size_t g) const;
};

struct DiffusionLoopRunOptions {
  // The run folder (experiment/run_folder.hpp's rule: the same settings
  // continue after the last finished generation, `generations` may grow or
  // shrink, other changes are refused); empty: nothing written.
  std::string out_dir;
  const std::atomic<bool>* cancel = nullptr;  // throws sims::Cancelled; finished generations stay saved
  // Stage "generation t/G: train base" etc.; done/total count generations in
  // thousandths. A finished generation's update carries its row (generation,
  // w2_mean, w2_median, w2_std, ratio, trace_mean, trace_median, w2_base_mean,
  // seconds) and its saved samples [save_runs, n_eval, 2]. Called from the
  // calling thread and, with workers > 1, from the workers (serialised).
  experiment::ProgressFn on_progress;
  // Threads that train and sample chunks of runs side by side, each with
  // one LibTorch thread (0: the LibTorch thread count). On a small CPU this
  // beats one ensemble with intra-op threads, whose ops are too small to
  // split well. Results do not depend on it: every run's draws come from its
  // own seeds and each member's matmuls are its own.
  int workers = 0;
  // The ensemble's kernels (kernels/dispatch.hpp); results agree to float rounding.
  KernelPath kernels = KernelPath::Auto;
  // A job of several processes (dist/group.hpp; null: this process alone).
  // Each rank trains and samples its share of the runs (dist::shard), the
  // generation's results are gathered on every rank, and rank 0 alone
  // writes the run folder, reports progress (its own share's) and returns
  // the loop's result; the other ranks return only the generations they
  // ran. Results equal one process's: every run's draws come from its own
  // seeds.
  std::shared_ptr<dist::Group> group;
};

// Runs (or continues) the loop. With out_dir: run.json at the start; after
// each generation samples/gen-NNNN.npy ([save_runs, n_eval, 2]),
// state/pool-NNNN.npy (the synthetic data the next generation needs; with
// warm start also state/base-NNNN.npy, every run's base weights [runs, P]),
// metrics.json and metrics.csv, then the generation's done-marker
// (stages/generation-NNNN.json), all written atomically.
DiffusionLoopResult run_diffusion_loop(const DiffusionLoopConfig& cfg, const DiffusionLoopRunOptions& run = {});

// The configuration stored in a run folder (DIR/run.json; DIR/config.json of
// older folders). Throws InputError when DIR holds no diffusion2d loop.
DiffusionLoopConfig load_diffusion_loop_config(const std::string& dir);

// The results stored in a run folder (metrics.json), for plots and faces.
DiffusionLoopResult load_diffusion_loop_result(const std::string& dir);

// The settings, declared once (JSON keys, flags, ranges; `generations`,
// `batch_runs` and `save_runs` may change when a run continues).
const experiment::Schema<DiffusionLoopConfig>& diffusion_loop_schema();

}  // namespace sims::loops
