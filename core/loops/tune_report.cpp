#include "loops/tune_report.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

namespace sims::loops {

namespace {

std::string cell_text(double v) {
  if (!std::isfinite(v)) return "n/a";
  std::ostringstream s;
  s << std::setprecision(3) << v;
  return s.str();
}

// "6.92 ± 8.1": three significant digits for the value, two for the half-width, as the cells show values.
std::string estimate_text(const metrics::Estimate& e) {
  if (!std::isfinite(e.value)) return "n/a";
  const auto num = [](double v, int digits) {
    std::ostringstream s;
    if (std::abs(v) >= 1000) s << std::fixed << std::setprecision(0) << v;  // 1234, not 1.23e+03
    else s << std::setprecision(digits) << v;
    return s.str();
  };
  std::string t = num(e.value, 3);
  if (e.has_interval()) t += " \u00b1 " + num(std::max(e.value - e.lo, e.hi - e.value), 2);
  return t;
}

// Light (worse) to dark blue (better), readable with black or white text.
render::Rgb ramp(double t) {
  t = std::clamp(t, 0.0, 1.0);
  auto mix = [t](int a, int b) { return static_cast<uint8_t>(std::lround(a + (b - a) * t)); };
  return {mix(239, 8), mix(243, 48), mix(255, 107)};
}

}  // namespace

render::Canvas tune_heatmap(const TuneResult& r) {
  std::vector<double> omegas;
  for (const auto& row : r.grid.rows)
    if (std::find(omegas.begin(), omegas.end(), row.omega) == omegas.end()) omegas.push_back(row.omega);
  std::sort(omegas.begin(), omegas.end());
  const auto& labels = r.aux_labels;
  const int cw = 96, ch = 40, left = 120, top = 64;
  const int w = std::max(640, left + cw * static_cast<int>(omegas.size()) + 24);
  // The verdict and how the cell was chosen, wrapped to the width; the canvas ends below its last line.
  std::ostringstream why;
  why << r.choice.verdict << ". Red frame: the chosen cell, the surest gain (highest lower 95 % bound of the gain over "
      << "\u03c9 = 0)";
  if (r.choice.lowest_aux != r.choice.aux || r.choice.lowest_omega != r.choice.omega)
    why << "; the lowest value, at \u03c9 = " << cell_text(r.choice.lowest_omega) << " (" << r.choice.lowest_aux
        << "), has a less certain gain";
  if (std::isfinite(r.grid.floor.value)) why << ". Real vs real at this size: " << estimate_text(r.grid.floor);
  const std::vector<std::string> notes = render::wrap_text(why.str(), w - 24, 13);
  const int h = top + ch * static_cast<int>(labels.size()) + 14 + 18 * static_cast<int>(notes.size()) + 6;
  render::Canvas c(w, h, {255, 255, 255});
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& row : r.grid.rows)
    if (std::isfinite(row.value)) lo = std::min(lo, row.value), hi = std::max(hi, row.value);
  const std::string metric = r.grid.metric == "energy" ? "energy distance" : r.grid.metric;
  const std::string title = metric + " of every (auxiliary, \u03c9): lower is better";
  c.draw_text(title, (w - render::Canvas::text_width(title, 16, true)) / 2, 10, 16, {10, 10, 10}, true);
  c.draw_text("guidance \u03c9", left + (cw * static_cast<int>(omegas.size()) - render::Canvas::text_width("guidance \u03c9", 13)) / 2,
              36, 13, {70, 70, 70});
  for (size_t j = 0; j < omegas.size(); ++j) {
    const std::string t = cell_text(omegas[j]);
    c.draw_text(t, left + static_cast<int>(j) * cw + (cw - render::Canvas::text_width(t, 13)) / 2, top - 18, 13);
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    const int y = top + static_cast<int>(i) * ch;
    c.draw_text(labels[i], left - 8 - render::Canvas::text_width(labels[i], 13), y + ch / 2 - 8, 13);
    for (size_t j = 0; j < omegas.size(); ++j) {
      const int x = left + static_cast<int>(j) * cw;
      const metrics::SweepRow* row = nullptr;
      for (const auto& rr : r.grid.rows)
        if (rr.aux == labels[i] && rr.omega == omegas[j]) row = &rr;
      const double v = row ? row->value : NAN;
      const double t = std::isfinite(v) && hi > lo ? (hi - v) / (hi - lo) : 0.0;
      c.fill_rect(x + 1, y + 1, cw - 2, ch - 2, std::isfinite(v) ? ramp(t) : render::Rgb{230, 230, 230});
      const render::Rgb ink = t > 0.55 ? render::Rgb{255, 255, 255} : render::Rgb{20, 20, 20};
      const std::string s = cell_text(v);
      c.draw_text(s, x + (cw - render::Canvas::text_width(s, 13)) / 2, y + ch / 2 - 8, 13, ink);
      if (row && labels[i] == r.choice.aux && omegas[j] == r.choice.omega)
        for (int k = 0; k < 3; ++k) c.stroke_rect(x + k, y + k, cw - 2 * k, ch - 2 * k, {214, 39, 40});
    }
  }
  int y = top + ch * static_cast<int>(labels.size()) + 14;
  for (const auto& l : notes) {
    c.draw_text(l, 12, y, 13, {40, 40, 40});
    y += 18;
  }
  return c;
}

}  // namespace sims::loops
