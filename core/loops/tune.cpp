#include "loops/tune.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <limits>
#include <set>
#include <sstream>

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "dist/group.hpp"
#include "experiment/common_schemas.hpp"
#include "experiment/json_io.hpp"
#include "experiment/run_folder.hpp"
#include "io/npy.hpp"
#include "metrics/sweep_run.hpp"
#include "training/synth.hpp"
#include "training/trainer.hpp"

namespace sims::loops {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string num_text(double v, int precision = 3) {
  std::ostringstream s;
  s << std::setprecision(precision) << v;
  return s.str();
}

// "at omega = 0.5 with the auxiliary fine-tuned for 20000 samples seen": the budget counts the samples (images)
// the fine-tuning saw, repeats included, not the set's size.
std::string tuned_setting(const std::string& metric, double omega, int64_t budget, const std::string& aux) {
  const std::string unit = metric != "fd" ? " samples seen" : " images seen";
  return "at omega = " + num_text(omega) +
         (budget > 0 ? " with the auxiliary fine-tuned for " + std::to_string(budget) + unit : " with the auxiliary " + aux);
}

json identity(const std::string& path) {
  return path.empty() ? json(nullptr) : json{{"path", path}, {"content", experiment::file_fingerprint(path)}};
}

std::vector<int64_t> sorted_budgets(const std::vector<int64_t>& b) {
  std::set<int64_t> s(b.begin(), b.end());
  return {s.begin(), s.end()};
}

std::string budget_label(int64_t b) { return "B=" + std::to_string(b); }

json estimate_json(const metrics::Estimate& e, const std::string& key) {
  json j;
  e.put(j, key);
  return j;
}

}  // namespace

void validate(const TuneConfig& c) {
  if (c.aux_snapshots.empty()) {
    if (c.base.empty()) throw InputError("tune: the base must be a sims checkpoint to fine-tune (or give --aux-snapshots)");
    if (c.budgets.empty()) throw InputError("tune: --budgets needs at least one value");
    for (int64_t b : c.budgets)
      if (b < 1) throw InputError("tune: --budgets values must be positive (got " + std::to_string(b) + ")");
    if (c.n_synth < 2) throw InputError("tune: --n-synth must be at least 2");
    if (c.chunk < 1) throw InputError("tune: --chunk must be at least 1");
  }
  if (std::find(c.sweep.omegas.begin(), c.sweep.omegas.end(), 0.0) == c.sweep.omegas.end())
    throw InputError("tune: --omegas must include 0 (the base alone, what the gain is measured against)");
  if (c.sweep.omegas.size() < 2) throw InputError("tune: --omegas needs 0 and at least one other value");
  if (c.sweep.ci < 10) throw InputError("tune: --ci needs at least 10 resamples (the choice is judged by its interval)");
  (void)metrics::aux_labels(c.aux_snapshots);  // refuses the same file given twice, before any folder exists
}

json TuneChoice::to_json() const {
  json j = {{"aux", aux}, {"budget", budget}, {"omega", omega}, {"metric", metric}, {"significant", significant},
            {"verdict", verdict}, {"chosen_by", "highest lower bound of the gain over omega = 0 (the surest gain)"},
            {"lowest", {{"aux", lowest_aux}, {"omega", lowest_omega}}}};
  j.update(estimate_json(value, metric));
  j.update(estimate_json(zero, metric + "_omega0"));
  j.update(estimate_json(gain, "gain"));
  return j;
}

TuneChoice choose_best(const metrics::SweepResult& grid, const std::map<std::string, int64_t>& budgets) {
  TuneChoice c;
  c.metric = grid.metric;
  const metrics::SweepResult::NamedRows n = grid.named_rows();
  const metrics::SweepRow *zero = n.zero, *lowest = n.lowest, *best = n.named;
  if (!zero || !lowest) throw InputError("tune: the grid has no finite omega = 0 row or no other row to compare");
  // The surest gain: the row whose gain has the highest lower bound. The lowest value alone favours the noisiest
  // rows (large ω), whose gain then shrinks on fresh data; without intervals it is all there is.
  c.lowest_aux = lowest->aux, c.lowest_omega = lowest->omega;
  c.aux = best->aux;
  const auto it = budgets.find(best->aux);
  c.budget = it == budgets.end() ? 0 : it->second;
  c.omega = best->omega;
  c.value = best->value_estimate(grid.ci_level);
  c.zero = zero->value_estimate(grid.ci_level);
  c.gain = best->gain_estimate(*zero, grid.ci_level);
  c.significant = metrics::visible_gain(c.metric, c.zero, c.gain, grid.floor);  // as the verdict judges it
  std::ostringstream v;
  v << metrics::gain_verdict(c.metric, tuned_setting(c.metric, c.omega, c.budget, c.aux), c.zero, c.value, c.gain,
                             grid.floor);
  if (c.significant) v << " (held-out real data)";
  // A plot's ring marks the lowest value: say why the row named here can be another one.
  if (best != lowest)
    v << "; omega = " << num_text(c.omega) << " is chosen for the surest gain (the highest lower end of its interval): the "
      << "lowest value is at omega = " << num_text(lowest->omega)
      << (lowest->aux != best->aux ? " with " + lowest->aux : std::string()) << ", whose gain is less certain";
  c.verdict = v.str();
  return c;
}

json TuneResult::to_json() const {
  json j = choice.to_json();
  j["aux_path"] = chosen_path;
  j["gain_significant"] = choice.significant;
  j["grid"] = grid.to_json();
  j["budgets"] = aux_budgets;
  j["labels"] = aux_labels;
  j["ci"] = {{"method",
              std::string("normal bootstrap interval over each row's samples; ") + metrics::kGainIntervalMethod},
             {"level", grid.ci_level}};
  if (std::isfinite(grid.floor.value)) grid.floor.put(j, "floor");
  return j;
}

// [SECTION] The run --------------------------------------------------------------

namespace {

class TuneRun {
 public:
  TuneRun(const DenoiserPtr& base, const TuneConfig& cfg, const TuneRunOptions& opts)
      : base_(base), cfg_(cfg), opts_(opts), report_(opts.on_progress), group_(opts.group.get()),
        // Named as sims sweep names them (two aux.ckpt of two folders are two rows; by file name alone the second
        // one's rows were the first's, read back from the run folder), and checked before the folder exists.
        snapshot_labels_(metrics::aux_labels(cfg.aux_snapshots)) {
    if (writer()) rf_ = std::make_unique<experiment::RunFolder>(opts.out_dir, "tune", settings(),
                                                                 std::vector<std::string>{"budgets", "omegas"});
  }

  TuneResult run(metrics::SweepReference& ref, metrics::FeatureNet* features) {
    std::vector<metrics::SweepAux> auxes;
    json aux_inputs = json::array();
    std::map<std::string, int64_t> budgets;
    if (cfg_.aux_snapshots.empty()) {
      make_synthetic_set();
      for (int64_t b : sorted_budgets(cfg_.budgets)) {
        const std::string file = finetune_to(b);
        auxes.push_back({budget_label(b), NetworkDenoiser::from_state(load_checkpoint(file), budget_label(b))});
        aux_inputs.push_back(identity(file));
        budgets[budget_label(b)] = b;
        res_.aux_budgets.push_back(b);
        paths_[budget_label(b)] = file;
      }
    } else {
      LoadOptions lo;
      lo.sample_shape = base_->info().sample_shape;
      const std::vector<std::string>& labels = snapshot_labels_;
      for (size_t i = 0; i < labels.size(); ++i) {
        const std::string& p = cfg_.aux_snapshots[i];
        auxes.push_back({labels[i], load_denoiser(p, lo)});
        aux_inputs.push_back(identity(p));
        res_.aux_budgets.push_back(0);
        paths_[labels[i]] = p;
      }
    }
    for (const auto& a : auxes) res_.aux_labels.push_back(a.label);
    metrics::SweepRunOptions so;
    so.out_dir = path("grid");
    so.inputs = opts_.inputs;
    so.inputs["base"] = identity(cfg_.base);  // a base that is no checkpoint: the face names it in opts.inputs
    so.inputs["aux_files"] = aux_inputs;
    so.cancel = opts_.cancel;
    so.on_progress = opts_.on_progress;
    so.group = opts_.group;
    res_.grid = metrics::run_sweep_folder(base_, auxes, cfg_.sweep, ref, features, nullptr, so);
    if (!writer()) return res_;  // rank 0 chooses and writes
    res_.choice = choose_best(res_.grid, budgets);
    keep_choice();
    return res_;
  }

 private:
  // Of a job of several processes rank 0 alone owns the folder; the others
  // learn from it what is done, and wait until what it wrote is there.
  bool writer() const { return dist::leads(group_); }
  std::string path(const std::string& rel) const { return rf_ ? rf_->path(rel) : opts_.out_dir + "/" + rel; }
  bool done(const std::string& stage, const json& key) const {
    if (!group_) return rf_->done(stage, key);
    at::Tensor d = at::tensor({writer() && rf_->done(stage, key) ? 1 : 0}, at::kInt);
    group_->broadcast(d);
    return d.item<int>() != 0;
  }
  void finish(const std::string& stage, const json& key) {
    if (writer()) rf_->finish(stage, key);
    if (group_) group_->barrier();
  }

  json settings() const {
    json snaps = json::array();
    for (const auto& p : cfg_.aux_snapshots) snaps.push_back(identity(p));
    json j = {{"base", identity(cfg_.base)}, {"aux_snapshots", snaps}, {"omegas", json::array()}};
    for (double w : cfg_.sweep.omegas) j["omegas"].push_back(experiment::setting_number(w));
    if (cfg_.aux_snapshots.empty()) {
      j["n_synth"] = cfg_.n_synth;
      j["synth_seed"] = cfg_.synth_seed;
      j["chunk"] = cfg_.chunk;
      j["budgets"] = sorted_budgets(cfg_.budgets);
      j["finetune"] = experiment::train_schema().to_json(cfg_.finetune);
      // Recorded only when not the default, so folders of earlier runs keep their settings.
      if (cfg_.finetune.trainable != "all") j["finetune"]["trainable"] = cfg_.finetune.trainable;
    }
    return j;
  }

  void check_cancel() const {
    if (opts_.cancel && opts_.cancel->load()) throw Cancelled();
  }

  // Stage 1: the base's samples the auxiliary learns from.
  void make_synthetic_set() {
    if (done("synth", json::object())) return;
    SynthConfig sc;
    sc.n = cfg_.n_synth;
    sc.chunk = cfg_.chunk;
    sc.seed = cfg_.synth_seed;
    sc.sampler = cfg_.sweep.sampler;
    const SynthResult r = generate_synthetic_set(base_, nullptr, sc, path("synth.npy"), opts_.cancel,
                                                 [&](int64_t n, int64_t total, double) {
                                                   report_("synth", n, total, "base samples for the auxiliary");
                                                 }, group_);
    if (r.cancelled) throw Cancelled();
    finish("synth", json::object());
  }

  // Stage 2: the auxiliary at budget b, continuing the running fine-tune.
  std::string finetune_to(int64_t b) {
    const std::string stage = "aux-" + std::to_string(b), file = path(stage + ".ckpt");
    const json key = {{"budget", b}};
    if (done(stage, key)) return file;
    if (!group_) check_cancel();  // several processes agree on a stop inside train()
    const std::string running = path("aux-running.ckpt");
    std::error_code ec;
    TrainState st;
    if (fs::exists(running, ec)) st = load_checkpoint(running);
    if (!st.ema || st.images_seen > b) {  // nothing to continue, or already past b (a smaller budget added later)
      const TrainState base = load_checkpoint(cfg_.base);
      TrainConfig tc = cfg_.finetune;
      tc.budget = b;
      st = TrainState::fork(base, tc);
      st.provenance.update(nlohmann::json{{"role", "auxiliary"},
                       {"base", cfg_.base},
                       {"base_images_seen", base.images_seen},
                       {"n_synthetic", cfg_.n_synth},
                       {"trainable", tc.trainable},
                       {"summary", std::string(tc.trainable == "decoder" ? "decoder-only aux" : "aux") + " of " + cfg_.base + " on " + std::to_string(cfg_.n_synth) +
                                       " synthetic samples (sims tune)"},
                       {"base_history", base.provenance}});
      st.data = {{"source", "npy"}, {"path", path("synth.npy")}, {"n", cfg_.n_synth}};
    }
    st.train.budget = b;
    st.train.checkpoint_every = std::max<int64_t>(st.train.batch, b / 10);
    const at::Tensor data = io::read_npy_finite(path("synth.npy")).to(at::kFloat);
    TrainOptions to = stage_train_options(opts_.device, opts_.cancel, running, "fine-tuning the auxiliary:",
                                          [&](int64_t seen, int64_t budget, const std::string& m) {
                                            report_("finetune", seen, budget, m);
                                          });
    to.group = opts_.group;  // data-parallel; rank 0 writes the running checkpoint
    if (train(st, data, to) == TrainOutcome::Cancelled) throw Cancelled();
    if (opts_.device != c10::Device(c10::kCPU)) move_to(st, c10::Device(c10::kCPU));
    if (writer()) save_checkpoint(file, st);
    finish(stage, key);
    return file;
  }

  // Stage 3: aux.ckpt is the chosen auxiliary; result.json the choice.
  void keep_choice() {
    const std::string& from = paths_.at(res_.choice.aux);
    res_.chosen_path = from;
    if (res_.choice.budget > 0) {
      const std::string to = path("aux.ckpt");
      save_checkpoint(to, load_checkpoint(from));
      res_.chosen_path = to;
    }
    experiment::write_json_file(path("result.json"), res_.to_json());
    if (res_.choice.budget > 0) experiment::write_json_file(tuned_pair_path(res_.chosen_path), tuned_pair().to_json());
    rf_->finish("choice", json::object(), res_.choice.to_json());
  }

  TunedPair tuned_pair() const {
    TunedPair t;
    const TuneChoice& c = res_.choice;
    t.omega = c.omega, t.budget = c.budget, t.metric = c.metric, t.significant = c.significant, t.verdict = c.verdict;
    t.zero = c.zero, t.value = c.value, t.gain = c.gain, t.floor = res_.grid.floor;
    t.steps = cfg_.sweep.sampler.steps, t.n = cfg_.sweep.n;
    const json& in = opts_.inputs;
    if (in.contains("real_data") && in["real_data"].is_string() && !in["real_data"].get<std::string>().empty())
      t.real = in["real_data"].get<std::string>() + " (seed " + json_brief(in.value("real_seed", json(0)), 24) + ")";
    else if (in.contains("real") && in["real"].is_object())
      t.real = in["real"].value("path", std::string());
    return t;
  }

  DenoiserPtr base_;
  const TuneConfig& cfg_;
  const TuneRunOptions& opts_;
  experiment::Reporter report_;
  dist::Group* group_;
  std::unique_ptr<experiment::RunFolder> rf_;  // rank 0's (or this process's)
  TuneResult res_;
  std::map<std::string, std::string> paths_;
  std::vector<std::string> snapshot_labels_;  // of cfg_.aux_snapshots
};

}  // namespace

std::string tuned_pair_path(const std::string& aux_path) {
  fs::path p(aux_path);
  p.replace_extension(".tune.json");
  return p.string();
}

json TunedPair::to_json() const {
  json j = {{"omega", omega}, {"budget", budget}, {"metric", metric}, {"significant", significant},
            {"verdict", verdict}, {"steps", steps}, {"n", n}, {"real", real},
            {"better", "lower " + metric}};
  zero.put(j, metric + "_omega0");
  value.put(j, metric);
  gain.put(j, "gain");
  if (!gain.method.empty()) j["gain_method"] = gain.method;  // "paired bootstrap": the verdict rebuilt says so
  if (std::isfinite(floor.value)) floor.put(j, "floor");
  return j;
}

std::string TunedPair::summary() const {
  const bool numbers = budget > 0 && std::isfinite(zero.value) && std::isfinite(value.value) && gain.has_interval();
  std::string s = numbers ? metrics::gain_verdict(metric, tuned_setting(metric, omega, budget, ""), zero, value, gain, floor)
                          : verdict;
  std::ostringstream where;
  where << " (sims tune";
  if (n > 0) where << ": " << n << " samples per omega";
  if (!real.empty()) where << ", held-out real data " << real;
  return s + where.str() + ")";
}

std::optional<TunedPair> read_tuned_pair(const std::string& aux_path) {
  const std::string path = tuned_pair_path(aux_path);
  std::error_code ec;
  if (aux_path.empty() || !fs::is_regular_file(path, ec)) return std::nullopt;
  const json j = experiment::read_json_file(path);
  try {
    TunedPair t;
    t.omega = j.at("omega").get<double>();
    t.budget = count_or(j, "budget", 0);
    t.metric = j.at("metric").get<std::string>();
    t.significant = j.value("significant", false);
    t.verdict = j.value("verdict", std::string());
    t.steps = static_cast<int>(count_or(j, "steps", 0, std::numeric_limits<int>::max()));
    t.n = count_or(j, "n", 0);
    t.real = j.value("real", std::string());
    t.zero = metrics::Estimate::get(j, t.metric + "_omega0");
    t.value = metrics::Estimate::get(j, t.metric);
    t.gain = metrics::Estimate::get(j, "gain");
    t.gain.method = j.value("gain_method", std::string());
    t.floor = metrics::Estimate::get(j, "floor");
    // Judged again by today's rule where the numbers are there (a file of an older version called a gain from a
    // base at the floor significant), so that the flag and the verdict rebuilt by summary() agree.
    if (t.gain.has_interval() && std::isfinite(t.zero.value)) t.significant = metrics::visible_gain(t.metric, t.zero, t.gain, t.floor);
    if (!std::isfinite(t.omega)) throw InputError("omega is not a number");
    return t;
  } catch (const json::exception& e) {
    throw InputError("'" + path + "' is not a tuned-pair file: " + json_error_words(e));
  } catch (const InputError& e) {
    throw InputError("'" + path + "' is not a tuned-pair file: " + e.what());
  }
}

TuneResult run_tune(const DenoiserPtr& base, const TuneConfig& cfg, metrics::SweepReference& ref,
                    metrics::FeatureNet* features, const TuneRunOptions& opts) {
  validate(cfg);
  if (!base) throw InputError("tune: no base model");
  if (opts.out_dir.empty()) throw InputError("tune: a run folder (--out) is required");
  TuneRun run(base, cfg, opts);
  return run.run(ref, features);
}

}  // namespace sims::loops
