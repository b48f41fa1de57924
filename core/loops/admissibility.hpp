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

// The loops of an atlas: λ × memory K × either the grid n_real × n_synth, or (MAD App. I exp. 3, Fig. 34; the
// clean fraction of Bertrand et al.'s retraining) a corpus of `total` samples per generation of which the fraction
// p is real: n_r = round(p n), n_s = n − n_r.
struct AtlasConfig {
  LoopKind kind = LoopKind::Fresh;  // fresh or augment
  int64_t dim = 2;
  std::vector<int64_t> n_real{10, 30, 100, 300, 1000};
  std::vector<int64_t> n_synth{0, 10, 30, 100, 300, 1000, 3000};
  std::vector<double> lambdas{0.5, 0.9, 1.0};
  std::vector<int64_t> memory{1};     // gaussian_loop.hpp's K (MAD Fig. 33)
  bool accumulate = false;            // every earlier synthetic set (MAD App. A.2)
  std::vector<int64_t> total;         // n per generation; non-empty: real_fraction replaces n_real × n_synth
  std::vector<double> real_fraction;  // p in (0, 1]
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
// `go_on`, where given, is asked before each fit; false cancels (throws sims::Cancelled).
FitCurve fit_distance_curve(int64_t dim, int64_t n_min, int64_t n_max, int64_t runs, uint64_t seed,
                            const std::function<bool()>& go_on = {});

struct AtlasCell {
  double lambda;
  int64_t memory;
  int64_t n_real, n_synth;
  int64_t total;         // 0 on the n_real × n_synth grid
  double real_fraction;  // NaN on the grid
  double wd, wd_lo, wd_hi;        // the limit distance (mean over the tail) and a 95 % interval
  double n_e, n_e_lo, n_e_hi;     // the effective sample size and the interval the WD interval maps to
  // The tail's two halves agree within a generation's mean 95 % half-width: the loop had reached its limit
  // (false: more generations are needed, e.g. for a long memory K).
  bool settled = true;
  double ratio() const { return n_e / static_cast<double>(n_real); }
  bool admissible() const { return n_e >= static_cast<double>(n_real); }
  // Judged by the 95 % interval (the heat map's dark frame, the CLI's and the tooltip's words): all of it at or
  // above n_r; or n_r inside it, not told from 1 (a cell without synthetic data has n_e = n_r by definition).
  bool surely_admissible() const { return n_e_lo >= static_cast<double>(n_real); }
  bool within_noise_of_one() const { return !surely_admissible() && n_e_hi >= static_cast<double>(n_real); }
};

// What the figure puts on its x axis: a heat map of n_real × n_synth per (λ, K), or curves over K, n or p.
enum class AtlasAxis { Grid, Memory, Total, Fraction };
AtlasAxis atlas_axis(const AtlasConfig& c);

struct AtlasResult {
  AtlasConfig cfg;
  FitCurve curve;
  // λ-major, then K, then n_real (or p), then n_synth (or n)
  std::vector<AtlasCell> cells;
  std::string to_csv() const;
  nlohmann::json to_json() const;
};

// Grid: one heat map per (λ, K): rows n_r, columns n_s, each cell n_e / n_r (green: admissible, ≥ 1; red: < 1; a
// dark frame where the whole 95 % interval is ≥ 1), the heat maps side by side in rows of `columns` (0: all in one
// row; the studio picks the count that fits its pane). Otherwise two panels over K, n (log) or p: the limit W2
// (lower is better) and n_e / n_r (higher is better), with 95 % intervals. A caption of the settings below.
render::Canvas atlas_figure(const AtlasResult& r, int columns = 0);

// How many heat maps atlas_figure draws (1 for the curve figures).
int atlas_panels(const AtlasConfig& c);

// The index in r.cells of the heat-map cell under pixel (x, y) of atlas_figure(r, columns); -1 elsewhere (and for
// the curve figures).
int atlas_cell_at(const AtlasResult& r, int x, int y, int columns = 0);

// progress(done, total) before each fit of the distance curve (done = 0), every generation of a cell and after each
// cell; returning false cancels (throws sims::Cancelled) - except after the last cell, when the atlas
// is whole: it is returned (a Ctrl-C then loses nothing; the caller still sees its stop flag).
AtlasResult run_atlas(const AtlasConfig& cfg, const std::function<bool(int, int)>& progress = {});

}  // namespace sims::loops
