#include "sampling/edm_sampler.hpp"

#include <chrono>
#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include "common/error.hpp"

namespace sims {
namespace {

uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

at::Tensor stack_or_empty(const std::vector<at::Tensor>& v) {
  return v.empty() ? at::Tensor() : at::stack(v, 0);
}

}  // namespace

at::Tensor Trajectory::stacked_states() const { return stack_or_empty(states); }
at::Tensor Trajectory::stacked_denoised() const { return stack_or_empty(denoised); }

at::Tensor seeded_noise(int64_t n, const std::vector<int64_t>& sample_shape, uint64_t seed) {
  if (n <= 0) throw InputError("--n must be positive");
  std::vector<int64_t> shape{n};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::normal(0.0, 1.0, shape, gen, at::TensorOptions().dtype(at::kDouble));
}

EdmSampler::EdmSampler(DenoiserPtr base, DenoiserPtr aux, SamplerConfig cfg, Guidance guidance)
    : base_(std::move(base)), aux_(std::move(aux)), cfg_(cfg), g_(guidance) {
  if (!base_) throw InputError("a base model is required");
  cfg_.validate();
  g_.validate();
  if (aux_ && aux_->info().sample_shape != base_->info().sample_shape)
    throw InputError("the auxiliary model's samples are " + shape_to_string(aux_->info().sample_shape) +
                     " but the base model's are " + shape_to_string(base_->info().sample_shape));
  t_ = edm_time_steps(cfg_);
}

void EdmSampler::set_guidance(const Guidance& g) {
  g.validate();
  g_ = g;
}

int EdmSampler::reusable_prefix(const Guidance& old_g) const {
  if (!aux_) return cfg_.steps;
  const int now = first_guided_step(cfg_, g_);
  // A run at omega = 0 is the base model everywhere, so all of it is "unguided".
  const int before = old_g.omega == 0.0 ? cfg_.steps : first_guided_step(cfg_, old_g);
  if (g_.omega == 0.0) return before;
  return std::min(now, before);
}

SampleResult EdmSampler::sample(const at::Tensor& noise, const SampleOptions& opts) {
  const auto& shape = base_->info().sample_shape;
  if (noise.dim() != static_cast<int64_t>(shape.size()) + 1 ||
      !std::equal(shape.begin(), shape.end(), noise.sizes().begin() + 1))
    throw InputError("noise has shape " + c10::str(noise.sizes()) + " but the model's samples are " +
                     shape_to_string(shape) + " (expected [N, " + shape_to_string(shape) + "])");
  if (noise.size(0) == 0) throw InputError("noise has no rows");
  at::Tensor x = noise.to(base_->device(), at::kDouble) * t_[0];
  Trajectory traj;
  return run(std::move(x), 0, opts, std::move(traj));
}

SampleResult EdmSampler::resume(const Trajectory& prev, int k, const SampleOptions& opts) {
  if (k < 0 || k >= static_cast<int>(prev.states.size()) || k > cfg_.steps)
    throw InputError("cannot resume at step " + std::to_string(k) + ": the trajectory has " +
                     std::to_string(prev.states.size()) + " states");
  if (prev.t != t_) throw InputError("cannot resume: the trajectory was made with other time steps");
  Trajectory traj;
  if (opts.record_trajectory) {
    traj.states.assign(prev.states.begin(), prev.states.begin() + k);
    traj.denoised.assign(prev.denoised.begin(), prev.denoised.begin() + std::min<size_t>(k, prev.denoised.size()));
  }
  return run(prev.states[k], k, opts, std::move(traj));
}

SampleResult EdmSampler::run(at::Tensor x, int k0, const SampleOptions& opts, Trajectory traj) {
  c10::InferenceMode guard;
  const auto start = std::chrono::steady_clock::now();
  PairEvaluator pair(*base_, aux_.get(), opts.pair_mode);
  SampleResult res;
  res.concurrent_pair = pair.concurrent();
  traj.t = t_;
  const int N = cfg_.steps;
  const double omega = g_.omega;

  auto eval = [&](const at::Tensor& xs, double sigma) -> at::Tensor {
    const bool guided = aux_ && g_.applies(sigma);
    auto [db, da] = pair.evaluate(xs, sigma, guided);
    res.base_evals++;
    if (!guided) return db;
    res.aux_evals++;
    // (1+w) D_base - w D_aux, in float64.
    return db.mul(1.0 + omega).sub_(da, omega);
  };

  for (int i = k0; i < N; ++i) {
    if (opts.cancel && opts.cancel->load(std::memory_order_relaxed)) throw Cancelled();
    if (opts.record_trajectory) traj.states.push_back(x);
    const double t_cur = t_[i], t_next = t_[i + 1];
    const double gamma = churn_gamma(cfg_, t_cur);
    const double t_hat = t_cur * (1.0 + gamma);
    at::Tensor x_hat = x;
    if (gamma > 0) {
      // Per-step generator: the same noise whether the run started at 0 or was resumed.
      auto gen = at::make_generator<at::CPUGeneratorImpl>(splitmix64(opts.seed ^ splitmix64(static_cast<uint64_t>(i) + 1)));
      at::Tensor eps = at::normal(0.0, 1.0, x.sizes(), gen, at::TensorOptions().dtype(at::kDouble)).to(x.device());
      x_hat = x + eps.mul_(std::sqrt(t_hat * t_hat - t_cur * t_cur) * cfg_.s_noise);
    }
    at::Tensor denoised = eval(x_hat, t_hat);
    at::Tensor d_cur = (x_hat - denoised).div_(t_hat);
    at::Tensor x_next = x_hat + d_cur * (t_next - t_hat);
    if (cfg_.kind == SamplerKind::Heun && i < N - 1) {
      at::Tensor d_prime = (x_next - eval(x_next, t_next)).div_(t_next);
      x_next = x_hat + (d_cur.mul_(0.5).add_(d_prime, 0.5)).mul_(t_next - t_hat);
    }
    x = std::move(x_next);
    if (opts.record_trajectory) traj.denoised.push_back(denoised);
    if (opts.on_step && !opts.on_step(StepEvent{i, N, t_next, x, denoised})) throw Cancelled();
  }
  if (opts.record_trajectory) traj.states.push_back(x);
  if (!x.isfinite().all().item<bool>())
    throw ModelError("sampling produced NaN/Inf values: the model diverged for these settings (check the models, "
                     "omega and the sigma range)");
  res.x = x;
  res.trajectory = std::move(traj);
  res.nfe = res.base_evals + res.aux_evals;
  res.shared_encoder = pair.shared_encoder();
  res.nfe_effective = res.base_evals + (res.shared_encoder ? 0.5 : 1.0) * res.aux_evals;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return res;
}

}  // namespace sims
