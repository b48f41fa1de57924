// The MAD paper's Gaussian self-consuming loop (mad-paper.txt; SCIENCE.md
// "Self-consuming loops"). p_r = N(0, I_D). Generation 1 fits the mean and the
// unbiased covariance to n_real (or n_init) real samples; generation t ≥ 2 fits on
//   fully-synthetic: n_synth samples of N(μ_{t−1}, λ Σ_{t−1})
//   augment:         the fixed real set of generation 1 ∪ n_synth synthetic
//   fresh:           n_real new real samples ∪ n_synth synthetic.
// The synthetic samples come from generation t−1's model, or (memory K > 1, MAD App. I exp. 2, Fig. 33) each
// from one of the last K models chosen uniformly at random; with accumulate (App. A.2, Fig. 28–29) every earlier
// generation's synthetic set is kept, so generation t fits on the real part ∪ (t−1)·n_synth synthetic samples.
// All runs are batched as tensors ([runs, n, D], batched eigh) in float64.
// Deterministic for a seed (one CPU generator, draws in a fixed order).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiment/settings.hpp"

namespace sims::loops {

enum class LoopKind { FullySynthetic, Augment, Fresh };

// "fully-synthetic" | "augment" | "fresh" (also accepts "full", "fully_synthetic",
// "synthetic-augmentation", "fresh-data"); throws InputError otherwise.
LoopKind parse_loop_kind(const std::string& s);
std::string to_string(LoopKind k);

// Where each generation's model starts (the image and diffusion2d loops).
enum class WarmStart {
  Scratch,   // random weights (or the image loop's `init`) every generation: the papers' protocol
  Previous,  // the previous generation's base, trained on with fresh optimiser moments (generation 1: as Scratch)
};
WarmStart parse_warm_start(const std::string& s);  // "scratch" | "previous"; throws InputError
std::string to_string(WarmStart w);

struct GaussianLoopConfig {
  LoopKind kind = LoopKind::FullySynthetic;
  int64_t dim = 2;           // D ≥ 1
  int64_t n_real = 100;      // NR ≥ 2
  int64_t n_init = 0;        // generation 1's real samples (MAD Fig. 9's n_ini); 0: n_real. Not for augment.
  int64_t n_synth = 100;     // NS ≥ 2 for fully-synthetic, ≥ 0 otherwise
  int64_t generations = 100; // G ≥ 1
  int64_t runs = 1000;       // R ≥ 1
  double bias = 1.0;         // λ ∈ (0, 1]
  int64_t memory = 1;        // K: synthetic samples from the last K models (1: the previous one)
  bool accumulate = false;   // keep the synthetic sets of all earlier generations
  uint64_t seed = 0;
};

// One value per generation (index 0 = generation 1), over the R runs.
struct GaussianLoopResult {
  std::vector<double> w2_mean;       // mean of closed-form W2(N(μ_t, Σ_t), p_r)
  std::vector<double> w2_median;
  std::vector<double> w2_median_lo, w2_median_hi;  // its 95 % order-statistics interval over the runs
  std::vector<double> w2_lo, w2_hi;  // 95 % Student-t interval of w2_mean over the runs
  // Generation t's change from generation 1, paired over the runs (mean of each run's W2_t - W2_1) with its 95 %
  // Student-t interval (loops/loop_verdict.hpp): the verdict's measure; 0 at generation 1.
  std::vector<double> w2_change, w2_change_lo, w2_change_hi;
  // E[W2_t] / E[W2_1] over the runs with Fieller's 95 % paired interval (metrics::ratio_over_runs: where bounded,
  // it holds 1 exactly when w2_change's interval holds 0); 1 at generation 1.
  std::vector<double> ratio, ratio_lo, ratio_hi;
  std::vector<double> trace_mean;    // mean of tr Σ_t
  std::vector<double> trace_lo, trace_hi;  // its 95 % Student-t interval over the runs
  std::vector<double> trace_median;  // median of tr Σ_t
  std::vector<double> trace_median_lo, trace_median_hi;  // its 95 % order-statistics interval over the runs
  std::vector<double> mean_norm_mean;  // mean of ‖μ_t‖
  std::vector<double> mean_sq_mean;    // mean of ‖μ_t‖²
};

// Throws InputError with a clear message when a field is out of range.
void validate(const GaussianLoopConfig& cfg);

// progress(gen) is called after each generation (1-based); returning false
// cancels the loop (throws sims::Cancelled).
GaussianLoopResult run_gaussian_loop(const GaussianLoopConfig& cfg,
                                     const std::function<bool(int gen)>& progress = {});

// The settings, declared once (`generations` may change when a run continues).
const experiment::Schema<GaussianLoopConfig>& gaussian_loop_schema();

// The loop's result as `sims loop --json` prints it and metrics.json holds
// it: the settings, the per-generation arrays and "ratio".
nlohmann::json gaussian_loop_json(const GaussianLoopConfig& cfg, const GaussianLoopResult& res);

// The loop in a run folder (experiment/run_folder.hpp's rule): metrics.json
// and metrics.csv, then the done-marker. The same settings find the stored
// result (more generations than stored: computed again, which repeats the
// stored ones exactly); other settings are refused. Returns
// gaussian_loop_json's object.
nlohmann::json run_gaussian_loop_in(const std::string& dir, const GaussianLoopConfig& cfg,
                                    const std::function<bool(int gen)>& progress = {});

}  // namespace sims::loops
