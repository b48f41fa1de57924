// Exact empirical Wasserstein distances between point sets with uniform
// weights, and the closed form between Gaussians.
//
// Exact optimal transport: the balanced transportation problem with integer
// masses (each of the n points of A carries m/g units, each of the m points
// of B carries n/g units, g = gcd(n, m), total lcm(n, m)), solved by a primal
// network simplex on the complete bipartite graph (north-west-corner start,
// block-search pricing, Cunningham's strongly-feasible-tree rule against
// cycling). Equal and unequal sizes use the same solver; 2,000 x 2,000 2-D
// points take a few tenths of a second. The result is exactly optimal up to
// floating-point rounding of the costs (reduced costs ≥ −1e-13 · max|c|);
// the dual potentials it returns certify that (u_i + v_j ≤ c_ij,
// u_i + v_j = c_ij wherever π_ij > 0, Σ u_i/n + Σ v_j/m = cost).
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/Tensor.h>

#include "kernels/dispatch.hpp"

namespace sims::metrics {

// Largest cost matrix exact_ot / wasserstein accept (n·m entries, float64):
// 36e6 entries = 288 MB (6000 × 6000 points).
constexpr int64_t kMaxOtEntries = 36'000'000;
// Former separate limit for sets of different sizes; unequal sizes are now
// as fast as equal ones, so it equals kMaxOtEntries (kept for compatibility).
constexpr int64_t kMaxUnequalOtEntries = kMaxOtEntries;

struct TransportPlan {
  struct Entry {
    int64_t i, j;    // row (point of A), column (point of B)
    int64_t amount;  // units of mass; π_ij = amount / total
  };
  double cost = 0;          // Σ π_ij c_ij (the optimal expected cost)
  int64_t total = 0;        // lcm(n, m)
  std::vector<Entry> flow;  // nonzero entries of the plan
  std::vector<double> u, v; // dual potentials (see above)
  int64_t pivots = 0;       // network simplex pivots taken (diagnostic)
};

// Exact OT with uniform weights for a cost matrix [n, m] (float32/float64,
// finite, n, m ≥ 1, n·m ≤ kMaxOtEntries). Throws InputError otherwise. The
// plan has at most n + m − 1 nonzero entries (a basic solution), sorted by (i, j).
// `path` picks the pricing scan's implementation (kernels/min_plus.hpp);
// the result does not depend on it.
TransportPlan exact_ot(const at::Tensor& cost, KernelPath path = KernelPath::Auto);

// Exact empirical W_p (p = 1 or 2) between point sets a [n, D] and b [m, D]
// with uniform weights (Euclidean ground distance; cost |x−y|^p; result is
// (optimal cost)^{1/p}). Throws InputError on bad shapes, NaN/Inf, p ∉ {1,2},
// or sets too large for exact OT.
double wasserstein(const at::Tensor& a, const at::Tensor& b, int p, KernelPath path = KernelPath::Auto);
inline double wasserstein2(const at::Tensor& a, const at::Tensor& b) { return wasserstein(a, b, 2); }
inline double wasserstein1(const at::Tensor& a, const at::Tensor& b) { return wasserstein(a, b, 1); }

// Squared Euclidean cost matrix [n, m] float64 (exact differences for small
// D, Gram-matrix form for large D).
at::Tensor squared_distances(const at::Tensor& a, const at::Tensor& b);

// Closed-form W2 between N(mu1, S1) and N(mu2, S2):
//   sqrt(‖μ1−μ2‖² + tr(S1 + S2 − 2 (S2^{1/2} S1 S2^{1/2})^{1/2})).
// mu: [D], S: [D, D] (symmetric PSD), float32/float64.
double w2_gaussian(const at::Tensor& mu1, const at::Tensor& s1, const at::Tensor& mu2, const at::Tensor& s2);

}  // namespace sims::metrics
