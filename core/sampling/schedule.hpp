// EDM sampler settings and the published time-step discretisation
// (Karras et al. 2022, eq. 5): t_i = (smax^(1/rho) + i/(N-1) (smin^(1/rho) - smax^(1/rho)))^rho, t_N = 0.
#pragma once
#include <limits>
#include <string>
#include <vector>

namespace sims {

enum class SamplerKind { Heun, Euler };

struct SamplerConfig {
  SamplerKind kind = SamplerKind::Heun;
  int steps = 18;
  double sigma_min = 0.002;
  double sigma_max = 80.0;
  double rho = 7.0;
  // Stochastic churn (EDM Alg. 2); 0 = deterministic.
  double churn = 0.0;
  double s_min = 0.0;
  double s_max = std::numeric_limits<double>::infinity();
  double s_noise = 1.0;

  // Throws InputError naming the offending setting.
  void validate() const;
};

// SIMS guidance D = (1+omega) D_base - omega D_aux, applied at an evaluation
// exactly when lo < sigma <= hi (Kynkäänniemi et al. 2024's interval).
struct Guidance {
  double omega = 0.0;
  double lo = 0.0;
  double hi = std::numeric_limits<double>::infinity();
  bool applies(double sigma) const { return lo < sigma && sigma <= hi; }
  void validate() const;
};

// N+1 values t_0 > ... > t_{N-1} > t_N = 0.
std::vector<double> edm_time_steps(const SamplerConfig& cfg);

// The churn factor gamma_i of step i (0 when churn is off or t_i is outside [s_min, s_max]).
double churn_gamma(const SamplerConfig& cfg, double t_i);

// The sigmas at which step i evaluates the denoiser: {t_hat_i} for Euler or
// the last Heun step, {t_hat_i, t_{i+1}} otherwise.
std::vector<double> step_eval_sigmas(const SamplerConfig& cfg, const std::vector<double>& t, int i);

// Index of the first step that evaluates inside the guidance interval, or
// cfg.steps if none does. States x_0..x_k with k <= this index do not depend
// on omega, which is what prefix reuse relies on.
int first_guided_step(const SamplerConfig& cfg, const Guidance& g);

// Network evaluations per sample (base and auxiliary each counted) for a run.
int nfe_per_sample(const SamplerConfig& cfg, const Guidance& g, bool has_aux);

SamplerKind parse_sampler_kind(const std::string& s);
const char* to_string(SamplerKind k);

}  // namespace sims
