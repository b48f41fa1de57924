#include "loops/ddpm_ensemble.hpp"

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <torch/autograd.h>
#include <torch/optim/adam.h>
#include <torch/utils.h>

#include "common/error.hpp"
#include "training/step_rules.hpp"

namespace sims::loops {

double DdpmSchedule::sigma(int64_t t) const {
  const double ab = alpha_bar.at(static_cast<size_t>(t));
  return std::sqrt((1.0 - ab) / ab);
}

DdpmSchedule DdpmSchedule::cosine(int64_t steps, double s) {
  if (steps < 2 || steps > 100000) throw InputError("DDPM steps must be in [2, 100000]");
  if (!(s > 0) || !(s < 1)) throw InputError("the cosine schedule's offset s must be in (0, 1)");
  auto f = [&](double t) {
    const double c = std::cos((t / static_cast<double>(steps) + s) / (1.0 + s) * M_PI / 2.0);
    return c * c;
  };
  DdpmSchedule sc;
  for (int64_t t = 0; t < steps; ++t) sc.alpha_bar.push_back(f(static_cast<double>(t)) / f(0.0));
  for (int64_t t = 0; t < steps; ++t)
    sc.beta.push_back(t == 0 ? 0.0 : 1.0 - sc.alpha_bar[static_cast<size_t>(t)] / sc.alpha_bar[static_cast<size_t>(t - 1)]);
  return sc;
}

DdpmEnsemble DdpmEnsemble::clone() const {
  DdpmEnsemble c;
  c.net = net;
  for (const auto& t : p) c.p.push_back(t.detach().clone());
  return c;
}

void DdpmTrainConfig::validate() const {
  if (batch < 1) throw InputError("DDPM batch must be >= 1");
  if (!(lr > 0) || !std::isfinite(lr)) throw InputError("DDPM learning rate must be > 0");
  if (!(lr_end > 0) || lr_end > 1) throw InputError("DDPM final learning-rate factor must be in (0, 1]");
  if (epochs < 1) throw InputError("DDPM epochs must be >= 1");
}

DdpmEnsemble create_ddpm_ensemble(const DdpmNet& net, const std::vector<uint64_t>& seeds) {
  if (seeds.empty()) throw InputError("an ensemble needs at least one member");
  if (net.dim < 1 || net.width < 1 || net.blocks < 0) throw InputError("bad DDPM network shape");
  const int64_t R = static_cast<int64_t>(seeds.size()), D = net.dim, W = net.width;
  DdpmEnsemble e;
  e.net = net;
  const auto fopt = at::TensorOptions().dtype(at::kFloat);
  // Linear layers in order: (fan_in, fan_out); each adds W [R, in, out] and b [R, 1, out].
  std::vector<std::pair<int64_t, int64_t>> lin{{D + 1, W}};
  for (int64_t k = 0; k < net.blocks; ++k) {
    lin.emplace_back(W + 1, W + 1);
    lin.emplace_back(W + 1, W);
  }
  lin.emplace_back(W, D);
  std::vector<at::Tensor> ws, bs;
  for (const auto& [i, o] : lin) {
    ws.push_back(at::empty({R, i, o}, fopt));
    bs.push_back(at::empty({R, 1, o}, fopt));
  }
  for (int64_t r = 0; r < R; ++r) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seeds[static_cast<size_t>(r)]);
    for (size_t l = 0; l < lin.size(); ++l) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(lin[l].first));
      ws[l][r].uniform_(-bound, bound, gen);
      bs[l][r].uniform_(-bound, bound, gen);
    }
  }
  e.p = {ws[0], bs[0]};
  for (int64_t k = 0; k < net.blocks; ++k) {
    const size_t l = 1 + 2 * static_cast<size_t>(k);
    e.p.insert(e.p.end(), {ws[l], bs[l], at::ones({R, 1, W + 1}, fopt), at::zeros({R, 1, W + 1}, fopt), ws[l + 1],
                           bs[l + 1], at::ones({R, 1, W}, fopt), at::zeros({R, 1, W}, fopt)});
  }
  e.p.push_back(ws.back());
  e.p.push_back(bs.back());
  return e;
}

at::Tensor ddpm_eps(const DdpmEnsemble& e, const at::Tensor& x, const at::Tensor& t) {
  const auto& p = e.p;
  const int64_t W = e.net.width;
  at::Tensor h = at::baddbmm(p[1], at::cat({x, t}, 2), p[0]);
  for (int64_t k = 0; k < e.net.blocks; ++k) {
    const size_t o = 2 + 8 * static_cast<size_t>(k);
    at::Tensor v = at::baddbmm(p[o + 1], at::cat({h, t}, 2), p[o]);
    v = at::relu(at::layer_norm(v, {W + 1}) * p[o + 2] + p[o + 3]);
    v = at::baddbmm(p[o + 5], v, p[o + 4]);
    v = at::relu(at::layer_norm(v, {W}) * p[o + 6] + p[o + 7]);
    h = h + v;
  }
  return at::baddbmm(p[p.size() - 1], h, p[p.size() - 2]);
}

double train_ddpm_ensemble(DdpmEnsemble& e, const DdpmTrainConfig& cfg, const DdpmSchedule& sched,
                           const at::Tensor& data_in, const std::vector<uint64_t>& seeds,
                           const EnsembleTrainOptions& opts) {
  cfg.validate();
  const int64_t R = e.members(), D = e.net.dim, T = sched.steps();
  if (static_cast<int64_t>(seeds.size()) != R) throw InputError("one training seed per ensemble member is needed");
  if (data_in.dim() != 3 || data_in.size(0) != R || data_in.size(1) < 1 || data_in.size(2) != D)
    throw InputError("ensemble training data must be [R, N, " + std::to_string(D) + "] with R = " +
                     std::to_string(R) + " and N >= 1");
  const at::Tensor data = data_in.to(at::kFloat).contiguous();
  if (!data.isfinite().all().item<bool>()) throw InputError("training data contains NaN/Inf");
  const int64_t N = data.size(1);
  const at::Tensor ab = at::tensor(sched.alpha_bar, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat);
  const auto lopt = at::TensorOptions().dtype(at::kLong), fopt = at::TensorOptions().dtype(at::kFloat);

  for (auto& t : e.p) t.set_requires_grad(true);
  torch::optim::Adam adam(e.p, torch::optim::AdamOptions(cfg.lr).betas({0.9, 0.999}).eps(1e-8));
  double last = NAN;
  for (int64_t epoch = 0; epoch < cfg.epochs; ++epoch) {
    if (opts.cancel && opts.cancel->load(std::memory_order_relaxed)) throw Cancelled();
    const double lr = cfg.lr * (1.0 + (cfg.lr_end - 1.0) * static_cast<double>(epoch) / static_cast<double>(cfg.epochs));
    for (auto& g : adam.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
    // The epoch's draws, member by member: an order of its set, then a step and a noise per point.
    std::vector<at::Tensor> perm(R), steps(R), noise(R);
    for (int64_t r = 0; r < R; ++r) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(mix_seed(seeds[static_cast<size_t>(r)], static_cast<uint64_t>(epoch)));
      perm[r] = at::randperm(N, gen, lopt);
      steps[r] = at::randint(0, T, {N}, gen, lopt);
      noise[r] = at::normal(0.0, 1.0, {N, D}, gen, fopt);
    }
    const at::Tensor order = at::stack(perm).unsqueeze(2).expand({R, N, D});
    const at::Tensor x0_all = data.gather(1, order), t_all = at::stack(steps), eps_all = at::stack(noise);
    double sum = 0;
    int64_t n_batches = 0;
    for (int64_t start = 0; start < N; start += cfg.batch) {
      const int64_t b = std::min(cfg.batch, N - start);
      const at::Tensor x0 = x0_all.narrow(1, start, b), tb = t_all.narrow(1, start, b), eps = eps_all.narrow(1, start, b);
      const at::Tensor a = ab.index_select(0, tb.reshape({-1})).reshape({R, b, 1});
      const at::Tensor xt = a.sqrt() * x0 + (1 - a).sqrt() * eps;
      const at::Tensor losses = (ddpm_eps(e, xt, tb.to(at::kFloat).unsqueeze(2)) - eps).square().mean({1, 2});
      adam.zero_grad();
      losses.sum().backward();
      sanitize_gradients(e.p);
      adam.step();
      sum += losses.detach().mean().item<double>();
      ++n_batches;
    }
    last = sum / static_cast<double>(n_batches);
    if (opts.on_progress) opts.on_progress(epoch + 1, cfg.epochs, last);
  }
  for (auto& t : e.p) {
    t.set_requires_grad(false);
    t.mutable_grad() = at::Tensor();
  }
  return last;
}

at::Tensor ddpm_step_noise(int64_t n, int64_t dim, const std::vector<uint64_t>& seeds, int64_t t) {
  std::vector<at::Tensor> v;
  v.reserve(seeds.size());
  for (uint64_t s : seeds) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(mix_seed(s, static_cast<uint64_t>(t)));
    v.push_back(at::normal(0.0, 1.0, {n, dim}, gen, at::TensorOptions().dtype(at::kDouble)));
  }
  return at::stack(v);
}

at::Tensor ddpm_ancestral(const DdpmEpsFn& eps, const at::Tensor& noise, const DdpmSchedule& sched,
                          const std::vector<uint64_t>& seeds, const std::atomic<bool>* cancel) {
  if (noise.dim() != 3 || noise.size(0) != static_cast<int64_t>(seeds.size()))
    throw InputError("DDPM noise must be [R, n, D] with one seed per member");
  at::Tensor x = noise.to(at::kDouble).clone();
  for (int64_t t = sched.steps() - 1; t >= 1; --t) {
    if (cancel && cancel->load(std::memory_order_relaxed)) throw Cancelled();
    const double beta = sched.beta[static_cast<size_t>(t)], ab = sched.alpha_bar[static_cast<size_t>(t)];
    x = (x - eps(x, t) * (beta / std::sqrt(1.0 - ab))) / std::sqrt(1.0 - beta);
    if (t > 1) x.add_(ddpm_step_noise(x.size(1), x.size(2), seeds, t), std::sqrt(beta));
  }
  return x;
}

at::Tensor sample_ddpm_ensemble(const DdpmEnsemble& base, const DdpmEnsemble* aux, const at::Tensor& noise,
                                const DdpmSchedule& sched, const Guidance& g, const std::vector<uint64_t>& seeds,
                                const std::atomic<bool>* cancel) {
  g.validate();
  const int64_t R = base.members();
  if (noise.dim() != 3 || noise.size(0) != R || noise.size(2) != base.net.dim)
    throw InputError("ensemble noise must be [R, n, D] with R = " + std::to_string(R));
  if (aux && aux->members() != R) throw InputError("the auxiliary ensemble has a different number of members");
  c10::InferenceMode guard;
  const bool use_aux = aux != nullptr && g.omega != 0.0;
  auto eps = [&](const at::Tensor& x, int64_t t) -> at::Tensor {
    const at::Tensor xf = x.to(at::kFloat);
    const at::Tensor tt = at::full({R, x.size(1), 1}, static_cast<double>(t), at::TensorOptions().dtype(at::kFloat));
    at::Tensor eb = ddpm_eps(base, xf, tt).to(at::kDouble);
    if (!use_aux || !g.applies(sched.sigma(t))) return eb;
    const at::Tensor ea = ddpm_eps(*aux, xf, tt).to(at::kDouble);
    return eb.mul_(1.0 + g.omega).sub_(ea, g.omega);
  };
  at::Tensor x = ddpm_ancestral(eps, noise, sched, seeds, cancel);
  if (!x.isfinite().all().item<bool>())
    throw ModelError("DDPM sampling produced NaN/Inf values (a member diverged; check omega and the budgets)");
  return x;
}

}  // namespace sims::loops
