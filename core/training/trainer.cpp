#include "training/trainer.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <optional>
#include <sstream>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/autograd.h>

#include "common/error.hpp"
#include "diffusion/unet.hpp"
#include "dist/group.hpp"
#include "training/step_rules.hpp"

namespace sims {
namespace {

// Consecutive steps with a loss that is not finite after which training counts as diverged.
constexpr int64_t kDivergedSteps = 50;

std::string lr_text(double lr) {
  std::ostringstream s;
  s << lr;
  return s.str();
}

std::string snapshot_name(const std::string& pattern, int64_t images) {
  char buf[4096];
  std::snprintf(buf, sizeof buf, pattern.c_str(), static_cast<long long>(images));
  return buf;
}

// Gradients summed over the processes of a data-parallel job, in buckets of
// at most kBucketBytes (as torch DDP's default); the last bucket also carries
// this rank's share of the loss and its stop request, so one step costs one
// all-reduce for a small network.
constexpr int64_t kBucketBytes = 25 << 20;

struct SumOverRanks {
  double loss;  // the global batch's loss
  bool stop;    // some rank was asked to stop
};

SumOverRanks allreduce_gradients(dist::Group& g, std::vector<at::Tensor>& params, double loss_part, bool stop) {
  std::vector<std::pair<size_t, size_t>> buckets;  // [first, last) parameters
  int64_t bytes = 0;
  for (size_t i = 0, first = 0; i < params.size(); ++i) {
    bytes += params[i].numel() * 4;
    if (bytes >= kBucketBytes || i + 1 == params.size()) buckets.emplace_back(first, i + 1), first = i + 1, bytes = 0;
  }
  if (buckets.empty()) buckets.emplace_back(0, 0);
  SumOverRanks out{0, false};
  for (size_t k = 0; k < buckets.size(); ++k) {
    std::vector<at::Tensor> flat;
    for (size_t i = buckets[k].first; i < buckets[k].second; ++i) {
      const at::Tensor& gr = params[i].grad();
      flat.push_back(gr.defined() ? gr.detach().to(at::kCPU, at::kFloat).reshape({-1})
                                  : at::zeros({params[i].numel()}, at::kFloat));
    }
    const bool last = k + 1 == buckets.size();
    if (last) flat.push_back(at::tensor({static_cast<float>(loss_part), stop ? 1.0f : 0.0f}, at::kFloat));
    at::Tensor buf = at::cat(flat);
    g.allreduce_sum(buf);
    int64_t at_ = 0;
    for (size_t i = buckets[k].first; i < buckets[k].second; ++i) {
      at::Tensor& p = params[i];
      at::Tensor sum = buf.slice(0, at_, at_ + p.numel()).view(p.sizes()).to(p.device(), p.scalar_type());
      at_ += p.numel();
      if (p.grad().defined()) p.mutable_grad().copy_(sum);
      else p.mutable_grad() = sum.clone();
    }
    if (last) out.loss = buf[at_].item<double>(), out.stop = buf[at_ + 1].item<float>() > 0;
  }
  return out;
}

// Every rank starts from rank 0's weights (its EMA too); the optimizer's
// moments come from the same checkpoint on every rank (or are fresh).
void broadcast_state(dist::Group& g, TrainState& st) {
  torch::NoGradGuard no_grad;
  auto share = [&](const at::Tensor& t) {
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    g.broadcast(c);
    t.detach().copy_(c);
  };
  for (const auto& p : st.raw->parameters()) share(p);
  for (const auto& p : st.ema->parameters()) share(p);
  for (const auto& b : st.raw->buffers()) share(b);
  for (const auto& b : st.ema->buffers()) share(b);
}

}  // namespace

void move_to(TrainState& st, c10::Device device) {
  st.raw->to(device);  // parameters keep their identity, so Adam's references stay valid
  st.ema->to(device);
  for (auto& kv : st.adam->state()) {
    auto& s = static_cast<torch::optim::AdamParamState&>(*kv.second);
    s.exp_avg(s.exp_avg().to(device));
    s.exp_avg_sq(s.exp_avg_sq().to(device));
    if (s.max_exp_avg_sq().defined()) s.max_exp_avg_sq(s.max_exp_avg_sq().to(device));
  }
}

at::Tensor edm_loss(EdmNetwork& net, const at::Tensor& y, const at::Tensor& sigma, const at::Tensor& noise) {
  const double sd = net.config().sigma_data;
  std::vector<int64_t> bshape(y.dim(), 1);
  bshape[0] = y.size(0);
  at::Tensor s = sigma.reshape(bshape);
  at::Tensor weight = (s * s + sd * sd) / (s * sd).square();
  at::Tensor d = net.forward(y + noise * s, sigma);
  // Per-sample squared error summed over dimensions, averaged over the batch.
  return (weight * (d - y).square()).reshape({y.size(0), -1}).sum(1).mean();
}

TrainOutcome train(TrainState& st, const at::Tensor& data_in, const TrainOptions& opts) {
  const TrainConfig& tc = st.train;
  tc.validate();
  if (data_in.dim() < 2 || data_in.size(0) < 1) throw InputError("training data must be [N, ...] with N >= 1");
  std::vector<int64_t> shape(data_in.sizes().begin() + 1, data_in.sizes().end());
  if (shape != st.net.sample_shape())
    throw InputError("training data samples are " + shape_to_string(shape) + " but the network models " +
                     shape_to_string(st.net.sample_shape()));
  if (!data_in.isfinite().all().item<bool>()) throw InputError("training data contains NaN/Inf");
  at::Tensor data = data_in.to(at::kFloat).contiguous();
  const int64_t n = data.size(0);
  const bool on_cpu = opts.device.is_cpu();
  if (!on_cpu) move_to(st, opts.device);
  st.raw->train();
  const auto start = std::chrono::steady_clock::now();
  const int64_t start_images = st.images_seen;
  const int64_t progress_every =
      opts.progress_every > 0 ? opts.progress_every : std::max<int64_t>(tc.batch, (tc.budget - start_images) / 200);
  int64_t next_progress = st.images_seen + progress_every;
  int64_t next_ckpt = tc.checkpoint_every > 0 ? (st.images_seen / tc.checkpoint_every + 1) * tc.checkpoint_every : -1;
  int64_t next_snap = tc.snapshot_every > 0 ? (st.images_seen / tc.snapshot_every + 1) * tc.snapshot_every : -1;
  double loss_acc = 0;
  int64_t loss_count = 0;
  int64_t nonfinite_losses = 0;  // consecutive steps whose loss was not finite
  auto params = st.raw->parameters();
  auto ema_params = st.ema->parameters();
  if (tc.trainable == "decoder") {
    // Frozen encoder: no gradient (Adam skips parameters without one), no EMA update (its EMA stays the
    // base's EMA bit for bit, which is what lets sampling share one encoder evaluation).
    const std::vector<bool> frozen = frozen_for_decoder_training(*st.raw);
    std::vector<at::Tensor> p_train, e_train;
    for (size_t i = 0; i < params.size(); ++i) {
      if (frozen[i]) {
        params[i].set_requires_grad(false);
        params[i].mutable_grad() = at::Tensor();
      } else {
        p_train.push_back(params[i]);
        e_train.push_back(ema_params[i]);
      }
    }
    params = std::move(p_train);
    ema_params = std::move(e_train);
  }
  dist::Group* const group = opts.group.get();
  const int rank = group ? group->rank() : 0, world = group ? group->size() : 1;
  const bool writer = dist::leads(group);  // of a data-parallel job, rank 0 alone writes files
  // Seeded dropout masks only for a network that has dropout (a generator per step is work for nothing else).
  const bool seeded_dropout = st.net.type == "unet" && st.net.dropout > 0 && (on_cpu || group);
  if (group) {
    // Every rank must continue from the same point (the same checkpoint: --out on a file system they share).
    const std::vector<at::Tensor> seen = group->allgather(at::tensor({st.images_seen}, at::kLong));
    for (int r = 1; r < world; ++r)
      if (seen[static_cast<size_t>(r)].item<int64_t>() != seen[0].item<int64_t>())
        throw InputError("rank " + std::to_string(r) + " starts at " + std::to_string(seen[static_cast<size_t>(r)].item<int64_t>()) +
                         " images seen but rank 0 at " + std::to_string(seen[0].item<int64_t>()) +
                         ": every process must see the same --out (a file system all machines share)");
    broadcast_state(*group, st);
  }

  // Training that ended in non-finite losses writes nothing: the last checkpoint stays the last good state.
  auto diverged = [&](const std::string& how) {
    return ModelError("training " + how + " (learning rate " + lr_text(tc.lr) + " too high, or extreme data); nothing was written" +
                      (opts.checkpoint_path.empty() ? std::string() : ", '" + opts.checkpoint_path + "' keeps its last good state"));
  };
  auto checkpoint = [&] {
    if (writer && !opts.checkpoint_path.empty()) save_checkpoint(opts.checkpoint_path, st);
  };
  auto stop_here = [&] {
    if (nonfinite_losses == 0) checkpoint();  // else the last checkpoint stays the last good state
    return TrainOutcome::Cancelled;
  };

  while (st.images_seen < tc.budget) {
    const bool asked_to_stop = opts.cancel && opts.cancel->load(std::memory_order_relaxed);
    if (asked_to_stop && !group) return stop_here();  // a job of several processes stops together, below
    const int64_t step = st.images_seen / tc.batch;  // identical after a resume
    const int64_t b = std::min(tc.batch, tc.budget - st.images_seen);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(mix_seed(tc.seed, static_cast<uint64_t>(step)));
    at::Tensor idx = at::randint(0, n, {b}, gen, at::TensorOptions().dtype(at::kLong));
    at::Tensor y = data.index_select(0, idx);
    at::Tensor sigma = (at::normal(0.0, 1.0, {b}, gen, at::TensorOptions().dtype(at::kFloat)) * tc.p_std + tc.p_mean).exp();
    at::Tensor noise = at::normal(0.0, 1.0, y.sizes(), gen, at::TensorOptions().dtype(at::kFloat));

    // This rank's slice of the global batch (all of it for one process).
    const auto [s0, s1] = dist::shard(b, rank, world);
    if (group) {
      y = y.slice(0, s0, s1);
      sigma = sigma.slice(0, s0, s1);
      noise = noise.slice(0, s0, s1);
    }
    // U-Net dropout masks from the step's own stream (unet.hpp): resumes and slices repeat them. Drawn
    // on the CPU; a single GPU keeps LibTorch's own dropout (no mask copied to the device each block).
    std::optional<DropoutScope> dropout;
    if (seeded_dropout)
      dropout.emplace(at::make_generator<at::CPUGeneratorImpl>(mix_seed(~tc.seed, static_cast<uint64_t>(step))), b, s0);

    const double lr = ramped_lr(tc, st.images_seen + b);
    for (auto& g : st.adam->param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
    st.adam->zero_grad();
    if (!on_cpu) {
      y = y.to(opts.device, /*non_blocking=*/true);
      sigma = sigma.to(opts.device, true);
      noise = noise.to(opts.device, true);
    }
    double lv;
    if (!group) {
      at::Tensor loss = edm_loss(*st.raw, y, sigma, noise);
      loss.backward();
      lv = loss.item<double>();
    } else {
      // The slice's share of the global batch mean; the all-reduce sums the shares.
      double part = 0;
      if (s1 > s0) {
        at::Tensor loss = edm_loss(*st.raw, y, sigma, noise) * (static_cast<double>(s1 - s0) / static_cast<double>(b));
        loss.backward();
        part = loss.item<double>();
      }
      const SumOverRanks sum = allreduce_gradients(*group, params, part, asked_to_stop);
      if (sum.stop) return stop_here();  // before the step: every rank keeps the same weights
      lv = sum.loss;
    }
    st.nonfinite_grad_steps += sanitize_gradients(params);  // one check for all gradients (step_rules.hpp)
    st.adam->step();
    st.images_seen += b;

    ema_update(ema_params, params, ema_beta(tc, st.images_seen, b));  // EDM half-life (step_rules.hpp)

    if (std::isfinite(lv)) {
      loss_acc += lv;
      ++loss_count;
      nonfinite_losses = 0;
    } else if (++nonfinite_losses >= kDivergedSteps) {
      // Diverged: the weights no longer give a number. Stop before anything is written, so the last
      // checkpoint (if any) stays the last good state instead of being replaced by a broken model.
      throw diverged("diverged at " + std::to_string(st.images_seen) + " images: the loss was not finite for " +
                     std::to_string(kDivergedSteps) + " steps in a row");
    }
    const bool done = st.images_seen >= tc.budget;
    if (st.images_seen >= next_progress || done) {
      const double mean_loss = loss_count ? loss_acc / loss_count : NAN;
      st.loss_curve.push_back({st.images_seen, mean_loss});
      loss_acc = 0;
      loss_count = 0;
      next_progress += progress_every;
      if (opts.on_progress) {
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double ips = (st.images_seen - start_images) / std::max(secs, 1e-9);
        opts.on_progress({st.images_seen, tc.budget, mean_loss, secs, (tc.budget - st.images_seen) / std::max(ips, 1e-9), ips});
      }
    }
    // No file is written while the loss is not finite: if it does not recover, the files keep the last good state.
    if (nonfinite_losses > 0) continue;
    if (next_snap > 0 && st.images_seen >= next_snap && !opts.snapshot_pattern.empty()) {
      if (writer) save_checkpoint(snapshot_name(opts.snapshot_pattern, st.images_seen), st);
      next_snap += tc.snapshot_every;
    }
    if (next_ckpt > 0 && st.images_seen >= next_ckpt && !done) {
      checkpoint();
      next_ckpt += tc.checkpoint_every;
    }
  }
  if (nonfinite_losses > 0)
    throw diverged("ended with " + std::to_string(nonfinite_losses) + " steps whose loss was not finite");
  checkpoint();
  return TrainOutcome::Finished;
}

TrainOptions stage_train_options(c10::Device device, const std::atomic<bool>* cancel, const std::string& checkpoint_path,
                                 const std::string& what,
                                 std::function<void(int64_t seen, int64_t budget, const std::string& line)> report) {
  TrainOptions to;
  to.device = device;
  to.cancel = cancel;
  to.checkpoint_path = checkpoint_path;
  to.on_progress = [what, report = std::move(report)](const TrainEvent& e) {
    std::ostringstream m;
    m << what << " " << e.images_seen << "/" << e.budget << " images";
    if (std::isfinite(e.loss)) m << ", loss " << std::setprecision(4) << e.loss;
    m << ", " << std::setprecision(3) << e.images_per_second << " img/s";
    report(e.images_seen, e.budget, m.str());
  };
  return to;
}

}  // namespace sims
