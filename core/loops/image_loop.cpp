#include "loops/image_loop.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <tuple>
#include <utility>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "common/paths.hpp"
#include "experiment/common_schemas.hpp"
#include "experiment/json_io.hpp"
#include "experiment/run_folder.hpp"
#include "data/faces.hpp"
#include "io/atomic_file.hpp"
#include "loops/loop_schemas.hpp"
#include "loops/loop_verdict.hpp"
#include "loops/run_caption.hpp"
#include "io/npy.hpp"
#include "metrics/frechet.hpp"
#include "metrics/kid.hpp"
#include "metrics/precision_recall.hpp"
#include "render/canvas.hpp"
#include "training/step_rules.hpp"
#include "training/synth.hpp"
#include "training/trainer.hpp"

namespace sims::loops {
namespace fs = std::filesystem;
using nlohmann::json;

// [SECTION] Settings --------------------------------------------------------------

std::string default_image_features() { return asset_path("models/faces-cnn.ckpt"); }

NetConfig default_image_net() {
  NetConfig n;
  n.type = "unet";
  n.channels = 3;
  n.resolution = 32;
  n.model_channels = 16;
  n.channel_mult = {1, 2, 2};
  n.num_blocks = 1;
  n.attn_resolutions = {8};
  n.dropout = 0.1;
  n.emb_freqs = 8;
  n.sigma_data = 0.5;
  return n;
}

ImageLoopConfig::ImageLoopConfig() { set_image_defaults(net, train, features); }

void set_image_defaults(NetConfig& net, TrainConfig& train, std::string& features) {
  net = default_image_net();
  train.batch = 64;
  train.lr = 1e-3;
  train.lr_rampup = 2000;
  features = default_image_features();
}

std::string unet_problem(const NetConfig& n, const std::string& who) {
  if (n.type != "unet") return who + " needs a U-Net (network type 'unet', e.g. assets/networks/unet32.json)";
  try {
    (void)NetConfig::from_json(n.to_json());  // the U-Net's own checks
  } catch (const InputError& e) {
    return e.what();
  }
  return std::string();
}

const experiment::Schema<ImageLoopConfig>& image_loop_schema() {
  using C = ImageLoopConfig;
  static const experiment::Schema<C> s = [] {
    experiment::Schema<C> s("image loop");
    s.constant("family", "images", "an image loop")
        .spec("data", &C::data, "--data", "the real images: faces[:ratio=R,size=S], mnist:PATH, cifar10:PATH, folder:DIR, npy:FILE")
        .derived("data_string", [](const C& c) { return json(c.data.to_string()); })
        .seed("data_seed", &C::data_seed, "--data-seed", "which built-in faces");
    add_loop_fields(s, "images");
    s.integer("n_aux", &C::n_aux, "--n-aux", "SIMS: images the auxiliary is fine-tuned on", 2, 10'000'000)
        .integer("base_images", &C::base_images, "--base-images", "base budget per generation in images seen", 0,
                 10'000'000'000LL)
        .real("base_epochs", &C::base_epochs, "--base-epochs", "base budget in epochs (instead of --base-images)", 0, 1e6)
        .integer("first_images", &C::first_images, "--first-images",
                 "generation 1's base budget (-1: as the others; 0: the --init model as it is)", -1, 10'000'000'000LL)
        .integer("aux_images", &C::aux_images, "--aux-images", "auxiliary budget in images seen", 0, 10'000'000'000LL)
        .real("aux_epochs", &C::aux_epochs, "--aux-epochs", "auxiliary budget in epochs (instead of --aux-images)", 0, 1e6)
        .choice("warm_start", &C::warm_start, "--warm-start", "where each generation's base starts",
                std::vector<std::pair<WarmStart, std::string>>{
                    {WarmStart::Scratch, "scratch"}, {WarmStart::Previous, "previous"}, {WarmStart::Previous, "finetune"}})
        .text("init", &C::init, "--init", "checkpoint the bases start from");
    add_image_model_fields(s, "the image loop", "generated images scored per generation");
    s.integer("save_images", &C::save_images, "--save-images", "samples saved per generation", 0, 100000)
        .free()
        .boolean("keep_models", &C::keep_models, "--keep-models", "keep each generation's models in models/")
        .free()
        .rule([](const C& c) {
          if (c.base_epochs <= 0 && c.base_images < 1) return std::string("--base-images must be at least 1 (or give --base-epochs)");
          if (c.aux_epochs <= 0 && c.aux_images < 1) return std::string("--aux-images must be at least 1 (or give --aux-epochs)");
          if (c.first_images == 0 && c.init.empty())
            return std::string("--first-images 0 means generation 1 is the --init model: give --init CKPT");
          return std::string();
        })
        .rule([](const C& c) {
          const auto shape = c.net.sample_shape();
          const double img = static_cast<double>(shape[0] * shape[1] * shape[2]) * 4;
          const double pool = static_cast<double>(c.accumulate ? c.n_synth * c.generations : c.n_synth);
          const double largest = std::max<double>({pool + c.n_real, static_cast<double>(c.n_aux), static_cast<double>(c.n_eval)});
          return largest * img < 16e9 ? std::string()
                                      : "the training set (pool + real) or --n-aux/--n-eval is too large for memory (" +
                                            std::to_string(static_cast<int64_t>(largest * img / 1e9)) + " GB)";
        });
    return s;
  }();
  return s;
}

json ImageLoopConfig::to_json() const { return image_loop_schema().to_json(*this); }

ImageLoopConfig ImageLoopConfig::from_json(const json& j) { return experiment::read_settings(image_loop_schema(), j); }

void validate(const ImageLoopConfig& c) {
  image_loop_schema().validate(c);
}

int64_t base_budget(const ImageLoopConfig& c, int64_t t, int64_t n_data) {
  if (t == 1 && c.first_images >= 0) return c.first_images;
  if (c.base_epochs > 0) return std::max<int64_t>(1, std::llround(c.base_epochs * static_cast<double>(n_data)));
  return c.base_images;
}

namespace {

int64_t aux_budget(const ImageLoopConfig& c) {
  if (c.aux_epochs > 0) return std::max<int64_t>(1, std::llround(c.aux_epochs * static_cast<double>(c.n_aux)));
  return c.aux_images;
}

// Fieller's interval for b / a, a and b independent estimates with symmetric intervals of half-widths ha and hb at one
// level: every r for which b - r a stays within the noise, (b - r a)^2 <= hb^2 + r^2 ha^2. It holds 1 exactly when
// b - a's interval with the half-widths in quadrature holds 0 (the drift verdict's test), which a log-scale
// interval need not (generation 1 at 3139 ± 1363, generation 2 at 1898 ± 374: log scale [0.38, 0.97] beside a
// change of -1241 ± 1413). NaN ends where a's interval reaches 0 (the set is then unbounded); the lower end no
// lower than 0 for distances (b's interval cut at 0 can reach below it; whether 1 is inside does not change).
std::pair<double, double> fieller_ratio(double a, double ha, double b, double hb) {
  const double den = a * a - ha * ha;
  const double disc = a * a * hb * hb + b * b * ha * ha - ha * ha * hb * hb;  // hb^2 den + b^2 ha^2 >= 0 when den > 0
  if (!(den > 0) || !std::isfinite(disc) || !std::isfinite(b)) return {NAN, NAN};
  const double s = std::sqrt(std::max(0.0, disc));
  const double lo = (a * b - s) / den;
  return {a >= 0 && b >= 0 ? std::max(0.0, lo) : lo, (a * b + s) / den};
}

// For people and plots: non-finite as null.
json out(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
json out(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(out(x));
  return a;
}

}  // namespace

metrics::Estimate ImageScore::fd_estimate() const {
  metrics::Estimate e = metrics::Estimate::of(fd, fd_lo, fd_hi);
  if (e.has_interval()) e.method = "bootstrap-normal";
  return e;
}

void ImageScore::put_uncertainty(json& j) const {
  j["fd_lo"] = experiment::setting_number(fd_lo), j["fd_hi"] = experiment::setting_number(fd_hi);
  j["kid"] = experiment::setting_number(kid), j["kid_std"] = experiment::setting_number(kid_std);
  j["kid_lo"] = experiment::setting_number(kid_lo), j["kid_hi"] = experiment::setting_number(kid_hi);
  j["precision_lo"] = experiment::setting_number(precision_lo), j["precision_hi"] = experiment::setting_number(precision_hi);
  j["recall_lo"] = experiment::setting_number(recall_lo), j["recall_hi"] = experiment::setting_number(recall_hi);
  json reps = json::array();
  for (double v : fd_replicates) reps.push_back(experiment::setting_number(v));
  j["fd_replicates"] = reps;
  j["fd_n"] = fd_n;
}

void ImageScore::get_uncertainty(const json& j) {
  const auto get = [&](const char* k) { return j.contains(k) ? experiment::read_number(j.at(k), k) : NAN; };
  fd_lo = get("fd_lo"), fd_hi = get("fd_hi"), kid = get("kid"), kid_std = get("kid_std");
  kid_lo = get("kid_lo"), kid_hi = get("kid_hi");
  precision_lo = get("precision_lo"), precision_hi = get("precision_hi");
  recall_lo = get("recall_lo"), recall_hi = get("recall_hi");
  fd_replicates.clear();
  fd_n = 0;
  if (!j.contains("fd_replicates")) return;  // an older folder's score: its differences in quadrature
  fd_n = count_or(j, "fd_n", 0);
  fd_replicates = experiment::read_numbers(j.at("fd_replicates"), "fd_replicates");
}

metrics::Estimate fd_change(const ImageScore& from, const ImageScore& to) {
  // Resample k draws the same indices only for as many images; without the count (fd_n = 0), no pairing.
  return metrics::replicate_change(from.fd_estimate(), to.fd_estimate(), from.fd_replicates, to.fd_replicates,
                                   from.fd_n, to.fd_n);
}

std::string fd_change_method(bool paired) {
  return paired ? "differences: paired bootstrap (both scores on the same resampled sample indices)"
                : "differences: half-widths in quadrature where a score could not be paired (scores of an older "
                  "version, a diverged score or one of too few samples)";
}

void ImageScoreSeries::push_score(const ImageScore& s) {
  fd.push_back(s.fd), fd_lo.push_back(s.fd_lo), fd_hi.push_back(s.fd_hi), kid.push_back(s.kid), kid_std.push_back(s.kid_std);
  kid_lo.push_back(s.kid_lo), kid_hi.push_back(s.kid_hi);
  precision.push_back(s.precision), precision_lo.push_back(s.precision_lo), precision_hi.push_back(s.precision_hi);
  recall.push_back(s.recall), recall_lo.push_back(s.recall_lo), recall_hi.push_back(s.recall_hi);
  fd_replicates.push_back(s.fd_replicates);
  fd_n.push_back(s.fd_n);
}

ImageScore ImageScoreSeries::fd_score(size_t i) const {
  ImageScore sc;
  sc.fd = fd.at(i), sc.fd_lo = i < fd_lo.size() ? fd_lo[i] : NAN, sc.fd_hi = i < fd_hi.size() ? fd_hi[i] : NAN;
  if (i < fd_replicates.size()) sc.fd_replicates = fd_replicates[i];
  if (i < fd_n.size()) sc.fd_n = fd_n[i];
  return sc;
}

void ImageScoreSeries::put_arrays(json& j) const {
  j["fd"] = out(fd), j["fd_lo"] = out(fd_lo), j["fd_hi"] = out(fd_hi), j["kid"] = out(kid), j["kid_std"] = out(kid_std);
  j["kid_lo"] = out(kid_lo), j["kid_hi"] = out(kid_hi);
  j["precision"] = out(precision), j["precision_lo"] = out(precision_lo), j["precision_hi"] = out(precision_hi);
  j["recall"] = out(recall), j["recall_lo"] = out(recall_lo), j["recall_hi"] = out(recall_hi);
}

std::string ImageLoopResult::verdict() const {
  if (fd.empty()) return {};
  // In quadrature, not paired: each generation samples from its own noise, so sample i of two generations have
  // nothing in common and the same resampled indices would only add noise to the interval.
  const size_t last = fd.size() - 1;
  const ImageScore first = fd_score(0), now = fd_score(last);
  const metrics::Estimate ratio_ci = last < ratio_lo.size() && last < ratio_hi.size()
                                         ? metrics::Estimate::of(ratio[last], ratio_lo[last], ratio_hi[last])
                                         : metrics::Estimate();
  return drift_verdict(metric, last + 1, first.fd_estimate(), now.fd_estimate(),
                       metrics::difference(now.fd_estimate(), first.fd_estimate()),
                       "95 % bootstrap intervals over the scored samples, half-widths in quadrature", ratio_ci);
}

void ImageLoopResult::set_ratios() {
  ratio.clear(), ratio_lo.clear(), ratio_hi.clear();
  for (size_t g = 0; g < fd.size(); ++g) {
    ratio.push_back(fd[g] / fd[0]);
    // Generation 1: 1 by definition; later ones Fieller's interval from the two FD intervals' half-widths.
    const auto [lo, hi] = g == 0 ? std::make_pair(1.0, 1.0)
                                 : fieller_ratio(fd[0], (fd_hi[0] - fd_lo[0]) / 2, fd[g], (fd_hi[g] - fd_lo[g]) / 2);
    ratio_lo.push_back(lo), ratio_hi.push_back(hi);
  }
}

metrics::Estimate real_share(const std::vector<double>& real_ratio, int64_t n_real, size_t k) {
  const double r = k < real_ratio.size() ? real_ratio[k] : NAN;
  return n_real > 0 && std::isfinite(r) ? metrics::share_interval(r, n_real) : metrics::Estimate::of(r, NAN, NAN);
}

void put_real_shares(json& j, const std::vector<double>& real_ratio, int64_t n_real) {
  json v = json::array(), lo = json::array(), hi = json::array();
  for (size_t k = 0; k < real_ratio.size(); ++k) {
    const metrics::Estimate e = real_share(real_ratio, n_real, k);
    v.push_back(out(e.value)), lo.push_back(out(e.lo)), hi.push_back(out(e.hi));
  }
  j["real_ratio"] = v, j["real_ratio_lo"] = lo, j["real_ratio_hi"] = hi;
  if (n_real > 0) j["n_real_images"] = n_real;
}

metrics::Estimate ImageLoopResult::share(size_t g, size_t k) const {
  const double v = g < attr_ratio.size() && k < attr_ratio[g].size() ? attr_ratio[g][k] : NAN;
  // The images scored: as the record says, else (an older record, or fewer than 3 images) as the settings say.
  const int64_t n = g < fd_n.size() && fd_n[g] > 0 ? fd_n[g] : n_scored;
  return n > 0 && std::isfinite(v) ? metrics::share_interval(v, n) : metrics::Estimate::of(v, NAN, NAN);
}

json ImageLoopResult::to_json() const {
  json j = {{"metric", metric},          {"features", features},         {"ratio", out(ratio)},
            {"ratio_lo", out(ratio_lo)},   {"ratio_hi", out(ratio_hi)},   {"train_images", train_images},
            {"seconds", seconds}};
  put_arrays(j);
  if (!fd_base.empty()) j["fd_base"] = out(fd_base), j["fd_base_lo"] = out(fd_base_lo), j["fd_base_hi"] = out(fd_base_hi);
  j["ci"] = {{"method", "normal bootstrap over the scored samples (100 resamples)"},
             {"precision_recall", "percentile bootstrap over the generated (precision) or real (recall) points, "
                                  "k-NN balls held fixed (100 resamples)"},
             {"kid", metrics::kKidIntervalMethod},
             {"attr_ratio", "Wilson score interval over the scored samples"},
             {"level", 0.95}};
  j["ratio_ci"] = {{"method", "Fieller's interval from the two FD intervals' half-widths: it holds 1 exactly when the "
                              "verdict's change holds 0 (none where generation 1's interval reaches 0; generation 1: [1, 1], by definition)"},
                   {"level", 0.95}};
  if (!fd.empty()) j["verdict"] = verdict();
  if (!attr_names.empty()) {
    j["attr_names"] = attr_names;
    put_real_shares(j, real_ratio, n_real);
    json per = json::object(), per_lo = json::object(), per_hi = json::object();
    for (size_t k = 0; k < attr_names.size(); ++k) {
      std::vector<double> v, lo, hi;
      for (size_t g = 0; g < attr_ratio.size(); ++g) {
        const metrics::Estimate e = share(g, k);
        v.push_back(e.value), lo.push_back(e.lo), hi.push_back(e.hi);
      }
      per[attr_names[k]] = out(v), per_lo[attr_names[k]] = out(lo), per_hi[attr_names[k]] = out(hi);
    }
    j["attr_ratio"] = per, j["attr_ratio_lo"] = per_lo, j["attr_ratio_hi"] = per_hi;
  }
  return j;
}

// [SECTION] Building blocks -------------------------------------------------------

namespace {
// Built-in faces of the reference set start here: far beyond any training
// index (generation t of a fresh loop uses faces (t-1) n_real .. t n_real - 1).
constexpr int64_t kReferenceFirstFace = 1'000'000'000'000LL;
}  // namespace

at::Tensor real_images(const data::ImageDatasetSpec& spec, int64_t first, int64_t n, uint64_t data_seed) {
  if (spec.kind == "faces") return data::render_faces(spec.faces, first, n, data_seed).images;
  data::ImageBatch b = data::load_images(spec, first + n, data_seed);
  if (b.size() < first + n)
    throw InputError("the data set '" + spec.to_string() + "' holds " + std::to_string(b.size()) + " images; " +
                     std::to_string(first + n) + " are needed (images " + std::to_string(first) + ".." +
                     std::to_string(first + n - 1) + ")");
  return b.images.narrow(0, first, n).contiguous();
}

at::Tensor image_reference(const data::ImageDatasetSpec& spec, int64_t n, uint64_t data_seed) {
  if (spec.kind == "faces") return data::render_faces(spec.faces, kReferenceFirstFace, n, data_seed).images;
  return real_images(spec, 0, n, data_seed);
}

void check_image_shape(const at::Tensor& x, const std::vector<int64_t>& shape, const data::ImageDatasetSpec& data) {
  std::vector<int64_t> s(x.sizes().begin() + 1, x.sizes().end());
  if (s != shape)
    throw InputError("the images of '" + data.to_string() + "' are " + shape_to_string(s) + " but the network models " +
                     shape_to_string(shape) + " (set the network's channels/resolution to match)");
}

std::unique_ptr<ImageScorer> make_image_scorer(const std::string& features_spec, const std::string& classifier_spec,
                                               metrics::FeatureNetPtr features, metrics::ClassifierPtr classifier,
                                               const data::ImageDatasetSpec& data, int64_t n_ref, uint64_t data_seed,
                                               int64_t pr_k, const std::vector<int64_t>& shape,
                                               const std::atomic<bool>* cancel) {
  resolve_scoring_nets(features_spec, classifier_spec, features, classifier);
  const at::Tensor reference = image_reference(data, n_ref, data_seed);
  check_image_shape(reference, shape, data);
  return std::make_unique<ImageScorer>(features, classifier, reference, pr_k, cancel);
}

void resolve_scoring_nets(const std::string& features_spec, const std::string& classifier_spec,
                          metrics::FeatureNetPtr& features, metrics::ClassifierPtr& classifier) {
  if (!features) {
    if (features_spec.empty()) throw InputError("no feature network for FD (--features)");
    features = metrics::load_feature_net(features_spec);
  }
  if (!classifier && classifier_spec != "none") {
    if (classifier_spec.empty())
      classifier = std::dynamic_pointer_cast<metrics::AttributeClassifier>(features);
    else
      classifier = metrics::load_classifier(classifier_spec);
  }
  if (classifier_spec == "none") classifier = nullptr;
}

ImageScorer::ImageScorer(metrics::FeatureNetPtr features, metrics::ClassifierPtr classifier, const at::Tensor& reference,
                         int64_t pr_k, const std::atomic<bool>* cancel)
    : features_(std::move(features)), classifier_(std::move(classifier)), pr_k_(pr_k), cancel_(cancel) {
  if (!features_) throw InputError("no feature network for FD");
  const metrics::BatchOptions bo{256, {}, cancel_};
  const at::Tensor ref = reference.to(at::kFloat).clamp(-1, 1);
  ref_features_ = features_->features(ref, bo);
  ref_stats_ = metrics::stats_of_features(ref_features_, "real reference features");
  if (classifier_) {
    attr_names_ = classifier_->attr_names();
    real_ratio_ = metrics::attribute_ratios(classifier_->predict(ref, bo));
  }
}

ImageScore ImageScorer::score(const at::Tensor& images) const {
  ImageScore s;
  at::Tensor x = images.to(at::kCPU, at::kFloat);
  if (!at::isfinite(x).all().item<bool>()) {  // diverged: reported, not fatal
    s.fd = INFINITY;
    s.ratio.assign(attr_names_.size(), NAN);
    return s;
  }
  x = x.clamp(-1, 1);
  const metrics::BatchOptions bo{256, {}, cancel_};
  const at::Tensor f = features_->features(x, bo);
  const auto fd_of = [&](const at::Tensor& fs) {
    return metrics::frechet_distance(metrics::stats_of_features(fs, "sample features"), ref_stats_);
  };
  s.fd = fd_of(f);
  if (f.size(0) >= 3) {
    // bootstrap_distance's interval, with the replicates kept (seed 0: every score of as many images pairs).
    const metrics::Estimate e = metrics::bootstrap(f.size(0), [&](const std::vector<int64_t>& idx) {
      return fd_of(f.index_select(0, at::tensor(idx, at::kLong)));
    }, 100, 0.95, 0, metrics::BootstrapInterval::Normal, true, &s.fd_replicates);
    s.fd_lo = e.lo, s.fd_hi = e.hi;
    s.fd_n = f.size(0);
  }
  if (ref_features_.size(0) >= 2 && f.size(0) >= 2) {
    const metrics::KidScore k = metrics::kid_scored(ref_features_, f, kScoreKidSubsets, 0);
    s.kid = k.kid.mean;
    s.kid_std = k.kid.subsets_alike ? std::numeric_limits<double>::quiet_NaN() : k.kid.std;  // alike: no spread (NaN: none)
    s.kid_lo = k.lo, s.kid_hi = k.hi;
  }
  if (ref_features_.size(0) > pr_k_ && f.size(0) > pr_k_) {
    const metrics::ManifoldEstimates m =
        metrics::manifold_estimates(metrics::point_scores(ref_features_, f, pr_k_), 100, 0.95, 0);
    s.precision = m.precision.value, s.precision_lo = m.precision.lo, s.precision_hi = m.precision.hi;
    s.recall = m.recall.value, s.recall_lo = m.recall.lo, s.recall_hi = m.recall.hi;
  }
  if (classifier_) s.ratio = metrics::attribute_ratios(classifier_->predict(x, bo));
  return s;
}

void train_stage(TrainState& st, const at::Tensor& data, uint64_t dropout_seed, const std::string& path,
                 c10::Device device, const std::atomic<bool>* cancel,
                 const std::function<void(int64_t, int64_t)>& progress) {
  // Dropout draws from the global generator: seed it so the stage is repeatable.
  torch::manual_seed(dropout_seed);
  TrainOptions o;
  o.device = device;
  o.cancel = cancel;
  if (progress) o.on_progress = [&](const TrainEvent& e) { progress(e.images_seen, e.budget); };
  if (train(st, data, o) == TrainOutcome::Cancelled) throw Cancelled();
  save_checkpoint(path, st);
}

at::Tensor sample_stage(const std::string& base_ckpt, const std::string& aux_ckpt, int64_t n, uint64_t seed,
                        const SamplerConfig& sampler, const Guidance& guidance, int64_t chunk,
                        const std::string& out_npy, c10::Device device, const std::atomic<bool>* cancel,
                        const std::function<void(int64_t, int64_t)>& progress, bool clamp) {
  if (!fs::exists(out_npy)) {
    LoadOptions lo;
    lo.device = device;
    DenoiserPtr base = NetworkDenoiser::from_checkpoint(base_ckpt, lo);
    DenoiserPtr aux;
    if (guidance.omega != 0.0) {
      if (aux_ckpt.empty()) throw InputError("guided sampling needs an auxiliary model");
      aux = NetworkDenoiser::from_checkpoint(aux_ckpt, lo);
    }
    SynthConfig sc;
    sc.n = n;
    sc.chunk = chunk;
    sc.seed = seed;
    sc.sampler = sampler;
    sc.guidance = guidance;
    const SynthResult r = generate_synthetic_set(base, aux, sc, out_npy, cancel, [&](int64_t d, int64_t t, double) {
      if (progress) progress(d, t);
    });
    if (r.cancelled) throw Cancelled();
  }
  at::Tensor x = io::read_npy(out_npy).to(at::kFloat);
  if (x.dim() < 1 || x.size(0) != n)
    throw InputError("'" + out_npy + "' holds " + std::to_string(x.dim() ? x.size(0) : 0) + " samples, expected " +
                     std::to_string(n) + " (remove it to sample again)");
  return clamp ? x.clamp(-1, 1) : x;
}

void write_grid_png(render::GridFigure fig, const std::string& path, const std::string& caption) {
  render::Canvas c = render::compose_grid(fig);
  int ch = 0;  // compose_grid's title size follows the cell height
  for (const auto& row : fig.cells)
    for (const auto& cell : row) ch = std::max(ch, cell.height());
  const float title_px = std::clamp(ch / 7.0f, 13.0f, 22.0f) * 1.25f;
  if (!fig.title.empty() && render::Canvas::text_width(fig.title, title_px, true) + 16 > c.width()) {
    fig.title.clear();
    c = render::compose_grid(fig);
  }
  render::with_caption(c, caption).write_png(path);
}

// [SECTION] The loop --------------------------------------------------------------

namespace {

enum Role : uint64_t {
  kInit = 1, kTrain = 2, kDropout = 3, kSNoise = 4, kAuxTrain = 5, kAuxDropout = 6, kOut = 7
};

uint64_t role_seed(uint64_t seed, int64_t gen, Role role) {
  return mix_seed(mix_seed(seed, static_cast<uint64_t>(gen)), role);
}

std::string gen_name(const char* pattern, int64_t t) {
  char buf[96];
  std::snprintf(buf, sizeof buf, pattern, static_cast<long long>(t));
  return buf;
}

std::string generation_stage(int64_t t) { return gen_name("generation-%04lld", t); }

void finish(ImageLoopResult& r) { r.set_ratios(); }

std::string fmt(double v) {
  if (std::isnan(v)) return "";
  std::ostringstream s;
  s << std::setprecision(10) << v;
  return s.str();
}

void write_metrics(const std::string& dir, const ImageLoopConfig& cfg, const ImageLoopResult& r) {
  json j = cfg.to_json();
  j.update(r.to_json());
  experiment::write_json_file(dir + "/metrics.json", j);
  std::ostringstream csv;
  csv << "generation," << r.metric << "," << r.metric << "_lo," << r.metric << "_hi,kid,kid_std,ratio,precision,recall";
  for (const auto& a : r.attr_names) csv << ",ratio_" << a;
  if (!r.fd_base.empty()) csv << "," << r.metric << "_base";
  csv << ",train_images,seconds,precision_lo,precision_hi,recall_lo,recall_hi,kid_lo,kid_hi,ratio_lo,ratio_hi";
  for (const auto& a : r.attr_names) csv << ",ratio_" << a << "_lo,ratio_" << a << "_hi";
  csv << "\n";
  for (size_t g = 0; g < r.fd.size(); ++g) {
    csv << g + 1 << "," << fmt(r.fd[g]) << "," << fmt(r.fd_lo[g]) << "," << fmt(r.fd_hi[g]) << "," << fmt(r.kid[g])
        << "," << fmt(r.kid_std[g]) << "," << fmt(r.ratio[g]) << "," << fmt(r.precision[g]) << ","
        << fmt(r.recall[g]);
    for (size_t k = 0; k < r.attr_names.size(); ++k)
      csv << "," << (k < r.attr_ratio[g].size() ? fmt(r.attr_ratio[g][k]) : "");
    if (!r.fd_base.empty()) csv << "," << fmt(r.fd_base[g]);
    csv << "," << fmt(r.train_images[g]) << "," << fmt(r.seconds[g]) << "," << fmt(r.precision_lo[g]) << ","
        << fmt(r.precision_hi[g]) << "," << fmt(r.recall_lo[g]) << "," << fmt(r.recall_hi[g]) << ","
        << fmt(r.kid_lo[g]) << "," << fmt(r.kid_hi[g]) << "," << fmt(r.ratio_lo[g]) << "," << fmt(r.ratio_hi[g]);
    for (size_t k = 0; k < r.attr_names.size(); ++k) {
      const metrics::Estimate e = r.share(g, k);
      csv << "," << fmt(e.lo) << "," << fmt(e.hi);
    }
    csv << "\n";
  }
  experiment::write_text_file(dir + "/metrics.csv", csv.str());
}

// samples/overview.png: the first 8 saved samples of every finished
// generation, one row each (what the loop does to the images at a glance).
void write_overview(const std::string& dir, int64_t generations, int zoom, const std::string& caption) {
  render::GridFigure fig;
  fig.title = "First samples of each generation";
  fig.y_title = "generation";
  for (int64_t t = 1; t <= generations; ++t) {
    const std::string f = dir + "/" + gen_name("samples/gen-%04lld.npy", t);
    if (!fs::exists(f)) continue;
    const at::Tensor x = io::read_npy(f).to(at::kFloat);
    const at::Tensor row = x.narrow(0, 0, std::min<int64_t>(8, x.size(0))).clamp(-1, 1);
    // Rows of a different length (--save-images changed) are left out.
    if (!fig.cells.empty() && static_cast<size_t>(row.size(0)) != fig.cells.back().size()) continue;
    std::vector<render::Canvas> cells;
    for (int64_t i = 0; i < row.size(0); ++i) cells.push_back(render::image_to_canvas(row[i], zoom));
    fig.cells.push_back(std::move(cells));
    fig.y_labels.push_back(std::to_string(t));
  }
  if (!fig.cells.empty()) write_grid_png(fig, dir + "/samples/overview.png", caption);
}

void remove_quietly(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}

void copy_atomically(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::copy_file(from, to + ".tmp", fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::rename(to + ".tmp", to, ec);
  if (ec) throw IoError("cannot copy '" + from + "' to '" + to + "': " + ec.message());
}

// The loop's input files by content (a file replaced under its name is another input, as `sims sweep` and `sims
// train` tell them apart): the init checkpoint, the data's array and labels, the feature network and the classifier,
// where they name files. Kept in run.json under "inputs"; a folder of an older version, without it, counts as
// holding these.
json input_contents(const ImageLoopConfig& c) {
  json j = json::object();
  const auto add = [&](const char* key, const std::string& path) {
    std::error_code ec;
    if (!path.empty() && std::filesystem::is_regular_file(path, ec)) j[key] = experiment::file_fingerprint(path);
  };
  add("init", c.init);
  add("data", c.data.path);
  add("data_labels", c.data.labels);
  add("features", c.features);
  add("classifier", c.classifier);
  return j;
}

json settings_with_inputs(const ImageLoopConfig& c, const json& inputs) {
  json s = c.to_json();
  s["inputs"] = inputs;
  return s;
}

// One call of the loop: the run folder, the scoring networks and the state
// carried from one generation to the next.
class ImageLoopRun {
 public:
  ImageLoopRun(const ImageLoopConfig& cfg, const ImageLoopRunOptions& run)
      : ImageLoopRun(cfg, run, input_contents(cfg)) {}
  // `inputs`: input_contents(cfg), read once (a data array can be large).
  ImageLoopRun(const ImageLoopConfig& cfg, const ImageLoopRunOptions& run, const json& inputs)
      : cfg_(cfg),
        run_(run),
        rf_(run.out_dir, "loop", settings_with_inputs(cfg, inputs), image_loop_schema().free_keys(),
            json{{"inputs", inputs}}),
        report_(run.on_progress),
        shape_(cfg.net.sample_shape()) {}

  ImageLoopResult run() {
    const int64_t done = restore();
    report_.set_start_fraction(static_cast<double>(done) / cfg_.generations);
    prepare(done);
    for (int64_t t = done + 1; t <= cfg_.generations; ++t) generation(t);
    finish(res_);
    write_metrics(rf_.dir(), cfg_, res_);
    return res_;
  }

 private:
  void progress(int64_t t, const std::string& phase, double frac, const std::string& msg) {
    report_("generation " + std::to_string(t) + "/" + std::to_string(cfg_.generations) + ": " + phase,
            (t - 1) * 1000 + std::llround(1000 * std::clamp(frac, 0.0, 1.0)), cfg_.generations * 1000, msg);
  }
  void check_shape(const at::Tensor& x) const { check_image_shape(x, shape_, cfg_.data); }
  int64_t restore();
  void prepare(int64_t done);
  at::Tensor training_data(int64_t t, int64_t& n_real_t, int64_t& n_pool_t) const;
  void train_base(int64_t t, const std::string& gdir, const at::Tensor& data, int64_t budget, int64_t n_real_t,
                  int64_t n_pool_t);
  std::string train_aux(int64_t t, const std::string& gdir, metrics::Estimate& fd_base);
  void generation(int64_t t);
  void commit(int64_t t, const std::string& gdir, const at::Tensor& x, const ImageScore& sc,
              const metrics::Estimate& fd_base, int64_t budget, double gsec);

  const ImageLoopConfig& cfg_;
  const ImageLoopRunOptions& run_;
  experiment::RunFolder rf_;
  experiment::Reporter report_;
  std::vector<int64_t> shape_;
  std::unique_ptr<ImageScorer> scorer_;
  TrainState init_;
  at::Tensor d_r_, pool_;
  std::string pool_file_, prev_base_file_;
  ImageLoopResult res_;
};

// Finished generations 1..min(done, G) from their done-markers.
int64_t ImageLoopRun::restore() {
  int64_t done = 0;
  while (done < cfg_.generations && rf_.done(generation_stage(done + 1), {{"generation", done + 1}})) {
    const json r = rf_.result(generation_stage(done + 1));
    try {
      auto num = [&](const char* k) { return experiment::read_number(r.at(k), k); };
      ImageScore u;
      u.get_uncertainty(r);
      u.fd = num("fd"), u.precision = num("precision"), u.recall = num("recall");
      res_.push_score(u);
      if (r.contains("fd_base")) {
        res_.fd_base.push_back(num("fd_base"));
        // A record of an older version has the base's FD without its interval.
        res_.fd_base_lo.push_back(r.contains("fd_base_lo") ? num("fd_base_lo") : NAN);
        res_.fd_base_hi.push_back(r.contains("fd_base_hi") ? num("fd_base_hi") : NAN);
      }
      res_.train_images.push_back(num("train_images"));
      res_.seconds.push_back(num("seconds"));
      std::vector<double> ar;
      for (const auto& x : r.at("attr_ratio")) ar.push_back(experiment::read_number(x, "attr_ratio"));
      res_.attr_ratio.push_back(ar);
      pool_file_ = r.at("pool").get<std::string>();
      prev_base_file_ = r.value("previous_base", std::string());
    } catch (const json::exception&) {
      throw InputError("'" + rf_.dir() + "': the record of generation " + std::to_string(done + 1) + " is damaged");
    } catch (const InputError& e) {
      throw InputError("'" + rf_.dir() + "': the record of generation " + std::to_string(done + 1) +
                       " is damaged: " + e.what());
    }
    // Stage files of a committed generation are stale (a crash between the commit and the clean-up).
    remove_quietly(rf_.dir() + "/" + gen_name("state/gen-%04lld", done + 1));
    ++done;
  }
  res_.resumed_from = static_cast<int>(done);
  res_.n_scored = cfg_.n_eval;
  return done;
}

// The scoring networks and reference, the --init model, D_r and the pool to continue from.
void ImageLoopRun::prepare(int64_t done) {
  const std::string loading = "loading the feature network and the real reference images";
  if (done < cfg_.generations) {
    progress(done + 1, "load", 0, loading);
  } else {  // every generation done (a resume to read the result): no "generation G+1/G"
    const int64_t g = cfg_.generations;
    report_("all " + std::to_string(g) + " generations done: load", g * 1000, g * 1000, loading);
  }
  scorer_ = make_image_scorer(cfg_.features, cfg_.classifier, run_.features, run_.classifier, cfg_.data,
                              cfg_.n_ref > 0 ? cfg_.n_ref : cfg_.n_eval, cfg_.data_seed, cfg_.pr_k, shape_, run_.cancel);
  set_score_names(res_, *scorer_);
  if (!cfg_.init.empty()) {
    init_ = load_checkpoint(cfg_.init);
    if (init_.net.to_json() != cfg_.net.to_json())
      throw InputError("--init '" + cfg_.init + "' is a network " + init_.net.to_json().dump() +
                       ", not the configured one " + cfg_.net.to_json().dump());
  }
  const int64_t G = cfg_.generations;
  if (done < G && (done == 0 || cfg_.kind == LoopKind::Augment)) {
    d_r_ = real_images(cfg_.data, 0, cfg_.n_real, cfg_.data_seed);
    check_shape(d_r_);
  }
  if (done >= 1 && done < G) {
    pool_ = io::read_npy(rf_.dir() + "/" + pool_file_).to(at::kFloat);
    if (pool_.dim() != 4 || std::vector<int64_t>(pool_.sizes().begin() + 1, pool_.sizes().end()) != shape_)
      throw InputError("'" + rf_.dir() + "/" + pool_file_ + "': the stored synthetic pool does not match the configuration");
  }
}

// D^t: the real part (D_r or fresh images) and the synthetic pool.
at::Tensor ImageLoopRun::training_data(int64_t t, int64_t& n_real_t, int64_t& n_pool_t) const {
  std::vector<at::Tensor> parts;
  n_real_t = n_pool_t = 0;
  if (t == 1 || cfg_.kind == LoopKind::Augment) {
    parts.push_back(d_r_);
    n_real_t = cfg_.n_real;
  } else if (cfg_.kind == LoopKind::Fresh) {
    at::Tensor fresh = real_images(cfg_.data, (t - 1) * cfg_.n_real, cfg_.n_real, cfg_.data_seed);
    check_shape(fresh);
    parts.push_back(fresh);
    n_real_t = cfg_.n_real;
  }
  if (t > 1 && pool_.defined() && pool_.size(0) > 0) {
    parts.push_back(pool_);
    n_pool_t = pool_.size(0);
  }
  if (parts.empty()) throw InputError("generation " + std::to_string(t) + " has no training data");
  return at::cat(parts, 0).contiguous();
}

// Rough shares of a generation's work, for one progress fraction.
struct Shares {
  double base, s, aux, out;
  explicit Shares(bool sims)
      : base(sims ? 0.45 : 0.7), s(sims ? 0.12 : 0.0), aux(sims ? 0.15 : 0.0), out(1.0 - base - s - aux - 0.03) {}
};

void ImageLoopRun::train_base(int64_t t, const std::string& gdir, const at::Tensor& data, int64_t budget,
                              int64_t n_real_t, int64_t n_pool_t) {
  const std::string base_path = gdir + "/base.ckpt";
  if (fs::exists(base_path)) return;
  const bool from_previous = t > 1 && cfg_.warm_start == WarmStart::Previous;
  const json provenance = {{"role", "base"},
                           {"summary", "image loop generation " + std::to_string(t) + " base (" +
                                           loops::to_string(cfg_.kind) + ", " + loops::to_string(cfg_.algorithm) + ")"},
                           {"start", from_previous ? "previous generation" : cfg_.init.empty() ? "random" : cfg_.init}};
  if (budget == 0) {  // generation 1 is the --init model as it is
    init_.provenance = provenance;
    save_checkpoint(base_path, init_);
    return;
  }
  TrainConfig tc = cfg_.train;
  tc.budget = budget;
  tc.seed = role_seed(cfg_.seed, t, kInit);
  TrainState st;
  if (from_previous) st = TrainState::fork(load_checkpoint(rf_.dir() + "/" + prev_base_file_), tc);
  else if (!cfg_.init.empty()) st = TrainState::fork(init_, tc);
  else st = TrainState::create(cfg_.net, tc);
  st.train.seed = role_seed(cfg_.seed, t, kTrain);
  st.data = {{"source", "image-loop"}, {"generation", t}, {"n_real", n_real_t}, {"n_synthetic", n_pool_t},
             {"spec", cfg_.data.to_json()}, {"spec_string", cfg_.data.to_string()}};
  st.provenance = provenance;
  const Shares w(cfg_.algorithm == LoopAlgorithm::Sims);
  progress(t, "train base", 0, "training the base on " + std::to_string(data.size(0)) + " images");
  train_stage(st, data, role_seed(cfg_.seed, t, kDropout), base_path, run_.device, run_.cancel, [&](int64_t seen, int64_t b) {
    progress(t, "train base", w.base * seen / static_cast<double>(b),
             "base " + std::to_string(seen) + "/" + std::to_string(b) + " images");
  });
}

// SIMS: S from the base (scored: fd_base), the auxiliary fine-tuned on it.
std::string ImageLoopRun::train_aux(int64_t t, const std::string& gdir, metrics::Estimate& fd_base) {
  const Shares w(true);
  const std::string base_path = gdir + "/base.ckpt";
  progress(t, "sample S", w.base, "sampling S from the base");
  const at::Tensor S = sample_stage(base_path, "", cfg_.n_aux, role_seed(cfg_.seed, t, kSNoise), cfg_.sampler, Guidance{},
                                    cfg_.chunk, gdir + "/S.npy", run_.device, run_.cancel, [&](int64_t d, int64_t n) {
                                      progress(t, "sample S", w.base + w.s * d / static_cast<double>(n),
                                               "S " + std::to_string(d) + "/" + std::to_string(n) + " images");
                                    });
  fd_base = scorer_->score(S.narrow(0, 0, std::min(cfg_.n_aux, cfg_.n_eval))).fd_estimate();
  const std::string aux_path = gdir + "/aux.ckpt";
  if (fs::exists(aux_path)) return aux_path;
  TrainConfig ta = cfg_.train;
  ta.budget = aux_budget(cfg_);
  ta.seed = role_seed(cfg_.seed, t, kAuxTrain);
  TrainState aux = TrainState::fork(load_checkpoint(base_path), ta);
  aux.provenance.update(nlohmann::json{{"role", "auxiliary"},
                    {"summary", "aux of generation " + std::to_string(t) + "'s base on " + std::to_string(cfg_.n_aux) +
                                    " of its samples"}});
  train_stage(aux, S, role_seed(cfg_.seed, t, kAuxDropout), aux_path, run_.device, run_.cancel, [&](int64_t seen, int64_t b) {
    progress(t, "train aux", w.base + w.s + w.aux * seen / static_cast<double>(b),
             "auxiliary " + std::to_string(seen) + "/" + std::to_string(b) + " images");
  });
  return aux_path;
}

void ImageLoopRun::generation(int64_t t) {
  const auto g_start = std::chrono::steady_clock::now();
  const std::string gdir = rf_.path(gen_name("state/gen-%04lld", t) + "/");
  const bool sims = cfg_.algorithm == LoopAlgorithm::Sims;
  int64_t n_real_t = 0, n_pool_t = 0;
  const at::Tensor data = training_data(t, n_real_t, n_pool_t);
  const int64_t budget = base_budget(cfg_, t, data.size(0));
  train_base(t, gdir, data, budget, n_real_t, n_pool_t);
  metrics::Estimate fd_base;
  const std::string aux_path = sims ? train_aux(t, gdir, fd_base) : std::string();

  // The generation's samples: D_s^t and the scored set.
  const Shares w(sims);
  const int64_t n_out = std::max(cfg_.n_synth, cfg_.n_eval);
  const Guidance g{sims ? cfg_.omega : 0.0, cfg_.interval_lo, cfg_.interval_hi};
  const double f0 = w.base + w.s + w.aux;
  progress(t, "sample", f0, "sampling");
  const at::Tensor x = sample_stage(gdir + "/base.ckpt", aux_path, n_out, role_seed(cfg_.seed, t, kOut), cfg_.sampler, g,
                                    cfg_.chunk, gdir + "/out.npy", run_.device, run_.cancel, [&](int64_t d, int64_t n) {
                                      progress(t, "sample", f0 + w.out * d / static_cast<double>(n),
                                               "samples " + std::to_string(d) + "/" + std::to_string(n));
                                    });
  progress(t, "score", f0 + w.out, "scoring " + std::to_string(cfg_.n_eval) + " samples");
  const ImageScore sc = scorer_->score(x.narrow(0, 0, cfg_.n_eval));
  const at::Tensor ds = x.narrow(0, 0, cfg_.n_synth).contiguous();
  pool_ = (cfg_.accumulate && t > 1 && pool_.defined()) ? at::cat({pool_, ds}, 0) : ds;
  commit(t, gdir, x, sc, fd_base, budget,
         std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count());
}

// Outputs, then the generation's done-marker (the commit point), then the clean-up.
void ImageLoopRun::commit(int64_t t, const std::string& gdir, const at::Tensor& x, const ImageScore& sc,
                          const metrics::Estimate& fd_base, int64_t budget, double gsec) {
  const std::string dir = rf_.dir();
  const bool sims = cfg_.algorithm == LoopAlgorithm::Sims;
  at::Tensor keep;
  if (cfg_.save_images > 0) {
    keep = x.narrow(0, 0, std::min(cfg_.save_images, x.size(0))).contiguous();
    io::write_npy(rf_.path(gen_name("samples/gen-%04lld.npy", t)), keep);
    const int cols = static_cast<int>(std::min<int64_t>(8, keep.size(0)));
    // Captions: which run and generation the images come from (the run's settings, as `sims loop --plot` gives them).
    const std::string settings = run_settings(cfg_.to_json());
    render::with_caption(render::image_mosaic(keep, cols, shape_[1] <= 32 ? 2 : 1),
                         "generation " + std::to_string(t) + ", first " + std::to_string(keep.size(0)) +
                             " samples · " + settings)
        .write_png(dir + "/" + gen_name("samples/gen-%04lld.png", t));
    write_overview(dir, t, shape_[1] <= 32 ? 2 : 1, settings);
  }
  if (cfg_.keep_models) {
    copy_atomically(gdir + "/base.ckpt", rf_.path(gen_name("models/gen-%04lld-base.ckpt", t)));
    if (sims) copy_atomically(gdir + "/aux.ckpt", rf_.path(gen_name("models/gen-%04lld-aux.ckpt", t)));
  }
  const std::string new_pool = gen_name("state/pool-%04lld.npy", t);
  io::write_npy(rf_.path(new_pool), pool_);
  std::string new_prev;
  if (cfg_.warm_start == WarmStart::Previous) {
    new_prev = gen_name("state/base-%04lld.ckpt", t);
    copy_atomically(gdir + "/base.ckpt", dir + "/" + new_prev);
  }
  res_.push_score(sc);
  res_.attr_ratio.push_back(sc.ratio);
  if (sims) {
    res_.fd_base.push_back(fd_base.value);
    res_.fd_base_lo.push_back(fd_base.lo), res_.fd_base_hi.push_back(fd_base.hi);
  }
  res_.train_images.push_back(static_cast<double>(budget));
  res_.seconds.push_back(gsec);
  finish(res_);
  json record = {{"generation", t},         {"fd", experiment::setting_number(sc.fd)},
                 {"precision", experiment::setting_number(sc.precision)},
                 {"recall", experiment::setting_number(sc.recall)}, {"train_images", budget},
                 {"seconds", gsec},         {"pool", new_pool},
                 {"previous_base", new_prev}};
  json ar = json::array();
  for (double v : sc.ratio) ar.push_back(experiment::setting_number(v));
  record["attr_ratio"] = ar;
  if (sims) {
    record["fd_base"] = experiment::setting_number(fd_base.value);
    record["fd_base_lo"] = experiment::setting_number(fd_base.lo);
    record["fd_base_hi"] = experiment::setting_number(fd_base.hi);
  }
  sc.put_uncertainty(record);
  write_metrics(dir, cfg_, res_);
  rf_.finish(generation_stage(t), {{"generation", t}}, record);  // the commit point
  if (!pool_file_.empty() && pool_file_ != new_pool) remove_quietly(dir + "/" + pool_file_);
  if (!prev_base_file_.empty() && prev_base_file_ != new_prev) remove_quietly(dir + "/" + prev_base_file_);
  pool_file_ = new_pool;
  prev_base_file_ = new_prev;
  remove_quietly(gdir);
  std::ostringstream msg;
  msg << "generation " << t << "/" << cfg_.generations << ": " << res_.metric << " " << std::setprecision(4) << sc.fd;
  json row = record;
  row.erase("pool"), row.erase("previous_base"), row.erase("fd_replicates"), row.erase("fd_n");
  row["fd"] = experiment::result_number(sc.fd);
  for (const char* k : {"fd_lo", "fd_hi", "kid", "kid_std", "kid_lo", "kid_hi", "precision", "recall", "precision_lo", "precision_hi",
                        "recall_lo", "recall_hi"})
    row[k] = experiment::result_number(experiment::read_number(record[k], k));
  row["ratio"] = experiment::result_number(res_.ratio.back());
  row["ratio_lo"] = experiment::result_number(res_.ratio_lo.back());
  row["ratio_hi"] = experiment::result_number(res_.ratio_hi.back());
  report_("generation " + std::to_string(t) + "/" + std::to_string(cfg_.generations) + ": done", t * 1000,
          cfg_.generations * 1000, msg.str(), row, keep);
}

}  // namespace

ImageLoopConfig load_image_loop_config(const std::string& dir) {
  nlohmann::json j = experiment::RunFolder::settings_of(dir, "loop");
  if (j.value("family", std::string()) != "images")
    throw InputError("'" + dir + "' holds a " + j.value("family", std::string("other")) + " loop, not an image loop");
  if (j.is_object()) j.erase("inputs");  // checked when the run goes on, not a setting
  ImageLoopConfig c = ImageLoopConfig::from_json(j);
  validate(c);
  return c;
}

ImageLoopResult run_image_loop(const ImageLoopConfig& cfg, const ImageLoopRunOptions& run) {
  validate(cfg);
  if (run.out_dir.empty()) throw InputError("the image loop needs a run folder (--out DIR)");
  return ImageLoopRun(cfg, run).run();
}

}  // namespace sims::loops
