// How sure a number is: confidence intervals for the metrics a user sees.
//
//   bootstrap(): the bootstrap over the n items a statistic is computed from
//     (samples of a set): the statistic is recomputed on `resamples` draws of
//     n items with replacement. The percentile interval is the (1-level)/2
//     and (1+level)/2 quantiles of those values; the normal interval is
//     value ± z s, s their standard deviation. Distances between sample sets
//     (W2, FD) take the normal one: a resample repeats items, which moves a
//     distance up by itself, so its percentiles lie above the value (W2 of a
//     set to itself: 0, percentile interval 0.6..0.9), while their spread
//     still measures the noise.
//   mean_over_runs(): the mean of independent runs (loops) with the Student-t
//     interval mean ± t_{(1+level)/2, n-1} s / sqrt(n).
//   difference(): a - b with an interval from the two intervals' half-widths
//     added in quadrature (independent estimates), and whether it excludes 0.
//
// Every Estimate carries its method and level so that files and screens can
// say what the interval means.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <ATen/Tensor.h>
#include <nlohmann/json.hpp>

#include "metrics/precision_recall.hpp"

namespace sims::metrics {

enum class BootstrapInterval { Percentile, Normal };

struct Estimate {
  double value = std::numeric_limits<double>::quiet_NaN();
  double lo = std::numeric_limits<double>::quiet_NaN();
  double hi = std::numeric_limits<double>::quiet_NaN();
  double level = 0.95;
  std::string method;  // "bootstrap" | "bootstrap-normal" | "t" | "difference" | "paired bootstrap" | 

  // An estimate from its value and bounds (NaN bounds: none), e.g. Estimate::of(r, r_lo, r_hi).bounds_text().
  static Estimate of(double value, double lo, double hi, const std::string& method = {});

  bool has_interval() const;
  double half_width() const;  // (hi - lo) / 2; NaN without an interval
  // "0.261 ± 0.012" with `digits` significant decimals (fixed).
  std::string text(int digits = 3) const;
  // "0.0009 ± 0.0014": the value to its interval's precision, so that no digit the noise decides is shown: two
  // significant digits of the larger side of the interval (one beyond `most` decimals) and as many decimals, at
  // most `most`, for the value; "± 0" for an interval without width; the value alone (4 significant digits)
  // without a finite interval. `pm` joins them (the GUIs use thin spaces).
  std::string precise_text(int most = 10, const std::string& pm = " ± ") const;
  // "1.02 [0.81, 1.25]": the value and both ends of an interval that need not be symmetric (a ratio over runs, a
  // share's Wilson interval), all to the interval's precision as precise_text() writes it; "1 [1, 1]" for an
  // interval of no width; the value alone (4 significant digits) without an interval.
  std::string bounds_text(int most = 10) const;
  // The size of a change: |value|, the interval mirrored with it when value < 0 ([-0.3, -0.1] -> [0.1, 0.3]).
  Estimate magnitude() const;
  // Adds key, key_lo, key_hi (null when not finite) to j.
  void put(nlohmann::json& j, const std::string& key) const;
  // Reads key, key_lo, key_hi (absent or null: NaN).
  static Estimate get(const nlohmann::json& j, const std::string& key);
};

// Quantile of the standard normal distribution, p in (0, 1).
double normal_quantile(double p);

// Quantile of Student's t with `dof` >= 1 degrees of freedom, p in (0, 1):
// exact for 1 and 2, a Cornish-Fisher expansion around the normal quantile
// otherwise (error below 1e-3 for dof >= 3 at the usual levels).
double student_t_quantile(double p, int dof);

// Bootstrap of stat(indices) over n items; `value` is stat on all n items
// (indices 0..n-1). Throws InputError for n < 2, resamples < 10 or a level
// outside (0, 1). Resamples whose statistic is not finite are dropped; the
// interval is NaN when fewer than half remain. A Normal interval of a
// statistic that cannot be negative (`nonnegative`) is cut at 0. With
// `replicates`, the statistic of every resample is stored there in order (NaN
// where it was not finite): resample r draws the same indices for every call
// with the same n and seed, so two statistics' replicates pair up
// (paired_replicates).
Estimate bootstrap(int64_t n, const std::function<double(const std::vector<int64_t>&)>& stat, int resamples = 200,
                   double level = 0.95, uint64_t seed = 0,
                   BootstrapInterval kind = BootstrapInterval::Percentile, bool nonnegative = false,
                   std::vector<double>* replicates = nullptr);

// The normal interval of a - b, two statistics bootstrapped over the same
// resamples (bootstrap()'s `replicates`, same n and seed): `value` ± z · the
// standard deviation of the replicates' differences. Pairs with a non-finite
// side are dropped; no interval (NaN) when the lists differ in length or fewer
// than half the pairs remain.
Estimate paired_replicates(double value, const std::vector<double>& a, const std::vector<double>& b,
                           double level = 0.95);

// The interval of a distance between sample sets: bootstrap() with the
// normal interval, cut at 0.
Estimate bootstrap_distance(int64_t n, const std::function<double(const std::vector<int64_t>&)>& stat,
                            int resamples = 200, double level = 0.95, uint64_t seed = 0);

// Percentile-bootstrap interval of the mean of `values` [n] (float64).
Estimate bootstrap_mean(const at::Tensor& values, int resamples = 200, double level = 0.95, uint64_t seed = 0);

// Precision, recall, density and coverage (metrics/precision_recall.hpp) with
// intervals: each is a mean over points - precision and density over the
// generated ones, recall and coverage over the real ones - and is bootstrapped
// over those points, the balls of the full sets held fixed. (Resampling a set
// with replacement would shrink its own k-NN balls and bias recall and
// coverage downwards.)
struct ManifoldEstimates {
  Estimate precision, recall, density, coverage;
};
ManifoldEstimates manifold_estimates(const PointScores& scores, int resamples = 200, double level = 0.95,
                                     uint64_t seed = 0);

// A share k / n with the Wilson score interval (method "wilson"), which
// stays inside [0, 1] and behaves at 0 and n; n = 0 gives NaN.
Estimate proportion(int64_t k, int64_t n, double level = 0.95);
// A share given as a fraction of n items (e.g. the mean of 0/1 labels over n samples) with its Wilson interval:
// proportion(round(share·n), n). A share that is not finite (no samples) gives no value and no interval.
Estimate share_interval(double share, int64_t n, double level = 0.95);

// Mean of `values` (non-finite ones dropped) with the Student-t interval; a
// single value has no interval.
Estimate mean_over_runs(const std::vector<double>& values, double level = 0.95);

// Median of `values` (NaN dropped; ±inf kept: a diverged run's distance still ranks) with the distribution-free interval of order statistics:
// [x_(k), x_(n+1-k)] of the sorted values, k the largest with P(Binomial(n, 1/2) <= k - 1) <= (1 - level) / 2,
// which covers the median with probability >= level whatever the distribution (method "order statistics").
// Too few values for that level (n <= 5 at 95 %) give the median alone.
Estimate median_over_runs(const std::vector<double>& values, double level = 0.95);

// mean(num) / mean(den) over paired runs (run r gives num[r] and den[r]; runs
// with a non-finite side dropped) with Fieller's interval, paired (method
// "Fieller t, paired"): every r for which the runs' num_r - r den_r have a mean
// within the Student t_{n-1} interval of 0. Where bounded, it holds 1 exactly
// when the paired t interval of num - den holds 0 (the loops' verdicts), which
// the delta method on the log scale, used before, need not. Where every num and den is positive
// (distances) the lower end is not below 0. Unlike a percentile bootstrap over a
// handful of runs (two runs give three distinct resamples) it widens as the runs
// get few. Fewer than two runs, a mean(den) of 0, or a mean(den) within its own
// noise of 0 (the set is then unbounded): no interval.
Estimate ratio_over_runs(const std::vector<double>& num, const std::vector<double>& den, double level = 0.95);

// a - b with the half-widths added in quadrature.
Estimate difference(const Estimate& a, const Estimate& b);

// to - from for one statistic bootstrapped on both sides (bootstrap() with
// `replicates`, the same seed) over n_from and n_to items: paired
// (paired_replicates) where both kept replicates over as many items (resample
// k then draws the same indices on both sides), else the half-widths in
// quadrature (difference()). The method says which.
Estimate replicate_change(const Estimate& from, const Estimate& to, const std::vector<double>& from_replicates,
                          const std::vector<double>& to_replicates, int64_t n_from, int64_t n_to);

// True when the interval of `d` lies entirely on one side of 0.
bool significant(const Estimate& d);

// The judgement on a change `d` of a metric where lower is better: `worse` or
// `better` when its interval lies on one side of 0, `none` when it holds 0,
// "no interval" without one.
std::string judge_change(const Estimate& d, const std::string& worse, const std::string& better,
                         const std::string& none);

// A metric's key as the field writes its name in a sentence: "W2", "FD", "KID" for w2, fd and kid; others (the
// energy distance: "energy") as they are. Keys stay as they are in files (CSV columns, JSON fields).
std::string metric_name(const std::string& metric);

// One line on a gain of SIMS over ω = 0 for a metric where lower is better:
// `zero` the base alone, `best` the best ω's value, `gain` = zero - best
// with its interval, `floor` (optional) the metric between two real sets of
// the same size. `where` names the setting ("at omega = 0.5 (B = 2000)").
// Says whether the gain is significant, and why not when it is not (the
// base already at the floor, the auxiliary too close, the sample too small).
std::string gain_verdict(const std::string& metric, const std::string& where, const Estimate& zero, const Estimate& best,
                         const Estimate& gain, const Estimate& floor = {});
// Whether a metric's floor (its value between two real sets of the samples' size) is a bias that even a perfect
// model shows: W2 and FD from finite samples lie above the distance, and a sample that is less spread out can score
// below the floor without being closer to the data. The energy distance and KID are unbiased estimates: their floor
// is noise around 0, and a paired drop is a model closer to the data, even near 0.
bool floor_is_bias(const std::string& metric);
// A gain over ω = 0 that the metric can see, as gain_verdict judges it: its interval above 0, and, for a metric
// whose floor is a bias, the base (`zero`) not already at the floor (at or below the upper end of its interval).
bool visible_gain(const std::string& metric, const Estimate& zero, const Estimate& gain, const Estimate& floor = {});

// The verdicts write "omega = 0.5" (for terminals, and so stored in tune.json); the GUIs name the weight as their
// controls do: "ω = 0.5", "samples per ω", and the signs a terminal writes in ASCII as the signs: " -> ", " >= ",
// " <= " as " → ", " ≥ ", " ≤ ". Only these phrases change: a file name or "omegas" stays as written.
std::string omega_as_symbol(std::string verdict);

}  // namespace sims::metrics
