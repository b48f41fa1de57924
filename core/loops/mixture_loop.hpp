// The MAD paper's Gaussian-mixture loop (App. C.1, Fig. 11-12): p_r is a 2D
// mixture of grid x grid equally weighted modes N(c_j, s^2 I) on a square grid
// of spacing 2 centred at 0 (grid 5: the 25-mode set the paper takes from Che
// et al.). Each generation fits a K = grid^2 component Gaussian mixture (full
// covariances) by EM to its training set (the same three kinds as the Gaussian
// loop: fully synthetic, augment, fresh) and samples the next generation's
// synthetic set from it, with sampling bias lambda scaling every component's
// covariance.
//
// Fitting: generation 1 starts EM from a farthest-point choice of K data points
// (which finds every mode when the modes are well separated); generation t >= 2
// starts from generation t-1's fit (warm start). A component whose share of
// the data falls below 2 points is dropped: its mode is lost for good (no
// re-seeding), which is how a finite-sample mixture loop forgets modes.
//
// Per generation and run, on n_eval samples of the fit (with the bias) against
// n_eval real points fixed per run:
//   variance        tr Cov of the fitted mixture (exact; p_r: 16 + 2 s^2 for grid 5)
//   modal_variance  mean over living components of tr Sigma_k (p_r: 2 s^2)
//   modes           real modes covered: >= 10 % of a mode's expected share of the samples within 4 s of its centre
//   recall, precision  Kynkaenniemi et al. (k = pr_k) between the samples and the real points (higher is better)
// each as a mean over runs with its 95 % Student-t interval (keys NAME_mean, NAME_lo, NAME_hi), and run 1's
// fitted mixtures at a few generations (the figure).
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <ATen/Tensor.h>
#include <nlohmann/json.hpp>

#include "experiment/settings.hpp"
#include "loops/gaussian_loop.hpp"

namespace sims::loops {

struct MixtureLoopConfig {
  LoopKind kind = LoopKind::FullySynthetic;
  int64_t grid = 5;          // modes per side (K = grid^2)
  double mode_std = 0.1;     // s
  int64_t n_real = 500;
  int64_t n_synth = 500;
  int64_t generations = 200;
  int64_t runs = 20;
  double bias = 1.0;         // lambda in (0, 1]
  int64_t n_eval = 500;
  int64_t pr_k = 3;
  uint64_t seed = 0;
};

// A 2D Gaussian mixture: weights (0 for a dropped component), means, covariances (xx, xy, yy).
struct Mixture2d {
  std::vector<double> w;
  std::vector<std::array<double, 2>> mu;
  std::vector<std::array<double, 3>> cov;
  int64_t living() const;
  double total_variance() const;  // tr Cov of the mixture
  double modal_variance() const;  // mean tr Sigma_k over living components
  nlohmann::json to_json() const;
};

// n points [n, 2] (float64) of m with every covariance scaled by lambda, from `seed` (for pictures of a fit).
at::Tensor sample_mixture(const Mixture2d& m, int64_t n, double lambda, uint64_t seed);

// The real distribution of a configuration, as a mixture.
Mixture2d mixture_truth(const MixtureLoopConfig& cfg);

// EM from `start` on points [n][2]; components whose responsibility sum falls below 2 are dropped. At most
// max_iter iterations; stops when the mean log-likelihood changes by less than 1e-9.
Mixture2d fit_mixture(const std::vector<std::array<double, 2>>& x, Mixture2d start, int max_iter = 100);

// K points of x chosen by farthest-point traversal from x[first] (generation 1's EM start).
Mixture2d farthest_point_start(const std::vector<std::array<double, 2>>& x, int64_t k, size_t first);

struct MixtureLoopResult {
  std::map<std::string, std::vector<double>> mean, lo, hi;  // per metric name, one value per generation
  std::vector<int64_t> snapshot_generations;                // run 1's fits at these generations
  std::vector<Mixture2d> snapshots;
};

void validate(const MixtureLoopConfig& cfg);  // throws InputError

// progress(so_far) after each generation, with the means and intervals of the generations done (and the run-1
// snapshots reached); returning false cancels (throws sims::Cancelled). All runs advance together, one
// generation at a time, each with its own random stream, so the numbers do not depend on that order. Memory: each
// run keeps its real sets (n_real + n_eval points) and its last fit for the whole loop.
MixtureLoopResult run_mixture_loop(const MixtureLoopConfig& cfg,
                                   const std::function<bool(const MixtureLoopResult& so_far)>& progress = {});

const experiment::Schema<MixtureLoopConfig>& mixture_loop_schema();

// The settings, NAME_mean/_lo/_hi arrays, "snapshots" [{generation, mixture}], "ci" and a one-line "verdict" on
// recall from the first generation to the last.
nlohmann::json mixture_loop_json(const MixtureLoopConfig& cfg, const MixtureLoopResult& res);

// Writes the figure: run 1's fitted mixtures (samples drawn from them over the real modes in grey) at the
// snapshot generations, side by side.
void write_mixture_figure(const std::string& path, const MixtureLoopConfig& cfg, const MixtureLoopResult& res);

}  // namespace sims::loops
