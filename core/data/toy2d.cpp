#include "data/toy2d.hpp"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "common/error.hpp"
#include "common/json_parse.hpp"

namespace sims::data {

nlohmann::json Toy2dSpec::to_json() const {
  return {{"name", name}, {"mean", mean}, {"cov", cov}, {"noise", noise}};
}

Toy2dSpec Toy2dSpec::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw InputError("2D data: the specification is not a JSON object");
  // Each value read as its kind and checked here, where it is named: the sampler's Cholesky factor would
  // otherwise fail later in torch's words on a covariance that is not positive definite.
  auto get = [&j](const char* key, auto fallback) {
    return j.contains(key) ? read_as<decltype(fallback)>(j.at(key), std::string("2D data: ") + key) : fallback;
  };
  Toy2dSpec s = named(get("name", std::string("gaussian")));
  s.mean = get("mean", s.mean);
  s.cov = get("cov", s.cov);
  s.noise = get("noise", s.noise);
  if (s.mean.size() != 2 || s.cov.size() != 4) throw InputError("2D data: mean needs 2 numbers and cov 4 (row-major)");
  for (double v : s.mean)
    if (!(std::abs(v) <= 1e6)) throw InputError("2D data: each mean must be from -1e6 to 1e6");
  const double a = s.cov[0], b = s.cov[1], c = s.cov[2], d = s.cov[3];
  if (!(std::abs(a) <= 1e6 && std::abs(b) <= 1e6 && std::abs(c) <= 1e6 && std::abs(d) <= 1e6) || b != c ||
      !(a > 0 && d > 0 && a * d - b * c > 1e-12 * a * d))
    throw InputError("2D data: cov must be a symmetric positive definite 2x2 matrix (row-major, entries up to 1e6)");
  if (!(s.noise >= 0 && s.noise <= 100)) throw InputError("2D data: noise must be from 0 to 100");
  return s;
}

at::Tensor training_points(const nlohmann::json& p, int64_t max_n, std::string* name, int64_t held_out) {
  if (!p.is_object() || !p.contains("data") || !p["data"].is_object()) return {};
  const auto& data = p["data"];
  try {
    if (value_or<std::string>(data, "source", "") != "builtin" || !data.contains("spec") || !data["spec"].is_object())
      return {};
    const Toy2dSpec spec = Toy2dSpec::from_json(data["spec"]);
    const int64_t n = std::clamp<int64_t>(value_or<int64_t>(data, "n", 2000), 1, std::max<int64_t>(max_n, 1));
    if (name) *name = spec.name;
    const uint64_t seed = value_or<uint64_t>(data, "seed", 0);
    if (held_out > 0) return sample_toy2d(spec, held_out, seed + 1000003u);
    return sample_toy2d(spec, n, seed);
  } catch (const nlohmann::json::exception&) {
    return {};  // a provenance that does not describe a set: nothing to draw
  } catch (const InputError&) {
    return {};  // a damaged spec, count or seed: the same
  }
}

std::vector<std::string> toy2d_names() { return {"gaussian", "grid25", "mixture8", "rings", "spirals", "swissroll"}; }

Toy2dSpec Toy2dSpec::named(const std::string& name) {
  Toy2dSpec s;
  s.name = name;
  bool known = false;
  for (const auto& n : toy2d_names()) known |= n == name;
  if (!known) {
    std::string list;
    for (const auto& n : toy2d_names()) list += (list.empty() ? "" : ", ") + n;
    throw InputError("unknown 2D data set '" + message_text(name, 60) + "' (built-in: " + list + ")");
  }
  if (name == "grid25") s.noise = 0.05;
  if (name == "mixture8") s.noise = 0.1;
  if (name == "rings" || name == "spirals" || name == "swissroll") s.noise = 0.05;
  return s;
}

at::Tensor sample_toy2d(const Toy2dSpec& s, int64_t n, uint64_t seed) {
  if (n < 0) throw InputError("sample count must be >= 0");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto opt = at::TensorOptions().dtype(at::kDouble);
  at::Tensor out;
  if (s.name == "gaussian") {
    at::Tensor cov = at::tensor(s.cov, opt).reshape({2, 2});
    at::Tensor L = at::linalg_cholesky(cov + at::eye(2, opt) * 1e-12);
    out = at::matmul(at::normal(0, 1, {n, 2}, gen, opt), L.t()) + at::tensor(s.mean, opt);
  } else if (s.name == "grid25") {
    // 5x5 modes at {-2,-1,0,1,2}^2 (scaled so the set has roughly unit variance per axis).
    at::Tensor idx = at::randint(0, 25, {n}, gen, at::TensorOptions().dtype(at::kLong));
    at::Tensor cx = at::remainder(idx, 5).to(at::kDouble) - 2.0, cy = at::div(idx, 5, "floor").to(at::kDouble) - 2.0;
    out = at::stack({cx, cy}, 1) * 0.7 + at::normal(0, 1, {n, 2}, gen, opt) * s.noise;
  } else if (s.name == "mixture8") {
    at::Tensor k = at::randint(0, 8, {n}, gen, at::TensorOptions().dtype(at::kLong)).to(at::kDouble) * (2 * M_PI / 8);
    out = at::stack({k.cos(), k.sin()}, 1) * 1.5 + at::normal(0, 1, {n, 2}, gen, opt) * s.noise * 1.5;
  } else if (s.name == "rings") {
    at::Tensor ring = at::randint(0, 2, {n}, gen, at::TensorOptions().dtype(at::kLong)).to(at::kDouble);
    at::Tensor a = at::rand({n}, gen, opt) * (2 * M_PI);
    at::Tensor r = 0.8 + ring * 0.9;
    out = at::stack({r * a.cos(), r * a.sin()}, 1) + at::normal(0, 1, {n, 2}, gen, opt) * s.noise;
  } else if (s.name == "spirals") {
    at::Tensor arm = at::randint(0, 2, {n}, gen, at::TensorOptions().dtype(at::kLong)).to(at::kDouble);
    at::Tensor u = at::rand({n}, gen, opt).sqrt();
    at::Tensor a = u * (3 * M_PI) + arm * M_PI;
    at::Tensor r = u * 1.8;
    out = at::stack({r * a.cos(), r * a.sin()}, 1) + at::normal(0, 1, {n, 2}, gen, opt) * s.noise;
  } else {  // swissroll
    at::Tensor u = at::rand({n}, gen, opt);
    at::Tensor a = 1.5 * M_PI * (1 + 2 * u);
    out = at::stack({a * a.cos(), a * a.sin()}, 1) / 7.0 + at::normal(0, 1, {n, 2}, gen, opt) * s.noise;
  }
  return out.to(at::kFloat);
}

}  // namespace sims::data
