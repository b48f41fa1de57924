// The ensemble's training step without autograd: one hand-written AVX2 pass
// per member computes the EDM loss and the gradient of every weight and
// bias (forward with the SiLU's sigmoid kept, backward row by row), instead
// of ~100 small ATen operations and an autograd graph per step. Used by
// train_ensemble (loops/ensemble.cpp) when fused_training_applies(); the
// general autograd path stays for everything else and as the reference the
// tests compare against. SIMS_ENSEMBLE_FAST=0 turns it off (before/after
// benchmarks).
#pragma once
#include <vector>

#include <ATen/Tensor.h>

#include "loops/ensemble.hpp"

namespace sims::loops::detail {

// float32 weights, AVX2+FMA CPU, hidden width 32, 64 or 128, depth >= 1,
// and not switched off by SIMS_ENSEMBLE_FAST=0.
bool fused_training_applies(const EnsembleWeights& w, const NetConfig& net);

// For every member r (rows i of its batch, outputs d):
//   f = MLP_r(h0[r, i])                       (SiLU hidden layers)
//   e = base[r, i, d] + c_out[r, i] f[d]       (= D(x) - y with base = c_skip x - y)
//   loss[r] = mean_i wgt[r, i] sum_d e^2
// and the gradients of loss[r] with respect to member r's weights, written
// into gw[l] ([R, in, out]) and gb[l] ([R, 1, out]) (overwritten). All
// tensors float32 and contiguous: h0 [R, B, in], base [R, B, D], c_out and
// wgt [R, B], losses [R]. Members run in parallel over the intra-op threads.
void fused_loss_and_grad(const EnsembleWeights& w, const at::Tensor& h0, const at::Tensor& base,
                         const at::Tensor& c_out, const at::Tensor& wgt, const std::vector<at::Tensor>& gw,
                         const std::vector<at::Tensor>& gb, const at::Tensor& losses);

// D(x; sigma) of every member at one sigma, the forward pass in registers
// (same applicability as training): x [R, n, D] float32 contiguous, w0x =
// c_in times the first layer's x-rows [R, D, W], bias0 = its bias with the
// noise embedding folded in [R, 1, W]. Returns [R, n, D] float32.
at::Tensor fused_denoise_at(const EnsembleWeights& w, const at::Tensor& x, const at::Tensor& w0x, const at::Tensor& bias0,
                            double c_skip, double c_out);

}  // namespace sims::loops::detail
