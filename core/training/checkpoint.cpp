#include "training/checkpoint.hpp"

#include <cmath>

#include <torch/serialize.h>
#include <torch/serialize/archive.h>

#include "common/error.hpp"
#include "io/atomic_file.hpp"

namespace sims {

// [SECTION] Training configuration --------------------------------------------

nlohmann::json TrainConfig::to_json() const {
  return {{"budget", budget},         {"batch", batch},       {"lr", lr},
          {"lr_rampup", lr_rampup},   {"ema_halflife", ema_halflife}, {"ema_rampup", ema_rampup},
          {"p_mean", p_mean},         {"p_std", p_std},       {"seed", seed},
          {"checkpoint_every", checkpoint_every}, {"snapshot_every", snapshot_every}};
}

TrainConfig TrainConfig::from_json(const nlohmann::json& j) {
  TrainConfig c;
  c.budget = j.value("budget", c.budget);
  c.batch = j.value("batch", c.batch);
  c.lr = j.value("lr", c.lr);
  c.lr_rampup = j.value("lr_rampup", c.lr_rampup);
  c.ema_halflife = j.value("ema_halflife", c.ema_halflife);
  c.ema_rampup = j.value("ema_rampup", c.ema_rampup);
  c.p_mean = j.value("p_mean", c.p_mean);
  c.p_std = j.value("p_std", c.p_std);
  c.seed = j.value("seed", c.seed);
  c.checkpoint_every = j.value("checkpoint_every", c.checkpoint_every);
  c.snapshot_every = j.value("snapshot_every", c.snapshot_every);
  return c;
}

void TrainConfig::validate() const {
  if (budget < 1) throw InputError("the training budget (images) must be >= 1");
  if (batch < 1 || batch > (1 << 22)) throw InputError("--batch must be between 1 and 4194304");
  if (!(lr > 0) || !std::isfinite(lr)) throw InputError("--lr must be a positive number");
  if (lr_rampup < 0 || checkpoint_every < 0 || snapshot_every < 0) throw InputError("image counts must be >= 0");
  if (!(ema_halflife >= 0) || !(ema_rampup >= 0)) throw InputError("EMA settings must be >= 0");
  if (!(p_std > 0) || !std::isfinite(p_mean)) throw InputError("P_std must be > 0 and P_mean finite");
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
  return st;
}

// [SECTION] Files ---------------------------------------------------------------

void save_checkpoint(const std::string& path, const TrainState& st) {
  nlohmann::json meta = {{"format", "sims-checkpoint"},
                         {"version", 1},
                         {"net", st.net.to_json()},
                         {"train", st.train.to_json()},
                         {"images_seen", st.images_seen},
                         {"nonfinite_grad_steps", st.nonfinite_grad_steps},
                         {"data", st.data},
                         {"provenance", st.provenance}};
  nlohmann::json curve = nlohmann::json::array();
  for (const auto& p : st.loss_curve) curve.push_back({p.images, p.loss});
  meta["loss_curve"] = curve;
  torch::serialize::OutputArchive ar, raw, ema, adam;
  ar.write("sims_checkpoint", c10::IValue(meta.dump()));
  st.raw->save(raw);
  st.ema->save(ema);
  st.adam->save(adam);
  ar.write("raw", raw);
  ar.write("ema", ema);
  ar.write("adam", adam);
  io::write_atomically(path, [&](std::ostream& out) { ar.save_to(out); });
}

bool is_checkpoint(const std::string& path) {
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(path, torch::Device(torch::kCPU));  // CUDA-trained checkpoints load anywhere
    c10::IValue v;
    return ar.try_read("sims_checkpoint", v);
  } catch (const c10::Error&) {
    return false;
  }
}

TrainState load_checkpoint(const std::string& path) {
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(path, torch::Device(torch::kCPU));  // CUDA-trained checkpoints load anywhere
  } catch (const c10::Error& e) {
    throw ModelError("cannot read checkpoint '" + path + "': not a readable archive");
  }
  c10::IValue v;
  if (!ar.try_read("sims_checkpoint", v) || !v.isString())
    throw ModelError("'" + path + "' is not a SIMS checkpoint (no sims_checkpoint record)");
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(v.toStringRef());
  } catch (const std::exception&) {
    throw ModelError("'" + path + "': checkpoint metadata is corrupt");
  }
  TrainState st = TrainState::create(NetConfig::from_json(meta.at("net")), TrainConfig::from_json(meta.at("train")));
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
  for (auto& p : st.ema->parameters()) p.set_requires_grad(false);
  st.images_seen = meta.value("images_seen", int64_t{0});
  st.nonfinite_grad_steps = meta.value("nonfinite_grad_steps", int64_t{0});
  st.data = meta.value("data", nlohmann::json::object());
  st.provenance = meta.value("provenance", nlohmann::json::object());
  for (const auto& p : meta.value("loss_curve", nlohmann::json::array()))
    st.loss_curve.push_back({p[0].get<int64_t>(), p[1].get<double>()});
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
                     {"history", st.provenance}};
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
