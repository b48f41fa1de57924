// One line on how a self-consuming loop ended: did the distance to the real
// distribution grow from the first generation to the last, beyond the noise?
// (The SIMS paper's claim: standard training drifts, SIMS stays flat.)
#pragma once
#include <string>
#include <vector>

#include "metrics/uncertainty.hpp"

namespace sims::loops {

// The mean over runs of last[r] - first[r] with its Student-t interval (method
// "paired t"): the runs' own changes, so the spread between runs cancels.
// Runs where either value is not finite are dropped; fewer than 2 give no interval.
metrics::Estimate paired_change(const std::vector<double>& first, const std::vector<double>& last, double level = 0.95);

// "<metric> at generation G: L against F at generation 1 (ratio R [lo, hi]): the loop drifts away from p_r by
// C (<how>; lower is better)", or "... stays within the noise of generation 1 (C)", or "... comes closer to p_r".
// `change` = last - first with its interval; `how` names the interval ("95 % paired t over 16 runs"). `ratio`:
// L / F with the interval the loop's table gives it; without one, L / F is written bare.
std::string drift_verdict(const std::string& metric, size_t generation, const metrics::Estimate& first,
                          const metrics::Estimate& last, const metrics::Estimate& change, const std::string& how,
                          const metrics::Estimate& ratio = metrics::Estimate());

}  // namespace sims::loops
