// A batched ensemble of R independent EDM MLP denoisers (the EdmMlp
// architecture of diffusion/network.hpp: input [c_in x, c_noise, sin/cos
// Fourier features of c_noise], SiLU hidden layers, EDM preconditioning),
// stored as stacked weights W_l [R, in, out], b_l [R, 1, out] and evaluated
// with batched matmuls (at::baddbmm) on [R, B, D] inputs. This is what makes
// self-consuming-loop experiments with hundreds of independent runs cheap on
// a CPU: one batched step replaces R small ones.
//
// Equivalence with the one-model trainer (training/trainer.cpp): member r
// with seed s_r is the model `TrainState::create(net, {.seed = s_r})` +
// `train(st, data_r)` would produce, up to float rounding of the batched
// matmuls:
//   - initial weights: torch::manual_seed(s_r), then EdmMlp's construction;
//   - step k (k = images_seen / batch) draws from a generator seeded by
//     mix(s_r, k), in order: batch indices randint(0, N, {b}), ln-sigma
//     normals {b} (float32), noise normals {b, D} (float32);
//   - EDM loss per member = its own batch mean; the total loss is the sum
//     over members, so each member's gradient is that of its own loss, and
//     Adam (elementwise) on the stacked tensors equals R independent Adams;
//   - linear lr ramp-up, EMA with EDM's growing half-life, non-finite
//     gradients zeroed (nan_to_num) as the trainer does.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/Tensor.h>

#include "diffusion/network.hpp"
#include "kernels/dispatch.hpp"
#include "sampling/schedule.hpp"
#include "training/checkpoint.hpp"
#include "training/step_rules.hpp"

namespace sims::loops {

// Stacked parameters: w[l] [R, in_l, out_l], b[l] [R, 1, out_l] (float32).
struct EnsembleWeights {
  std::vector<at::Tensor> w, b;
  int64_t members() const { return w.empty() ? 0 : w[0].size(0); }
  EnsembleWeights clone() const;
  std::vector<at::Tensor> all() const;  // w0, b0, w1, b1, ...
};

struct EnsembleState {
  NetConfig net;             // type "mlp"
  EnsembleWeights raw, ema;  // raw: trained by Adam; ema: what is sampled
  int64_t images_seen = 0;   // per member
  int64_t nonfinite_grad_steps = 0;
  int64_t members() const { return raw.members(); }
};

// R = seeds.size() members, member r initialised exactly as
// TrainState::create(net, seed = seeds[r]) initialises its network.
EnsembleState create_ensemble(const NetConfig& net, const std::vector<uint64_t>& seeds);

// A fresh state (images_seen 0, fresh Adam) whose raw and EMA weights are the
// EMA weights of `from`: how an auxiliary model starts from its base
// (TrainState::fork).
EnsembleState fork_ensemble(const EnsembleState& from);

// Member r's weights as an EdmMlp (e.g. to save it as a checkpoint), and back.
void copy_member_to(const EnsembleWeights& w, int64_t r, EdmNetwork& net);
void copy_member_from(EnsembleWeights& w, int64_t r, const EdmNetwork& net);

// D(x; sigma) for every member: x [R, B, D], sigma [R, B] (or [R, B, 1]),
// float32. Differentiable (used for training).
at::Tensor ensemble_denoise(const NetConfig& net, const EnsembleWeights& w, const at::Tensor& x, const at::Tensor& sigma);

// Same for one sigma shared by all rows (sampling): the sigma embedding's
// share of the first layer is computed once. x [R, B, D] float32. The
// hand-written kernel (kernels/ensemble_mlp.hpp) where `path` resolves to
// Fast and the shapes fit; LibTorch's batched matmuls otherwise.
at::Tensor ensemble_denoise_at(const NetConfig& net, const EnsembleWeights& w, const at::Tensor& x, double sigma,
                               KernelPath path = KernelPath::Auto);

// The EDM loss of every member on its own batch: [R] (each its batch mean).
at::Tensor ensemble_edm_loss(const NetConfig& net, const EnsembleWeights& w, const at::Tensor& y,
                             const at::Tensor& sigma, const at::Tensor& noise);

struct EnsembleTrainOptions {
  const std::atomic<bool>* cancel = nullptr;  // checked every step (throws sims::Cancelled)
  // Called about every progress_every images per member (0: ~20 events).
  std::function<void(int64_t images_seen, int64_t budget, double mean_loss)> on_progress;
  int64_t progress_every = 0;
  // The hand-written loss+gradient kernel (kernels/ensemble_mlp.hpp) where
  // this resolves to Fast and the shapes fit (kernels/dispatch.hpp);
  // Reference keeps the autograd path with torch::optim::Adam.
  KernelPath kernels = KernelPath::Auto;
};

// Trains every member on its own data set data[r] ([R, N, D], float32) until
// st.images_seen reaches tc.budget (images per member). tc.seed is not used:
// member r draws from seeds[r] (see the header comment). Fresh Adam moments
// (as a new TrainState's Adam); returns the mean loss of the last steps.
double train_ensemble(EnsembleState& st, const TrainConfig& tc, const at::Tensor& data,
                      const std::vector<uint64_t>& seeds, const EnsembleTrainOptions& opts = {});

// Unit-variance starting noise [R, n, D] float64, member r's rows drawn from
// seeds[r] (equal to seeded_noise(n, {D}, seeds[r])).
at::Tensor ensemble_noise(int64_t n, int64_t dim, const std::vector<uint64_t>& seeds);

// EDM sampling of every member at once (Heun or Euler; churn is not
// supported here), EMA weights, update arithmetic in float64 and networks in
// float32. With `aux` (same R) and g.omega != 0: D = (1+w) D_base - w D_aux
// at evaluations whose sigma lies in g's interval, the base alone elsewhere.
// noise [R, n, D] (unit variance); returns [R, n, D] float64. `path`
// picks the networks' implementation (ensemble_denoise_at).
// Throws ModelError when a member produced NaN/Inf.
at::Tensor sample_ensemble(const EnsembleState& base, const EnsembleState* aux, const at::Tensor& noise,
                           const SamplerConfig& cfg, const Guidance& g, const std::atomic<bool>* cancel = nullptr,
                           KernelPath path = KernelPath::Auto);

// The trainer's per-step seed mix (training/step_rules.hpp).
using ::sims::mix_seed;

}  // namespace sims::loops
