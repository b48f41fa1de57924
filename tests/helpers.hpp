// Shared test helpers: fixture paths, analytic models, tensor comparisons.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

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

// Structured damage for a stored record (a JSON object): `trials` copies of `good`, each with 1 to 3 of its values
// (a field, or an entry of a list field) replaced by another kind of value or a number out of range (1e300, -1,
// 2.5, 2^63 - 1, 2^64 - 1, "x", null, true, [], {}, a list of strings, a very long list) or removed, the mutations
// drawn from `seed`. `read` is called on each copy. Counts the copies read and those refused with an InputError;
// any other exception propagates, so the calling test fails on it.
struct DamageCount {
  int read = 0, refused = 0;
};
DamageCount damage_fields(const nlohmann::json& good, int trials, uint64_t seed,
                          const std::function<void(const nlohmann::json&)>& read);

}  // namespace sims::test
