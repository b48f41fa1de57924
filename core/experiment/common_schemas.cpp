#include "experiment/common_schemas.hpp"

namespace sims::experiment {

const Schema<SamplerConfig>& sampler_schema() {
  static const Schema<SamplerConfig> s =
      Schema<SamplerConfig>("sampler")
          .choice("sampler", &SamplerConfig::kind, "--sampler", "ODE solver",
                  std::vector<std::pair<SamplerKind, std::string>>{{SamplerKind::Heun, "heun"}, {SamplerKind::Euler, "euler"}})
          .alias("kind")
          .integer("steps", &SamplerConfig::steps, "--steps", "sampling steps", 1, 10000)
          .real("sigma_min", &SamplerConfig::sigma_min, "--sigma-min", "smallest noise level", 0, 1e4, true)
          .real("sigma_max", &SamplerConfig::sigma_max, "--sigma-max", "largest noise level", 0, 1e4, true)
          .real("rho", &SamplerConfig::rho, "--rho", "time-step exponent (EDM: 7)", 0, 1e3, true)
          .real("churn", &SamplerConfig::churn, "--churn", "stochastic churn S_churn (0: deterministic)", 0, 1e3)
          .real("s_min", &SamplerConfig::s_min, "--s-min", "churn from this sigma", 0, INFINITY)
          .real("s_max", &SamplerConfig::s_max, "--s-max", "churn up to this sigma", 0, INFINITY)
          .real("s_noise", &SamplerConfig::s_noise, "--s-noise", "churn noise scale", 0, 10)
          .rule([](const SamplerConfig& c) {
            return c.sigma_min < c.sigma_max ? std::string() : std::string("--sigma-min must be below --sigma-max");
          });
  return s;
}

const Schema<TrainConfig>& train_schema() {
  static const Schema<TrainConfig> s =
      Schema<TrainConfig>("train")
          .integer("batch", &TrainConfig::batch, "--batch", "batch size", 1, 1 << 20)
          .real("lr", &TrainConfig::lr, "--lr", "Adam learning rate", 0, 10, true)
          .integer("lr_rampup", &TrainConfig::lr_rampup, "--lr-rampup", "images over which the learning rate ramps up", 0,
                   int64_t(1) << 50)
          .real("ema_halflife", &TrainConfig::ema_halflife, "--ema-halflife", "EMA half-life in images", 0, 1e15)
          .real("ema_rampup", &TrainConfig::ema_rampup, "", "EMA half-life cap as a share of images seen", 0, 1)
          .real("p_mean", &TrainConfig::p_mean, "", "log-normal noise level distribution: mean", -20, 20)
          .real("p_std", &TrainConfig::p_std, "", "log-normal noise level distribution: std", 0, 20, true);
  return s;
}

const Schema<NetConfig>& mlp_schema() {
  static const Schema<NetConfig> s = Schema<NetConfig>("net")
                                         .integer("width", &NetConfig::width, "--width", "MLP hidden units", 1, 4096)
                                         .integer("depth", &NetConfig::depth, "--depth", "MLP hidden layers", 1, 64)
                                         .integer("emb_freqs", &NetConfig::emb_freqs, "", "noise embedding frequencies", 1, 256)
                                         .real("sigma_data", &NetConfig::sigma_data, "--sigma-data",
                                               "data standard deviation for EDM preconditioning", 0, 1e3, true);
  return s;
}

}  // namespace sims::experiment
