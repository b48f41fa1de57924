// Self-describing training checkpoints: network configuration, raw and EMA
// weights, Adam state, images seen, training configuration, data spec, loss
// curve and provenance ("aux of <base> on <n> synthetic samples"). Written
// atomically; training resumes from them exactly.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/optim/adam.h>

#include "diffusion/denoiser.hpp"
#include "diffusion/network.hpp"

namespace sims {

struct TrainConfig {
  int64_t budget = 200000;       // total images (samples) seen at the end
  int64_t batch = 256;
  double lr = 1e-3;
  int64_t lr_rampup = 10000;     // images over which lr ramps up linearly
  double ema_halflife = 500000;  // images (EDM: 500k)
  double ema_rampup = 0.05;      // half-life <= this x images seen (EDM)
  double p_mean = -1.2, p_std = 1.2;
  uint64_t seed = 0;
  int64_t checkpoint_every = 0;  // images between checkpoints (0: at the end and on cancel)
  int64_t snapshot_every = 0;    // images between kept snapshots (0: none)
  // Which weights training changes: "all", or "decoder" (U-Nets: the encoder
  // stays frozen, raw and EMA, so an auxiliary fine-tuned this way shares its
  // encoder with the base; SIMS App. A).
  std::string trainable = "all";
  nlohmann::json to_json() const;
  static TrainConfig from_json(const nlohmann::json& j);
  void validate() const;
};

struct LossPoint {
  int64_t images;
  double loss;
};

struct TrainState {
  NetConfig net;
  TrainConfig train;
  std::shared_ptr<EdmNetwork> raw, ema;
  std::unique_ptr<torch::optim::Adam> adam;
  int64_t images_seen = 0;
  int64_t nonfinite_grad_steps = 0;
  std::vector<LossPoint> loss_curve;
  nlohmann::json data = nlohmann::json::object();        // what it was trained on
  nlohmann::json provenance = nlohmann::json::object();  // history (e.g. fine-tuned from)

  // Fresh state: weights initialised from train.seed.
  static TrainState create(const NetConfig& net, const TrainConfig& train);
  // Copies the weights (raw and EMA) of another state into a fresh optimizer:
  // how the auxiliary model starts from the base.
  static TrainState fork(const TrainState& from, const TrainConfig& train);
};

void save_checkpoint(const std::string& path, const TrainState& st);
TrainState load_checkpoint(const std::string& path);
// True when the file is a SIMS checkpoint (cheap check of the archive).
bool is_checkpoint(const std::string& path);

// A checkpoint's EMA network as a Denoiser.
class NetworkDenoiser final : public Denoiser {
 public:
  NetworkDenoiser(std::shared_ptr<EdmNetwork> net, ModelInfo info);
  static std::shared_ptr<NetworkDenoiser> from_checkpoint(const std::string& path, const LoadOptions& opts);
  static std::shared_ptr<NetworkDenoiser> from_state(const TrainState& st, const std::string& name);
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma) override;
  const ModelInfo& info() const override { return info_; }
  c10::Device device() const override { return device_; }
  EdmNetwork* network() override { return net_.get(); }

 private:
  std::shared_ptr<EdmNetwork> net_;
  ModelInfo info_;
  c10::Device device_{c10::kCPU};
};

}  // namespace sims
