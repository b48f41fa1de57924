// KID (Bińkowski et al. 2018, "Demystifying MMD GANs"): the unbiased MMD²
// between real and generated features with the cubic polynomial kernel
// k(x, y) = (x·y / d + 1)³, d the feature dimension, averaged over `subsets`
// random subsets of m = min(subset_size, N_real, N_fake) points drawn without
// replacement from each set; the mean and the standard deviation over the
// subsets are reported, as the field's KID code does. With one subset the
// first m rows of each set are used, so the value is deterministic. Unlike FD it has no bias
// from the sample size: its expected value is the population MMD² whatever m.

//
// Energy distance (Székely & Rizzo 2004) between two point sets:
// 2 E|X-Y| - E|X-X'| - E|Y-Y'| with the within-set means over pairs i != j
// (the unbiased U-statistic). It is zero in expectation exactly when the two
// distributions are equal, so, unlike the exact W2 of two finite samples, it
// has no floor above 0 and does not reward a sample narrower than the data:
// the small-sample metric for points, as KID is for image features.

#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <ATen/Tensor.h>

namespace sims::metrics {

struct Kid {
  double mean = 0;   // mean of the per-subset MMD² estimates
  double std = 0;    // their standard deviation (0 with one subset)
  int64_t subset_size = 0;
  int64_t subsets = 0;
  // Every subset holds both sets whole (subset_size = both sizes): the subsets are all alike and `std` says nothing.
  bool subsets_alike = false;
};

// real [Nr, D], fake [Nf, D], float32/float64, finite, Nr, Nf >= 2. Computed
// in float64. Throws InputError on bad shapes, subsets < 1 or subset_size < 2.
Kid kid(const at::Tensor& real, const at::Tensor& fake, int64_t subsets = 100, int64_t subset_size = 1000,
        uint64_t seed = 0);

// KID with its confidence interval, from disjoint blocks: the rows of both sets in a seeded random order (a file
// saved class by class would give blocks that differ), cut into B = min(Nr, Nf) / block_size blocks of block_size
// rows. Each block's unbiased MMD² is an independent unbiased estimate, so `value`, their mean, has the Student t
// interval [lo, hi] at `level`. (kid's random subsets share rows: their sd understates the estimate's noise.) When
// the two sets differ, the mean of B blocks is about as precise as the MMD² of all rows (the U-statistic's leading
// term is linear); when they are alike it is B times noisier, so the interval is wider than it need be there.
// B < 2: value, lo and hi NaN, blocks 0 or 1. Throws InputError as kid does.
struct KidBlocks {
  double value = std::numeric_limits<double>::quiet_NaN();
  double lo = std::numeric_limits<double>::quiet_NaN(), hi = std::numeric_limits<double>::quiet_NaN();
  int64_t blocks = 0, block_size = 0;
  double level = 0.95;
  // "Student t over B disjoint subsets of s rows" (for a result's notes and the CLI).
  std::string method() const;
  // [v - h, v + h], h this interval's half-width: the interval given to the MMD² of all rows, v, which is at least
  // as precise as the mean of the disjoint subsets (the U-statistic of all pairs), so that it stays inside its own
  // interval. With more than 1000 rows v is a mean over random subsets of 1000, roughly as precise (not measured
  // here); the coverage test checks kid_blocks' own interval. NaN ends without an interval.
  std::pair<double, double> around(double v) const;
};
KidBlocks kid_blocks(const at::Tensor& real, const at::Tensor& fake, int64_t block_size, uint64_t seed = 0,
                     double level = 0.95);
// The block size for at least `blocks` blocks of the smaller set (more where 1000 rows, the field's subset size,
// leave more), at most 1000 rows; 0 when blocks of at least 2 rows do not fit.
int64_t kid_block_size(int64_t real_rows, int64_t fake_rows, int64_t blocks = 10);

// The fewest disjoint subsets behind a scored set's KID interval (kid_scored).
constexpr int kKidIntervalBlocks = 10;
// How the image loops', scenarios', shift's and sweeps' KID intervals are made (their results' "ci" notes).
constexpr const char* kKidIntervalMethod =
    "kid ± the half-width of the Student t interval over at least 10 disjoint subsets of the rows (at most 1000 rows "
    "each; none below 20 samples)";

// A scored set's KID as image loops, scenarios, shift and sweeps give it: kid() over `subsets` random subsets of
// min(1000, Nr, Nf) rows and, with `interval` and where kid_block_size(Nr, Nf, kKidIntervalBlocks) > 0 (20 rows
// and more), KidBlocks::around(kid) of kid_blocks with that block size (kKidIntervalMethod); lo, hi NaN otherwise.
// Both from one float64 copy of the features. Throws InputError as kid does.
struct KidScore {
  Kid kid;
  double lo = std::numeric_limits<double>::quiet_NaN(), hi = std::numeric_limits<double>::quiet_NaN();
};
KidScore kid_scored(const at::Tensor& real, const at::Tensor& fake, int64_t subsets, uint64_t seed, bool interval = true);

// x [N, D], y [M, D], N, M >= 2, finite; float64 inside.
double energy_distance(const at::Tensor& x, const at::Tensor& y);

// The energy distance of subsets of x's rows to y, with the distances
// computed once (for the bootstrap): rows idx of x, repeats allowed (a pair
// of the same position is excluded, as in the U-statistic).
class EnergyDistance {
 public:
  // y_self: y's own term, self_term(y), when the caller already has it (it is
  // quadratic in y's size and the same for every sample set); NaN: computed.
  EnergyDistance(const at::Tensor& x, const at::Tensor& y, double y_self = std::numeric_limits<double>::quiet_NaN());
  // Mean |y_i - y_j| over pairs i != j.
  static double self_term(const at::Tensor& y);
  double operator()(const std::vector<int64_t>& idx) const;
  double full() const;  // all rows of x once

 private:
  at::Tensor dxx_;                // [N, N]
  std::vector<double> xy_mean_;   // per x row: mean distance to y
  double yy_ = 0;                 // mean distance between y rows, i != j
};

}  // namespace sims::metrics
