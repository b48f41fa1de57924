// Several `sims tune` runs side by side (the SIMS paper's App. A ablations:
// auxiliaries fine-tuned on synthetic sets of several sizes, Fig. 8 left; a
// decoder-only auxiliary against a full one, Fig. 8 middle right): for each
// run and budget B, the lowest metric over ω > 0 with its 95 % interval, and
// the base (ω = 0) as the reference line.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/uncertainty.hpp"
#include "render/plot.hpp"

namespace sims::loops {

struct TuneCurve {
  std::string label;
  std::string metric;                   // "fd", "w2", ...: lower is better
  std::vector<int64_t> budgets;         // ascending
  std::vector<metrics::Estimate> best;  // per budget: the lowest value over ω > 0
  std::vector<double> best_omega;
  metrics::Estimate zero;               // ω = 0: the base alone
  double nfe = 0, nfe_base = 0;         // network evaluations per sample of a guided and an unguided row
  double seconds = 0, seconds_base = 0; // mean wall time of a guided row and of the ω = 0 row
  nlohmann::json to_json() const;
};

// The curve of a run's result.json (TuneResult::to_json). Throws InputError
// naming `what` when it is not one (no grid, no budgets, no ω = 0 row).
TuneCurve tune_curve(const nlohmann::json& result, const std::string& label, const std::string& what);

// FD (or the runs' metric) against the auxiliary's budget, one series per run,
// the first run's ω = 0 row dashed. Throws InputError when the runs' metrics differ.
render::LinePlot tune_curves_plot(const std::vector<TuneCurve>& curves, const std::string& title);

}  // namespace sims::loops
