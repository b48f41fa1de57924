#include "training/checkpoint.hpp"
#include "training/pairing.hpp"

#include <cmath>

#include <torch/serialize.h>
#include <torch/serialize/archive.h>

#include <limits>
#include <set>

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "io/crc32.hpp"
#include "io/safetensors.hpp"
#include "io/zip.hpp"

namespace sims {

// [SECTION] Training configuration --------------------------------------------

nlohmann::json TrainConfig::to_json() const {
  return {{"budget", budget},         {"batch", batch},       {"lr", lr},
          {"lr_rampup", lr_rampup},   {"ema_halflife", ema_halflife}, {"ema_rampup", ema_rampup},
          {"p_mean", p_mean},         {"p_std", p_std},       {"seed", seed},
          {"checkpoint_every", checkpoint_every}, {"snapshot_every", snapshot_every}, {"trainable", trainable}};
}

TrainConfig TrainConfig::from_json(const nlohmann::json& j) {
  TrainConfig c;
  c.budget = value_or(j, "budget", c.budget);
  c.batch = value_or(j, "batch", c.batch);
  c.lr = value_or(j, "lr", c.lr);
  c.lr_rampup = value_or(j, "lr_rampup", c.lr_rampup);
  c.ema_halflife = value_or(j, "ema_halflife", c.ema_halflife);
  c.ema_rampup = value_or(j, "ema_rampup", c.ema_rampup);
  c.p_mean = value_or(j, "p_mean", c.p_mean);
  c.p_std = value_or(j, "p_std", c.p_std);
  c.seed = value_or(j, "seed", c.seed);
  c.checkpoint_every = value_or(j, "checkpoint_every", c.checkpoint_every);
  c.snapshot_every = value_or(j, "snapshot_every", c.snapshot_every);
  c.trainable = value_or(j, "trainable", c.trainable);
  return c;
}

void TrainConfig::validate() const {
  if (budget < 1) throw InputError("the training budget (images) must be >= 1");
  if (batch < 1 || batch > (1 << 22)) throw InputError("--batch must be between 1 and 4194304");
  if (!(lr > 0) || !(lr <= 1)) throw InputError("--lr must be a number in (0, 1]");
  if (lr_rampup < 0 || checkpoint_every < 0 || snapshot_every < 0) throw InputError("image counts must be >= 0");
  if (!(ema_halflife >= 0) || !(ema_rampup >= 0)) throw InputError("EMA settings must be >= 0");
  if (!(p_std > 0) || !std::isfinite(p_mean)) throw InputError("P_std must be > 0 and P_mean finite");
  if (trainable != "all" && trainable != "decoder")
    throw InputError("--train must be all or decoder (got '" + trainable + "')");
}

// [SECTION] States -------------------------------------------------------------

namespace {

std::unique_ptr<torch::optim::Adam> make_adam(EdmNetwork& net, double lr) {
  return std::make_unique<torch::optim::Adam>(net.parameters(),
                                              torch::optim::AdamOptions(lr).betas({0.9, 0.999}).eps(1e-8));
}

void copy_weights(const EdmNetwork& from, EdmNetwork& to) {
  torch::NoGradGuard ng;
  auto src = from.named_parameters(true);
  for (auto& p : to.named_parameters(true)) p.value().copy_(src[p.key()]);
  auto sb = from.named_buffers(true);
  for (auto& b : to.named_buffers(true)) b.value().copy_(sb[b.key()]);
}

}  // namespace

TrainState TrainState::create(const NetConfig& net, const TrainConfig& train) {
  train.validate();
  torch::manual_seed(train.seed);
  TrainState st;
  st.net = net;
  st.train = train;
  st.raw = make_network(net);
  st.ema = make_network(net);
  copy_weights(*st.raw, *st.ema);
  for (auto& p : st.ema->parameters()) p.set_requires_grad(false);
  st.adam = make_adam(*st.raw, train.lr);
  return st;
}

TrainState TrainState::fork(const TrainState& from, const TrainConfig& train) {
  TrainState st = create(from.net, train);
  // The auxiliary starts from the base's EMA weights (the model users sample).
  copy_weights(*from.ema, *st.raw);
  copy_weights(*from.ema, *st.ema);
  st.data = from.data;
  // Which base it came from, so a face can tell when it is paired with another (pairing.hpp). Callers add to
  // the provenance (update), they do not replace it.
  st.provenance = {{"base_weights_crc32", weights_crc32(*from.ema)}, {"base_images_seen", from.images_seen}};
  return st;
}

uint32_t weights_crc32(const EdmNetwork& net) {
  uint32_t crc = 0;
  for (const auto& p : net.named_parameters(true)) {
    crc = io::crc32(p.key().data(), p.key().size(), crc);
    const at::Tensor t = p.value().detach().to(at::kCPU).contiguous();
    crc = io::crc32(t.data_ptr(), static_cast<size_t>(t.nbytes()), crc);
  }
  return crc;
}

namespace {

// A model's record, whichever file it came from: a checkpoint's ModelInfo holds {net, images_seen, history},
// an exported TorchScript file's sims.json {network, images_seen, weights_crc32, provenance}.
const nlohmann::json& field(const nlohmann::json& j, const char* a, const char* b = nullptr) {
  static const nlohmann::json none;
  if (!j.is_object()) return none;
  if (j.contains(a)) return j[a];
  if (b && j.contains(b)) return j[b];
  return none;
}

std::string quoted(const std::string& path) { return "'" + path + "'"; }

}  // namespace

std::string pairing_doubt(const ModelInfo& base, const ModelInfo& aux) {
  const std::string b = quoted(base.path), a = quoted(aux.path);
  const nlohmann::json &crc = field(base.provenance, "weights_crc32"), &aux_crc = field(aux.provenance, "weights_crc32");
  if (crc.is_number_integer() && aux_crc.is_number_integer() && crc.get<int64_t>() == aux_crc.get<int64_t>())
    return "the auxiliary " + a + " holds the same weights as the base " + b + ": the guidance changes nothing";
  const nlohmann::json& history = field(aux.provenance, "history", "provenance");
  if (!history.is_object()) return "";
  if (field(history, "role") == "base")  // (a crafted record's role may be anything: compared, never converted)
    return "the auxiliary " + a + " was trained from scratch, not fine-tuned from the base " + b +
           ": SIMS steers away from the base's own samples only with the base's fine-tune";
  const std::string tail = ": SIMS steers away from the base's own samples only with its own fine-tune";
  // The weights decide where both record them; the network's description (which older exports word differently)
  // only says which of two kinds of "not its fine-tune" it is, or decides where no weights were recorded.
  const nlohmann::json &net = field(base.provenance, "net", "network"), &aux_net = field(aux.provenance, "net", "network");
  const bool other_net = net.is_object() && aux_net.is_object() && net != aux_net;
  const nlohmann::json& from = field(history, "base_weights_crc32");
  const bool weights_known = crc.is_number_integer() && from.is_number_integer();
  if (weights_known && crc.get<int64_t>() == from.get<int64_t>()) return "";
  if (other_net) return "the auxiliary " + a + " is another network than the base " + b + " (not its fine-tune)" + tail;
  if (weights_known)
    return "the auxiliary " + a + " was fine-tuned from other weights than the base " + b + " holds" +
           " (another base, or this one before it was trained further)" + tail;
  const nlohmann::json &seen = field(base.provenance, "images_seen"), &seen_then = field(history, "base_images_seen");
  if (seen.is_number_integer() && seen_then.is_number_integer() &&
      seen.get<int64_t>() != seen_then.get<int64_t>())
    return "the auxiliary " + a + " was fine-tuned from a base that had seen " + seen_then.dump() +
           " training images; the base " + b + " has seen " + seen.dump() + tail;
  return "";
}

// [SECTION] Files ---------------------------------------------------------------

namespace {

// The format's tensors: "raw/<name>" and "ema/<name>" for every parameter and buffer of the two networks,
// "adam/<i>/{step,exp_avg,exp_avg_sq}" for the i-th optimised parameter that has Adam state.
constexpr const char* kFormat = "sims-checkpoint";
constexpr const char* kVersion = "2";

void add_module(std::vector<std::pair<std::string, at::Tensor>>& out, const std::string& prefix, const EdmNetwork& net) {
  for (const auto& p : net.named_parameters(true)) out.emplace_back(prefix + p.key(), p.value());
  for (const auto& b : net.named_buffers(true)) out.emplace_back(prefix + b.key(), b.value());
}

// Copies the file's tensors prefix + name into every parameter and buffer of `net`, checking each shape first;
// marks the names it used.
void load_module(const io::TensorFile& f, std::set<std::string>& used, const std::string& prefix, EdmNetwork& net,
                 const std::string& path) {
  torch::NoGradGuard ng;
  auto fill = [&](const std::string& name, at::Tensor& dst) {
    auto it = f.tensors.find(prefix + name);
    if (it == f.tensors.end()) throw ModelError("'" + path + "' lacks the weights '" + prefix + name + "' its network needs");
    if (!at::isFloatingType(it->second.scalar_type()))
      throw ModelError("'" + path + "': the weights '" + prefix + name + "' are not floating-point numbers");
    if (it->second.sizes() != dst.sizes())
      throw ModelError("'" + path + "': the weights '" + prefix + name + "' have shape " +
                       shape_to_string(it->second.sizes().vec()) + ", its network needs " +
                       shape_to_string(dst.sizes().vec()));
    dst.copy_(it->second);
    used.insert(prefix + name);
  };
  for (auto& p : net.named_parameters(true)) fill(p.key(), p.value());
  for (auto& b : net.named_buffers(true)) fill(b.key(), b.value());
}

// A fine-tune records its base's history inside its own, one level deeper per generation of fine-tunes; past
// kMaxHistory levels the oldest history is replaced by a note, so that a long chain stays readable (the
// reader refuses metadata nested deeper than kMaxJsonDepth).
constexpr int kMaxHistory = 32;

nlohmann::json trimmed(const nlohmann::json& j, int depth) {
  if (!j.is_structured()) return j;
  if (depth >= kMaxHistory) return "(older history trimmed)";
  nlohmann::json out = j.is_object() ? nlohmann::json::object() : nlohmann::json::array();
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (j.is_object()) out[it.key()] = trimmed(it.value(), depth + 1);
    else out.push_back(trimmed(it.value(), depth + 1));
  }
  return out;
}

nlohmann::json checkpoint_meta(const TrainState& st) {
  nlohmann::json meta = {{"format", kFormat},
                         {"version", 1},
                         {"net", st.net.to_json()},
                         {"train", st.train.to_json()},
                         {"images_seen", st.images_seen},
                         {"nonfinite_grad_steps", st.nonfinite_grad_steps},
                         {"data", trimmed(st.data, 1)},
                         {"provenance", trimmed(st.provenance, 1)}};
  nlohmann::json curve = nlohmann::json::array();
  for (const auto& p : st.loss_curve) curve.push_back({p.images, p.loss});
  meta["loss_curve"] = curve;
  return meta;
}

// The training state a checkpoint's metadata describes, with fresh weights; ModelError for anything damaged.
TrainState state_from_meta(const std::string& text, const std::string& path) {
  try {
    const nlohmann::json meta = parse_json_bounded(text, "its metadata");
    if (!meta.is_object() || !meta.contains("net") || !meta.contains("train") || !meta["net"].is_object() ||
        !meta["train"].is_object())
      throw InputError("its metadata lacks the network or training settings");
    TrainState st = TrainState::create(NetConfig::from_json(meta["net"]), TrainConfig::from_json(meta["train"]));
    st.images_seen = count_or(meta, "images_seen", 0, std::numeric_limits<int64_t>::max());
    st.nonfinite_grad_steps = count_or(meta, "nonfinite_grad_steps", 0, std::numeric_limits<int64_t>::max());
    st.data = meta.value("data", nlohmann::json::object());
    st.provenance = meta.value("provenance", nlohmann::json::object());
    for (const auto& p : meta.value("loss_curve", nlohmann::json::array())) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_number_integer())
        throw InputError("its loss curve has an entry that is not [images, loss]");
      // A loss that was not finite is stored as null: keep it as NaN, the training is not lost for it.
      st.loss_curve.push_back({p[0].get<int64_t>(), p[1].is_number() ? p[1].get<double>() : NAN});
    }
    return st;
  } catch (const Error& e) {
    throw ModelError("'" + path + "' is damaged: " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw ModelError("'" + path + "' is damaged: a value in its metadata cannot be read (" + json_error_words(e) + ")");
  }
}

TrainState load_weights_only(const std::string& path) {
  const io::TensorFile f = io::read_safetensors(path);
  auto fmt = f.metadata.find("format");
  auto text = f.metadata.find("sims_checkpoint");
  if (fmt == f.metadata.end() || fmt->second != kFormat || text == f.metadata.end())
    throw ModelError("'" + path + "' is a safetensors file but not a SIMS checkpoint (no sims_checkpoint metadata)");
  auto version = f.metadata.find("version");
  if (version == f.metadata.end() || version->second != kVersion)
    throw ModelError("'" + path + "' is a SIMS checkpoint of another version (" +
                     (version == f.metadata.end() ? std::string("none") : version->second.substr(0, 16)) +
                     "); this program reads version " + kVersion);
  TrainState st = state_from_meta(text->second, path);
  std::set<std::string> used;
  load_module(f, used, "raw/", *st.raw, path);
  load_module(f, used, "ema/", *st.ema, path);
  const auto& params = st.adam->param_groups().at(0).params();
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string k = "adam/" + std::to_string(i) + "/";
    auto step = f.tensors.find(k + "step");
    if (step == f.tensors.end()) continue;
    auto m = f.tensors.find(k + "exp_avg"), v = f.tensors.find(k + "exp_avg_sq");
    if (m == f.tensors.end() || v == f.tensors.end() || step->second.numel() != 1 ||
        step->second.scalar_type() != at::kLong || step->second.item<int64_t>() < 1 || m->second.sizes() != params[i].sizes() ||
        v->second.sizes() != params[i].sizes() || !at::isFloatingType(m->second.scalar_type()) ||
        !at::isFloatingType(v->second.scalar_type()))
      throw ModelError("'" + path + "': the optimizer state of parameter " + std::to_string(i) +
                       " does not match its network");
    auto state = std::make_unique<torch::optim::AdamParamState>();
    state->step(step->second.item<int64_t>());
    state->exp_avg(m->second.to(params[i].scalar_type()).clone());
    state->exp_avg_sq(v->second.to(params[i].scalar_type()).clone());
    st.adam->state()[c10::guts::to_string(params[i].unsafeGetTensorImpl())] = std::move(state);
    used.insert({k + "step", k + "exp_avg", k + "exp_avg_sq"});
  }
  for (const auto& [name, t] : f.tensors)
    if (!used.count(name)) throw ModelError("'" + path + "' holds a tensor '" + name + "' its network does not have");
  return st;
}

// Checkpoints written before the weights-only format: a LibTorch archive, read through LibTorch's own loader
// (which parses the TorchScript code inside; only load such files from sources you trust).
TrainState load_legacy(const std::string& path) {
  io::require_zip_crcs(path);  // torch's reader does not compare them: flipped weights would be used
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(path, torch::Device(torch::kCPU));  // CUDA-trained checkpoints load anywhere
  } catch (const c10::Error& e) {
    throw ModelError("cannot read checkpoint '" + path + "': not a readable archive");
  }
  c10::IValue v;
  if (!ar.try_read("sims_checkpoint", v) || !v.isString())
    throw ModelError("'" + path + "' is not a SIMS checkpoint (no sims_checkpoint record)");
  TrainState st = state_from_meta(v.toStringRef(), path);
  try {
    torch::serialize::InputArchive raw, ema, adam;
    ar.read("raw", raw);
    ar.read("ema", ema);
    ar.read("adam", adam);
    st.raw->load(raw);
    st.ema->load(ema);
    st.adam->load(adam);
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    throw ModelError("'" + path + "': checkpoint weights do not match its configuration: " + msg.substr(0, msg.find('\n')));
  }
  return st;
}

}  // namespace

void save_checkpoint(const std::string& path, const TrainState& st) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  add_module(tensors, "raw/", *st.raw);
  add_module(tensors, "ema/", *st.ema);
  const auto& params = st.adam->param_groups().at(0).params();
  const auto& state = st.adam->state();
  for (size_t i = 0; i < params.size(); ++i) {
    auto it = state.find(c10::guts::to_string(params[i].unsafeGetTensorImpl()));
    if (it == state.end()) continue;
    const auto& s = static_cast<const torch::optim::AdamParamState&>(*it->second);
    const std::string k = "adam/" + std::to_string(i) + "/";
    tensors.emplace_back(k + "step", at::scalar_tensor(s.step(), at::kLong));
    tensors.emplace_back(k + "exp_avg", s.exp_avg());
    tensors.emplace_back(k + "exp_avg_sq", s.exp_avg_sq());
  }
  io::write_safetensors(path, {{"format", kFormat}, {"version", kVersion}, {"sims_checkpoint", checkpoint_meta(st).dump()}},
                        tensors);
}

bool is_checkpoint(const std::string& path) {
  // Weights-only files are taken as checkpoints from their first bytes: loading reads them once, and says what
  // is wrong with a damaged one or one that is not a SIMS checkpoint.
  if (io::looks_like_safetensors(path)) return true;
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(path, torch::Device(torch::kCPU));
    c10::IValue v;
    return ar.try_read("sims_checkpoint", v);
  } catch (const c10::Error&) {
    return false;
  }
}

TrainState load_checkpoint(const std::string& path) {
  TrainState st = io::looks_like_safetensors(path) ? load_weights_only(path) : load_legacy(path);
  for (auto& p : st.ema->parameters()) p.set_requires_grad(false);
  return st;
}

// [SECTION] Denoiser --------------------------------------------------------------

NetworkDenoiser::NetworkDenoiser(std::shared_ptr<EdmNetwork> net, ModelInfo info)
    : net_(std::move(net)), info_(std::move(info)) {
  net_->eval();
  for (auto& p : net_->parameters()) p.set_requires_grad(false);
}

std::shared_ptr<NetworkDenoiser> NetworkDenoiser::from_state(const TrainState& st, const std::string& name) {
  ModelInfo info;
  info.kind = "checkpoint";
  info.path = name;
  info.sample_shape = st.net.sample_shape();
  info.sigma_data = st.net.sigma_data;
  for (const auto& p : st.ema->parameters()) info.parameters += p.numel();
  info.provenance = {{"net", st.net.to_json()}, {"images_seen", st.images_seen}, {"data", st.data},
                     {"weights_crc32", weights_crc32(*st.ema)}, {"history", st.provenance}};
  // Sample from a private copy of the EMA weights, so training can go on.
  auto net = make_network(st.net);
  {
    torch::NoGradGuard ng;
    auto src = st.ema->named_parameters(true);
    for (auto& p : net->named_parameters(true)) p.value().copy_(src[p.key()]);
  }
  return std::make_shared<NetworkDenoiser>(net, info);
}

std::shared_ptr<NetworkDenoiser> NetworkDenoiser::from_checkpoint(const std::string& path, const LoadOptions& opts) {
  TrainState st = load_checkpoint(path);
  if (!opts.sample_shape.empty() && opts.sample_shape != st.net.sample_shape())
    throw ModelError("'" + path + "' models samples of shape " + shape_to_string(st.net.sample_shape()) + ", not " +
                     shape_to_string(opts.sample_shape));
  auto d = from_state(st, path);
  d->net_->to(opts.device);
  d->device_ = opts.device;
  return d;
}

at::Tensor NetworkDenoiser::denoise(const at::Tensor& x, const at::Tensor& sigma) { return net_->forward(x, sigma); }

}  // namespace sims
