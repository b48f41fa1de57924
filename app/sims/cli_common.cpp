#include "cli_common.hpp"

#include <torch/cuda.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include <ATen/Parallel.h>

#include "common/error.hpp"
#include "experiment/settings.hpp"

namespace sims::cli {

double parse_number(const std::string& text, const std::string& flag) { return experiment::parse_real(text, flag); }

std::pair<double, double> parse_interval(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos) throw InputError("--interval '" + text + "' must be LO:HI, e.g. 0.3:5 or 0:inf");
  const double lo = parse_number(text.substr(0, colon), "--interval low end");
  const double hi = parse_number(text.substr(colon + 1), "--interval high end");
  if (lo < 0 || hi < lo) throw InputError("--interval '" + text + "' needs 0 <= LO <= HI");
  return {lo, hi};
}

void SamplingFlags::bind(CLI::App* cmd) {
  cmd->add_option("--sampler", sampler, "heun | euler (default heun)");
  cmd->add_option("--steps", steps, "number of sampling steps N (default 18)");
  cmd->add_option("--sigma-min", sigma_min, "smallest noise level (default 0.002)");
  cmd->add_option("--sigma-max", sigma_max, "largest noise level (default 80)");
  cmd->add_option("--rho", rho, "time-step exponent rho (default 7)");
  cmd->add_option("--churn", churn, "S_churn: stochasticity (default 0 = deterministic)");
  cmd->add_option("--s-min", s_min, "S_min: churn only for sigma >= S_min (default 0)");
  cmd->add_option("--s-max", s_max_text, "S_max: churn only for sigma <= S_max (default inf)");
  cmd->add_option("--s-noise", s_noise, "S_noise: churn noise scale (default 1)");
}

SamplerConfig SamplingFlags::config() const {
  SamplerConfig c;
  c.kind = parse_sampler_kind(sampler);
  c.steps = steps;
  c.sigma_min = sigma_min;
  c.sigma_max = sigma_max;
  c.rho = rho;
  c.churn = churn;
  c.s_min = s_min;
  c.s_max = s_max_text.empty() ? s_max : parse_number(s_max_text, "--s-max");
  c.s_noise = s_noise;
  c.validate();
  return c;
}

Guidance SamplingFlags::guidance() const {
  Guidance g;
  g.omega = omega;
  std::tie(g.lo, g.hi) = parse_interval(interval);
  g.validate();
  return g;
}

void ModelFlags::bind(CLI::App* cmd, bool aux_allowed) {
  cmd->add_option("--model", model, "base model: a sims checkpoint, a TorchScript file or an analytic .json")->required();
  if (aux_allowed) cmd->add_option("--aux", aux, "auxiliary model for SIMS guidance");
  cmd->add_option("--shape", shape, "per-sample shape when the model does not declare it, e.g. 2 or 3x32x32");
  cmd->add_option("--device", device, "cpu | cuda (default cpu)");
  cmd->add_flag("--no-optimize", no_optimize, "run TorchScript graphs as loaded (no freezing)");
}

c10::Device parse_device(const std::string& device) {
  if (device == "cpu") return c10::Device(c10::kCPU);
  if (device.rfind("cuda", 0) != 0) throw InputError("--device must be cpu or cuda[:i] (got '" + device + "')");
  c10::Device d(c10::kCPU);
  try {
    d = c10::Device(device);
  } catch (const c10::Error&) {
    throw InputError("--device: cannot parse '" + device + "' (cpu, cuda, cuda:1, ...)");
  }
  if (!torch::cuda::is_available())
    throw InputError("--device " + device + ": CUDA is not available (this build's LibTorch or this machine has no GPU)");
  return d;
}

LoadOptions ModelFlags::load_options() const {
  LoadOptions o;
  if (!shape.empty()) o.sample_shape = parse_shape(shape);
  o.device = parse_device(device);
  o.optimize = !no_optimize;
  return o;
}

void print_json(const nlohmann::json& j) { std::cout << j.dump() << std::endl; }

void apply_threads(int threads) {
  if (threads < 0) throw InputError("--threads must be >= 0");
  // 0 keeps LibTorch's default. The sampler runs base and aux side by side on
  // separate cores anyway; more intra-op threads pay off only for large
  // networks, and cost a lot when the machine is busy (OpenMP spinning).
  if (threads > 0) at::set_num_threads(threads);
}

}  // namespace sims::cli
