// Shared test helpers: fixture paths, analytic models, tensor comparisons.
#pragma once
#include <string>

#include <ATen/ATen.h>

#include "diffusion/analytic.hpp"

namespace sims::test {

inline std::string fixture(const std::string& name) { return std::string(SIMS_FIXTURE_DIR) + "/" + name; }

// N(mean, cov) in 2D as an exact denoiser.
inline std::shared_ptr<AnalyticDenoiser> gaussian2d(double mx, double my, double a, double b, double c) {
  GaussianComponent g{at::tensor({mx, my}, at::kDouble), at::tensor({a, b, b, c}, at::kDouble).reshape({2, 2}), 1.0};
  return std::make_shared<AnalyticDenoiser>(std::vector<GaussianComponent>{g});
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// A temporary directory removed at scope exit.
struct TempDir {
  std::string path;
  TempDir();
  ~TempDir();
  std::string file(const std::string& name) const { return path + "/" + name; }
};

}  // namespace sims::test
