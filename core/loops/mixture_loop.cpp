#include "loops/mixture_loop.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "experiment/json_io.hpp"
#include "loops/loop_schemas.hpp"
#include "metrics/precision_recall.hpp"
#include "metrics/uncertainty.hpp"
#include "render/canvas.hpp"
#include "render/plot.hpp"
#include "training/step_rules.hpp"

namespace sims::loops {

using Pt = std::array<double, 2>;

int64_t Mixture2d::living() const { return std::count_if(w.begin(), w.end(), [](double v) { return v > 0; }); }

double Mixture2d::total_variance() const {
  double m0 = 0, m1 = 0, s = 0;
  for (size_t k = 0; k < w.size(); ++k) {
    m0 += w[k] * mu[k][0], m1 += w[k] * mu[k][1];
    s += w[k] * (cov[k][0] + cov[k][2] + mu[k][0] * mu[k][0] + mu[k][1] * mu[k][1]);
  }
  return s - m0 * m0 - m1 * m1;
}

double Mixture2d::modal_variance() const {
  double s = 0;
  int64_t n = 0;
  for (size_t k = 0; k < w.size(); ++k)
    if (w[k] > 0) s += cov[k][0] + cov[k][2], ++n;
  return n ? s / static_cast<double>(n) : NAN;
}

nlohmann::json Mixture2d::to_json() const {
  nlohmann::json c = nlohmann::json::array();
  for (size_t k = 0; k < w.size(); ++k)
    if (w[k] > 0) c.push_back({{"weight", w[k]}, {"mean", mu[k]}, {"cov", {{cov[k][0], cov[k][1]}, {cov[k][1], cov[k][2]}}}});
  return {{"components", c}};
}

Mixture2d mixture_truth(const MixtureLoopConfig& cfg) {
  Mixture2d m;
  const int64_t g = cfg.grid;
  const double s2 = cfg.mode_std * cfg.mode_std, half = static_cast<double>(g - 1) / 2.0;
  for (int64_t i = 0; i < g; ++i)
    for (int64_t j = 0; j < g; ++j) {
      m.w.push_back(1.0 / static_cast<double>(g * g));
      m.mu.push_back({2.0 * (static_cast<double>(i) - half), 2.0 * (static_cast<double>(j) - half)});
      m.cov.push_back({s2, 0.0, s2});
    }
  return m;
}

namespace {

constexpr double kReg = 1e-6;  // added to every fitted variance

// log N(x; mu, S) for a 2x2 covariance (xx, xy, yy).
double log_normal(const Pt& x, const Pt& mu, const std::array<double, 3>& c) {
  const double det = c[0] * c[2] - c[1] * c[1];
  const double d0 = x[0] - mu[0], d1 = x[1] - mu[1];
  const double q = (c[2] * d0 * d0 - 2 * c[1] * d0 * d1 + c[0] * d1 * d1) / det;
  return -0.5 * q - 0.5 * std::log(det) - std::log(2 * M_PI);
}

// n points of m, every covariance scaled by lambda.
std::vector<Pt> sample(const Mixture2d& m, int64_t n, double lambda, std::mt19937_64& rng) {
  std::discrete_distribution<size_t> pick(m.w.begin(), m.w.end());
  std::normal_distribution<double> z;
  // Each component's Cholesky factor (l00, l10, l11) of lambda Sigma_k, once.
  const double s = std::sqrt(lambda);
  std::vector<std::array<double, 3>> chol(m.cov.size());
  for (size_t k = 0; k < m.cov.size(); ++k) {
    const auto& c = m.cov[k];
    const double l00 = std::sqrt(c[0]), l10 = c[1] / l00;
    chol[k] = {s * l00, s * l10, s * std::sqrt(std::max(0.0, c[2] - l10 * l10))};
  }
  std::vector<Pt> out(static_cast<size_t>(n));
  for (auto& p : out) {
    const size_t k = pick(rng);
    const double a = z(rng), b = z(rng);
    p = {m.mu[k][0] + chol[k][0] * a, m.mu[k][1] + chol[k][1] * a + chol[k][2] * b};
  }
  return out;
}

at::Tensor to_tensor(const std::vector<Pt>& x) {
  at::Tensor t = at::empty({static_cast<int64_t>(x.size()), 2}, at::kDouble);
  auto a = t.accessor<double, 2>();
  for (size_t i = 0; i < x.size(); ++i) a[static_cast<int64_t>(i)][0] = x[i][0], a[static_cast<int64_t>(i)][1] = x[i][1];
  return t;
}

int64_t modes_covered(const Mixture2d& truth, const std::vector<Pt>& x, double s) {
  const double r2 = 16 * s * s;
  const double need = std::max(1.0, 0.1 * static_cast<double>(x.size()) / static_cast<double>(truth.w.size()));
  int64_t covered = 0;
  for (const auto& c : truth.mu) {
    double n = 0;
    for (const auto& p : x) n += (p[0] - c[0]) * (p[0] - c[0]) + (p[1] - c[1]) * (p[1] - c[1]) <= r2;
    covered += n >= need;
  }
  return covered;
}

const std::vector<std::string> kMetrics = {"variance", "modal_variance", "modes", "recall", "precision", "components"};

}  // namespace

at::Tensor sample_mixture(const Mixture2d& m, int64_t n, double lambda, uint64_t seed) {
  if (m.living() == 0 || n < 0) throw InputError("cannot sample a mixture without components");
  std::mt19937_64 rng(seed);
  return to_tensor(sample(m, n, lambda, rng));
}

Mixture2d farthest_point_start(const std::vector<Pt>& x, int64_t k, size_t first) {
  if (x.empty() || k < 1) throw InputError("a mixture start needs points and at least one component");
  // Each component starts round-ish with the data's variance per axis shared out over the k components.
  const double n = static_cast<double>(x.size());
  double mx = 0, my = 0, vx = 0, vy = 0;
  for (const auto& p : x) mx += p[0], my += p[1];
  mx /= n, my /= n;
  for (const auto& p : x) vx += (p[0] - mx) * (p[0] - mx), vy += (p[1] - my) * (p[1] - my);
  const double v0x = std::max(1e-4, vx / n / static_cast<double>(k)), v0y = std::max(1e-4, vy / n / static_cast<double>(k));
  std::vector<double> dmin(x.size(), std::numeric_limits<double>::infinity());
  Mixture2d m;
  size_t next = first % x.size();
  for (int64_t j = 0; j < k; ++j) {
    const Pt c = x[next];
    m.w.push_back(1.0 / static_cast<double>(k));
    m.mu.push_back(c);
    m.cov.push_back({v0x, 0.0, v0y});
    for (size_t i = 0; i < x.size(); ++i)
      dmin[i] = std::min(dmin[i], (x[i][0] - c[0]) * (x[i][0] - c[0]) + (x[i][1] - c[1]) * (x[i][1] - c[1]));
    next = static_cast<size_t>(std::max_element(dmin.begin(), dmin.end()) - dmin.begin());
  }
  return m;
}

Mixture2d fit_mixture(const std::vector<Pt>& x, Mixture2d m, int max_iter) {
  const size_t n = x.size(), K = m.w.size();
  if (n < 2) throw InputError("a mixture fit needs at least 2 points");
  std::vector<double> r(n * K);
  double last = -std::numeric_limits<double>::infinity();
  for (int it = 0; it < max_iter; ++it) {
    // E step: responsibilities of the living components.
    double ll = 0;
    for (size_t i = 0; i < n; ++i) {
      double mx = -std::numeric_limits<double>::infinity();
      for (size_t k = 0; k < K; ++k) {
        r[i * K + k] = m.w[k] > 0 ? std::log(m.w[k]) + log_normal(x[i], m.mu[k], m.cov[k]) : -std::numeric_limits<double>::infinity();
        mx = std::max(mx, r[i * K + k]);
      }
      double s = 0;
      for (size_t k = 0; k < K; ++k) s += r[i * K + k] = std::exp(r[i * K + k] - mx);
      for (size_t k = 0; k < K; ++k) r[i * K + k] /= s;
      ll += mx + std::log(s);
    }
    // M step; a component with less than 2 points' worth of responsibility is dropped.
    for (size_t k = 0; k < K; ++k) {
      if (m.w[k] <= 0) continue;
      double nk = 0, s0 = 0, s1 = 0;
      for (size_t i = 0; i < n; ++i) nk += r[i * K + k], s0 += r[i * K + k] * x[i][0], s1 += r[i * K + k] * x[i][1];
      if (nk < 2.0) {
        m.w[k] = 0;
        continue;
      }
      const Pt mu{s0 / nk, s1 / nk};
      double c00 = 0, c01 = 0, c11 = 0;
      for (size_t i = 0; i < n; ++i) {
        const double d0 = x[i][0] - mu[0], d1 = x[i][1] - mu[1], q = r[i * K + k];
        c00 += q * d0 * d0, c01 += q * d0 * d1, c11 += q * d1 * d1;
      }
      m.w[k] = nk / static_cast<double>(n);
      m.mu[k] = mu;
      m.cov[k] = {c00 / nk + kReg, c01 / nk, c11 / nk + kReg};
    }
    double tw = 0;
    for (double v : m.w) tw += v;
    for (double& v : m.w) v /= tw;
    ll /= static_cast<double>(n);
    if (std::abs(ll - last) < 1e-9) break;
    last = ll;
  }
  return m;
}

void validate(const MixtureLoopConfig& c) {
  mixture_loop_schema().validate(c);
}

const experiment::Schema<MixtureLoopConfig>& mixture_loop_schema() {
  using C = MixtureLoopConfig;
  static const experiment::Schema<C> s =
      experiment::Schema<C>("mixture loop")
          .constant("family", "mixture", "a mixture loop")
          .choice("kind", &C::kind, "--kind", "what generation t >= 2 is fitted on", loop_kind_names())
          .integer("grid", &C::grid, "--grid", "modes per side of p_r's square grid", 1, 10)
          .real("mode_std", &C::mode_std, "--mode-std", "standard deviation of each real mode", 1e-3, 0.5, true)
          .integer("n_real", &C::n_real, "--n-real", "real samples per generation", 2, 1'000'000)
          .integer("n_synth", &C::n_synth, "--n-synth", "synthetic samples per generation", 0, 1'000'000)
          .integer("generations", &C::generations, "--generations", "generations", 1, 1'000'000)
          .free()
          .integer("runs", &C::runs, "--runs", "independent runs", 1, 100'000)
          .real("bias", &C::bias, "--bias", "sampling bias lambda (every component's covariance times lambda)", 0, 1, true)
          .integer("n_eval", &C::n_eval, "--n-eval", "samples per generation and run scored", 10, 100'000)
          .integer("pr_k", &C::pr_k, "--pr-k", "k of recall and precision", 1, 100)
          .seed("seed", &C::seed, "--seed", "random seed")
          .rule([](const C& c) {
            return c.kind == LoopKind::FullySynthetic && c.n_synth < 2 ? std::string("--n-synth must be at least 2 for "
                                                                                     "the fully synthetic loop")
                                                                       : std::string();
          })
          .rule([](const C& c) {
            const int64_t first = c.n_real;
            return first < 2 * c.grid * c.grid ? "--n-real must be at least 2 per mode (" +
                                                     std::to_string(2 * c.grid * c.grid) + " for grid " +
                                                     std::to_string(c.grid) + ")"
                                               : std::string();
          })
          .rule([](const C& c) {
            return c.pr_k >= c.n_eval ? std::string("--pr-k must be below --n-eval") : std::string();
          });
  return s;
}

MixtureLoopResult run_mixture_loop(const MixtureLoopConfig& cfg,
                                   const std::function<bool(const MixtureLoopResult& so_far)>& progress) {
  validate(cfg);
  const Mixture2d truth = mixture_truth(cfg);
  const int64_t K = cfg.grid * cfg.grid, G = cfg.generations, R = cfg.runs;
  MixtureLoopResult res;
  for (int64_t g : {int64_t(1), std::max<int64_t>(1, G / 10), G})
    if (res.snapshot_generations.empty() || res.snapshot_generations.back() < g) res.snapshot_generations.push_back(g);
  for (const auto& k : kMetrics) res.mean[k], res.lo[k], res.hi[k];
  // Generation by generation over all runs, so that each generation's means are known as soon as it ends. Each run
  // keeps its own random stream and state: the numbers are those of running the runs one after the other.
  struct Run {
    std::mt19937_64 rng;
    std::vector<Pt> real_fixed;
    at::Tensor real_eval;
    Mixture2d fit;
    std::vector<Pt> synth;
  };
  std::vector<Run> runs(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r) {
    Run& u = runs[static_cast<size_t>(r)];
    u.rng.seed(mix_seed(cfg.seed, static_cast<uint64_t>(r)));
    u.real_fixed = sample(truth, cfg.n_real, 1.0, u.rng);
    u.real_eval = to_tensor(sample(truth, cfg.n_eval, 1.0, u.rng));
  }
  std::map<std::string, std::vector<double>> values;  // values[metric][run] of this generation
  for (int64_t t = 1; t <= G; ++t) {
    for (const auto& k : kMetrics) values[k].assign(static_cast<size_t>(R), 0.0);
    for (int64_t r = 0; r < R; ++r) {
      Run& u = runs[static_cast<size_t>(r)];
      std::vector<Pt> data;
      if (t == 1 || cfg.kind == LoopKind::Augment) data = u.real_fixed;
      else if (cfg.kind == LoopKind::Fresh) data = sample(truth, cfg.n_real, 1.0, u.rng);
      if (t > 1) data.insert(data.end(), u.synth.begin(), u.synth.end());
      u.fit = t == 1 ? fit_mixture(data, farthest_point_start(data, K, static_cast<size_t>(u.rng() % data.size())))
                     : fit_mixture(data, u.fit);
      u.synth = cfg.n_synth > 0 ? sample(u.fit, cfg.n_synth, cfg.bias, u.rng) : std::vector<Pt>{};
      const std::vector<Pt> gen = sample(u.fit, cfg.n_eval, cfg.bias, u.rng);
      const metrics::PrecisionRecall pr = metrics::precision_recall(u.real_eval, to_tensor(gen), cfg.pr_k);
      const size_t ri = static_cast<size_t>(r);
      values["variance"][ri] = u.fit.total_variance();
      values["modal_variance"][ri] = u.fit.modal_variance();
      values["modes"][ri] = static_cast<double>(modes_covered(truth, gen, cfg.mode_std));
      values["recall"][ri] = pr.recall;
      values["precision"][ri] = pr.precision;
      values["components"][ri] = static_cast<double>(u.fit.living());
      if (r == 0 && std::find(res.snapshot_generations.begin(), res.snapshot_generations.end(), t) !=
                        res.snapshot_generations.end())
        res.snapshots.push_back(u.fit);
    }
    // The t intervals cut to what each quantity can be (few runs reach past it: a variance below 0, more modes
    // covered than there are, a recall above 1); the true value lies inside, so the coverage does not drop.
    const double modes_there = static_cast<double>(truth.w.size());
    for (const auto& k : kMetrics) {
      const metrics::Estimate e = metrics::mean_over_runs(values[k]);
      const double top = k == "modes" || k == "components" ? modes_there
                         : k == "recall" || k == "precision" ? 1.0
                                                             : HUGE_VAL;
      res.mean[k].push_back(e.value);
      res.lo[k].push_back(std::isnan(e.lo) ? e.lo : std::max(0.0, e.lo));
      res.hi[k].push_back(std::isnan(e.hi) ? e.hi : std::min(top, e.hi));
    }
    if (progress && !progress(res)) throw Cancelled();
  }
  return res;
}

nlohmann::json mixture_loop_json(const MixtureLoopConfig& cfg, const MixtureLoopResult& res) {
  nlohmann::json j = mixture_loop_schema().to_json(cfg);
  for (const auto& k : kMetrics) {
    const auto arr = [](const std::vector<double>& v) {
      nlohmann::json a = nlohmann::json::array();
      for (double x : v) a.push_back(experiment::result_number(x));
      return a;
    };
    j[k + "_mean"] = arr(res.mean.at(k));
    j[k + "_lo"] = arr(res.lo.at(k));
    j[k + "_hi"] = arr(res.hi.at(k));
  }
  nlohmann::json snaps = nlohmann::json::array();
  for (size_t i = 0; i < res.snapshots.size(); ++i)
    snaps.push_back({{"generation", res.snapshot_generations[i]}, {"mixture", res.snapshots[i].to_json()}});
  j["snapshots"] = snaps;
  j["ci"] = {{"method", "Student t over runs"}, {"level", 0.95}};
  const Mixture2d truth = mixture_truth(cfg);
  j["real"] = {{"variance", truth.total_variance()}, {"modal_variance", truth.modal_variance()},
               {"modes", static_cast<double>(truth.w.size())}};
  const auto est = [&](const std::string& k, size_t g) {
    return metrics::Estimate::of(res.mean.at(k)[g], res.lo.at(k)[g], res.hi.at(k)[g], "t");
  };
  const size_t last = res.mean.at("recall").size() - 1;
  // Modes are counted: where every run covered as many, a t interval of no width says only that.
  const auto modes = [&](size_t g) {
    const metrics::Estimate e = est("modes", g);
    return cfg.runs > 1 && e.has_interval() && e.lo == e.hi ? std::to_string(std::lround(e.value)) + " in all runs"
                                                             : e.text(1);
  };
  std::ostringstream v;
  v << "recall (higher is better) " << est("recall", 0).text(3) << " at generation 1, " << est("recall", last).text(3)
    << " at generation " << last + 1 << "; real modes covered (higher is better) " << modes(0) << " -> " << modes(last)
    << " of " << truth.w.size() << " (95 % t intervals over " << cfg.runs << " runs)";
  j["verdict"] = v.str();
  return j;
}

void write_mixture_figure(const std::string& path, const MixtureLoopConfig& cfg, const MixtureLoopResult& res) {
  using namespace render;
  const Mixture2d truth = mixture_truth(cfg);
  std::mt19937_64 rng(mix_seed(cfg.seed, 0xF16));
  const at::Tensor real = to_tensor(sample(truth, 3000, 1.0, rng));
  const double e = static_cast<double>(cfg.grid);
  const PlotRange range{-e - 0.5, e + 0.5, -e - 0.5, e + 0.5};
  GridFigure fig;
  fig.title = "Gaussian-mixture loop (" + to_string(cfg.kind) + "): run 1's fitted mixture";
  std::vector<Canvas> row;
  for (size_t i = 0; i < res.snapshots.size(); ++i) {
    const at::Tensor pts = to_tensor(sample(res.snapshots[i], 3000, cfg.bias, rng));
    row.push_back(scatter_axes({{real, {170, 170, 170}, 0.6f}, {pts, {31, 90, 180}, 1.0f}}, 360, range));
    fig.x_labels.push_back("generation " + std::to_string(res.snapshot_generations[i]) + ": " +
                           std::to_string(res.snapshots[i].living()) + " components left (of " +
                           std::to_string(truth.w.size()) + ")");
  }
  fig.cells = {row};
  std::ostringstream cap;
  cap << "grey: p_r (" << truth.w.size() << " modes, std " << cfg.mode_std << "); blue: 3000 samples of the fit (bias "
      << cfg.bias << "). Components left: the fit's own components still alive in run 1 (the loop's 'modes covered' "
      << "counts the real modes its samples reach, averaged over the runs). n_real " << cfg.n_real << ", n_synth "
      << cfg.n_synth << ", seed " << cfg.seed << ".";
  with_caption(compose_grid(fig), cap.str()).write_png(path);
}

}  // namespace sims::loops
