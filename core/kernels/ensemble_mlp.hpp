// Kernels of the loop ensemble (loops/ensemble.hpp): R independent EDM MLPs
// stored as stacked weights w[l] [R, in, out], b[l] [R, 1, out] (float32),
// SiLU hidden layers. Two operations, each as a reference in LibTorch ops
// and as a hand-written AVX2 kernel with the same interface:
//   - the training step's EDM loss and the gradient of every weight and bias
//     (the fast one without autograd: forward with the SiLU's sigmoid kept,
//     backward row by row, instead of ~100 small ATen operations and an
//     autograd graph per step);
//   - the denoiser D(x; sigma) at one sigma shared by all rows (sampling).
// The fast kernels take hidden widths 32, 64 and 128 (ensemble_fast_fits)
// and run members in parallel over the intra-op threads.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/Tensor.h>

namespace sims::kernels {

// Whether the fast kernels take these weights: contiguous float32 CPU
// tensors, hidden width 32, 64 or 128, at least one hidden layer, `dim`
// outputs. Says nothing about the CPU (kernels/dispatch.hpp decides that).
bool ensemble_fast_fits(const std::vector<at::Tensor>& w, const std::vector<at::Tensor>& b, int64_t width, int64_t dim);

// For every member r (rows i of its batch, outputs d):
//   f = MLP_r(h0[r, i])                       (SiLU hidden layers)
//   e = base[r, i, d] + c_out[r, i] f[d]       (= D(x) - y with base = c_skip x - y)
//   loss[r] = mean_i wgt[r, i] sum_d e^2
// and the gradients of loss[r] with respect to member r's weights, written
// into gw[l] ([R, in, out]) and gb[l] ([R, 1, out]) (overwritten). All
// tensors float32 and contiguous: h0 [R, B, in], base [R, B, D], c_out and
// wgt [R, B], losses [R]. The reference uses autograd (not inside
// c10::InferenceMode).
void ensemble_loss_and_grad_reference(const std::vector<at::Tensor>& w, const std::vector<at::Tensor>& b,
                                      const at::Tensor& h0, const at::Tensor& base, const at::Tensor& c_out,
                                      const at::Tensor& wgt, const std::vector<at::Tensor>& gw,
                                      const std::vector<at::Tensor>& gb, const at::Tensor& losses);
void ensemble_loss_and_grad_fast(const std::vector<at::Tensor>& w, const std::vector<at::Tensor>& b,
                                 const at::Tensor& h0, const at::Tensor& base, const at::Tensor& c_out,
                                 const at::Tensor& wgt, const std::vector<at::Tensor>& gw,
                                 const std::vector<at::Tensor>& gb, const at::Tensor& losses);

// D(x; sigma) of every member at one sigma:
//   h = silu(...silu((c_in x) W0x + bias0)...) W_L + b_L,  D = c_skip x + c_out h
// with x [R, n, D] float32, W0x = the first layer's x-rows (w[0][:, :D, :])
// and bias0 [R, 1, W] its bias with the noise embedding's share folded in.
// Returns [R, n, D] float32. The reference is differentiable.
at::Tensor ensemble_forward_at_reference(const std::vector<at::Tensor>& w, const std::vector<at::Tensor>& b,
                                         const at::Tensor& x, const at::Tensor& bias0, double c_in, double c_skip,
                                         double c_out);
at::Tensor ensemble_forward_at_fast(const std::vector<at::Tensor>& w, const std::vector<at::Tensor>& b,
                                    const at::Tensor& x, const at::Tensor& bias0, double c_in, double c_skip,
                                    double c_out);

}  // namespace sims::kernels
