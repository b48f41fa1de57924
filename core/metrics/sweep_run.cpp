#include "metrics/sweep_run.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <utility>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "dist/group.hpp"
#include "experiment/json_io.hpp"
#include "experiment/run_folder.hpp"
#include "experiment/settings.hpp"
#include "io/npy.hpp"

namespace sims::metrics {

using nlohmann::json;

namespace {

std::string row_stage(const SweepAux& a, double lo, double hi, double omega) {
  // The stage names the row's samples file (rows/<stage>.npy): a label with folders (sims sweep's runA/aux.ckpt)
  // stays one file name. Labels that are file names, as all were before, keep their stage.
  std::string label = a.label;
  std::replace(label.begin(), label.end(), '/', '_');
  std::replace(label.begin(), label.end(), '\\', '_');
  return "row_" + label + "_" + experiment::format_real(lo) + "-" + experiment::format_real(hi) + "_w" +
         experiment::format_real(omega);
}

json sampler_settings(const SamplerConfig& s) {
  return {{"sampler", to_string(s.kind)},
          {"steps", s.steps},
          {"sigma_min", s.sigma_min},
          {"sigma_max", s.sigma_max},
          {"rho", s.rho},
          {"churn", s.churn},
          {"s_min", s.s_min},
          {"s_max", experiment::setting_number(s.s_max)},
          {"s_noise", s.s_noise}};
}

// The key a row's done-marker is checked against.
json row_key(const SweepAux& a, double lo, double hi, double omega) {
  return {{"aux", a.label}, {"omega", experiment::setting_number(omega)},
          {"interval", {experiment::setting_number(lo), experiment::setting_number(hi)}}};
}

// What a finished row's done-marker holds.
json row_record(const SweepResult& one) {
  json r = {{"metric", one.metric}, {"row", one.rows.at(0).to_json(one.attr_names)}};
  if (!one.features.empty()) r["features"] = one.features;
  if (!one.attr_names.empty()) r["attr_names"] = one.attr_names;
  // The metric on each bootstrap resample, so that a resumed sweep still pairs its rows (NaN stored as null).
  const auto& reps = one.rows.at(0).replicates;
  if (!reps.empty()) {
    json a = json::array();
    for (double v : reps) a.push_back(std::isfinite(v) ? json(v) : json(nullptr));
    r["replicates"] = a;
  }
  return r;
}

// A stored row's replicates: as many as the sweep's resamples, each a number or null (NaN); absent in folders of
// older sims (a grid with such a row then pairs no row: quadrature).
std::vector<double> stored_replicates(const json& record, const std::string& stage, int resamples) {
  if (!record.contains("replicates")) return {};
  const json& a = record.at("replicates");
  const auto damaged = [&](const std::string& why) {
    return InputError("a stored sweep row is damaged: " + stage + ": " + why);
  };
  if (a.is_array() && a.size() != static_cast<size_t>(resamples))
    throw damaged("it has " + std::to_string(a.size()) + " bootstrap replicates, the sweep " +
                  std::to_string(resamples));
  try {
    return experiment::read_numbers(a, "replicates", static_cast<size_t>(std::max(resamples, 0)));
  } catch (const InputError& e) {
    throw damaged(e.what());
  }
}

// [SECTION] Several processes ------------------------------------------------------------

struct RowJob {
  const SweepAux* aux;
  double lo, hi, omega;
  std::string stage;
  json key;
};

// A computed row as bytes for rank 0: its record and kept samples' shape as
// JSON, a NUL, the samples as float32. Empty record: nothing computed.
std::string pack_row(const std::string& stage, const SweepResult* one, bool cancelled) {
  json j = {{"stage", stage}, {"cancelled", cancelled}};
  at::Tensor kept;
  if (one != nullptr) {
    j["record"] = row_record(*one);
    kept = one->rows.at(0).kept.to(at::kFloat).contiguous();
    j["shape"] = kept.sizes().vec();
  }
  std::string s = j.dump();
  s.push_back('\0');
  if (kept.defined()) s.append(reinterpret_cast<const char*>(kept.data_ptr<float>()), kept.numel() * sizeof(float));
  return s;
}

// The rows of the grid not yet finished, computed by the job's processes in
// rounds (row k of the round goes to rank k) and written by rank 0 as each
// round ends, so a stopped job keeps every finished round. Afterwards rank 0
// reads every row back like a continued sweep; the numbers equal one
// process's because each row samples from its own starting noise.
void compute_rows_shared(dist::Group& g, experiment::RunFolder* rf, const DenoiserPtr& base,
                         const std::vector<SweepAux>& aux, const SweepConfig& cfg, SweepReference& ref,
                         FeatureNet* features, AttributeClassifier* classifier, const SweepRunOptions& opts,
                         const experiment::Reporter& report) {
  std::vector<RowJob> jobs;
  bool seen_base = false;  // ω = 0 rows after the first copy it (run_sweep_folder)
  for (const auto& a : aux)
    for (const auto& [lo, hi] : cfg.intervals)
      for (double omega : cfg.omegas) {
        if (omega == 0.0 && std::exchange(seen_base, true)) continue;
        jobs.push_back({&a, lo, hi, omega, row_stage(a, lo, hi, omega), row_key(a, lo, hi, omega)});
      }
  at::Tensor done = at::zeros({static_cast<int64_t>(jobs.size()) + 1}, at::kByte);
  if (rf != nullptr)
    for (size_t i = 0; i < jobs.size(); ++i) done[static_cast<int64_t>(i)] = rf->done(jobs[i].stage, jobs[i].key) ? 1 : 0;
  g.broadcast(done);
  std::vector<const RowJob*> todo;
  for (size_t i = 0; i < jobs.size(); ++i)
    if (done[static_cast<int64_t>(i)].item<uint8_t>() == 0) todo.push_back(&jobs[i]);
  const int64_t total = static_cast<int64_t>(todo.size()), world = g.size();
  for (int64_t first = 0; first < total; first += world) {
    const int64_t k = first + g.rank();
    std::string msg = pack_row("", nullptr, false);
    if (k < total) {
      const RowJob& job = *todo[static_cast<size_t>(k)];
      SweepConfig c = cfg;
      c.omegas = {job.omega};
      c.intervals = {{job.lo, job.hi}};
      try {
        const SweepResult one = run_sweep(base, {*job.aux}, c, ref, features, classifier,
                                          [&](size_t, size_t, const std::string& what) {
                                            report("sweep", first, total, what);
                                            return !(opts.cancel && opts.cancel->load());
                                          },
                                          opts.cancel);
        msg = pack_row(job.stage, &one, false);
      } catch (const Cancelled&) {
        msg = pack_row(job.stage, nullptr, true);
      }
    }
    bool cancelled = false;
    for (const std::string& m : g.allgather_bytes(msg)) {
      const size_t nul = m.find('\0');
      const json j = json::parse(m.substr(0, nul));
      cancelled = cancelled || j.at("cancelled").get<bool>();
      if (rf == nullptr || !j.contains("record")) continue;
      const std::string stage = j.at("stage").get<std::string>();
      const auto it = std::find_if(todo.begin(), todo.end(), [&](const RowJob* r) { return r->stage == stage; });
      if (it == todo.end()) throw Error("a process sent a sweep row that is not in the grid: " + stage);
      const std::vector<int64_t> shape = j.at("shape").get<std::vector<int64_t>>();
      at::Tensor kept = at::empty(shape, at::kFloat);
      if (m.size() - nul - 1 != static_cast<size_t>(kept.numel()) * sizeof(float))
        throw Error("a process sent a damaged sweep row: " + stage);
      std::memcpy(kept.data_ptr<float>(), m.data() + nul + 1, m.size() - nul - 1);
      io::write_npy(rf->path("rows/" + stage + ".npy"), kept);
      rf->finish(stage, (*it)->key, j.at("record"));
    }
    if (cancelled) throw Cancelled();
    report("sweep", std::min(first + world, total), total, "rows finished");
  }
}

}  // namespace

std::vector<std::string> aux_labels(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::vector<std::string>> parts;
  for (size_t i = 0; i < paths.size(); ++i) {
    std::error_code ec;
    for (size_t j = 0; j < i; ++j)
      if (fs::equivalent(paths[i], paths[j], ec))
        throw InputError("the auxiliary model '" + paths[i] + "' is given twice (as '" + paths[j] + "')");
    const fs::path p(paths[i]);
    fs::path folder = fs::weakly_canonical(fs::absolute(p, ec).parent_path(), ec);
    if (ec) folder = fs::absolute(p).parent_path().lexically_normal();
    parts.emplace_back();
    for (const auto& c : folder.relative_path()) parts.back().push_back(c.string());
    parts.back().push_back(p.filename().string());
  }
  std::vector<size_t> depth(paths.size(), 1);
  const auto label = [&](size_t i) {
    const auto& p = parts[i];
    std::string s;
    for (size_t k = p.size() - std::min(depth[i], p.size()); k < p.size(); ++k) s += (s.empty() ? "" : "/") + p[k];
    return s;
  };
  const auto flat = [&](size_t i) { return experiment::stage_file_name(label(i)); };
  for (bool grew = true; grew;) {  // every label that collides grows by one folder, until none does
    grew = false;
    std::vector<bool> clash(paths.size(), false);
    for (size_t i = 0; i < paths.size(); ++i)
      for (size_t j = 0; j < paths.size(); ++j) clash[i] = clash[i] || (i != j && flat(i) == flat(j));
    for (size_t i = 0; i < paths.size(); ++i)
      if (clash[i] && depth[i] < parts[i].size()) ++depth[i], grew = true;
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < paths.size(); ++i) {
    out.push_back(label(i));
    for (size_t j = 0; j < i; ++j)  // still the same file name (e.g. "aux 1.ckpt" and "aux_1.ckpt"): numbered
      if (flat(j) == flat(i)) {
        out.back() += "-" + std::to_string(i + 1);
        break;
      }
  }
  return out;
}

json sweep_settings(const SweepConfig& cfg, const std::vector<SweepAux>& aux, const json& inputs) {
  json omegas = json::array(), intervals = json::array(), labels = json::array();
  for (double w : cfg.omegas) omegas.push_back(experiment::setting_number(w));
  for (const auto& [lo, hi] : cfg.intervals)
    intervals.push_back({experiment::setting_number(lo), experiment::setting_number(hi)});
  for (const auto& a : aux) labels.push_back(a.label);
  json j = {{"sampler", sampler_settings(cfg.sampler)},
            {"n", cfg.n},
            {"seed", cfg.seed},
            {"batch", cfg.batch},
            {"pr_k", cfg.pr_k},
            {"keep", cfg.keep},
            {"grid", {{"omegas", omegas}, {"intervals", intervals}, {"aux", labels}}},
            {"inputs", inputs}};
  // Only with intervals, so that folders of sweeps without them (and of older sims) keep their settings.
  if (cfg.ci > 0) j["uncertainty"] = {{"ci", cfg.ci}, {"ci_level", cfg.ci_level}, {"kid_subsets", cfg.kid_subsets}};
  if (cfg.point_metric != "w2") j["point_metric"] = cfg.point_metric;  // absent: W2, as older folders
  return j;
}

SweepRow sweep_row_from_json(const json& j, const std::vector<std::string>& attr_names) {
  SweepRow r;
  try {
    r.omega = experiment::read_number(j.at("omega"), "omega");
    r.lo = experiment::read_number(j.at("interval").at(0), "interval");
    r.hi = j.at("interval").at(1).is_null() ? INFINITY : experiment::read_number(j.at("interval").at(1), "interval");
    r.aux = j.at("aux").get<std::string>();
    r.metric = j.contains("fd") ? "fd" : j.contains("energy") ? "energy" : "w2";
    r.value = experiment::read_number(j.at(r.metric), r.metric);
    r.precision = experiment::read_number(j.at("precision"), "precision");
    r.recall = experiment::read_number(j.at("recall"), "recall");
    const auto bound = [&](const std::string& key) {
      return j.contains(key) && !j[key].is_null() ? experiment::read_number(j[key], key) : NAN;
    };
    r.value_lo = bound(r.metric + "_lo"), r.value_hi = bound(r.metric + "_hi");
    r.precision_lo = bound("precision_lo"), r.precision_hi = bound("precision_hi");
    r.recall_lo = bound("recall_lo"), r.recall_hi = bound("recall_hi");
    r.gain = bound("gain_vs_omega0"), r.gain_lo = bound("gain_vs_omega0_lo"), r.gain_hi = bound("gain_vs_omega0_hi");
    r.nfe = static_cast<int>(read_count(j.at("nfe"), "nfe", std::numeric_limits<int>::max()));
    r.seconds = j.at("seconds").get<double>();
    r.nfe_effective = bound("nfe_effective");
    for (const auto& n : attr_names)
      r.ratios.push_back(j.contains("ratio") && j["ratio"].contains(n) ? experiment::read_number(j["ratio"][n], n) : NAN);
    for (auto it = j.begin(); it != j.end(); ++it)
      if (!std::set<std::string>{"omega", "interval", "interval_text", "aux", r.metric, "precision", "recall", "nfe",
                                 "seconds", "ratio", r.metric + "_lo", r.metric + "_hi", "precision_lo", "precision_hi",
                                 "recall_lo", "recall_hi", "gain_vs_omega0", "gain_vs_omega0_lo", "gain_vs_omega0_hi",
                                 "nfe_effective"}
               .count(it.key()))
        r.extra[it.key()] = it.value();
  } catch (const json::exception& e) {
    throw InputError("a stored sweep row is damaged: " + json_error_words(e));
  } catch (const InputError& e) {
    throw InputError(std::string("a stored sweep row is damaged: ") + e.what());
  }
  return r;
}

SweepResult run_sweep_folder(const DenoiserPtr& base, const std::vector<SweepAux>& aux, const SweepConfig& cfg,
                             SweepReference& ref, FeatureNet* features, AttributeClassifier* classifier,
                             const SweepRunOptions& opts) {
  // Of a job of several processes rank 0 alone owns the folder.
  const bool writer = dist::leads(opts.group.get());
  std::unique_ptr<experiment::RunFolder> folder;
  if (writer)
    folder = std::make_unique<experiment::RunFolder>(opts.out_dir, "sweep", sweep_settings(cfg, aux, opts.inputs),
                                                     std::vector<std::string>{"grid", "keep"});
  const experiment::Reporter report(opts.on_progress);
  if (opts.group) {
    compute_rows_shared(*opts.group, folder.get(), base, aux, cfg, ref, features, classifier, opts, report);
    if (!writer) return SweepResult{};
  }
  experiment::RunFolder& rf = *folder;
  SweepResult res;
  res.ci_level = cfg.ci_level;
  const int64_t total = static_cast<int64_t>(aux.size() * cfg.intervals.size() * cfg.omegas.size());
  int64_t done = 0;
  for (const auto& a : aux)
    for (const auto& [lo, hi] : cfg.intervals)
      for (double omega : cfg.omegas) {
        const std::string stage = row_stage(a, lo, hi, omega);
        const json key = row_key(a, lo, hi, omega);
        const std::string samples = rf.path("rows/" + stage + ".npy");
        SweepResult one;
        const SweepRow* base_row = nullptr;  // ω = 0 samples the base alone: the same row for every aux and interval
        for (const auto& r : res.rows)
          if (omega == 0.0 && r.omega == 0.0 && r.kept.defined()) base_row = &r;
        if (rf.done(stage, key)) {
          const json r = rf.result(stage);
          try {  // a damaged marker: one error naming its file, in plain words
            one.metric = read_as<std::string>(r.at("metric"), "metric");
            one.features = value_or(r, "features", std::string());
            one.attr_names = value_or(r, "attr_names", std::vector<std::string>{});
            one.rows.push_back(sweep_row_from_json(r.at("row"), one.attr_names));
          } catch (const json::exception& e) {
            throw InputError("'" + rf.dir() + "': the stored sweep row " + stage + " is damaged: " + json_error_words(e));
          } catch (const InputError& e) {
            throw InputError("'" + rf.dir() + "': " + e.what());
          }
          one.rows.back().kept = io::read_npy(samples).to(at::kFloat);
          one.rows.back().replicates = stored_replicates(r, stage, cfg.ci);
        } else {
          if (base_row) {
            one.metric = res.metric, one.features = res.features, one.attr_names = res.attr_names;
            one.rows.push_back(*base_row);
            one.rows.back().aux = a.label, one.rows.back().lo = lo, one.rows.back().hi = hi;
          } else {
            SweepConfig c = cfg;
            c.omegas = {omega};
            c.intervals = {{lo, hi}};
            one = run_sweep(base, {a}, c, ref, features, classifier,
                          [&](size_t, size_t, const std::string& what) {
                            report("sweep", done, total, what);
                            return !(opts.cancel && opts.cancel->load());
                          },
                          opts.cancel);
          }
          io::write_npy(samples, one.rows.at(0).kept);
          rf.finish(stage, key, row_record(one));
        }
        res.metric = one.metric;
        res.features = one.features;
        res.attr_names = one.attr_names;
        res.rows.push_back(std::move(one.rows.at(0)));
        ++done;
        std::ostringstream msg;
        msg << "omega " << omega << ": " << res.metric << " " << res.rows.back().value;
        report("sweep", done, total, msg.str(), res.rows.back().to_json(res.attr_names), res.rows.back().kept);
      }
  add_paired_gains(res, cfg, ref);
  if (ref.floor_samples.defined()) {  // the metric of real data itself at the rows' size, once per folder
    const json key = {{"n", ref.floor_samples.size(0)}};
    if (!rf.done("floor", key)) {
      report("sweep", done, total, "the real-data floor");
      json j;
      score_floor(cfg, ref, features).put(j, "floor");
      rf.finish("floor", key, j);
    }
    res.floor = Estimate::get(rf.result("floor"), "floor");
    res.floor.level = cfg.ci_level;
    res.floor.method = "bootstrap-normal";
  }
  return res;
}

}  // namespace sims::metrics
