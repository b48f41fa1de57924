// The pricing scan of the exact-OT network simplex (metrics/wasserstein.cpp),
// its hot loop: min over k < len of (c[k] + p[k]), float64. Both versions
// return the same value (a minimum does not depend on the order of the
// comparisons; the inputs are finite).
#pragma once
#include <cstdint>

namespace sims::kernels {

// Four running minima in plain C++ (+inf for len 0).
double min_plus_reference(const double* c, const double* p, int64_t len);
// AVX, eight sums per iteration; needs AVX (family Transport).
double min_plus_fast(const double* c, const double* p, int64_t len);

}  // namespace sims::kernels
