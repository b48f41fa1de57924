#include "loops/scenarios.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "io/atomic_file.hpp"
#include "io/npy.hpp"
#include "metrics/frechet.hpp"
#include "render/canvas.hpp"
#include "render/plot.hpp"
#include "training/step_rules.hpp"

namespace sims::loops {
namespace fs = std::filesystem;
using nlohmann::json;

// [SECTION] Settings --------------------------------------------------------------

ScenariosConfig::ScenariosConfig() {
  net = default_image_net();
  train.batch = 64;
  train.lr = 1e-3;
  train.lr_rampup = 2000;
  features = default_image_features();
}

namespace {

json sampler_to_json(const SamplerConfig& s) {
  return {{"kind", sims::to_string(s.kind)}, {"steps", s.steps},   {"sigma_min", s.sigma_min},
          {"sigma_max", s.sigma_max},        {"rho", s.rho},       {"churn", s.churn},
          {"s_min", s.s_min},                {"s_max", std::isinf(s.s_max) ? json("inf") : json(s.s_max)},
          {"s_noise", s.s_noise}};
}

SamplerConfig sampler_of_json(const json& j) {
  SamplerConfig s;
  s.kind = parse_sampler_kind(j.value("kind", std::string("heun")));
  s.steps = j.value("steps", s.steps);
  s.sigma_min = j.value("sigma_min", s.sigma_min);
  s.sigma_max = j.value("sigma_max", s.sigma_max);
  s.rho = j.value("rho", s.rho);
  s.churn = j.value("churn", s.churn);
  s.s_min = j.value("s_min", s.s_min);
  if (j.contains("s_max")) s.s_max = j["s_max"].is_string() ? INFINITY : j["s_max"].get<double>();
  s.s_noise = j.value("s_noise", s.s_noise);
  return s;
}

json train_to_json(const TrainConfig& tc) {
  json t = tc.to_json();
  t.erase("budget");
  t.erase("seed");
  t.erase("checkpoint_every");
  t.erase("snapshot_every");
  return t;
}

json interval_json(double lo, double hi) { return {lo, std::isinf(hi) ? json("inf") : json(hi)}; }

}  // namespace

json ScenariosConfig::to_json() const {
  return {{"experiment", "scenarios"},
          {"data", data.to_json()},
          {"data_string", data.to_string()},
          {"data_seed", data_seed},
          {"n_real", n_real},
          {"pollution", pollution},
          {"seed", seed},
          {"base", base},
          {"base_images", base_images},
          {"polluted_images", polluted_images},
          {"polluted_from_st_i", polluted_from_st_i},
          {"n_aux", n_aux},
          {"aux_images", aux_images},
          {"omegas", omegas},
          {"interval", interval_json(interval_lo, interval_hi)},
          {"net", net.to_json()},
          {"train", train_to_json(train)},
          {"sampler", sampler_to_json(sampler)},
          {"chunk", chunk},
          {"n_eval", n_eval},
          {"n_ref", n_ref},
          {"features", features},
          {"classifier", classifier},
          {"pr_k", pr_k},
          {"keep", keep}};
}

ScenariosConfig ScenariosConfig::from_json(const json& j) {
  ScenariosConfig c;
  try {
    if (j.contains("data")) c.data = data::ImageDatasetSpec::from_json(j["data"]);
    c.data_seed = j.value("data_seed", c.data_seed);
    c.n_real = j.value("n_real", c.n_real);
    c.pollution = j.value("pollution", c.pollution);
    c.seed = j.value("seed", c.seed);
    c.base = j.value("base", c.base);
    c.base_images = j.value("base_images", c.base_images);
    c.polluted_images = j.value("polluted_images", c.polluted_images);
    c.polluted_from_st_i = j.value("polluted_from_st_i", c.polluted_from_st_i);
    c.n_aux = j.value("n_aux", c.n_aux);
    c.aux_images = j.value("aux_images", c.aux_images);
    c.omegas = j.value("omegas", c.omegas);
    if (j.contains("interval")) {
      const auto& iv = j["interval"];
      c.interval_lo = iv.at(0).get<double>();
      c.interval_hi = iv.at(1).is_string() ? INFINITY : iv.at(1).get<double>();
    }
    if (j.contains("net")) c.net = NetConfig::from_json(j["net"]);
    if (j.contains("train")) c.train = TrainConfig::from_json(j["train"]);
    if (j.contains("sampler")) c.sampler = sampler_of_json(j["sampler"]);
    c.chunk = j.value("chunk", c.chunk);
    c.n_eval = j.value("n_eval", c.n_eval);
    c.n_ref = j.value("n_ref", c.n_ref);
    c.features = j.value("features", c.features);
    c.classifier = j.value("classifier", c.classifier);
    c.pr_k = j.value("pr_k", c.pr_k);
    c.keep = j.value("keep", c.keep);
  } catch (const json::exception& e) {
    throw InputError(std::string("scenarios configuration: ") + e.what());
  }
  return c;
}

void validate(const ScenariosConfig& c) {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw InputError(msg);
  };
  auto num = [](auto v) { return std::to_string(v); };
  c.data.validate();
  need(c.n_real >= 2 && c.n_real <= 10'000'000, "--n-real must be between 2 and 10000000, got " + num(c.n_real));
  need(!c.pollution.empty() && c.pollution.size() <= 100, "--pollution needs 1 to 100 values (multiples of --n-real)");
  for (double p : c.pollution)
    need(std::isfinite(p) && p >= 0 && p <= 100, "--pollution values must be in [0, 100] (|D_p| / n_real), got " +
                                                     std::to_string(p));
  const auto sizes = pollution_sizes(c);
  for (size_t i = 1; i < sizes.size(); ++i)
    need(sizes[i] != sizes[i - 1], "--pollution gives the same |D_p| = " + num(sizes[i]) + " twice");
  need(c.base.empty() ? c.base_images >= 1 : true, "--base-images must be at least 1 (or give --base CKPT)");
  need(c.base_images <= 10'000'000'000LL && c.polluted_images <= 10'000'000'000LL && c.aux_images <= 10'000'000'000LL,
       "training budgets must be <= 1e10 images");
  need(c.polluted_images >= 1, "--polluted-images must be at least 1, got " + num(c.polluted_images));
  need(c.n_aux >= 2 && c.n_aux <= 10'000'000, "--n-aux must be between 2 and 10000000, got " + num(c.n_aux));
  need(c.aux_images >= 1, "--aux-images must be at least 1, got " + num(c.aux_images));
  need(!c.omegas.empty() && c.omegas.size() <= 100, "--omegas needs 1 to 100 values");
  for (double w : c.omegas)
    need(std::isfinite(w) && std::abs(w) <= 1000 && w != 0.0,
         "--omegas values must be finite, non-zero (ω = 0 is the base model, scored as ST-I/ST-P) and in [-1000, 1000]");
  need(c.interval_lo >= 0 && c.interval_hi > c.interval_lo, "--interval LO:HI needs 0 <= LO < HI");
  need(c.net.type == "unet", "the scenarios train a U-Net (network type 'unet')");
  (void)NetConfig::from_json(c.net.to_json());
  TrainConfig tc = c.train;
  tc.budget = 1;
  tc.validate();
  c.sampler.validate();
  need(c.chunk >= 1 && c.chunk <= 1'000'000, "--chunk must be between 1 and 1000000, got " + num(c.chunk));
  need(c.n_eval >= 2 && c.n_eval <= 10'000'000, "--n-eval must be between 2 and 10000000, got " + num(c.n_eval));
  need(c.n_ref == 0 || (c.n_ref >= 2 && c.n_ref <= 10'000'000), "--n-ref must be 0 (= --n-eval) or between 2 and 10000000");
  need(!c.features.empty(), "--features: a feature network is needed for FD");
  need(c.pr_k >= 1 && c.pr_k <= 1000, "--pr-k must be between 1 and 1000");
  need(c.keep >= 0 && c.keep <= 64, "--keep must be between 0 and 64");
  const auto shape = c.net.sample_shape();
  const double img = static_cast<double>(shape[0] * shape[1] * shape[2]) * 4;
  const double biggest = static_cast<double>(c.n_real + sizes.back());
  need(biggest * img < 16e9, "--n-real x (1 + largest --pollution) images are too many for memory");
}

std::vector<int64_t> pollution_sizes(const ScenariosConfig& c) {
  std::vector<int64_t> v;
  for (double p : c.pollution) v.push_back(std::llround(p * static_cast<double>(c.n_real)));
  std::sort(v.begin(), v.end());
  return v;
}

// [SECTION] Results ---------------------------------------------------------------

namespace {

json out(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

std::string fmt(double v) {
  if (std::isnan(v)) return "";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream s;
  s << std::setprecision(10) << v;
  return s.str();
}

}  // namespace

json ScenariosResult::to_json() const {
  json j = {{"metric", metric}, {"features", features}, {"seconds", seconds}, {"stages_reused", stages_reused},
            {"stages_run", stages_run}};
  if (!attr_names.empty()) {
    j["attr_names"] = attr_names;
    json r = json::array();
    for (double v : real_ratio) r.push_back(out(v));
    j["real_ratio"] = r;
  }
  json cs = json::object();
  for (const auto& c : curves) {
    json fd = json::array(), pr = json::array(), rc = json::array();
    for (size_t i = 0; i < c.fd.size(); ++i) {
      fd.push_back(out(c.fd[i]));
      pr.push_back(out(c.precision[i]));
      rc.push_back(out(c.recall[i]));
    }
    cs[c.name] = {{"n_p", c.n_p}, {"fd", fd}, {"omega", c.omega}, {"precision", pr}, {"recall", rc}};
  }
  j["curves"] = cs;
  json ev = json::array();
  for (const auto& e : evals) {
    json row = {{"scenario", e.scenario}, {"n_p", e.n_p}, {"omega", e.omega}, {"fd", out(e.score.fd)},
                {"precision", out(e.score.precision)}, {"recall", out(e.score.recall)}};
    if (!attr_names.empty()) {
      json r = json::object();
      for (size_t k = 0; k < attr_names.size() && k < e.score.ratio.size(); ++k) r[attr_names[k]] = out(e.score.ratio[k]);
      row["ratio"] = r;
    }
    ev.push_back(row);
  }
  j["evaluations"] = ev;
  return j;
}

std::string ScenariosResult::to_csv() const {
  std::ostringstream s;
  s << "n_p";
  for (const auto& c : curves) s << "," << c.name;
  for (const auto& c : curves) s << ",omega_" << c.name;
  s << "\n";
  const size_t n = curves.empty() ? 0 : curves[0].n_p.size();
  for (size_t i = 0; i < n; ++i) {
    s << fmt(curves[0].n_p[i]);
    for (const auto& c : curves) s << "," << fmt(c.fd[i]);
    for (const auto& c : curves) s << "," << fmt(c.omega[i]);
    s << "\n";
  }
  return s.str();
}

std::string ScenariosResult::evals_csv() const {
  std::ostringstream s;
  s << "scenario,n_p,omega," << metric << ",precision,recall";
  for (const auto& a : attr_names) s << ",ratio_" << a;
  s << "\n";
  for (const auto& e : evals) {
    s << e.scenario << "," << e.n_p << "," << fmt(e.omega) << "," << fmt(e.score.fd) << "," << fmt(e.score.precision)
      << "," << fmt(e.score.recall);
    for (size_t k = 0; k < attr_names.size(); ++k) s << "," << (k < e.score.ratio.size() ? fmt(e.score.ratio[k]) : "");
    s << "\n";
  }
  return s.str();
}

// [SECTION] The run ---------------------------------------------------------------

namespace {

enum Role : uint64_t {
  kStiInit = 11, kStiTrain, kStiDropout, kSNoise, kAuxTrain, kAuxDropout, kPool, kStpInit, kStpTrain, kStpDropout, kEval
};

void write_text(const std::string& path, const std::string& text) {
  io::write_file_atomically(path, text.data(), text.size());
}

json read_json_or_null(const std::string& path) {
  std::ifstream in(path);
  if (!in) return nullptr;
  try {
    return json::parse(in);
  } catch (const json::exception&) {
    return nullptr;
  }
}

// Bytes and CRC-32 of a file: its identity in the stage keys.
json file_fingerprint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read '" + path + "'");
  std::vector<char> buf(1 << 20);
  uint32_t crc = 0;
  int64_t bytes = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto got = static_cast<size_t>(in.gcount());
    if (!got) break;
    crc = metrics::crc32(buf.data(), got, crc);
    bytes += static_cast<int64_t>(got);
  }
  return {{"bytes", bytes}, {"crc32", crc}};
}

// A stage folder made with `key`: kept when its key.json equals key, else
// emptied and stamped with key before anything is written into it.
bool open_stage(const std::string& dir, const json& key) {
  if (read_json_or_null(dir + "/key.json") == key) return true;
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) throw IoError("cannot create '" + dir + "': " + ec.message());
  write_text(dir + "/key.json", key.dump(2) + "\n");
  return false;
}

std::string omega_name(double w) {
  std::ostringstream s;
  s << "omega_" << std::setprecision(6) << w << ".npy";
  return s.str();
}

}  // namespace

ScenariosResult run_scenarios(const ScenariosConfig& cfg, const ScenariosRunOptions& run) {
  validate(cfg);
  if (run.out_dir.empty()) throw InputError("the scenarios need a run folder (--out DIR)");
  const auto t_start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count(); };
  const std::string dir = run.out_dir;
  ScenariosResult res;
  auto report = [&](const std::string& stage, const std::string& phase, int64_t d, int64_t n, const std::string& msg) {
    if (run.on_progress) run.on_progress({stage, phase, d, n, msg, elapsed()});
  };
  auto note = [&](const std::string& s) {
    if (run.on_note) run.on_note(s);
  };
  auto seed_of = [&](Role r) { return mix_seed(cfg.seed, r); };

  // --- Scoring and real data ---------------------------------------------------------
  report("load", "load", 0, 1, "loading the feature network, the real images and the reference");
  metrics::FeatureNetPtr fnet = run.features;
  metrics::ClassifierPtr clf = run.classifier;
  resolve_scoring_nets(cfg.features, cfg.classifier, fnet, clf);
  const auto shape = cfg.net.sample_shape();
  auto check_shape = [&](const at::Tensor& x) {
    std::vector<int64_t> s(x.sizes().begin() + 1, x.sizes().end());
    if (s != shape)
      throw InputError("the images of '" + cfg.data.to_string() + "' are " + shape_to_string(s) +
                       " but the network models " + shape_to_string(shape));
  };
  const at::Tensor reference = image_reference(cfg.data, cfg.n_ref > 0 ? cfg.n_ref : cfg.n_eval, cfg.data_seed);
  check_shape(reference);
  const ImageScorer scorer(fnet, clf, reference, cfg.pr_k, run.cancel);
  res.metric = scorer.metric();
  res.features = scorer.features_name();
  res.attr_names = scorer.attr_names();
  res.real_ratio = scorer.real_ratio();
  const at::Tensor d_r = real_images(cfg.data, 0, cfg.n_real, cfg.data_seed);
  check_shape(d_r);
  const std::vector<int64_t> sizes = pollution_sizes(cfg);
  const int64_t max_np = sizes.back();
  if (!cfg.base.empty()) {
    const TrainState given = load_checkpoint(cfg.base);
    if (given.net.to_json() != cfg.net.to_json())
      throw InputError("--base '" + cfg.base + "' is a network " + given.net.to_json().dump() + ", not the configured " +
                       cfg.net.to_json().dump());
  }
  {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw IoError("cannot create the run folder '" + dir + "': " + ec.message());
  }
  write_text(dir + "/config.json", cfg.to_json().dump(2) + "\n");

  // Every model is scored on samples from the same starting noise.
  const json eval_key = {{"sampler", sampler_to_json(cfg.sampler)}, {"n_eval", cfg.n_eval}, {"chunk", cfg.chunk},
                         {"seed", cfg.seed}, {"interval", interval_json(cfg.interval_lo, cfg.interval_hi)}};
  std::map<std::string, at::Tensor> kept;  // "scenario|n_p|omega" -> first `keep` samples
  auto kept_key = [](const std::string& s, int64_t n_p, double w) {
    std::ostringstream k;
    k << s << "|" << n_p << "|" << w;
    return k.str();
  };
  auto evaluate = [&](const std::string& model_dir, const std::string& base_ckpt, const std::string& aux_ckpt,
                      const std::string& scenario, int64_t n_p, double omega) {
    const std::string edir = model_dir + "/eval";
    open_stage(edir, eval_key);
    const std::string file = edir + "/" + omega_name(omega);
    ScenarioEval e;
    e.scenario = scenario;
    e.n_p = n_p;
    e.omega = omega;
    e.reused = fs::exists(file);
    std::ostringstream label;
    label << scenario << (n_p > 0 ? " |D_p|=" + std::to_string(n_p) : "") << (omega != 0 ? " w=" : "");
    if (omega != 0) label << omega;
    const at::Tensor x = sample_stage(base_ckpt, aux_ckpt, cfg.n_eval, seed_of(kEval), cfg.sampler,
                                      Guidance{omega, cfg.interval_lo, cfg.interval_hi}, cfg.chunk, file, run.device,
                                      run.cancel, [&](int64_t d, int64_t n) {
                                        report(scenario, "eval", d, n, label.str() + ": samples " + std::to_string(d) +
                                                                           "/" + std::to_string(n));
                                      });
    (e.reused ? res.stages_reused : res.stages_run) += 1;
    report(scenario, "score", 0, 1, label.str() + ": scoring");
    e.score = scorer.score(x);
    if (cfg.keep > 0) kept[kept_key(scenario, n_p, omega)] = x.narrow(0, 0, std::min(cfg.keep, x.size(0))).clone();
    res.evals.push_back(e);
    return e;
  };
  auto train_progress = [&](const std::string& stage, const std::string& what) {
    return [&, stage, what](int64_t seen, int64_t b) {
      report(stage, "train", seen, b, what + ": " + std::to_string(seen) + "/" + std::to_string(b) + " images");
    };
  };

  // SIMS on a finished base: S, the auxiliary, guided evaluations.
  auto sims_on = [&](const std::string& sdir, const json& base_key, const std::string& base_ckpt,
                     const std::string& scenario, int64_t n_p) {
    const json key = {{"base", base_key},          {"n_aux", cfg.n_aux},     {"aux_images", cfg.aux_images},
                      {"train", train_to_json(cfg.train)}, {"sampler", sampler_to_json(cfg.sampler)},
                      {"chunk", cfg.chunk},        {"seed", cfg.seed}};
    open_stage(sdir, key);
    const std::string aux_ckpt = sdir + "/aux.ckpt";
    if (fs::exists(aux_ckpt)) {
      note(scenario + ": reusing the auxiliary model " + aux_ckpt);
      ++res.stages_reused;
    } else {
      const at::Tensor S = sample_stage(base_ckpt, "", cfg.n_aux, seed_of(kSNoise), cfg.sampler, Guidance{}, cfg.chunk,
                                        sdir + "/S.npy", run.device, run.cancel, [&](int64_t d, int64_t n) {
                                          report(scenario, "sample S", d, n, scenario + ": S " + std::to_string(d) +
                                                                                 "/" + std::to_string(n) + " images");
                                        });
      const TrainState base = load_checkpoint(base_ckpt);
      TrainConfig ta = cfg.train;
      ta.budget = cfg.aux_images;
      ta.seed = seed_of(kAuxTrain);
      TrainState aux = TrainState::fork(base, ta);
      aux.provenance = {{"role", "auxiliary"},
                        {"summary", scenario + " auxiliary: fine-tuned on " + std::to_string(cfg.n_aux) + " base samples"}};
      train_stage(aux, S, seed_of(kAuxDropout), aux_ckpt, run.device, run.cancel,
                  train_progress(scenario, scenario + ": auxiliary"));
      ++res.stages_run;
      std::error_code ec;
      fs::remove(sdir + "/S.npy", ec);  // Algorithm 1: S is discarded
    }
    std::vector<ScenarioEval> out;
    for (double w : cfg.omegas) out.push_back(evaluate(sdir, base_ckpt, aux_ckpt, scenario, n_p, w));
    return out;
  };
  auto best_of = [](const std::vector<ScenarioEval>& v) {
    const ScenarioEval* b = &v.front();
    for (const auto& e : v)
      if (e.score.fd < b->score.fd || (!std::isfinite(b->score.fd) && std::isfinite(e.score.fd))) b = &e;
    return *b;
  };

  // --- ST-I ---------------------------------------------------------------------------
  json sti_key = {{"stage", "ST-I"}, {"data", cfg.data.to_json()}, {"data_seed", cfg.data_seed}, {"n_real", cfg.n_real}};
  if (!cfg.base.empty()) {
    sti_key["base"] = file_fingerprint(cfg.base);
  } else {
    sti_key["base_images"] = cfg.base_images;
    sti_key["net"] = cfg.net.to_json();
    sti_key["train"] = train_to_json(cfg.train);
    sti_key["seed"] = cfg.seed;
  }
  const std::string sti_dir = dir + "/st-i", sti_ckpt = sti_dir + "/model.ckpt";
  open_stage(sti_dir, sti_key);
  if (fs::exists(sti_ckpt)) {
    note("ST-I: reusing " + sti_ckpt);
    ++res.stages_reused;
  } else if (!cfg.base.empty()) {
    save_checkpoint(sti_ckpt, load_checkpoint(cfg.base));
    ++res.stages_run;
  } else {
    TrainConfig tc = cfg.train;
    tc.budget = cfg.base_images;
    tc.seed = seed_of(kStiInit);
    TrainState st = TrainState::create(cfg.net, tc);
    st.train.seed = seed_of(kStiTrain);
    st.data = {{"source", "scenarios"}, {"spec", cfg.data.to_json()}, {"spec_string", cfg.data.to_string()},
               {"n", cfg.n_real}, {"seed", cfg.data_seed}};
    st.provenance = {{"role", "base"}, {"summary", "ST-I: standard training on the real set"}};
    report("ST-I", "train", 0, tc.budget, "ST-I: training on " + std::to_string(cfg.n_real) + " real images");
    train_stage(st, d_r, seed_of(kStiDropout), sti_ckpt, run.device, run.cancel, train_progress("ST-I", "ST-I"));
    ++res.stages_run;
  }
  const ScenarioEval st_i = evaluate(sti_dir, sti_ckpt, "", "ST-I", 0, 0.0);
  const ScenarioEval sims_i = best_of(sims_on(dir + "/sims-i", sti_key, sti_ckpt, "SIMS-I", 0));

  // --- The polluting pool D_p (sampled from ST-I; each |D_p| is a prefix) ------------
  at::Tensor pool;
  const json pool_key = {{"stage", "pollution"}, {"st_i", sti_key}, {"sampler", sampler_to_json(cfg.sampler)},
                         {"chunk", cfg.chunk}, {"seed", cfg.seed}};
  if (max_np > 0) {
    const std::string pdir = dir + "/pollution", file = pdir + "/pool.npy";
    open_stage(pdir, pool_key);
    if (fs::exists(file)) {
      const int64_t have = io::read_npy_header(file).shape.at(0);
      if (have < max_np) {
        note("pollution: " + std::to_string(have) + " images sampled before, " + std::to_string(max_np) +
             " needed: sampling the pool again (its first images stay the same)");
        std::error_code ec;
        fs::remove(file, ec);
      }
    }
    int64_t n_pool = max_np;
    if (fs::exists(file)) {
      n_pool = io::read_npy_header(file).shape.at(0);
      ++res.stages_reused;
    } else {
      ++res.stages_run;
    }
    pool = sample_stage(sti_ckpt, "", n_pool, seed_of(kPool), cfg.sampler, Guidance{}, cfg.chunk, file, run.device,
                        run.cancel, [&](int64_t d, int64_t n) {
                          report("pollution", "sample", d, n,
                                 "D_p: " + std::to_string(d) + "/" + std::to_string(n) + " images from ST-I");
                        });
  }

  // --- ST-P and SIMS-P per |D_p| -------------------------------------------------------
  std::vector<ScenarioEval> st_p, sims_p;
  for (int64_t n_p : sizes) {
    if (n_p == 0) {  // no pollution: the generation-1 models themselves
      ScenarioEval a = st_i, b = sims_i;
      a.scenario = "ST-P", b.scenario = "SIMS-P";
      st_p.push_back(a);
      sims_p.push_back(b);
      continue;
    }
    char name[32];
    std::snprintf(name, sizeof name, "p-%07lld", static_cast<long long>(n_p));
    const std::string pdir = dir + "/" + name, stp_dir = pdir + "/st-p", stp_ckpt = stp_dir + "/model.ckpt";
    const json stp_key = {{"stage", "ST-P"},           {"st_i", sti_key},
                          {"pool", pool_key},          {"n_p", n_p},
                          {"polluted_images", cfg.polluted_images},
                          {"from_st_i", cfg.polluted_from_st_i},
                          {"net", cfg.net.to_json()},  {"train", train_to_json(cfg.train)},
                          {"seed", cfg.seed}};
    const std::string stage = "ST-P " + std::to_string(n_p);
    open_stage(stp_dir, stp_key);
    if (fs::exists(stp_ckpt)) {
      note(stage + ": reusing " + stp_ckpt);
      ++res.stages_reused;
    } else {
      const at::Tensor data = at::cat({d_r, pool.narrow(0, 0, n_p)}, 0).contiguous();
      TrainConfig tc = cfg.train;
      tc.budget = cfg.polluted_images;
      tc.seed = seed_of(kStpInit);
      TrainState st;
      if (cfg.polluted_from_st_i)
        st = TrainState::fork(load_checkpoint(sti_ckpt), tc);
      else
        st = TrainState::create(cfg.net, tc);
      st.train.seed = seed_of(kStpTrain);
      st.data = {{"source", "scenarios"}, {"spec_string", cfg.data.to_string()}, {"n_real", cfg.n_real}, {"n_p", n_p}};
      st.provenance = {{"role", "base"},
                       {"summary", "ST-P: standard training on real + " + std::to_string(n_p) + " images of ST-I" +
                                       (cfg.polluted_from_st_i ? " (fine-tuned from ST-I)" : "")}};
      report(stage, "train", 0, tc.budget, stage + ": training on " + std::to_string(data.size(0)) + " images");
      train_stage(st, data, seed_of(kStpDropout), stp_ckpt, run.device, run.cancel, train_progress(stage, stage));
      ++res.stages_run;
    }
    st_p.push_back(evaluate(stp_dir, stp_ckpt, "", "ST-P", n_p, 0.0));
    sims_p.push_back(best_of(sims_on(pdir + "/sims-p", stp_key, stp_ckpt, "SIMS-P", n_p)));
  }

  // --- Curves and files ------------------------------------------------------------------
  report("results", "write", 0, 1, "writing results");
  auto curve = [&](const std::string& name, const std::vector<ScenarioEval>& pts) {
    ScenarioCurve c;
    c.name = name;
    for (size_t i = 0; i < sizes.size(); ++i) {
      const ScenarioEval& e = pts.size() == 1 ? pts[0] : pts[i];
      c.n_p.push_back(static_cast<double>(sizes[i]));
      c.fd.push_back(e.score.fd);
      c.omega.push_back(e.omega);
      c.precision.push_back(e.score.precision);
      c.recall.push_back(e.score.recall);
    }
    return c;
  };
  res.curves = {curve("ST-I", {st_i}), curve("SIMS-I", {sims_i}), curve("ST-P", st_p), curve("SIMS-P", sims_p)};
  res.seconds = elapsed();

  json j = cfg.to_json();
  j.update(res.to_json());
  write_text(dir + "/results.json", j.dump(2) + "\n");
  write_text(dir + "/results.csv", res.to_csv());
  write_text(dir + "/evaluations.csv", res.evals_csv());
  res.files = {dir + "/results.json", dir + "/results.csv", dir + "/evaluations.csv", dir + "/scenarios.png"};

  render::LinePlot plot;
  plot.title = "Four scenarios (SIMS paper Sec. 4.2.2): " + res.metric + " vs |D_p|";
  plot.x_label = "|D_p| polluting synthetic images (n_real = " + std::to_string(cfg.n_real) + ")";
  plot.y_label = res.metric + " (SIMS: best over omega)";
  plot.width = 820;
  plot.height = 520;
  for (size_t i = 0; i < res.curves.size(); ++i) {
    render::Series s;
    s.label = res.curves[i].name;
    s.x = res.curves[i].n_p;
    s.y = res.curves[i].fd;
    s.colour = render::palette(i);
    s.markers = i >= 2;  // ST-I / SIMS-I: one model each, a flat reference line
    plot.series.push_back(std::move(s));
  }
  render::render_plot(plot).write_png(dir + "/scenarios.png");

  if (cfg.keep > 0) {
    render::GridFigure fig;
    fig.title = "First samples of each scenario (the same noise in every row)";
    const int zoom = shape[1] <= 32 ? 2 : 1;
    auto add = [&](const std::string& label, const ScenarioEval& e) {
      auto it = kept.find(kept_key(e.scenario, e.n_p, e.omega));
      if (it == kept.end()) return;
      fig.y_labels.push_back(label);
      fig.cells.push_back({render::image_mosaic(it->second, static_cast<int>(it->second.size(0)), zoom)});
    };
    std::ostringstream w;
    w << sims_i.omega;
    add("ST-I", st_i);
    add("SIMS-I w=" + w.str(), sims_i);
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (sizes[i] == 0) continue;
      std::ostringstream lw;
      lw << sims_p[i].omega;
      add("ST-P |D_p|=" + std::to_string(sizes[i]), st_p[i]);
      add("SIMS-P |D_p|=" + std::to_string(sizes[i]) + " w=" + lw.str(), sims_p[i]);
    }
    if (!fig.cells.empty()) {
      write_grid_png(fig, dir + "/samples.png");
      res.files.push_back(dir + "/samples.png");
    }
  }
  res.seconds = elapsed();
  return res;
}

}  // namespace sims::loops
