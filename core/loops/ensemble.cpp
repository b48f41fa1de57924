#include "loops/ensemble.hpp"

#include <cmath>
#include <mutex>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <torch/autograd.h>
#include <torch/optim/adam.h>
#include <torch/utils.h>

#include "common/error.hpp"
#include "kernels/ensemble_mlp.hpp"

namespace sims::loops {

EnsembleWeights EnsembleWeights::clone() const {
  EnsembleWeights c;
  for (const auto& t : w) c.w.push_back(t.detach().clone());
  for (const auto& t : b) c.b.push_back(t.detach().clone());
  return c;
}

std::vector<at::Tensor> EnsembleWeights::all() const {
  std::vector<at::Tensor> v;
  for (size_t l = 0; l < w.size(); ++l) {
    v.push_back(w[l]);
    v.push_back(b[l]);
  }
  return v;
}

namespace {

void check_mlp(const NetConfig& net) {
  if (net.type != "mlp") throw InputError("the ensemble supports MLP networks only (got '" + net.type + "')");
}

// The Linear layers' parameters of an EdmMlp, in order (weight [out, in], bias [out]).
std::vector<at::Tensor> mlp_params(const EdmNetwork& net) { return net.parameters(true); }

at::Tensor fourier_freqs(const NetConfig& net) {
  return at::pow(2.0, at::arange(net.emb_freqs, at::TensorOptions().dtype(at::kFloat))) * M_PI;
}

}  // namespace

void copy_member_from(EnsembleWeights& w, int64_t r, const EdmNetwork& net) {
  torch::NoGradGuard ng;
  auto p = mlp_params(net);
  if (p.size() != 2 * w.w.size()) throw InputError("network does not match the ensemble's layers");
  for (size_t l = 0; l < w.w.size(); ++l) {
    w.w[l][r].copy_(p[2 * l].t());
    w.b[l][r][0].copy_(p[2 * l + 1]);
  }
}

void copy_member_to(const EnsembleWeights& w, int64_t r, EdmNetwork& net) {
  torch::NoGradGuard ng;
  auto p = mlp_params(net);
  if (p.size() != 2 * w.w.size()) throw InputError("network does not match the ensemble's layers");
  for (size_t l = 0; l < w.w.size(); ++l) {
    p[2 * l].copy_(w.w[l][r].t());
    p[2 * l + 1].copy_(w.b[l][r][0]);
  }
}

EnsembleState create_ensemble(const NetConfig& net, const std::vector<uint64_t>& seeds) {
  check_mlp(net);
  if (seeds.empty()) throw InputError("an ensemble needs at least one member");
  const int64_t R = static_cast<int64_t>(seeds.size());
  EnsembleState st;
  st.net = net;
  const int64_t in = net.dim + 1 + 2 * net.emb_freqs;
  auto opt = at::TensorOptions().dtype(at::kFloat);
  for (int64_t l = 0; l <= net.depth; ++l) {
    const int64_t i = l == 0 ? in : net.width, o = l == net.depth ? net.dim : net.width;
    st.raw.w.push_back(at::zeros({R, i, o}, opt));
    st.raw.b.push_back(at::zeros({R, 1, o}, opt));
  }
  // Exactly TrainState::create's draws: the global generator seeded, then the
  // network built. The global generator is shared: ensembles created on
  // several threads at once (parallel loop workers) take turns.
  static std::mutex global_rng;
  std::lock_guard<std::mutex> lock(global_rng);
  for (int64_t r = 0; r < R; ++r) {
    torch::manual_seed(seeds[static_cast<size_t>(r)]);
    EdmMlp m(net);
    copy_member_from(st.raw, r, m);
  }
  st.ema = st.raw.clone();
  return st;
}

EnsembleState fork_ensemble(const EnsembleState& from) {
  EnsembleState st;
  st.net = from.net;
  st.raw = from.ema.clone();
  st.ema = from.ema.clone();
  return st;
}

at::Tensor ensemble_denoise(const NetConfig& net, const EnsembleWeights& w, const at::Tensor& x, const at::Tensor& sigma) {
  const int64_t R = x.size(0), B = x.size(1);
  at::Tensor s = sigma.reshape({R, B, 1}).to(x.scalar_type());
  Precond p = edm_precond(s, net.sigma_data);
  std::vector<at::Tensor> parts{x * p.c_in, p.c_noise};
  if (net.emb_freqs > 0) {
    at::Tensor a = p.c_noise * fourier_freqs(net).to(x.scalar_type());
    parts.push_back(a.sin());
    parts.push_back(a.cos());
  }
  at::Tensor h = at::cat(parts, 2);
  const size_t L = w.w.size();
  for (size_t l = 0; l + 1 < L; ++l) h = at::silu(at::baddbmm(w.b[l], h, w.w[l]));
  at::Tensor f = at::baddbmm(w.b[L - 1], h, w.w[L - 1]);
  return p.c_skip * x + p.c_out * f;
}

at::Tensor ensemble_denoise_at(const NetConfig& net, const EnsembleWeights& w, const at::Tensor& x, double sigma,
                               KernelPath path) {
  const int64_t D = x.size(2);
  at::Tensor s = at::full({1, 1}, sigma, at::TensorOptions().dtype(x.scalar_type()));
  Precond p = edm_precond(s, net.sigma_data);
  std::vector<at::Tensor> parts{p.c_noise};
  if (net.emb_freqs > 0) {
    at::Tensor a = p.c_noise * fourier_freqs(net).to(x.scalar_type()).unsqueeze(0);
    parts.push_back(a.sin());
    parts.push_back(a.cos());
  }
  at::Tensor emb = at::cat(parts, 1);  // [1, 1 + 2k]
  // First layer: x-part by batched matmul, the embedding's part folded into the bias.
  at::Tensor w0 = w.w[0];
  at::Tensor bias0 = w.b[0] + at::matmul(emb, w0.narrow(1, D, w0.size(1) - D));  // [R, 1, out]
  const double c_in = p.c_in.item<double>(), c_skip = p.c_skip.item<double>(), c_out = p.c_out.item<double>();
  if (x.scalar_type() == at::kFloat && !(at::GradMode::is_enabled() && w.w[0].requires_grad()) &&
      kernels::ensemble_fast_fits(w.w, w.b, net.width, net.dim) &&
      kernels::use_fast(path, kernels::KernelFamily::Ensemble))
    return kernels::ensemble_forward_at_fast(w.w, w.b, x, bias0, c_in, c_skip, c_out);
  return kernels::ensemble_forward_at_reference(w.w, w.b, x, bias0, c_in, c_skip, c_out);
}

at::Tensor ensemble_edm_loss(const NetConfig& net, const EnsembleWeights& w, const at::Tensor& y, const at::Tensor& sigma,
                             const at::Tensor& noise) {
  const double sd = net.sigma_data;
  at::Tensor s = sigma.reshape({y.size(0), y.size(1), 1});
  at::Tensor weight = (s * s + sd * sd) / (s * sd).square();
  at::Tensor d = ensemble_denoise(net, w, y + noise * s, sigma);
  return (weight * (d - y).square()).sum(2).mean(1);
}

namespace {

// The step's random draws, exactly as the trainer makes them (see the header):
// member r's generator is seeded by mix(seed_r, step).
void draw_batch(const at::Tensor& flat, const at::Tensor& offsets, int64_t N, int64_t D, int64_t b, int64_t step,
                const TrainConfig& tc, const std::vector<uint64_t>& seeds, at::Tensor& y, at::Tensor& sigma,
                at::Tensor& noise) {
  const int64_t R = static_cast<int64_t>(seeds.size());
  std::vector<at::Tensor> idx(R), sig(R), nz(R);
  const auto lopt = at::TensorOptions().dtype(at::kLong), fopt = at::TensorOptions().dtype(at::kFloat);
  for (int64_t r = 0; r < R; ++r) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(mix_seed(seeds[static_cast<size_t>(r)], static_cast<uint64_t>(step)));
    idx[r] = at::randint(0, N, {b}, gen, lopt);
    sig[r] = (at::normal(0.0, 1.0, {b}, gen, fopt) * tc.p_std + tc.p_mean).exp();
    nz[r] = at::normal(0.0, 1.0, {b, D}, gen, fopt);
  }
  y = flat.index_select(0, (at::stack(idx) + offsets).reshape({-1})).reshape({R, b, D});
  sigma = at::stack(sig);
  noise = at::stack(nz);
}

// Re-points the weights at views of one flat buffer (Adam and the EMA then
// run as a handful of operations on one tensor) and returns the buffer.
at::Tensor flatten_into_one(EnsembleWeights& w) {
  std::vector<at::Tensor> parts;
  for (const auto& t : w.all()) parts.push_back(t.detach().reshape({-1}));
  at::Tensor flat = at::cat(parts);
  int64_t off = 0;
  auto view = [&](at::Tensor& t) {
    const int64_t n = t.numel();
    t = flat.narrow(0, off, n).view(t.sizes());
    off += n;
  };
  for (size_t l = 0; l < w.w.size(); ++l) {
    view(w.w[l]);
    view(w.b[l]);
  }
  return flat;
}

// Views of a flat gradient buffer shaped like the weights.
void grad_views(const EnsembleWeights& like, const at::Tensor& flat, std::vector<at::Tensor>& gw,
                std::vector<at::Tensor>& gb) {
  int64_t off = 0;
  for (size_t l = 0; l < like.w.size(); ++l) {
    gw.push_back(flat.narrow(0, off, like.w[l].numel()).view(like.w[l].sizes()));
    off += like.w[l].numel();
    gb.push_back(flat.narrow(0, off, like.b[l].numel()).view(like.b[l].sizes()));
    off += like.b[l].numel();
  }
}

}  // namespace

namespace {

// The loop both training paths share: a batch drawn per step (draw_batch),
// cancellation, and the mean loss over each progress window. step(b, y,
// sigma, noise) updates the weights, images_seen and the EMA, and returns the
// members' losses [R].
template <class Step>
double run_training_steps(EnsembleState& st, const TrainConfig& tc, const at::Tensor& flat, const at::Tensor& offsets,
                          int64_t N, const std::vector<uint64_t>& seeds, const EnsembleTrainOptions& opts,
                          Step&& step) {
  const int64_t start = st.images_seen;
  const int64_t progress_every =
      opts.progress_every > 0 ? opts.progress_every : std::max<int64_t>(tc.batch, (tc.budget - start) / 20);
  int64_t next_progress = st.images_seen + progress_every;
  at::Tensor loss_acc = at::zeros({}, at::kDouble);
  int64_t loss_count = 0;
  double last_mean = NAN;
  at::Tensor y, sigma, noise;
  while (st.images_seen < tc.budget) {
    if (opts.cancel && opts.cancel->load(std::memory_order_relaxed)) throw Cancelled();
    const int64_t b = std::min(tc.batch, tc.budget - st.images_seen);
    draw_batch(flat, offsets, N, st.net.dim, b, st.images_seen / tc.batch, tc, seeds, y, sigma, noise);
    const at::Tensor losses = step(b, y, sigma, noise);
    {
      torch::NoGradGuard ng;
      loss_acc += losses.detach().to(at::kDouble).nan_to_num(0.0, 0.0, 0.0).mean();
      ++loss_count;
    }
    if (st.images_seen >= next_progress || st.images_seen >= tc.budget) {
      last_mean = loss_count ? loss_acc.item<double>() / static_cast<double>(loss_count) : NAN;
      loss_acc.zero_();
      loss_count = 0;
      next_progress += progress_every;
      if (opts.on_progress) opts.on_progress(st.images_seen, tc.budget, last_mean);
    }
  }
  return last_mean;
}

}  // namespace

// train_ensemble with the fast loss+gradient kernel (kernels/ensemble_mlp.hpp)
// instead of autograd: the same draws,
// loss, Adam arithmetic (torch::optim::Adam's, operation for operation),
// non-finite guard and EMA as the general path below, on flat buffers.
static double train_ensemble_fused(EnsembleState& st, const TrainConfig& tc, const at::Tensor& flat_data,
                                  const at::Tensor& offsets, int64_t N, const std::vector<uint64_t>& seeds,
                                  const EnsembleTrainOptions& opts) {
  torch::NoGradGuard no_grad;  // nothing here requires grad; the weights stay ordinary tensors
  const int64_t R = st.members();
  at::Tensor p = flatten_into_one(st.raw), e = flatten_into_one(st.ema);
  at::Tensor g = at::zeros_like(p), m = at::zeros_like(p), v = at::zeros_like(p);
  std::vector<at::Tensor> gw, gb;
  grad_views(st.raw, g, gw, gb);
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8, sd = st.net.sigma_data;
  const at::Tensor freqs = fourier_freqs(st.net);
  at::Tensor losses = at::zeros({R}, at::kFloat);
  int64_t adam_step = 0;

  return run_training_steps(st, tc, flat_data, offsets, N, seeds, opts, [&](int64_t b, const at::Tensor& y,
                                                                           const at::Tensor& sigma,
                                                                           const at::Tensor& noise) {
    // The network input and the loss's per-row factors, as ensemble_edm_loss computes them.
    const at::Tensor s = sigma.reshape({R, b, 1});
    const Precond pc = edm_precond(s, sd);
    const at::Tensor x = y + noise * s;
    std::vector<at::Tensor> parts{x * pc.c_in, pc.c_noise};
    if (st.net.emb_freqs > 0) {
      const at::Tensor a = pc.c_noise * freqs;
      parts.push_back(a.sin());
      parts.push_back(a.cos());
    }
    const at::Tensor h0 = at::cat(parts, 2).contiguous();
    const at::Tensor base = (pc.c_skip * x - y).contiguous();
    const at::Tensor wgt = ((s * s + sd * sd) / (s * sd).square()).reshape({R, b}).contiguous();
    const at::Tensor c_out = pc.c_out.reshape({R, b}).contiguous();
    kernels::ensemble_loss_and_grad_fast(st.raw.w, st.raw.b, h0, base, c_out, wgt, gw, gb, losses);

    // Non-finite gradients are zeroed for the step (sanitize_gradients' rule).
    if (!g.sum().isfinite().item<bool>()) {
      g.nan_to_num_(0.0, 1e5, -1e5);
      ++st.nonfinite_grad_steps;
    }
    // Adam (torch::optim::Adam, amsgrad off, no weight decay).
    const double lr = ramped_lr(tc, st.images_seen + b);
    ++adam_step;
    const double bc1 = 1 - std::pow(b1, static_cast<double>(adam_step));
    const double bc2 = 1 - std::pow(b2, static_cast<double>(adam_step));
    m.mul_(b1).add_(g, 1 - b1);
    v.mul_(b2).addcmul_(g, g, 1 - b2);
    const at::Tensor denom = (v.sqrt() / std::sqrt(bc2)).add_(eps);
    p.addcdiv_(m, denom, -lr / bc1);
    st.images_seen += b;
    e.lerp_(p, 1.0 - ema_beta(tc, st.images_seen, b));
    return losses;
  });
}

double train_ensemble(EnsembleState& st, const TrainConfig& tc, const at::Tensor& data_in,
                      const std::vector<uint64_t>& seeds, const EnsembleTrainOptions& opts) {
  tc.validate();
  const int64_t R = st.members();
  if (static_cast<int64_t>(seeds.size()) != R) throw InputError("one training seed per ensemble member is needed");
  if (data_in.dim() != 3 || data_in.size(0) != R || data_in.size(1) < 1 || data_in.size(2) != st.net.dim)
    throw InputError("ensemble training data must be [R, N, " + std::to_string(st.net.dim) + "] with R = " +
                     std::to_string(R) + " and N >= 1");
  at::Tensor data = data_in.to(at::kFloat).contiguous();
  if (!data.isfinite().all().item<bool>()) throw InputError("training data contains NaN/Inf");
  const int64_t N = data.size(1), D = data.size(2);
  at::Tensor flat = data.reshape({R * N, D});
  at::Tensor offsets = (at::arange(R, at::TensorOptions().dtype(at::kLong)) * N).unsqueeze(1);

  const auto fits = [&](const EnsembleWeights& w) { return kernels::ensemble_fast_fits(w.w, w.b, st.net.width, st.net.dim); };
  if (fits(st.raw) && fits(st.ema) && kernels::use_fast(opts.kernels, kernels::KernelFamily::Ensemble))
    return train_ensemble_fused(st, tc, flat, offsets, N, seeds, opts);

  auto params = st.raw.all();
  auto ema = st.ema.all();
  for (auto& p : params) p.set_requires_grad(true);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(tc.lr).betas({0.9, 0.999}).eps(1e-8));

  const double last_mean = run_training_steps(st, tc, flat, offsets, N, seeds, opts, [&](int64_t b, const at::Tensor& y,
                                                                                          const at::Tensor& sigma,
                                                                                          const at::Tensor& noise) {
    const double lr = ramped_lr(tc, st.images_seen + b);
    for (auto& g : adam.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
    adam.zero_grad();
    at::Tensor losses = ensemble_edm_loss(st.net, st.raw, y, sigma, noise);
    losses.sum().backward();
    st.nonfinite_grad_steps += sanitize_gradients(params);
    adam.step();
    st.images_seen += b;
    ema_update(ema, params, ema_beta(tc, st.images_seen, b));
    return losses;
  });
  for (auto& p : params) {
    p.set_requires_grad(false);
    p.mutable_grad() = at::Tensor();
  }
  return last_mean;
}

at::Tensor ensemble_noise(int64_t n, int64_t dim, const std::vector<uint64_t>& seeds) {
  if (n < 1) throw InputError("sample count must be >= 1");
  std::vector<at::Tensor> v;
  v.reserve(seeds.size());
  for (uint64_t s : seeds) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(s);
    v.push_back(at::normal(0.0, 1.0, {n, dim}, gen, at::TensorOptions().dtype(at::kDouble)));
  }
  return at::stack(v);
}

at::Tensor sample_ensemble(const EnsembleState& base, const EnsembleState* aux, const at::Tensor& noise,
                           const SamplerConfig& cfg, const Guidance& g, const std::atomic<bool>* cancel,
                           KernelPath path) {
  cfg.validate();
  g.validate();
  if (cfg.churn > 0) throw InputError("ensemble sampling is deterministic: churn is not supported");
  const int64_t R = base.members();
  if (noise.dim() != 3 || noise.size(0) != R || noise.size(2) != base.net.dim)
    throw InputError("ensemble noise must be [R, n, D] with R = " + std::to_string(R));
  if (aux && aux->members() != R) throw InputError("the auxiliary ensemble has a different number of members");
  c10::InferenceMode guard;
  const std::vector<double> t = edm_time_steps(cfg);
  const bool use_aux = aux != nullptr && g.omega != 0.0;
  const double omega = g.omega;
  auto eval = [&](const at::Tensor& x, double sigma) -> at::Tensor {
    at::Tensor xf = x.to(at::kFloat);
    at::Tensor db = ensemble_denoise_at(base.net, base.ema, xf, sigma, path).to(at::kDouble);
    if (!use_aux || !g.applies(sigma)) return db;
    at::Tensor da = ensemble_denoise_at(aux->net, aux->ema, xf, sigma, path).to(at::kDouble);
    return db.mul(1.0 + omega).sub_(da, omega);
  };
  at::Tensor x = noise.to(at::kDouble) * t[0];
  const int N = cfg.steps;
  for (int i = 0; i < N; ++i) {
    if (cancel && cancel->load(std::memory_order_relaxed)) throw Cancelled();
    const double t_cur = t[i], t_next = t[i + 1];
    at::Tensor d_cur = (x - eval(x, t_cur)).div_(t_cur);
    at::Tensor x_next = x + d_cur * (t_next - t_cur);
    if (cfg.kind == SamplerKind::Heun && i < N - 1) {
      at::Tensor d_prime = (x_next - eval(x_next, t_next)).div_(t_next);
      x_next = x + (d_cur.mul_(0.5).add_(d_prime, 0.5)).mul_(t_next - t_cur);
    }
    x = std::move(x_next);
  }
  if (!x.isfinite().all().item<bool>())
    throw ModelError("ensemble sampling produced NaN/Inf values (a member diverged; check omega and the budgets)");
  return x;
}

}  // namespace sims::loops
