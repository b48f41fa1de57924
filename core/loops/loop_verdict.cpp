#include "loops/loop_verdict.hpp"

#include <cmath>
#include <iomanip>
#include <sstream>

namespace sims::loops {

metrics::Estimate paired_change(const std::vector<double>& first, const std::vector<double>& last, double level) {
  std::vector<double> d;
  for (size_t r = 0; r < first.size() && r < last.size(); ++r)
    if (std::isfinite(first[r]) && std::isfinite(last[r])) d.push_back(last[r] - first[r]);
  metrics::Estimate e = metrics::mean_over_runs(d, level);
  if (e.has_interval()) e.method = "paired t";
  return e;
}

namespace {
// Four significant digits of the first generation's value, as fixed decimals (FD 295.8, W2 0.1409).
int decimals_for(const metrics::Estimate& e) {
  const double v = std::abs(e.value);
  return !std::isfinite(v) || v < 1 ? 4 : v < 10 ? 3 : v < 100 ? 2 : 1;
}

std::string signed_text(const metrics::Estimate& e) {
  std::ostringstream s;
  s << std::showpos << std::setprecision(3) << e.value << std::noshowpos;
  if (e.has_interval()) s << " ± " << std::setprecision(2) << e.half_width();
  return s.str();
}
}  // namespace

std::string drift_verdict(const std::string& metric, size_t generation, const metrics::Estimate& first,
                          const metrics::Estimate& last, const metrics::Estimate& change, const std::string& how,
                          const metrics::Estimate& ratio) {
  std::ostringstream s;
  if (generation < 2) {
    s << metric << " at generation 1: " << first.text(decimals_for(first)) << " (one generation: no change to judge)";
    return s.str();
  }
  const int digits = decimals_for(first);
  s << metric << " at generation " << generation << ": " << last.text(digits) << " against " << first.text(digits)
    << " at generation 1";
  if (std::isfinite(first.value) && first.value > 0 && std::isfinite(last.value)) {
    // Two decimals, more where an end that is not 1 would read as 1.00 (an upper end of 0.996 beside "comes
    // closer" must not read as holding 1).
    const bool ends = ratio.has_interval() && std::isfinite(ratio.lo) && std::isfinite(ratio.hi);
    int digits = 2;
    const auto reads_as_one = [&digits](double v) { return v != 1 && std::abs(v - 1) < 0.5 * std::pow(10.0, -digits); };
    while (ends && digits < 6 && (reads_as_one(ratio.lo) || reads_as_one(ratio.hi))) ++digits;
    s << " (ratio " << std::fixed << std::setprecision(digits) << last.value / first.value;
    if (ends) s << " [" << ratio.lo << ", " << ratio.hi << "]";
    else if (ratio.method.find("unbounded") != std::string::npos)  // Fieller's set over runs too few to bound it
      s << ", no interval: generation 1's mean is within its own noise of 0";
    s << std::defaultfloat << ")";
  }
  s << ": ";
  const std::string tail = " (" + signed_text(change) + "; " + how + "; lower is better)";
  if (!std::isfinite(change.value)) return s.str() + "no change can be computed";
  if (!change.has_interval())
    return s.str() + (change.value > 0 ? "the distance grew" : "the distance did not grow") + tail +
           ", with no interval to tell it from noise";
  if (!metrics::significant(change)) return s.str() + "it stays within the noise of generation 1" + tail;
  return s.str() + (change.value > 0 ? "the loop drifts away from p_r" : "the loop comes closer to p_r") + tail;
}

}  // namespace sims::loops
