// SiLU, x sigmoid(x), in place on a tensor: reference at::silu_, fast an
// AVX2 loop with a polynomial exp (within a few float ulps of the reference).
#pragma once
#include <cstdint>

#include <ATen/Tensor.h>

#include "kernels/dispatch.hpp"

namespace sims::kernels {

// LibTorch's SiLU (any dtype, any layout).
void silu_reference(at::Tensor& t);

// Contiguous float32 CPU tensors only; needs AVX2+FMA (the caller checks).
void silu_fast(at::Tensor& t);

// The fast kernel where the path resolves to Fast (family Mlp) and the
// tensor suits it (float32, contiguous, CPU), the reference otherwise.
void silu_(at::Tensor& t, KernelPath path = KernelPath::Auto);

}  // namespace sims::kernels
