// Numbers as the experiments' messages, tables and figure labels show them.
#pragma once
#include <cmath>
#include <iomanip>
#include <sstream>
#include <string>

namespace sims::loops::text {

// Up to `precision` significant digits ("0.7", "1.25e-05").
inline std::string fmt(double v, int precision = 6) {
  std::ostringstream s;
  s << std::setprecision(precision) << v;
  return s.str();
}

// A share as "70.0 %"; "n/a" when not finite.
inline std::string percent(double v) {
  if (!std::isfinite(v)) return "n/a";
  std::ostringstream s;
  s << std::fixed << std::setprecision(1) << 100 * v << " %";
  return s.str();
}

}  // namespace sims::loops::text
