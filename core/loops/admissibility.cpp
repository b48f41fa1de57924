#include "loops/admissibility.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "common/error.hpp"
#include "render/canvas.hpp"

namespace sims::loops {
namespace {

std::string fmt(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (std::isnan(v)) return "";
  std::ostringstream s;
  s.precision(8);
  s << v;
  return s.str();
}

// E[dist] of generation 1 and its interval: one fit to n real samples per run.
void fit_once(int64_t dim, int64_t n, int64_t runs, uint64_t seed, double* m, double* lo, double* hi) {
  GaussianLoopConfig g;
  g.kind = LoopKind::Fresh;
  g.dim = dim;
  g.n_real = n;
  g.n_synth = 0;
  g.generations = 1;
  g.runs = runs;
  g.seed = seed;
  const GaussianLoopResult r = run_gaussian_loop(g);
  *m = r.w2_mean[0], *lo = r.w2_lo[0], *hi = r.w2_hi[0];
}

}  // namespace

void validate(const AtlasConfig& c) {
  if (c.kind == LoopKind::FullySynthetic)
    throw InputError("--kind must be fresh or augment: a fully synthetic loop has no limit to compare (it drifts)");
  if (c.n_real.empty() || c.n_synth.empty() || c.lambdas.empty())
    throw InputError("--n-real, --n-synth and --lambda need at least one value each");
  if (c.tail < 1 || c.tail > c.generations)
    throw InputError("--tail must be between 1 and --generations (" + std::to_string(c.generations) + "), got " +
                     std::to_string(c.tail));
  if (c.curve_runs < 10) throw InputError("--curve-runs must be at least 10, got " + std::to_string(c.curve_runs));
  if (c.n_real.size() * c.n_synth.size() * c.lambdas.size() > 10000) throw InputError("more than 10000 cells");
  for (double l : c.lambdas)
    if (!(l > 0.0 && l <= 1.0)) throw InputError("--lambda values must be in (0, 1], got " + fmt(l));
  // The fit curve reaches 30 x the largest n_r: each of its fits holds at least 10 runs x n x D numbers.
  const int64_t nr_max = *std::max_element(c.n_real.begin(), c.n_real.end());
  if (c.dim < 1 || c.dim > 4096) throw InputError("--dim must be between 1 and 4096, got " + std::to_string(c.dim));
  if (static_cast<double>(nr_max) * 30.0 * static_cast<double>(c.dim) > 2e6)
    throw InputError("--n-real up to " + std::to_string(nr_max) + " at D = " + std::to_string(c.dim) +
                     " is too large for the fit curve (30 x n_r x D must be at most 2e6)");
  for (int64_t nr : c.n_real)
    for (int64_t ns : c.n_synth)
      for (double l : c.lambdas) {
        GaussianLoopConfig g;
        g.kind = c.kind, g.dim = c.dim, g.n_real = nr, g.n_synth = ns, g.generations = c.generations;
        g.runs = c.runs, g.bias = l, g.seed = c.seed;
        validate(g);
      }
}

double FitCurve::invert(double d) const {
  if (n.empty() || !std::isfinite(d)) return std::numeric_limits<double>::quiet_NaN();
  // The expected distance falls with n; Monte Carlo noise may break that between neighbours: use the running
  // minimum, and interpolate log dist against log n.
  std::vector<double> m(dist.size());
  double run = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < dist.size(); ++i) m[i] = run = std::min(run, dist[i]);
  if (d >= m.front()) return n.front();
  if (d < m.back()) return std::numeric_limits<double>::infinity();
  for (size_t i = 1; i < m.size(); ++i) {
    if (d < m[i]) continue;
    if (m[i - 1] == m[i]) return n[i];
    const double t = (std::log(m[i - 1]) - std::log(d)) / (std::log(m[i - 1]) - std::log(m[i]));
    return std::exp(std::log(n[i - 1]) + t * (std::log(n[i]) - std::log(n[i - 1])));
  }
  return n.back();
}

FitCurve fit_distance_curve(int64_t dim, int64_t n_min, int64_t n_max, int64_t runs, uint64_t seed) {
  FitCurve c;
  int64_t last = -1;
  for (double x = static_cast<double>(std::max<int64_t>(2, n_min)); x <= static_cast<double>(n_max) * 1.0001; x *= 1.12) {
    const int64_t n = std::llround(x);
    if (n == last) continue;
    last = n;
    // Fewer runs for large fits (their spread is small): at most 2e7 numbers per fit.
    const int64_t r = std::clamp<int64_t>(20'000'000 / (n * dim), 10, runs);
    double m, lo, hi;
    fit_once(dim, n, r, seed + static_cast<uint64_t>(n) * 7919u, &m, &lo, &hi);
    c.n.push_back(static_cast<double>(n));
    c.dist.push_back(m), c.lo.push_back(lo), c.hi.push_back(hi);
  }
  return c;
}

AtlasResult run_atlas(const AtlasConfig& cfg, const std::function<bool(int, int)>& progress) {
  validate(cfg);
  AtlasResult res;
  res.cfg = cfg;
  const int64_t nr_max = *std::max_element(cfg.n_real.begin(), cfg.n_real.end());
  // n_e is looked for between 2 (the smallest fit) and 30 times the largest n_real.
  res.curve = fit_distance_curve(cfg.dim, 2, 30 * nr_max, cfg.curve_runs, cfg.seed);
  const int total = static_cast<int>(cfg.lambdas.size() * cfg.n_real.size() * cfg.n_synth.size());
  int done = 0;
  for (double l : cfg.lambdas)
    for (int64_t nr : cfg.n_real)
      for (int64_t ns : cfg.n_synth) {
        GaussianLoopConfig g;
        g.kind = cfg.kind, g.dim = cfg.dim, g.n_real = nr, g.n_synth = ns, g.generations = cfg.generations;
        g.runs = cfg.runs, g.bias = l, g.seed = cfg.seed + 1 + static_cast<uint64_t>(done);
        const GaussianLoopResult r = run_gaussian_loop(g);
        AtlasCell c{l, nr, ns, 0, 0, 0, 0, 0, 0};
        // The limit: the mean over the last `tail` generations. Its interval averages the generations' own 95 %
        // t intervals: the interval of one generation's mean, wider than the tail mean's (conservative).
        for (int64_t t = cfg.generations - cfg.tail; t < cfg.generations; ++t)
          c.wd += r.w2_mean[t], c.wd_lo += r.w2_lo[t], c.wd_hi += r.w2_hi[t];
        c.wd /= static_cast<double>(cfg.tail), c.wd_lo /= static_cast<double>(cfg.tail), c.wd_hi /= static_cast<double>(cfg.tail);
        c.n_e = res.curve.invert(c.wd);
        c.n_e_lo = res.curve.invert(c.wd_hi);  // a larger distance: fewer effective samples
        c.n_e_hi = res.curve.invert(c.wd_lo);
        res.cells.push_back(c);
        ++done;
        if (progress && !progress(done, total)) throw Cancelled();
      }
  return res;
}

std::string AtlasResult::to_csv() const {
  std::ostringstream s;
  s << "lambda,n_real,n_synth,wd,wd_lo,wd_hi,n_e,n_e_lo,n_e_hi,n_e_over_n_real,admissible\n";
  for (const auto& c : cells)
    s << fmt(c.lambda) << "," << c.n_real << "," << c.n_synth << "," << fmt(c.wd) << "," << fmt(c.wd_lo) << ","
      << fmt(c.wd_hi) << "," << fmt(c.n_e) << "," << fmt(c.n_e_lo) << "," << fmt(c.n_e_hi) << "," << fmt(c.ratio())
      << "," << (c.admissible() ? 1 : 0) << "\n";
  return s.str();
}

nlohmann::json AtlasResult::to_json() const {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(fmt(v)); };
  nlohmann::json cells_j = nlohmann::json::array();
  for (const auto& c : cells)
    cells_j.push_back({{"lambda", c.lambda}, {"n_real", c.n_real}, {"n_synth", c.n_synth}, {"wd", c.wd},
                       {"wd_lo", c.wd_lo}, {"wd_hi", c.wd_hi}, {"n_e", num(c.n_e)}, {"n_e_lo", num(c.n_e_lo)},
                       {"n_e_hi", num(c.n_e_hi)}, {"n_e_over_n_real", num(c.ratio())}, {"admissible", c.admissible()}});
  return {{"kind", to_string(cfg.kind)}, {"dim", cfg.dim}, {"generations", cfg.generations}, {"tail", cfg.tail},
          {"runs", cfg.runs}, {"curve_runs", cfg.curve_runs}, {"seed", cfg.seed},
          {"curve", {{"n", curve.n}, {"dist", curve.dist}, {"lo", curve.lo}, {"hi", curve.hi}}}, {"cells", cells_j}};
}

namespace {

std::string ratio_text(double v, bool at_least_fit) {
  if (std::isinf(v)) return ">max";
  if (!std::isfinite(v)) return "?";
  std::ostringstream s;
  if (at_least_fit) s << "\u2264";  // no worse than one fit to 2 samples: n_e is at most 2
  s.precision(v >= 10 ? 3 : 2);
  s << v;
  return s.str();
}

// log2(n_e / n_r) in [-3, 3] to red (< 0) through white to green (> 0).
render::Rgb ratio_colour(double ratio) {
  if (!(ratio > 0)) return {230, 230, 230};
  const double t = std::clamp(std::log2(ratio) / 3.0, -1.0, 1.0);
  auto mix = [](int a, int b, double u) { return static_cast<uint8_t>(std::lround(a + (b - a) * u)); };
  if (t >= 0) return {mix(250, 40, t), mix(250, 150, t), mix(250, 70, t)};
  return {mix(250, 200, -t), mix(250, 50, -t), mix(250, 40, -t)};
}

}  // namespace

render::Canvas atlas_figure(const AtlasResult& r) {
  const AtlasConfig& c = r.cfg;
  const int cw = 58, ch = 30, left = 70, top = 92, gap = 36;
  const int panel = cw * static_cast<int>(c.n_synth.size());
  const int w = left + static_cast<int>(c.lambdas.size()) * (panel + gap) + 10;
  const std::string caption =
      "n_e: the real sample size whose single fit is as close to p_r as the " + to_string(c.kind) +
      " loop's limit (mean W2 over generations " + std::to_string(c.generations - c.tail + 1) + "-" +
      std::to_string(c.generations) + ", " + std::to_string(c.runs) + " runs per cell; fits to n real samples: up to " +
      std::to_string(c.curve_runs) + " runs per n). Gaussian family, D = " + std::to_string(c.dim) + ", p_r = N(0, I), seed " +
      std::to_string(c.seed) + ". Green: n_e >= n_r, the synthetic data are admissible (higher is better); dark frame: " +
      "the whole 95 % interval of n_e is >= n_r. '>max': beyond the largest n fitted.";
  const std::vector<std::string> lines = render::wrap_text(caption, w - 24, 12.5f);
  const int h = top + ch * static_cast<int>(c.n_real.size()) + 40 + 18 * static_cast<int>(lines.size());
  render::Canvas out(std::max(w, 360), h, {255, 255, 255});
  const std::string title = "Effective sample size n_e / n_r (MAD eq. 3), " + to_string(c.kind) + " loop";
  out.draw_text(title, (out.width() - render::Canvas::text_width(title, 16, true)) / 2, 10, 16, {10, 10, 10}, true);
  for (size_t li = 0; li < c.lambdas.size(); ++li) {
    const int x0 = left + static_cast<int>(li) * (panel + gap);
    std::ostringstream head;
    head << "λ = " << c.lambdas[li];
    out.draw_text(head.str(), x0 + (panel - render::Canvas::text_width(head.str(), 14, true)) / 2, 38, 14, {20, 20, 20}, true);
    out.draw_text("n_s →", x0, top - 36, 12, {90, 90, 90});
    for (size_t j = 0; j < c.n_synth.size(); ++j) {
      const std::string t = std::to_string(c.n_synth[j]);
      out.draw_text(t, x0 + static_cast<int>(j) * cw + (cw - render::Canvas::text_width(t, 12)) / 2, top - 18, 12);
    }
    for (size_t i = 0; i < c.n_real.size(); ++i) {
      const int y = top + static_cast<int>(i) * ch;
      if (li == 0) {
        const std::string t = std::to_string(c.n_real[i]);
        out.draw_text(t, left - 8 - render::Canvas::text_width(t, 12), y + ch / 2 - 8, 12);
      }
      for (size_t j = 0; j < c.n_synth.size(); ++j) {
        const AtlasCell& cell = r.cells[(li * c.n_real.size() + i) * c.n_synth.size() + j];
        const int x = x0 + static_cast<int>(j) * cw;
        const double ratio = cell.ratio();
        out.fill_rect(x + 1, y + 1, cw - 2, ch - 2, ratio_colour(ratio));
        if (cell.n_e_lo >= static_cast<double>(cell.n_real))
          for (int k = 0; k < 2; ++k) out.stroke_rect(x + 1 + k, y + 1 + k, cw - 2 - 2 * k, ch - 2 - 2 * k, {20, 60, 30});
        const std::string t = ratio_text(ratio, !r.curve.n.empty() && cell.n_e <= r.curve.n.front());
        const bool strong = std::isfinite(ratio) && std::abs(std::log2(std::max(ratio, 1e-9))) > 1.8;
        out.draw_text(t, x + (cw - render::Canvas::text_width(t, 12)) / 2, y + ch / 2 - 8, 12,
                      strong ? render::Rgb{255, 255, 255} : render::Rgb{20, 20, 20});
      }
    }
  }
  out.draw_text_vertical("n_r", 16, top + ch * static_cast<int>(c.n_real.size()) / 2, 12, {90, 90, 90});
  int y = top + ch * static_cast<int>(c.n_real.size()) + 16;
  for (const auto& l : lines) {
    out.draw_text(l, 12, y, 12.5f, {70, 70, 70});
    y += 18;
  }
  return out;
}

}  // namespace sims::loops
