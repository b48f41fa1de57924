#include "loops/admissibility.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

#include "common/error.hpp"
#include "render/canvas.hpp"
#include "render/plot.hpp"

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

namespace {
// The cells of an atlas in their order, without results.
std::vector<AtlasCell> cells_of(const AtlasConfig& c) {
  std::vector<AtlasCell> out;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (double l : c.lambdas)
    for (int64_t k : c.memory) {
      if (c.total.empty()) {
        for (int64_t nr : c.n_real)
          for (int64_t ns : c.n_synth) out.push_back(AtlasCell{l, k, nr, ns, 0, nan, 0, 0, 0, 0, 0, 0});
      } else {
        for (double p : c.real_fraction)
          for (int64_t n : c.total) {
            const int64_t nr = std::llround(p * static_cast<double>(n));
            out.push_back(AtlasCell{l, k, nr, n - nr, n, p, 0, 0, 0, 0, 0, 0});
          }
      }
    }
  return out;
}

GaussianLoopConfig loop_of(const AtlasConfig& c, const AtlasCell& cell) {
  GaussianLoopConfig g;
  g.kind = c.kind, g.dim = c.dim, g.n_real = cell.n_real, g.n_synth = cell.n_synth, g.generations = c.generations;
  g.runs = c.runs, g.bias = cell.lambda, g.memory = cell.memory, g.accumulate = c.accumulate, g.seed = c.seed;
  return g;
}
}  // namespace

AtlasAxis atlas_axis(const AtlasConfig& c) {
  if (!c.total.empty()) return c.total.size() > 1 || c.real_fraction.size() == 1 ? AtlasAxis::Total : AtlasAxis::Fraction;
  if (c.memory.size() > 1 && c.n_real.size() == 1 && c.n_synth.size() == 1) return AtlasAxis::Memory;
  return AtlasAxis::Grid;
}

void validate(const AtlasConfig& c) {
  if (c.kind == LoopKind::FullySynthetic)
    throw InputError("--kind must be fresh or augment: a fully synthetic loop has no limit to compare (it drifts)");
  if (c.lambdas.empty() || c.memory.empty()) throw InputError("--lambda and --memory need at least one value each");
  if (c.total.empty()) {
    if (c.n_real.empty() || c.n_synth.empty()) throw InputError("--n-real and --n-synth need at least one value each");
    if (!c.real_fraction.empty()) throw InputError("--real-fraction needs --total (the corpus size it is a fraction of)");
  } else {
    if (c.real_fraction.empty()) throw InputError("--total needs --real-fraction (the real part of each generation)");
    for (double p : c.real_fraction)
      if (!(p > 0.0 && p <= 1.0)) throw InputError("--real-fraction values must be in (0, 1], got " + fmt(p));
    for (int64_t n : c.total)
      if (n < 2 || n > 1'000'000'000) throw InputError("--total values must be between 2 and 1e9, got " + std::to_string(n));
  }
  if (c.generations < 2)
    throw InputError("--generations must be at least 2 (the limit is the mean over the last --tail), got " +
                     std::to_string(c.generations));
  if (c.tail < 1 || c.tail > c.generations)
    throw InputError("--tail must be between 1 and --generations (" + std::to_string(c.generations) + "), got " +
                     std::to_string(c.tail) + (c.tail == AtlasConfig{}.tail ? " (" + std::to_string(c.tail) + " is its default): give a smaller --tail" : std::string()));
  if (c.curve_runs < 10 || c.curve_runs > 100000)
    throw InputError("--curve-runs must be from 10 to 100000, got " + std::to_string(c.curve_runs));
  const double count = static_cast<double>(c.lambdas.size() * c.memory.size()) *
                       (c.total.empty() ? static_cast<double>(c.n_real.size() * c.n_synth.size())
                                        : static_cast<double>(c.total.size() * c.real_fraction.size()));
  if (count > 10000) throw InputError("more than 10000 cells");
  for (double l : c.lambdas)
    if (!(l > 0.0 && l <= 1.0)) throw InputError("--lambda values must be in (0, 1], got " + fmt(l));
  if (c.dim < 1 || c.dim > 4096) throw InputError("--dim must be between 1 and 4096, got " + std::to_string(c.dim));
  const std::vector<AtlasCell> cells = cells_of(c);
  int64_t nr_max = 0;
  for (const AtlasCell& cell : cells) {
    if (cell.total > 0 && cell.n_real < 2)
      throw InputError("--real-fraction " + fmt(cell.real_fraction) + " of --total " + std::to_string(cell.total) +
                       " leaves " + std::to_string(cell.n_real) + " real samples; at least 2 are needed");
    nr_max = std::max(nr_max, cell.n_real);
  }
  // The fit curve reaches 30 x the largest n_r: each of its fits holds at least 10 runs x n x D numbers.
  if (static_cast<double>(nr_max) * 30.0 * static_cast<double>(c.dim) > 2e6)
    throw InputError("n_r up to " + std::to_string(nr_max) + " at D = " + std::to_string(c.dim) +
                     " is too large for the fit curve (30 x n_r x D must be at most 2e6)");
  for (const AtlasCell& cell : cells) validate(loop_of(c, cell));
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

FitCurve fit_distance_curve(int64_t dim, int64_t n_min, int64_t n_max, int64_t runs, uint64_t seed,
                            const std::function<bool()>& go_on) {
  FitCurve c;
  int64_t last = -1;
  for (double x = static_cast<double>(std::max<int64_t>(2, n_min)); x <= static_cast<double>(n_max) * 1.0001; x *= 1.12) {
    const int64_t n = std::llround(x);
    if (n == last) continue;
    last = n;
    if (go_on && !go_on()) throw Cancelled();
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
  std::vector<AtlasCell> cells = cells_of(cfg);
  int64_t nr_max = 0;
  for (const AtlasCell& c : cells) nr_max = std::max(nr_max, c.n_real);
  // n_e is looked for between 2 (the smallest fit) and 30 times the largest n_real.
  const int total = static_cast<int>(cells.size());
  res.curve = fit_distance_curve(cfg.dim, 2, 30 * nr_max, cfg.curve_runs, cfg.seed,
                                 [&] { return !progress || progress(0, total); });
  int done = 0;
  for (AtlasCell& c : cells) {
    GaussianLoopConfig g = loop_of(cfg, c);
    g.seed = cfg.seed + 1 + static_cast<uint64_t>(done);
    // Asked every generation too (a cell of many generations and runs takes minutes): Ctrl-C stops within one.
    const GaussianLoopResult r = run_gaussian_loop(g, [&](int) { return !progress || progress(done, total); });
    // The limit: the mean over the last `tail` generations. Its interval averages the generations' own 95 %
    // t intervals: the interval of one generation's mean, wider than the tail mean's (conservative).
    for (int64_t t = cfg.generations - cfg.tail; t < cfg.generations; ++t)
      c.wd += r.w2_mean[t], c.wd_lo += r.w2_lo[t], c.wd_hi += r.w2_hi[t];
    c.wd /= static_cast<double>(cfg.tail), c.wd_lo /= static_cast<double>(cfg.tail), c.wd_hi /= static_cast<double>(cfg.tail);
    double first = 0, second = 0, half_width = 0;
    const int64_t from = cfg.generations - cfg.tail, mid = from + cfg.tail / 2;
    for (int64_t t = from; t < cfg.generations; ++t) {
      (t < mid ? first : second) += r.w2_mean[t];
      half_width += (r.w2_hi[t] - r.w2_lo[t]) / 2;
    }
    if (cfg.tail >= 2 && std::isfinite(half_width)) {  // one run has no interval: nothing to judge by
      first /= static_cast<double>(mid - from), second /= static_cast<double>(cfg.generations - mid);
      c.settled = std::abs(first - second) <= half_width / static_cast<double>(cfg.tail);
    }
    c.n_e = res.curve.invert(c.wd);
    c.n_e_lo = res.curve.invert(c.wd_hi);  // a larger distance: fewer effective samples
    c.n_e_hi = res.curve.invert(c.wd_lo);
    res.cells.push_back(c);
    ++done;
    if (progress && !progress(done, total) && done < total) throw Cancelled();
  }
  return res;
}

std::string AtlasResult::to_csv() const {
  std::ostringstream s;
  s << "lambda,n_real,n_synth,wd,wd_lo,wd_hi,n_e,n_e_lo,n_e_hi,n_e_over_n_real,admissible,memory,pool,total,real_fraction,settled\n";
  for (const auto& c : cells)
    s << fmt(c.lambda) << "," << c.n_real << "," << c.n_synth << "," << fmt(c.wd) << "," << fmt(c.wd_lo) << ","
      << fmt(c.wd_hi) << "," << fmt(c.n_e) << "," << fmt(c.n_e_lo) << "," << fmt(c.n_e_hi) << "," << fmt(c.ratio())
      << "," << (c.admissible() ? 1 : 0) << "," << c.memory << "," << (cfg.accumulate ? "accumulate" : "replace") << ","
      << (c.total > 0 ? std::to_string(c.total) : "") << "," << fmt(c.real_fraction) << "," << (c.settled ? 1 : 0) << "\n";
  return s.str();
}

nlohmann::json AtlasResult::to_json() const {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(fmt(v)); };
  nlohmann::json cells_j = nlohmann::json::array();
  for (const auto& c : cells) {
    nlohmann::json j = {{"lambda", c.lambda}, {"memory", c.memory}, {"n_real", c.n_real}, {"n_synth", c.n_synth},
                        {"wd", c.wd}, {"wd_lo", c.wd_lo}, {"wd_hi", c.wd_hi}, {"n_e", num(c.n_e)},
                        {"n_e_lo", num(c.n_e_lo)}, {"n_e_hi", num(c.n_e_hi)}, {"n_e_over_n_real", num(c.ratio())},
                        {"admissible", c.admissible()}, {"settled", c.settled}};
    if (c.total > 0) j["total"] = c.total, j["real_fraction"] = c.real_fraction;
    cells_j.push_back(j);
  }
  nlohmann::json j = {{"kind", to_string(cfg.kind)}, {"dim", cfg.dim}, {"generations", cfg.generations},
                      {"tail", cfg.tail}, {"runs", cfg.runs}, {"curve_runs", cfg.curve_runs}, {"seed", cfg.seed},
                      {"memory", cfg.memory}, {"pool", cfg.accumulate ? "accumulate" : "replace"},
                      {"curve", {{"n", curve.n}, {"dist", curve.dist}, {"lo", curve.lo}, {"hi", curve.hi}}},
                      {"cells", cells_j}};
  if (!cfg.total.empty()) j["total"] = cfg.total, j["real_fraction"] = cfg.real_fraction;
  return j;
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

namespace {

std::string real_text(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

// The settings under every atlas figure.
std::string atlas_caption(const AtlasConfig& c) {
  std::string pool;
  if (c.accumulate) pool = " Synthetic pool: every earlier generation's set.";
  return "n_e: the real sample size whose single fit is as close to p_r as the " + to_string(c.kind) +
         " loop's limit (mean W2 over generations " + std::to_string(c.generations - c.tail + 1) + "-" +
         std::to_string(c.generations) + ", " + std::to_string(c.runs) + " runs per cell; fits to n real samples: up to " +
         std::to_string(c.curve_runs) + " runs per n). Gaussian family, D = " + std::to_string(c.dim) +
         ", p_r = N(0, I), seed " + std::to_string(c.seed) + "." + pool;
}

// "" or a sentence on the cells whose loops had not reached their limit.
std::string unsettled_note(const AtlasResult& r) {
  size_t n = 0;
  for (const AtlasCell& c : r.cells) n += !c.settled;
  if (n == 0) return "";
  return " NOT SETTLED (*) in " + std::to_string(n) + " of " + std::to_string(r.cells.size()) +
         " cells (the tail's two halves differ by more than a generation's 95 % half-width): more generations are needed.";
}

render::Canvas with_lines(render::Canvas body, const std::string& caption) {
  const std::vector<std::string> lines = render::wrap_text(caption, body.width() - 24, 12.5f);
  render::Canvas out(body.width(), body.height() + 12 + 18 * static_cast<int>(lines.size()), {255, 255, 255});
  out.blit(body, 0, 0);
  int y = body.height() + 4;
  for (const auto& l : lines) {
    out.draw_text(l, 12, y, 12.5f, {70, 70, 70});
    y += 18;
  }
  return out;
}

// Two panels over K, n or p: the limit W2 and n_e / n_r, one series per combination of the other settings.
render::Canvas atlas_curves(const AtlasResult& r) {
  const AtlasConfig& c = r.cfg;
  const AtlasAxis axis = atlas_axis(c);
  const auto x_of = [&](const AtlasCell& cell) {
    return axis == AtlasAxis::Memory ? static_cast<double>(cell.memory)
           : axis == AtlasAxis::Total ? static_cast<double>(cell.total) : cell.real_fraction;
  };
  const auto label_of = [&](const AtlasCell& cell) {
    std::string l;
    const auto add = [&](const std::string& part) { l += (l.empty() ? "" : ", ") + part; };
    if (axis == AtlasAxis::Total && c.real_fraction.size() > 1) add("p = " + real_text(cell.real_fraction));
    if (c.lambdas.size() > 1) add("\u03bb = " + real_text(cell.lambda));
    if (axis != AtlasAxis::Memory && c.memory.size() > 1) add("K = " + std::to_string(cell.memory));
    return l;
  };
  render::LinePlot wd, ratio;
  std::vector<std::string> keys;
  for (const AtlasCell& cell : r.cells) {
    const std::string key = label_of(cell);
    size_t i = std::find(keys.begin(), keys.end(), key) - keys.begin();
    if (i == keys.size()) {
      keys.push_back(key);
      for (render::LinePlot* p : {&wd, &ratio}) {
        render::Series s;
        s.label = key;
        s.colour = render::palette(i);
        p->series.push_back(s);
      }
    }
    const double nr = static_cast<double>(cell.n_real), x = x_of(cell);
    render::Series& a = wd.series[i];
    a.x.push_back(x), a.y.push_back(cell.wd), a.lo.push_back(cell.wd_lo), a.hi.push_back(cell.wd_hi);
    render::Series& b = ratio.series[i];
    const auto finite = [](double v) { return std::isfinite(v) ? v : std::numeric_limits<double>::quiet_NaN(); };
    b.x.push_back(x), b.y.push_back(finite(cell.ratio())), b.lo.push_back(finite(cell.n_e_lo / nr)),
        b.hi.push_back(finite(cell.n_e_hi / nr));
  }
  render::Series one;
  one.label = "n_e = n_r";
  one.reference = true;
  one.colour = {90, 90, 90};
  for (const AtlasCell& cell : r.cells) one.x.push_back(x_of(cell)), one.y.push_back(1.0);
  std::sort(one.x.begin(), one.x.end());
  ratio.series.push_back(one);
  const std::string x_label = axis == AtlasAxis::Memory ? "K: earlier models the synthetic samples come from"
                              : axis == AtlasAxis::Total ? "n: samples per generation (log scale)"
                                                         : "p: real (clean) fraction of each generation's data";
  for (render::LinePlot* p : {&wd, &ratio}) {
    p->x_label = x_label;
    p->width = 600, p->height = 430;
    p->log_x = axis == AtlasAxis::Total;
    p->integer_x = axis == AtlasAxis::Memory;
    if (keys.size() > 1) p->dodge_px = 8;  // the settings' bars at the same x side by side
  }
  wd.title = "Limit W2 to p_r";
  wd.subtitle = std::string("lower is better; bars: 95 % intervals") + (keys.size() > 1 ? ", set side by side" : "");
  wd.y_label = "W2";
  wd.log_y = axis == AtlasAxis::Total;
  ratio.title = "Effective sample size n_e / n_r";
  ratio.subtitle = std::string("higher is better; >= 1: the synthetic data are admissible; bars: 95 % intervals") +
                   (keys.size() > 1 ? ", set side by side" : "");
  ratio.y_label = "n_e / n_r";
  const render::Canvas left = render::render_plot(wd), right = render::render_plot(ratio);
  std::string title;
  if (axis == AtlasAxis::Memory)
    title = "Synthetic samples from the last K models (MAD Fig. 33): n_r = " + std::to_string(c.n_real[0]) +
            ", n_s = " + std::to_string(c.n_synth[0]) + ", " + to_string(c.kind) + " loop";
  else if (axis == AtlasAxis::Total)
    title = "A corpus of n samples per generation, a fraction p real (MAD Fig. 34), " + to_string(c.kind) + " loop";
  else
    title = "Clean fraction p of n = " + std::to_string(c.total[0]) + " samples per generation, " + to_string(c.kind) +
            " loop";
  render::Canvas body(left.width() + right.width() + 20, left.height() + 40, {255, 255, 255});
  body.draw_text(title, (body.width() - render::Canvas::text_width(title, 16, true)) / 2, 10, 16, {10, 10, 10}, true);
  body.blit(left, 5, 40);
  body.blit(right, left.width() + 15, 40);
  std::string caption = atlas_caption(c);
  if (c.lambdas.size() == 1) caption += " Sampling bias \u03bb = " + real_text(c.lambdas[0]) + ".";
  if (axis != AtlasAxis::Memory && c.memory.size() == 1 && c.memory[0] > 1)
    caption += " Synthetic samples from the last " + std::to_string(c.memory[0]) + " models.";
  if (axis == AtlasAxis::Fraction && c.total.size() == 1) caption += " n_r = round(p n), n_s = n - n_r.";
  if (axis == AtlasAxis::Total && c.real_fraction.size() == 1)
    caption += " Real fraction p = " + real_text(c.real_fraction[0]) + ".";
  caption += " Missing points: n_e beyond the largest n fitted." + unsettled_note(r);
  return with_lines(body, caption);
}

}  // namespace

namespace {
// Where the heat maps' cells are: panel pi (λ-major, then K) sits in column pi % columns, row pi / columns; a column
// starts at left + column (panel + gap), a row's cells at top + row step; cell (i, j) of a panel is cw × ch at row
// i (n_r), column j (n_s) of its panel.
struct GridLayout {
  static constexpr int cw = 58, ch = 40, left = 70, top = 92, gap = 36;
  int panel, panels, columns, rows, step;
  GridLayout(const AtlasConfig& c, int want)
      : panel(cw * static_cast<int>(c.n_synth.size())),
        panels(static_cast<int>(c.lambdas.size() * c.memory.size())),
        columns(want <= 0 ? std::max(panels, 1) : std::min(want, std::max(panels, 1))),
        rows((std::max(panels, 1) + columns - 1) / columns),
        // a row's cells, then its heat maps' heads and n_s labels: the next title 16 px below the last cells
        step(ch * static_cast<int>(c.n_real.size()) + top - 38 + 16) {}
  int x0(int pi) const { return left + (pi % columns) * (panel + gap); }
  int y0(int pi) const { return (pi / columns) * step; }  // add to the first row's positions
};
}  // namespace

int atlas_panels(const AtlasConfig& c) {
  return atlas_axis(c) == AtlasAxis::Grid ? static_cast<int>(c.lambdas.size() * c.memory.size()) : 1;
}

int atlas_cell_at(const AtlasResult& r, int x, int y, int columns) {
  const AtlasConfig& c = r.cfg;
  if (atlas_axis(c) != AtlasAxis::Grid || c.n_synth.empty() || c.n_real.empty()) return -1;
  const GridLayout L(c, columns);
  if (x < L.left || y < L.top) return -1;
  const int col = (x - L.left) / (L.panel + L.gap), px = (x - L.left) % (L.panel + L.gap);
  const int row = (y - L.top) / L.step, py = (y - L.top) % L.step;
  const int i = py / L.ch, j = px / L.cw, pi = row * L.columns + col;
  if (col >= L.columns || pi >= L.panels || px >= L.panel || i >= static_cast<int>(c.n_real.size())) return -1;
  const size_t k = (static_cast<size_t>(pi) * c.n_real.size() + static_cast<size_t>(i)) * c.n_synth.size() +
                   static_cast<size_t>(j);
  return k < r.cells.size() ? static_cast<int>(k) : -1;
}

render::Canvas atlas_figure(const AtlasResult& r, int columns) {
  const AtlasConfig& c = r.cfg;
  if (atlas_axis(c) != AtlasAxis::Grid) return atlas_curves(r);
  const GridLayout L(c, columns);
  const int cw = L.cw, ch = L.ch, left = L.left, top = L.top, gap = L.gap, panel = L.panel;
  const int rows_n = static_cast<int>(c.n_real.size());
  const int w = std::max(left + L.columns * (panel + gap) + 10, 360);
  const int grid_bottom = (L.rows - 1) * L.step + top + ch * rows_n;
  render::Canvas out(w, grid_bottom + 58, {255, 255, 255});
  const std::string title = "Effective sample size n_e / n_r (MAD eq. 3), " + to_string(c.kind) + " loop";
  out.draw_text(title, (out.width() - render::Canvas::text_width(title, 16, true)) / 2, 10, 16, {10, 10, 10}, true);
  for (int pi = 0; pi < L.panels; ++pi) {
    const size_t li = static_cast<size_t>(pi) / c.memory.size(), ki = static_cast<size_t>(pi) % c.memory.size();
    const int x0 = L.x0(pi), dy = L.y0(pi);
    std::ostringstream head;
    head << "λ = " << c.lambdas[li];
    if (c.memory.size() > 1 || c.memory[0] > 1) head << ", K = " << c.memory[ki];
    out.draw_text(head.str(), x0 + (panel - render::Canvas::text_width(head.str(), 14, true)) / 2, dy + 38, 14,
                  {20, 20, 20}, true);
    out.draw_text("n_s →", x0, dy + top - 36, 12, {90, 90, 90});
    for (size_t j = 0; j < c.n_synth.size(); ++j) {
      const std::string t = std::to_string(c.n_synth[j]);
      out.draw_text(t, x0 + static_cast<int>(j) * cw + (cw - render::Canvas::text_width(t, 12)) / 2, dy + top - 18, 12);
    }
    for (size_t i = 0; i < c.n_real.size(); ++i) {
      const int y = dy + top + static_cast<int>(i) * ch;
      if (pi % L.columns == 0) {
        const std::string t = std::to_string(c.n_real[i]);
        out.draw_text(t, left - 8 - render::Canvas::text_width(t, 12), y + ch / 2 - 8, 12);
      }
      for (size_t j = 0; j < c.n_synth.size(); ++j) {
        const AtlasCell& cell = r.cells[(static_cast<size_t>(pi) * c.n_real.size() + i) * c.n_synth.size() + j];
        const int x = x0 + static_cast<int>(j) * cw;
        const double ratio = cell.ratio();
        out.fill_rect(x + 1, y + 1, cw - 2, ch - 2, ratio_colour(ratio));
        if (cell.surely_admissible())
          for (int k = 0; k < 2; ++k) out.stroke_rect(x + 1 + k, y + 1 + k, cw - 2 - 2 * k, ch - 2 - 2 * k, {20, 60, 30});
        // A trailing star: a leading "~" read as a minus sign ("~0.27", a negative sample size).
        const std::string t = ratio_text(ratio, !r.curve.n.empty() && cell.n_e <= r.curve.n.front()) + (cell.settled ? "" : "*");
        const bool strong = std::isfinite(ratio) && std::abs(std::log2(std::max(ratio, 1e-9))) > 1.8;
        const render::Rgb ink = strong ? render::Rgb{255, 255, 255} : render::Rgb{20, 20, 20};
        // The value and, below it, its 95 % interval (the interval of n_e over n_r).
        const double n_r = static_cast<double>(cell.n_real);
        const bool ci = n_r > 0 && !std::isnan(cell.n_e_lo) && !std::isnan(cell.n_e_hi);
        out.draw_text(t, x + (cw - render::Canvas::text_width(t, 12)) / 2, ci ? y + 4 : y + ch / 2 - 8, 12, ink);
        if (ci) {
          // Both ends, or where they would read the same at this precision ("0.33\u20130.33"), the half-width.
          const std::string lo = ratio_text(cell.n_e_lo / n_r, false), hi = ratio_text(cell.n_e_hi / n_r, false);
          std::ostringstream half;
          half << std::setprecision(1) << "\u00b1 " << (cell.n_e_hi - cell.n_e_lo) / (2 * n_r);
          const bool finite = std::isfinite(cell.n_e_lo) && std::isfinite(cell.n_e_hi);
          const std::string iv = lo != hi || !finite ? lo + "\u2013" + hi : half.str();
          out.draw_text(iv, x + (cw - render::Canvas::text_width(iv, 10)) / 2, y + 21, 10, ink);
        }
      }
    }
    if (pi % L.columns == 0) out.draw_text_vertical("n_r", 16, dy + top + ch * rows_n / 2, 12, {90, 90, 90});
  }
  // The colour key: log2(n_e / n_r) from -3 (red) through 0 (white) to 3 (green), as ratio_colour draws it.
  const int kw = 192, kx = left, ky = grid_bottom + 22;
  for (int k = 0; k < kw; ++k)
    out.fill_rect(kx + k, ky, 1, 12, ratio_colour(std::exp2(-3.0 + 6.0 * k / static_cast<double>(kw - 1))));
  out.stroke_rect(kx - 1, ky - 1, kw + 2, 14, {150, 150, 150});
  out.draw_text("n_e / n_r:", kx, ky - 16, 11, {60, 60, 60});
  for (const auto& [v, label] : {std::pair<double, const char*>{0.0, "\u2264 1/8"}, {0.5, "1"}, {1.0, "\u2265 8"}}) {
    const int tx = kx + static_cast<int>(v * (kw - 1)) - render::Canvas::text_width(label, 11) / 2;
    out.draw_text(label, std::max(0, tx), ky + 15, 11, {60, 60, 60});
  }
  return with_lines(out, atlas_caption(c) + " Each cell: n_e / n_r and, below it, its 95 % interval. Green: n_e >= n_r, "
                                            "the synthetic data are admissible (higher is better); dark frame: the whole "
                                            "95 % interval of n_e is >= n_r. '>max': beyond the largest n fitted." +
                                            unsettled_note(r));
}

}  // namespace sims::loops
