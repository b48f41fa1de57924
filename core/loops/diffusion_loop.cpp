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

#include "common/error.hpp"
#include "io/atomic_file.hpp"
#include "io/npy.hpp"
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

nlohmann::json DiffusionLoopConfig::to_json() const {
  nlohmann::json t = train.to_json();
  t.erase("budget");
  t.erase("seed");
  t.erase("checkpoint_every");
  t.erase("snapshot_every");
  return {{"family", "diffusion2d"},
          {"data", data.to_json()},
          {"kind", to_string(kind)},
          {"pool", accumulate ? "accumulate" : "replace"},
          {"n_real", n_real},
          {"n_synth", n_synth},
          {"generations", generations},
          {"runs", runs},
          {"seed", seed},
          {"algorithm", to_string(algorithm)},
          {"omega", algorithm == LoopAlgorithm::Sims ? omega : 0.0},
          {"interval", {interval_lo, std::isinf(interval_hi) ? nlohmann::json("inf") : nlohmann::json(interval_hi)}},
          {"bias", bias},
          {"n_aux", n_aux},
          {"base_epochs", base_epochs},
          {"aux_epochs", aux_epochs},
          {"n_eval", n_eval},
          {"net", net.to_json()},
          {"train", t},
          {"sampler",
           {{"kind", sims::to_string(sampler.kind)},
            {"steps", sampler.steps},
            {"sigma_min", sampler.sigma_min},
            {"sigma_max", sampler.sigma_max},
            {"rho", sampler.rho}}},
          {"batch_runs", batch_runs},
          {"save_runs", save_runs}};
}

DiffusionLoopConfig DiffusionLoopConfig::from_json(const nlohmann::json& j) {
  DiffusionLoopConfig c;
  try {
    if (j.value("family", std::string("diffusion2d")) != "diffusion2d")
      throw InputError("configuration is not a diffusion2d loop");
    if (j.contains("data")) c.data = data::Toy2dSpec::from_json(j["data"]);
    c.kind = parse_loop_kind(j.value("kind", to_string(c.kind)));
    c.accumulate = j.value("pool", std::string("replace")) == "accumulate";
    c.n_real = j.value("n_real", c.n_real);
    c.n_synth = j.value("n_synth", c.n_synth);
    c.generations = j.value("generations", c.generations);
    c.runs = j.value("runs", c.runs);
    c.seed = j.value("seed", c.seed);
    c.algorithm = parse_loop_algorithm(j.value("algorithm", to_string(c.algorithm)));
    c.omega = j.value("omega", c.omega);
    if (j.contains("interval")) {
      const auto& iv = j["interval"];
      c.interval_lo = iv.at(0).get<double>();
      c.interval_hi = iv.at(1).is_string() ? std::numeric_limits<double>::infinity() : iv.at(1).get<double>();
    }
    c.n_aux = j.value("n_aux", c.n_aux);
    c.base_epochs = j.value("base_epochs", c.base_epochs);
    c.aux_epochs = j.value("aux_epochs", c.aux_epochs);
    c.n_eval = j.value("n_eval", c.n_eval);
    if (j.contains("net")) c.net = NetConfig::from_json(j["net"]);
    if (j.contains("train")) c.train = TrainConfig::from_json(j["train"]);
    if (j.contains("sampler")) {
      const auto& s = j["sampler"];
      c.sampler.kind = parse_sampler_kind(s.value("kind", std::string("heun")));
      c.sampler.steps = s.value("steps", c.sampler.steps);
      c.sampler.sigma_min = s.value("sigma_min", c.sampler.sigma_min);
      c.sampler.sigma_max = s.value("sigma_max", c.sampler.sigma_max);
      c.sampler.rho = s.value("rho", c.sampler.rho);
    }
    c.bias = j.value("bias", c.bias);
    c.batch_runs = j.value("batch_runs", c.batch_runs);
    c.save_runs = j.value("save_runs", c.save_runs);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("loop configuration: ") + e.what());
  }
  return c;
}

void validate(const DiffusionLoopConfig& c) {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw InputError(msg);
  };
  need(c.n_real >= 2 && c.n_real <= 10'000'000, "--n-real must be between 2 and 10000000, got " + std::to_string(c.n_real));
  need(c.n_synth >= 0 && c.n_synth <= 10'000'000, "--n-synth must be between 0 and 10000000, got " + std::to_string(c.n_synth));
  if (c.kind == LoopKind::FullySynthetic)
    need(c.n_synth >= 2, "--n-synth must be at least 2 for the fully synthetic loop, got " + std::to_string(c.n_synth));
  need(c.generations >= 1 && c.generations <= 100000,
       "--generations must be between 1 and 100000, got " + std::to_string(c.generations));
  need(c.runs >= 1 && c.runs <= 1'000'000, "--runs must be between 1 and 1000000, got " + std::to_string(c.runs));
  need(std::isfinite(c.omega) && std::abs(c.omega) <= 1000, "--omega must be a finite number in [-1000, 1000]");
  need(c.interval_lo >= 0 && c.interval_hi > c.interval_lo, "--interval LO:HI needs 0 <= LO < HI");
  need(std::isfinite(c.bias) && c.bias > 0 && c.bias <= 1, "--bias (sampling bias lambda) must be in (0, 1]");
  need(c.n_aux >= 1 && c.n_aux <= 10'000'000, "--n-aux must be between 1 and 10000000, got " + std::to_string(c.n_aux));
  need(std::isfinite(c.base_epochs) && c.base_epochs > 0 && c.base_epochs <= 1e6, "--base-epochs must be in (0, 1e6]");
  need(std::isfinite(c.aux_epochs) && c.aux_epochs > 0 && c.aux_epochs <= 1e6, "--aux-epochs must be in (0, 1e6]");
  need(c.n_eval >= 2 && c.n_eval <= 1'000'000, "--n-eval must be between 2 and 1000000, got " + std::to_string(c.n_eval));
  need(c.net.type == "mlp" && c.net.dim == 2, "the diffusion2d loop uses a 2D MLP network");
  need(c.net.width >= 1 && c.net.width <= 4096 && c.net.depth >= 1 && c.net.depth <= 64 && c.net.emb_freqs >= 0 &&
           c.net.emb_freqs <= 64 && c.net.sigma_data > 0,
       "network: --width in [1, 4096], --depth in [1, 64], emb_freqs in [0, 64], sigma_data > 0");
  need(c.batch_runs >= 0, "--batch-runs must be >= 0");
  need(c.save_runs >= 0, "--save-runs must be >= 0");
  c.train.validate();
  c.sampler.validate();
  need(c.sampler.churn == 0, "the diffusion2d loop samples deterministically (no churn)");
  if (loop_metric_name(c) == "w2_empirical")
    need(c.n_eval * c.n_eval <= metrics::kMaxOtEntries, "--n-eval is too large for exact optimal transport");
  // Memory: the largest per-run tensors are the pool and the sampled sets.
  const double pool = static_cast<double>(c.accumulate ? c.n_synth * c.generations : c.n_synth);
  need(static_cast<double>(c.runs) * (pool + c.n_real) * 2 * 4 < 8e9, "--runs x pool size is too large for memory");
}

std::string loop_metric_name(const DiffusionLoopConfig& cfg) {
  return cfg.data.name == "gaussian" ? "w2_gaussian_fit" : "w2_empirical";
}

nlohmann::json DiffusionLoopResult::to_json() const {
  nlohmann::json j = {{"metric", metric},       {"w2_mean", w2_mean},       {"w2_median", w2_median},
                      {"w2_std", w2_std},       {"ratio", ratio},           {"trace_mean", trace_mean},
                      {"trace_median", trace_median}, {"seconds", seconds}, {"rss_mib", rss_mib}, {"limit_ratio", limit_ratio},
                      {"limit_from", limit_from}};
  if (!w2_base_mean.empty()) j["w2_base_mean"] = w2_base_mean;
  if (!phase_seconds.empty()) j["phase_seconds"] = phase_seconds;
  return j;
}

namespace {

enum Role : uint64_t { kReal = 1, kInit = 2, kTrain = 3, kAuxNoise = 4, kAuxTrain = 5, kOut = 6, kRef = 7 };

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

double median_of(std::vector<double> v) {
  if (v.empty()) return NAN;
  const size_t n = v.size();
  std::nth_element(v.begin(), v.begin() + n / 2, v.end());
  const double hi = v[n / 2];
  if (n % 2) return hi;
  return 0.5 * (*std::max_element(v.begin(), v.begin() + n / 2) + hi);
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

void write_text(const std::string& path, const std::string& text) {
  io::write_file_atomically(path, text.data(), text.size());
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError("cannot read '" + path + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw InputError("'" + path + "' is not valid JSON: " + e.what());
  }
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
  write_text(dir + "/metrics.json", j.dump(2) + "\n");
  std::ostringstream csv;
  csv << "generation,w2_mean,w2_median,w2_std,ratio,trace_mean,trace_median" << (res.w2_base_mean.empty() ? "" : ",w2_base_mean")
      << ",seconds,rss_mib\n"
      << std::setprecision(10);
  for (size_t g = 0; g < res.w2_mean.size(); ++g) {
    csv << g + 1 << "," << res.w2_mean[g] << "," << res.w2_median[g] << "," << res.w2_std[g] << "," << res.ratio[g] << ","
        << res.trace_mean[g] << "," << res.trace_median[g];
    if (!res.w2_base_mean.empty()) csv << "," << res.w2_base_mean[g];
    csv << "," << res.seconds[g] << ",";
    if (g < res.rss_mib.size()) csv << res.rss_mib[g];
    csv << "\n";
  }
  write_text(dir + "/metrics.csv", csv.str());
}

nlohmann::json state_json(const DiffusionLoopResult& res, int64_t gen, const std::string& pool) {
  nlohmann::json j = {{"format", "sims-loop-state"}, {"version", 1}, {"generation", gen}, {"pool", pool}};
  j["w2_mean"] = res.w2_mean;
  j["w2_median"] = res.w2_median;
  j["w2_std"] = res.w2_std;
  j["trace_mean"] = res.trace_mean;
  j["trace_median"] = res.trace_median;
  j["w2_base_mean"] = res.w2_base_mean;
  j["seconds"] = res.seconds;
  j["rss_mib"] = res.rss_mib;
  j["w2_runs"] = res.w2_runs;
  return j;
}

// The stored config must equal the new one except for `generations`.
bool same_experiment(nlohmann::json a, nlohmann::json b) {
  a.erase("generations");
  b.erase("generations");
  return a == b;
}

}  // namespace

DiffusionLoopConfig load_diffusion_loop_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  if (!fs::exists(path)) throw InputError("'" + dir + "' holds no loop run (no config.json)");
  DiffusionLoopConfig c = DiffusionLoopConfig::from_json(read_json_file(path));
  validate(c);
  return c;
}

DiffusionLoopResult run_diffusion_loop(const DiffusionLoopConfig& cfg, const DiffusionLoopRunOptions& run) {
  validate(cfg);
  const auto t_start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count(); };
  const int64_t R = cfg.runs, G = cfg.generations;
  const bool sims = cfg.algorithm == LoopAlgorithm::Sims;
  const std::string dir = run.out_dir;
  DiffusionLoopResult res;
  res.metric = loop_metric_name(cfg);
  at::Tensor pool;  // [R, P, 2] float32: the synthetic data entering the next generation
  int64_t done = 0;

  if (!dir.empty()) {
    std::error_code ec;
    fs::create_directories(dir + "/state", ec);
    if (!ec) fs::create_directories(dir + "/samples", ec);
    if (ec) throw IoError("cannot create the run folder '" + dir + "': " + ec.message());
    const bool has_state = fs::exists(dir + "/state.json");
    if (run.resume) {
      if (!fs::exists(dir + "/config.json")) throw InputError("--resume: '" + dir + "' holds no loop run (no config.json)");
      // Both sides through from_json: settings added since the run was started take their defaults.
      if (!same_experiment(DiffusionLoopConfig::from_json(read_json_file(dir + "/config.json")).to_json(), cfg.to_json()))
        throw InputError("--resume: the settings differ from the run in '" + dir + "' (only --generations may change)");
      if (has_state) {
        nlohmann::json st = read_json_file(dir + "/state.json");
        try {
          done = st.at("generation").get<int64_t>();
          res.w2_mean = st.at("w2_mean").get<std::vector<double>>();
          res.w2_median = st.at("w2_median").get<std::vector<double>>();
          res.w2_std = st.at("w2_std").get<std::vector<double>>();
          res.trace_mean = st.at("trace_mean").get<std::vector<double>>();
          res.trace_median = st.at("trace_median").get<std::vector<double>>();
          res.w2_base_mean = st.at("w2_base_mean").get<std::vector<double>>();
          res.seconds = st.at("seconds").get<std::vector<double>>();
          res.rss_mib = st.value("rss_mib", std::vector<double>{});
          res.w2_runs = st.at("w2_runs").get<std::vector<std::vector<double>>>();
          if (static_cast<int64_t>(res.w2_mean.size()) != done) throw InputError("inconsistent");
          if (done < G) pool = io::read_npy(dir + "/" + st.at("pool").get<std::string>()).to(at::kFloat);
        } catch (const nlohmann::json::exception&) {
          throw InputError("'" + dir + "/state.json' is corrupt");
        }
        if (done < G && done >= 1 && (pool.dim() != 3 || pool.size(0) != R))
          throw InputError("'" + dir + "': the stored synthetic pool does not match the configuration");
        res.resumed_from = static_cast<int>(done);
        if (done > G) {  // asked for fewer generations than already run: report those
          auto cut = [&](std::vector<double>& v) { v.resize(static_cast<size_t>(G)); };
          cut(res.w2_mean), cut(res.w2_median), cut(res.w2_std), cut(res.trace_mean), cut(res.trace_median), cut(res.seconds);
          if (res.rss_mib.size() > static_cast<size_t>(G)) cut(res.rss_mib);
          if (!res.w2_base_mean.empty()) cut(res.w2_base_mean);
          res.w2_runs.resize(static_cast<size_t>(G));
          done = G;
        }
      }
    } else if (has_state || fs::exists(dir + "/config.json")) {
      throw InputError("'" + dir + "' already holds a loop run: continue it with --resume or choose another --out");
    }
    write_text(dir + "/config.json", cfg.to_json().dump(2) + "\n");
  }

  std::mutex report_mu;
  auto report = [&](int gen, const char* phase, double frac, double gsec = 0, double w2 = 0) {
    if (!run.on_progress) return;
    std::lock_guard<std::mutex> lock(report_mu);
    run.on_progress({gen, static_cast<int>(G), phase, frac, elapsed(), gsec, w2});
  };

  // Chunks of runs, trained and sampled as one ensemble each, by `workers`
  // threads at once.
  int workers = run.workers > 0 ? run.workers : at::get_num_threads();
  workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(workers, R)));
  const int64_t chunk = cfg.batch_runs > 0 ? std::min(cfg.batch_runs, R) : (R + workers - 1) / workers;
  std::vector<std::pair<int64_t, int64_t>> chunks;
  for (int64_t r0 = 0; r0 < R; r0 += chunk) chunks.emplace_back(r0, std::min(R, r0 + chunk));
  workers = static_cast<int>(std::min<size_t>(static_cast<size_t>(workers), chunks.size()));
  const int saved_threads = at::get_num_threads();
  if (workers > 1) at::set_num_threads(1);
  struct RestoreThreads {
    int n;
    bool on;
    ~RestoreThreads() {
      if (on) at::set_num_threads(n);
    }
  } restore_threads{saved_threads, workers > 1};

  struct ChunkOut {
    std::vector<double> w2, trace, w2_base;
    at::Tensor synth, saved;
    double t_base = 0, t_s = 0, t_aux = 0, t_out = 0;  // seconds per phase
  };
  // Progress of each chunk's current phase, for one overall fraction.
  std::vector<double> chunk_frac(chunks.size(), 0.0);

  for (int64_t t = done + 1; t <= G; ++t) {
    const auto g_start = std::chrono::steady_clock::now();
    std::vector<ChunkOut> outs(chunks.size());
    std::fill(chunk_frac.begin(), chunk_frac.end(), 0.0);
    std::atomic<bool> stop{false};  // a user cancel or another worker's error

    auto run_chunk = [&](size_t c) {
      const int64_t r0 = chunks[c].first, r1 = chunks[c].second;
      ChunkOut& out = outs[c];
      auto clock = std::chrono::steady_clock::now();
      auto lap = [&clock](double& into) {
        const auto now = std::chrono::steady_clock::now();
        into += std::chrono::duration<double>(now - clock).count();
        clock = now;
      };
      auto phase_progress = [&](const char* phase, double f) {
        double total = 0;
        {
          std::lock_guard<std::mutex> lock(report_mu);
          chunk_frac[c] = f;
          for (size_t k = 0; k < chunks.size(); ++k)
            total += chunk_frac[k] * static_cast<double>(chunks[k].second - chunks[k].first) / R;
        }
        report(static_cast<int>(t), phase, total);
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

      // 1. Base model, from scratch.
      EnsembleState base = create_ensemble(cfg.net, seeds_for(cfg, r0, r1, t, kInit));
      TrainConfig tc = cfg.train;
      tc.budget = std::max<int64_t>(1, std::llround(cfg.base_epochs * n_data));
      EnsembleTrainOptions to;
      to.cancel = &stop;
      to.on_progress = [&](int64_t seen, int64_t budget, double) {
        phase_progress("train base", w_base * seen / static_cast<double>(budget));
      };
      train_ensemble(base, tc, data, seeds_for(cfg, r0, r1, t, kTrain), to);
      lap(out.t_base);

      // 2. SIMS: auxiliary model fine-tuned on the base's own samples.
      EnsembleState aux;
      if (sims) {
        phase_progress("sample S", w_base);
        const at::Tensor s_noise = ensemble_noise(cfg.n_aux, 2, seeds_for(cfg, r0, r1, t, kAuxNoise));
        const at::Tensor S = sample_ensemble(base, nullptr, s_noise, cfg.sampler, Guidance{}, &stop);
        {
          std::vector<double> tr;
          score(cfg, S.slice(1, 0, std::min(cfg.n_aux, cfg.n_eval)), r0, out.w2_base, tr);
        }
        lap(out.t_s);
        aux = fork_ensemble(base);
        TrainConfig ta = cfg.train;
        ta.budget = std::max<int64_t>(1, std::llround(cfg.aux_epochs * cfg.n_aux));
        to.on_progress = [&](int64_t seen, int64_t budget, double) {
          phase_progress("train aux", w_base + w_s + w_aux * seen / static_cast<double>(budget));
        };
        train_ensemble(aux, ta, S.to(at::kFloat), seeds_for(cfg, r0, r1, t, kAuxTrain), to);
        lap(out.t_aux);
      }

      // 3. The generation's samples (SIMS-guided for SIMS).
      phase_progress("sample", w_base + w_s + w_aux);
      Guidance g;
      g.omega = sims ? cfg.omega : 0.0;
      g.lo = cfg.interval_lo;
      g.hi = cfg.interval_hi;
      const int64_t n_out = std::max(cfg.n_synth, cfg.n_eval);
      at::Tensor noise = ensemble_noise(n_out, 2, seeds_for(cfg, r0, r1, t, kOut));
      if (cfg.bias != 1.0) noise.mul_(std::sqrt(cfg.bias));  // sampling bias lambda (temperature stand-in)
      const at::Tensor x = sample_ensemble(base, sims ? &aux : nullptr, noise, cfg.sampler, g, &stop);
      score(cfg, x.slice(1, 0, cfg.n_eval), r0, out.w2, out.trace);
      if (cfg.n_synth > 0) out.synth = x.slice(1, 0, cfg.n_synth).to(at::kFloat);
      if (r0 < cfg.save_runs) out.saved = x.slice(0, 0, std::min(r1, cfg.save_runs) - r0).slice(1, 0, cfg.n_eval);
      lap(out.t_out);
      phase_progress("sample", 1.0);
    };

    // Workers take chunks in order; the calling thread watches for a cancel.
    std::atomic<size_t> next{0};
    std::atomic<int> finished{0};
    std::vector<std::exception_ptr> errors(static_cast<size_t>(workers));
    auto worker = [&](int w) {
      try {
        for (size_t c; !stop.load() && (c = next.fetch_add(1)) < chunks.size();) run_chunk(c);
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
        if (run.cancel && run.cancel->load()) stop.store(true);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      for (auto& th : threads) th.join();
    }
    // A user cancel surfaces as the workers' Cancelled; an error as itself.
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
    if (run.cancel && run.cancel->load()) throw Cancelled();

    std::vector<double> w2, trace, w2_base;
    std::vector<at::Tensor> new_synth, saved;
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
    }
    // The pool for generation t + 1.
    if (cfg.n_synth > 0) {
      at::Tensor ds = at::cat(new_synth, 0);
      pool = (cfg.accumulate && pool.defined() && t > 1) ? at::cat({pool, ds}, 1) : ds;
    } else {
      pool = at::zeros({R, 0, 2}, at::kFloat);
    }
    const double gsec = std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
    res.w2_mean.push_back(mean_of(w2));
    res.w2_median.push_back(median_of(w2));
    res.w2_std.push_back(std_of(w2));
    res.trace_mean.push_back(mean_of(trace));
    res.trace_median.push_back(median_of(trace));
    if (sims) res.w2_base_mean.push_back(mean_of(w2_base));
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

    if (!dir.empty()) {
      if (!saved.empty()) io::write_npy(dir + "/" + gen_name("samples/gen-%04lld.npy", t), at::cat(saved, 0));
      const std::string pool_name = gen_name("state/pool-%04lld.npy", t);
      io::write_npy(dir + "/" + pool_name, pool);  // float32: exact
      write_text(dir + "/state.json", state_json(res, t, pool_name).dump() + "\n");  // the commit point
      std::error_code ec;
      if (t > 1) fs::remove(dir + "/" + gen_name("state/pool-%04lld.npy", t - 1), ec);
      write_metrics(dir, cfg, res);
    }
    report(static_cast<int>(t), "done", 1.0, gsec, res.w2_mean.back());
  }
  finish(res);
  if (!dir.empty() && done == G) write_metrics(dir, cfg, res);
  return res;
}

}  // namespace sims::loops
