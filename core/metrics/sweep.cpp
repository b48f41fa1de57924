#include "metrics/sweep.hpp"

#include <chrono>
#include <cmath>
#include <sstream>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "metrics/precision_recall.hpp"
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

}  // namespace

nlohmann::json SweepRow::to_json(const std::vector<std::string>& names) const {
  nlohmann::json j = {{"omega", omega}, {"interval", {num(lo), num(hi)}}, {"interval_text", fmt(lo) + ":" + fmt(hi)},
                      {"aux", aux}, {metric, num(value)}, {"precision", num(precision)},
                      {"recall", num(recall)}, {"nfe", nfe}, {"seconds", seconds}};
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
  return j;
}

std::string SweepResult::to_csv() const {
  std::ostringstream s;
  s << "omega,interval_lo,interval_hi,aux," << metric << ",precision,recall";
  for (const auto& a : attr_names) s << ",ratio_" << csv_quote(a);
  s << ",nfe,seconds\n";
  for (const auto& r : rows) {
    s << fmt(r.omega) << "," << fmt(r.lo) << "," << fmt(r.hi) << "," << csv_quote(r.aux) << "," << fmt(r.value) << ","
      << fmt(r.precision) << "," << fmt(r.recall);
    for (size_t k = 0; k < attr_names.size(); ++k) s << "," << (k < r.ratios.size() ? fmt(r.ratios[k]) : "");
    s << "," << r.nfe << "," << fmt(r.seconds) << "\n";
  }
  return s.str();
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
    if (ref.real_images.defined()) {
      if (!ref.real_features.defined()) ref.real_features = features->features(ref.real_images, bo);
      if (!ref.real_stats.mu.defined()) ref.real_stats = stats_of_features(ref.real_features, "real features");
    }
    if (!ref.real_stats.mu.defined()) throw InputError("sweep: no real statistics or real images to compare with");
    if (ref.real_stats.mu.size(0) != features->dim())
      throw InputError("sweep: the reference statistics have dimension " + std::to_string(ref.real_stats.mu.size(0)) +
                       " but the feature network '" + features->name() + "' gives " + std::to_string(features->dim()));
  } else {
    if (shape.size() != 1) throw InputError("sweep: models must sample points [D] or images [C,H,W]");
    res.metric = "w2";
    if (!ref.real_points.defined() || ref.real_points.dim() != 2 || ref.real_points.size(1) != shape[0])
      throw InputError("sweep: real points [M," + std::to_string(shape[0]) + "] are needed for a " +
                       std::to_string(shape[0]) + "-D model");
    if (cfg.n * ref.real_points.size(0) > kMaxOtEntries)
      throw InputError("sweep: exact W2 of " + std::to_string(cfg.n) + " x " + std::to_string(ref.real_points.size(0)) +
                       " points is too large (n·m must be <= " + std::to_string(kMaxOtEntries) + ")");
  }
  if (classifier) res.attr_names = classifier->attr_names();

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
          parts.push_back(r.x.to(at::kFloat));
          if (progress && images && !progress(idx, total, "sampled " + std::to_string(std::min(cfg.n, i + b)) + "/" +
                                                              std::to_string(cfg.n) + " (" + label.str() + ")"))
            throw Cancelled();
        }
        at::Tensor x = at::cat(parts, 0);
        if (!at::isfinite(x).all().item<bool>()) {
          row.value = std::numeric_limits<double>::infinity();  // diverged: reported, not fatal
        } else if (images) {
          if (progress && !progress(idx, total, "features (" + label.str() + ")")) throw Cancelled();
          const at::Tensor xc = x.clamp(-1, 1);
          at::Tensor f = features->features(xc, bo);
          row.value = frechet_distance(stats_of_features(f, "sample features"), ref.real_stats);
          if (ref.real_features.defined() && ref.real_features.size(0) > cfg.pr_k && f.size(0) > cfg.pr_k) {
            auto pr = precision_recall(ref.real_features, f, cfg.pr_k);
            row.precision = pr.precision, row.recall = pr.recall;
          }
          at::Tensor labels;
          if (classifier) {
            labels = classifier->predict(xc, bo);
            row.ratios = attribute_ratios(labels);
          }
          if (cfg.on_images) cfg.on_images(row, xc, f, labels);
        } else {
          row.value = wasserstein2(x, ref.real_points);
          if (ref.real_points.size(0) > cfg.pr_k && x.size(0) > cfg.pr_k) {
            auto pr = precision_recall(ref.real_points, x, cfg.pr_k);
            row.precision = pr.precision, row.recall = pr.recall;
          }
        }
        row.kept = x.narrow(0, 0, std::min<int64_t>(x.size(0), images ? cfg.keep : std::max<int64_t>(cfg.keep, 2000)))
                       .clone();
        row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        res.rows.push_back(std::move(row));
        if (progress && !progress(idx + 1, total, "done " + label.str())) throw Cancelled();
      }
  return res;
}

}  // namespace sims::metrics
