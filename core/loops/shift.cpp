#include "loops/shift.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <sstream>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "experiment/common_schemas.hpp"
#include "experiment/json_io.hpp"
#include "experiment/run_folder.hpp"
#include "data/image_datasets.hpp"
#include "io/atomic_file.hpp"
#include "io/npy.hpp"
#include "metrics/frechet.hpp"
#include "loops/text_format.hpp"
#include "metrics/kid.hpp"
#include "metrics/sweep.hpp"
#include "metrics/uncertainty.hpp"
#include "render/canvas.hpp"
#include "render/plot.hpp"
#include "training/synth.hpp"
#include "training/trainer.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace sims::loops {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// [SECTION] Small helpers ----------------------------------------------------------

json num(double v) { return experiment::result_number(v); }
constexpr int kShiftResamples = 100;  // bootstrap resamples of each FD interval
double num_of(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : kNaN;
}
// A stored count: absent -> 0 (an older row); anything but a whole number >= 0 is damage.
int64_t count_of(const json& j, const char* key) {
  try {
    return count_or(j, key, 0);  // at most 2^40: sums of counts never overflow
  } catch (const InputError& e) {
    throw InputError(std::string("a stored shift row is damaged: ") + e.what());
  }
}

// The seed of sampling round r (this recipe's own derivation since its first
// version; kept so that run folders and published numbers stay reproducible).
uint64_t round_seed(uint64_t seed, uint64_t r) {
  uint64_t z = seed * 0x9e3779b97f4a7c15ULL + r * 0xd1b54a32d192ed03ULL + 0x2545f4914f6cdd1dULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

using text::fmt;
using text::percent;

// The fine-tuning settings that change the weights (not how often they are saved).
json finetune_key(const TrainConfig& t) {
  json j = t.to_json();
  j.erase("checkpoint_every");
  j.erase("snapshot_every");
  return j;
}

// A network spec "PATH[,options]": the file's fingerprint and the options.
json spec_fingerprint(const std::string& spec) {
  const auto comma = spec.find(',');
  const std::string path = spec.substr(0, comma);
  json j = {{"file", experiment::file_fingerprint(path)}, {"options", comma == std::string::npos ? "" : spec.substr(comma + 1)}};
  // A FeatureCnn keeps its record in a side-car; it names the network.
  if (fs::exists(path + ".json")) j["sidecar"] = experiment::file_fingerprint(path + ".json");
  return j;
}

std::string omega_stem(double w) { return "omega_" + fmt(w, 10); }

}  // namespace

// [SECTION] Configuration ----------------------------------------------------------

ShiftConfig::ShiftConfig() {
  finetune.budget = 20000;
  finetune.batch = 64;
  finetune.lr = 1e-3;
  finetune.seed = 3;
}

const experiment::Schema<ShiftConfig>& shift_schema() {
  using C = ShiftConfig;
  using experiment::Schema;
  static const Schema<C> s =
      Schema<C>("shift")
          .text("base", &C::base, "--model", "base checkpoint (an image model from sims train)", true)
          .text("classifier", &C::classifier, "--classifier", "attribute classifier")
          .text("features", &C::features, "--features", "feature network for FD (default: the classifier)")
          .text("attribute", &C::attribute, "--attribute", "the attribute whose share is shifted", true)
          .real("target", &C::target, "--target", "wanted share of attribute = 1", 0, 1, true)
          .text("real_data", &C::real_data, "--real-data", "real images for FD (default: the base's training set)")
          .integer("n_real", &C::n_real, "--n-real", "real images for FD", 2, 10'000'000)
          .seed("real_seed", &C::real_seed, "--real-seed", "which real images")
          .integer("n_aux", &C::n_aux, "--n-aux", "images in the auxiliary set", 2, 10'000'000)
          .integer("n_sample", &C::n_sample, "--n-sample", "first round of base samples (0: --n-aux)", 0, 100'000'000)
          .integer("max_samples", &C::max_samples, "--max-samples", "give up beyond this many base samples (0: 20 x --n-aux)",
                   0, 1'000'000'000)
          .integer("chunk", &C::chunk, "--chunk", "samples per sampler call", 1, 1'000'000)
          .seed("seed", &C::seed, "--seed", "seed of the base samples")
          .nested("sampler", &C::sampler, experiment::sampler_schema())
          .object<TrainConfig>("finetune", &C::finetune, "fine-tuning of the auxiliary",
                               [](const TrainConfig& t) {
                                 try {
                                   t.validate();
                                 } catch (const InputError& e) {
                                   return std::string(e.what());
                                 }
                                 return std::string();
                               })
          .reals("omegas", &C::omegas, "--omegas", "guidance weights to sweep", -1000, 1000)
          .free()
          .integer("n_eval", &C::n_eval, "--n-eval", "samples per omega", 2, 10'000'000)
          .seed("eval_seed", &C::eval_seed, "--eval-seed", "starting noise of the sweep")
          .nested("eval_sampler", &C::eval_sampler, experiment::sampler_schema(), "--eval-")
          .interval("interval", &C::interval_lo, &C::interval_hi, "--interval", "guidance interval LO:HI in sigma")
          .integer("batch", &C::batch, "--eval-batch", "images per network call in the sweep", 1, 1'000'000)
          .integer("pr_k", &C::pr_k, "--k", "k of precision/recall", 1, 1000)
          .integer("keep", &C::keep, "--keep", "images per omega in samples.png", 1, 1000)
          .rule([](const C& c) {
            const int64_t need1 = std::llround(static_cast<double>(c.n_aux) * (1.0 - c.target));
            if (need1 < 1 || c.n_aux - need1 < 1)
              return "shift: an auxiliary set of " + std::to_string(c.n_aux) + " images at the complement share " +
                     fmt(1.0 - c.target) + " leaves one group empty; raise --n-aux";
            const int64_t first = c.n_sample > 0 ? c.n_sample : c.n_aux;
            if (c.max_samples > 0 && c.max_samples < first)
              return "shift: --max-samples (" + std::to_string(c.max_samples) + ") is below the first round of " +
                     std::to_string(first) + " samples";
            for (size_t i = 0; i < c.omegas.size(); ++i)
              for (size_t k = 0; k < i; ++k)
                if (c.omegas[k] == c.omegas[i]) return "shift: omega " + fmt(c.omegas[i]) + " is listed twice";
            return std::string();
          });
  return s;
}

json ShiftConfig::to_json() const { return shift_schema().to_json(*this); }

ShiftConfig ShiftConfig::from_json(const json& j) { return experiment::read_settings(shift_schema(), j); }

void validate(const ShiftConfig& c) {
  if (c.base.empty()) throw InputError("shift: no base model");
  if (c.attribute.empty()) throw InputError("shift: no attribute named");
  if (!(c.target > 0.0 && c.target < 1.0))
    throw InputError("shift: the target share must be strictly between 0 and 1 (got " + fmt(c.target) + ")");
  shift_schema().validate(c);
}

// [SECTION] Results ---------------------------------------------------------------

json ShiftRow::to_json(bool with_groups) const {
  json j = {{"omega", omega},      {"share", num(share)},   {"n1", n1},
            {"n0", n0},            {"fd", num(fd)},         {"fd_target", num(fd_target)},
            {"fd1", num(fd1)},     {"fd0", num(fd0)},       {"precision", num(precision)},
            {"recall", num(recall)}, {"nfe", nfe},          {"seconds", seconds}};
  const metrics::Estimate e = metrics::proportion(n1, n1 + n0);
  j["share_lo"] = num(e.lo), j["share_hi"] = num(e.hi);
  j["kid"] = num(kid), j["kid_std"] = num(kid_std);
  for (const auto& k : interval_keys()) {
    const auto it = ci.find(k);
    j[k + "_lo"] = num(it == ci.end() ? kNaN : it->second.first);
    j[k + "_hi"] = num(it == ci.end() ? kNaN : it->second.second);
  }
  if (with_groups && !groups.empty()) j["groups"] = groups;  // rows of older folders have none
  const auto put_replicates = [&](const char* key, const std::vector<double>& values) {
    if (!with_groups || values.empty()) return;
    json reps = json::array();
    for (double v : values) reps.push_back(num(v));  // a resample whose FD was not finite: null
    j[key] = reps;
  };
  put_replicates("fd_replicates", fd_replicates);
  put_replicates("fd_target_replicates", fd_target_replicates);
  return j;
}

const std::vector<std::string>& ShiftRow::fd_keys() {
  static const std::vector<std::string> keys{"fd", "fd_target", "fd1", "fd0"};
  return keys;
}

const std::vector<std::string>& ShiftRow::interval_keys() {
  static const std::vector<std::string> keys{"fd", "fd_target", "fd1", "fd0", "precision", "recall", "kid"};
  return keys;
}

metrics::Estimate ShiftRow::estimate(const std::string& key) const {
  metrics::Estimate e;
  e.value = key == "fd"          ? fd
            : key == "fd_target" ? fd_target
            : key == "fd1"       ? fd1
            : key == "fd0"       ? fd0
            : key == "precision" ? precision
            : key == "recall"    ? recall
            : key == "kid"       ? kid
                                 : kNaN;
  const auto it = ci.find(key);
  if (it != ci.end())
    e.lo = it->second.first, e.hi = it->second.second,
    e.method = key == "precision" || key == "recall" ? "bootstrap-percentile"
               : key == "kid"                         ? "t over disjoint subsets"
                                                      : "bootstrap-normal";
  return e;
}

metrics::Estimate shift_change(const ShiftRow& from, const ShiftRow& to) {
  metrics::Estimate e;
  const size_t n = from.groups.size();
  if (n == 0 || to.groups.size() != n) return e;
  int64_t left = 0, joined = 0;  // samples whose group went 1 -> 0, 0 -> 1
  for (size_t i = 0; i < n; ++i) left += from.groups[i] == '1' && to.groups[i] == '0',
                                 joined += from.groups[i] == '0' && to.groups[i] == '1';
  e.value = static_cast<double>(joined - left) / static_cast<double>(n);
  // Bonett & Price (2012): add one to each discordant count and two to n, then a Wald interval; it keeps its level
  // where few samples change group, where the plain Wald interval is too narrow.
  const double m = static_cast<double>(n) + 2.0, p_in = (joined + 1.0) / m, p_out = (left + 1.0) / m;
  const double d = p_in - p_out, se = std::sqrt(std::max(0.0, p_in + p_out - d * d) / m);
  const double z = metrics::normal_quantile(0.975);
  e.lo = std::max(-1.0, d - z * se), e.hi = std::min(1.0, d + z * se);
  e.method = "paired (Bonett-Price)";
  return e;
}

metrics::Estimate shift_fd_change(const ShiftRow& from, const ShiftRow& to, const std::string& key) {
  if (key != "fd" && key != "fd_target") throw InputError("shift_fd_change: '" + key + "' keeps no replicates");
  const auto reps = [&](const ShiftRow& r) -> const std::vector<double>& {
    return key == "fd" ? r.fd_replicates : r.fd_target_replicates;
  };
  return metrics::replicate_change(from.estimate(key), to.estimate(key), reps(from), reps(to), from.n1 + from.n0,
                                   to.n1 + to.n0);
}

std::string fd_change_text(const metrics::Estimate& d) {
  // To its interval's precision, as the FDs beside it; signed.
  std::string s = d.precise_text();
  if (!s.empty() && s[0] != '-' && std::isfinite(d.value)) s = "+" + s;
  if (d.has_interval()) s += std::string(", ") + (d.method == "paired bootstrap" ? "paired" : "in quadrature");
  return s;
}

std::string share_change_text(const metrics::Estimate& change) {
  const auto points = [](double x) {
    std::ostringstream s;
    s << (x >= 0 ? "+" : "") << std::fixed << std::setprecision(1) << 100 * x;
    return s.str();
  };
  return points(change.value) + " points [" + points(change.lo) + ", " + points(change.hi) + "]";
}

const ShiftRow* shift_base_row(const ShiftResult& r) {
  for (const auto& row : r.rows)
    if (row.omega == 0.0 && row.n1 + row.n0 > 0) return &row;
  return nullptr;
}

const ShiftRow* shift_closest_row(const ShiftResult& r) {
  const ShiftRow* best = nullptr;
  for (const auto& row : r.rows) {
    if (row.omega == 0.0 || row.n1 + row.n0 == 0 || !std::isfinite(row.share)) continue;
    if (!best || std::abs(row.share - r.target) < std::abs(best->share - r.target)) best = &row;
  }
  return best;
}

std::string shift_verdict(const ShiftResult& r) {
  const ShiftRow *zero = shift_base_row(r), *best = shift_closest_row(r);
  if (!zero || !best) return "no verdict: the sweep needs omega = 0 and another omega to compare";
  const metrics::Estimate z = metrics::proportion(zero->n1, zero->n1 + zero->n0),
                          b = metrics::proportion(best->n1, best->n1 + best->n0);
  auto pct = [](const metrics::Estimate& e) {
    return percent(e.value) + " [" + percent(e.lo) + ", " + percent(e.hi) + "]";
  };
  std::ostringstream v;
  // Paired where the rows kept their samples' groups (the same noise: only the samples that change group count);
  // else whether the two intervals do not overlap (conservative).
  const metrics::Estimate change = shift_change(*zero, *best);
  const bool paired = change.has_interval();
  const bool moved = paired ? metrics::significant(change) : b.lo > z.hi || b.hi < z.lo;
  const bool toward = std::abs(b.value - r.target) < std::abs(z.value - r.target);
  if (moved && toward)
    v << "SIMS at omega = " << fmt(best->omega) << " moves the share of " << r.attribute << "=1 from " << pct(z) << " to "
      << pct(b) << " toward the target " << percent(r.target);
  else if (moved)
    v << "SIMS at omega = " << fmt(best->omega) << " moves the share of " << r.attribute << "=1 from " << pct(z) << " to "
      << pct(b) << ", away from the target " << percent(r.target);
  else
    v << "no shift beyond the noise: the closest omega, " << fmt(best->omega) << ", gives " << pct(b) << " against "
      << pct(z) << " at omega = 0 (target " << percent(r.target) << ")";
  v << "; 95 % Wilson intervals over the samples";
  if (paired) {
    v << "; change " << share_change_text(change) << ", 95 % paired interval over the same noise per sample";
  } else {
    v << ", compared by overlap (the rows' per-sample groups were not kept)";
  }
  // What the move costs or gains in quality at the same two omegas: FD against the real images as given, and
  // against the real set at the target mix (what the shift aims for).
  const char* sep = ". ";
  for (const auto& [key, name] : {std::pair<std::string, std::string>{"fd", "FD"},
                                  {"fd_target", "FD against the target mix"}}) {
    const metrics::Estimate a = zero->estimate(key), b = best->estimate(key), d = shift_fd_change(*zero, *best, key);
    if (!std::isfinite(d.value)) continue;
    v << sep << name << " at omega = " << fmt(best->omega) << ": " << a.precise_text() << " -> " << b.precise_text() << " ("
      << fd_change_text(d) << "): " << metrics::judge_change(d, "worse", "better", "no change beyond the noise")
      << " (lower is better)";
    sep = "; ";
  }
  return v.str();
}

ShiftRow ShiftRow::from_json(const json& j) {
  if (!j.is_object()) throw InputError("a stored shift row is damaged: not a JSON object");
  ShiftRow r;
  r.omega = num_of(j, "omega");
  r.share = num_of(j, "share");
  r.n1 = count_of(j, "n1");
  r.n0 = count_of(j, "n0");
  r.fd = num_of(j, "fd");
  r.fd_target = num_of(j, "fd_target");
  r.fd1 = num_of(j, "fd1");
  r.fd0 = num_of(j, "fd0");
  r.precision = num_of(j, "precision");
  r.recall = num_of(j, "recall");
  r.nfe = static_cast<int>(std::min<int64_t>(count_of(j, "nfe"), std::numeric_limits<int>::max()));
  r.seconds = num_of(j, "seconds");
  r.kid = num_of(j, "kid"), r.kid_std = num_of(j, "kid_std");
  for (const auto& k : interval_keys()) {
    const double lo = num_of(j, (k + "_lo").c_str()), hi = num_of(j, (k + "_hi").c_str());
    if (std::isfinite(lo) && std::isfinite(hi)) r.ci[k] = {lo, hi};
  }
  if (j.contains("groups")) {
    const json& g = j.at("groups");
    if (!g.is_string()) throw InputError("a stored shift row is damaged: groups is not a string");
    r.groups = g.get<std::string>();
    if (!r.groups.empty() && (r.groups.find_first_not_of("01") != std::string::npos ||
        static_cast<int64_t>(r.groups.size()) != r.n1 + r.n0 ||
        std::count(r.groups.begin(), r.groups.end(), '1') != r.n1))
      throw InputError("a stored shift row is damaged: its groups do not match n1 = " + std::to_string(r.n1) +
                       ", n0 = " + std::to_string(r.n0));
  }
  for (auto [key, out] : {std::pair{"fd_replicates", &r.fd_replicates},
                          std::pair{"fd_target_replicates", &r.fd_target_replicates}}) {
    if (!j.contains(key)) continue;  // an older row: its changes in quadrature
    try {
      *out = experiment::read_numbers(j.at(key), key);
    } catch (const InputError& e) {
      throw InputError(std::string("a stored shift row is damaged: ") + e.what());
    }
  }
  return r;
}

json ShiftResult::to_json() const {
  json j = {{"attribute", attribute},
            {"target", target},
            {"features", features},
            {"pool", {{"n", n_pool}, {"n1", pool1}, {"share", n_pool ? num(double(pool1) / n_pool) : json(nullptr)},
                      {"rounds", rounds}}},
            {"aux_set", {{"n", aux1 + aux0}, {"n1", aux1}, {"n0", aux0},
                         {"share", aux1 + aux0 ? num(double(aux1) / (aux1 + aux0)) : json(nullptr)}}},
            {"real", {{"n1", n_real1}, {"n0", n_real0}, {"labels", real_labels}}},
            {"finetune_loss", num(finetune_loss)},
            {"synth_reused", synth_reused},
            {"aux_reused", aux_reused},
            {"seconds", seconds},
            {"rows", json::array()},
            {"files", files}};
  for (const auto& r : rows) j["rows"].push_back(r.to_json(true));  // with groups: a folder read back pairs too
  j["verdict"] = shift_verdict(*this);
  j["ci"] = {{"share", "95 % Wilson interval over the samples of each omega"},
             {"fd", "95 % normal bootstrap interval over the samples of each omega (per group: that group's), 100 "
                    "resamples"},
             {"precision_recall", "95 % percentile bootstrap over the generated (precision) or real (recall) points, "
                                  "k-NN balls held fixed, 100 resamples"},
             {"kid", metrics::kKidIntervalMethod},
             {"share_change", "the verdict's change of share from omega = 0: 95 % Bonett-Price adjusted Wald interval "
                              "for paired proportions over the rows' per-sample groups (\"groups\": the same noise "
                              "per sample); rows without groups: whether the Wilson intervals overlap"},
             {"fd_change", "the verdict's changes of FD and of FD against the target mix from omega = 0: paired "
                           "normal bootstrap over the same resampled sample indices (\"fd_replicates\", "
                           "\"fd_target_replicates\"); rows without them: half-widths in quadrature"}};
  return j;
}

std::string ShiftResult::to_csv() const {
  auto f = [](double v) { return std::isfinite(v) ? fmt(v, 10) : std::string(); };
  std::ostringstream s;
  s << "omega,share,n_attr1,n_attr0,fd,fd_target,fd_attr1,fd_attr0,precision,recall,nfe,seconds,share_lo,share_hi,"
       "fd_lo,fd_hi,fd_target_lo,fd_target_hi,fd_attr1_lo,fd_attr1_hi,fd_attr0_lo,fd_attr0_hi,kid,kid_std,"
       "precision_lo,precision_hi,recall_lo,recall_hi,kid_lo,kid_hi\n";
  for (const auto& r : rows) {
    s << f(r.omega) << "," << f(r.share) << "," << r.n1 << "," << r.n0 << "," << f(r.fd) << "," << f(r.fd_target)
      << "," << f(r.fd1) << "," << f(r.fd0) << "," << f(r.precision) << "," << f(r.recall) << "," << r.nfe << ","
      << f(r.seconds) << "," << f(metrics::proportion(r.n1, r.n1 + r.n0).lo) << ","
      << f(metrics::proportion(r.n1, r.n1 + r.n0).hi);
    for (const auto& k : ShiftRow::fd_keys()) {
      const metrics::Estimate e = r.estimate(k);
      s << "," << f(e.lo) << "," << f(e.hi);
    }
    s << "," << f(r.kid) << "," << f(r.kid_std);
    for (const char* k : {"precision", "recall", "kid"}) {
      const metrics::Estimate e = r.estimate(k);
      s << "," << f(e.lo) << "," << f(e.hi);
    }
    s << "\n";
  }
  return s.str();
}

// [SECTION] The recipe -------------------------------------------------------------

namespace {

// One call of the recipe: its inputs, run folder and results so far.
class ShiftRun {
 public:
  ShiftRun(const ShiftConfig& cfg, const ShiftRunOptions& opts) : cfg_(cfg), opts_(opts), report_(opts.on_progress) {}
  ShiftResult run();

 private:
  struct GroupStats {
    metrics::GaussianStats g1, g0, target;
  };
  void progress(const std::string& stage, int64_t done, int64_t total, const std::string& msg) {
    report_(stage, done, total, msg);
  }
  void note(const std::string& msg) const {
    if (opts_.on_note) opts_.on_note(msg);
  }
  bool cancelled() const { return opts_.cancel && opts_.cancel->load(); }
  std::string path(const std::string& rel) const { return rf_->path(rel); }
  std::string round_path(size_t r, const char* suffix) const {
    std::ostringstream s;
    s << "synth/round-" << std::setw(3) << std::setfill('0') << r << suffix;
    return path(s.str());
  }
  void load_inputs();
  void open_folder();
  void sample_pool();
  at::Tensor aux_set();
  void finetune(at::Tensor set);
  GroupStats group_stats(metrics::SweepReference& ref);
  ShiftRow sweep_row(double w, size_t k, metrics::SweepReference& ref, const GroupStats& gs);
  void sweep();

  const ShiftConfig& cfg_;
  const ShiftRunOptions& opts_;
  experiment::Reporter report_;
  std::unique_ptr<experiment::RunFolder> rf_;
  TrainState base_state_, aux_state_;
  std::vector<int64_t> shape_;
  metrics::ClassifierPtr clf_;
  metrics::FeatureNetPtr feats_;
  int64_t col_ = 0, need1_ = 0, need0_ = 0;
  std::string real_spec_;
  data::ImageBatch real_;
  json synth_key_, aux_key_, eval_key_;
  DenoiserPtr base_den_, aux_den_;
  metrics::BatchOptions bo_;
  ShiftResult res_;
};

// The inputs, checked before any long work.
void ShiftRun::load_inputs() {
  std::error_code ec;
  if (!fs::exists(cfg_.base, ec)) throw InputError("base model '" + cfg_.base + "' does not exist");
  if (!is_checkpoint(cfg_.base))
    throw InputError("base model '" + cfg_.base +
                     "' is not a sims checkpoint: distribution shifting fine-tunes the base, so it must come from "
                     "'sims train' (TorchScript and analytic models cannot be fine-tuned)");
  base_state_ = load_checkpoint(cfg_.base);
  shape_ = base_state_.net.sample_shape();
  if (shape_.size() != 3)
    throw InputError("base model '" + cfg_.base + "' samples " + shape_to_string(shape_) +
                     "; distribution shifting needs an image model [C,H,W] and an image classifier");
  clf_ = opts_.classifier;
  if (!clf_) {
    if (cfg_.classifier.empty()) throw InputError("shift: no classifier (--classifier NET)");
    clf_ = metrics::load_classifier(cfg_.classifier);
  }
  const auto& names = clf_->attr_names();
  const auto it = std::find(names.begin(), names.end(), cfg_.attribute);
  if (it == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw InputError("the classifier '" + clf_->name() + "' has no attribute '" + cfg_.attribute + "' (it has: " + list +
                     ")");
  }
  col_ = it - names.begin();
  feats_ = opts_.features;
  const std::string feat_spec = cfg_.features.empty() ? cfg_.classifier : cfg_.features;
  if (!feats_) {
    if (feat_spec.empty()) throw InputError("shift: no feature network for FD (--features NET)");
    feats_ = metrics::load_feature_net(feat_spec);
  }
  real_spec_ = cfg_.real_data;
  std::string real_from = "--real-data";
  if (real_spec_.empty()) {
    if (base_state_.data.value("source", std::string()) == "images" && base_state_.data.contains("spec_string"))
      real_spec_ = base_state_.data["spec_string"].get<std::string>(), real_from = "the base checkpoint's data set";
    else
      throw InputError("give the real images for FD (--real-data SPEC): the base's checkpoint names no image data set");
  }
  real_ = data::load_images(data::ImageDatasetSpec::parse(real_spec_, real_from), cfg_.n_real, cfg_.real_seed);
  const auto s = real_.images.sizes();
  if (real_.images.dim() != 4 || s[1] != shape_[0] || s[2] != shape_[1] || s[3] != shape_[2])
    throw InputError("the real images '" + real_spec_ + "' are " + c10::str(s.slice(1)) + " but the base samples " +
                     shape_to_string(shape_));
  // Stage keys: what each stage's output depends on, input files by content.
  const json clf_id = opts_.classifier ? json{{"name", clf_->name()}} : spec_fingerprint(cfg_.classifier);
  const json feat_id = opts_.features ? json{{"name", feats_->name()}} : spec_fingerprint(feat_spec);
  const json settings = cfg_.to_json();
  synth_key_ = {{"base", experiment::file_fingerprint(cfg_.base)},
                {"classifier", clf_id},
                {"attribute", cfg_.attribute},
                {"target", cfg_.target},
                {"n_aux", cfg_.n_aux},
                {"n_sample", cfg_.n_sample > 0 ? cfg_.n_sample : cfg_.n_aux},
                {"max_samples", cfg_.max_samples > 0 ? cfg_.max_samples : 20 * cfg_.n_aux},
                {"chunk", cfg_.chunk},
                {"seed", cfg_.seed},
                {"sampler", settings.at("sampler")}};
  aux_key_ = {{"synth", synth_key_}, {"finetune", finetune_key(cfg_.finetune)}};
  eval_key_ = {{"aux", aux_key_},
               {"features", feat_id},
               {"real_data", real_spec_},
               {"n_real", cfg_.n_real},
               {"real_seed", cfg_.real_seed},
               {"n_eval", cfg_.n_eval},
               {"eval_seed", cfg_.eval_seed},
               {"sampler", settings.at("eval_sampler")},
               {"interval", settings.at("interval")},
               {"pr_k", cfg_.pr_k},
               {"keep", cfg_.keep}};
  need1_ = std::llround(static_cast<double>(cfg_.n_aux) * (1.0 - cfg_.target));
  need0_ = cfg_.n_aux - need1_;
  bo_.batch = cfg_.batch;
  bo_.cancel = opts_.cancel;
  base_den_ = NetworkDenoiser::from_state(base_state_, cfg_.base);
}

// The run rule; finished stages made from other inputs (a base model or
// classifier replaced under the same name) are refused the same way.
void ShiftRun::open_folder() {
  rf_ = std::make_unique<experiment::RunFolder>(opts_.out_dir, "shift", cfg_.to_json(), shift_schema().free_keys());
  (void)rf_->done("synth", synth_key_);
  (void)rf_->done("aux", aux_key_);
  (void)rf_->done("eval", eval_key_);
}

// Stages 1-2: base samples in rounds, labelled, until both groups have enough.
void ShiftRun::sample_pool() {
  const std::string state_path = path("synth/state.json");
  json sstate = experiment::read_json_or_null(state_path);
  if (!sstate.is_object()) sstate = {{"rounds", json::array()}};
  int64_t n_pool = 0, c1 = 0;
  size_t labelled = 0;
  for (const auto& r : sstate["rounds"]) {
    if (!r.value("labelled", false)) break;
    const at::Tensor lab = io::read_npy(round_path(labelled, "-labels.npy"));
    c1 += lab.select(1, col_).gt(0.5).sum().item<int64_t>();
    n_pool += lab.size(0);
    ++labelled;
  }
  res_.synth_reused = labelled > 0;
  const int64_t n_first = cfg_.n_sample > 0 ? cfg_.n_sample : cfg_.n_aux;
  const int64_t max_samples = cfg_.max_samples > 0 ? cfg_.max_samples : 20 * cfg_.n_aux;
  std::error_code ec;
  while (c1 < need1_ || (n_pool - c1) < need0_) {
    if (cancelled()) throw Cancelled();
    int64_t n_r = 0;
    uint64_t seed_r = 0;
    if (labelled < sstate["rounds"].size()) {  // planned earlier, not finished
      const json& round = sstate["rounds"][labelled];
      n_r = read_count(round.at("n"), "'" + state_path + "': a round's size");
      seed_r = read_as<uint64_t>(round.at("seed"), "'" + state_path + "': a round's seed");
    } else {
      if (labelled == 0) {
        n_r = n_first;
      } else {
        // Enough for the short group at the share seen so far (smoothed), plus 10 %.
        const double p1 = (c1 + 1.0) / (n_pool + 2.0);
        const double want = std::max((need1_ - c1) / p1, (need0_ - (n_pool - c1)) / (1.0 - p1));
        n_r = static_cast<int64_t>(std::ceil(std::max(0.0, want) * 1.1)) + 16;
      }
      if (n_pool >= max_samples)
        throw InputError("the base model makes too few images with " + cfg_.attribute + (c1 < need1_ ? "=1" : "=0") +
                         ": " + std::to_string(c1 < need1_ ? c1 : n_pool - c1) + " of " + std::to_string(n_pool) +
                         " samples, and the auxiliary set needs " + std::to_string(c1 < need1_ ? need1_ : need0_) +
                         "; lower --n-aux, raise --max-samples (now " + std::to_string(max_samples) +
                         ") or check the classifier");
      n_r = std::min(n_r, max_samples - n_pool);
      seed_r = round_seed(cfg_.seed, labelled);
      sstate["rounds"].push_back({{"n", n_r}, {"seed", seed_r}, {"labelled", false}});
      experiment::write_json_file(state_path, sstate);
    }
    res_.synth_reused = false;
    const std::string rp = round_path(labelled, ".npy");
    if (!fs::exists(rp, ec)) {
      SynthConfig sc;
      sc.n = n_r;
      sc.chunk = cfg_.chunk;
      sc.seed = seed_r;
      sc.sampler = cfg_.sampler;
      const size_t r = labelled;
      const SynthResult sr =
          generate_synthetic_set(base_den_, nullptr, sc, rp, opts_.cancel, [&](int64_t d, int64_t t, double) {
            progress("sample", d, t,
                     "round " + std::to_string(r + 1) + ": " + std::to_string(d) + "/" + std::to_string(t) + " base samples");
          });
      if (sr.cancelled) throw Cancelled();
    }
    const at::Tensor x = io::read_npy(rp).to(at::kFloat);
    metrics::BatchOptions lb = bo_;
    lb.progress = [&](int64_t d, int64_t t) {
      progress("label", d, t, "labelling " + std::to_string(d) + "/" + std::to_string(t));
      return !cancelled();
    };
    const at::Tensor lab = clf_->predict(x.clamp(-1, 1), lb);
    io::write_npy(round_path(labelled, "-labels.npy"), lab);
    sstate["rounds"][labelled]["labelled"] = true;
    experiment::write_json_file(state_path, sstate);
    c1 += lab.select(1, col_).gt(0.5).sum().item<int64_t>();
    n_pool += x.size(0);
    ++labelled;
    progress("label", n_pool, n_pool,
             "pool: " + std::to_string(n_pool) + " samples, " + std::to_string(c1) + " with " + cfg_.attribute + "=1");
  }
  res_.n_pool = n_pool;
  res_.pool1 = c1;
  res_.rounds = static_cast<int>(labelled);
}

// Stage 3: the auxiliary set with the complement share (the synth stage's end).
at::Tensor ShiftRun::aux_set() {
  at::Tensor set;
  if (rf_->done("synth", synth_key_)) {
    const json aj = experiment::read_json_file(path("aux_set.json"));
    res_.aux1 = read_count(aj.at("n1"), "'" + path("aux_set.json") + "': n1");
    res_.aux0 = read_count(aj.at("n0"), "'" + path("aux_set.json") + "': n0");
  } else {
    progress("select", 0, cfg_.n_aux, "building the auxiliary set");
    std::vector<at::Tensor> parts;
    int64_t t1 = 0, t0 = 0;
    for (size_t r = 0; r < static_cast<size_t>(res_.rounds) && (t1 < need1_ || t0 < need0_); ++r) {
      const at::Tensor x = io::read_npy(round_path(r, ".npy")).to(at::kFloat);
      const at::Tensor g = io::read_npy(round_path(r, "-labels.npy")).select(1, col_).gt(0.5);
      const auto ga = g.accessor<bool, 1>();
      std::vector<int64_t> pick;
      for (int64_t i = 0; i < g.size(0); ++i) {
        if (ga[i] && t1 < need1_) pick.push_back(i), ++t1;
        else if (!ga[i] && t0 < need0_) pick.push_back(i), ++t0;
      }
      if (!pick.empty()) parts.push_back(x.index_select(0, at::tensor(pick, at::kLong)));
    }
    if (t1 != need1_ || t0 != need0_) throw Error("shift: internal error: the pool does not hold the counted images");
    set = at::cat(parts, 0);
    io::write_npy(path("aux_set.npy"), set);
    experiment::write_json_file(
        path("aux_set.json"),
        {{"n", cfg_.n_aux},
         {"n1", need1_},
         {"n0", need0_},
         {"share", double(need1_) / cfg_.n_aux},
         {"attribute", cfg_.attribute},
         {"target", cfg_.target},
         {"pool", {{"n", res_.n_pool}, {"n1", res_.pool1}, {"share", double(res_.pool1) / res_.n_pool}}}});
    res_.aux1 = need1_;
    res_.aux0 = need0_;
    rf_->finish("synth", synth_key_);
  }
  progress("select", cfg_.n_aux, cfg_.n_aux,
           "auxiliary set: " + std::to_string(res_.aux1) + " with " + cfg_.attribute + "=1, " +
               std::to_string(res_.aux0) + " with " + cfg_.attribute + "=0");
  return set;
}

// Stage 4: the auxiliary fine-tuned from the base (continued from its checkpoint).
void ShiftRun::finetune(at::Tensor set) {
  const std::string aux_path = path("aux.ckpt");
  std::error_code ec;
  bool have_aux = false;
  if (fs::exists(aux_path, ec)) {
    try {
      aux_state_ = load_checkpoint(aux_path);
      have_aux = true;
    } catch (const Error&) {
      note("'" + aux_path + "' is damaged: training the auxiliary again");
    }
  }
  if (!have_aux) {
    TrainConfig tc = cfg_.finetune;
    if (tc.checkpoint_every == 0) tc.checkpoint_every = std::max(tc.batch, tc.budget / 10);
    aux_state_ = TrainState::fork(base_state_, tc);
    aux_state_.provenance.update(nlohmann::json{{"role", "auxiliary"},
                             {"base", cfg_.base},
                             {"base_images_seen", base_state_.images_seen},
                             {"n_synthetic", cfg_.n_aux},
                             {"shift",
                              {{"attribute", cfg_.attribute},
                               {"target", cfg_.target},
                               {"aux_share", double(res_.aux1) / cfg_.n_aux}}},
                             {"summary", "aux of " + cfg_.base + " on " + std::to_string(cfg_.n_aux) +
                                             " synthetic samples, " + cfg_.attribute + "=1 share " +
                                             fmt(double(res_.aux1) / cfg_.n_aux, 4) + " (complement of the target " +
                                             fmt(cfg_.target, 4) + ")"},
                             {"base_history", base_state_.provenance}});
    aux_state_.data = {{"source", "npy"}, {"path", path("aux_set.npy")}, {"n", cfg_.n_aux}};
  }
  res_.aux_reused = rf_->done("aux", aux_key_) && aux_state_.images_seen >= aux_state_.train.budget;
  if (!res_.aux_reused) {
    if (have_aux)
      note("continuing the fine-tuning at " + std::to_string(aux_state_.images_seen) + " of " +
           std::to_string(aux_state_.train.budget) + " images");
    if (!set.defined()) set = io::read_npy_finite(path("aux_set.npy")).to(at::kFloat);
    const TrainOptions to = stage_train_options(opts_.device, opts_.cancel, aux_path, "fine-tuning",
                                                [&](int64_t seen, int64_t budget, const std::string& m) {
                                                  progress("finetune", seen, budget, m);
                                                });
    if (train(aux_state_, set, to) == TrainOutcome::Cancelled) throw Cancelled();
    if (opts_.device != c10::Device(c10::kCPU)) move_to(aux_state_, c10::Device(c10::kCPU));
    rf_->finish("aux", aux_key_);
  }
  if (!aux_state_.loss_curve.empty()) res_.finetune_loss = aux_state_.loss_curve.back().loss;
  aux_den_ = NetworkDenoiser::from_state(aux_state_, aux_path);
}

// The real images' features: all, per group (known labels or the
// classifier's), and re-balanced to the target share.
ShiftRun::GroupStats ShiftRun::group_stats(metrics::SweepReference& ref) {
  ref.real_images = real_.images;
  metrics::BatchOptions fb = bo_;
  fb.progress = [&](int64_t d, int64_t t) {
    progress("sweep", 0, static_cast<int64_t>(cfg_.omegas.size()),
             "features of the real images " + std::to_string(d) + "/" + std::to_string(t));
    return !cancelled();
  };
  ref.real_features = feats_->features(real_.images, fb);
  ref.real_stats = metrics::stats_of_features(ref.real_features, "real features");
  at::Tensor real_g;  // [M] bool: real image in group 1
  const auto rit = std::find(real_.attr_names.begin(), real_.attr_names.end(), cfg_.attribute);
  if (rit != real_.attr_names.end() && real_.attrs.defined()) {
    real_g = real_.attrs.select(1, rit - real_.attr_names.begin()).gt(0.5);
    res_.real_labels = "data";
  } else {
    real_g = clf_->predict(real_.images, bo_).select(1, col_).gt(0.5);
    res_.real_labels = "classifier";
  }
  const at::Tensor ri1 = real_g.nonzero().squeeze(1), ri0 = real_g.logical_not().nonzero().squeeze(1);
  res_.n_real1 = ri1.size(0);
  res_.n_real0 = ri0.size(0);
  if (res_.n_real1 < 2 || res_.n_real0 < 2)
    throw InputError("the real images '" + real_spec_ + "' hold " + std::to_string(res_.n_real1) + " with " +
                     cfg_.attribute + "=1 and " + std::to_string(res_.n_real0) + " with " + cfg_.attribute +
                     "=0; per-group FD needs at least 2 of each (raise --n-real)");
  const at::Tensor rf1 = ref.real_features.index_select(0, ri1), rf0 = ref.real_features.index_select(0, ri0);
  GroupStats gs;
  gs.g1 = metrics::stats_of_features(rf1, "real features of " + cfg_.attribute + "=1");
  gs.g0 = metrics::stats_of_features(rf0, "real features of " + cfg_.attribute + "=0");
  // The real set re-balanced to the target share: as many images as both groups allow.
  const double m_all = std::min(res_.n_real1 / cfg_.target, res_.n_real0 / (1.0 - cfg_.target));
  const int64_t m1 = std::max<int64_t>(1, std::min<int64_t>(res_.n_real1, std::llround(m_all * cfg_.target)));
  const int64_t m0 = std::max<int64_t>(1, std::min<int64_t>(res_.n_real0, std::llround(m_all * (1.0 - cfg_.target))));
  gs.target = metrics::stats_of_features(at::cat({rf1.narrow(0, 0, m1), rf0.narrow(0, 0, m0)}, 0),
                                         "real features at the target share");
  return gs;
}

ShiftRow ShiftRun::sweep_row(double w, size_t k, metrics::SweepReference& ref, const GroupStats& gs) {
  metrics::SweepConfig sc;
  sc.omegas = {w};
  sc.intervals = {{cfg_.interval_lo, cfg_.interval_hi}};
  sc.sampler = cfg_.eval_sampler;
  sc.n = cfg_.n_eval;
  sc.seed = cfg_.eval_seed;
  sc.batch = cfg_.batch;
  sc.pr_k = cfg_.pr_k;
  sc.keep = cfg_.keep;
  sc.ci = kShiftResamples;  // FD's interval (value_lo/hi) and KID
  sc.kid_subsets = 100;
  // An FD of the rows `rows` of f against `ref`, its value and its bootstrap interval over those rows in extra;
  // with `replicates`, the FD of every resample there (over all rows: the same n and seed in every row, so two
  // rows' values pair up in shift_fd_change).
  std::vector<double> target_replicates;
  const auto fd_with_ci = [&](metrics::SweepRow& row, const at::Tensor& f, const at::Tensor& rows,
                              const metrics::GaussianStats& ref, const std::string& key,
                              std::vector<double>* replicates) {
    const at::Tensor fr = rows.defined() ? f.index_select(0, rows) : f;
    const auto fd_of = [&](const at::Tensor& x) { return metrics::frechet_distance(metrics::stats_of_features(x), ref); };
    row.extra[key] = fd_of(fr);
    if (fr.size(0) < 3) return;
    // The normal interval cut at 0, as bootstrap_distance gives it.
    const metrics::Estimate e = metrics::bootstrap(fr.size(0), [&](const std::vector<int64_t>& idx) {
      return fd_of(fr.index_select(0, at::tensor(idx, at::kLong)));
    }, kShiftResamples, 0.95, cfg_.eval_seed, metrics::BootstrapInterval::Normal, true, replicates);
    row.extra[key + "_lo"] = e.lo, row.extra[key + "_hi"] = e.hi;
  };
  sc.on_images = [&](metrics::SweepRow& row, const at::Tensor&, const at::Tensor& f, const at::Tensor& labels) {
    const at::Tensor g = labels.select(1, col_).gt(0.5);
    const at::Tensor i1 = g.nonzero().squeeze(1), i0 = g.logical_not().nonzero().squeeze(1);
    row.extra["n1"] = i1.size(0);
    row.extra["n0"] = i0.size(0);
    const at::Tensor gc = g.to(at::kCPU).contiguous();
    const bool* in = gc.data_ptr<bool>();
    std::string groups(static_cast<size_t>(gc.size(0)), '0');
    for (size_t i = 0; i < groups.size(); ++i) groups[i] = in[i] ? '1' : '0';
    row.extra["groups"] = groups;
    fd_with_ci(row, f, at::Tensor(), gs.target, "fd_target", &target_replicates);
    if (i1.size(0) >= 2) fd_with_ci(row, f, i1, gs.g1, "fd1", nullptr);
    if (i0.size(0) >= 2) fd_with_ci(row, f, i0, gs.g0, "fd0", nullptr);
  };
  metrics::SweepProgress sp = [&](size_t, size_t, const std::string& stage) {
    progress("sweep", static_cast<int64_t>(k), static_cast<int64_t>(cfg_.omegas.size()), stage);
    return !cancelled();
  };
  const metrics::SweepResult sr =
      metrics::run_sweep(base_den_, {{"aux.ckpt", aux_den_}}, sc, ref, feats_.get(), clf_.get(), sp, opts_.cancel);
  const metrics::SweepRow& r = sr.rows.at(0);
  ShiftRow row;
  row.omega = w;
  row.share = col_ < static_cast<int64_t>(r.ratios.size()) ? r.ratios[col_] : kNaN;
  row.fd = r.value;
  row.precision = r.precision;
  row.recall = r.recall;
  row.nfe = r.nfe;
  row.n1 = r.extra.value("n1", int64_t{0});
  row.n0 = r.extra.value("n0", int64_t{0});
  row.groups = r.extra.value("groups", std::string());
  row.fd_replicates = r.replicates;
  row.fd_target_replicates = std::move(target_replicates);
  row.fd_target = num_of(r.extra, "fd_target");
  row.fd1 = num_of(r.extra, "fd1");
  row.fd0 = num_of(r.extra, "fd0");
  if (std::isfinite(r.value_lo) && std::isfinite(r.value_hi)) row.ci["fd"] = {r.value_lo, r.value_hi};
  if (std::isfinite(r.precision_lo) && std::isfinite(r.precision_hi)) row.ci["precision"] = {r.precision_lo, r.precision_hi};
  if (std::isfinite(r.recall_lo) && std::isfinite(r.recall_hi)) row.ci["recall"] = {r.recall_lo, r.recall_hi};
  for (const char* k : {"fd_target", "fd1", "fd0"}) {
    const double lo = num_of(r.extra, (std::string(k) + "_lo").c_str()), hi = num_of(r.extra, (std::string(k) + "_hi").c_str());
    if (std::isfinite(lo) && std::isfinite(hi)) row.ci[k] = {lo, hi};
  }
  row.kid = num_of(r.extra, "kid"), row.kid_std = num_of(r.extra, "kid_std");
  const double kid_lo = num_of(r.extra, "kid_lo"), kid_hi = num_of(r.extra, "kid_hi");
  if (std::isfinite(kid_lo) && std::isfinite(kid_hi)) row.ci["kid"] = {kid_lo, kid_hi};
  row.seconds = r.seconds;
  row.kept = r.kept;
  return row;
}

// Stage 5: the ω sweep, one row per ω (its samples, then its JSON: the row's commit point).
void ShiftRun::sweep() {
  metrics::SweepReference ref;
  const GroupStats gs = group_stats(ref);
  std::error_code ec;
  for (size_t k = 0; k < cfg_.omegas.size(); ++k) {
    const double w = cfg_.omegas[k];
    const std::string rj = path("eval/" + omega_stem(w) + ".json"), rn = path("eval/" + omega_stem(w) + ".npy");
    if (fs::exists(rj, ec) && fs::exists(rn, ec)) {
      const std::string again = " (delete the file to score this omega again)";
      json stored;
      try {
        stored = experiment::read_json_file(rj);
      } catch (const InputError& e) {  // names the file already
        throw InputError(e.what() + again);
      }
      ShiftRow row;
      try {
        row = ShiftRow::from_json(stored);
      } catch (const InputError& e) {
        throw InputError("'" + rj + "': " + e.what() + again);
      } catch (const json::exception& e) {
        throw InputError("'" + rj + "': a stored shift row is damaged: " + json_error_words(e) + again);
      }
      if (row.omega != w) throw InputError("'" + rj + "': the stored row is not omega = " + fmt(w) + again);
      row.kept = io::read_npy(rn).to(at::kFloat);
      row.reused = true;
      report_("sweep", static_cast<int64_t>(k + 1), static_cast<int64_t>(cfg_.omegas.size()),
              "omega " + fmt(w) + ": reused", row.to_json(), row.kept);
      res_.rows.push_back(std::move(row));
      continue;
    }
    if (cancelled()) throw Cancelled();
    ShiftRow row = sweep_row(w, k, ref, gs);
    io::write_npy(rn, row.kept);
    experiment::write_json_file(rj, row.to_json(true));  // written last: marks the row finished
    report_("sweep", static_cast<int64_t>(k + 1), static_cast<int64_t>(cfg_.omegas.size()),
            "omega " + fmt(w) + ": share " + percent(row.share) + ", FD " + fmt(row.fd, 4), row.to_json(), row.kept);
    res_.rows.push_back(std::move(row));
  }
  rf_->finish("eval", eval_key_);
}

ShiftResult ShiftRun::run() {
  load_inputs();
  open_folder();
  res_.attribute = cfg_.attribute;
  res_.target = cfg_.target;
  res_.features = feats_->name();
  sample_pool();
  finetune(aux_set());
  sweep();
  progress("write", 0, 1, "writing results");
  res_.seconds = report_.elapsed();
  const std::string d = rf_->dir() + "/";
  experiment::write_text_file(d + "results.csv", res_.to_csv());
  res_.files = {d + "results.csv", d + "results.json", d + "shift.png", d + "samples.png", d + "aux.ckpt"};
  write_shift_figures(rf_->dir(), cfg_, res_, clf_->name(), shape_);
  json rj = res_.to_json();
  rj["config"] = cfg_.to_json();
  rj["real_data"] = real_spec_;
  rj["classifier"] = clf_->name();
  experiment::write_json_file(d + "results.json", rj);
  progress("write", 1, 1, "done");
  return res_;
}

}  // namespace

ShiftResult run_shift(const ShiftConfig& cfg, const ShiftRunOptions& opts) {
  validate(cfg);
  if (opts.out_dir.empty()) throw InputError("shift: no run folder given (--out DIR)");
  return ShiftRun(cfg, opts).run();
}

}  // namespace sims::loops
