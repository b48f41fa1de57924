// The EDM sampler (Karras et al. 2022, Alg. 2: Heun or Euler, optional
// churn) with SIMS guidance D = (1+omega) D_base - omega D_aux inside the
// guidance interval. Update arithmetic in float64 like the reference;
// networks are called in their own dtype. Records trajectories for the step
// viewer, reports every step to a callback (progressive display and
// cancellation), and can resume from any recorded state (prefix reuse: the
// unguided prefix of a trajectory does not depend on omega).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/Tensor.h>

#include "diffusion/denoiser.hpp"
#include "sampling/pair_evaluator.hpp"
#include "sampling/schedule.hpp"

namespace sims {

struct StepEvent {
  int step;                    // index of the step just completed (0-based)
  int steps;                   // total steps
  double sigma;                // t_{step+1}: noise level of the new state
  const at::Tensor& x;         // state after the step (float64)
  const at::Tensor& denoised;  // D(x_hat; t_hat) of this step (float64)
};
// Return false to cancel (the sampler then throws sims::Cancelled).
using StepCallback = std::function<bool(const StepEvent&)>;

struct Trajectory {
  std::vector<double> t;              // t_0 .. t_N
  std::vector<at::Tensor> states;     // x_0 .. x_N (float64)
  std::vector<at::Tensor> denoised;   // D at t_hat_i for each step i (float64)
  // [steps+1, N, ...] stacked states (what --trajectory writes).
  at::Tensor stacked_states() const;
  at::Tensor stacked_denoised() const;
};

struct SampleOptions {
  uint64_t seed = 0;                  // seeds the churn noise (per step, so resuming reproduces it)
  bool record_trajectory = false;
  StepCallback on_step;
  const std::atomic<bool>* cancel = nullptr;
  PairMode pair_mode = PairMode::Auto;
};

struct SampleResult {
  at::Tensor x;             // final samples (float64)
  Trajectory trajectory;    // when recorded
  int nfe = 0;              // network evaluations per sample (base + aux)
  int base_evals = 0, aux_evals = 0;
  // The auxiliary shared the base's encoder (a decoder-only fine-tune,
  // pair_evaluator.hpp): each of its evaluations was a decoder only.
  bool shared_encoder = false;
  // Network evaluations per sample counting a shared-encoder auxiliary
  // evaluation as half of one (the SIMS paper's count: NFE 1.5x, not 2x).
  double nfe_effective = 0;
  double seconds = 0;       // wall time of the sampling loop
  bool concurrent_pair = false;
};

class EdmSampler {
 public:
  // aux may be null (plain sampling of the base model).
  EdmSampler(DenoiserPtr base, DenoiserPtr aux, SamplerConfig cfg, Guidance guidance);

  // x_0 = noise * t_0; noise has unit variance, shape [N, ...sample_shape].
  SampleResult sample(const at::Tensor& noise, const SampleOptions& opts = {});

  // Continues from `prev`'s state at the start of step k (k must not exceed
  // the number of recorded states - 1). The result's trajectory includes
  // prev's prefix (shared, not copied). Equals a full run whenever the
  // states up to k did not depend on the settings that changed.
  SampleResult resume(const Trajectory& prev, int k, const SampleOptions& opts = {});

  // The largest k for which resuming a run made with `old_g` under the new
  // guidance equals a full run with the new guidance (same sampler config).
  int reusable_prefix(const Guidance& old_g) const;

  const SamplerConfig& config() const { return cfg_; }
  const Guidance& guidance() const { return g_; }
  void set_guidance(const Guidance& g);

 private:
  SampleResult run(at::Tensor x, int k0, const SampleOptions& opts, Trajectory traj);

  DenoiserPtr base_, aux_;
  SamplerConfig cfg_;
  Guidance g_;
  std::vector<double> t_;
};

// Unit-variance starting noise drawn from a seed: float64 normal from
// LibTorch's CPU Mersenne-Twister generator, identical on every machine
// running the same build.
at::Tensor seeded_noise(int64_t n, const std::vector<int64_t>& sample_shape, uint64_t seed);

}  // namespace sims
