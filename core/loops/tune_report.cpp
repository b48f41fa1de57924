#include "loops/tune_report.hpp"

#include <algorithm>
#include <cctype>
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

// Three significant digits for values, two for half-widths; 1234, not 1.23e+03.
std::string num_text(double v, int digits) {
  std::ostringstream s;
  if (std::abs(v) >= 1000) s << std::fixed << std::setprecision(0) << v;
  else s << std::setprecision(digits) << v;
  return s.str();
}

double half_width(double value, double lo, double hi) { return std::max(value - lo, hi - value); }

// "6.92 ± 8.1", as the cells show values.
std::string estimate_text(const metrics::Estimate& e) {
  if (!std::isfinite(e.value)) return "n/a";
  std::string t = num_text(e.value, 3);
  if (e.has_interval()) t += " \u00b1 " + num_text(half_width(e.value, e.lo, e.hi), 2);
  return t;
}

// Light (worse) to dark blue (better), readable with black or white text.
render::Rgb ramp(double t) {
  t = std::clamp(t, 0.0, 1.0);
  auto mix = [t](int a, int b) { return static_cast<uint8_t>(std::lround(a + (b - a) * t)); };
  return {mix(239, 8), mix(243, 48), mix(255, 107)};
}

bool rows_are_budgets(const std::vector<std::string>& labels) {
  return !labels.empty() && labels.front().rfind("B=", 0) == 0;
}

}  // namespace

render::Canvas tune_heatmap(const TuneResult& r) {
  std::vector<double> omegas;
  for (const auto& row : r.grid.rows)
    if (std::find(omegas.begin(), omegas.end(), row.omega) == omegas.end()) omegas.push_back(row.omega);
  std::sort(omegas.begin(), omegas.end());
  const auto& labels = r.aux_labels;
  const auto find_row = [&](const std::string& aux, double omega) -> const metrics::SweepRow* {
    for (const auto& rr : r.grid.rows)
      if (rr.aux == aux && rr.omega == omega) return &rr;
    return nullptr;
  };
  bool intervals = false;
  for (const auto& row : r.grid.rows) intervals = intervals || (std::isfinite(row.value_lo) && std::isfinite(row.value_hi));
  const int cw = 104, ch = intervals ? 46 : 40, left = 120, top = 80, key_h = 58;
  const int w = std::max(640, left + cw * static_cast<int>(omegas.size()) + 24);
  const std::string metric = r.grid.metric == "energy" ? "energy distance" : r.grid.metric;
  // The verdict and how the cell was chosen, wrapped to the width; the canvas ends below its last line.
  std::ostringstream why;
  std::string verdict = r.choice.verdict;
  if (rows_are_budgets(labels)) {
    why << "Rows: the auxiliary after fine-tuning on B samples seen (repeats counted). ";
    if (!verdict.empty()) verdict[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(verdict[0])));
  }
  why << verdict << ". Red frame: the chosen cell, the surest gain (highest lower 95 % bound of the gain over "
      << "\u03c9 = 0)";
  if (r.choice.lowest_aux != r.choice.aux || r.choice.lowest_omega != r.choice.omega)
    why << "; the lowest value, at \u03c9 = " << cell_text(r.choice.lowest_omega) << " (" << r.choice.lowest_aux
        << "), has a less certain gain";
  if (std::isfinite(r.grid.floor.value)) why << ". Real vs real at this size: " << estimate_text(r.grid.floor);
  if (intervals)
    why << ". Each cell: " << metric << " \u00b1 the half-width of its own 95 % bootstrap interval; the gain over "
        << "\u03c9 = 0 has a narrower, paired interval (the same noise for every cell; tune.csv)";
  const std::vector<std::string> notes = render::wrap_text(why.str(), w - 24, 13);
  const int grid_bottom = top + ch * static_cast<int>(labels.size());
  const int h = grid_bottom + key_h + 18 * static_cast<int>(notes.size()) + 6;
  render::Canvas c(w, h, {255, 255, 255});
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& row : r.grid.rows)
    if (std::isfinite(row.value)) lo = std::min(lo, row.value), hi = std::max(hi, row.value);
  const std::string title = metric + " of every (auxiliary, \u03c9): lower is better";
  c.draw_text(title, (w - render::Canvas::text_width(title, 16, true)) / 2, 10, 16, {10, 10, 10}, true);
  const int grid_w = cw * static_cast<int>(omegas.size());
  c.draw_text("guidance \u03c9", left + (grid_w - render::Canvas::text_width("guidance \u03c9", 13)) / 2, 38, 13,
              {70, 70, 70});
  const std::string rows_name = rows_are_budgets(labels) ? "aux budget" : "auxiliary";
  c.draw_text(rows_name, left - 8 - render::Canvas::text_width(rows_name, 13), top - 20, 13, {70, 70, 70});
  for (size_t j = 0; j < omegas.size(); ++j) {
    const std::string t = cell_text(omegas[j]);
    c.draw_text(t, left + static_cast<int>(j) * cw + (cw - render::Canvas::text_width(t, 13)) / 2, top - 20, 13);
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    const int y = top + static_cast<int>(i) * ch;
    c.draw_text(labels[i], left - 8 - render::Canvas::text_width(labels[i], 13), y + ch / 2 - 8, 13);
    for (size_t j = 0; j < omegas.size(); ++j) {
      const int x = left + static_cast<int>(j) * cw;
      const metrics::SweepRow* row = find_row(labels[i], omegas[j]);
      const double v = row ? row->value : NAN;
      const double t = std::isfinite(v) && hi > lo ? (hi - v) / (hi - lo) : 0.0;
      c.fill_rect(x + 1, y + 1, cw - 2, ch - 2, std::isfinite(v) ? ramp(t) : render::Rgb{230, 230, 230});
      const render::Rgb ink = t > 0.55 ? render::Rgb{255, 255, 255} : render::Rgb{20, 20, 20};
      const std::string s = cell_text(v);
      const bool two = row && std::isfinite(v) && std::isfinite(row->value_lo) && std::isfinite(row->value_hi);
      if (two) {
        const std::string second = "\u00b1 " + num_text(half_width(v, row->value_lo, row->value_hi), 2);
        c.draw_text(s, x + (cw - render::Canvas::text_width(s, 13)) / 2, y + 6, 13, ink);
        c.draw_text(second, x + (cw - render::Canvas::text_width(second, 11)) / 2, y + 24, 11, ink);
      } else {
        c.draw_text(s, x + (cw - render::Canvas::text_width(s, 13)) / 2, y + ch / 2 - 8, 13, ink);
      }
      if (row && labels[i] == r.choice.aux && omegas[j] == r.choice.omega)
        for (int k = 0; k < 3; ++k) c.stroke_rect(x + k, y + k, cw - 2 * k, ch - 2 * k, {214, 39, 40});
    }
  }
  // The colour key: the ramp from the highest value (light, worse) to the lowest (dark, better).
  if (std::isfinite(lo) && std::isfinite(hi)) {
    const int kw = std::min(320, std::max(160, grid_w / 2)), kx = left + (grid_w - kw) / 2, ky = grid_bottom + 18;
    for (int k = 0; k < kw; ++k) c.fill_rect(kx + k, ky, 1, 12, ramp(kw > 1 ? static_cast<double>(k) / (kw - 1) : 0.0));
    c.stroke_rect(kx - 1, ky - 1, kw + 2, 14, {150, 150, 150});
    const std::string hi_s = cell_text(hi) + " (worse)", lo_s = cell_text(lo) + " (better)";
    c.draw_text(hi_s, kx - 8 - render::Canvas::text_width(hi_s, 12), ky - 1, 12, {60, 60, 60});
    c.draw_text(lo_s, kx + kw + 8, ky - 1, 12, {60, 60, 60});
    const std::string kt = "colour: " + metric + " of the cell";
    c.draw_text(kt, kx + (kw - render::Canvas::text_width(kt, 11)) / 2, ky + 16, 11, {90, 90, 90});
  }
  int y = grid_bottom + key_h;
  for (const auto& l : notes) {
    c.draw_text(l, 12, y, 13, {40, 40, 40});
    y += 18;
  }
  return c;
}

}  // namespace sims::loops
