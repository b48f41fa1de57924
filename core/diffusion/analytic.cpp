#include "diffusion/analytic.hpp"

#include <cmath>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "common/json_parse.hpp"

namespace sims {
namespace {

at::Tensor vec_from_json(const nlohmann::json& j, const std::string& where, const char* what) {
  if (!j.is_array() || j.empty()) throw InputError(where + ": '" + what + "' must be a non-empty array of numbers");
  std::vector<double> v;
  for (const auto& e : j) {
    if (!e.is_number()) throw InputError(where + ": '" + what + "' must contain numbers only");
    v.push_back(e.get<double>());
  }
  return at::tensor(v, at::kDouble);
}

at::Tensor mat_from_json(const nlohmann::json& j, int64_t d, const std::string& where) {
  if (!j.is_array() || static_cast<int64_t>(j.size()) != d)
    throw InputError(where + ": 'cov' must be a " + std::to_string(d) + "x" + std::to_string(d) + " array");
  std::vector<double> v;
  for (const auto& row : j) {
    if (!row.is_array() || static_cast<int64_t>(row.size()) != d)
      throw InputError(where + ": 'cov' must be a " + std::to_string(d) + "x" + std::to_string(d) + " array");
    for (const auto& e : row) {
      if (!e.is_number()) throw InputError(where + ": 'cov' must contain numbers only");
      v.push_back(e.get<double>());
    }
  }
  return at::tensor(v, at::kDouble).reshape({d, d});
}

}  // namespace

AnalyticDenoiser::AnalyticDenoiser(std::vector<GaussianComponent> components, std::string path) {
  if (components.empty()) throw InputError("an analytic model needs at least one Gaussian component");
  dim_ = components[0].mean.numel();
  double wsum = 0;
  for (const auto& c : components) wsum += c.weight;
  std::string id = "analytic:";
  for (const auto& c : components) {
    if (c.mean.numel() != dim_ || c.cov.dim() != 2 || c.cov.size(0) != dim_ || c.cov.size(1) != dim_)
      throw InputError("analytic model: every component needs a mean of size D and a DxD covariance");
    if (!(c.weight > 0)) throw InputError("analytic model: component weights must be positive");
    at::Tensor cov = c.cov.to(at::kDouble);
    if (!at::allclose(cov, cov.t(), 1e-9, 1e-12)) throw InputError("analytic model: covariance is not symmetric");
    auto [evals, evecs] = at::linalg_eigh(cov);
    if (evals.min().item<double>() < -1e-9 * std::max(1.0, evals.abs().max().item<double>()))
      throw InputError("analytic model: covariance is not positive semi-definite");
    comps_.push_back({c.mean.to(at::kDouble).reshape({dim_}), evals.clamp_min(0), evecs, std::log(c.weight / wsum)});
    id += std::to_string(c.weight) + ";";
    for (int64_t i = 0; i < dim_; ++i) id += std::to_string(c.mean[i].item<double>()) + ",";
    for (int64_t i = 0; i < cov.numel(); ++i) id += std::to_string(cov.reshape({-1})[i].item<double>()) + ",";
  }
  identity_ = id;
  info_.kind = comps_.size() == 1 ? "analytic-gaussian" : "analytic-gaussian-mixture";
  info_.path = std::move(path);
  info_.sample_shape = {dim_};
  info_.sigma_min = 0.0;
  info_.sigma_max = INFINITY;
  info_.provenance = {{"components", static_cast<int64_t>(comps_.size())}};
}

std::shared_ptr<AnalyticDenoiser> AnalyticDenoiser::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("kind")) throw InputError(where + ": not an analytic model (no 'kind')");
  const std::string kind = read_as<std::string>(j["kind"], where + ": kind");
  std::vector<GaussianComponent> comps;
  auto one = [&](const nlohmann::json& c, double w) {
    if (!c.contains("mean") || !c.contains("cov")) throw InputError(where + ": a component needs 'mean' and 'cov'");
    at::Tensor mean = vec_from_json(c["mean"], where, "mean");
    comps.push_back({mean, mat_from_json(c["cov"], mean.numel(), where), w});
  };
  if (kind == "gaussian") {
    one(j, 1.0);
  } else if (kind == "gaussian_mixture") {
    if (!j.contains("components") || !j["components"].is_array())
      throw InputError(where + ": 'components' must be an array");
    for (const auto& c : j["components"])
      one(c, c.is_object() && c.contains("weight") ? read_as<double>(c["weight"], where + ": weight") : 1.0);
  } else {
    throw InputError(where + ": unknown analytic model kind '" + message_text(kind, 60) + "' (gaussian, gaussian_mixture)");
  }
  return std::make_shared<AnalyticDenoiser>(std::move(comps), where);
}

at::Tensor AnalyticDenoiser::denoise(const at::Tensor& x_in, const at::Tensor& sigma_in) {
  at::Tensor x = x_in.to(at::kDouble).reshape({x_in.size(0), dim_});
  at::Tensor s2 = sigma_in.to(at::kDouble).reshape({-1, 1}).square();  // [N,1]
  std::vector<at::Tensor> means, logps;
  for (const auto& c : comps_) {
    at::Tensor y = at::matmul(x - c.mean, c.evecs);  // coordinates in the eigenbasis [N,D]
    at::Tensor var = (c.evals.unsqueeze(0) + s2).clamp_min(1e-300);  // [N,D] variances of x under this component
    // Posterior mean of x0 given x: mean + V diag(l/(l+s2)) V^T (x-mean)
    means.push_back(c.mean + at::matmul(y * (c.evals.unsqueeze(0) / var), c.evecs.t()));
    if (comps_.size() > 1)
      logps.push_back(c.log_weight - 0.5 * (y.square() / var + var.log()).sum(1));
  }
  at::Tensor out;
  if (comps_.size() == 1) {
    out = means[0];
  } else {
    at::Tensor w = at::softmax(at::stack(logps, 1), 1);  // [N,K] responsibilities
    out = (at::stack(means, 1) * w.unsqueeze(2)).sum(1);
  }
  return out.reshape(x_in.sizes()).to(x_in.scalar_type());
}

}  // namespace sims
