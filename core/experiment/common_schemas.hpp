// The settings blocks that several experiments share, declared once:
// the EDM sampler, the training hyper-parameters and the 2D MLP. Each
// experiment nests them (experiment/settings.hpp) under the same JSON keys,
// so "sampler" means the same thing in every run folder.
#pragma once
#include "diffusion/network.hpp"
#include "experiment/settings.hpp"
#include "sampling/schedule.hpp"
#include "training/checkpoint.hpp"

namespace sims::experiment {

// sampler (heun|euler), steps, sigma_min, sigma_max, rho, churn, s_min, s_max,
// s_noise; flags --sampler, --steps, ... (the contract's names). Reads the
// older key "kind" for the sampler.
const Schema<SamplerConfig>& sampler_schema();

// The optimiser and loss settings of a training run: batch, lr, lr_rampup,
// ema_halflife, ema_rampup, p_mean, p_std (the budget and seed are the
// experiment's own).
const Schema<TrainConfig>& train_schema();

// The 2D MLP's size: width, depth, emb_freqs, sigma_data.
const Schema<NetConfig>& mlp_schema();

}  // namespace sims::experiment
