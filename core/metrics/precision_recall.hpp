// Improved precision and recall (Kynkäänniemi et al. 2019).
//
// The radius of a point is the distance to its k-th nearest neighbour in its
// own set (the point itself excluded). Precision = share of generated points
// inside at least one real point's ball; recall = share of real points inside
// at least one generated point's ball ("inside" = distance ≤ radius).
//
// Distances are computed in row blocks from the Gram matrix
// (‖x‖² + ‖y‖² − 2 x·y, clamped at 0), in float64 when either input is float64
// and in float32 otherwise (as the reference implementations do), so a
// 10k × 10k × 2048 problem needs only block × N entries at a time.
#pragma once
#include <cstdint>

#include <ATen/Tensor.h>

namespace sims::metrics {

struct PrecisionRecall {
  double precision = 0;
  double recall = 0;
};

// real [Nr, D], fake [Nf, D] (float32/float64, finite, same D). Requires
// 1 ≤ k < Nr and k < Nf; throws InputError otherwise. block ≥ 1 rows per
// distance block.
PrecisionRecall precision_recall(const at::Tensor& real, const at::Tensor& fake, int64_t k = 5,
                                 int64_t block = 1024);

// Density and coverage (Naeem et al. 2020): with r_i the distance of real
// point X_i to its k-th nearest real neighbour,
//   density  = 1/(k M) sum_j #{i : |Y_j - X_i| <= r_i}   (about 1 when the
//              generated points are spread like the real ones; above 1 when
//              they crowd the dense real regions)
//   coverage = 1/N #{i : some Y_j within r_i of X_i}    (higher is better)
// for N real and M generated points.
struct DensityCoverage {
  double density = 0;
  double coverage = 0;
};
DensityCoverage density_coverage(const at::Tensor& real, const at::Tensor& fake, int64_t k = 5, int64_t block = 1024);

// The four metrics are means over points: precision and density over the
// generated points, recall and coverage over the real ones. Per point (float64):
struct PointScores {
  at::Tensor fake_in_real;  // [M] 1 if inside some real point's ball (precision)
  at::Tensor fake_balls;    // [M] how many real balls contain it (density = mean / k)
  at::Tensor real_in_fake;  // [N] 1 if inside some generated point's ball (recall)
  at::Tensor real_covered;  // [N] 1 if some generated point lies in its own ball (coverage)
  int64_t k = 5;
};
PointScores point_scores(const at::Tensor& real, const at::Tensor& fake, int64_t k = 5, int64_t block = 1024);

// Squared k-NN radii [N] of a set (distance to the k-th nearest other point,
// squared), in the computation dtype described above.
at::Tensor knn_radii_squared(const at::Tensor& x, int64_t k, int64_t block = 1024);

}  // namespace sims::metrics
