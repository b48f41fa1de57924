// Exact denoisers of Gaussians and Gaussian mixtures. For data ~ N(mu, S),
// E[x0 | x0 + sigma*n = x] = mu + S (S + sigma^2 I)^-1 (x - mu), so sampling
// with them must reproduce the data distribution exactly: this is how the
// sampler is tested against closed forms, and they are useful "ideal models"
// for experiments (a JSON file with kind "gaussian" / "gaussian_mixture").
#pragma once
#include <vector>

#include "diffusion/denoiser.hpp"

namespace sims {

struct GaussianComponent {
  at::Tensor mean;  // [D] float64
  at::Tensor cov;   // [D, D] float64, symmetric positive semi-definite
  double weight = 1.0;
};

class AnalyticDenoiser final : public Denoiser {
 public:
  explicit AnalyticDenoiser(std::vector<GaussianComponent> components, std::string path = {});

  // From JSON: {"kind":"gaussian","mean":[..],"cov":[[..],..]} or
  // {"kind":"gaussian_mixture","components":[{"weight":w,"mean":..,"cov":..},..]}
  static std::shared_ptr<AnalyticDenoiser> from_json(const nlohmann::json& j, const std::string& where);

  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma) override;
  const ModelInfo& info() const override { return info_; }
  at::ScalarType input_dtype() const override { return at::kDouble; }
  std::string identity() const override { return identity_; }

  int64_t dim() const { return dim_; }

 private:
  struct Eig {
    at::Tensor mean, evals, evecs;  // eigendecomposition of the covariance
    double log_weight;
  };
  std::vector<Eig> comps_;
  int64_t dim_ = 0;
  ModelInfo info_;
  std::string identity_;
};

}  // namespace sims
