// The MAD paper's effective sample size (mad-paper.txt eq. (3), Fig. 10, 30-32) in the Gaussian family:
//   WD(n_r, n_s, λ) = lim_t E[dist(G^t, p_r)] of a fresh (or augmentation) loop, and
//   n_e such that E[dist(G(n_e), p_r)] = WD, G(n) a Gaussian fitted to n real samples.
// n_e / n_r ≥ 1: the synthetic data are admissible (they act like more real data).
// Both expectations are Monte Carlo means over runs of the batched Gaussian loop (gaussian_loop.hpp), with
// dist = the closed-form W2 to p_r = N(0, I_D).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loops/gaussian_loop.hpp"
#include "render/canvas.hpp"

namespace sims::loops {

struct AtlasConfig {
  LoopKind kind = LoopKind::Fresh;  // fresh or augment
  int64_t dim = 2;
  std::vector<int64_t> n_real{10, 30, 100, 300, 1000};
  std::vector<int64_t> n_synth{0, 10, 30, 100, 300, 1000, 3000};
  std::vector<double> lambdas{0.5, 0.9, 1.0};
  int64_t generations = 60;  // the limit: the mean of E[dist] over the last `tail` generations
  int64_t tail = 20;
  int64_t runs = 200;        // per cell
  int64_t curve_runs = 2000; // for E[dist(G(n), p_r)]
  uint64_t seed = 0;
};

// Throws InputError with a clear message when a field is out of range.
void validate(const AtlasConfig& c);

// E[dist(G(n), p_r)] for a fit to n real samples, on a log grid of n (each with its 95 % t interval).
struct FitCurve {
  std::vector<double> n, dist, lo, hi;
  // n with dist(n) = d, by log-log interpolation on the curve made non-increasing; +inf beyond its end,
  // the curve's first n (2: n_e is at most that) before its start.
  double invert(double d) const;
};
FitCurve fit_distance_curve(int64_t dim, int64_t n_min, int64_t n_max, int64_t runs, uint64_t seed);

struct AtlasCell {
  double lambda;
  int64_t n_real, n_synth;
  double wd, wd_lo, wd_hi;        // the limit distance (mean over the tail) and a 95 % interval
  double n_e, n_e_lo, n_e_hi;     // the effective sample size and the interval the WD interval maps to
  double ratio() const { return n_e / static_cast<double>(n_real); }
  bool admissible() const { return n_e >= static_cast<double>(n_real); }
};

struct AtlasResult {
  AtlasConfig cfg;
  FitCurve curve;
  std::vector<AtlasCell> cells;  // λ-major, then n_real, then n_synth
  std::string to_csv() const;
  nlohmann::json to_json() const;
};

// One heat map per λ: rows n_r, columns n_s, each cell n_e / n_r (green: admissible, ≥ 1; red: < 1; a dark
// frame where the whole 95 % interval is ≥ 1), with a caption of the settings.
render::Canvas atlas_figure(const AtlasResult& r);

// progress(done, total) after each cell; returning false cancels (throws sims::Cancelled).
AtlasResult run_atlas(const AtlasConfig& cfg, const std::function<bool(int, int)>& progress = {});

}  // namespace sims::loops
