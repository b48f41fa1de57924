// The two layer kernels of EdmMlp's one-sigma sampling path
// (diffusion/network.cpp), on row-major float32 arrays:
//   dense_silu:     out[m, N] = silu(a[m, K] wt[K, N] + b[N])
//   dense_out_skip: out[r, d] = c_skip x[r, d] + c_out (b[d] + a[r, :] . w[d, :]),  w [D, K]
// (a hidden layer with its activation, and the output layer with the EDM
// skip). The references are plain loops (float accumulation in k order,
// std::exp); the fast versions keep the accumulators in AVX2 registers and
// agree with them to float rounding.
#pragma once
#include <cstdint>

namespace sims::kernels {

// Any N.
void dense_silu_reference(const float* a, int64_t m, int64_t K, const float* wt, const float* b, int64_t N, float* out);
// N a multiple of 32; needs AVX2+FMA.
void dense_silu_fast(const float* a, int64_t m, int64_t K, const float* wt, const float* b, int64_t N, float* out);

// Any K.
void dense_out_skip_reference(const float* a, int64_t m, int64_t K, const float* w, const float* b, int64_t D,
                              const float* x, float c_skip, float c_out, float* out);
// K a multiple of 8; needs AVX2+FMA.
void dense_out_skip_fast(const float* a, int64_t m, int64_t K, const float* w, const float* b, int64_t D,
                         const float* x, float c_skip, float c_out, float* out);

// Whether the fast kernels take these widths (hidden N for dense_silu, K for dense_out_skip).
inline bool dense_silu_fast_fits(int64_t N) { return N > 0 && N % 32 == 0; }
inline bool dense_out_skip_fast_fits(int64_t K) { return K > 0 && K % 8 == 0; }

}  // namespace sims::kernels
