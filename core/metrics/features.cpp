#include "metrics/features.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <torch/script.h>
#include <torch/torch.h>

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "common/script_error.hpp"
#include "data/faces.hpp"
#include "data/image_datasets.hpp"
#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "io/zip.hpp"
#include "io/script_meta.hpp"

namespace sims::metrics {

// [SECTION] Batching ------------------------------------------------------------

namespace {

void check_images(const at::Tensor& images, const char* what) {
  if (!images.defined() || images.dim() != 4 || (images.size(1) != 1 && images.size(1) != 3))
    throw InputError(std::string(what) + ": images must be [N,C,H,W] with C = 1 or 3, got " +
                     (images.defined() ? c10::str(images.sizes()) : std::string("nothing")));
  if (!images.is_floating_point()) throw InputError(std::string(what) + ": images must be floating point");
  if (images.size(0) == 0) throw InputError(std::string(what) + ": no images");
}

template <class F>
at::Tensor batched(const at::Tensor& images, const BatchOptions& opts, const char* what, F&& fn) {
  check_images(images, what);
  const int64_t n = images.size(0), b = std::max<int64_t>(1, opts.batch);
  std::vector<at::Tensor> out;
  c10::InferenceMode guard;
  for (int64_t i = 0; i < n; i += b) {
    if (opts.cancel && opts.cancel->load()) throw Cancelled();
    at::Tensor x = images.narrow(0, i, std::min(b, n - i)).to(at::kCPU, at::kFloat);
    if (!at::isfinite(x).all().item<bool>())
      throw InputError(std::string(what) + ": images contain NaN or Inf (batch starting at image " +
                       std::to_string(i) + ")");
    at::Tensor y = fn(x).to(at::kCPU, at::kFloat).contiguous();
    out.push_back(y);
    if (opts.progress && !opts.progress(std::min(n, i + b), n)) throw Cancelled();
  }
  return at::cat(out, 0);
}

at::Tensor flatten_output(const at::Tensor& y, int64_t n) {
  if (y.dim() >= 2 && y.size(0) == n) {
    bool ones = true;
    for (int64_t d = 2; d < y.dim(); ++d) ones = ones && y.size(d) == 1;
    if (ones) return y.reshape({n, y.size(1)});
  }
  return y;
}

}  // namespace

at::Tensor FeatureNet::features(const at::Tensor& images, const BatchOptions& opts) {
  return batched(images, opts, "features", [this](const at::Tensor& x) { return batch_features(x); });
}

at::Tensor AttributeClassifier::logits(const at::Tensor& images, const BatchOptions& opts) {
  return batched(images, opts, "classifier", [this](const at::Tensor& x) { return batch_logits(x); });
}

at::Tensor AttributeClassifier::labels_from_logits(const at::Tensor& lg) const {
  if (multi_label()) return (lg > 0).to(at::kFloat);
  return at::one_hot(lg.argmax(1), lg.size(1)).to(at::kFloat);
}

at::Tensor AttributeClassifier::predict(const at::Tensor& images, const BatchOptions& opts) {
  return labels_from_logits(logits(images, opts));
}

std::vector<double> attribute_ratios(const at::Tensor& labels) {
  if (labels.dim() != 2 || labels.size(0) == 0) throw InputError("attribute ratios need labels [N,K] with N > 0");
  at::Tensor m = labels.to(at::kDouble).mean(0);
  return std::vector<double>(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
}

// [SECTION] TorchScript networks --------------------------------------------------

namespace {

struct NetSpec {
  std::string path, name;
  int64_t size = -1;  // -1: not given
  double lo = NAN, hi = NAN;
  bool softmax = false;
};

NetSpec parse_spec(const std::string& text) {
  NetSpec s;
  std::stringstream ss(text);
  std::string part;
  bool first = true;
  while (std::getline(ss, part, ',')) {
    if (first) {
      s.path = part;
      first = false;
      continue;
    }
    const auto eq = part.find('=');
    const std::string key = part.substr(0, eq), val = eq == std::string::npos ? "" : part.substr(eq + 1);
    // Numbers in decimal as written (stoll/stod alone take "0x10", " 5" and "5abc"'s 5 is checked by `used`).
    const auto number = [](const std::string& t, bool whole) {
      if (t.empty() || t.find_first_not_of(whole ? "0123456789" : "0123456789+-.eE") != std::string::npos)
        throw InputError("");
      size_t used = 0;
      const double v = whole ? static_cast<double>(std::stoll(t, &used)) : std::stod(t, &used);
      if (used != t.size()) throw InputError("");
      return v;
    };
    try {
      if (key == "size" && !val.empty()) {
        s.size = static_cast<int64_t>(number(val, true));
        if (s.size < 0 || s.size > 1024) throw InputError("");
      } else if (key == "range" && val.find(':') != std::string::npos) {
        s.lo = number(val.substr(0, val.find(':')), false);
        s.hi = number(val.substr(val.find(':') + 1), false);
        if (!(s.hi > s.lo)) throw InputError("");
      } else if (key == "name" && !val.empty()) {
        s.name = val;
      } else if (key == "softmax" && val.empty()) {
        s.softmax = true;
      } else {
        throw InputError("");
      }
    } catch (const std::exception&) {
      throw InputError("network spec '" + text + "': bad option '" + part +
                       "' (expected size=S, range=LO:HI, name=NAME or softmax)");
    }
  }
  if (s.path.empty()) throw InputError("empty network spec");
  if (!std::filesystem::exists(s.path)) throw InputError("network file '" + s.path + "' does not exist");
  return s;
}

class TorchScriptNet final : public FeatureNet, public AttributeClassifier {
 public:
  explicit TorchScriptNet(const NetSpec& spec) : path_(spec.path) {
    torch::jit::ExtraFilesMap extra{{"sims.json", ""}};
    module_ = script_guard([&] { return "cannot load '" + spec.path + "' as TorchScript"; },
                           [&] { return torch::jit::load(spec.path, c10::Device(c10::kCPU), extra); });
    module_.eval();
    for (auto p : module_.parameters()) p.set_requires_grad(false);
    // The metadata checked as a whole first (io/script_meta.hpp); the user's options take precedence.
    io::FeatureMetaGiven given;
    given.name = !spec.name.empty(), given.size = spec.size >= 0, given.range = !std::isnan(spec.lo);
    given.softmax = spec.softmax;
    const io::FeatureScriptMeta meta = extra["sims.json"].empty()
                                           ? io::FeatureScriptMeta{}
                                           : io::read_feature_script_meta(extra["sims.json"], spec.path, given);
    name_ = !spec.name.empty() ? spec.name : meta.name.value_or(std::filesystem::path(spec.path).stem().string());
    size_ = spec.size >= 0 ? spec.size : meta.input_size.value_or(299);
    lo_ = -1, hi_ = 1;
    if (meta.input_range) lo_ = meta.input_range->first, hi_ = meta.input_range->second;
    if (!std::isnan(spec.lo)) lo_ = spec.lo, hi_ = spec.hi;
    multi_ = !spec.softmax && meta.multi_label;
    attrs_ = meta.attr_names;
    // Validate with a dummy batch of 2.
    const int64_t s = size_ > 0 ? size_ : 32;
    const at::Tensor y = script_guard(
        [&] {
          return "'" + spec.path + "' fails on a dummy batch [2,3," + std::to_string(s) + "," + std::to_string(s) + "]";
        },
        [&] {
          c10::InferenceMode guard;
          return run(at::zeros({2, 3, s, s}));
        });
    if (y.dim() != 2 || y.size(0) != 2 || y.size(1) < 1 || !y.is_floating_point())
      throw ModelError("'" + spec.path + "' must return features [N,F] (float), but for a batch of 2 it returned " +
                       c10::str(y.sizes()) + " " + std::string(c10::toString(y.scalar_type())));
    if (!at::isfinite(y).all().item<bool>()) throw ModelError("'" + spec.path + "' returns NaN/Inf on a dummy batch");
    dim_ = y.size(1);
    if (attrs_.empty())
      for (int64_t k = 0; k < dim_; ++k) attrs_.push_back("attr" + std::to_string(k));
    if (static_cast<int64_t>(attrs_.size()) != dim_)
      throw ModelError("'" + spec.path + "': sims.json names " + std::to_string(attrs_.size()) +
                       " attributes but the network returns " + std::to_string(dim_) + " outputs");
  }
  std::string name() const override { return name_; }
  int64_t dim() const override { return dim_; }
  const std::vector<std::string>& attr_names() const override { return attrs_; }
  bool multi_label() const override { return multi_; }
  at::Tensor batch_features(const at::Tensor& images) override { return checked(images); }
  at::Tensor batch_logits(const at::Tensor& images) override { return checked(images); }

 private:
  at::Tensor prepare(const at::Tensor& images) const {
    at::Tensor x = images.to(at::kCPU, at::kFloat);
    if (x.size(1) == 1) x = x.repeat({1, 3, 1, 1});
    if (size_ > 0 && (x.size(2) != size_ || x.size(3) != size_))
      x = at::upsample_bilinear2d(x, {size_, size_}, /*align_corners=*/false);
    if (lo_ != -1.0 || hi_ != 1.0) x = (x + 1.0) * (0.5 * (hi_ - lo_)) + lo_;
    return x.contiguous();
  }
  at::Tensor run(const at::Tensor& images) {
    const int64_t n = images.size(0);
    c10::IValue out = module_.forward({prepare(images)});
    if (!out.isTensor()) throw ModelError("'" + path_ + "' must return a Tensor [N,F], not " + out.tagKind());
    return flatten_output(out.toTensor(), n);
  }
  at::Tensor checked(const at::Tensor& images) {
    const at::Tensor y = script_guard([&] { return "'" + path_ + "' failed"; }, [&] { return run(images); });
    if (y.dim() != 2 || y.size(0) != images.size(0) || y.size(1) != dim_)
      throw ModelError("'" + path_ + "' returned " + c10::str(y.sizes()) + " for " +
                       std::to_string(images.size(0)) + " images (expected [N," + std::to_string(dim_) + "])");
    return y;
  }

  std::string path_, name_;
  torch::jit::Module module_;
  int64_t size_ = 299, dim_ = 0;
  double lo_ = -1, hi_ = 1;
  bool multi_ = true;
  std::vector<std::string> attrs_;
};

}  // namespace

// [SECTION] The project's CNN -------------------------------------------------------

nlohmann::json FeatureCnnConfig::to_json() const {
  return {{"channels", channels}, {"size", size}, {"width", width}, {"feature_dim", feature_dim}, {"outputs", outputs}};
}

namespace {
// The image sizes and outputs a feature network takes: its configuration's checks and training's use the same.
constexpr int64_t kMinSize = 8, kMaxSize = 256, kMaxOutputs = 1000;
}  // namespace

FeatureCnnConfig FeatureCnnConfig::from_json(const nlohmann::json& j) {
  FeatureCnnConfig c;
  // Each a count in its range, the value named: "size is 4, not from 8 to 256", "width is not a count" (text, a
  // fraction, a negative number).
  auto read = [&](const char* key, int64_t fallback, int64_t lo, int64_t hi) {
    const int64_t v = count_or(j, key, fallback);
    if (v < lo || v > hi)
      throw ModelError(std::string(key) + " is " + std::to_string(v) + ", not from " + std::to_string(lo) + " to " +
                       std::to_string(hi));
    return v;
  };
  c.channels = count_or(j, "channels", c.channels);
  if (c.channels != 1 && c.channels != 3)
    throw ModelError("channels is " + std::to_string(c.channels) + ", not 1 (grey) or 3 (RGB)");
  c.size = read("size", c.size, kMinSize, kMaxSize);
  c.width = read("width", c.width, 1, 256);
  c.feature_dim = read("feature_dim", c.feature_dim, 1, 4096);
  c.outputs = read("outputs", c.outputs, 1, kMaxOutputs);
  return c;
}

class FeatureCnn : public torch::nn::Module {
 public:
  explicit FeatureCnn(const FeatureCnnConfig& c) : cfg(c) {
    const int64_t w1 = c.width, w2 = 2 * c.width, w3 = (8 * c.width) / 3;
    auto conv = [](int64_t i, int64_t o, int64_t k) {
      return torch::nn::Conv2d(torch::nn::Conv2dOptions(i, o, k).stride(2).padding(k / 2));
    };
    c1 = register_module("c1", conv(c.channels, w1, 5));
    b1 = register_module("b1", torch::nn::BatchNorm2d(w1));
    c2 = register_module("c2", conv(w1, w2, 3));
    b2 = register_module("b2", torch::nn::BatchNorm2d(w2));
    c3 = register_module("c3", conv(w2, w3, 3));
    b3 = register_module("b3", torch::nn::BatchNorm2d(w3));
    const int64_t s = ((c.size + 1) / 2 + 1) / 2;
    const int64_t s3 = (s + 1) / 2;
    fc = register_module("fc", torch::nn::Linear(w3 * s3 * s3, c.feature_dim));
    head = register_module("head", torch::nn::Linear(c.feature_dim, c.outputs));
  }
  torch::Tensor features(const torch::Tensor& x) {
    auto h = torch::relu(b1(c1(x)));
    h = torch::relu(b2(c2(h)));
    h = torch::relu(b3(c3(h)));
    return torch::relu(fc(h.flatten(1)));
  }
  torch::Tensor forward(const torch::Tensor& x) { return head(features(x)); }

  FeatureCnnConfig cfg;
  torch::nn::Conv2d c1{nullptr}, c2{nullptr}, c3{nullptr};
  torch::nn::BatchNorm2d b1{nullptr}, b2{nullptr}, b3{nullptr};
  torch::nn::Linear fc{nullptr}, head{nullptr};
};

TrainedCnn::TrainedCnn(std::shared_ptr<FeatureCnn> net, nlohmann::json meta) : net_(std::move(net)), meta_(std::move(meta)) {
  net_->eval();
  for (auto& p : net_->parameters()) p.set_requires_grad(false);
  // Each value read as its kind (InputError naming it); name() reads "name" later, so it is checked here.
  attrs_ = value_or<std::vector<std::string>>(meta_, "attr_names", {});
  multi_ = value_or<std::string>(meta_, "labels", "multi") == "multi";
  value_or<std::string>(meta_, "name", "cnn");
  const int64_t outputs = net_->cfg.outputs, named = static_cast<int64_t>(attrs_.size());
  if (named != outputs)
    throw ModelError(named == 0 ? "attr_names is missing (the network has " + std::to_string(outputs) + " outputs)"
                                : "attr_names has " + std::to_string(named) + (named == 1 ? " entry" : " entries") +
                                      " for the network's " + std::to_string(outputs) + " outputs");
}

std::string TrainedCnn::name() const { return meta_.value("name", std::string("cnn")); }
int64_t TrainedCnn::dim() const { return net_->cfg.feature_dim; }

at::Tensor TrainedCnn::prepare(const at::Tensor& images) const {
  at::Tensor x = images.to(at::kCPU, at::kFloat);
  if (x.size(1) != net_->cfg.channels) x = data::convert_channels(x, static_cast<int>(net_->cfg.channels));
  if (x.size(2) != net_->cfg.size || x.size(3) != net_->cfg.size) x = data::resize_images(x, static_cast<int>(net_->cfg.size));
  return x.contiguous();
}

at::Tensor TrainedCnn::batch_features(const at::Tensor& images) { return net_->features(prepare(images)); }
at::Tensor TrainedCnn::batch_logits(const at::Tensor& images) { return net_->forward(prepare(images)); }

double classifier_accuracy(AttributeClassifier& clf, const data::ImageBatch& d, std::vector<double>* per_attr) {
  at::Tensor pred = clf.predict(d.images);
  if (clf.multi_label()) {
    if (!d.attrs.defined() || d.attrs.size(1) != pred.size(1))
      throw InputError("the data's attributes do not match the classifier's " + std::to_string(pred.size(1)));
    at::Tensor acc = (pred == d.attrs.to(at::kFloat)).to(at::kDouble).mean(0);
    if (per_attr) per_attr->assign(acc.data_ptr<double>(), acc.data_ptr<double>() + acc.numel());
    return acc.mean().item<double>();
  }
  if (!d.has_labels()) throw InputError("the data has no class labels");
  if (per_attr) per_attr->clear();
  return (pred.argmax(1) == d.labels.to(at::kLong)).to(at::kDouble).mean().item<double>();
}

std::shared_ptr<TrainedCnn> train_feature_cnn(const data::ImageBatch& d, const FeatureTrainConfig& tc,
                                              FeatureTrainReport* report,
                                              const std::function<bool(int64_t, int64_t, double)>& progress,
                                              const std::atomic<bool>* cancel) {
  const auto t0 = std::chrono::steady_clock::now();
  check_images(d.images, "training data");
  const bool multi = d.attrs.defined() && d.attrs.dim() == 2 && d.attrs.size(1) > 0;
  if (!multi && !d.has_labels())
    throw InputError("the training data has neither attributes nor class labels to learn");
  // Each setting named by its flag (one message for all of them named none); the learning rate bounded as the
  // diffusion trainer's (inf ran to a NaN network that was written and exited 0).
  if (tc.epochs < 1 || tc.epochs > 100000)
    throw InputError("--epochs must be from 1 to 100000 (got " + std::to_string(tc.epochs) + ")");
  if (tc.batch < 1 || tc.batch > (1 << 20))
    throw InputError("--batch must be from 1 to 1048576 (got " + std::to_string(tc.batch) + ")");
  const auto num = [](double v) {
    std::ostringstream o;
    o << v;
    return o.str();
  };
  if (!(tc.lr > 0 && tc.lr <= 10)) throw InputError("--lr must be above 0 and at most 10 (got " + num(tc.lr) + ")");
  if (!(tc.holdout > 0 && tc.holdout < 0.9))
    throw InputError("--holdout must be above 0 and below 0.9 (got " + num(tc.holdout) + ")");
  const int64_t n = d.size(), n_hold = std::max<int64_t>(1, static_cast<int64_t>(std::llround(n * tc.holdout)));
  const int64_t n_train = n - n_hold;
  if (n_train < 2 * tc.batch && n_train < 16) throw InputError("too few images to train a feature network (" + std::to_string(n) + ")");

  FeatureCnnConfig cfg;
  cfg.channels = d.images.size(1);
  cfg.size = d.images.size(2);
  std::vector<std::string> names;
  at::Tensor target;
  if (multi) {
    cfg.outputs = d.attrs.size(1);
    names = d.attr_names;
    if (static_cast<int64_t>(names.size()) != cfg.outputs) {
      names.clear();
      for (int64_t k = 0; k < cfg.outputs; ++k) names.push_back("attr" + std::to_string(k));
    }
    target = d.attrs.to(at::kFloat);
  } else {
    at::Tensor lab = d.labels.to(at::kLong);
    cfg.outputs = std::max<int64_t>(2, lab.max().item<int64_t>() + 1);
    for (int64_t k = 0; k < cfg.outputs; ++k)
      names.push_back(k < static_cast<int64_t>(d.class_names.size()) ? d.class_names[k] : std::to_string(k));
    target = lab;
  }
  // The data decide size, channels and outputs: their limits said in the data's words.
  if (cfg.size < kMinSize || cfg.size > kMaxSize)
    throw InputError("the images are " + std::to_string(cfg.size) + " pixels wide; a feature network takes " +
                     std::to_string(kMinSize) + " to " + std::to_string(kMaxSize) + " (resize the data set)");
  if (cfg.outputs > kMaxOutputs)
    throw InputError("the data have " + std::to_string(cfg.outputs) + (multi ? " attributes" : " classes") +
                     "; a feature network learns at most " + std::to_string(kMaxOutputs));
  cfg = FeatureCnnConfig::from_json(cfg.to_json());

  torch::manual_seed(tc.seed);
  auto net = std::make_shared<FeatureCnn>(cfg);
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(tc.lr));
  at::Tensor images = d.images.to(at::kCPU, at::kFloat).contiguous();
  at::Tensor xtr = images.narrow(0, 0, n_train), ytr = target.narrow(0, 0, n_train);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(tc.seed + 1);
  const int64_t steps_per_epoch = (n_train + tc.batch - 1) / tc.batch;
  const int64_t total_steps = steps_per_epoch * tc.epochs;
  int64_t step = 0;
  for (int64_t ep = 0; ep < tc.epochs; ++ep) {
    net->train();
    at::Tensor perm = at::randperm(n_train, gen, at::TensorOptions().dtype(at::kLong));
    double running = 0;
    int64_t count = 0;
    for (int64_t i = 0; i < n_train; i += tc.batch, ++step) {
      if (cancel && cancel->load()) throw Cancelled();
      // Cosine decay of the learning rate over the run.
      const double lr = tc.lr * 0.5 * (1 + std::cos(M_PI * static_cast<double>(step) / total_steps));
      for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
      at::Tensor idx = perm.narrow(0, i, std::min(tc.batch, n_train - i));
      if (idx.size(0) < 2) continue;  // BatchNorm needs 2
      at::Tensor xb = xtr.index_select(0, idx), yb = ytr.index_select(0, idx);
      at::Tensor out = net->forward(xb);
      at::Tensor loss = multi ? torch::binary_cross_entropy_with_logits(out, yb) : torch::cross_entropy_loss(out, yb);
      opt.zero_grad();
      loss.backward();
      opt.step();
      const double l = loss.item<double>();
      // A loss that is not a number: the weights are lost; nothing is written.
      if (!std::isfinite(l))
        throw ModelError("feature training diverged in epoch " + std::to_string(ep + 1) +
                         " (the loss was not finite; learning rate " + num(tc.lr) +
                         " too high, or extreme data); nothing was written");
      running += l;
      ++count;
    }
    if (progress && !progress(ep + 1, tc.epochs, running / std::max<int64_t>(1, count))) throw Cancelled();
  }

  nlohmann::json meta = {{"format", "sims-feature-net"},
                         {"version", 1},
                         {"name", tc.name.empty() ? "cnn" : tc.name},
                         {"net", cfg.to_json()},
                         {"input_size", cfg.size},
                         {"input_channels", cfg.channels},
                         {"input_range", {-1.0, 1.0}},
                         {"attr_names", names},
                         {"labels", multi ? "multi" : "classes"},
                         {"train", {{"epochs", tc.epochs}, {"batch", tc.batch}, {"lr", tc.lr}, {"seed", tc.seed},
                                    {"n_train", n_train}, {"n_heldout", n_hold}}}};
  auto trained = std::make_shared<TrainedCnn>(net, meta);
  std::vector<double> per;
  const double acc = classifier_accuracy(*trained, d.narrow(n_train, n_hold), &per);
  nlohmann::json m = trained->meta();
  m["heldout_accuracy"] = acc;
  if (multi) {
    nlohmann::json pa = nlohmann::json::object();
    for (size_t k = 0; k < per.size(); ++k) pa[names[k]] = per[k];
    m["heldout_attr_accuracy"] = pa;
  }
  trained = std::make_shared<TrainedCnn>(net, m);
  if (report) {
    report->accuracy = acc;
    report->attr_accuracy = per;
    report->n_train = n_train;
    report->n_heldout = n_hold;
    report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    report->meta = m;
  }
  return trained;
}

void save_feature_cnn(const std::string& path, const TrainedCnn& net) {
  torch::serialize::OutputArchive ar, weights;
  ar.write("sims_feature_net", c10::IValue(net.meta().dump()));
  net.module()->save(weights);
  ar.write("weights", weights);
  io::write_atomically(path, [&](std::ostream& out) { ar.save_to(out); });
  const std::string side = net.meta().dump(2) + "\n";
  io::write_file_atomically(path + ".json", side.data(), side.size());
}

bool is_feature_cnn(const std::string& path) {
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(path);
    c10::IValue v;
    return ar.try_read("sims_feature_net", v);
  } catch (const c10::Error&) {
    return false;
  }
}

namespace {

// One look at a file given as a feature network or classifier (`role`): a SIMS feature checkpoint (true), something
// for TorchScript's loader (false), or none of them, said in words before that loader reports a folder, an empty
// file or random bytes as "PytorchStreamReader failed reading zip archive". Reads the archive once.
// A feature checkpoint's archive is left in `ar` for `cnn_from_archive`, so that the file is read once.
bool probe_network_file(const std::string& path, const std::string& role, torch::serialize::InputArchive& ar) {
  const std::string kinds = " (a " + role + " is a .ckpt from 'sims features train' or a TorchScript file)";
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InputError("network file '" + path + "' is a folder" + kinds);
  // A diffusion model's weights-only checkpoint (safetensors layout) is named as such.
  if (io::looks_like_safetensors(path))
    throw ModelError("'" + path + "' is a diffusion model checkpoint, not a " + role + kinds);
  std::ifstream in(path, std::ios::binary);
  char head[4] = {0, 0, 0, 0};
  in.read(head, 4);
  if (!in || in.gcount() < 4 || head[0] != 'P' || head[1] != 'K')
    throw ModelError("'" + path + "' is not a " + role + ": neither a SIMS feature checkpoint nor TorchScript" + kinds);
  io::require_zip_crcs(path);  // either kind is a zip whose readers do not compare the checksums
  try {
    ar.load_from(path);
    c10::IValue v;
    if (ar.try_read("sims_feature_net", v)) return true;
    // A project archive of another kind (a diffusion model's checkpoint) is named as such.
    if (ar.try_read("sims_checkpoint", v))
      throw ModelError("'" + path + "' is a diffusion model checkpoint, not a " + role + kinds);
  } catch (const c10::Error&) {
    // not a torch::save archive: TorchScript's loader decides
  }
  return false;
}

// The network and metadata of a feature checkpoint whose archive `ar` was read from `path`.
std::shared_ptr<TrainedCnn> cnn_from_archive(torch::serialize::InputArchive& ar, const std::string& path) {
  c10::IValue v;
  if (!ar.try_read("sims_feature_net", v) || !v.isString())
    throw ModelError("'" + path + "' is not a SIMS feature network (no sims_feature_net record)");
  nlohmann::json meta;
  try {
    meta = parse_json_bounded(v.toStringRef(), "its metadata");
  } catch (const InputError& e) {
    throw ModelError("'" + path + "': feature network metadata is corrupt (" + std::string(e.what()) + ")");
  }
  FeatureCnnConfig cfg;
  try {
    cfg = FeatureCnnConfig::from_json(meta.at("net"));
  } catch (const nlohmann::json::exception& e) {
    throw ModelError("'" + path + "': feature network metadata is incomplete: " + json_error_words(e));
  } catch (const Error& e) {  // its own checks (a size out of range, a count that is text), with the file named
    throw ModelError("'" + path + "': feature network metadata is damaged: " + std::string(e.what()));
  }
  std::shared_ptr<FeatureCnn> net;
  try {
    net = std::make_shared<FeatureCnn>(cfg);
    torch::serialize::InputArchive w;
    if (!ar.try_read("weights", w)) throw ModelError("'" + path + "': no weights");
    net->load(w);
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    throw ModelError("'" + path + "': weights do not fit the network: " + msg.substr(0, msg.find('\n')));
  }
  try {
    return std::make_shared<TrainedCnn>(net, meta);
  } catch (const Error& e) {  // the names, labels or name the metadata holds, with the file named
    throw ModelError("'" + path + "': feature network metadata is damaged: " + std::string(e.what()));
  }
}

}  // namespace

std::shared_ptr<TrainedCnn> load_feature_cnn(const std::string& path) {
  io::require_zip_crcs(path);
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(path);
  } catch (const c10::Error&) {
    throw ModelError("cannot read feature network '" + path + "': not a readable archive");
  }
  return cnn_from_archive(ar, path);
}

// [SECTION] Loading by spec ----------------------------------------------------------

namespace {

// A SIMS feature checkpoint knows its input size and range and gives features and logits itself: the spec options
// that describe a TorchScript network would be ignored, so they are refused.
void refuse_torchscript_options(const NetSpec& s, const std::string& role) {
  if (s.size >= 0 || std::isfinite(s.lo) || s.softmax)
    throw InputError(role + " '" + s.path + "' is a SIMS feature network, which knows its input size and range: "
                     "size=, range= and softmax describe TorchScript networks only (leave them out)");
}

}  // namespace

FeatureNetPtr load_feature_net(const std::string& text) {
  NetSpec s = parse_spec(text);
  {
    // (Scoped: a TorchScript file is loaded again below, and a large one should not be held twice.)
    torch::serialize::InputArchive ar;
    if (probe_network_file(s.path, "feature network", ar)) {
      refuse_torchscript_options(s, "feature network");
      auto net = cnn_from_archive(ar, s.path);
      if (!s.name.empty()) {
        nlohmann::json m = net->meta();
        m["name"] = s.name;
        net = std::make_shared<TrainedCnn>(net->module(), m);
      }
      return net;
    }
  }
  return std::make_shared<TorchScriptNet>(s);
}

ClassifierPtr load_classifier(const std::string& text) {
  NetSpec s = parse_spec(text);
  {
    torch::serialize::InputArchive ar;  // scoped, as above
    if (probe_network_file(s.path, "classifier", ar)) {
      refuse_torchscript_options(s, "classifier");
      return cnn_from_archive(ar, s.path);
    }
  }
  return std::make_shared<TorchScriptNet>(s);
}

}  // namespace sims::metrics
