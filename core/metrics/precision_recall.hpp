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

// Squared k-NN radii [N] of a set (distance to the k-th nearest other point,
// squared), in the computation dtype described above.
at::Tensor knn_radii_squared(const at::Tensor& x, int64_t k, int64_t block = 1024);

}  // namespace sims::metrics
