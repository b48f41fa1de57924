// The per-step rules every EDM training loop of the project shares: the
// trainer (training/trainer.cpp, one network) and the batched ensemble
// (loops/ensemble.cpp, R networks in stacked tensors) call these, so a
// member of an ensemble is trained exactly as the trainer trains one model.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/Tensor.h>

#include "training/checkpoint.hpp"

namespace sims {

// SplitMix64-style mixing of two 64-bit values: the seed of step k's
// generator is mix_seed(seed, k); also used to derive per-run seeds.
uint64_t mix_seed(uint64_t a, uint64_t b);

// Learning rate of the step that ends with `images_after` images seen:
// linear ramp-up over tc.lr_rampup images, then tc.lr.
double ramped_lr(const TrainConfig& tc, int64_t images_after);

// EMA decay of a step of `batch` images ending at `images_after` images seen,
// with EDM's half-life min(ema_halflife, ema_rampup x images seen):
// ema <- beta ema + (1 - beta) raw.
double ema_beta(const TrainConfig& tc, int64_t images_after, int64_t batch);

// EDM's NaN guard: replaces non-finite gradient entries (NaN -> 0, +-inf ->
// +-1e5). One reduction for all gradients in the common all-finite case
// (the sum of per-tensor sums is finite whenever every entry is; an overflow
// to inf only sends us down the exact per-tensor path, where nan_to_num
// leaves finite values unchanged). Returns true when an entry was non-finite.
bool sanitize_gradients(const std::vector<at::Tensor>& params);

// ema <- beta ema + (1 - beta) raw, in place, for matching lists of tensors.
void ema_update(const std::vector<at::Tensor>& ema, const std::vector<at::Tensor>& raw, double beta);

}  // namespace sims
