// A guidance sweep: sample a base model with SIMS guidance for every setting
// (ω × interval × auxiliary model), with the same starting noise (same seed)
// for every setting, and measure each sample set against the real data:
//   points (2D models): exact empirical W2 (optimal transport) and improved
//     precision/recall on the points;
//   images: FD_<net> of feature statistics, precision/recall in feature space
//     (when real features are known), attribute ratios (with a classifier).
// Shared by `sims sweep` and the GUIs; progress and cancellation go through
// the callback / flag.
#pragma once
#include <atomic>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <ATen/Tensor.h>
#include <nlohmann/json.hpp>

#include "diffusion/denoiser.hpp"
#include "metrics/uncertainty.hpp"
#include "metrics/features.hpp"
#include "metrics/frechet.hpp"
#include "sampling/schedule.hpp"

namespace sims::metrics {

struct SweepAux {
  std::string label;  // shown in rows and plots (e.g. the file name)
  DenoiserPtr model;
};

struct SweepRow;

struct SweepConfig {
  std::vector<double> omegas{0.0};
  std::vector<std::pair<double, double>> intervals{{0.0, std::numeric_limits<double>::infinity()}};
  SamplerConfig sampler;
  int64_t n = 1000;        // samples per setting
  uint64_t seed = 0;       // starting noise, the same for every setting
  int64_t batch = 256;     // samples per sampler call (images)
  int64_t pr_k = 5;        // k of precision/recall
  int64_t keep = 8;        // images kept per row for figures (points: all)
  // Points: the metric a row is judged by: "w2" (exact W2 of the samples) or
  // "energy" (energy distance, metrics/kid.hpp: unbiased, 0 for the data
  // itself; W2 is then reported beside it as "w2", without an interval).
  std::string point_metric = "w2";
  // Confidence intervals: bootstrap over each row's samples (normal interval
  // for the distance, percentile for precision/recall) with
  // this many resamples at `ci_level` (0: no intervals). Images also get KID
  // (mean and standard deviation over `kid_subsets` subsets) when real
  // features are known.
  int ci = 0;
  double ci_level = 0.95;
  int64_t kid_subsets = 50;
  // Images, optional: called for every row with all its samples (clamped to
  // [-1,1]), their features and the classifier's labels (undefined without a
  // classifier) before the row is stored; may add metrics to row.extra (e.g.
  // per-group FD in loops/shift.cpp).
  std::function<void(SweepRow&, const at::Tensor& samples, const at::Tensor& features, const at::Tensor& labels)>
      on_images;
};

// What the samples are compared with. Points: `real_points` [M, D].
// Images: `real_stats` (FD) and optionally `real_features` (precision/recall;
// computed from real_images when those are given) and real_labels (per-group FD).
struct SweepReference {
  at::Tensor real_points;
  at::Tensor real_images;
  GaussianStats real_stats;     // filled from real_images when empty
  at::Tensor real_features;     // [M, F]; filled from real_images when empty
  // Optional: another real set, independent of the reference, of the size a
  // row has (points [n, D] or images [n, C, H, W]). Scored like a row, it
  // gives the metric's floor: what real data itself reaches at this size.
  at::Tensor floor_samples;
  // The energy distance's within-reference term (EnergyDistance::self_term of
  // real_points): quadratic in M and the same for every row, so computed on
  // first use and kept, with the points it was computed from.
  struct EnergySelf {
    const void* data = nullptr;
    int64_t rows = 0;
    double value = 0;
  };
  mutable EnergySelf energy_self;
};

struct SweepRow {
  double omega = 0, lo = 0, hi = 0;
  std::string aux;
  std::string metric;  // "w2", "energy" or "fd"
  double value = std::numeric_limits<double>::quiet_NaN();
  double precision = std::numeric_limits<double>::quiet_NaN();
  double recall = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> ratios;  // per classifier attribute (empty without a classifier)
  // Bootstrap intervals of value, precision and recall (NaN without --ci).
  double value_lo = std::numeric_limits<double>::quiet_NaN(), value_hi = std::numeric_limits<double>::quiet_NaN();
  double precision_lo = std::numeric_limits<double>::quiet_NaN(), precision_hi = std::numeric_limits<double>::quiet_NaN();
  double recall_lo = std::numeric_limits<double>::quiet_NaN(), recall_hi = std::numeric_limits<double>::quiet_NaN();
  // With intervals: the gain over the ω = 0 row of the same auxiliary and
  // interval (value(ω = 0) - value; > 0: better), with a paired bootstrap
  // interval (the two rows' `replicates`: the same resampled noise indices).
  // NaN otherwise.
  double gain = std::numeric_limits<double>::quiet_NaN(), gain_lo = std::numeric_limits<double>::quiet_NaN(),
         gain_hi = std::numeric_limits<double>::quiet_NaN();
  int nfe = 0;
  // Network evaluations with a shared encoder counted as half (a decoder-only
  // auxiliary, SIMS App. A); equals nfe otherwise. NaN in rows stored before it existed.
  double nfe_effective = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0;          // sampling + metric wall time
  at::Tensor kept;             // first `keep` samples (float32)
  // With intervals: the metric on each bootstrap resample of the row's
  // samples (metrics::bootstrap's replicates; every row of a sweep draws the
  // same resamples), for the paired gains and aux_differences. Kept in a run
  // folder's row record, not in to_json.
  std::vector<double> replicates;
  nlohmann::json extra = nlohmann::json::object();  // added by SweepConfig::on_images; merged into to_json
  nlohmann::json to_json(const std::vector<std::string>& attr_names) const;
  Estimate value_estimate(double level) const;  // value with its interval
  // The gain over `zero` (the ω = 0 row of the group): the paired interval
  // when the sweep computed one, else the two intervals in quadrature.
  Estimate gain_estimate(const SweepRow& zero, double level) const;
};

struct SweepResult {
  std::string metric;                    // "w2" | "energy" | "fd"
  std::string features;                  // feature net name (images)
  std::vector<std::string> attr_names;   // classifier attributes
  std::vector<SweepRow> rows;
  double ci_level = 0.95;                // of the rows' intervals
  // The metric between the reference and SweepReference::floor_samples, with
  // its interval (NaN without floor samples); "floor" in to_json.
  Estimate floor;
  nlohmann::json to_json() const;
  std::string to_csv() const;
  // One line on the effect, per auxiliary and interval: the ω of the surest
  // gain (the highest lower end of its interval, as `sims tune` chooses; the
  // lowest value without intervals, and the line says where the lowest value
  // is when that is another ω) against ω = 0 with the interval of the
  // difference, and whether it is significant
  // (metrics::gain_verdict: "SIMS lowers W2 by 0.0130 ± 0.0040 at omega = 0.5
  // (0.0410 -> 0.0280) ...", or "no significant gain ..." with the likely reason). Lower is
  // better for w2 and fd.
  std::vector<std::string> verdicts() const;
  // The rows a verdict is about, of the rows with a finite value (and `in_group`, where given): the first ω = 0
  // row, the lowest value's row of ω ≠ 0, and the row the verdict names (the surest gain over `zero`; `lowest`
  // without intervals or without a ω = 0 row). Null where there is no such row. verdicts(), `sims tune` and the
  // Studio's Sweep tab all point at `named`, so the words and the highlighted ω cannot differ.
  struct NamedRows {
    const SweepRow *zero = nullptr, *lowest = nullptr, *named = nullptr;
  };
  NamedRows named_rows(const std::function<bool(const SweepRow&)>& in_group = {}) const;
  // named_rows() of `row`'s group: the rows of the same auxiliary and guidance interval (what a verdict compares).
  NamedRows named_rows_of(const SweepRow& row) const;
  // The row (ω ≠ 0, a finite value, and `in_group` where given) whose gain over `zero` has the highest lower end
  // of its interval: the surest gain, as `sims tune` and verdicts() choose (the lowest value alone favours the
  // noisiest rows); `fallback` (the lowest value) when no gain has an interval.
  const SweepRow* surest_gain(const SweepRow& zero, const SweepRow* fallback,
                              const std::function<bool(const SweepRow&)>& in_group = {}) const;
  // Several auxiliaries: each one's row against the first auxiliary's at the same ω (≠ 0) and interval, paired
  // over the same bootstrap resamples (rows with `replicates`, i.e. computed with intervals). One object per pair:
  // omega, interval, first, other, <metric>_first, <metric>_other, difference (other - first; < 0: `other` is
  // lower, i.e. better) with difference_lo/_hi, significant, and a line of text. Empty with one auxiliary.
  nlohmann::json aux_differences() const;
};

// (row index, total rows, stage text); return false to cancel.
using SweepProgress = std::function<bool(size_t, size_t, const std::string&)>;

// Sets each row's paired gain over the ω = 0 row of its group from the two
// rows' `replicates` (cfg.ci > 0). All rows or none, recomputed on every call
// (a face adds rows one by one): if one row cannot be paired (no replicates,
// as rows of older run folders; no ω = 0 row yet), every row's gain is NaN
// (quadrature). `ref` is not used.
void add_paired_gains(SweepResult& res, const SweepConfig& cfg, const SweepReference& ref);

// The seed of the real set that gives the metric's floor: another draw of the
// same generated data as the reference drawn with `real_seed`.
constexpr uint64_t floor_seed(uint64_t real_seed) { return real_seed + 1000003u; }

// Real points the energy distance is scored against: it takes a large
// reference cheaply, and a large one adds little noise of its own.
constexpr int64_t kEnergyReference = 20000;

// The metric (and its interval with cfg.ci) of ref.floor_samples against the
// reference; NaN when there are none.
Estimate score_floor(const SweepConfig& cfg, SweepReference& ref, FeatureNet* features);

// Runs every (aux, interval, omega) combination in that nesting order. aux
// must not be empty (ω = 0 rows sample the base alone). Images need
// `features` (FD) and use `classifier` for ratios when given. Throws
// InputError on inconsistent inputs, Cancelled when cancelled.
SweepResult run_sweep(const DenoiserPtr& base, const std::vector<SweepAux>& aux, const SweepConfig& cfg,
                      SweepReference& ref, FeatureNet* features, AttributeClassifier* classifier,
                      const SweepProgress& progress = {}, const std::atomic<bool>* cancel = nullptr);

}  // namespace sims::metrics
