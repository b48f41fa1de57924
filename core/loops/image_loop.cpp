#include "common/paths.hpp"
#include "loops/image_loop.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "common/error.hpp"
#include "data/faces.hpp"
#include "io/atomic_file.hpp"
#include "io/npy.hpp"
#include "metrics/frechet.hpp"
#include "metrics/precision_recall.hpp"
#include "render/canvas.hpp"
#include "training/step_rules.hpp"
#include "training/synth.hpp"
#include "training/trainer.hpp"

namespace sims::loops {
namespace fs = std::filesystem;
using nlohmann::json;

// [SECTION] Settings --------------------------------------------------------------

WarmStart parse_warm_start(const std::string& s) {
  if (s == "scratch") return WarmStart::Scratch;
  if (s == "previous" || s == "finetune" || s == "fine-tune") return WarmStart::Previous;
  throw InputError("unknown --warm-start '" + s + "' (expected scratch or previous)");
}

std::string to_string(WarmStart w) { return w == WarmStart::Previous ? "previous" : "scratch"; }

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

ImageLoopConfig::ImageLoopConfig() {
  net = default_image_net();
  train.batch = 64;
  train.lr = 1e-3;
  train.lr_rampup = 2000;
  features = default_image_features();
}

namespace {

json sampler_json(const SamplerConfig& s) {
  return {{"kind", sims::to_string(s.kind)},
          {"steps", s.steps},
          {"sigma_min", s.sigma_min},
          {"sigma_max", s.sigma_max},
          {"rho", s.rho},
          {"churn", s.churn},
          {"s_min", s.s_min},
          {"s_max", std::isinf(s.s_max) ? json("inf") : json(s.s_max)},
          {"s_noise", s.s_noise}};
}

SamplerConfig sampler_from_json(const json& j) {
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

json train_json(const TrainConfig& tc) {
  json t = tc.to_json();
  t.erase("budget");
  t.erase("seed");
  t.erase("checkpoint_every");
  t.erase("snapshot_every");
  return t;
}

}  // namespace

json ImageLoopConfig::to_json() const {
  return {{"family", "images"},
          {"data", data.to_json()},
          {"data_string", data.to_string()},
          {"data_seed", data_seed},
          {"kind", loops::to_string(kind)},
          {"pool", accumulate ? "accumulate" : "replace"},
          {"n_real", n_real},
          {"n_synth", n_synth},
          {"generations", generations},
          {"seed", seed},
          {"algorithm", loops::to_string(algorithm)},
          {"omega", algorithm == LoopAlgorithm::Sims ? omega : 0.0},
          {"interval", {interval_lo, std::isinf(interval_hi) ? json("inf") : json(interval_hi)}},
          {"n_aux", n_aux},
          {"base_images", base_images},
          {"base_epochs", base_epochs},
          {"first_images", first_images},
          {"aux_images", aux_images},
          {"aux_epochs", aux_epochs},
          {"warm_start", loops::to_string(warm_start)},
          {"init", init},
          {"net", net.to_json()},
          {"train", train_json(train)},
          {"sampler", sampler_json(sampler)},
          {"chunk", chunk},
          {"n_eval", n_eval},
          {"n_ref", n_ref},
          {"features", features},
          {"classifier", classifier},
          {"pr_k", pr_k},
          {"save_images", save_images},
          {"keep_models", keep_models}};
}

ImageLoopConfig ImageLoopConfig::from_json(const json& j) {
  ImageLoopConfig c;
  try {
    if (j.value("family", std::string("images")) != "images") throw InputError("configuration is not an image loop");
    if (j.contains("data")) c.data = data::ImageDatasetSpec::from_json(j["data"]);
    c.data_seed = j.value("data_seed", c.data_seed);
    c.kind = parse_loop_kind(j.value("kind", loops::to_string(c.kind)));
    c.accumulate = j.value("pool", std::string("replace")) == "accumulate";
    c.n_real = j.value("n_real", c.n_real);
    c.n_synth = j.value("n_synth", c.n_synth);
    c.generations = j.value("generations", c.generations);
    c.seed = j.value("seed", c.seed);
    c.algorithm = parse_loop_algorithm(j.value("algorithm", loops::to_string(c.algorithm)));
    c.omega = j.value("omega", c.omega);
    if (j.contains("interval")) {
      const auto& iv = j["interval"];
      c.interval_lo = iv.at(0).get<double>();
      c.interval_hi = iv.at(1).is_string() ? INFINITY : iv.at(1).get<double>();
    }
    c.n_aux = j.value("n_aux", c.n_aux);
    c.base_images = j.value("base_images", c.base_images);
    c.base_epochs = j.value("base_epochs", c.base_epochs);
    c.first_images = j.value("first_images", c.first_images);
    c.aux_images = j.value("aux_images", c.aux_images);
    c.aux_epochs = j.value("aux_epochs", c.aux_epochs);
    c.warm_start = parse_warm_start(j.value("warm_start", loops::to_string(c.warm_start)));
    c.init = j.value("init", c.init);
    if (j.contains("net")) c.net = NetConfig::from_json(j["net"]);
    if (j.contains("train")) c.train = TrainConfig::from_json(j["train"]);
    if (j.contains("sampler")) c.sampler = sampler_from_json(j["sampler"]);
    c.chunk = j.value("chunk", c.chunk);
    c.n_eval = j.value("n_eval", c.n_eval);
    c.n_ref = j.value("n_ref", c.n_ref);
    c.features = j.value("features", c.features);
    c.classifier = j.value("classifier", c.classifier);
    c.pr_k = j.value("pr_k", c.pr_k);
    c.save_images = j.value("save_images", c.save_images);
    c.keep_models = j.value("keep_models", c.keep_models);
  } catch (const json::exception& e) {
    throw InputError(std::string("image loop configuration: ") + e.what());
  }
  return c;
}

void validate(const ImageLoopConfig& c) {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw InputError(msg);
  };
  auto num = [](auto v) { return std::to_string(v); };
  c.data.validate();
  need(c.n_real >= 2 && c.n_real <= 10'000'000, "--n-real must be between 2 and 10000000, got " + num(c.n_real));
  need(c.n_synth >= 0 && c.n_synth <= 10'000'000, "--n-synth must be between 0 and 10000000, got " + num(c.n_synth));
  if (c.kind == LoopKind::FullySynthetic)
    need(c.n_synth >= 2, "--n-synth must be at least 2 for the fully synthetic loop, got " + num(c.n_synth));
  need(c.generations >= 1 && c.generations <= 100000, "--generations must be between 1 and 100000, got " + num(c.generations));
  need(std::isfinite(c.omega) && std::abs(c.omega) <= 1000, "--omega must be a finite number in [-1000, 1000]");
  need(c.interval_lo >= 0 && c.interval_hi > c.interval_lo, "--interval LO:HI needs 0 <= LO < HI");
  need(c.n_aux >= 2 && c.n_aux <= 10'000'000, "--n-aux must be between 2 and 10000000, got " + num(c.n_aux));
  need(std::isfinite(c.base_epochs) && c.base_epochs >= 0 && c.base_epochs <= 1e6, "--base-epochs must be in [0, 1e6]");
  need(std::isfinite(c.aux_epochs) && c.aux_epochs >= 0 && c.aux_epochs <= 1e6, "--aux-epochs must be in [0, 1e6]");
  need(c.base_epochs > 0 || c.base_images >= 1,
       "--base-images must be at least 1 (or give --base-epochs), got " + num(c.base_images));
  need(c.aux_epochs > 0 || c.aux_images >= 1, "--aux-images must be at least 1 (or give --aux-epochs), got " + num(c.aux_images));
  need(c.base_images <= 10'000'000'000LL && c.aux_images <= 10'000'000'000LL, "training budgets must be <= 1e10 images");
  need(c.first_images >= -1 && c.first_images <= 10'000'000'000LL,
       "--first-images must be -1 (as the other generations), 0 (the --init model as it is) or a budget in images");
  need(c.first_images != 0 || !c.init.empty(), "--first-images 0 means generation 1 is the --init model: give --init CKPT");
  need(c.net.type == "unet", "the image loop trains a U-Net (network type 'unet', e.g. assets/networks/unet32.json)");
  (void)NetConfig::from_json(c.net.to_json());  // the U-Net's own checks
  TrainConfig tc = c.train;
  tc.budget = 1;
  tc.validate();
  c.sampler.validate();
  need(c.chunk >= 1 && c.chunk <= 1'000'000, "--chunk must be between 1 and 1000000, got " + num(c.chunk));
  need(c.n_eval >= 2 && c.n_eval <= 10'000'000, "--n-eval must be between 2 and 10000000, got " + num(c.n_eval));
  need(c.n_ref == 0 || (c.n_ref >= 2 && c.n_ref <= 10'000'000), "--n-ref must be 0 (= --n-eval) or between 2 and 10000000");
  need(!c.features.empty(), "--features: a feature network is needed for FD (e.g. assets/models/faces-cnn.ckpt)");
  need(c.pr_k >= 1 && c.pr_k <= 1000, "--pr-k must be between 1 and 1000");
  need(c.save_images >= 0 && c.save_images <= 100000, "--save-images must be between 0 and 100000");
  const auto shape = c.net.sample_shape();
  const double img = static_cast<double>(shape[0] * shape[1] * shape[2]) * 4;
  const double pool = static_cast<double>(c.accumulate ? c.n_synth * c.generations : c.n_synth);
  const double largest = std::max<double>({pool + c.n_real, static_cast<double>(c.n_aux), static_cast<double>(c.n_eval)});
  need(largest * img < 16e9, "the training set (pool + real) or --n-aux/--n-eval is too large for memory (" +
                                 num(static_cast<int64_t>(largest * img / 1e9)) + " GB)");
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

// Non-finite numbers survive a JSON round trip as strings.
json enc(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}
double dec(const json& j) {
  if (j.is_string()) {
    const auto s = j.get<std::string>();
    return s == "inf" ? INFINITY : s == "-inf" ? -INFINITY : NAN;
  }
  return j.is_null() ? NAN : j.get<double>();
}
json enc(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(enc(x));
  return a;
}
std::vector<double> dec_vec(const json& j) {
  std::vector<double> v;
  for (const auto& x : j) v.push_back(dec(x));
  return v;
}
// For people and plots: non-finite as null.
json out(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
json out(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(out(x));
  return a;
}

}  // namespace

json ImageScore::to_json(const std::vector<std::string>& names) const {
  json j = {{"fd", enc(fd)}, {"precision", enc(precision)}, {"recall", enc(recall)}};
  json r = json::object();
  for (size_t k = 0; k < ratio.size() && k < names.size(); ++k) r[names[k]] = enc(ratio[k]);
  j["ratio"] = r;
  return j;
}

ImageScore ImageScore::from_json(const json& j, const std::vector<std::string>& names) {
  ImageScore s;
  s.fd = dec(j.at("fd"));
  s.precision = dec(j.at("precision"));
  s.recall = dec(j.at("recall"));
  const json r = j.value("ratio", json::object());
  for (const auto& n : names) s.ratio.push_back(r.contains(n) ? dec(r[n]) : NAN);
  return s;
}

json ImageLoopResult::to_json() const {
  json j = {{"metric", metric},       {"features", features},   {"fd", out(fd)},         {"ratio", out(ratio)},
            {"precision", out(precision)}, {"recall", out(recall)}, {"train_images", train_images},
            {"seconds", seconds}};
  if (!fd_base.empty()) j["fd_base"] = out(fd_base);
  if (!attr_names.empty()) {
    j["attr_names"] = attr_names;
    j["real_ratio"] = out(real_ratio);
    json per = json::object();
    for (size_t k = 0; k < attr_names.size(); ++k) {
      std::vector<double> v;
      for (const auto& g : attr_ratio) v.push_back(k < g.size() ? g[k] : NAN);
      per[attr_names[k]] = out(v);
    }
    j["attr_ratio"] = per;
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
  s.fd = metrics::frechet_distance(metrics::stats_of_features(f, "sample features"), ref_stats_);
  if (ref_features_.size(0) > pr_k_ && f.size(0) > pr_k_) {
    const auto pr = metrics::precision_recall(ref_features_, f, pr_k_);
    s.precision = pr.precision;
    s.recall = pr.recall;
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

void write_grid_png(render::GridFigure fig, const std::string& path) {
  render::Canvas c = render::compose_grid(fig);
  int ch = 0;  // compose_grid's title size follows the cell height
  for (const auto& row : fig.cells)
    for (const auto& cell : row) ch = std::max(ch, cell.height());
  const float title_px = std::clamp(ch / 7.0f, 13.0f, 22.0f) * 1.25f;
  if (!fig.title.empty() && render::Canvas::text_width(fig.title, title_px, true) + 16 > c.width()) {
    fig.title.clear();
    c = render::compose_grid(fig);
  }
  c.write_png(path);
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

void write_text(const std::string& path, const std::string& text) {
  io::write_file_atomically(path, text.data(), text.size());
}

json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError("cannot read '" + path + "'");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw InputError("'" + path + "' is not valid JSON: " + e.what());
  }
}

bool same_experiment(json a, json b) {
  a.erase("generations");
  b.erase("generations");
  return a == b;
}

void finish(ImageLoopResult& r) {
  r.ratio.clear();
  for (double v : r.fd) r.ratio.push_back(v / r.fd[0]);
}

std::string fmt(double v) {
  if (std::isnan(v)) return "";
  std::ostringstream s;
  s << std::setprecision(10) << v;
  return s.str();
}

void write_metrics(const std::string& dir, const ImageLoopConfig& cfg, const ImageLoopResult& r) {
  json j = cfg.to_json();
  j.update(r.to_json());
  write_text(dir + "/metrics.json", j.dump(2) + "\n");
  std::ostringstream csv;
  csv << "generation," << r.metric << ",ratio,precision,recall";
  for (const auto& a : r.attr_names) csv << ",ratio_" << a;
  if (!r.fd_base.empty()) csv << "," << r.metric << "_base";
  csv << ",train_images,seconds\n";
  for (size_t g = 0; g < r.fd.size(); ++g) {
    csv << g + 1 << "," << fmt(r.fd[g]) << "," << fmt(r.ratio[g]) << "," << fmt(r.precision[g]) << ","
        << fmt(r.recall[g]);
    for (size_t k = 0; k < r.attr_names.size(); ++k)
      csv << "," << (k < r.attr_ratio[g].size() ? fmt(r.attr_ratio[g][k]) : "");
    if (!r.fd_base.empty()) csv << "," << fmt(r.fd_base[g]);
    csv << "," << fmt(r.train_images[g]) << "," << fmt(r.seconds[g]) << "\n";
  }
  write_text(dir + "/metrics.csv", csv.str());
}

json state_json(const ImageLoopResult& r, int64_t gen, const std::string& pool, const std::string& prev_base) {
  json j = {{"format", "sims-image-loop-state"}, {"version", 1}, {"generation", gen}, {"pool", pool},
            {"previous_base", prev_base}};
  j["fd"] = enc(r.fd);
  j["precision"] = enc(r.precision);
  j["recall"] = enc(r.recall);
  j["fd_base"] = enc(r.fd_base);
  j["train_images"] = r.train_images;
  j["seconds"] = r.seconds;
  json ar = json::array();
  for (const auto& g : r.attr_ratio) ar.push_back(enc(g));
  j["attr_ratio"] = ar;
  return j;
}

// samples/overview.png: the first 8 saved samples of every finished
// generation, one row each (what the loop does to the images at a glance).
void write_overview(const std::string& dir, int64_t generations, int zoom) {
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
  if (!fig.cells.empty()) write_grid_png(fig, dir + "/samples/overview.png");
}

void remove_quietly(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}

}  // namespace

ImageLoopConfig load_image_loop_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  if (!fs::exists(path)) throw InputError("'" + dir + "' holds no loop run (no config.json)");
  const json j = read_json_file(path);
  if (j.value("family", std::string()) != "images")
    throw InputError("'" + dir + "' holds a " + j.value("family", std::string("other")) + " loop, not an image loop");
  ImageLoopConfig c = ImageLoopConfig::from_json(j);
  validate(c);
  return c;
}

ImageLoopResult run_image_loop(const ImageLoopConfig& cfg, const ImageLoopRunOptions& run) {
  validate(cfg);
  if (run.out_dir.empty()) throw InputError("the image loop needs a run folder (--out DIR)");
  const auto t_start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count(); };
  const std::string dir = run.out_dir;
  const int64_t G = cfg.generations;
  const bool sims = cfg.algorithm == LoopAlgorithm::Sims;
  ImageLoopResult res;
  int64_t done = 0;
  std::string pool_file, prev_base_file;

  // --- Refuse a wrong folder before any work ------------------------------------------
  const bool has_state = fs::exists(dir + "/state.json");
  if (run.resume) {
    if (!fs::exists(dir + "/config.json")) throw InputError("--resume: '" + dir + "' holds no loop run (no config.json)");
    if (!same_experiment(read_json_file(dir + "/config.json"), cfg.to_json()))
      throw InputError("--resume: the settings differ from the run in '" + dir + "' (only --generations may change)");
  } else if (has_state || fs::exists(dir + "/config.json")) {
    throw InputError("'" + dir + "' already holds a loop run: continue it with --resume or choose another --out");
  }

  auto report = [&](int64_t gen, const std::string& phase, double frac, const std::string& msg, double gsec = 0,
                    double fd = 0) {
    if (!run.on_progress) return;
    ImageLoopProgress p;
    p.generation = static_cast<int>(gen);
    p.generations = static_cast<int>(G);
    p.phase = phase;
    p.fraction = std::clamp(frac, 0.0, 1.0);
    p.elapsed = elapsed();
    p.generation_seconds = gsec;
    p.fd = fd;
    p.message = msg;
    run.on_progress(p);
  };

  // --- Scoring: feature net, classifier, real reference; the --init model --------------
  report(1, "load", 0, "loading the feature network and the real reference images");
  metrics::FeatureNetPtr fnet = run.features;
  metrics::ClassifierPtr clf = run.classifier;
  resolve_scoring_nets(cfg.features, cfg.classifier, fnet, clf);
  const int64_t n_ref = cfg.n_ref > 0 ? cfg.n_ref : cfg.n_eval;
  const auto shape = cfg.net.sample_shape();
  auto check_shape = [&](const at::Tensor& x, const std::string& what) {
    std::vector<int64_t> s(x.sizes().begin() + 1, x.sizes().end());
    if (s != shape)
      throw InputError(what + " '" + cfg.data.to_string() + "' are " + shape_to_string(s) + " but the network models " +
                       shape_to_string(shape) + " (set the network's channels/resolution to match)");
  };
  const at::Tensor reference = image_reference(cfg.data, n_ref, cfg.data_seed);
  check_shape(reference, "the images of");
  const ImageScorer scorer(fnet, clf, reference, cfg.pr_k, run.cancel);
  res.metric = scorer.metric();
  res.features = scorer.features_name();
  res.attr_names = scorer.attr_names();
  res.real_ratio = scorer.real_ratio();

  TrainState init;
  if (!cfg.init.empty()) {
    init = load_checkpoint(cfg.init);
    if (init.net.to_json() != cfg.net.to_json())
      throw InputError("--init '" + cfg.init + "' is a network " + init.net.to_json().dump() +
                       ", not the configured one " + cfg.net.to_json().dump());
  }

  // --- The run folder ---------------------------------------------------------------
  {
    std::error_code ec;
    fs::create_directories(dir + "/state", ec);
    if (!ec) fs::create_directories(dir + "/samples", ec);
    if (!ec && cfg.keep_models) fs::create_directories(dir + "/models", ec);
    if (ec) throw IoError("cannot create the run folder '" + dir + "': " + ec.message());
  }
  if (run.resume && has_state) {
    const json st = read_json_file(dir + "/state.json");
    try {
      done = st.at("generation").get<int64_t>();
      pool_file = st.at("pool").get<std::string>();
      prev_base_file = st.value("previous_base", std::string());
      res.fd = dec_vec(st.at("fd"));
      res.precision = dec_vec(st.at("precision"));
      res.recall = dec_vec(st.at("recall"));
      res.fd_base = dec_vec(st.at("fd_base"));
      res.train_images = st.at("train_images").get<std::vector<double>>();
      res.seconds = st.at("seconds").get<std::vector<double>>();
      for (const auto& g : st.at("attr_ratio")) res.attr_ratio.push_back(dec_vec(g));
    } catch (const json::exception&) {
      throw InputError("'" + dir + "/state.json' is corrupt");
    }
    if (static_cast<int64_t>(res.fd.size()) != done || static_cast<int64_t>(res.attr_ratio.size()) != done)
      throw InputError("'" + dir + "/state.json' is corrupt (" + std::to_string(res.fd.size()) + " scores for " +
                       std::to_string(done) + " generations)");
    res.resumed_from = static_cast<int>(done);
    if (done > G) {  // fewer generations asked for than already run: report those
      const auto n = static_cast<size_t>(G);
      res.fd.resize(n), res.precision.resize(n), res.recall.resize(n), res.train_images.resize(n);
      res.seconds.resize(n), res.attr_ratio.resize(n);
      if (!res.fd_base.empty()) res.fd_base.resize(n);
      done = G;
    }
  }
  write_text(dir + "/config.json", cfg.to_json().dump(2) + "\n");
  // Stage folders of generations that were committed (a crash between the
  // commit and the clean-up) are stale.
  for (int64_t t = 1; t <= done; ++t) remove_quietly(dir + "/" + gen_name("state/gen-%04lld", t));

  // Real training data: D_r (generation 1, augment) or fresh per generation.
  at::Tensor d_r;
  if (done < G && (done == 0 || cfg.kind == LoopKind::Augment)) {
    d_r = real_images(cfg.data, 0, cfg.n_real, cfg.data_seed);
    check_shape(d_r, "the images of");
  }
  at::Tensor pool;
  if (done >= 1 && done < G) {
    pool = io::read_npy(dir + "/" + pool_file).to(at::kFloat);
    if (pool.dim() != 4 || std::vector<int64_t>(pool.sizes().begin() + 1, pool.sizes().end()) != shape)
      throw InputError("'" + dir + "/" + pool_file + "': the stored synthetic pool does not match the configuration");
  }

  // Rough shares of a generation's work, for one progress fraction.
  const double w_base = sims ? 0.45 : 0.7, w_s = sims ? 0.12 : 0.0, w_aux = sims ? 0.15 : 0.0;
  const double w_out = 1.0 - w_base - w_s - w_aux - 0.03;

  for (int64_t t = done + 1; t <= G; ++t) {
    const auto g_start = std::chrono::steady_clock::now();
    const std::string gdir = dir + "/" + gen_name("state/gen-%04lld", t);
    {
      std::error_code ec;
      fs::create_directories(gdir, ec);
      if (ec) throw IoError("cannot create '" + gdir + "': " + ec.message());
    }
    const std::string tag = "generation " + std::to_string(t) + "/" + std::to_string(G);

    // D^t.
    std::vector<at::Tensor> parts;
    int64_t n_real_t = 0, n_pool_t = 0;
    if (t == 1 || cfg.kind == LoopKind::Augment) {
      parts.push_back(d_r);
      n_real_t = cfg.n_real;
    } else if (cfg.kind == LoopKind::Fresh) {
      at::Tensor fresh = real_images(cfg.data, (t - 1) * cfg.n_real, cfg.n_real, cfg.data_seed);
      check_shape(fresh, "the images of");
      parts.push_back(fresh);
      n_real_t = cfg.n_real;
    }
    if (t > 1 && pool.defined() && pool.size(0) > 0) {
      parts.push_back(pool);
      n_pool_t = pool.size(0);
    }
    if (parts.empty()) throw InputError("generation " + std::to_string(t) + " has no training data");
    const at::Tensor data = at::cat(parts, 0).contiguous();
    const int64_t n_data = data.size(0);

    // 1. The base model.
    const std::string base_path = gdir + "/base.ckpt";
    const int64_t budget = base_budget(cfg, t, n_data);
    if (!fs::exists(base_path)) {
      const bool from_previous = t > 1 && cfg.warm_start == WarmStart::Previous;
      const json provenance = {{"role", "base"},
                               {"summary", "image loop generation " + std::to_string(t) + " base (" +
                                               loops::to_string(cfg.kind) + ", " + loops::to_string(cfg.algorithm) + ")"},
                               {"start", from_previous ? "previous generation" : cfg.init.empty() ? "random" : cfg.init}};
      const json data_json = {{"source", "image-loop"}, {"generation", t}, {"n_real", n_real_t}, {"n_synthetic", n_pool_t},
                              {"spec", cfg.data.to_json()}, {"spec_string", cfg.data.to_string()}};
      if (budget == 0) {  // generation 1 is the --init model as it is
        init.provenance = provenance;
        save_checkpoint(base_path, init);
      } else {
        TrainConfig tc = cfg.train;
        tc.budget = budget;
        tc.seed = role_seed(cfg.seed, t, kInit);
        TrainState st;
        if (from_previous) {
          const TrainState prev = load_checkpoint(dir + "/" + prev_base_file);
          st = TrainState::fork(prev, tc);
        } else if (!cfg.init.empty()) {
          st = TrainState::fork(init, tc);
        } else {
          st = TrainState::create(cfg.net, tc);
        }
        st.train.seed = role_seed(cfg.seed, t, kTrain);
        st.data = data_json;
        st.provenance = provenance;
        report(t, "train base", 0, tag + ": training the base on " + std::to_string(n_data) + " images");
        train_stage(st, data, role_seed(cfg.seed, t, kDropout), base_path, run.device, run.cancel,
                    [&](int64_t seen, int64_t b) {
                      report(t, "train base", w_base * seen / static_cast<double>(b),
                             tag + ": base " + std::to_string(seen) + "/" + std::to_string(b) + " images");
                    });
      }
    }

    // 2. SIMS: the auxiliary model, fine-tuned on the base's own samples.
    std::string aux_path;
    double fd_base = NAN;
    if (sims) {
      report(t, "sample S", w_base, tag + ": sampling S from the base");
      const at::Tensor S = sample_stage(base_path, "", cfg.n_aux, role_seed(cfg.seed, t, kSNoise), cfg.sampler, Guidance{},
                                        cfg.chunk, gdir + "/S.npy", run.device, run.cancel, [&](int64_t d, int64_t n) {
                                          report(t, "sample S", w_base + w_s * d / static_cast<double>(n),
                                                 tag + ": S " + std::to_string(d) + "/" + std::to_string(n) + " images");
                                        });
      fd_base = scorer.score(S.narrow(0, 0, std::min(cfg.n_aux, cfg.n_eval))).fd;
      aux_path = gdir + "/aux.ckpt";
      if (!fs::exists(aux_path)) {
        const TrainState base_state = load_checkpoint(base_path);
        TrainConfig ta = cfg.train;
        ta.budget = aux_budget(cfg);
        ta.seed = role_seed(cfg.seed, t, kAuxTrain);
        TrainState aux = TrainState::fork(base_state, ta);
        aux.provenance = {{"role", "auxiliary"},
                          {"summary", "aux of generation " + std::to_string(t) + "'s base on " + std::to_string(cfg.n_aux) +
                                          " of its samples"}};
        train_stage(aux, S, role_seed(cfg.seed, t, kAuxDropout), aux_path, run.device, run.cancel,
                    [&](int64_t seen, int64_t b) {
                      report(t, "train aux", w_base + w_s + w_aux * seen / static_cast<double>(b),
                             tag + ": auxiliary " + std::to_string(seen) + "/" + std::to_string(b) + " images");
                    });
      }
    }

    // 3. The generation's samples: D_s^t and the scored set.
    const int64_t n_out = std::max(cfg.n_synth, cfg.n_eval);
    Guidance g;
    g.omega = sims ? cfg.omega : 0.0;
    g.lo = cfg.interval_lo;
    g.hi = cfg.interval_hi;
    const double f0 = w_base + w_s + w_aux;
    report(t, "sample", f0, tag + ": sampling");
    const at::Tensor x = sample_stage(base_path, aux_path, n_out, role_seed(cfg.seed, t, kOut), cfg.sampler, g, cfg.chunk,
                                      gdir + "/out.npy", run.device, run.cancel, [&](int64_t d, int64_t n) {
                                        report(t, "sample", f0 + w_out * d / static_cast<double>(n),
                                               tag + ": samples " + std::to_string(d) + "/" + std::to_string(n));
                                      });
    report(t, "score", f0 + w_out, tag + ": scoring " + std::to_string(cfg.n_eval) + " samples");
    const ImageScore sc = scorer.score(x.narrow(0, 0, cfg.n_eval));

    // The pool for generation t + 1.
    const at::Tensor ds = x.narrow(0, 0, cfg.n_synth).contiguous();
    pool = (cfg.accumulate && t > 1 && pool.defined()) ? at::cat({pool, ds}, 0) : ds;

    // Outputs, then the commit (state.json), then the clean-up.
    if (cfg.save_images > 0) {
      const at::Tensor keep = x.narrow(0, 0, std::min(cfg.save_images, n_out)).contiguous();
      io::write_npy(dir + "/" + gen_name("samples/gen-%04lld.npy", t), keep);
      const int cols = static_cast<int>(std::min<int64_t>(8, keep.size(0)));
      render::image_mosaic(keep, cols, shape[1] <= 32 ? 2 : 1).write_png(dir + "/" + gen_name("samples/gen-%04lld.png", t));
      write_overview(dir, t, shape[1] <= 32 ? 2 : 1);
    }
    if (cfg.keep_models) {
      auto copy = [&](const std::string& from, const std::string& to) {
        std::error_code ec;
        fs::copy_file(from, to + ".tmp", fs::copy_options::overwrite_existing, ec);
        if (!ec) fs::rename(to + ".tmp", to, ec);
        if (ec) throw IoError("cannot copy '" + from + "' to '" + to + "': " + ec.message());
      };
      copy(base_path, dir + "/" + gen_name("models/gen-%04lld-base.ckpt", t));
      if (sims) copy(aux_path, dir + "/" + gen_name("models/gen-%04lld-aux.ckpt", t));
    }
    const std::string new_pool = gen_name("state/pool-%04lld.npy", t);
    io::write_npy(dir + "/" + new_pool, pool);
    std::string new_prev;
    if (cfg.warm_start == WarmStart::Previous) {
      new_prev = gen_name("state/base-%04lld.ckpt", t);
      std::error_code ec;
      fs::copy_file(base_path, dir + "/" + new_prev + ".tmp", fs::copy_options::overwrite_existing, ec);
      if (!ec) fs::rename(dir + "/" + new_prev + ".tmp", dir + "/" + new_prev, ec);
      if (ec) throw IoError("cannot write '" + dir + "/" + new_prev + "': " + ec.message());
    }
    const double gsec = std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
    res.fd.push_back(sc.fd);
    res.precision.push_back(sc.precision);
    res.recall.push_back(sc.recall);
    res.attr_ratio.push_back(sc.ratio);
    if (sims) res.fd_base.push_back(fd_base);
    res.train_images.push_back(static_cast<double>(budget));
    res.seconds.push_back(gsec);
    finish(res);
    write_text(dir + "/state.json", state_json(res, t, new_pool, new_prev).dump() + "\n");  // the commit point
    if (!pool_file.empty() && pool_file != new_pool) remove_quietly(dir + "/" + pool_file);
    if (!prev_base_file.empty() && prev_base_file != new_prev) remove_quietly(dir + "/" + prev_base_file);
    pool_file = new_pool;
    prev_base_file = new_prev;
    remove_quietly(gdir);
    write_metrics(dir, cfg, res);
    std::ostringstream msg;
    msg << tag << ": " << res.metric << " " << std::setprecision(4) << sc.fd;
    report(t, "done", 1.0, msg.str(), gsec, sc.fd);
  }
  finish(res);
  write_metrics(dir, cfg, res);
  return res;
}

}  // namespace sims::loops
