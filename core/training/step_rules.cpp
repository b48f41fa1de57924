#include "training/step_rules.hpp"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>
#include <torch/utils.h>

namespace sims {

uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9e3779b97f4a7c15ULL + b + 0x632be59bd9b4e019ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double ramped_lr(const TrainConfig& tc, int64_t images_after) {
  if (tc.lr_rampup <= 0) return tc.lr;
  return tc.lr * std::min(1.0, static_cast<double>(images_after) / static_cast<double>(tc.lr_rampup));
}

double ema_beta(const TrainConfig& tc, int64_t images_after, int64_t batch) {
  double hl = tc.ema_halflife;
  if (tc.ema_rampup > 0) hl = std::min(hl, static_cast<double>(images_after) * tc.ema_rampup);
  return std::pow(0.5, static_cast<double>(batch) / std::max(hl, 1e-8));
}

bool sanitize_gradients(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> sums;
  sums.reserve(params.size());
  for (const auto& p : params)
    if (p.grad().defined()) sums.push_back(p.grad().sum());
  if (sums.empty() || at::stack(sums).sum().isfinite().item<bool>()) return false;
  bool nonfinite = false;
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;
    if (!p.grad().isfinite().all().item<bool>()) {
      nonfinite = true;
      // mutable_grad() is non-const on a Tensor handle; the handle shares the parameter.
      at::Tensor h = p;
      h.mutable_grad().nan_to_num_(0.0, 1e5, -1e5);
    }
  }
  return nonfinite;
}

void ema_update(const std::vector<at::Tensor>& ema, const std::vector<at::Tensor>& raw, double beta) {
  torch::NoGradGuard ng;
  for (size_t i = 0; i < ema.size() && i < raw.size(); ++i) {
    at::Tensor e = ema[i];
    e.lerp_(raw[i].detach(), 1.0 - beta);  // in place, no temporary
  }
}

}  // namespace sims
