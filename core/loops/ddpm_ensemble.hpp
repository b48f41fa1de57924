// The SIMS paper's own 2D model for Fig. 4 (its Sec. 4.2.1 cites Ho et al.'s
// DDPM and the "toy-diffusion" setup): an epsilon-predicting MLP with input
// [x, t] (t the integer step, fed as a number), an input layer to `width`
// units, `blocks` residual blocks (each: [h, t] -> Linear(width+1, width+1)
// -> LayerNorm -> ReLU -> Linear(width+1, width) -> LayerNorm -> ReLU, added
// to h) and an output layer; the cosine schedule (s = 0.008) over T steps with
// alpha_bar_t = f(t)/f(0), t = 0..T-1 (so beta_0 = 0); plain MSE on epsilon
// with t uniform in {0..T-1}; Adam with a learning rate falling linearly per
// epoch to lr_end x lr; no EMA; Ho et al.'s ancestral sampler (Algorithm 2)
// from t = T-1 down to 1 with variance beta_t, no noise added at t = 1.
//
// As loops/ensemble.hpp does for the EDM MLP, R independent members live in
// stacked tensors ([R, in, out] weights, [R, 1, n] biases and LayerNorm
// scales) and run as batched matmuls; each member's loss is its own batch
// mean and the total is their sum, so Adam on the stacked tensors equals R
// independent Adams. Member r draws only from seeds[r]: its result does not
// depend on R or on the other members (tested to float rounding).
//
// Choices where the reference is silent or differs: initial weights are
// PyTorch's Linear default distribution (uniform +-1/sqrt(fan_in) for weight
// and bias) drawn from the member's seed; each epoch visits the member's set in
// a fresh random order, in batches of `batch` (the reference slices it in
// order; with |D| <= batch, as in Fig. 4, both take the whole set once).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/Tensor.h>

#include "loops/ensemble.hpp"
#include "sampling/schedule.hpp"

namespace sims::loops {

struct DdpmSchedule {
  std::vector<double> alpha_bar, beta;  // index t = 0..T-1; alpha_bar[0] = 1, beta[0] = 0
  int64_t steps() const { return static_cast<int64_t>(beta.size()); }
  // The noise level of step t in EDM's units, sqrt((1 - alpha_bar) / alpha_bar): what a guidance
  // interval [lo, hi] is compared with.
  double sigma(int64_t t) const;
  static DdpmSchedule cosine(int64_t steps, double s = 0.008);  // throws InputError for steps < 2
};

struct DdpmNet {
  int64_t dim = 2, width = 64, blocks = 4;
};

struct DdpmEnsemble {
  DdpmNet net;
  // in: W [R, D+1, W], b [R, 1, W]; per block: W1 [R, W+1, W+1], b1, g1, c1 [R, 1, W+1] (LayerNorm scale and
  // shift), W2 [R, W+1, W], b2, g2, c2 [R, 1, W]; out: W [R, W, D], b [R, 1, D]. float32.
  std::vector<at::Tensor> p;
  int64_t members() const { return p.empty() ? 0 : p[0].size(0); }
  DdpmEnsemble clone() const;
};

// R = seeds.size() members, member r initialised from seeds[r] alone.
DdpmEnsemble create_ddpm_ensemble(const DdpmNet& net, const std::vector<uint64_t>& seeds);

// epsilon(x, t) of every member: x [R, B, D], t [R, B, 1] (the step as a number), float32. Differentiable.
at::Tensor ddpm_eps(const DdpmEnsemble& e, const at::Tensor& x, const at::Tensor& t);

struct DdpmTrainConfig {
  int64_t batch = 2048;
  double lr = 1e-3;
  double lr_end = 0.01;  // the last epoch's lr is lr x (1 - (1 - lr_end)(E - 1)/E)
  int64_t epochs = 100;
  void validate() const;  // throws InputError
};

// Trains every member on its own set data[r] ([R, N, D]) for cfg.epochs epochs with fresh Adam moments;
// returns the mean loss of the last epoch. opts.on_progress gets (epochs done, epochs, loss) once per epoch;
// opts.kernels is not used (LibTorch's batched matmuls throughout).
double train_ddpm_ensemble(DdpmEnsemble& e, const DdpmTrainConfig& cfg, const DdpmSchedule& sched,
                           const at::Tensor& data, const std::vector<uint64_t>& seeds,
                           const EnsembleTrainOptions& opts = {});

// The ancestral step's fresh noise at step t for every member: [R, n, D] float64, member r's rows from a
// generator seeded by mix_seed(seeds[r], t) (exposed so a test can rebuild the chain).
at::Tensor ddpm_step_noise(int64_t n, int64_t dim, const std::vector<uint64_t>& seeds, int64_t t);

// Ho et al.'s Algorithm 2 with any epsilon-model: x = noise (x_{T-1}, [R, n, D]); for t = T-1 .. 1:
// x <- (x - beta_t / sqrt(1 - alpha_bar_t) eps(x, t)) / sqrt(1 - beta_t), plus sqrt(beta_t) z_t when t > 1.
// eps gets and returns [R, n, D] float64. Returns x (float64).
using DdpmEpsFn = std::function<at::Tensor(const at::Tensor& x, int64_t t)>;
at::Tensor ddpm_ancestral(const DdpmEpsFn& eps, const at::Tensor& noise, const DdpmSchedule& sched,
                          const std::vector<uint64_t>& seeds, const std::atomic<bool>* cancel = nullptr);

// The ensemble's samples: eps = (1+w) eps_base - w eps_aux at steps whose sigma(t) lies in g's interval (SIMS
// guidance on epsilon, i.e. on the score), the base alone elsewhere or without aux. Networks in float32, the
// chain in float64. Throws ModelError when a member produced NaN/Inf.
at::Tensor sample_ddpm_ensemble(const DdpmEnsemble& base, const DdpmEnsemble* aux, const at::Tensor& noise,
                                const DdpmSchedule& sched, const Guidance& g, const std::vector<uint64_t>& seeds,
                                const std::atomic<bool>* cancel = nullptr);

}  // namespace sims::loops
