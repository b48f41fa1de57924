#include "kernels/silu.hpp"

#include <cmath>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "kernels/simd_math.hpp"

namespace sims::kernels {

namespace {

#if SIMS_KERNELS_X86
__attribute__((target("avx2,fma"))) void silu_avx2(float* p, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.f), zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(p + i);
    _mm256_storeu_ps(p + i, _mm256_div_ps(x, _mm256_add_ps(one, simd::exp8(_mm256_sub_ps(zero, x)))));
  }
  for (; i < n; ++i) p[i] = p[i] / (1.f + std::exp(-p[i]));
}
#endif

bool suits_fast(const at::Tensor& t) {
  return t.is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous();
}

}  // namespace

void silu_reference(at::Tensor& t) { at::silu_(t); }

void silu_fast(at::Tensor& t) {
  if (!suits_fast(t)) throw Error("silu_fast: a contiguous float32 CPU tensor is needed");
#if SIMS_KERNELS_X86
  silu_avx2(t.data_ptr<float>(), t.numel());
#else
  throw Error("silu_fast: not built for this CPU");
#endif
}

void silu_(at::Tensor& t, KernelPath path) {
  if (suits_fast(t) && use_fast(path, KernelFamily::Mlp)) silu_fast(t);
  else silu_reference(t);
}

}  // namespace sims::kernels
