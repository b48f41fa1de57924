#include "loops/gaussian_loop.hpp"

#include "common/json_parse.hpp"
#include "metrics/uncertainty.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "common/error.hpp"
#include "experiment/settings.hpp"
#include "experiment/json_io.hpp"
#include "experiment/run_folder.hpp"
#include "loops/loop_schemas.hpp"
#include "loops/loop_verdict.hpp"

namespace sims::loops {
namespace {

// Batched sufficient statistics: mean [c, D], M2 = Σ (x−mean)(x−mean)ᵀ [c, D, D].
struct Moments {
  int64_t n = 0;
  at::Tensor mean, m2;
};

Moments moments_of(const at::Tensor& x) {  // x [c, n, D]
  Moments m;
  m.n = x.size(1);
  m.mean = x.mean(1);
  at::Tensor xc = x - m.mean.unsqueeze(1);
  m.m2 = at::bmm(xc.transpose(1, 2), xc);
  return m;
}

// Chan et al.'s pairwise merge.
Moments merge(const Moments& a, const Moments& b) {
  if (a.n == 0) return b;
  if (b.n == 0) return a;
  Moments m;
  m.n = a.n + b.n;
  const double na = static_cast<double>(a.n), nb = static_cast<double>(b.n), n = na + nb;
  at::Tensor delta = b.mean - a.mean;
  m.mean = a.mean + delta * (nb / n);
  m.m2 = a.m2 + b.m2 + delta.unsqueeze(2) * delta.unsqueeze(1) * (na * nb / n);
  return m;
}

}  // namespace

LoopKind parse_loop_kind(const std::string& s) {
  if (s == "fully-synthetic" || s == "fully_synthetic" || s == "full" || s == "synthetic") return LoopKind::FullySynthetic;
  if (s == "augment" || s == "synthetic-augmentation" || s == "augmentation") return LoopKind::Augment;
  if (s == "fresh" || s == "fresh-data") return LoopKind::Fresh;
  throw InputError("unknown loop kind '" + s + "' (expected fully-synthetic, augment or fresh)");
}

std::string to_string(LoopKind k) {
  switch (k) {
    case LoopKind::FullySynthetic: return "fully-synthetic";
    case LoopKind::Augment: return "augment";
    case LoopKind::Fresh: return "fresh";
  }
  return "?";
}

WarmStart parse_warm_start(const std::string& s) {
  if (s == "scratch") return WarmStart::Scratch;
  if (s == "previous" || s == "finetune" || s == "fine-tune") return WarmStart::Previous;
  throw InputError("unknown --warm-start '" + s + "' (expected scratch or previous)");
}

std::string to_string(WarmStart w) { return w == WarmStart::Previous ? "previous" : "scratch"; }


void validate(const GaussianLoopConfig& c) {
  if (c.dim < 1 || c.dim > 4096) throw InputError("--dim must be between 1 and 4096, got " + std::to_string(c.dim));
  if (c.n_real < 2) throw InputError("--n-real must be at least 2 (unbiased covariance), got " + std::to_string(c.n_real));
  if (c.kind == LoopKind::FullySynthetic && c.n_synth < 2)
    throw InputError("--n-synth must be at least 2 for the fully synthetic loop, got " + std::to_string(c.n_synth));
  if (c.n_synth < 0) throw InputError("--n-synth must not be negative, got " + std::to_string(c.n_synth));
  if (c.n_init != 0 && c.n_init < 2)
    throw InputError("--n-init must be at least 2 (unbiased covariance), or 0 for --n-real; got " + std::to_string(c.n_init));
  if (c.n_init != 0 && c.n_init != c.n_real && c.kind == LoopKind::Augment)
    throw InputError("--n-init is for fresh and fully-synthetic loops: an augmentation loop keeps generation 1's real "
                     "set, so its size is --n-real");
  if (c.generations < 1 || c.generations > 1'000'000)
    throw InputError("--generations must be between 1 and 1000000, got " + std::to_string(c.generations));
  if (c.runs < 1 || c.runs > 10'000'000) throw InputError("--runs must be between 1 and 10000000, got " + std::to_string(c.runs));
  if (!(c.bias > 0.0 && c.bias <= 1.0)) throw InputError("--bias must be in (0, 1], got " + experiment::format_real(c.bias));
  if (c.memory < 1 || c.memory > 1000) throw InputError("--memory must be between 1 and 1000, got " + std::to_string(c.memory));
  if (c.memory > 1 && c.accumulate)
    throw InputError("--memory and --pool accumulate are two ways to reuse earlier generations: choose one");
  // Memory guards: per-run state is a few D×D matrices per remembered model; per-run samples are (NR+NS)×D.
  const double state = static_cast<double>(c.runs) * static_cast<double>(c.dim) * static_cast<double>(c.dim) *
                       static_cast<double>(c.memory + 2);
  if (state > 1e8)
    throw InputError("--runs x --dim^2 x (--memory + 2) = " + std::to_string(static_cast<int64_t>(state)) +
                     " is too large (limit 1e8); use fewer runs, a smaller dimension or a shorter memory");
  const double per_run = static_cast<double>(std::max(c.n_real + c.n_synth, c.n_init)) * static_cast<double>(c.dim);
  if (per_run > 5e7)
    throw InputError("(--n-real + --n-synth) x --dim, or --n-init x --dim, is too large (limit 5e7)");
}

GaussianLoopResult run_gaussian_loop(const GaussianLoopConfig& cfg, const std::function<bool(int gen)>& progress) {
  validate(cfg);
  const int64_t R = cfg.runs, D = cfg.dim, G = cfg.generations, NR = cfg.n_real, NS = cfg.n_synth;
  const int64_t N1 = cfg.n_init > 0 ? cfg.n_init : NR;  // generation 1's real samples
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(cfg.seed);
  // Runs are processed in chunks whose size depends only on the configuration,
  // so the draws (and the results) are the same on every machine.
  const int64_t per_run = std::max<int64_t>(1, std::max({NR, NS, N1}) * D);
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(R, 4'000'000 / per_run));
  const double sqrt_bias = std::sqrt(cfg.bias);

  // The last K models: generation g's mean and the symmetric square root of its covariance in slot (g − 1) mod K.
  const int64_t K = cfg.memory;
  at::Tensor mus = at::zeros({K, R, D}, opts);
  at::Tensor roots = at::zeros({K, R, D, D}, opts);
  at::Tensor real_mean, real_m2;                  // fixed real set (augment), as moments
  if (cfg.kind == LoopKind::Augment) {
    real_mean = at::zeros({R, D}, opts);
    real_m2 = at::zeros({R, D, D}, opts);
  }
  at::Tensor acc_mean, acc_m2;  // every synthetic set so far (accumulate), as moments
  int64_t acc_n = 0;
  if (cfg.accumulate) {
    acc_mean = at::zeros({R, D}, opts);
    acc_m2 = at::zeros({R, D, D}, opts);
  }
  std::vector<double> trace(static_cast<size_t>(R)), w2(static_cast<size_t>(R)), norm(static_cast<size_t>(R)),
      norm_sq(static_cast<size_t>(R));
  std::vector<double> w2_first;  // each run's W2 at generation 1
  GaussianLoopResult res;

  for (int64_t t = 1; t <= G; ++t) {
    for (int64_t s = 0; s < R; s += chunk) {
      const int64_t e = std::min(R, s + chunk), c = e - s;
      Moments fit;
      if (t == 1) {
        fit = moments_of(at::randn({c, N1, D}, gen, opts));
        if (cfg.kind == LoopKind::Augment) {
          real_mean.slice(0, s, e).copy_(fit.mean);
          real_m2.slice(0, s, e).copy_(fit.m2);
        }
      } else {
        Moments real;
        if (cfg.kind == LoopKind::Augment) {
          real.n = NR;
          real.mean = real_mean.slice(0, s, e);
          real.m2 = real_m2.slice(0, s, e);
        } else if (cfg.kind == LoopKind::Fresh) {
          real = moments_of(at::randn({c, NR, D}, gen, opts));
        }
        Moments synth;
        if (NS > 0) {
          at::Tensor z = at::randn({c, NS, D}, gen, opts);
          // Generation t − 1 − j's model for j < A; with A > 1 each sample picks one uniformly.
          const int64_t A = std::min(K, t - 1);
          const auto draw = [&](int64_t j) {
            const int64_t slot = (t - 2 - j) % K;
            return mus[slot].slice(0, s, e).unsqueeze(1) + at::bmm(z, roots[slot].slice(0, s, e)) * sqrt_bias;
          };
          at::Tensor x = draw(0);
          if (A > 1) {
            const at::Tensor pick = at::randint(A, {c, NS, 1}, gen, at::TensorOptions().dtype(at::kLong));
            for (int64_t j = 1; j < A; ++j) x = at::where(pick == j, draw(j), x);
          }
          synth = moments_of(x);
          if (cfg.accumulate) {
            Moments before;
            before.n = acc_n, before.mean = acc_mean.slice(0, s, e), before.m2 = acc_m2.slice(0, s, e);
            synth = merge(before, synth);
            acc_mean.slice(0, s, e).copy_(synth.mean);
            acc_m2.slice(0, s, e).copy_(synth.m2);
          }
        }
        fit = merge(real, synth);
      }
      at::Tensor sigma = fit.m2 / static_cast<double>(fit.n - 1);
      sigma = (sigma + sigma.transpose(1, 2)) * 0.5;
      auto [w, v] = at::linalg_eigh(sigma);
      at::Tensor sw = w.clamp_min(0).sqrt();  // [c, D]
      const int64_t slot = (t - 1) % K;
      roots[slot].slice(0, s, e).copy_(at::bmm(v * sw.unsqueeze(1), v.transpose(1, 2)));
      mus[slot].slice(0, s, e).copy_(fit.mean);
      // W2(N(μ, Σ), N(0, I))² = ‖μ‖² + Σ_i (√λ_i − 1)².
      at::Tensor msq = (fit.mean * fit.mean).sum(1);
      at::Tensor w2c = (msq + (sw - 1.0).pow(2).sum(1)).sqrt().contiguous();
      at::Tensor trc = sigma.diagonal(0, 1, 2).sum(1).contiguous();
      msq = msq.contiguous();
      at::Tensor nrm = msq.sqrt().contiguous();
      std::copy_n(msq.data_ptr<double>(), c, norm_sq.begin() + s);
      std::copy_n(w2c.data_ptr<double>(), c, w2.begin() + s);
      std::copy_n(trc.data_ptr<double>(), c, trace.begin() + s);
      std::copy_n(nrm.data_ptr<double>(), c, norm.begin() + s);
    }
    if (cfg.accumulate && t >= 2) acc_n += NS;
    auto mean_of = [](const std::vector<double>& v) {
      long double a = 0;
      for (double x : v) a += x;
      return static_cast<double>(a / static_cast<long double>(v.size()));
    };
    res.w2_mean.push_back(mean_of(w2));
    const metrics::Estimate wm = metrics::median_over_runs(w2);
    res.w2_median.push_back(wm.value);
    res.w2_median_lo.push_back(wm.lo);
    res.w2_median_hi.push_back(wm.hi);
    const metrics::Estimate ci = metrics::mean_over_runs(w2);
    res.w2_lo.push_back(ci.lo);
    res.w2_hi.push_back(ci.hi);
    if (t == 1) w2_first = w2;
    const metrics::Estimate change = paired_change(w2_first, w2);
    res.w2_change.push_back(change.value);
    res.w2_change_lo.push_back(change.lo);
    res.w2_change_hi.push_back(change.hi);
    const metrics::Estimate ratio = metrics::ratio_over_runs(w2, w2_first);
    res.ratio.push_back(ratio.value);
    res.ratio_lo.push_back(t == 1 ? 1.0 : ratio.lo);
    res.ratio_hi.push_back(t == 1 ? 1.0 : ratio.hi);
    res.trace_mean.push_back(mean_of(trace));
    const metrics::Estimate tci = metrics::mean_over_runs(trace);
    res.trace_lo.push_back(tci.lo);
    res.trace_hi.push_back(tci.hi);
    const metrics::Estimate mci = metrics::median_over_runs(trace);
    res.trace_median.push_back(mci.value);
    res.trace_median_lo.push_back(mci.lo);
    res.trace_median_hi.push_back(mci.hi);
    res.mean_norm_mean.push_back(mean_of(norm));
    res.mean_sq_mean.push_back(mean_of(norm_sq));
    if (progress && !progress(static_cast<int>(t))) throw Cancelled();
  }
  return res;
}

// [SECTION] Settings and the run folder --------------------------------------------

const experiment::Schema<GaussianLoopConfig>& gaussian_loop_schema() {
  using C = GaussianLoopConfig;
  static const experiment::Schema<C> s =
      experiment::Schema<C>("gaussian loop")
          .constant("family", "gaussian", "a gaussian loop")
          .choice("kind", &C::kind, "--kind", "what generation t >= 2 is fitted on",
                  loop_kind_names())
          .integer("dim", &C::dim, "--dim", "dimension D", 1, 4096)
          .integer("n_real", &C::n_real, "--n-real", "real samples per generation", 2, 1'000'000'000)
          .integer("n_synth", &C::n_synth, "--n-synth", "synthetic samples per generation", 0, 1'000'000'000)
          .integer("n_init", &C::n_init, "--n-init", "generation 1's real samples (0: --n-real)", 0, 1'000'000'000)
          .integer("generations", &C::generations, "--generations", "generations", 1, 1'000'000)
          .free()
          .integer("runs", &C::runs, "--runs", "independent runs", 1, 10'000'000)
          .real("bias", &C::bias, "--bias", "sampling bias lambda (samples from N(mu, lambda Sigma))", 0, 1, true)
          .integer("memory", &C::memory, "--memory", "synthetic samples from the last K models", 1, 1000)
          .choice("pool", &C::accumulate, "--pool", "synthetic pool: the last generation's set or all of them", pool_names())
          .seed("seed", &C::seed, "--seed", "random seed");
  return s;
}

namespace {
// "verdict": the last generation's E[W2] against the first's, from the arrays in j (w2_mean, w2_lo, w2_hi).
void add_verdict(nlohmann::json& j) {
  const auto at = [&](const char* k, size_t g) {
    return j.contains(k) && g < j[k].size() && j[k][g].is_number() ? j[k][g].get<double>() : NAN;
  };
  const size_t n = j.value("w2_mean", nlohmann::json::array()).size();
  if (n == 0) return;
  const auto est = [&](size_t g) { return metrics::Estimate::of(at("w2_mean", g), at("w2_lo", g), at("w2_hi", g), "t"); };
  // Paired over the runs when the folder has it; an older one: the two intervals in quadrature (wider).
  const metrics::Estimate paired =
      metrics::Estimate::of(at("w2_change", n - 1), at("w2_change_lo", n - 1), at("w2_change_hi", n - 1), "paired t");
  const bool have_paired = std::isfinite(paired.value) && paired.has_interval();
  const int64_t runs = count_or(j, "runs", 0, int64_t{1} << 40, "metrics.json: ");
  metrics::Estimate ratio = metrics::Estimate::of(at("ratio", n - 1), at("ratio_lo", n - 1), at("ratio_hi", n - 1));
  // Written as null where runs were kept (ratio_lo holds the generation): Fieller's set was unbounded (generation 1's
  // mean within its own noise of 0), which the verdict says; a folder without ratio_lo says nothing.
  if (runs >= 2 && n > 1 && j.contains("ratio_lo") && n - 1 < j["ratio_lo"].size() && j["ratio_lo"][n - 1].is_null() &&
      std::isfinite(ratio.value))
    ratio.method = "Fieller t, paired (unbounded: no interval)";
  j["verdict"] = have_paired ? drift_verdict("E[W2]", n, est(0), est(n - 1), paired,
                                             "95 % paired t interval over " + std::to_string(runs) + " runs", ratio)
                             : drift_verdict("E[W2]", n, est(0), est(n - 1), metrics::difference(est(n - 1), est(0)),
                                             runs == 1 ? "one run: no interval"
                                                       : "95 % t intervals over runs, half-widths in quadrature", ratio);
}
}  // namespace

nlohmann::json gaussian_loop_json(const GaussianLoopConfig& cfg, const GaussianLoopResult& res) {
  nlohmann::json j = gaussian_loop_schema().to_json(cfg);
  j["w2_mean"] = res.w2_mean;
  j["w2_median"] = res.w2_median;
  nlohmann::json lo = nlohmann::json::array(), hi = nlohmann::json::array();
  for (size_t g = 0; g < res.w2_lo.size(); ++g)
    lo.push_back(experiment::result_number(res.w2_lo[g])), hi.push_back(experiment::result_number(res.w2_hi[g]));
  j["w2_lo"] = lo;
  j["w2_hi"] = hi;
  nlohmann::json tlo = nlohmann::json::array(), thi = nlohmann::json::array();
  for (size_t g = 0; g < res.trace_lo.size(); ++g)
    tlo.push_back(experiment::result_number(res.trace_lo[g])), thi.push_back(experiment::result_number(res.trace_hi[g]));
  j["trace_lo"] = tlo;
  j["trace_hi"] = thi;
  for (const auto& [key, v] : {std::pair<const char*, const std::vector<double>*>{"trace_median_lo", &res.trace_median_lo},
                               {"trace_median_hi", &res.trace_median_hi}, {"w2_median_lo", &res.w2_median_lo},
                               {"w2_median_hi", &res.w2_median_hi}}) {
    nlohmann::json a = nlohmann::json::array();
    for (double x : *v) a.push_back(experiment::result_number(x));
    j[key] = a;
  }
  for (const auto& [key, v] : {std::pair<const char*, const std::vector<double>*>{"w2_change", &res.w2_change},
                               {"w2_change_lo", &res.w2_change_lo}, {"w2_change_hi", &res.w2_change_hi}}) {
    nlohmann::json a = nlohmann::json::array();
    for (double x : *v) a.push_back(experiment::result_number(x));
    j[key] = a;
  }
  j["ci"] = {{"method", "Student t over runs"}, {"level", 0.95}};
  j["median_ci"] = {{"method", "order statistics over runs (distribution-free)"}, {"level", 0.95}};
  j["trace_mean"] = res.trace_mean;
  j["trace_median"] = res.trace_median;
  // The ratio as computed with its interval (older callers without one: from the means).
  std::vector<double> ratio = res.ratio;
  if (ratio.size() != res.w2_mean.size()) {
    ratio.clear();
    for (double w : res.w2_mean) ratio.push_back(w / res.w2_mean[0]);
  }
  j["ratio"] = ratio;
  if (res.ratio_lo.size() == ratio.size()) {
    nlohmann::json rlo = nlohmann::json::array(), rhi = nlohmann::json::array();
    for (size_t g = 0; g < ratio.size(); ++g)
      rlo.push_back(experiment::result_number(res.ratio_lo[g])), rhi.push_back(experiment::result_number(res.ratio_hi[g]));
    j["ratio_lo"] = rlo;
    j["ratio_hi"] = rhi;
    const std::string method = cfg.runs > 1 ? "Student t over " + std::to_string(cfg.runs) +
                                                  " runs (a ratio: Fieller's set, paired over the runs)"
                                            : std::string("one run: no interval");
    j["ratio_ci"] = {{"method", method}, {"level", 0.95}};
  }
  add_verdict(j);
  return j;
}

nlohmann::json run_gaussian_loop_in(const std::string& dir, const GaussianLoopConfig& cfg,
                                    const std::function<bool(int gen)>& progress) {
  validate(cfg);
  experiment::RunFolder rf(dir, "loop", gaussian_loop_schema().to_json(cfg), gaussian_loop_schema().free_keys(),
                           gaussian_loop_schema().to_json(GaussianLoopConfig()));
  if (rf.done("loop", nlohmann::json::object())) {
    const nlohmann::json stored = experiment::read_json_file(dir + "/metrics.json");
    const std::string file = dir + "/metrics.json";
    if (count_or(stored, "generations", 0, int64_t{1} << 40, "'" + file + "': ") >= cfg.generations) {
      nlohmann::json j = stored;
      j["generations"] = cfg.generations;
      for (const char* k : {"w2_mean", "w2_median", "trace_mean", "trace_median", "ratio", "ratio_lo", "ratio_hi", "w2_lo", "w2_hi", "trace_lo", "trace_hi",
                            "trace_median_lo", "trace_median_hi", "w2_median_lo", "w2_median_hi", "w2_change", "w2_change_lo", "w2_change_hi"}) {
        if (!stored.contains(k)) continue;  // an older folder without intervals
        auto v = stored.at(k);
        v.erase(v.begin() + std::min<int64_t>(cfg.generations, static_cast<int64_t>(v.size())), v.end());
        j[k] = v;
      }
      add_verdict(j);
      return j;
    }
    rf.forget("loop");
  }
  const GaussianLoopResult res = run_gaussian_loop(cfg, progress);
  const nlohmann::json j = gaussian_loop_json(cfg, res);
  experiment::write_json_file(dir + "/metrics.json", j);
  std::ostringstream csv;
  csv << "generation,w2_mean,w2_median,trace_mean,trace_median,w2_lo,w2_hi,trace_lo,trace_hi,w2_median_lo,w2_median_hi,"
         "trace_median_lo,trace_median_hi\n"
      << std::setprecision(10);
  for (size_t g = 0; g < res.w2_mean.size(); ++g) {
    csv << g + 1 << "," << res.w2_mean[g] << "," << res.w2_median[g] << "," << res.trace_mean[g] << ","
        << res.trace_median[g] << ",";
    const auto bounds = [&](double lo, double hi) {
      if (std::isfinite(lo)) csv << lo << "," << hi;
      else csv << ",";
    };
    bounds(res.w2_lo[g], res.w2_hi[g]);
    csv << ",";
    bounds(res.trace_lo[g], res.trace_hi[g]);
    csv << ",";
    bounds(res.w2_median_lo[g], res.w2_median_hi[g]);
    csv << ",";
    bounds(res.trace_median_lo[g], res.trace_median_hi[g]);
    csv << "\n";
  }
  experiment::write_text_file(dir + "/metrics.csv", csv.str());
  rf.finish("loop", nlohmann::json::object());
  return j;
}

}  // namespace sims::loops
