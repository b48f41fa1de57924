#include "loops/diffusion_loop.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <mutex>
#include <sstream>
#include <thread>

#include <unistd.h>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "common/error.hpp"
#include "dist/group.hpp"
#include "experiment/common_schemas.hpp"
#include "experiment/json_io.hpp"
#include "experiment/run_folder.hpp"
#include "io/atomic_file.hpp"
#include "io/npy.hpp"
#include "loops/ddpm_ensemble.hpp"
#include "loops/loop_schemas.hpp"
#include "loops/loop_verdict.hpp"
#include "loops/ensemble.hpp"
#include "metrics/wasserstein.hpp"

namespace sims::loops {
namespace fs = std::filesystem;

LoopAlgorithm parse_loop_algorithm(const std::string& s) {
  if (s == "standard" || s == "st") return LoopAlgorithm::Standard;
  if (s == "sims" || s == "SIMS") return LoopAlgorithm::Sims;
  throw InputError("unknown training algorithm '" + s + "' (expected standard or sims)");
}

std::string to_string(LoopAlgorithm a) { return a == LoopAlgorithm::Sims ? "sims" : "standard"; }

DiffusionLoopConfig::DiffusionLoopConfig() {
  net.type = "mlp";
  net.dim = 2;
  net.width = 64;
  net.depth = 3;
  net.emb_freqs = 8;
  train.batch = 256;
  train.lr = 1e-3;
  train.lr_rampup = 10000;
}

const experiment::Schema<DiffusionLoopConfig>& diffusion_loop_schema() {
  using C = DiffusionLoopConfig;
  static const experiment::Schema<C> s = [] {
    experiment::Schema<C> s("diffusion2d loop");
    s.constant("family", "diffusion2d", "a diffusion2d loop")
        .custom(
            "data", "--data", "p_r: a built-in 2D data set (" + [] {
              std::string n;
              for (const auto& x : data::toy2d_names()) n += (n.empty() ? "" : ", ") + x;
              return n;
            }() + ")",
            [](const C& c) { return c.data.to_json(); },
            [](C& c, const nlohmann::json& j) { c.data = data::Toy2dSpec::from_json(j); },
            [](C& c, const std::string& t) { c.data = data::Toy2dSpec::named(t); },
            [](const C& c) { return c.data.name; });
    add_loop_fields(s, "points");
    s.integer("runs", &C::runs, "--runs", "independent runs", 1, 1'000'000)
        .real("bias", &C::bias, "--bias", "sampling bias lambda (1: unbiased)", 0, 1, true)
        .integer("n_aux", &C::n_aux, "--n-aux", "SIMS: samples the auxiliary is fine-tuned on", 2, 10'000'000)
        .real("base_epochs", &C::base_epochs, "--base-epochs", "base budget in epochs of D^t", 0, 1e6, true)
        .integer("base_images", &C::base_images, "--base-images", "base budget in images seen (0: base_epochs x |D^t|)", 0,
                 1'000'000'000'000)
        .real("aux_epochs", &C::aux_epochs, "--aux-epochs", "auxiliary budget in epochs of its set", 0, 1e6, true)
        .integer("n_eval", &C::n_eval, "--n-eval", "generated points per run scored", 2, 1'000'000)
        .nested("net", &C::net, experiment::mlp_schema())
        .nested("train", &C::train, experiment::train_schema())
        .nested("sampler", &C::sampler, experiment::sampler_schema(), "", {"sampler", "steps", "sigma_min", "sigma_max", "rho"})
        .choice("model", &C::model, "--model", "2D model: edm (EDM MLP, Heun) | ddpm (the SIMS paper's epsilon-MLP)",
                {{LoopModel::Edm, "edm"}, {LoopModel::Ddpm, "ddpm"}})
        .integer("ddpm_steps", &C::ddpm_steps, "--ddpm-steps", "ddpm: diffusion steps T (cosine schedule)", 2, 10000)
        .integer("ddpm_blocks", &C::ddpm_blocks, "--ddpm-blocks", "ddpm: residual blocks", 0, 64)
        .integer("ddpm_batch", &C::ddpm_batch, "--ddpm-batch", "ddpm: training batch per run", 1, 1'000'000)
        .rule([](const C& c) {
          if (c.model != LoopModel::Ddpm) return std::string();
          if (c.bias != 1.0) return std::string("--bias needs --model edm (its temperature stand-in starts an ODE)");
          if (c.base_images > 0) return std::string("--base-images needs --model edm (ddpm trains in whole epochs)");
          return std::string();
        })
        .choice("warm_start", &C::warm_start, "--warm-start", "where generation t > 1's base starts",
                {{WarmStart::Scratch, "scratch"}, {WarmStart::Previous, "previous"}})
        .integer("batch_runs", &C::batch_runs, "--batch-runs", "runs per batched ensemble (0: all at once)", 0, 1'000'000)
        .free()
        .integer("save_runs", &C::save_runs, "--save-runs", "runs whose points are saved per generation", 0, 1'000'000)
        .free()
        .rule([](const C& c) {
          return loop_metric_name(c) == "w2_empirical" && c.n_eval * c.n_eval > metrics::kMaxOtEntries
                     ? std::string("--n-eval is too large for exact optimal transport")
                     : std::string();
        })
        .rule([](const C& c) {
          // Memory: the largest per-run tensors are the pool and the sampled sets.
          const double pool = static_cast<double>(c.accumulate ? c.n_synth * c.generations : c.n_synth);
          return static_cast<double>(c.runs) * (pool + c.n_real) * 2 * 4 < 8e9
                     ? std::string()
                     : std::string("--runs x pool size is too large for memory");
        });
    return s;
  }();
  return s;
}

nlohmann::json DiffusionLoopConfig::to_json() const { return diffusion_loop_schema().to_json(*this); }

DiffusionLoopConfig DiffusionLoopConfig::from_json(const nlohmann::json& j) { return experiment::read_settings(diffusion_loop_schema(), j); }

void validate(const DiffusionLoopConfig& c) {
  if (c.net.type != "mlp" || c.net.dim != 2) throw InputError("the diffusion2d loop uses a 2D MLP network");
  if (c.sampler.churn != 0) throw InputError("the diffusion2d loop samples deterministically (no churn)");
  diffusion_loop_schema().validate(c);
}

std::string loop_metric_name(const DiffusionLoopConfig& cfg) {
  return cfg.data.name == "gaussian" ? "w2_gaussian_fit" : "w2_empirical";
}

metrics::Estimate DiffusionLoopResult::w2_interval(size_t g) const {
  return g < w2_runs.size() ? metrics::mean_over_runs(w2_runs[g]) : metrics::Estimate{};
}

namespace {

// The mean over runs with its t interval, or `mean` alone where the runs are not kept (an older record).
metrics::Estimate over_runs(const std::vector<std::vector<double>>& runs, const std::vector<double>& mean, size_t g) {
  if (g < runs.size() && !runs[g].empty()) return metrics::mean_over_runs(runs[g]);
  metrics::Estimate e;
  if (g < mean.size()) e.value = mean[g];
  return e;
}

}  // namespace

metrics::Estimate DiffusionLoopResult::trace_interval(size_t g) const { return over_runs(trace_runs, trace_mean, g); }

metrics::Estimate DiffusionLoopResult::w2_median_interval(size_t g) const {
  if (g < w2_runs.size() && !w2_runs[g].empty()) return metrics::median_over_runs(w2_runs[g]);
  metrics::Estimate e;
  if (g < w2_median.size()) e.value = w2_median[g];
  return e;
}

metrics::Estimate DiffusionLoopResult::w2_base_interval(size_t g) const {
  return over_runs(w2_base_runs, w2_base_mean, g);
}

namespace {

// Mean over generations limit_from..G of E[dist(G^t)] (or of E[dist(G^t)]/E[dist(G^1)]) with E over the runs
// `runs` (NaN runs skipped); NaN when a generation has no finite value.
double limit_mean(const std::vector<std::vector<double>>& w2_runs, int from, const std::vector<int64_t>& runs,
                  bool ratio) {
  auto mean_at = [&](size_t g) {
    double s = 0;
    int n = 0;
    for (int64_t r : runs)
      if (static_cast<size_t>(r) < w2_runs[g].size() && std::isfinite(w2_runs[g][r])) s += w2_runs[g][r], ++n;
    return n ? s / n : NAN;
  };
  const double first = mean_at(0);
  double s = 0;
  for (size_t g = static_cast<size_t>(from) - 1; g < w2_runs.size(); ++g) s += ratio ? mean_at(g) / first : mean_at(g);
  return s / static_cast<double>(w2_runs.size() - (from - 1));
}

size_t run_count(const DiffusionLoopResult& res) {
  return res.w2_runs.size() == res.w2_mean.size() && !res.w2_runs.empty() ? res.w2_runs[0].size() : 0;
}

metrics::Estimate limit_of(const DiffusionLoopResult& res, bool ratio) {
  metrics::Estimate e;
  const size_t G = res.w2_mean.size();
  if (G == 0) return e;
  double s = 0;
  for (size_t g = static_cast<size_t>(res.limit_from) - 1; g < G; ++g) s += ratio ? res.ratio[g] : res.w2_mean[g];
  e.value = s / static_cast<double>(G - (res.limit_from - 1));
  const size_t runs = run_count(res);
  if (runs < 2) return e;
  const double value = e.value;
  if (runs < DiffusionLoopResult::kBootstrapRuns) {
    // Each run's mean over the window (NaN when one of its generations is), then a t interval over the runs.
    std::vector<double> window(runs, 0.0);
    for (size_t g = static_cast<size_t>(res.limit_from) - 1; g < G; ++g)
      for (size_t r = 0; r < runs; ++r) window[r] += res.w2_runs[g][r] / static_cast<double>(G - (res.limit_from - 1));
    // The value reported is the means' (NaN when a generation has a NaN run); the interval is over the runs with
    // no NaN. Without a value, no interval.
    if (!std::isfinite(value)) return e;
    e = ratio ? metrics::ratio_over_runs(window, res.w2_runs[0]) : metrics::mean_over_runs(window);
    e.value = value;
    return e;
  }
  e = metrics::bootstrap(
      static_cast<int64_t>(runs),
      [&](const std::vector<int64_t>& idx) { return limit_mean(res.w2_runs, res.limit_from, idx, ratio); }, 1000, 0.95,
      /*seed=*/20);
  e.value = value;
  e.method = "bootstrap over runs";
  return e;
}

}  // namespace

metrics::Estimate DiffusionLoopResult::limit_ratio_estimate() const { return limit_of(*this, true); }

double DiffusionLoopResult::ratio_at(size_t g) const {
  if (g < ratio.size()) return ratio[g];
  // While the loop runs (`ratio` is filled when it ends): from the means so far.
  return g < w2_mean.size() ? w2_mean[g] / w2_mean[0] : std::nan("");
}

metrics::Estimate DiffusionLoopResult::ratio_interval(size_t g) const {
  metrics::Estimate e;
  if (g >= w2_mean.size()) return e;
  const double value = ratio_at(g);
  e.value = value;
  if (g == 0) {
    e.lo = e.hi = 1.0;
    return e;
  }
  const size_t runs = run_count(*this);
  if (runs < 2) return e;
  if (!std::isfinite(value)) return e;  // as limit_of: no value, no interval
  // Fieller's paired set for any number of runs (a percentile bootstrap over many runs could exclude 1 where the
  // verdict's paired t interval of the change holds 0, or the reverse).
  e = metrics::ratio_over_runs(w2_runs[g], w2_runs[0]);
  e.value = value;
  return e;
}

std::string DiffusionLoopResult::ratio_method() const {
  const size_t runs = run_count(*this);
  if (runs < 2) return "one run: no interval";
  // One wording for the ratios and the limit's distance: t intervals over the runs (a ratio: Fieller's paired set,
  // which holds 1 exactly when the verdict's paired t interval of the change holds 0); the limit over many runs is
  // bootstrapped.
  const std::string t = "Student t over " + std::to_string(runs) + " runs (a ratio: Fieller's set, paired over the runs)";
  return runs < kBootstrapRuns ? t : t + "; the limit: percentile bootstrap over " + std::to_string(runs) + " runs";
}
metrics::Estimate DiffusionLoopResult::limit_distance() const { return limit_of(*this, false); }

std::string DiffusionLoopResult::verdict() const {
  if (w2_mean.empty()) return {};
  const size_t last = w2_mean.size() - 1;
  const auto mean_of = [&](size_t g) {
    metrics::Estimate e = w2_interval(g);
    e.value = w2_mean[g];
    return e;
  };
  metrics::Estimate change;
  change.value = w2_mean[last] - w2_mean[0];
  std::string how = w2_runs.empty() ? "no per-run values: no interval" : "one run: no interval";
  if (last < w2_runs.size() && w2_runs[0].size() > 1) {
    change = paired_change(w2_runs[0], w2_runs[last]);
    size_t used = 0;
    for (size_t r = 0; r < w2_runs[0].size() && r < w2_runs[last].size(); ++r)
      used += std::isfinite(w2_runs[0][r]) && std::isfinite(w2_runs[last][r]);
    how = "95 % paired t interval over " + std::to_string(used) + " runs";
  }
  return drift_verdict("E[" + metric + "]", last + 1, mean_of(0), mean_of(last), change, how, ratio_interval(last));
}

nlohmann::json DiffusionLoopResult::to_json() const {
  nlohmann::json j = {{"metric", metric},       {"w2_mean", w2_mean},       {"w2_median", w2_median},
                      {"w2_std", w2_std},       {"ratio", ratio},           {"trace_mean", trace_mean},
                      {"trace_median", trace_median}, {"seconds", seconds}, {"rss_mib", rss_mib}, {"limit_ratio", limit_ratio},
                      {"limit_from", limit_from}};
  nlohmann::json lo = nlohmann::json::array(), hi = nlohmann::json::array();
  for (size_t g = 0; g < w2_mean.size(); ++g) {
    const metrics::Estimate e = w2_interval(g);
    lo.push_back(experiment::result_number(e.lo)), hi.push_back(experiment::result_number(e.hi));
  }
  j["w2_lo"] = lo, j["w2_hi"] = hi;
  j["ci"] = {{"method", "Student t over runs"}, {"level", 0.95}};
  // The same intervals for tr Σ and (SIMS) the base's dist (null for generations read from older records).
  auto bounds = [&](const char* key, size_t count, metrics::Estimate (DiffusionLoopResult::*interval)(size_t) const) {
    nlohmann::json l = nlohmann::json::array(), h = nlohmann::json::array();
    for (size_t g = 0; g < count; ++g) {
      const metrics::Estimate e = (this->*interval)(g);
      l.push_back(experiment::result_number(e.lo)), h.push_back(experiment::result_number(e.hi));
    }
    j[std::string(key) + "_lo"] = l, j[std::string(key) + "_hi"] = h;
  };
  bounds("trace", trace_mean.size(), &DiffusionLoopResult::trace_interval);
  bounds("w2_median", w2_median.size(), &DiffusionLoopResult::w2_median_interval);
  j["median_ci"] = {{"method", "order statistics over runs (distribution-free)"}, {"level", 0.95}};
  if (!w2_base_mean.empty()) bounds("w2_base", w2_base_mean.size(), &DiffusionLoopResult::w2_base_interval);
  // Each generation's ratio E[dist(G^t)]/E[dist(G^1)] with its interval over whole runs (ratio_interval).
  nlohmann::json rlo = nlohmann::json::array(), rhi = nlohmann::json::array();
  for (size_t g = 0; g < w2_mean.size(); ++g) {
    const metrics::Estimate e = ratio_interval(g);
    rlo.push_back(experiment::result_number(e.lo));
    rhi.push_back(experiment::result_number(e.hi));
  }
  j["ratio_lo"] = rlo, j["ratio_hi"] = rhi;
  j["ratio_ci"] = {{"method", ratio_method()}, {"level", 0.95}};
  if (!w2_mean.empty()) {
    limit_ratio_estimate().put(j, "limit_ratio");
    limit_distance().put(j, "limit_dist");
    j["limit_ci"] = {{"method", run_count(*this) < kBootstrapRuns ? ratio_method()
                                                                  : "percentile bootstrap over runs, 1000 resamples"},
                     {"level", 0.95}};
  }
  if (!w2_mean.empty()) j["verdict"] = verdict();
  if (!w2_base_mean.empty()) j["w2_base_mean"] = w2_base_mean;
  if (!phase_seconds.empty()) j["phase_seconds"] = phase_seconds;
  return j;
}

namespace {

enum Role : uint64_t { kReal = 1, kInit = 2, kTrain = 3, kAuxNoise = 4, kAuxTrain = 5, kOut = 6, kRef = 7,
                      kAuxSteps = 8, kOutSteps = 9 };  // 8, 9: the DDPM sampler's per-step noise

uint64_t role_seed(uint64_t seed, int64_t run, int64_t gen, Role role) {
  const uint64_t s = mix_seed(seed, static_cast<uint64_t>(run));
  return mix_seed(mix_seed(s, static_cast<uint64_t>(gen)), role);
}

std::vector<uint64_t> seeds_for(const DiffusionLoopConfig& c, int64_t r0, int64_t r1, int64_t gen, Role role) {
  std::vector<uint64_t> v;
  for (int64_t r = r0; r < r1; ++r) v.push_back(role_seed(c.seed, r, gen, role));
  return v;
}

at::Tensor real_sets(const DiffusionLoopConfig& c, int64_t r0, int64_t r1, int64_t gen, int64_t n) {
  std::vector<at::Tensor> v;
  for (int64_t r = r0; r < r1; ++r) v.push_back(data::sample_toy2d(c.data, n, role_seed(c.seed, r, gen, kReal)));
  return at::stack(v).to(at::kFloat);
}

double mean_of(const std::vector<double>& v) {
  long double a = 0;
  for (double x : v) a += x;
  return v.empty() ? NAN : static_cast<double>(a / v.size());
}

double std_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double m = mean_of(v);
  long double a = 0;
  for (double x : v) a += (x - m) * (x - m);
  return std::sqrt(static_cast<double>(a / (v.size() - 1)));
}

// Per-run distance and trace of the fitted covariance of x [c, n, 2] (float64).
void score(const DiffusionLoopConfig& c, const at::Tensor& x, int64_t r0, std::vector<double>& w2,
           std::vector<double>& trace) {
  const int64_t cnt = x.size(0), n = x.size(1);
  at::Tensor mean = x.mean(1);
  at::Tensor xc = x - mean.unsqueeze(1);
  at::Tensor cov = at::bmm(xc.transpose(1, 2), xc) / static_cast<double>(n - 1);
  const bool gaussian = c.data.name == "gaussian";
  at::Tensor mu_r = at::tensor(c.data.mean, at::kDouble), cov_r = at::tensor(c.data.cov, at::kDouble).reshape({2, 2});
  for (int64_t i = 0; i < cnt; ++i) {
    trace.push_back(cov[i].trace().item<double>());
    if (gaussian) {
      w2.push_back(metrics::w2_gaussian(mean[i], cov[i], mu_r, cov_r));
    } else {
      at::Tensor ref = data::sample_toy2d(c.data, n, role_seed(c.seed, r0 + i, 0, kRef)).to(at::kDouble);
      w2.push_back(metrics::wasserstein2(x[i], ref));
    }
  }
}

// Resident set size of this process in MiB (0 where /proc is not available).
double resident_mib() {
  std::ifstream in("/proc/self/statm");
  long long pages = 0, resident = 0;
  if (!(in >> pages >> resident)) return 0.0;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

std::string gen_name(const char* pattern, int64_t t) {
  char buf[64];
  std::snprintf(buf, sizeof buf, pattern, static_cast<long long>(t));
  return buf;
}

void finish(DiffusionLoopResult& res) {
  res.ratio.clear();
  for (double w : res.w2_mean) res.ratio.push_back(w / res.w2_mean[0]);
  const int G = static_cast<int>(res.ratio.size());
  res.limit_from = G >= 20 ? 20 : 1;
  double s = 0;
  for (int t = res.limit_from; t <= G; ++t) s += res.ratio[t - 1];
  res.limit_ratio = G ? s / (G - res.limit_from + 1) : NAN;
}

void write_metrics(const std::string& dir, const DiffusionLoopConfig& cfg, const DiffusionLoopResult& res) {
  nlohmann::json j = cfg.to_json();
  j.update(res.to_json());
  experiment::write_json_file(dir + "/metrics.json", j);
  std::ostringstream csv;
  csv << "generation,w2_mean,w2_median,w2_std,ratio,trace_mean,trace_median" << (res.w2_base_mean.empty() ? "" : ",w2_base_mean")
      << ",seconds,rss_mib,w2_lo,w2_hi\n"
      << std::setprecision(10);
  for (size_t g = 0; g < res.w2_mean.size(); ++g) {
    csv << g + 1 << "," << res.w2_mean[g] << "," << res.w2_median[g] << "," << res.w2_std[g] << "," << res.ratio[g] << ","
        << res.trace_mean[g] << "," << res.trace_median[g];
    if (!res.w2_base_mean.empty()) csv << "," << res.w2_base_mean[g];
    csv << "," << res.seconds[g] << ",";
    if (g < res.rss_mib.size()) csv << res.rss_mib[g];
    const metrics::Estimate e = res.w2_interval(g);
    csv << ",";
    if (e.has_interval()) csv << e.lo << "," << e.hi;
    else csv << ",";
    csv << "\n";
  }
  experiment::write_text_file(dir + "/metrics.csv", csv.str());
}

// [SECTION] Warm start: every run's base weights as one row ----------------------------

// A member-stacked parameter list ([R, ...] each) as [R, P] float32, and back into tensors of the same shapes.
at::Tensor flatten_members(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> rows;
  for (const at::Tensor& t : params) rows.push_back(t.detach().reshape({t.size(0), -1}));
  return at::cat(rows, 1).to(at::kFloat).contiguous();
}

void unflatten_members(const at::Tensor& flat, const std::vector<at::Tensor>& params) {
  int64_t cols = 0;
  for (const at::Tensor& t : params) cols += t.numel() / t.size(0);
  if (flat.dim() != 2 || flat.size(0) != params.at(0).size(0) || flat.size(1) != cols)
    throw InputError("the stored base weights do not match the network settings");
  torch::NoGradGuard ng;
  int64_t at_col = 0;
  for (const at::Tensor& t : params) {
    const int64_t n = t.numel() / t.size(0);
    t.copy_(flat.slice(1, at_col, at_col + n).reshape(t.sizes()));
    at_col += n;
  }
}

// P: the number of weights of one run's base, from the layer shapes (loops/ensemble.cpp's create_ensemble,
// loops/ddpm_ensemble.hpp's DdpmEnsemble::p).
int64_t base_weight_count(const DiffusionLoopConfig& cfg) {
  const int64_t D = cfg.net.dim, W = cfg.net.width;
  if (cfg.model == LoopModel::Ddpm) {
    const int64_t block = (W + 1) * (W + 1) + 3 * (W + 1) + (W + 1) * W + 3 * W;
    return (D + 1) * W + W + cfg.ddpm_blocks * block + W * D + D;
  }
  int64_t n = 0;
  for (int64_t l = 0; l <= cfg.net.depth; ++l) {
    const int64_t i = l == 0 ? D + 1 + 2 * cfg.net.emb_freqs : W, o = l == cfg.net.depth ? D : W;
    n += i * o + o;
  }
  return n;
}

std::string generation_stage(int64_t t) { return gen_name("generation-%04lld", t); }

// What a finished generation's done-marker keeps, enough to continue the loop.
nlohmann::json generation_record(const DiffusionLoopResult& res, size_t g, const std::string& pool_file) {
  nlohmann::json j = res.row(g);
  j["w2_runs"] = res.w2_runs[g];
  if (g < res.trace_runs.size()) j["trace_runs"] = res.trace_runs[g];
  if (g < res.w2_base_runs.size() && !res.w2_base_runs[g].empty()) j["w2_base_runs"] = res.w2_base_runs[g];
  j["rss_mib"] = g < res.rss_mib.size() ? res.rss_mib[g] : 0.0;
  j["pool"] = pool_file;
  return j;
}

// Reads the finished generations 1..min(done, G) back from the run folder;
// returns how many, and the synthetic pool (and with warm start every run's
// base weights) to continue from (when more generations are to run).
int64_t restore_generations(const experiment::RunFolder& rf, const DiffusionLoopConfig& cfg, DiffusionLoopResult& res,
                            at::Tensor& pool, at::Tensor& bases) {
  int64_t done = 0;
  std::string pool_file, base_file;
  auto read_runs = [](const nlohmann::json& r, const char* key) {
    return r.contains(key) ? experiment::read_numbers(r.at(key), key) : std::vector<double>{};
  };
  while (done < cfg.generations && rf.done(generation_stage(done + 1), {{"generation", done + 1}})) {
    const nlohmann::json r = rf.result(generation_stage(done + 1));
    const std::string damaged = "'" + rf.dir() + "': the record of generation " + std::to_string(done + 1) + " is damaged";
    try {
      res.w2_mean.push_back(experiment::read_number(r.at("w2_mean"), "w2_mean"));
      res.w2_median.push_back(experiment::read_number(r.at("w2_median"), "w2_median"));
      res.w2_std.push_back(experiment::read_number(r.at("w2_std"), "w2_std"));
      res.trace_mean.push_back(experiment::read_number(r.at("trace_mean"), "trace_mean"));
      res.trace_median.push_back(experiment::read_number(r.at("trace_median"), "trace_median"));
      if (r.contains("w2_base_mean")) res.w2_base_mean.push_back(experiment::read_number(r.at("w2_base_mean"), "w2_base_mean"));
      res.seconds.push_back(r.at("seconds").get<double>());
      res.rss_mib.push_back(r.value("rss_mib", 0.0));
      res.w2_runs.push_back(experiment::read_numbers(r.at("w2_runs"), "w2_runs"));  // a diverged run: null
      // Records written before the spread of tr Σ and of the base's dist was kept have neither: their rows give
      // the means alone.
      res.trace_runs.push_back(read_runs(r, "trace_runs"));
      res.w2_base_runs.push_back(read_runs(r, "w2_base_runs"));
      pool_file = r.at("pool").get<std::string>();
      base_file = cfg.warm_start == WarmStart::Previous ? r.at("base").get<std::string>() : std::string();
    } catch (const nlohmann::json::exception&) {  // a field missing or of another kind
      throw InputError(damaged);
    } catch (const InputError& e) {  // read_number's words ("w2_mean: expected a number, got …")
      throw InputError(damaged + ": " + e.what());
    }
    ++done;
  }
  if (done > 0 && done < cfg.generations) {
    pool = io::read_npy(rf.dir() + "/" + pool_file).to(at::kFloat);
    if (pool.dim() != 3 || pool.size(0) != cfg.runs)
      throw InputError("'" + rf.dir() + "': the stored synthetic pool does not match the configuration");
    if (!base_file.empty()) {
      bases = io::read_npy(rf.dir() + "/" + base_file).to(at::kFloat);
      if (bases.dim() != 2 || bases.size(0) != cfg.runs || bases.size(1) != base_weight_count(cfg))
        throw InputError("'" + rf.dir() + "': the stored base weights do not match the configuration");
    }
  }
  res.resumed_from = static_cast<int>(done);
  return done;
}

// [SECTION] One generation -----------------------------------------------------------------

struct ChunkOut {
  std::vector<double> w2, trace, w2_base;
  at::Tensor synth, saved;
  at::Tensor base;  // warm start: the runs' base weights [n, P] for the next generation
  double t_base = 0, t_s = 0, t_aux = 0, t_out = 0;  // seconds per phase
};

// Generation t for runs [r0, r1): (1) the base model on D^t, from scratch or (warm start, t > 1) from the
// previous generation's base in `bases` [R, P], (2) SIMS: the auxiliary fine-tuned on the base's own samples,
// (3) the generation's samples, scored. phase(name, fraction of the chunk's work).
void run_chunk(const DiffusionLoopConfig& cfg, const at::Tensor& pool, const at::Tensor& bases, int64_t t, int64_t r0,
               int64_t r1,
               std::atomic<bool>& stop, const std::function<void(const char*, double)>& phase, ChunkOut& out,
               KernelPath kernels) {
  const bool sims = cfg.algorithm == LoopAlgorithm::Sims;
  auto clock = std::chrono::steady_clock::now();
  auto lap = [&clock](double& into) {
    const auto now = std::chrono::steady_clock::now();
    into += std::chrono::duration<double>(now - clock).count();
    clock = now;
  };
  // D^t for these runs.
  std::vector<at::Tensor> parts;
  if (t == 1 || cfg.kind == LoopKind::Augment) parts.push_back(real_sets(cfg, r0, r1, 1, cfg.n_real));
  else if (cfg.kind == LoopKind::Fresh) parts.push_back(real_sets(cfg, r0, r1, t, cfg.n_real));
  if (t > 1 && pool.defined() && pool.size(1) > 0) parts.push_back(pool.slice(0, r0, r1));
  const at::Tensor data = at::cat(parts, 1).contiguous();
  const int64_t n_data = data.size(1);
  // The phases' shares of a chunk's work (roughly: images trained, points sampled).
  const double w_base = sims ? 0.5 : 0.85, w_s = sims ? 0.1 : 0.0, w_aux = sims ? 0.3 : 0.0;
  Guidance g;
  g.omega = sims ? cfg.omega : 0.0;
  g.lo = cfg.interval_lo;
  g.hi = cfg.interval_hi;
  const int64_t n_out = std::max(cfg.n_synth, cfg.n_eval);
  const bool warm = cfg.warm_start == WarmStart::Previous, warm_from_previous = warm && t > 1;
  if (warm_from_previous && !bases.defined())  // restore_generations or the last generation always provides them
    throw std::logic_error("warm start: generation " + std::to_string(t) + " has no previous base weights");
  at::Tensor x;  // the generation's samples [R, n_out, 2] float64
  if (cfg.model == LoopModel::Ddpm) {
    // The same phases with the paper's DDPM model (loops/ddpm_ensemble.hpp): budgets in whole epochs.
    const DdpmSchedule sched = DdpmSchedule::cosine(cfg.ddpm_steps);
    DdpmNet dn;
    dn.width = cfg.net.width;
    dn.blocks = cfg.ddpm_blocks;
    DdpmTrainConfig dt;
    dt.batch = cfg.ddpm_batch;
    dt.lr = cfg.train.lr;
    dt.epochs = std::max<int64_t>(1, std::llround(cfg.base_epochs));
    EnsembleTrainOptions to;
    to.cancel = &stop;
    to.on_progress = [&](int64_t e, int64_t n, double) { phase("train base", w_base * e / static_cast<double>(n)); };
    DdpmEnsemble base = create_ddpm_ensemble(dn, seeds_for(cfg, r0, r1, t, kInit));
    if (warm_from_previous) unflatten_members(bases.slice(0, r0, r1), base.p);
    train_ddpm_ensemble(base, dt, sched, data, seeds_for(cfg, r0, r1, t, kTrain), to);
    if (warm) out.base = flatten_members(base.p);
    lap(out.t_base);
    DdpmEnsemble aux;
    if (sims) {
      phase("sample S", w_base);
      const at::Tensor S = sample_ddpm_ensemble(base, nullptr, ensemble_noise(cfg.n_aux, 2, seeds_for(cfg, r0, r1, t, kAuxNoise)),
                                                sched, Guidance{}, seeds_for(cfg, r0, r1, t, kAuxSteps), &stop);
      std::vector<double> tr;
      score(cfg, S.slice(1, 0, std::min(cfg.n_aux, cfg.n_eval)), r0, out.w2_base, tr);
      lap(out.t_s);
      aux = base.clone();  // fine-tuned from the base's weights (no EMA in this model), fresh Adam
      dt.epochs = std::max<int64_t>(1, std::llround(cfg.aux_epochs));
      to.on_progress = [&](int64_t e, int64_t n, double) {
        phase("train aux", w_base + w_s + w_aux * e / static_cast<double>(n));
      };
      train_ddpm_ensemble(aux, dt, sched, S.to(at::kFloat), seeds_for(cfg, r0, r1, t, kAuxTrain), to);
      lap(out.t_aux);
    }
    phase("sample", w_base + w_s + w_aux);
    x = sample_ddpm_ensemble(base, sims ? &aux : nullptr, ensemble_noise(n_out, 2, seeds_for(cfg, r0, r1, t, kOut)), sched,
                             g, seeds_for(cfg, r0, r1, t, kOutSteps), &stop);
  } else {
  EnsembleState base = create_ensemble(cfg.net, seeds_for(cfg, r0, r1, t, kInit));
  if (warm_from_previous) {  // as fork_ensemble: raw and EMA weights both the previous base's EMA weights
    unflatten_members(bases.slice(0, r0, r1), base.ema.all());
    base.raw = base.ema.clone();
  }
  TrainConfig tc = cfg.train;
  tc.budget = cfg.base_images > 0 ? cfg.base_images : std::max<int64_t>(1, std::llround(cfg.base_epochs * n_data));
  EnsembleTrainOptions to;
  to.kernels = kernels;
  to.cancel = &stop;
  to.on_progress = [&](int64_t seen, int64_t budget, double) { phase("train base", w_base * seen / static_cast<double>(budget)); };
  train_ensemble(base, tc, data, seeds_for(cfg, r0, r1, t, kTrain), to);
  if (warm) out.base = flatten_members(base.ema.all());
  lap(out.t_base);

  EnsembleState aux;
  if (sims) {
    phase("sample S", w_base);
    const at::Tensor s_noise = ensemble_noise(cfg.n_aux, 2, seeds_for(cfg, r0, r1, t, kAuxNoise));
    const at::Tensor S = sample_ensemble(base, nullptr, s_noise, cfg.sampler, Guidance{}, &stop, kernels);
    {
      std::vector<double> tr;
      score(cfg, S.slice(1, 0, std::min(cfg.n_aux, cfg.n_eval)), r0, out.w2_base, tr);
    }
    lap(out.t_s);
    aux = fork_ensemble(base);
    TrainConfig ta = cfg.train;
    ta.budget = std::max<int64_t>(1, std::llround(cfg.aux_epochs * cfg.n_aux));
    to.on_progress = [&](int64_t seen, int64_t budget, double) {
      phase("train aux", w_base + w_s + w_aux * seen / static_cast<double>(budget));
    };
    train_ensemble(aux, ta, S.to(at::kFloat), seeds_for(cfg, r0, r1, t, kAuxTrain), to);
    lap(out.t_aux);
  }

  phase("sample", w_base + w_s + w_aux);
  at::Tensor noise = ensemble_noise(n_out, 2, seeds_for(cfg, r0, r1, t, kOut));
  if (cfg.bias != 1.0) noise.mul_(std::sqrt(cfg.bias));  // sampling bias lambda (temperature stand-in)
  x = sample_ensemble(base, sims ? &aux : nullptr, noise, cfg.sampler, g, &stop, kernels);
  }
  score(cfg, x.slice(1, 0, cfg.n_eval), r0, out.w2, out.trace);
  if (cfg.n_synth > 0) out.synth = x.slice(1, 0, cfg.n_synth).to(at::kFloat);
  if (r0 < cfg.save_runs) out.saved = x.slice(0, 0, std::min(r1, cfg.save_runs) - r0).slice(1, 0, cfg.n_eval);
  lap(out.t_out);
  phase("sample", 1.0);
}

// Runs job(c) for c = 0..n-1 on `workers` threads, chunks taken in order;
// the calling thread watches `cancel`. A user cancel surfaces as the
// workers' Cancelled, another error as itself (the first one).
void for_each_chunk(size_t n, int workers, const std::atomic<bool>* cancel, std::atomic<bool>& stop,
                    const std::function<void(size_t)>& job) {
  std::atomic<size_t> next{0};
  std::atomic<int> finished{0};
  std::vector<std::exception_ptr> errors(static_cast<size_t>(workers));
  auto worker = [&](int w) {
    try {
      for (size_t c; !stop.load() && (c = next.fetch_add(1)) < n;) job(c);
    } catch (...) {
      errors[static_cast<size_t>(w)] = std::current_exception();
      stop.store(true);
    }
    finished.fetch_add(1);
  };
  {
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) threads.emplace_back(worker, w);
    while (finished.load() < workers) {
      if (cancel && cancel->load()) stop.store(true);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (auto& th : threads) th.join();
  }
  std::exception_ptr first_error, cancelled;
  for (auto& e : errors) {
    if (!e) continue;
    try {
      std::rethrow_exception(e);
    } catch (const Cancelled&) {
      if (!cancelled) cancelled = e;
    } catch (...) {
      if (!first_error) first_error = e;
    }
  }
  if (first_error) std::rethrow_exception(first_error);
  if (cancelled) std::rethrow_exception(cancelled);
  if (cancel && cancel->load()) throw Cancelled();
}

// Adds generation t's numbers to res; returns the pool for generation t + 1,
// the saved samples and (warm start) every run's base weights in run order.
at::Tensor merge_generation(const DiffusionLoopConfig& cfg, std::vector<ChunkOut>& outs, int64_t t, const at::Tensor& pool,
                            double gsec, DiffusionLoopResult& res, at::Tensor& saved_out, at::Tensor& bases_out) {
  const bool sims = cfg.algorithm == LoopAlgorithm::Sims;
  std::vector<double> w2, trace, w2_base;
  std::vector<at::Tensor> new_synth, saved, bases;
  double t_base = 0, t_s = 0, t_aux = 0, t_out = 0;
  for (auto& o : outs) {
    t_base += o.t_base;
    t_s += o.t_s;
    t_aux += o.t_aux;
    t_out += o.t_out;
    w2.insert(w2.end(), o.w2.begin(), o.w2.end());
    trace.insert(trace.end(), o.trace.begin(), o.trace.end());
    w2_base.insert(w2_base.end(), o.w2_base.begin(), o.w2_base.end());
    if (o.synth.defined()) new_synth.push_back(o.synth);
    if (o.saved.defined()) saved.push_back(o.saved);
    if (o.base.defined()) bases.push_back(o.base);
  }
  bases_out = bases.empty() ? at::Tensor() : at::cat(bases, 0);
  at::Tensor next;
  if (cfg.n_synth > 0) {
    at::Tensor ds = at::cat(new_synth, 0);
    next = (cfg.accumulate && pool.defined() && t > 1) ? at::cat({pool, ds}, 1) : ds;
  } else {
    next = at::zeros({cfg.runs, 0, 2}, at::kFloat);
  }
  res.w2_mean.push_back(mean_of(w2));
  res.w2_median.push_back(metrics::median_over_runs(w2).value);  // NaN runs dropped, +inf ranks
  res.w2_std.push_back(std_of(w2));
  res.trace_mean.push_back(mean_of(trace));
  res.trace_median.push_back(metrics::median_over_runs(trace).value);
  if (sims) res.w2_base_mean.push_back(mean_of(w2_base));
  res.trace_runs.push_back(trace);
  res.w2_base_runs.push_back(sims ? w2_base : std::vector<double>{});
  res.seconds.push_back(gsec);
  res.rss_mib.push_back(resident_mib());
  res.phase_seconds["train_base"].push_back(t_base);
  res.phase_seconds["sample"].push_back(t_out);
  if (sims) {
    res.phase_seconds["sample_s"].push_back(t_s);
    res.phase_seconds["train_aux"].push_back(t_aux);
  }
  res.w2_runs.push_back(w2);
  finish(res);
  saved_out = saved.empty() ? at::Tensor() : at::cat(saved, 0);
  return next;
}

// Writes generation t's files, then its done-marker (the commit point).
void save_generation(experiment::RunFolder& rf, const DiffusionLoopConfig& cfg, const DiffusionLoopResult& res, int64_t t,
                     const at::Tensor& pool, const at::Tensor& saved, const at::Tensor& bases) {
  if (saved.defined()) io::write_npy(rf.path(gen_name("samples/gen-%04lld.npy", t)), saved);
  const std::string pool_name = gen_name("state/pool-%04lld.npy", t);
  io::write_npy(rf.path(pool_name), pool);  // float32: exact
  nlohmann::json record = generation_record(res, static_cast<size_t>(t - 1), pool_name);
  if (bases.defined()) {
    record["base"] = gen_name("state/base-%04lld.npy", t);
    io::write_npy(rf.path(record["base"].get<std::string>()), bases);
  }
  write_metrics(rf.dir(), cfg, res);
  rf.finish(generation_stage(t), {{"generation", t}}, record);
  std::error_code ec;
  if (t > 1) fs::remove(rf.dir() + "/" + gen_name("state/pool-%04lld.npy", t - 1), ec);
  if (t > 1 && bases.defined()) fs::remove(rf.dir() + "/" + gen_name("state/base-%04lld.npy", t - 1), ec);
}

// [SECTION] Several processes ------------------------------------------------------------

// Rank 0's restored state for the others: the finished generations, the pool and (warm start) the base weights.
int64_t share_restored(dist::Group& g, const DiffusionLoopConfig& cfg, int64_t done, at::Tensor& pool, at::Tensor& bases) {
  at::Tensor head = at::zeros({3}, at::kLong);
  if (g.rank() == 0) head[0] = done, head[1] = pool.defined() ? pool.size(1) : -1, head[2] = bases.defined() ? bases.size(1) : -1;
  g.broadcast(head);
  done = head[0].item<int64_t>();
  const int64_t p = head[1].item<int64_t>(), w = head[2].item<int64_t>();
  if (p >= 0) {
    if (g.rank() != 0) pool = at::empty({cfg.runs, p, 2}, at::kFloat);
    if (pool.numel() > 0) g.broadcast(pool);
  }
  if (w >= 0) {
    if (g.rank() != 0) bases = at::empty({cfg.runs, w}, at::kFloat);
    g.broadcast(bases);
  }
  return done;
}

// Every rank's generation results on every rank, one ChunkOut per rank in
// rank order (= run order). Each rank sends one float64 block: a header row
// (its run count and phase seconds), then per run its W2, trace, base W2, its
// synthetic points, for the saved runs its scored points and, with warm start, its base weights; blocks are
// padded to the largest share. A rank that was stopped sends an empty block
// marked so (header cell 5), and every rank then throws Cancelled.
std::vector<ChunkOut> gather_generation(dist::Group& g, const DiffusionLoopConfig& cfg, const std::vector<ChunkOut>& mine,
                                        int64_t r0, int64_t r1, bool stopped) {
  const int64_t n_loc = stopped ? 0 : r1 - r0, max_loc = (cfg.runs + g.size() - 1) / g.size();
  const int64_t synth_w = 2 * cfg.n_synth, saved_w = cfg.save_runs > 0 ? 2 * cfg.n_eval : 0;
  const int64_t base_w = cfg.warm_start == WarmStart::Previous ? base_weight_count(cfg) : 0, base_at = 3 + synth_w + saved_w;
  const int64_t rec = std::max<int64_t>(6, base_at + base_w);
  at::Tensor block = at::zeros({max_loc + 1, rec}, at::kDouble);
  auto b = block.accessor<double, 2>();
  b[0][0] = static_cast<double>(n_loc);
  b[0][5] = stopped ? 1.0 : 0.0;
  int64_t i = 0;
  const std::vector<ChunkOut> none;
  for (const ChunkOut& o : stopped ? none : mine) {
    b[0][1] += o.t_base, b[0][2] += o.t_s, b[0][3] += o.t_aux, b[0][4] += o.t_out;
    const int64_t n = static_cast<int64_t>(o.w2.size());
    for (int64_t k = 0; k < n; ++k) {
      at::Tensor row = block[1 + i + k];
      row[0] = o.w2[k], row[1] = o.trace[k], row[2] = o.w2_base.empty() ? NAN : o.w2_base[k];
      if (synth_w > 0) row.slice(0, 3, 3 + synth_w).copy_(o.synth[k].reshape({-1}));
      if (o.saved.defined() && k < o.saved.size(0)) row.slice(0, 3 + synth_w, 3 + synth_w + saved_w).copy_(o.saved[k].reshape({-1}));
      if (base_w > 0) row.slice(0, base_at, base_at + base_w).copy_(o.base[k]);
    }
    i += n;
  }
  std::vector<ChunkOut> all(static_cast<size_t>(g.size()));
  const std::vector<at::Tensor> blocks = g.allgather(block);
  for (const at::Tensor& blk : blocks)
    if (blk[0][5].item<double>() != 0) throw Cancelled();  // some rank was asked to stop: all stop here
  for (int r = 0; r < g.size(); ++r) {
    const at::Tensor& blk = blocks[static_cast<size_t>(r)];
    auto a = blk.accessor<double, 2>();
    ChunkOut& o = all[static_cast<size_t>(r)];
    const int64_t n = static_cast<int64_t>(a[0][0]), first = dist::shard(cfg.runs, r, g.size()).first;
    o.t_base = a[0][1], o.t_s = a[0][2], o.t_aux = a[0][3], o.t_out = a[0][4];
    for (int64_t k = 0; k < n; ++k) {
      o.w2.push_back(a[1 + k][0]);
      o.trace.push_back(a[1 + k][1]);
      if (cfg.algorithm == LoopAlgorithm::Sims) o.w2_base.push_back(a[1 + k][2]);
    }
    const at::Tensor rows = blk.slice(0, 1, 1 + n);
    if (synth_w > 0) o.synth = rows.slice(1, 3, 3 + synth_w).reshape({n, cfg.n_synth, 2}).to(at::kFloat);
    const int64_t n_saved = std::clamp<int64_t>(cfg.save_runs - first, 0, n);
    if (n_saved > 0) o.saved = rows.slice(0, 0, n_saved).slice(1, 3 + synth_w, 3 + synth_w + saved_w).reshape({n_saved, cfg.n_eval, 2}).clone();
    if (base_w > 0) o.base = rows.slice(1, base_at, base_at + base_w).to(at::kFloat);  // float32 -> float64 -> float32: exact
  }
  return all;
}

// LibTorch to one thread per worker while several workers run; restored after.
struct ThreadsPerWorker {
  int saved;
  bool on;
  explicit ThreadsPerWorker(bool several) : saved(at::get_num_threads()), on(several) {
    if (on) at::set_num_threads(1);
  }
  ~ThreadsPerWorker() {
    if (on) at::set_num_threads(saved);
  }
};

}  // namespace

nlohmann::json DiffusionLoopResult::row(size_t g) const {
  nlohmann::json j = {{"generation", g + 1},
                      {"w2_mean", experiment::result_number(w2_mean.at(g))},
                      {"w2_median", experiment::result_number(w2_median.at(g))},
                      {"w2_std", experiment::result_number(w2_std.at(g))},
                      {"ratio", experiment::result_number(ratio_at(g))},
                      {"trace_mean", experiment::result_number(trace_mean.at(g))},
                      {"trace_median", experiment::result_number(trace_median.at(g))},
                      {"seconds", g < seconds.size() ? seconds[g] : 0.0}};
  const metrics::Estimate e = w2_interval(g);
  j["w2_lo"] = experiment::result_number(e.lo), j["w2_hi"] = experiment::result_number(e.hi);
  const metrics::Estimate r = ratio_interval(g);
  j["ratio_lo"] = experiment::result_number(r.lo), j["ratio_hi"] = experiment::result_number(r.hi);
  if (g < w2_base_mean.size()) j["w2_base_mean"] = experiment::result_number(w2_base_mean[g]);
  // tr Σ and the base's dist with their intervals over the runs, where the runs were kept.
  for (const auto& [key, e] : {std::pair<std::string, metrics::Estimate>{"trace", trace_interval(g)},
                               {"w2_base", g < w2_base_mean.size() ? w2_base_interval(g) : metrics::Estimate{}},
                               {"w2_median", w2_median_interval(g)}})
    if (e.has_interval()) j[key + "_lo"] = experiment::result_number(e.lo), j[key + "_hi"] = experiment::result_number(e.hi);
  return j;
}

DiffusionLoopConfig load_diffusion_loop_config(const std::string& dir) {
  const nlohmann::json j = experiment::RunFolder::settings_of(dir, "loop");
  DiffusionLoopConfig c = DiffusionLoopConfig::from_json(j);
  validate(c);
  return c;
}

DiffusionLoopResult load_diffusion_loop_result(const std::string& dir) {
  const nlohmann::json j = experiment::read_json_file(dir + "/metrics.json");
  DiffusionLoopResult r;
  auto vec = [&](const char* k) {
    std::vector<double> v;
    if (j.contains(k))
      for (const auto& x : j.at(k)) v.push_back(experiment::read_number(x, k));
    return v;
  };
  r.metric = j.value("metric", std::string());
  r.w2_mean = vec("w2_mean"), r.w2_median = vec("w2_median"), r.w2_std = vec("w2_std");
  r.trace_mean = vec("trace_mean"), r.trace_median = vec("trace_median"), r.w2_base_mean = vec("w2_base_mean");
  r.seconds = vec("seconds"), r.rss_mib = vec("rss_mib");
  if (r.w2_mean.empty()) throw InputError("'" + dir + "/metrics.json' holds no generations");
  finish(r);
  return r;
}

DiffusionLoopResult run_diffusion_loop(const DiffusionLoopConfig& cfg, const DiffusionLoopRunOptions& run) {
  validate(cfg);
  const int64_t R = cfg.runs, G = cfg.generations;
  DiffusionLoopResult res;
  res.metric = loop_metric_name(cfg);
  at::Tensor pool;  // [R, P, 2] float32: the synthetic data entering the next generation
  at::Tensor bases;  // warm start: [R, P] float32, every run's base weights of the last generation
  std::unique_ptr<experiment::RunFolder> rf;
  int64_t done = 0;
  const int rank = run.group ? run.group->rank() : 0, world = run.group ? run.group->size() : 1;
  if (R < world)
    throw InputError("a loop of " + std::to_string(R) + " runs cannot be shared by " + std::to_string(world) +
                     " processes (at least one run each)");
  if (!run.out_dir.empty() && rank == 0) {
    rf = std::make_unique<experiment::RunFolder>(run.out_dir, "loop", cfg.to_json(), diffusion_loop_schema().free_keys(),
                                                 DiffusionLoopConfig().to_json());
    done = restore_generations(*rf, cfg, res, pool, bases);
  }
  if (run.group) done = share_restored(*run.group, cfg, done, pool, bases);
  const auto [my0, my1] = dist::shard(R, rank, world);  // this process's runs
  const int64_t R_mine = my1 - my0;
  const experiment::Reporter report(run.on_progress, static_cast<double>(done) / G);
  std::mutex report_mu;
  auto progress = [&](int64_t t, const std::string& phase, double frac) {
    std::lock_guard<std::mutex> lock(report_mu);
    const std::string where = "generation " + std::to_string(t) + "/" + std::to_string(G);
    report(where + ": " + phase, (t - 1) * 1000 + std::llround(1000 * std::clamp(frac, 0.0, 1.0)), G * 1000, where + ": " + phase);
  };

  // Chunks of runs, trained and sampled as one ensemble each, by `workers` threads at once.
  int workers = run.workers > 0 ? run.workers : at::get_num_threads();
  workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(workers, R_mine)));
  const int64_t chunk = cfg.batch_runs > 0 ? std::min(cfg.batch_runs, R_mine) : (R_mine + workers - 1) / workers;
  std::vector<std::pair<int64_t, int64_t>> chunks;
  for (int64_t r0 = my0; r0 < my1; r0 += chunk) chunks.emplace_back(r0, std::min(my1, r0 + chunk));
  workers = static_cast<int>(std::min<size_t>(static_cast<size_t>(workers), chunks.size()));
  const ThreadsPerWorker threads(workers > 1);
  std::vector<double> chunk_frac(chunks.size(), 0.0);  // progress of each chunk's current phase

  for (int64_t t = done + 1; t <= G; ++t) {
    const auto g_start = std::chrono::steady_clock::now();
    std::vector<ChunkOut> outs(chunks.size());
    std::fill(chunk_frac.begin(), chunk_frac.end(), 0.0);
    std::atomic<bool> stop{false};  // a user cancel or another worker's error
    auto run_chunks = [&] {
      for_each_chunk(chunks.size(), workers, run.cancel, stop, [&](size_t c) {
        run_chunk(cfg, pool, bases, t, chunks[c].first, chunks[c].second, stop, [&](const char* phase, double f) {
          double total = 0;
          {
            std::lock_guard<std::mutex> lock(report_mu);
            chunk_frac[c] = f;
            for (size_t k = 0; k < chunks.size(); ++k)
              total += chunk_frac[k] * static_cast<double>(chunks[k].second - chunks[k].first) / R_mine;
          }
          progress(t, phase, total);
        }, outs[c], run.kernels);
      });
    };
    if (!run.group) {
      run_chunks();
    } else {
      // A stop request (Ctrl-C reaches the ranks at slightly different moments) is agreed in the
      // generation's gather, so that every rank stops here together rather than lose contact.
      bool stopped = false;
      try {
        run_chunks();
      } catch (const Cancelled&) {
        stopped = true;
      }
      outs = gather_generation(*run.group, cfg, outs, my0, my1, stopped);
    }
    const double gsec = std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
    at::Tensor saved;
    pool = merge_generation(cfg, outs, t, pool, gsec, res, saved, bases);
    if (rf) save_generation(*rf, cfg, res, t, pool, saved, bases);
    std::ostringstream msg;
    msg << "generation " << t << "/" << G << " done: E[dist] " << std::setprecision(4) << res.w2_mean.back() << " in "
        << std::setprecision(3) << gsec << " s";
    // Rank 0 holds the whole history (restored generations included); the others only this job's.
    if (rank == 0)
      report("generation " + std::to_string(t) + "/" + std::to_string(G) + ": done", t * 1000, G * 1000, msg.str(),
             res.row(static_cast<size_t>(t - 1)), saved);
  }
  if (rank != 0) return res;  // incomplete on purpose: rank 0 reports the loop
  finish(res);
  if (rf && done >= G) write_metrics(rf->dir(), cfg, res);
  return res;
}

}  // namespace sims::loops
