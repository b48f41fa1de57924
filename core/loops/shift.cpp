#include "loops/shift.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "data/image_datasets.hpp"
#include "io/atomic_file.hpp"
#include "io/npy.hpp"
#include "metrics/frechet.hpp"
#include "metrics/sweep.hpp"
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

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
double num_of(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : kNaN;
}

uint64_t mix_seed(uint64_t seed, uint64_t k) {
  uint64_t z = seed * 0x9e3779b97f4a7c15ULL + k * 0xd1b54a32d192ed03ULL + 0x2545f4914f6cdd1dULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string fmt(double v, int precision = 6) {
  std::ostringstream s;
  s << std::setprecision(precision) << v;
  return s.str();
}

std::string percent(double v) {
  if (!std::isfinite(v)) return "n/a";
  std::ostringstream s;
  s << std::fixed << std::setprecision(1) << 100 * v << " %";
  return s.str();
}

json sampler_json(const SamplerConfig& s) {
  return {{"sampler", to_string(s.kind)}, {"steps", s.steps},   {"sigma_min", s.sigma_min},
          {"sigma_max", s.sigma_max},     {"rho", s.rho},       {"churn", s.churn},
          {"s_min", s.s_min},             {"s_max", num(s.s_max)}, {"s_noise", s.s_noise}};
}

SamplerConfig sampler_from_json(const json& j) {
  SamplerConfig s;
  s.kind = parse_sampler_kind(j.value("sampler", std::string("heun")));
  s.steps = j.value("steps", s.steps);
  s.sigma_min = j.value("sigma_min", s.sigma_min);
  s.sigma_max = j.value("sigma_max", s.sigma_max);
  s.rho = j.value("rho", s.rho);
  s.churn = j.value("churn", s.churn);
  s.s_min = j.value("s_min", s.s_min);
  if (j.contains("s_max") && j["s_max"].is_number()) s.s_max = j["s_max"].get<double>();
  s.s_noise = j.value("s_noise", s.s_noise);
  return s;
}

// The fine-tuning settings that change the weights (not how often they are saved).
json finetune_key(const TrainConfig& t) {
  json j = t.to_json();
  j.erase("checkpoint_every");
  j.erase("snapshot_every");
  return j;
}

// Content identity of a file: size and CRC-32 (moving or renaming it keeps its stages).
json file_fingerprint(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError("cannot read '" + path + "'");
  std::vector<char> buf(1 << 20);
  uint32_t crc = 0;
  uint64_t bytes = 0;
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto got = static_cast<size_t>(f.gcount());
    if (got == 0) break;
    crc = metrics::crc32(buf.data(), got, crc);
    bytes += got;
  }
  return {{"bytes", bytes}, {"crc32", crc}};
}

// A network spec "PATH[,options]": the file's fingerprint and the options.
json spec_fingerprint(const std::string& spec) {
  const auto comma = spec.find(',');
  const std::string path = spec.substr(0, comma);
  json j = {{"file", file_fingerprint(path)}, {"options", comma == std::string::npos ? "" : spec.substr(comma + 1)}};
  // A FeatureCnn keeps its record in a side-car; it names the network.
  if (fs::exists(path + ".json")) j["sidecar"] = file_fingerprint(path + ".json");
  return j;
}

json read_json_file(const fs::path& p) {
  std::ifstream f(p);
  if (!f) throw IoError("cannot read '" + p.string() + "'");
  try {
    return json::parse(f);
  } catch (const std::exception& e) {
    throw InputError("'" + p.string() + "' is not valid JSON: " + e.what());
  }
}

void write_json_file(const fs::path& p, const json& j) {
  const std::string text = j.dump(2) + "\n";
  io::write_file_atomically(p.string(), text.data(), text.size());
}

void remove_path(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
  if (ec) throw IoError("cannot remove '" + p.string() + "': " + ec.message());
}

std::string omega_stem(double w) { return "omega_" + fmt(w, 10); }

// A dashed horizontal line as a series: NaN between dashes leaves gaps
// (render_plot skips non-finite points).
render::Series dashed_line(const std::string& label, double y, double x0, double x1, render::Rgb colour) {
  render::Series s;
  s.label = label;
  s.colour = colour;
  s.markers = false;
  const int dashes = 18;
  const double step = (x1 - x0) / (2 * dashes - 1);
  for (int i = 0; i < dashes; ++i) {
    s.x.push_back(x0 + 2 * i * step), s.y.push_back(y);
    s.x.push_back(x0 + (2 * i + 1) * step), s.y.push_back(y);
    s.x.push_back(kNaN), s.y.push_back(kNaN);
  }
  return s;
}

// A series that draws nothing but widens the y range (room for the legend,
// which render_plot puts in the top-right corner).
render::Series invisible_point(double x, double y) {
  render::Series s;
  s.markers = false;
  s.x = {x};
  s.y = {y};
  return s;
}

}  // namespace

// [SECTION] Configuration ----------------------------------------------------------

ShiftConfig::ShiftConfig() {
  finetune.budget = 20000;
  finetune.batch = 64;
  finetune.lr = 1e-3;
  finetune.seed = 3;
}

json ShiftConfig::to_json() const {
  return {{"base", base},
          {"classifier", classifier},
          {"features", features},
          {"attribute", attribute},
          {"target", target},
          {"real_data", real_data},
          {"n_real", n_real},
          {"real_seed", real_seed},
          {"n_aux", n_aux},
          {"n_sample", n_sample},
          {"max_samples", max_samples},
          {"chunk", chunk},
          {"seed", seed},
          {"sampler", sampler_json(sampler)},
          {"finetune", finetune.to_json()},
          {"omegas", omegas},
          {"n_eval", n_eval},
          {"eval_seed", eval_seed},
          {"eval_sampler", sampler_json(eval_sampler)},
          {"interval", {interval_lo, num(interval_hi)}},
          {"batch", batch},
          {"pr_k", pr_k},
          {"keep", keep}};
}

ShiftConfig ShiftConfig::from_json(const json& j) {
  ShiftConfig c;
  try {
    c.base = j.value("base", c.base);
    c.classifier = j.value("classifier", c.classifier);
    c.features = j.value("features", c.features);
    c.attribute = j.value("attribute", c.attribute);
    c.target = j.value("target", c.target);
    c.real_data = j.value("real_data", c.real_data);
    c.n_real = j.value("n_real", c.n_real);
    c.real_seed = j.value("real_seed", c.real_seed);
    c.n_aux = j.value("n_aux", c.n_aux);
    c.n_sample = j.value("n_sample", c.n_sample);
    c.max_samples = j.value("max_samples", c.max_samples);
    c.chunk = j.value("chunk", c.chunk);
    c.seed = j.value("seed", c.seed);
    if (j.contains("sampler")) c.sampler = sampler_from_json(j["sampler"]);
    if (j.contains("finetune")) c.finetune = TrainConfig::from_json(j["finetune"]);
    if (j.contains("omegas")) c.omegas = j["omegas"].get<std::vector<double>>();
    c.n_eval = j.value("n_eval", c.n_eval);
    c.eval_seed = j.value("eval_seed", c.eval_seed);
    if (j.contains("eval_sampler")) c.eval_sampler = sampler_from_json(j["eval_sampler"]);
    if (j.contains("interval")) {
      c.interval_lo = j["interval"].at(0).get<double>();
      c.interval_hi = j["interval"].at(1).is_number() ? j["interval"][1].get<double>()
                                                      : std::numeric_limits<double>::infinity();
    }
    c.batch = j.value("batch", c.batch);
    c.pr_k = j.value("pr_k", c.pr_k);
    c.keep = j.value("keep", c.keep);
  } catch (const json::exception& e) {
    throw InputError(std::string("shift configuration: ") + e.what());
  }
  return c;
}

void validate(const ShiftConfig& c) {
  if (c.base.empty()) throw InputError("shift: no base model");
  if (c.attribute.empty()) throw InputError("shift: no attribute named");
  if (!(c.target > 0.0 && c.target < 1.0))
    throw InputError("shift: the target share must be strictly between 0 and 1 (got " + fmt(c.target) + ")");
  if (c.n_aux < 2) throw InputError("shift: the auxiliary set needs at least 2 images (--n-aux)");
  const int64_t need1 = std::llround(static_cast<double>(c.n_aux) * (1.0 - c.target));
  if (need1 < 1 || c.n_aux - need1 < 1)
    throw InputError("shift: an auxiliary set of " + std::to_string(c.n_aux) + " images at the complement share " +
                     fmt(1.0 - c.target) + " leaves one group empty; raise --n-aux");
  if (c.n_sample < 0 || c.max_samples < 0) throw InputError("shift: --n-sample and --max-samples must be >= 0");
  const int64_t first = c.n_sample > 0 ? c.n_sample : c.n_aux;
  if (c.max_samples > 0 && c.max_samples < first)
    throw InputError("shift: --max-samples (" + std::to_string(c.max_samples) + ") is below the first round of " +
                     std::to_string(first) + " samples");
  if (c.chunk < 1 || c.batch < 1 || c.pr_k < 1 || c.keep < 1)
    throw InputError("shift: --chunk, --eval-batch, --k and --keep must be >= 1");
  c.sampler.validate();
  c.eval_sampler.validate();
  c.finetune.validate();
  if (c.omegas.empty()) throw InputError("shift: no omega values");
  for (size_t i = 0; i < c.omegas.size(); ++i) {
    if (!std::isfinite(c.omegas[i])) throw InputError("shift: omega values must be finite");
    for (size_t k = 0; k < i; ++k)
      if (c.omegas[k] == c.omegas[i]) throw InputError("shift: omega " + fmt(c.omegas[i]) + " is listed twice");
  }
  if (c.n_eval < 2) throw InputError("shift: --n-eval must be at least 2");
  if (c.n_real < 2) throw InputError("shift: --n-real must be at least 2");
  Guidance{1.0, c.interval_lo, c.interval_hi}.validate();
}

// [SECTION] Results ---------------------------------------------------------------

json ShiftRow::to_json() const {
  return {{"omega", omega},      {"share", num(share)},   {"n1", n1},
          {"n0", n0},            {"fd", num(fd)},         {"fd_target", num(fd_target)},
          {"fd1", num(fd1)},     {"fd0", num(fd0)},       {"precision", num(precision)},
          {"recall", num(recall)}, {"nfe", nfe},          {"seconds", seconds}};
}

ShiftRow ShiftRow::from_json(const json& j) {
  ShiftRow r;
  r.omega = num_of(j, "omega");
  r.share = num_of(j, "share");
  r.n1 = j.value("n1", int64_t{0});
  r.n0 = j.value("n0", int64_t{0});
  r.fd = num_of(j, "fd");
  r.fd_target = num_of(j, "fd_target");
  r.fd1 = num_of(j, "fd1");
  r.fd0 = num_of(j, "fd0");
  r.precision = num_of(j, "precision");
  r.recall = num_of(j, "recall");
  r.nfe = j.value("nfe", 0);
  r.seconds = num_of(j, "seconds");
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
  for (const auto& r : rows) j["rows"].push_back(r.to_json());
  return j;
}

std::string ShiftResult::to_csv() const {
  auto f = [](double v) { return std::isfinite(v) ? fmt(v, 10) : std::string(); };
  std::ostringstream s;
  s << "omega,share,n_attr1,n_attr0,fd,fd_target,fd_attr1,fd_attr0,precision,recall,nfe,seconds\n";
  for (const auto& r : rows)
    s << f(r.omega) << "," << f(r.share) << "," << r.n1 << "," << r.n0 << "," << f(r.fd) << "," << f(r.fd_target)
      << "," << f(r.fd1) << "," << f(r.fd0) << "," << f(r.precision) << "," << f(r.recall) << "," << r.nfe << ","
      << f(r.seconds) << "\n";
  return s.str();
}

// [SECTION] The recipe -------------------------------------------------------------

ShiftResult run_shift(const ShiftConfig& cfg, const ShiftRunOptions& opts) {
  validate(cfg);
  if (opts.out_dir.empty()) throw InputError("shift: no run folder given (--out DIR)");
  const auto t_start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count(); };
  auto report = [&](const std::string& stage, int64_t done, int64_t total, const std::string& msg) {
    if (opts.on_progress) opts.on_progress({stage, done, total, msg, elapsed()});
  };
  auto note = [&](const std::string& msg) {
    if (opts.on_note) opts.on_note(msg);
  };
  auto cancelled = [&] { return opts.cancel && opts.cancel->load(); };

  // --- Inputs, checked before any long work. -----------------------------------------
  std::error_code ec;
  if (!fs::exists(cfg.base, ec)) throw InputError("base model '" + cfg.base + "' does not exist");
  if (!is_checkpoint(cfg.base))
    throw InputError("base model '" + cfg.base +
                     "' is not a sims checkpoint: distribution shifting fine-tunes the base, so it must come from "
                     "'sims train' (TorchScript and analytic models cannot be fine-tuned)");
  TrainState base_state = load_checkpoint(cfg.base);
  const std::vector<int64_t> shape = base_state.net.sample_shape();
  if (shape.size() != 3)
    throw InputError("base model '" + cfg.base + "' samples " + shape_to_string(shape) +
                     "; distribution shifting needs an image model [C,H,W] and an image classifier");

  metrics::ClassifierPtr clf = opts.classifier;
  if (!clf) {
    if (cfg.classifier.empty()) throw InputError("shift: no classifier (--classifier NET)");
    clf = metrics::load_classifier(cfg.classifier);
  }
  const auto& names = clf->attr_names();
  const auto it = std::find(names.begin(), names.end(), cfg.attribute);
  if (it == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw InputError("the classifier '" + clf->name() + "' has no attribute '" + cfg.attribute + "' (it has: " + list +
                     ")");
  }
  const int64_t col = it - names.begin();

  metrics::FeatureNetPtr feats = opts.features;
  const std::string feat_spec = cfg.features.empty() ? cfg.classifier : cfg.features;
  if (!feats) {
    if (feat_spec.empty()) throw InputError("shift: no feature network for FD (--features NET)");
    feats = metrics::load_feature_net(feat_spec);
  }

  std::string real_spec = cfg.real_data;
  if (real_spec.empty()) {
    if (base_state.data.value("source", std::string()) == "images" && base_state.data.contains("spec_string"))
      real_spec = base_state.data["spec_string"].get<std::string>();
    else
      throw InputError("give the real images for FD (--real-data SPEC): the base's checkpoint names no image data set");
  }
  data::ImageBatch real = data::load_images(data::ImageDatasetSpec::parse(real_spec), cfg.n_real, cfg.real_seed);
  {
    const auto s = real.images.sizes();
    if (real.images.dim() != 4 || s[1] != shape[0] || s[2] != shape[1] || s[3] != shape[2])
      throw InputError("the real images '" + real_spec + "' are " + c10::str(s.slice(1)) + " but the base samples " +
                       shape_to_string(shape));
  }

  // Stage keys: a stage is reused only when its key and every earlier key match.
  const int64_t n_first = cfg.n_sample > 0 ? cfg.n_sample : cfg.n_aux;
  const int64_t max_samples = cfg.max_samples > 0 ? cfg.max_samples : 20 * cfg.n_aux;
  const json clf_id = opts.classifier ? json{{"name", clf->name()}} : spec_fingerprint(cfg.classifier);
  const json feat_id = opts.features ? json{{"name", feats->name()}} : spec_fingerprint(feat_spec);
  const json synth_key = {{"base", file_fingerprint(cfg.base)}, {"classifier", clf_id}, {"attribute", cfg.attribute},
                          {"target", cfg.target},  {"n_aux", cfg.n_aux},  {"n_sample", n_first},
                          {"max_samples", max_samples}, {"chunk", cfg.chunk}, {"seed", cfg.seed},
                          {"sampler", sampler_json(cfg.sampler)}};
  const json aux_key = {{"finetune", finetune_key(cfg.finetune)}};
  const json eval_key = {{"features", feat_id},       {"real_data", real_spec},  {"n_real", cfg.n_real},
                         {"real_seed", cfg.real_seed}, {"n_eval", cfg.n_eval},   {"eval_seed", cfg.eval_seed},
                         {"sampler", sampler_json(cfg.eval_sampler)},
                         {"interval", {cfg.interval_lo, num(cfg.interval_hi)}}, {"pr_k", cfg.pr_k}, {"keep", cfg.keep}};

  // --- The run folder. ----------------------------------------------------------------
  const fs::path dir(opts.out_dir);
  json stored;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) throw IoError("--out '" + opts.out_dir + "' exists and is not a directory");
    if (fs::exists(dir / "config.json", ec)) {
      stored = read_json_file(dir / "config.json");
      if (stored.value("kind", std::string()) != "sims-shift")
        throw InputError("'" + opts.out_dir + "' holds another kind of run (config.json is not a sims shift config)");
    } else if (!fs::is_empty(dir, ec)) {
      throw InputError("'" + opts.out_dir + "' is not empty and holds no sims shift run; choose a new folder");
    }
  } else {
    fs::create_directories(dir, ec);
    if (ec) throw IoError("cannot create the run folder '" + opts.out_dir + "': " + ec.message());
  }
  io::check_writable((dir / "config.json").string());
  const json old_keys = stored.is_object() ? stored.value("keys", json::object()) : json::object();
  const bool synth_ok = old_keys.value("synth", json()) == synth_key;
  const bool aux_ok = synth_ok && old_keys.value("aux", json()) == aux_key;
  const bool eval_ok = aux_ok && old_keys.value("eval", json()) == eval_key;
  if (!stored.is_null()) {
    if (!synth_ok) note("the settings of the base samples changed: sampling them again (and every later stage)");
    else if (!aux_ok) note("the fine-tuning settings changed: training the auxiliary again (and sweeping again)");
    else if (!eval_ok) note("the sweep settings changed: sweeping again");
  }
  if (!synth_ok) {
    remove_path(dir / "synth");
    remove_path(dir / "aux_set.npy");
    remove_path(dir / "aux_set.json");
  }
  if (!aux_ok) remove_path(dir / "aux.ckpt");
  if (!eval_ok) remove_path(dir / "eval");
  write_json_file(dir / "config.json",
                  {{"kind", "sims-shift"},
                   {"version", 1},
                   {"config", cfg.to_json()},
                   {"real_data", real_spec},
                   {"classifier_name", clf->name()},
                   {"features_name", feats->name()},
                   {"keys", {{"synth", synth_key}, {"aux", aux_key}, {"eval", eval_key}}}});

  ShiftResult res;
  res.attribute = cfg.attribute;
  res.target = cfg.target;
  res.features = feats->name();
  const int64_t need1 = std::llround(static_cast<double>(cfg.n_aux) * (1.0 - cfg.target));
  const int64_t need0 = cfg.n_aux - need1;
  metrics::BatchOptions bo;
  bo.batch = cfg.batch;
  bo.cancel = opts.cancel;
  auto base_den = NetworkDenoiser::from_state(base_state, cfg.base);

  // --- Stages 1-2: base samples in rounds, labelled. ---------------------------------------
  fs::create_directories(dir / "synth", ec);
  if (ec) throw IoError("cannot create '" + (dir / "synth").string() + "': " + ec.message());
  const fs::path state_path = dir / "synth" / "state.json";
  json sstate = fs::exists(state_path, ec) ? read_json_file(state_path) : json{{"rounds", json::array()}};
  auto round_path = [&](size_t r, const char* suffix) {
    std::ostringstream s;
    s << "round-" << std::setw(3) << std::setfill('0') << r << suffix;
    return (dir / "synth" / s.str()).string();
  };
  int64_t n_pool = 0, c1 = 0;
  size_t labelled = 0;
  for (const auto& r : sstate["rounds"]) {
    if (!r.value("labelled", false)) break;
    const at::Tensor lab = io::read_npy(round_path(labelled, "-labels.npy"));
    c1 += lab.select(1, col).gt(0.5).sum().item<int64_t>();
    n_pool += lab.size(0);
    ++labelled;
  }
  res.synth_reused = labelled > 0;
  while (c1 < need1 || (n_pool - c1) < need0) {
    if (cancelled()) throw Cancelled();
    int64_t n_r = 0;
    uint64_t seed_r = 0;
    if (labelled < sstate["rounds"].size()) {  // planned earlier, not finished
      n_r = sstate["rounds"][labelled]["n"].get<int64_t>();
      seed_r = sstate["rounds"][labelled]["seed"].get<uint64_t>();
    } else {
      if (labelled == 0) {
        n_r = n_first;
      } else {
        // Enough for the short group at the share seen so far (smoothed), plus 10 %.
        const double p1 = (c1 + 1.0) / (n_pool + 2.0);
        const double want = std::max((need1 - c1) / p1, (need0 - (n_pool - c1)) / (1.0 - p1));
        n_r = static_cast<int64_t>(std::ceil(std::max(0.0, want) * 1.1)) + 16;
      }
      if (n_pool >= max_samples)
        throw InputError("the base model makes too few images with " + cfg.attribute + (c1 < need1 ? "=1" : "=0") +
                         ": " + std::to_string(c1 < need1 ? c1 : n_pool - c1) + " of " + std::to_string(n_pool) +
                         " samples, and the auxiliary set needs " + std::to_string(c1 < need1 ? need1 : need0) +
                         "; lower --n-aux, raise --max-samples (now " + std::to_string(max_samples) +
                         ") or check the classifier");
      n_r = std::min(n_r, max_samples - n_pool);
      seed_r = mix_seed(cfg.seed, labelled);
      sstate["rounds"].push_back({{"n", n_r}, {"seed", seed_r}, {"labelled", false}});
      write_json_file(state_path, sstate);
    }
    res.synth_reused = false;
    const std::string rp = round_path(labelled, ".npy");
    if (!fs::exists(rp, ec)) {
      SynthConfig sc;
      sc.n = n_r;
      sc.chunk = cfg.chunk;
      sc.seed = seed_r;
      sc.sampler = cfg.sampler;
      const size_t r = labelled;
      const SynthResult sr = generate_synthetic_set(base_den, nullptr, sc, rp, opts.cancel,
                                                    [&](int64_t done, int64_t total, double) {
                                                      report("sample", done, total,
                                                             "round " + std::to_string(r + 1) + ": " +
                                                                 std::to_string(done) + "/" + std::to_string(total) +
                                                                 " base samples");
                                                    });
      if (sr.cancelled) throw Cancelled();
    }
    const at::Tensor x = io::read_npy(rp).to(at::kFloat);
    metrics::BatchOptions lb = bo;
    lb.progress = [&](int64_t done, int64_t total) {
      report("label", done, total, "labelling " + std::to_string(done) + "/" + std::to_string(total));
      return !cancelled();
    };
    const at::Tensor lab = clf->predict(x.clamp(-1, 1), lb);
    io::write_npy(round_path(labelled, "-labels.npy"), lab);
    sstate["rounds"][labelled]["labelled"] = true;
    write_json_file(state_path, sstate);
    c1 += lab.select(1, col).gt(0.5).sum().item<int64_t>();
    n_pool += x.size(0);
    ++labelled;
    report("label", n_pool, n_pool,
           "pool: " + std::to_string(n_pool) + " samples, " + std::to_string(c1) + " with " + cfg.attribute + "=1");
  }
  res.n_pool = n_pool;
  res.pool1 = c1;
  res.rounds = static_cast<int>(labelled);

  // --- Stage 3: the auxiliary set with the complement share. ---------------------------------
  const fs::path aux_set_path = dir / "aux_set.npy", aux_json_path = dir / "aux_set.json";
  at::Tensor aux_set;
  if (fs::exists(aux_set_path, ec) && fs::exists(aux_json_path, ec)) {
    const json aj = read_json_file(aux_json_path);
    res.aux1 = aj.at("n1").get<int64_t>();
    res.aux0 = aj.at("n0").get<int64_t>();
  } else {
    report("select", 0, cfg.n_aux, "building the auxiliary set");
    std::vector<at::Tensor> parts;
    int64_t t1 = 0, t0 = 0;
    for (size_t r = 0; r < labelled && (t1 < need1 || t0 < need0); ++r) {
      const at::Tensor x = io::read_npy(round_path(r, ".npy")).to(at::kFloat);
      const at::Tensor g = io::read_npy(round_path(r, "-labels.npy")).select(1, col).gt(0.5);
      const auto ga = g.accessor<bool, 1>();
      std::vector<int64_t> pick;
      for (int64_t i = 0; i < g.size(0); ++i) {
        if (ga[i] && t1 < need1) pick.push_back(i), ++t1;
        else if (!ga[i] && t0 < need0) pick.push_back(i), ++t0;
      }
      if (!pick.empty()) parts.push_back(x.index_select(0, at::tensor(pick, at::kLong)));
    }
    if (t1 != need1 || t0 != need0) throw Error("shift: internal error: the pool does not hold the counted images");
    aux_set = at::cat(parts, 0);
    io::write_npy(aux_set_path.string(), aux_set);
    write_json_file(aux_json_path, {{"n", cfg.n_aux},
                                    {"n1", need1},
                                    {"n0", need0},
                                    {"share", double(need1) / cfg.n_aux},
                                    {"attribute", cfg.attribute},
                                    {"target", cfg.target},
                                    {"pool", {{"n", n_pool}, {"n1", c1}, {"share", double(c1) / n_pool}}}});
    res.aux1 = need1;
    res.aux0 = need0;
  }
  report("select", cfg.n_aux, cfg.n_aux,
         "auxiliary set: " + std::to_string(res.aux1) + " with " + cfg.attribute + "=1, " + std::to_string(res.aux0) +
             " with " + cfg.attribute + "=0");

  // --- Stage 4: fine-tune the auxiliary from the base. --------------------------------------
  const std::string aux_path = (dir / "aux.ckpt").string();
  TrainState aux_state;
  bool have_aux = false;
  if (fs::exists(aux_path, ec)) {
    try {
      aux_state = load_checkpoint(aux_path);
      have_aux = true;
    } catch (const Error&) {
      note("'" + aux_path + "' is damaged: training the auxiliary again");
    }
  }
  if (!have_aux) {
    TrainConfig tc = cfg.finetune;
    if (tc.checkpoint_every == 0) tc.checkpoint_every = std::max(tc.batch, tc.budget / 10);
    aux_state = TrainState::fork(base_state, tc);
    aux_state.provenance = {{"role", "auxiliary"},
                            {"base", cfg.base},
                            {"base_images_seen", base_state.images_seen},
                            {"n_synthetic", cfg.n_aux},
                            {"shift", {{"attribute", cfg.attribute}, {"target", cfg.target},
                                       {"aux_share", double(res.aux1) / cfg.n_aux}}},
                            {"summary", "aux of " + cfg.base + " on " + std::to_string(cfg.n_aux) +
                                            " synthetic samples, " + cfg.attribute + "=1 share " +
                                            fmt(double(res.aux1) / cfg.n_aux, 4) + " (complement of the target " +
                                            fmt(cfg.target, 4) + ")"},
                            {"base_history", base_state.provenance}};
    aux_state.data = {{"source", "npy"}, {"path", aux_set_path.string()}, {"n", cfg.n_aux}};
  }
  res.aux_reused = aux_state.images_seen >= aux_state.train.budget;
  if (!res.aux_reused) {
    if (have_aux)
      note("continuing the fine-tuning at " + std::to_string(aux_state.images_seen) + " of " +
           std::to_string(aux_state.train.budget) + " images");
    if (!aux_set.defined()) aux_set = io::read_npy_finite(aux_set_path.string()).to(at::kFloat);
    TrainOptions to;
    to.device = opts.device;
    to.cancel = opts.cancel;
    to.checkpoint_path = aux_path;
    to.on_progress = [&](const TrainEvent& e) {
      std::ostringstream m;
      m << "fine-tuning " << e.images_seen << "/" << e.budget << " images";
      if (std::isfinite(e.loss)) m << ", loss " << std::setprecision(4) << e.loss;
      m << ", " << std::setprecision(3) << e.images_per_second << " img/s";
      report("finetune", e.images_seen, e.budget, m.str());
    };
    if (train(aux_state, aux_set, to) == TrainOutcome::Cancelled) throw Cancelled();
    if (opts.device != c10::Device(c10::kCPU)) move_to(aux_state, c10::Device(c10::kCPU));
  }
  if (!aux_state.loss_curve.empty()) res.finetune_loss = aux_state.loss_curve.back().loss;
  auto aux_den = NetworkDenoiser::from_state(aux_state, aux_path);

  // --- Stage 5: the ω sweep. ----------------------------------------------------------------
  metrics::SweepReference ref;
  ref.real_images = real.images;
  {
    metrics::BatchOptions fb = bo;
    fb.progress = [&](int64_t done, int64_t total) {
      report("sweep", 0, static_cast<int64_t>(cfg.omegas.size()),
             "features of the real images " + std::to_string(done) + "/" + std::to_string(total));
      return !cancelled();
    };
    ref.real_features = feats->features(real.images, fb);
    ref.real_stats = metrics::stats_of_features(ref.real_features, "real features");
  }
  at::Tensor real_g;  // [M] bool: real image in group 1
  const auto rit = std::find(real.attr_names.begin(), real.attr_names.end(), cfg.attribute);
  if (rit != real.attr_names.end() && real.attrs.defined()) {
    real_g = real.attrs.select(1, rit - real.attr_names.begin()).gt(0.5);
    res.real_labels = "data";
  } else {
    real_g = clf->predict(real.images, bo).select(1, col).gt(0.5);
    res.real_labels = "classifier";
  }
  const at::Tensor ri1 = real_g.nonzero().squeeze(1), ri0 = real_g.logical_not().nonzero().squeeze(1);
  res.n_real1 = ri1.size(0);
  res.n_real0 = ri0.size(0);
  if (res.n_real1 < 2 || res.n_real0 < 2)
    throw InputError("the real images '" + real_spec + "' hold " + std::to_string(res.n_real1) + " with " +
                     cfg.attribute + "=1 and " + std::to_string(res.n_real0) +
                     " with " + cfg.attribute + "=0; per-group FD needs at least 2 of each (raise --n-real)");
  const at::Tensor rf1 = ref.real_features.index_select(0, ri1), rf0 = ref.real_features.index_select(0, ri0);
  const auto real1 = metrics::stats_of_features(rf1, "real features of " + cfg.attribute + "=1");
  const auto real0 = metrics::stats_of_features(rf0, "real features of " + cfg.attribute + "=0");
  // The real set re-balanced to the target share: as many images as both groups allow.
  const double m_all = std::min(res.n_real1 / cfg.target, res.n_real0 / (1.0 - cfg.target));
  const int64_t m1 = std::max<int64_t>(1, std::min<int64_t>(res.n_real1, std::llround(m_all * cfg.target)));
  const int64_t m0 = std::max<int64_t>(1, std::min<int64_t>(res.n_real0, std::llround(m_all * (1.0 - cfg.target))));
  const auto real_t = metrics::stats_of_features(at::cat({rf1.narrow(0, 0, m1), rf0.narrow(0, 0, m0)}, 0),
                                                 "real features at the target share");

  fs::create_directories(dir / "eval", ec);
  if (ec) throw IoError("cannot create '" + (dir / "eval").string() + "': " + ec.message());
  const std::string aux_label = "aux.ckpt";
  for (size_t k = 0; k < cfg.omegas.size(); ++k) {
    const double w = cfg.omegas[k];
    const fs::path rj = dir / "eval" / (omega_stem(w) + ".json"), rn = dir / "eval" / (omega_stem(w) + ".npy");
    if (fs::exists(rj, ec) && fs::exists(rn, ec)) {
      ShiftRow row = ShiftRow::from_json(read_json_file(rj));
      row.kept = io::read_npy(rn.string()).to(at::kFloat);
      row.reused = true;
      res.rows.push_back(std::move(row));
      continue;
    }
    if (cancelled()) throw Cancelled();
    metrics::SweepConfig sc;
    sc.omegas = {w};
    sc.intervals = {{cfg.interval_lo, cfg.interval_hi}};
    sc.sampler = cfg.eval_sampler;
    sc.n = cfg.n_eval;
    sc.seed = cfg.eval_seed;
    sc.batch = cfg.batch;
    sc.pr_k = cfg.pr_k;
    sc.keep = cfg.keep;
    sc.on_images = [&](metrics::SweepRow& row, const at::Tensor&, const at::Tensor& f, const at::Tensor& labels) {
      const at::Tensor g = labels.select(1, col).gt(0.5);
      const at::Tensor i1 = g.nonzero().squeeze(1), i0 = g.logical_not().nonzero().squeeze(1);
      row.extra["n1"] = i1.size(0);
      row.extra["n0"] = i0.size(0);
      row.extra["fd_target"] = metrics::frechet_distance(metrics::stats_of_features(f, "sample features"), real_t);
      if (i1.size(0) >= 2)
        row.extra["fd1"] = metrics::frechet_distance(metrics::stats_of_features(f.index_select(0, i1)), real1);
      if (i0.size(0) >= 2)
        row.extra["fd0"] = metrics::frechet_distance(metrics::stats_of_features(f.index_select(0, i0)), real0);
    };
    const std::string wtext = fmt(w);
    metrics::SweepProgress sp = [&](size_t, size_t, const std::string& stage) {
      report("sweep", static_cast<int64_t>(k), static_cast<int64_t>(cfg.omegas.size()), stage);
      return !cancelled();
    };
    metrics::SweepResult sr =
        metrics::run_sweep(base_den, {{aux_label, aux_den}}, sc, ref, feats.get(), clf.get(), sp, opts.cancel);
    const metrics::SweepRow& r = sr.rows.at(0);
    ShiftRow row;
    row.omega = w;
    row.share = col < static_cast<int64_t>(r.ratios.size()) ? r.ratios[col] : kNaN;
    row.fd = r.value;
    row.precision = r.precision;
    row.recall = r.recall;
    row.nfe = r.nfe;
    row.n1 = r.extra.value("n1", int64_t{0});
    row.n0 = r.extra.value("n0", int64_t{0});
    row.fd_target = num_of(r.extra, "fd_target");
    row.fd1 = num_of(r.extra, "fd1");
    row.fd0 = num_of(r.extra, "fd0");
    row.seconds = r.seconds;
    row.kept = r.kept;
    io::write_npy(rn.string(), row.kept);
    write_json_file(rj, row.to_json());  // written last: marks the row finished
    report("sweep", static_cast<int64_t>(k + 1), static_cast<int64_t>(cfg.omegas.size()),
           "omega " + wtext + ": share " + percent(row.share) + ", FD " + fmt(row.fd, 4));
    res.rows.push_back(std::move(row));
  }

  // --- Results, plots, samples. ---------------------------------------------------------------
  report("write", 0, 1, "writing results");
  res.seconds = elapsed();
  const std::string d = dir.string() + "/";
  const std::string csv = res.to_csv();
  io::write_file_atomically(d + "results.csv", csv.data(), csv.size());
  res.files = {d + "results.csv", d + "results.json", d + "shift.png", d + "samples.png", aux_path};

  double x0 = INFINITY, x1 = -INFINITY;
  for (double w : cfg.omegas) x0 = std::min(x0, w), x1 = std::max(x1, w);
  if (x1 == x0) x0 -= 0.5, x1 += 0.5;
  render::LinePlot sp;
  sp.title = "share of " + cfg.attribute + " = 1 vs \u03c9";
  sp.x_label = "guidance \u03c9";
  sp.y_label = "share (" + clf->name() + ")";
  sp.width = 560;
  sp.height = 420;
  render::Series share;
  share.label = "generated";
  share.colour = render::palette(0);
  for (const auto& r : res.rows) share.x.push_back(r.omega), share.y.push_back(r.share);
  sp.series.push_back(share);
  sp.series.push_back(dashed_line("target " + fmt(cfg.target, 3), cfg.target, x0, x1, render::palette(3)));
  sp.series.push_back(
      dashed_line("aux set " + fmt(double(res.aux1) / cfg.n_aux, 3), double(res.aux1) / cfg.n_aux, x0, x1,
                  render::palette(7)));
  sp.series.push_back(invisible_point(x0, 0.0));  // shares on [0, 1]
  sp.series.push_back(invisible_point(x0, 1.0));
  render::LinePlot fp;
  fp.title = "FD_" + feats->name() + " per group vs \u03c9";
  fp.x_label = "guidance \u03c9";
  fp.y_label = "FD_" + feats->name();
  fp.width = 560;
  fp.height = 420;
  render::Series g1, g0, all;
  g1.label = cfg.attribute + "=1 vs real " + cfg.attribute + "=1";
  g1.colour = render::palette(1);
  g0.label = cfg.attribute + "=0 vs real " + cfg.attribute + "=0";
  g0.colour = render::palette(2);
  all.label = "all vs real at target share";
  all.colour = render::palette(7);
  for (const auto& r : res.rows) {
    g1.x.push_back(r.omega), g1.y.push_back(r.fd1);
    g0.x.push_back(r.omega), g0.y.push_back(r.fd0);
    all.x.push_back(r.omega), all.y.push_back(r.fd_target);
  }
  fp.series = {g1, g0, all};
  double fd_max = 0;
  for (const auto& r : res.rows)
    for (double v : {r.fd1, r.fd0, r.fd_target})
      if (std::isfinite(v)) fd_max = std::max(fd_max, v);
  fp.series.push_back(invisible_point(x0, 0.0));
  fp.series.push_back(invisible_point(x0, 1.35 * fd_max));  // room for the legend
  const render::Canvas left = render::render_plot(sp), right = render::render_plot(fp);
  render::Canvas both(left.width() + right.width(), std::max(left.height(), right.height()));
  both.blit(left, 0, 0);
  both.blit(right, left.width(), 0);
  both.write_png(d + "shift.png");

  render::GridFigure fig;
  fig.title = "SIMS shift: aux set " + percent(double(res.aux1) / cfg.n_aux) + " " + cfg.attribute + "=1, target " +
              percent(cfg.target);
  fig.x_title = "same noise in every row";
  fig.x_labels = {""};
  // Small images are enlarged so the strip is wide enough for the titles.
  const int zoom = std::clamp(static_cast<int>(std::ceil(480.0 / (cfg.keep * (shape[2] + 2)))), 1, 4);
  for (const auto& r : res.rows) {
    fig.y_labels.push_back("\u03c9 = " + fmt(r.omega) + " (" + percent(r.share) + " " + cfg.attribute + "=1)");
    fig.cells.push_back({render::image_mosaic(r.kept, static_cast<int>(r.kept.size(0)), zoom, 2)});
  }
  render::compose_grid(fig).write_png(d + "samples.png");

  json rj = res.to_json();
  rj["config"] = cfg.to_json();
  rj["real_data"] = real_spec;
  rj["classifier"] = clf->name();
  write_json_file(dir / "results.json", rj);
  report("write", 1, 1, "done");
  return res;
}

}  // namespace sims::loops
