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

// A value and its interval as a table cell: "0.0123 [0.00812, 0.0164]" at `precision` significant digits; the
// bare value where either end is not finite (the caller says why there is none).
inline std::string with_bounds(double v, double lo, double hi, int precision = 3) {
  const std::string value = fmt(v, precision);
  if (!std::isfinite(lo) || !std::isfinite(hi)) return value;
  return value + " [" + fmt(lo, precision) + ", " + fmt(hi, precision) + "]";
}

// A share as "70.0 %"; "n/a" when not finite.
inline std::string percent(double v) {
  if (!std::isfinite(v)) return "n/a";
  std::ostringstream s;
  s << std::fixed << std::setprecision(1) << 100 * v << " %";
  return s.str();
}

// Values as "0, 0.25, 0.5".
template <class Seq>
std::string join_numbers(const Seq& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ", ") + fmt(static_cast<double>(v));
  return out;
}

}  // namespace sims::loops::text
