#include "diffusion/network.hpp"

#include <cmath>

#include <torch/nn/modules/activation.h>

#include "common/error.hpp"
#include "diffusion/unet.hpp"

namespace sims {

nlohmann::json NetConfig::to_json() const {
  if (type == "unet")
    return {{"type", type},
            {"channels", channels},
            {"resolution", resolution},
            {"model_channels", model_channels},
            {"channel_mult", channel_mult},
            {"num_blocks", num_blocks},
            {"attn_resolutions", attn_resolutions},
            {"dropout", dropout},
            {"emb_freqs", emb_freqs},
            {"sigma_data", sigma_data}};
  return {{"type", type}, {"dim", dim}, {"width", width}, {"depth", depth}, {"emb_freqs", emb_freqs},
          {"sigma_data", sigma_data}};
}

NetConfig NetConfig::from_json(const nlohmann::json& j) {
  NetConfig c;
  try {
    c.type = j.value("type", c.type);
    c.dim = j.value("dim", c.dim);
    c.width = j.value("width", c.width);
    c.depth = j.value("depth", c.depth);
    c.emb_freqs = j.value("emb_freqs", c.emb_freqs);
    c.sigma_data = j.value("sigma_data", c.sigma_data);
    c.channels = j.value("channels", c.channels);
    c.resolution = j.value("resolution", c.resolution);
    c.model_channels = j.value("model_channels", c.model_channels);
    c.channel_mult = j.value("channel_mult", c.channel_mult);
    c.num_blocks = j.value("num_blocks", c.num_blocks);
    c.attn_resolutions = j.value("attn_resolutions", c.attn_resolutions);
    c.dropout = j.value("dropout", c.dropout);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("network configuration: ") + e.what());
  }
  if (c.type != "mlp" && c.type != "unet") throw InputError("network type '" + c.type + "' is not known (mlp, unet)");
  if (c.type == "unet") {
    bool pow2 = c.resolution >= 8 && (c.resolution & (c.resolution - 1)) == 0;
    if (c.channels < 1 || !pow2 || c.model_channels < 4 || c.model_channels % 4 || c.channel_mult.empty() ||
        c.num_blocks < 1 || !(c.dropout >= 0 && c.dropout < 1) || c.emb_freqs < 1 || !(c.sigma_data > 0))
      throw InputError(
          "U-Net configuration: channels >= 1, resolution a power of two >= 8, model_channels a multiple of 4, "
          "channel_mult non-empty, num_blocks >= 1, 0 <= dropout < 1, emb_freqs >= 1, sigma_data > 0");
    if (c.resolution >> (c.channel_mult.size() - 1) < 4)
      throw InputError("U-Net configuration: " + std::to_string(c.channel_mult.size()) + " levels reduce resolution " +
                       std::to_string(c.resolution) + " below 4 pixels");
    for (int64_t m : c.channel_mult)
      if (m < 1) throw InputError("U-Net configuration: channel_mult entries must be >= 1");
    return c;
  }
  if (c.dim < 1 || c.width < 1 || c.depth < 1 || c.emb_freqs < 0 || !(c.sigma_data > 0))
    throw InputError("network configuration: dim, width, depth must be >= 1, emb_freqs >= 0, sigma_data > 0");
  return c;
}

Precond edm_precond(const torch::Tensor& sigma, double sd) {
  torch::Tensor s2 = sigma * sigma;
  torch::Tensor denom = (s2 + sd * sd).sqrt();
  return {(sd * sd) / (s2 + sd * sd), sigma * sd / denom, 1.0 / denom, sigma.log() / 4.0};
}

EdmMlp::EdmMlp(const NetConfig& cfg) : cfg_(cfg) {
  net_ = torch::nn::Sequential();
  int64_t in = cfg.dim + 1 + 2 * cfg.emb_freqs;
  for (int64_t i = 0; i < cfg.depth; ++i) {
    net_->push_back(torch::nn::Linear(i == 0 ? in : cfg.width, cfg.width));
    net_->push_back(torch::nn::SiLU());
  }
  net_->push_back(torch::nn::Linear(cfg.width, cfg.dim));
  register_module("net", net_);
  // Geometric frequencies 1..2^(k-1) (times pi) over c_noise in about [-1.6, 1.1].
  freqs_ = register_buffer("freqs", torch::pow(2.0, torch::arange(cfg.emb_freqs, torch::kFloat)) * M_PI);
}

torch::Tensor EdmMlp::forward(const torch::Tensor& x, const torch::Tensor& sigma) {
  torch::Tensor s = sigma.reshape({-1, 1}).to(x.scalar_type());
  Precond p = edm_precond(s, cfg_.sigma_data);
  std::vector<torch::Tensor> parts{x * p.c_in, p.c_noise};
  if (cfg_.emb_freqs > 0) {
    torch::Tensor a = p.c_noise * freqs_.to(x.scalar_type()).unsqueeze(0);
    parts.push_back(a.sin());
    parts.push_back(a.cos());
  }
  torch::Tensor f = net_->forward(torch::cat(parts, 1));
  return p.c_skip * x + p.c_out * f;
}

std::shared_ptr<EdmNetwork> make_network(const NetConfig& cfg) {
  if (cfg.type == "mlp") return std::make_shared<EdmMlp>(cfg);
  if (cfg.type == "unet") return std::make_shared<EdmUnet>(cfg);
  throw InputError("network type '" + cfg.type + "' is not known");
}

}  // namespace sims
