// Built-in 2D distributions (the SIMS paper's Gaussian, mixtures such as the
// 25-mode grid, and shapes: rings, spirals, swiss roll). Deterministic per
// seed and unlimited: draw as many samples as a loop needs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/Tensor.h>
#include <nlohmann/json.hpp>

namespace sims::data {

struct Toy2dSpec {
  std::string name = "gaussian";  // gaussian | grid25 | mixture8 | rings | spirals | swissroll
  std::vector<double> mean{0.0, 0.0};
  std::vector<double> cov{2.0, 1.0, 1.0, 2.0};  // row-major 2x2 (gaussian only)
  double noise = 0.05;                          // width of shapes / modes (relative units)
  nlohmann::json to_json() const;
  static Toy2dSpec from_json(const nlohmann::json& j);
  // "gaussian", "grid25", "rings", ... ; throws InputError for unknown names.
  static Toy2dSpec named(const std::string& name);
};

// n samples [n, 2] float32, deterministic for (spec, seed).
at::Tensor sample_toy2d(const Toy2dSpec& spec, int64_t n, uint64_t seed);

// The training set a model was made from, when its provenance names a
// built-in 2D set (data.source "builtin"): at most max_n of its points [n, 2]
// float32, and the set's name in *name. Undefined tensor otherwise. The faces
// draw it under the samples. held_out > 0: instead, that many new points of
// the same distribution (another seed), to score samples against.
at::Tensor training_points(const nlohmann::json& provenance, int64_t max_n, std::string* name = nullptr,
                           int64_t held_out = 0);

// Names of the built-in 2D data sets.
std::vector<std::string> toy2d_names();

}  // namespace sims::data
