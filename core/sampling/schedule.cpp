#include "sampling/schedule.hpp"

#include <algorithm>
#include <cmath>

#include "common/error.hpp"

namespace sims {

void SamplerConfig::validate() const {
  auto fin = [](double v) { return std::isfinite(v); };
  if (steps < 1 || steps > 100000) throw InputError("--steps must be between 1 and 100000 (got " + std::to_string(steps) + ")");
  if (!fin(sigma_min) || sigma_min <= 0) throw InputError("--sigma-min must be a positive number");
  if (!fin(sigma_max) || sigma_max <= 0 || sigma_max > 1e5)
    throw InputError("--sigma-max must be a positive number up to 1e5 (EDM uses 80)");
  if (sigma_min > sigma_max) throw InputError("--sigma-min must not exceed --sigma-max");
  if (!fin(rho) || rho <= 0 || rho > 1000) throw InputError("--rho must be a positive number up to 1000 (EDM uses 7)");
  if (!fin(churn) || churn < 0 || churn > 1e6) throw InputError("--churn must be between 0 and 1e6");
  if (!(s_min >= 0) || std::isnan(s_max) || s_max < s_min) throw InputError("--s-min/--s-max must satisfy 0 <= s-min <= s-max");
  if (!fin(s_noise) || s_noise < 0 || s_noise > 100) throw InputError("--s-noise must be between 0 and 100");
}

void Guidance::validate() const {
  if (!std::isfinite(omega) || std::abs(omega) > 1000)
    throw InputError("--omega must be a number between -1000 and 1000 (the papers' best is below 5)");
  // As every face reads the flag (experiment::parse_interval): an empty interval (LO = HI) would guide nowhere.
  if (!std::isfinite(lo) || std::isnan(hi) || lo < 0 || !(hi > lo))
    throw InputError("--interval LO:HI needs 0 <= LO < HI");
}

std::vector<double> edm_time_steps(const SamplerConfig& c) {
  std::vector<double> t(static_cast<size_t>(c.steps) + 1);
  const double a = std::pow(c.sigma_max, 1.0 / c.rho), b = std::pow(c.sigma_min, 1.0 / c.rho);
  for (int i = 0; i < c.steps; ++i) {
    const double frac = c.steps > 1 ? static_cast<double>(i) / (c.steps - 1) : 0.0;
    t[i] = std::pow(a + frac * (b - a), c.rho);
  }
  t[c.steps] = 0.0;
  return t;
}

double churn_gamma(const SamplerConfig& c, double t_i) {
  if (c.churn <= 0 || t_i < c.s_min || t_i > c.s_max) return 0.0;
  return std::min(c.churn / c.steps, std::sqrt(2.0) - 1.0);
}

std::vector<double> step_eval_sigmas(const SamplerConfig& c, const std::vector<double>& t, int i) {
  const double t_hat = t[i] * (1.0 + churn_gamma(c, t[i]));
  if (c.kind == SamplerKind::Heun && i < c.steps - 1) return {t_hat, t[i + 1]};
  return {t_hat};
}

int first_guided_step(const SamplerConfig& c, const Guidance& g) {
  const auto t = edm_time_steps(c);
  for (int i = 0; i < c.steps; ++i)
    for (double s : step_eval_sigmas(c, t, i))
      if (g.applies(s)) return i;
  return c.steps;
}

int nfe_per_sample(const SamplerConfig& c, const Guidance& g, bool has_aux) {
  const auto t = edm_time_steps(c);
  int n = 0;
  for (int i = 0; i < c.steps; ++i)
    for (double s : step_eval_sigmas(c, t, i)) n += (has_aux && g.applies(s)) ? 2 : 1;
  return n;
}

SamplerKind parse_sampler_kind(const std::string& s) {
  if (s == "heun") return SamplerKind::Heun;
  if (s == "euler") return SamplerKind::Euler;
  throw InputError("--sampler must be heun or euler (got '" + s + "')");
}

const char* to_string(SamplerKind k) { return k == SamplerKind::Heun ? "heun" : "euler"; }

}  // namespace sims
