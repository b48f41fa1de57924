#include "kernels/min_plus.hpp"

#include <algorithm>
#include <limits>

#include "common/error.hpp"
#include "kernels/simd_math.hpp"

namespace sims::kernels {

double min_plus_reference(const double* c, const double* p, int64_t len) {
  double m0 = std::numeric_limits<double>::infinity(), m1 = m0, m2 = m0, m3 = m0;
  int64_t k = 0;
  for (; k + 4 <= len; k += 4) {
    const double t0 = c[k] + p[k], t1 = c[k + 1] + p[k + 1], t2 = c[k + 2] + p[k + 2], t3 = c[k + 3] + p[k + 3];
    m0 = t0 < m0 ? t0 : m0;
    m1 = t1 < m1 ? t1 : m1;
    m2 = t2 < m2 ? t2 : m2;
    m3 = t3 < m3 ? t3 : m3;
  }
  for (; k < len; ++k) {
    const double t = c[k] + p[k];
    m0 = t < m0 ? t : m0;
  }
  return std::min(std::min(m0, m1), std::min(m2, m3));
}

#if SIMS_KERNELS_X86
namespace {

__attribute__((target("avx"))) double min_plus_avx(const double* c, const double* p, int64_t len) {
  __m256d m0 = _mm256_set1_pd(std::numeric_limits<double>::infinity()), m1 = m0;
  int64_t k = 0;
  for (; k + 8 <= len; k += 8) {
    m0 = _mm256_min_pd(m0, _mm256_add_pd(_mm256_loadu_pd(c + k), _mm256_loadu_pd(p + k)));
    m1 = _mm256_min_pd(m1, _mm256_add_pd(_mm256_loadu_pd(c + k + 4), _mm256_loadu_pd(p + k + 4)));
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_min_pd(m0, m1));
  double mn = std::min(std::min(lanes[0], lanes[1]), std::min(lanes[2], lanes[3]));
  for (; k < len; ++k) {
    const double t = c[k] + p[k];
    mn = t < mn ? t : mn;
  }
  return mn;
}

}  // namespace
#endif

double min_plus_fast(const double* c, const double* p, int64_t len) {
#if SIMS_KERNELS_X86
  return min_plus_avx(c, p, len);
#else
  (void)c, (void)p, (void)len;
  throw Error("min_plus_fast: not built for this CPU");
#endif
}

}  // namespace sims::kernels
