#include "kernels/dense_silu.hpp"

#include <cmath>

#include "common/error.hpp"
#include "kernels/simd_math.hpp"

namespace sims::kernels {

// [SECTION] Reference ------------------------------------------------------------

void dense_silu_reference(const float* a, int64_t m, int64_t K, const float* wt, const float* b, int64_t N, float* out) {
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < N; ++j) {
      float z = b[j];
      for (int64_t k = 0; k < K; ++k) z += a[r * K + k] * wt[k * N + j];
      out[r * N + j] = z / (1.f + std::exp(-z));
    }
}

void dense_out_skip_reference(const float* a, int64_t m, int64_t K, const float* w, const float* b, int64_t D,
                              const float* x, float c_skip, float c_out, float* out) {
  for (int64_t r = 0; r < m; ++r)
    for (int64_t d = 0; d < D; ++d) {
      float dot = 0;
      for (int64_t k = 0; k < K; ++k) dot += a[r * K + k] * w[d * K + k];
      out[r * D + d] = c_skip * x[r * D + d] + c_out * (b[d] + dot);
    }
}

// [SECTION] AVX2 ------------------------------------------------------------------

#if SIMS_KERNELS_X86
namespace {

using simd::silu8;

// Two rows by 32 columns of accumulators stay in registers (16 FMAs per 6
// loads), the weights (K x N) stay in L1, and the activation is applied
// before the store, so a hidden layer costs one read of its input and one write.
__attribute__((target("avx2,fma"))) void dense_silu_avx2(const float* a, int64_t m, int64_t K, const float* wt,
                                                        const float* b, int64_t N, float* out) {
  for (int64_t j0 = 0; j0 < N; j0 += 32) {
    const __m256 b0 = _mm256_loadu_ps(b + j0), b1 = _mm256_loadu_ps(b + j0 + 8), b2 = _mm256_loadu_ps(b + j0 + 16),
                 b3 = _mm256_loadu_ps(b + j0 + 24);
    int64_t r = 0;
    for (; r + 2 <= m; r += 2) {
      __m256 c00 = b0, c01 = b1, c02 = b2, c03 = b3, c10 = b0, c11 = b1, c12 = b2, c13 = b3;
      const float* a0 = a + r * K;
      const float* a1 = a0 + K;
      for (int64_t k = 0; k < K; ++k) {
        const float* w = wt + k * N + j0;
        const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8), w2 = _mm256_loadu_ps(w + 16),
                     w3 = _mm256_loadu_ps(w + 24);
        const __m256 x0 = _mm256_broadcast_ss(a0 + k), x1 = _mm256_broadcast_ss(a1 + k);
        c00 = _mm256_fmadd_ps(x0, w0, c00);
        c01 = _mm256_fmadd_ps(x0, w1, c01);
        c02 = _mm256_fmadd_ps(x0, w2, c02);
        c03 = _mm256_fmadd_ps(x0, w3, c03);
        c10 = _mm256_fmadd_ps(x1, w0, c10);
        c11 = _mm256_fmadd_ps(x1, w1, c11);
        c12 = _mm256_fmadd_ps(x1, w2, c12);
        c13 = _mm256_fmadd_ps(x1, w3, c13);
      }
      float* o0 = out + r * N + j0;
      float* o1 = o0 + N;
      _mm256_storeu_ps(o0, silu8(c00));
      _mm256_storeu_ps(o0 + 8, silu8(c01));
      _mm256_storeu_ps(o0 + 16, silu8(c02));
      _mm256_storeu_ps(o0 + 24, silu8(c03));
      _mm256_storeu_ps(o1, silu8(c10));
      _mm256_storeu_ps(o1 + 8, silu8(c11));
      _mm256_storeu_ps(o1 + 16, silu8(c12));
      _mm256_storeu_ps(o1 + 24, silu8(c13));
    }
    for (; r < m; ++r) {
      __m256 c00 = b0, c01 = b1, c02 = b2, c03 = b3;
      const float* a0 = a + r * K;
      for (int64_t k = 0; k < K; ++k) {
        const float* w = wt + k * N + j0;
        const __m256 x0 = _mm256_broadcast_ss(a0 + k);
        c00 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w), c00);
        c01 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w + 8), c01);
        c02 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w + 16), c02);
        c03 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w + 24), c03);
      }
      float* o0 = out + r * N + j0;
      _mm256_storeu_ps(o0, silu8(c00));
      _mm256_storeu_ps(o0 + 8, silu8(c01));
      _mm256_storeu_ps(o0 + 16, silu8(c02));
      _mm256_storeu_ps(o0 + 24, silu8(c03));
    }
  }
}

__attribute__((target("avx2,fma"))) void dense_out_skip_avx2(const float* a, int64_t m, int64_t K, const float* w,
                                                            const float* b, int64_t D, const float* x, float c_skip,
                                                            float c_out, float* out) {
  for (int64_t r = 0; r < m; ++r) {
    const float* ar = a + r * K;
    for (int64_t d = 0; d < D; ++d) {
      const float* wd = w + d * K;
      __m256 acc = _mm256_setzero_ps();
      for (int64_t k = 0; k < K; k += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(ar + k), _mm256_loadu_ps(wd + k), acc);
      const float dot = simd::hsum8(acc);
      out[r * D + d] = c_skip * x[r * D + d] + c_out * (b[d] + dot);
    }
  }
}

}  // namespace
#endif

void dense_silu_fast(const float* a, int64_t m, int64_t K, const float* wt, const float* b, int64_t N, float* out) {
  if (!dense_silu_fast_fits(N)) throw Error("dense_silu_fast: the width must be a multiple of 32");
#if SIMS_KERNELS_X86
  dense_silu_avx2(a, m, K, wt, b, N, out);
#else
  (void)a, (void)m, (void)K, (void)wt, (void)b, (void)out;
  throw Error("dense_silu_fast: not built for this CPU");
#endif
}

void dense_out_skip_fast(const float* a, int64_t m, int64_t K, const float* w, const float* b, int64_t D,
                         const float* x, float c_skip, float c_out, float* out) {
  if (!dense_out_skip_fast_fits(K)) throw Error("dense_out_skip_fast: the width must be a multiple of 8");
#if SIMS_KERNELS_X86
  dense_out_skip_avx2(a, m, K, w, b, D, x, c_skip, c_out, out);
#else
  (void)a, (void)m, (void)w, (void)b, (void)D, (void)x, (void)c_skip, (void)c_out, (void)out;
  throw Error("dense_out_skip_fast: not built for this CPU");
#endif
}

}  // namespace sims::kernels
