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
#include "common/json_parse.hpp"
#include "experiment/common_schemas.hpp"
#include "experiment/json_io.hpp"
#include "experiment/run_folder.hpp"
#include "loops/loop_schemas.hpp"
#include "loops/text_format.hpp"
#include "io/atomic_file.hpp"
#include "io/npy.hpp"
#include "metrics/frechet.hpp"
#include "metrics/kid.hpp"
#include "render/canvas.hpp"
#include "render/plot.hpp"
#include "training/step_rules.hpp"

namespace sims::loops {
namespace fs = std::filesystem;
using nlohmann::json;

// [SECTION] Settings --------------------------------------------------------------

ScenariosConfig::ScenariosConfig() { set_image_defaults(net, train, features); }

const experiment::Schema<ScenariosConfig>& scenarios_schema() {
  using C = ScenariosConfig;
  static const experiment::Schema<C> s = [] {
    experiment::Schema<C> s("scenarios");
    s.constant("experiment", "scenarios", "of the four scenarios")
        .spec("data", &C::data, "--data", "D_r: faces[:ratio=R,size=S], mnist:PATH, cifar10:PATH, folder:DIR, npy:FILE")
        .derived("data_string", [](const C& c) { return json(c.data.to_string()); })
        .seed("data_seed", &C::data_seed, "--data-seed", "which built-in faces")
        .integer("n_real", &C::n_real, "--n-real", "|D_r| real images", 2, 10'000'000)
        .reals("pollution", &C::pollution, "--pollution", "|D_p| as multiples of --n-real", 0, 100)
        .free()
        .seed("seed", &C::seed, "--seed", "random seed")
        .text("base", &C::base, "--base", "ST-I: a given checkpoint instead of training one")
        .integer("base_images", &C::base_images, "--base-images", "ST-I training budget in images", 0, 10'000'000'000LL)
        .integer("polluted_images", &C::polluted_images, "--polluted-images", "ST-P training budget in images", 1,
                 10'000'000'000LL)
        .boolean("polluted_from_st_i", &C::polluted_from_st_i, "--from-st-i", "ST-P fine-tuned from ST-I")
        .integer("n_aux", &C::n_aux, "--n-aux", "SIMS: images the auxiliary is fine-tuned on", 2, 10'000'000)
        .integer("aux_images", &C::aux_images, "--aux-images", "auxiliary budget in images", 1, 10'000'000'000LL)
        .reals("omegas", &C::omegas, "--omegas", "SIMS guidance weights (the best is reported)", -1000, 1000)
        .free()
        .interval("interval", &C::interval_lo, &C::interval_hi, "--interval", "guidance interval LO:HI in sigma");
    add_image_model_fields(s, "sims scenarios", "samples per model and omega");
    s.integer("keep", &C::keep, "--keep", "samples per row in samples.png", 0, 64)
        .free()
        .rule([](const C& c) {
          if (c.pollution.size() > 100) return std::string("--pollution needs 1 to 100 values (multiples of --n-real)");
          const auto sizes = pollution_sizes(c);
          for (size_t i = 1; i < sizes.size(); ++i)
            if (sizes[i] == sizes[i - 1]) return "--pollution gives the same |D_p| = " + std::to_string(sizes[i]) + " twice";
          if (c.omegas.size() > 100) return std::string("--omegas needs 1 to 100 values");
          for (double w : c.omegas)
            if (w == 0.0)
              return std::string("--omegas values must be non-zero (omega = 0 is the base model, scored as ST-I/ST-P)");
          if (c.base.empty() && c.base_images < 1) return std::string("--base-images must be at least 1 (or give --base CKPT)");
          const auto shape = c.net.sample_shape();
          const double img = static_cast<double>(shape[0] * shape[1] * shape[2]) * 4;
          if (static_cast<double>(c.n_real + sizes.back()) * img >= 16e9)
            return std::string("--n-real x (1 + largest --pollution) images are too many for memory");
          return std::string();
        });
    return s;
  }();
  return s;
}

json ScenariosConfig::to_json() const { return scenarios_schema().to_json(*this); }

ScenariosConfig ScenariosConfig::from_json(const json& j) { return experiment::read_settings(scenarios_schema(), j); }

void validate(const ScenariosConfig& c) { scenarios_schema().validate(c); }

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
    put_real_shares(j, real_ratio, n_real);
  }
  json cs = json::object();
  for (const auto& c : curves) {
    json cj = {{"n_p", c.n_p}, {"omega", c.omega}};
    c.put_arrays(cj);
    cs[c.name] = cj;
  }
  j["curves"] = cs;
  j["ci"] = {{"method", "normal bootstrap over the scored samples (100 resamples); " +
                            fd_change_method(differences_paired())},
             {"precision_recall", "percentile bootstrap over the generated (precision) or real (recall) points, "
                                  "k-NN balls held fixed (100 resamples)"},
             {"kid", metrics::kKidIntervalMethod},
             {"level", 0.95}};
  j["verdicts"] = verdicts();
  json ev = json::array();
  for (const auto& e : evals) {
    json row = {{"scenario", e.scenario}, {"n_p", e.n_p}, {"omega", e.omega}, {"fd", out(e.score.fd)},
                {"fd_lo", out(e.score.fd_lo)}, {"fd_hi", out(e.score.fd_hi)}, {"kid", out(e.score.kid)},
                {"kid_std", out(e.score.kid_std)}, {"precision", out(e.score.precision)}, {"recall", out(e.score.recall)},
                {"precision_lo", out(e.score.precision_lo)}, {"precision_hi", out(e.score.precision_hi)},
                {"recall_lo", out(e.score.recall_lo)}, {"recall_hi", out(e.score.recall_hi)},
                {"kid_lo", out(e.score.kid_lo)}, {"kid_hi", out(e.score.kid_hi)}};
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
  for (const auto& c : curves) s << "," << c.name << "," << c.name << "_lo," << c.name << "_hi";
  for (const auto& c : curves) s << ",omega_" << c.name;
  s << "\n";
  const size_t n = curves.empty() ? 0 : curves[0].n_p.size();
  for (size_t i = 0; i < n; ++i) {
    s << fmt(curves[0].n_p[i]);
    for (const auto& c : curves) s << "," << fmt(c.fd[i]) << "," << fmt(c.fd_lo[i]) << "," << fmt(c.fd_hi[i]);
    for (const auto& c : curves) s << "," << fmt(c.omega[i]);
    s << "\n";
  }
  return s.str();
}

namespace {

// The three comparisons of the paper's Fig. 5 that the verdicts make, each from the reference score to the other.
struct Comparison {
  enum Kind { kSimsI, kPollution, kSimsP } kind;
  ImageScore from, to;  // ST-I -> SIMS-I, ST-I -> ST-P at the largest |D_p|, ST-P -> SIMS-P there
  std::string where;    // the setting, for the text
};

std::vector<Comparison> comparisons(const std::vector<ScenarioCurve>& curves) {
  const auto curve = [&](const std::string& name) -> const ScenarioCurve* {
    for (const auto& c : curves)
      if (c.name == name && !c.fd.empty()) return &c;
    return nullptr;
  };
  const ScenarioCurve *sti = curve("ST-I"), *simsi = curve("SIMS-I"), *stp = curve("ST-P"), *simsp = curve("SIMS-P");
  std::vector<Comparison> out;
  if (sti && simsi)
    out.push_back({Comparison::kSimsI, sti->fd_score(0), simsi->fd_score(0), "at omega = " + text::fmt(simsi->omega[0], 3)});
  if (!stp || stp->n_p.empty()) return out;
  const size_t last = stp->n_p.size() - 1;
  const std::string at_np = "at |D_p| = " + std::to_string(static_cast<int64_t>(stp->n_p[last]));
  if (sti && stp->n_p.size() > 1)
    out.push_back({Comparison::kPollution, sti->fd_score(0), stp->fd_score(last), at_np});
  if (simsp && last < simsp->omega.size())
    out.push_back({Comparison::kSimsP, stp->fd_score(last), simsp->fd_score(last),
                   at_np + ", omega = " + text::fmt(simsp->omega[last], 3)});
  return out;
}

}  // namespace

bool ScenariosResult::differences_paired() const {
  for (const auto& c : comparisons(curves))
    if (fd_change(c.from, c.to).method != "paired bootstrap") return false;
  return true;
}

std::vector<std::string> ScenariosResult::verdicts() const {
  // Each comparison's difference is paired over the same bootstrap resamples (every evaluation scores as many
  // samples) where both scores kept them; a gain is the reference's FD minus the other's.
  std::vector<std::string> v;
  for (const auto& c : comparisons(curves)) {
    const metrics::Estimate a = c.from.fd_estimate(), b = c.to.fd_estimate();
    if (c.kind == Comparison::kPollution) {
      const metrics::Estimate d = fd_change(c.from, c.to);
      std::ostringstream s;
      s << "ST-P against ST-I " << c.where << ": " << metric << " " << a.text(1) << " -> " << b.text(1) << " ("
        << (d.value >= 0 ? "+" : "") << text::fmt(d.value, 3);
      if (d.has_interval()) s << " ± " << text::fmt(d.half_width(), 3);
      s << "): "
        << metrics::judge_change(d, "pollution makes standard training worse",
                                 "pollution makes standard training better",
                                 "pollution makes no difference beyond the noise")
        << " (lower is better)";
      v.push_back(s.str());
    } else {
      v.push_back(std::string(c.kind == Comparison::kSimsI ? "SIMS-I against ST-I: " : "SIMS-P against ST-P: ") +
                  metrics::gain_verdict(metric, c.where, a, b, fd_change(c.to, c.from)));
    }
  }
  return v;
}

std::string ScenariosResult::evals_csv() const {
  std::ostringstream s;
  s << "scenario,n_p,omega," << metric << "," << metric << "_lo," << metric << "_hi,kid,kid_std,precision,recall";
  for (const auto& a : attr_names) s << ",ratio_" << a;
  s << ",precision_lo,precision_hi,recall_lo,recall_hi,kid_lo,kid_hi\n";
  for (const auto& e : evals) {
    s << e.scenario << "," << e.n_p << "," << fmt(e.omega) << "," << fmt(e.score.fd) << "," << fmt(e.score.fd_lo) << ","
      << fmt(e.score.fd_hi) << "," << fmt(e.score.kid) << "," << fmt(e.score.kid_std) << "," << fmt(e.score.precision)
      << "," << fmt(e.score.recall);
    for (size_t k = 0; k < attr_names.size(); ++k) s << "," << (k < e.score.ratio.size() ? fmt(e.score.ratio[k]) : "");
    s << "," << fmt(e.score.precision_lo) << "," << fmt(e.score.precision_hi) << "," << fmt(e.score.recall_lo) << ","
      << fmt(e.score.recall_hi) << "," << fmt(e.score.kid_lo) << "," << fmt(e.score.kid_hi) << "\n";
  }
  return s.str();
}

// [SECTION] The run ---------------------------------------------------------------

namespace {

enum Role : uint64_t {
  kStiInit = 11, kStiTrain, kStiDropout, kSNoise, kAuxTrain, kAuxDropout, kPool, kStpInit, kStpTrain, kStpDropout, kEval
};

std::string omega_name(double w) {
  std::ostringstream s;
  s << "omega_" << std::setprecision(6) << w << ".npy";
  return s.str();
}

json score_json(const ImageScore& sc) {
  json j = {{"fd", experiment::setting_number(sc.fd)},
            {"precision", experiment::setting_number(sc.precision)},
            {"recall", experiment::setting_number(sc.recall)}};
  json r = json::array();
  for (double v : sc.ratio) r.push_back(experiment::setting_number(v));
  j["ratio"] = r;
  sc.put_uncertainty(j);
  return j;
}

ImageScore score_of_json(const json& j) {
  ImageScore sc;
  sc.fd = experiment::read_number(j.at("fd"), "fd");
  sc.precision = experiment::read_number(j.at("precision"), "precision");
  sc.recall = experiment::read_number(j.at("recall"), "recall");
  for (const auto& v : j.at("ratio")) sc.ratio.push_back(experiment::read_number(v, "ratio"));
  sc.get_uncertainty(j);
  return sc;
}

ScenarioEval best_of(const std::vector<ScenarioEval>& v) {
  const ScenarioEval* b = &v.front();
  for (const auto& e : v)
    if (e.score.fd < b->score.fd || (!std::isfinite(b->score.fd) && std::isfinite(e.score.fd))) b = &e;
  return *b;
}

// One call of the scenarios: the run folder, the scoring and the stages.
// Each model is a stage (its folder's model.ckpt or aux.ckpt, then its
// done-marker), each evaluation too (samples in chunks, then the score in
// its marker), so a re-run reuses every finished stage and continues a
// half-finished sampling.
class ScenariosRun {
 public:
  ScenariosRun(const ScenariosConfig& cfg, const ScenariosRunOptions& run)
      : cfg_(cfg),
        run_(run),
        rf_(run.out_dir, "scenarios", cfg.to_json(), scenarios_schema().free_keys()),
        report_(run.on_progress),
        shape_(cfg.net.sample_shape()),
        sizes_(pollution_sizes(cfg)) {}

  ScenariosResult run();

 private:
  uint64_t seed_of(Role r) const { return mix_seed(cfg_.seed, r); }
  void progress(const std::string& stage, int64_t done, int64_t total, const std::string& msg) {
    report_(stage, done, total, msg);
  }
  void note(const std::string& s) const {
    if (run_.on_note) run_.on_note(s);
  }
  std::function<void(int64_t, int64_t)> train_progress(const std::string& stage, const std::string& what) {
    return [this, stage, what](int64_t seen, int64_t b) {
      progress(stage, seen, b, what + ": " + std::to_string(seen) + "/" + std::to_string(b) + " images");
    };
  }
  void prepare();
  json st_i();
  void pollution_pool(const json& sti_key);
  json st_p(int64_t n_p, const json& sti_key, const json& pool_key);
  ScenarioEval evaluate(const std::string& model_dir, const std::string& base_ckpt, const std::string& aux_ckpt,
                        const std::string& scenario, int64_t n_p, double omega);
  std::vector<ScenarioEval> sims_on(const std::string& sdir, const json& base_key, const std::string& base_ckpt,
                                    const std::string& scenario, int64_t n_p);
  void train_model(const std::string& stage, const std::string& dir, const json& key, TrainState& st,
                   const at::Tensor& data, uint64_t dropout_seed, const std::string& label);

  const ScenariosConfig& cfg_;
  const ScenariosRunOptions& run_;
  experiment::RunFolder rf_;
  experiment::Reporter report_;
  std::vector<int64_t> shape_, sizes_;
  std::unique_ptr<ImageScorer> scorer_;
  at::Tensor d_r_, pool_;
  json eval_key_;
  ScenariosResult res_;
  std::map<std::string, at::Tensor> kept_;  // "scenario|n_p|omega" -> first `keep` samples
};

std::string kept_key(const std::string& s, int64_t n_p, double w) {
  std::ostringstream k;
  k << s << "|" << n_p << "|" << w;
  return k.str();
}

void ScenariosRun::prepare() {
  progress("load", 0, 1, "loading the feature network, the real images and the reference");
  scorer_ = make_image_scorer(cfg_.features, cfg_.classifier, run_.features, run_.classifier, cfg_.data,
                              cfg_.n_ref > 0 ? cfg_.n_ref : cfg_.n_eval, cfg_.data_seed, cfg_.pr_k, shape_, run_.cancel);
  set_score_names(res_, *scorer_);
  d_r_ = real_images(cfg_.data, 0, cfg_.n_real, cfg_.data_seed);
  check_image_shape(d_r_, shape_, cfg_.data);
  if (!cfg_.base.empty()) {
    const TrainState given = load_checkpoint(cfg_.base);
    if (given.net.to_json() != cfg_.net.to_json())
      throw InputError("--base '" + cfg_.base + "' is a network " + given.net.to_json().dump() + ", not the configured " +
                       cfg_.net.to_json().dump());
  }
  // Every model is scored on samples from the same starting noise.
  eval_key_ = {{"sampler", scenarios_schema().find_key("sampler")->get(cfg_)},
               {"n_eval", cfg_.n_eval},
               {"chunk", cfg_.chunk},
               {"seed", cfg_.seed},
               {"interval", scenarios_schema().find_key("interval")->get(cfg_)}};
}

// A model stage: trained into DIR/model-or-aux.ckpt, then marked done.
void ScenariosRun::train_model(const std::string& stage, const std::string& ckpt, const json& key, TrainState& st,
                               const at::Tensor& data, uint64_t dropout_seed, const std::string& label) {
  progress(stage, 0, st.train.budget, label + ": training on " + std::to_string(data.size(0)) + " images");
  train_stage(st, data, dropout_seed, rf_.path(ckpt), run_.device, run_.cancel, train_progress(stage, label));
  ++res_.stages_run;
}

ScenarioEval ScenariosRun::evaluate(const std::string& model_dir, const std::string& base_ckpt,
                                    const std::string& aux_ckpt, const std::string& scenario, int64_t n_p,
                                    double omega) {
  const std::string file = model_dir + "/eval/" + omega_name(omega);
  const std::string stage = file;
  ScenarioEval e;
  e.scenario = scenario;
  e.n_p = n_p;
  e.omega = omega;
  std::ostringstream label;
  label << scenario << (n_p > 0 ? " |D_p|=" + std::to_string(n_p) : "") << (omega != 0 ? " \u03c9=" : "");
  if (omega != 0) label << omega;
  e.reused = rf_.done(stage, eval_key_);
  const at::Tensor x =
      sample_stage(rf_.dir() + "/" + base_ckpt, aux_ckpt.empty() ? "" : rf_.dir() + "/" + aux_ckpt, cfg_.n_eval,
                   seed_of(kEval), cfg_.sampler, Guidance{omega, cfg_.interval_lo, cfg_.interval_hi}, cfg_.chunk,
                   rf_.path(file), run_.device, run_.cancel, [&](int64_t d, int64_t n) {
                     progress(scenario, d, n, label.str() + ": samples " + std::to_string(d) + "/" + std::to_string(n));
                   });
  if (e.reused) {
    const auto damaged = [&](const std::exception& err) {
      return InputError("'" + rf_.dir() + "': the stored score of " + stage + " is damaged: " + err.what());
    };
    try {
      e.score = score_of_json(rf_.result(stage));
    } catch (const Error& err) {  // an InputError of the reader
      throw damaged(err);
    } catch (const json::exception& err) {
      throw damaged(InputError(json_error_words(err)));
    }
    ++res_.stages_reused;
  } else {
    progress(scenario, 0, 1, label.str() + ": scoring");
    e.score = scorer_->score(x);
    rf_.finish(stage, eval_key_, score_json(e.score));
    ++res_.stages_run;
  }
  if (cfg_.keep > 0) kept_[kept_key(scenario, n_p, omega)] = x.narrow(0, 0, std::min(cfg_.keep, x.size(0))).clone();
  res_.evals.push_back(e);
  return e;
}

// SIMS on a finished base: S, the auxiliary, guided evaluations.
std::vector<ScenarioEval> ScenariosRun::sims_on(const std::string& sdir, const json& base_key,
                                                const std::string& base_ckpt, const std::string& scenario,
                                                int64_t n_p) {
  const json key = {{"base", base_key},
                    {"n_aux", cfg_.n_aux},
                    {"aux_images", cfg_.aux_images},
                    {"train", scenarios_schema().find_key("train")->get(cfg_)},
                    {"sampler", scenarios_schema().find_key("sampler")->get(cfg_)},
                    {"chunk", cfg_.chunk},
                    {"seed", cfg_.seed}};
  const std::string aux_ckpt = sdir + "/aux.ckpt";
  if (rf_.done(sdir, key)) {
    note(scenario + ": reusing the auxiliary model " + rf_.dir() + "/" + aux_ckpt);
    ++res_.stages_reused;
  } else {
    const at::Tensor S = sample_stage(rf_.dir() + "/" + base_ckpt, "", cfg_.n_aux, seed_of(kSNoise), cfg_.sampler, Guidance{},
                                      cfg_.chunk, rf_.path(sdir + "/S.npy"), run_.device, run_.cancel,
                                      [&](int64_t d, int64_t n) {
                                        progress(scenario, d, n, scenario + ": S " + std::to_string(d) + "/" +
                                                                     std::to_string(n) + " images");
                                      });
    TrainConfig ta = cfg_.train;
    ta.budget = cfg_.aux_images;
    ta.seed = seed_of(kAuxTrain);
    TrainState aux = TrainState::fork(load_checkpoint(rf_.dir() + "/" + base_ckpt), ta);
    aux.provenance.update(nlohmann::json{{"role", "auxiliary"},
                      {"summary", scenario + " auxiliary: fine-tuned on " + std::to_string(cfg_.n_aux) + " base samples"}});
    train_model(scenario, aux_ckpt, key, aux, S, seed_of(kAuxDropout), scenario + ": auxiliary");
    rf_.finish(sdir, key);
    std::error_code ec;
    fs::remove(rf_.dir() + "/" + sdir + "/S.npy", ec);  // Algorithm 1: S is discarded
    fs::remove(rf_.dir() + "/" + sdir + "/S.npy.json", ec);
  }
  std::vector<ScenarioEval> out;
  for (double w : cfg_.omegas) out.push_back(evaluate(sdir, base_ckpt, aux_ckpt, scenario, n_p, w));
  return out;
}

// ST-I: a given checkpoint or trained on D_r. Returns its key.
json ScenariosRun::st_i() {
  json key = {{"stage", "ST-I"}, {"data", cfg_.data.to_json()}, {"data_seed", cfg_.data_seed}, {"n_real", cfg_.n_real}};
  if (!cfg_.base.empty()) {
    key["base"] = experiment::file_fingerprint(cfg_.base);
  } else {
    key["base_images"] = cfg_.base_images;
    key["net"] = cfg_.net.to_json();
    key["train"] = scenarios_schema().find_key("train")->get(cfg_);
    key["seed"] = cfg_.seed;
  }
  const std::string ckpt = "st-i/model.ckpt";
  if (rf_.done("st-i", key)) {
    note("ST-I: reusing " + rf_.dir() + "/" + ckpt);
    ++res_.stages_reused;
  } else if (!cfg_.base.empty()) {
    save_checkpoint(rf_.path(ckpt), load_checkpoint(cfg_.base));
    ++res_.stages_run;
    rf_.finish("st-i", key);
  } else {
    TrainConfig tc = cfg_.train;
    tc.budget = cfg_.base_images;
    tc.seed = seed_of(kStiInit);
    TrainState st = TrainState::create(cfg_.net, tc);
    st.train.seed = seed_of(kStiTrain);
    st.data = {{"source", "scenarios"}, {"spec", cfg_.data.to_json()}, {"spec_string", cfg_.data.to_string()},
               {"n", cfg_.n_real}, {"seed", cfg_.data_seed}};
    st.provenance = {{"role", "base"}, {"summary", "ST-I: standard training on the real set"}};
    train_model("ST-I", ckpt, key, st, d_r_, seed_of(kStiDropout), "ST-I");
    rf_.finish("st-i", key);
  }
  return key;
}

// The polluting pool D_p, sampled from ST-I; each |D_p| is a prefix of it.
void ScenariosRun::pollution_pool(const json& sti_key) {
  const int64_t max_np = sizes_.back();
  if (max_np <= 0) return;
  const json key = {{"stage", "pollution"}, {"st_i", sti_key},
                    {"sampler", scenarios_schema().find_key("sampler")->get(cfg_)}, {"chunk", cfg_.chunk}, {"seed", cfg_.seed}};
  const std::string file = "pollution/pool.npy";
  int64_t n_pool = max_np;
  if (rf_.done("pollution", key)) {
    const json stored = rf_.result("pollution");
    const int64_t have = count_or(stored, "n", 0, int64_t{1} << 40, "a stored pollution stage is damaged: ");
    if (have >= max_np) {
      n_pool = have;
      ++res_.stages_reused;
    } else {
      note("pollution: " + std::to_string(have) + " images sampled before, " + std::to_string(max_np) +
           " needed: sampling the pool again (its first images stay the same)");
      rf_.forget("pollution");
      std::error_code ec;
      fs::remove(rf_.dir() + "/" + file, ec);
      fs::remove(rf_.dir() + "/" + file + ".json", ec);
      ++res_.stages_run;
    }
  } else {
    ++res_.stages_run;
  }
  pool_ = sample_stage(rf_.dir() + "/st-i/model.ckpt", "", n_pool, seed_of(kPool), cfg_.sampler, Guidance{}, cfg_.chunk,
                       rf_.path(file), run_.device, run_.cancel, [&](int64_t d, int64_t n) {
                         progress("pollution", d, n, "D_p: " + std::to_string(d) + "/" + std::to_string(n) + " images from ST-I");
                       });
  rf_.finish("pollution", key, {{"n", n_pool}});
}

// ST-P for one |D_p|: trained on D_r ∪ the first n_p images of the pool. Returns its key.
json ScenariosRun::st_p(int64_t n_p, const json& sti_key, const json& pool_key) {
  char name[32];
  std::snprintf(name, sizeof name, "p-%07lld", static_cast<long long>(n_p));
  const std::string stp_dir = std::string(name) + "/st-p", ckpt = stp_dir + "/model.ckpt";
  const json key = {{"stage", "ST-P"},
                    {"st_i", sti_key},
                    {"pool", pool_key},
                    {"n_p", n_p},
                    {"polluted_images", cfg_.polluted_images},
                    {"from_st_i", cfg_.polluted_from_st_i},
                    {"net", cfg_.net.to_json()},
                    {"train", scenarios_schema().find_key("train")->get(cfg_)},
                    {"seed", cfg_.seed}};
  const std::string stage = "ST-P " + std::to_string(n_p);
  if (rf_.done(stp_dir, key)) {
    note(stage + ": reusing " + rf_.dir() + "/" + ckpt);
    ++res_.stages_reused;
    return key;
  }
  const at::Tensor data = at::cat({d_r_, pool_.narrow(0, 0, n_p)}, 0).contiguous();
  TrainConfig tc = cfg_.train;
  tc.budget = cfg_.polluted_images;
  tc.seed = seed_of(kStpInit);
  TrainState st = cfg_.polluted_from_st_i ? TrainState::fork(load_checkpoint(rf_.dir() + "/st-i/model.ckpt"), tc)
                                          : TrainState::create(cfg_.net, tc);
  st.train.seed = seed_of(kStpTrain);
  st.data = {{"source", "scenarios"}, {"spec_string", cfg_.data.to_string()}, {"n_real", cfg_.n_real}, {"n_p", n_p}};
  st.provenance = {{"role", "base"},
                   {"summary", "ST-P: standard training on real + " + std::to_string(n_p) + " images of ST-I" +
                                   (cfg_.polluted_from_st_i ? " (fine-tuned from ST-I)" : "")}};
  train_model(stage, ckpt, key, st, data, seed_of(kStpDropout), stage);
  rf_.finish(stp_dir, key);
  return key;
}

ScenariosResult ScenariosRun::run() {
  prepare();
  const json sti_key = st_i();
  const ScenarioEval st_i_eval = evaluate("st-i", "st-i/model.ckpt", "", "ST-I", 0, 0.0);
  const ScenarioEval sims_i = best_of(sims_on("sims-i", sti_key, "st-i/model.ckpt", "SIMS-I", 0));
  pollution_pool(sti_key);
  const json pool_key = {{"stage", "pollution"}, {"st_i", sti_key},
                         {"sampler", scenarios_schema().find_key("sampler")->get(cfg_)}, {"chunk", cfg_.chunk},
                         {"seed", cfg_.seed}};
  std::vector<ScenarioEval> st_p_evals, sims_p_evals;
  for (int64_t n_p : sizes_) {
    if (n_p == 0) {  // no pollution: the generation-1 models themselves
      ScenarioEval a = st_i_eval, b = sims_i;
      a.scenario = "ST-P", b.scenario = "SIMS-P";
      st_p_evals.push_back(a);
      sims_p_evals.push_back(b);
      continue;
    }
    const json key = st_p(n_p, sti_key, pool_key);
    char name[32];
    std::snprintf(name, sizeof name, "p-%07lld", static_cast<long long>(n_p));
    const std::string pdir = name;
    st_p_evals.push_back(evaluate(pdir + "/st-p", pdir + "/st-p/model.ckpt", "", "ST-P", n_p, 0.0));
    sims_p_evals.push_back(best_of(sims_on(pdir + "/sims-p", key, pdir + "/st-p/model.ckpt", "SIMS-P", n_p)));
  }
  progress("results", 0, 1, "writing results");
  auto curve = [&](const std::string& name, const std::vector<ScenarioEval>& pts) {
    ScenarioCurve c;
    c.name = name;
    for (size_t i = 0; i < sizes_.size(); ++i) {
      const ScenarioEval& e = pts.size() == 1 ? pts[0] : pts[i];
      c.n_p.push_back(static_cast<double>(sizes_[i]));
      c.push_score(e.score);
      c.omega.push_back(e.omega);
    }
    return c;
  };
  res_.curves = {curve("ST-I", {st_i_eval}), curve("SIMS-I", {sims_i}), curve("ST-P", st_p_evals),
                 curve("SIMS-P", sims_p_evals)};
  res_.seconds = report_.elapsed();
  json j = cfg_.to_json();
  j.update(res_.to_json());
  const std::string dir = rf_.dir();
  experiment::write_json_file(dir + "/results.json", j);
  experiment::write_text_file(dir + "/results.csv", res_.to_csv());
  experiment::write_text_file(dir + "/evaluations.csv", res_.evals_csv());
  res_.files = {dir + "/results.json", dir + "/results.csv", dir + "/evaluations.csv"};
  std::vector<ScenarioSamplesRow> rows;
  auto add = [&](const std::string& label, const ScenarioEval& e) {
    auto it = kept_.find(kept_key(e.scenario, e.n_p, e.omega));
    if (it != kept_.end()) rows.push_back({label, it->second});
  };
  std::ostringstream w;
  w << sims_i.omega;
  add("ST-I", st_i_eval);
  add("SIMS-I \u03c9=" + w.str(), sims_i);
  for (size_t i = 0; i < sizes_.size(); ++i) {
    if (sizes_[i] == 0) continue;
    std::ostringstream lw;
    lw << sims_p_evals[i].omega;
    add("ST-P |D_p|=" + std::to_string(sizes_[i]), st_p_evals[i]);
    add("SIMS-P |D_p|=" + std::to_string(sizes_[i]) + " \u03c9=" + lw.str(), sims_p_evals[i]);
  }
  for (auto& f : write_scenarios_figures(dir, cfg_, res_, rows)) res_.files.push_back(f);
  res_.seconds = report_.elapsed();
  return res_;
}

}  // namespace

ScenariosResult run_scenarios(const ScenariosConfig& cfg, const ScenariosRunOptions& run) {
  validate(cfg);
  if (run.out_dir.empty()) throw InputError("the scenarios need a run folder (--out DIR)");
  return ScenariosRun(cfg, run).run();
}

}  // namespace sims::loops
