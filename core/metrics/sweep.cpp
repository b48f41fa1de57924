#include "metrics/sweep.hpp"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <cmath>
#include <map>
#include <memory>
#include <sstream>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "metrics/kid.hpp"
#include "metrics/precision_recall.hpp"
#include "metrics/uncertainty.hpp"
#include "metrics/wasserstein.hpp"
#include "sampling/edm_sampler.hpp"

namespace sims::metrics {

namespace {

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string fmt(double v) {
  if (std::isnan(v)) return "";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream s;
  s.precision(10);
  s << v;
  return s.str();
}

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

bool has_ci(const SweepRow& r) { return std::isfinite(r.value_lo) || std::isfinite(r.precision_lo); }

// The row of `aux` at r's ω and interval with a finite value and bootstrap replicates (null if none).
const SweepRow* find_partner(const std::vector<SweepRow>& rows, const SweepRow& r, const std::string& aux,
                             double omega = 0.0) {
  for (const auto& c : rows)
    if (c.aux == aux && c.omega == omega && c.lo == r.lo && c.hi == r.hi && !c.replicates.empty() &&
        std::isfinite(c.value))
      return &c;
  return nullptr;
}

// The whole σ range: a row's interval that needs no mention.
bool lo_hi_default(double lo, double hi) { return lo == 0.0 && std::isinf(hi); }

}  // namespace

nlohmann::json SweepRow::to_json(const std::vector<std::string>& names) const {
  nlohmann::json j = {{"omega", omega}, {"interval", {num(lo), num(hi)}}, {"interval_text", fmt(lo) + ":" + fmt(hi)},
                      {"aux", aux}, {metric, num(value)}, {"precision", num(precision)},
                      {"recall", num(recall)}, {"nfe", nfe}, {"seconds", seconds}};
  if (std::isfinite(nfe_effective)) j["nfe_effective"] = nfe_effective;
  if (has_ci(*this)) {
    j[metric + "_lo"] = num(value_lo), j[metric + "_hi"] = num(value_hi);
    j["precision_lo"] = num(precision_lo), j["precision_hi"] = num(precision_hi);
    j["recall_lo"] = num(recall_lo), j["recall_hi"] = num(recall_hi);
  }
  if (std::isfinite(gain))
    j["gain_vs_omega0"] = num(gain), j["gain_vs_omega0_lo"] = num(gain_lo), j["gain_vs_omega0_hi"] = num(gain_hi);
  if (!ratios.empty()) {
    nlohmann::json r = nlohmann::json::object();
    for (size_t k = 0; k < ratios.size() && k < names.size(); ++k) r[names[k]] = num(ratios[k]);
    j["ratio"] = r;
  }
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  return j;
}

nlohmann::json SweepResult::to_json() const {
  nlohmann::json j = {{"metric", metric}, {"rows", nlohmann::json::array()}};
  if (!features.empty()) j["features"] = features;
  if (!attr_names.empty()) j["attr_names"] = attr_names;
  for (const auto& r : rows) j["rows"].push_back(r.to_json(attr_names));
  if (std::isfinite(floor.value)) {
    floor.put(j, "floor");
    j["floor_means"] = metric + " between the reference and another real set of the rows' size";
  }
  return j;
}

std::string SweepResult::to_csv() const {
  // The interval columns come last (and only when intervals were computed), so older readers keep their columns.
  bool ci = false, gains = false, effective = false, kid = false;
  for (const auto& r : rows)
    ci = ci || has_ci(r), gains = gains || std::isfinite(r.gain), effective = effective || std::isfinite(r.nfe_effective),
    kid = kid || r.extra.contains("kid");
  std::ostringstream s;
  s << "omega,interval_lo,interval_hi,aux," << metric << ",precision,recall";
  for (const auto& a : attr_names) s << ",ratio_" << csv_quote(a);
  s << ",nfe,seconds";
  if (ci) s << "," << metric << "_lo," << metric << "_hi,precision_lo,precision_hi,recall_lo,recall_hi";
  if (gains) s << ",gain_vs_omega0,gain_vs_omega0_lo,gain_vs_omega0_hi";
  if (effective) s << ",nfe_effective";
  // Images with real features: KID's mean and standard deviation over subsets, its 95 % interval from disjoint ones.
  if (kid) s << ",kid,kid_std,kid_lo,kid_hi";
  s << "\n";
  for (const auto& r : rows) {
    s << fmt(r.omega) << "," << fmt(r.lo) << "," << fmt(r.hi) << "," << csv_quote(r.aux) << "," << fmt(r.value) << ","
      << fmt(r.precision) << "," << fmt(r.recall);
    for (size_t k = 0; k < attr_names.size(); ++k) s << "," << (k < r.ratios.size() ? fmt(r.ratios[k]) : "");
    s << "," << r.nfe << "," << fmt(r.seconds);
    if (ci)
      s << "," << fmt(r.value_lo) << "," << fmt(r.value_hi) << "," << fmt(r.precision_lo) << "," << fmt(r.precision_hi)
        << "," << fmt(r.recall_lo) << "," << fmt(r.recall_hi);
    if (gains) s << "," << fmt(r.gain) << "," << fmt(r.gain_lo) << "," << fmt(r.gain_hi);
    if (effective) s << "," << fmt(r.nfe_effective);
    if (kid) {
      const auto number = [&](const char* key) {
        return r.extra.contains(key) && r.extra[key].is_number() ? fmt(r.extra[key].get<double>()) : std::string();
      };
      s << "," << number("kid") << "," << number("kid_std") << "," << number("kid_lo") << "," << number("kid_hi");
    }
    s << "\n";
  }
  return s.str();
}

Estimate SweepRow::value_estimate(double level) const {
  Estimate e;
  e.value = value, e.lo = value_lo, e.hi = value_hi, e.level = level;
  e.method = e.has_interval() ? "bootstrap-normal" : "";
  return e;
}

Estimate SweepRow::gain_estimate(const SweepRow& zero, double level) const {
  if (std::isfinite(gain_lo)) {  // the paired interval, where the samples allowed one
    Estimate d = Estimate::of(gain, gain_lo, gain_hi, "paired bootstrap");
    d.level = level;
    return d;
  }
  return difference(zero.value_estimate(level), value_estimate(level));  // > 0: this row is lower (better)
}

const SweepRow* SweepResult::surest_gain(const SweepRow& zero, const SweepRow* fallback,
                                         const std::function<bool(const SweepRow&)>& in_group) const {
  const SweepRow* best = fallback;
  double best_lo = -INFINITY;
  for (const auto& r : rows) {
    if (r.omega == 0.0 || !std::isfinite(r.value) || (in_group && !in_group(r))) continue;
    const Estimate g = r.gain_estimate(zero, ci_level);
    if (g.has_interval() && g.lo > best_lo) best = &r, best_lo = g.lo;
  }
  return best;
}

SweepResult::NamedRows SweepResult::named_rows(const std::function<bool(const SweepRow&)>& in_group) const {
  NamedRows n;
  const auto member = [&](const SweepRow& r) { return std::isfinite(r.value) && (!in_group || in_group(r)); };
  for (const auto& r : rows) {
    if (!member(r)) continue;
    if (r.omega == 0.0) {
      if (!n.zero) n.zero = &r;  // every ω = 0 row of a group samples the base alone from the same noise
    } else if (!n.lowest || r.value < n.lowest->value) {
      n.lowest = &r;
    }
  }
  n.named = n.zero ? surest_gain(*n.zero, n.lowest, member) : n.lowest;
  return n;
}

SweepResult::NamedRows SweepResult::named_rows_of(const SweepRow& row) const {
  return named_rows([&](const SweepRow& r) { return r.aux == row.aux && r.lo == row.lo && r.hi == row.hi; });
}

std::vector<std::string> SweepResult::verdicts() const {
  std::vector<std::string> out;
  // One verdict per group (auxiliary and interval), in the order of each group's first row.
  std::vector<const SweepRow*> groups;
  for (const auto& r : rows)
    if (std::none_of(groups.begin(), groups.end(), [&](const SweepRow* g) {
          return g->aux == r.aux && g->lo == r.lo && g->hi == r.hi;
        }))
      groups.push_back(&r);
  for (const SweepRow* first : groups) {
    const std::string& aux_label = first->aux;
    const std::pair<double, double> iv(first->lo, first->hi);
    const NamedRows n = named_rows_of(*first);
    const SweepRow *zero = n.zero, *lowest = n.lowest, *best = n.named;
    const std::string where = rows.size() > 1 && groups.size() > 1 ? " (aux " + aux_label + ", interval " + fmt(iv.first) +
                                                                         ":" + fmt(iv.second) + ")"
                                                                   : "";
    if (!zero || !best) {
      out.push_back("no verdict" + where + ": the sweep needs omega = 0 and another omega to compare");
      continue;
    }
    std::ostringstream at;
    at << std::setprecision(3) << "at omega = " << best->omega << where;
    std::string v = gain_verdict(metric, at.str(), zero->value_estimate(ci_level), best->value_estimate(ci_level),
                                 best->gain_estimate(*zero, ci_level), floor);
    if (best != lowest) {
      std::ostringstream why;
      why << std::setprecision(3) << "; omega = " << best->omega << " is named by the highest lower end of its "
          << "gain's interval (as sims tune chooses): the lowest value is at omega = " << lowest->omega
          << ", whose gain is less certain";
      v += why.str();
    }
    out.push_back(v);
  }
  return out;
}

nlohmann::json SweepResult::aux_differences() const {
  nlohmann::json out = nlohmann::json::array();
  if (rows.empty()) return out;
  const std::string first_aux = rows.front().aux;
  for (const auto& r : rows) {
    if (r.aux == first_aux || r.omega == 0.0 || r.replicates.empty() || !std::isfinite(r.value)) continue;
    const SweepRow* f = find_partner(rows, r, first_aux, r.omega);
    if (!f) continue;
    const Estimate d = paired_replicates(r.value - f->value, r.replicates, f->replicates, ci_level);
    std::ostringstream t;
    t << std::setprecision(4) << "aux " << r.aux << " against " << first_aux << " at omega = " << r.omega
      << (lo_hi_default(r.lo, r.hi) ? "" : ", interval " + fmt(r.lo) + ":" + fmt(r.hi)) << ": " << metric << " "
      << r.value << " vs " << f->value << ", difference " << d.text(3);
    if (d.has_interval())
      t << " (paired bootstrap, " << std::lround(100 * ci_level) << " %): "
        << (!significant(d) ? "no significant difference"
                            : d.value < 0 ? r.aux + " is lower (better)" : r.aux + " is higher (worse)");
    nlohmann::json j = {{"omega", r.omega}, {"interval", {num(r.lo), num(r.hi)}}, {"first", first_aux},
                        {"other", r.aux}, {metric + "_first", num(f->value)}, {metric + "_other", num(r.value)},
                        {"significant", d.has_interval() && significant(d)}, {"text", t.str()}};
    d.put(j, "difference");
    out.push_back(j);
  }
  return out;
}

namespace {

// The row's value recomputed on bootstrap resamples of its samples (points)
// or their features (images); precision and recall bootstrapped over the
// points they average (manifold_estimates).
void add_intervals(SweepRow& row, const at::Tensor& x, const SweepConfig& cfg,
                   const std::function<double(const at::Tensor&)>& value, const at::Tensor& real_for_pr) {
  const Estimate v = bootstrap(x.size(0), [&](const std::vector<int64_t>& idx) {
    return value(x.index_select(0, at::tensor(idx, at::kLong)));
  }, cfg.ci, cfg.ci_level, cfg.seed, BootstrapInterval::Normal, true, &row.replicates);  // a distance: cut at 0
  row.value_lo = v.lo, row.value_hi = v.hi;
  if (real_for_pr.defined() && real_for_pr.size(0) > cfg.pr_k && x.size(0) > cfg.pr_k) {
    const ManifoldEstimates m = manifold_estimates(point_scores(real_for_pr, x, cfg.pr_k), cfg.ci, cfg.ci_level, cfg.seed);
    row.precision_lo = m.precision.lo, row.precision_hi = m.precision.hi;
    row.recall_lo = m.recall.lo, row.recall_hi = m.recall.hi;
  }
}

// Images: FD of the features, precision/recall in feature space, KID beside
// FD (unbiased, so small sets do not inflate it), intervals, attribute shares.
void score_images(SweepRow& row, const at::Tensor& x, const SweepConfig& cfg, const SweepReference& ref,
                  FeatureNet& features, AttributeClassifier* classifier, const BatchOptions& bo,
                  const std::function<void(const std::string&)>& step) {
  step("features");
  const at::Tensor xc = x.clamp(-1, 1);
  const at::Tensor f = features.features(xc, bo);
  const auto fd = [&](const at::Tensor& fs) { return frechet_distance(stats_of_features(fs, "sample features"), ref.real_stats); };
  row.value = fd(f);
  const bool have_real = ref.real_features.defined();
  if (have_real && ref.real_features.size(0) > cfg.pr_k && f.size(0) > cfg.pr_k) {
    const auto pr = precision_recall(ref.real_features, f, cfg.pr_k);
    row.precision = pr.precision, row.recall = pr.recall;
  }
  if (have_real && cfg.kid_subsets > 0) {
    // With its interval (kid_scored: none below 20 samples, none with --ci 0).
    const KidScore k = kid_scored(ref.real_features, f, cfg.kid_subsets, cfg.seed, cfg.ci > 0);
    row.extra["kid"] = k.kid.mean;
    // Subsets all alike say nothing by their spread (none is written); with one set whole the other still varies.
    row.extra["kid_std"] = k.kid.subsets_alike ? nlohmann::json(nullptr) : nlohmann::json(k.kid.std);
    if (std::isfinite(k.lo)) row.extra["kid_lo"] = k.lo, row.extra["kid_hi"] = k.hi;
  }
  if (cfg.ci > 0) {
    step("intervals");
    add_intervals(row, f, cfg, fd, ref.real_features);
  }
  at::Tensor labels;
  if (classifier) {
    labels = classifier->predict(xc, bo);
    row.ratios = attribute_ratios(labels);
  }
  if (cfg.on_images) cfg.on_images(row, xc, f, labels);
}

// A point metric of samples (a subset of their rows) against the reference.
std::function<double(const std::vector<int64_t>&)> point_metric_of(const at::Tensor& x, const SweepReference& ref,
                                                                    const std::string& metric) {
  if (metric == "energy") {
    auto& c = ref.energy_self;
    if (c.data != ref.real_points.data_ptr() || c.rows != ref.real_points.size(0))
      c = {ref.real_points.data_ptr(), ref.real_points.size(0), EnergyDistance::self_term(ref.real_points)};
    auto e = std::make_shared<EnergyDistance>(x, ref.real_points, c.value);
    return [e](const std::vector<int64_t>& idx) { return (*e)(idx); };
  }
  return [x, real = ref.real_points](const std::vector<int64_t>& idx) {
    return wasserstein2(x.index_select(0, at::tensor(idx, at::kLong)), real);
  };
}

std::vector<int64_t> all_rows(int64_t n) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  return idx;
}

// Points: the judged metric (exact W2 or energy distance; W2 beside energy),
// precision/recall on the points, intervals.
void score_points(SweepRow& row, const at::Tensor& x, const SweepConfig& cfg, const SweepReference& ref,
                  const std::function<void(const std::string&)>& step) {
  const auto metric = point_metric_of(x, ref, cfg.point_metric);
  row.value = metric(all_rows(x.size(0)));
  // Energy takes a large reference cheaply; W2 beside it and precision/recall (k-NN balls of the real set,
  // quadratic) use as many real points as samples.
  const at::Tensor real = cfg.point_metric != "energy"
                              ? ref.real_points
                              : ref.real_points.narrow(0, 0, std::min(ref.real_points.size(0), std::max<int64_t>(x.size(0), 2)));
  if (cfg.point_metric == "energy" && x.size(0) <= 2000) row.extra["w2"] = wasserstein2(x, real);
  if (real.size(0) > cfg.pr_k && x.size(0) > cfg.pr_k) {
    const auto pr = precision_recall(real, x, cfg.pr_k);
    row.precision = pr.precision, row.recall = pr.recall;
  }
  if (cfg.ci > 0) {
    step("intervals");
    // Energy distance can be below 0 for a sample: only W2 is cut at 0.
    const Estimate v = bootstrap(x.size(0), metric, cfg.ci, cfg.ci_level, cfg.seed, BootstrapInterval::Normal,
                                 cfg.point_metric == "w2", &row.replicates);
    row.value_lo = v.lo, row.value_hi = v.hi;
    if (real.size(0) > cfg.pr_k && x.size(0) > cfg.pr_k) {
      const ManifoldEstimates m = manifold_estimates(point_scores(real, x, cfg.pr_k), cfg.ci, cfg.ci_level, cfg.seed);
      row.precision_lo = m.precision.lo, row.precision_hi = m.precision.hi;
      row.recall_lo = m.recall.lo, row.recall_hi = m.recall.hi;
    }
  }
}

// Real features and statistics from the real images, once.
void prepare_image_reference(SweepReference& ref, FeatureNet& features, const BatchOptions& bo) {
  if (ref.real_images.defined()) {
    if (!ref.real_features.defined()) ref.real_features = features.features(ref.real_images, bo);
    if (!ref.real_stats.mu.defined()) ref.real_stats = stats_of_features(ref.real_features, "real features");
  }
  if (!ref.real_stats.mu.defined()) throw InputError("sweep: no real statistics or real images to compare with");
}

}  // namespace

Estimate score_floor(const SweepConfig& cfg, SweepReference& ref, FeatureNet* features) {
  Estimate e;
  e.level = cfg.ci_level;
  if (!ref.floor_samples.defined()) return e;
  SweepConfig c = cfg;
  c.on_images = nullptr;
  SweepRow row;
  const auto step = [](const std::string&) {};
  const at::Tensor x = ref.floor_samples.to(at::kFloat);
  if (x.dim() == 4) {
    if (!features) throw InputError("sweep: image models need a feature network (--features)");
    const BatchOptions bo{cfg.batch, {}, nullptr};
    prepare_image_reference(ref, *features, bo);
    score_images(row, x, c, ref, *features, nullptr, bo, step);
  } else {
    score_points(row, x, c, ref, step);
  }
  return row.value_estimate(cfg.ci_level);
}

void add_paired_gains(SweepResult& res, const SweepConfig& cfg, const SweepReference& /*ref*/) {
  if (cfg.ci <= 0) return;
  // Replicate k of every row is the metric on the same resampled noise indices: the difference of two rows'
  // replicates is the paired bootstrap of their difference. All rows or none, on every call: a grid that mixed
  // paired and quadrature intervals (rows of an older folder; a face's grid that grows row by row, where a later
  // row could not be paired after earlier ones were) would favour the paired rows wherever it ranks gains.
  std::vector<std::pair<SweepRow*, Estimate>> gains;
  bool all_paired = true;
  for (auto& r : res.rows) {
    if (r.omega == 0.0 || !std::isfinite(r.value)) continue;  // no partner needed, or nothing to compare
    const SweepRow* zero = find_partner(res.rows, r, r.aux);
    const Estimate g = zero ? paired_replicates(zero->value - r.value, zero->replicates, r.replicates, cfg.ci_level)
                            : Estimate{};
    all_paired = all_paired && g.has_interval();
    gains.emplace_back(&r, g);
  }
  for (auto& [r, g] : gains) {
    if (!all_paired) g = Estimate{};  // NaN: gain_estimate adds the two half-widths in quadrature
    r->gain = g.value, r->gain_lo = g.lo, r->gain_hi = g.hi;
  }
}

SweepResult run_sweep(const DenoiserPtr& base, const std::vector<SweepAux>& aux, const SweepConfig& cfg,
                      SweepReference& ref, FeatureNet* features, AttributeClassifier* classifier,
                      const SweepProgress& progress, const std::atomic<bool>* cancel) {
  if (!base) throw InputError("sweep: no base model");
  if (aux.empty()) throw InputError("sweep: no auxiliary model");
  if (cfg.omegas.empty() || cfg.intervals.empty()) throw InputError("sweep: no omega values or intervals");
  if (cfg.n < 2) throw InputError("sweep: --n must be at least 2");
  cfg.sampler.validate();
  for (double w : cfg.omegas)
    if (!std::isfinite(w)) throw InputError("sweep: omega values must be finite");
  for (const auto& [lo, hi] : cfg.intervals) Guidance{1.0, lo, hi}.validate();

  const auto& shape = base->info().sample_shape;
  const bool images = shape.size() == 3;
  SweepResult res;
  const BatchOptions bo{cfg.batch, {}, cancel};
  if (images) {
    if (!features) throw InputError("sweep: image models need a feature network (--features)");
    res.metric = "fd";
    res.features = features->name();
    prepare_image_reference(ref, *features, bo);
    if (ref.real_stats.mu.size(0) != features->dim())
      throw InputError("sweep: the reference statistics have dimension " + std::to_string(ref.real_stats.mu.size(0)) +
                       " but the feature network '" + features->name() + "' gives " + std::to_string(features->dim()));
  } else {
    if (shape.size() != 1) throw InputError("sweep: models must sample points [D] or images [C,H,W]");
    if (cfg.point_metric != "w2" && cfg.point_metric != "energy")
      throw InputError("sweep: the point metric must be w2 or energy, not '" + cfg.point_metric + "'");
    res.metric = cfg.point_metric;
    if (!ref.real_points.defined() || ref.real_points.dim() != 2 || ref.real_points.size(1) != shape[0])
      throw InputError("sweep: real points [M," + std::to_string(shape[0]) + "] are needed for a " +
                       std::to_string(shape[0]) + "-D model");
    if (cfg.point_metric == "w2" && cfg.n * ref.real_points.size(0) > kMaxOtEntries)
      throw InputError("sweep: exact W2 of " + std::to_string(cfg.n) + " x " + std::to_string(ref.real_points.size(0)) +
                       " points is too large (n·m must be <= " + std::to_string(kMaxOtEntries) + ")");
  }
  if (classifier) res.attr_names = classifier->attr_names();
  if (cfg.ci < 0 || (cfg.ci > 0 && cfg.ci < 10)) throw InputError("sweep: --ci needs 0 (none) or at least 10 resamples");
  res.ci_level = cfg.ci_level;

  const at::Tensor noise = seeded_noise(cfg.n, shape, cfg.seed);
  const size_t total = aux.size() * cfg.intervals.size() * cfg.omegas.size();
  for (const auto& a : aux)
    for (const auto& [lo, hi] : cfg.intervals)
      for (double omega : cfg.omegas) {
        if (cancel && cancel->load()) throw Cancelled();
        const size_t idx = res.rows.size();
        std::ostringstream label;
        label << "omega " << omega << ", interval " << fmt(lo) << ":" << fmt(hi) << ", aux " << a.label;
        if (progress && !progress(idx, total, "sampling " + label.str())) throw Cancelled();
        const auto t0 = std::chrono::steady_clock::now();
        SweepRow row;
        row.omega = omega, row.lo = lo, row.hi = hi, row.aux = a.label, row.metric = res.metric;
        Guidance g{omega, lo, hi};
        EdmSampler sampler(base, omega != 0.0 ? a.model : nullptr, cfg.sampler, g);
        SampleOptions so;
        so.seed = cfg.seed;
        so.cancel = cancel;
        std::vector<at::Tensor> parts;
        const int64_t b = images ? std::max<int64_t>(1, cfg.batch) : cfg.n;
        for (int64_t i = 0; i < cfg.n; i += b) {
          SampleResult r = sampler.sample(noise.narrow(0, i, std::min(b, cfg.n - i)), so);
          row.nfe = r.nfe;
          row.nfe_effective = r.nfe_effective;
          parts.push_back(r.x.to(at::kCPU, at::kFloat));  // scored and kept on the CPU whatever the models' device
          if (progress && images && !progress(idx, total, "sampled " + std::to_string(std::min(cfg.n, i + b)) + "/" +
                                                              std::to_string(cfg.n) + " (" + label.str() + ")"))
            throw Cancelled();
        }
        at::Tensor x = at::cat(parts, 0);
        const auto step = [&](const std::string& what) {
          if (progress && !progress(idx, total, what + " (" + label.str() + ")")) throw Cancelled();
        };
        if (!at::isfinite(x).all().item<bool>()) {
          row.value = std::numeric_limits<double>::infinity();  // diverged: reported, not fatal
        } else if (images) {
          score_images(row, x, cfg, ref, *features, classifier, bo, step);
        } else {
          score_points(row, x, cfg, ref, step);
        }
        // Images: the first `keep` for figures; points: all (figures, the run folder).
        row.kept = x.narrow(0, 0, std::min<int64_t>(x.size(0), images ? cfg.keep : x.size(0))).clone();
        row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        res.rows.push_back(std::move(row));
        if (progress && !progress(idx + 1, total, "done " + label.str())) throw Cancelled();
      }
  return res;
}

}  // namespace sims::metrics
