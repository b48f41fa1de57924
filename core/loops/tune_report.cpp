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
  const int cw = 96, ch = 40, left = 120, top = 64, bottom = 122;
  const int w = std::max(640, left + cw * static_cast<int>(omegas.size()) + 24);
  const int h = top + ch * static_cast<int>(labels.size()) + bottom;
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
  // The verdict and how the cell was chosen, wrapped to the width.
  std::ostringstream why;
  why << r.choice.verdict << ". Red frame: the chosen cell, the surest gain (highest lower 95 % bound of the gain over "
      << "\u03c9 = 0)";
  if (r.choice.lowest_aux != r.choice.aux || r.choice.lowest_omega != r.choice.omega)
    why << "; the lowest value, at \u03c9 = " << cell_text(r.choice.lowest_omega) << " (" << r.choice.lowest_aux
        << "), has a less certain gain";
  if (std::isfinite(r.grid.floor.value)) why << ". Real vs real at this size: " << r.grid.floor.text(4);
  std::istringstream words(why.str());
  std::string word, line;
  int y = top + ch * static_cast<int>(labels.size()) + 14;
  while (words >> word) {
    const std::string next = line.empty() ? word : line + " " + word;
    if (render::Canvas::text_width(next, 13) > w - 24 && !line.empty()) {
      c.draw_text(line, 12, y, 13, {40, 40, 40});
      y += 18;
      line = word;
    } else {
      line = next;
    }
  }
  if (!line.empty()) c.draw_text(line, 12, y, 13, {40, 40, 40});
  return c;
}

}  // namespace sims::loops
