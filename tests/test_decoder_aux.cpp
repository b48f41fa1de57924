// The decoder-only auxiliary (SIMS App. A): fine-tuning only the U-Net's
// decoder leaves the encoder equal to the base's, and sampling that evaluates
// the shared encoder once gives what two full evaluations give.
#include <catch2/catch.hpp>

#include <filesystem>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include "common/error.hpp"
#include "diffusion/unet.hpp"
#include "sampling/edm_sampler.hpp"
#include "sampling/pair_evaluator.hpp"
#include "training/checkpoint.hpp"
#include "training/trainer.hpp"

#include "helpers.hpp"

using namespace sims;

namespace {

NetConfig small_unet() {
  NetConfig c;
  c.type = "unet";
  c.channels = 3;
  c.resolution = 16;
  c.model_channels = 8;
  c.channel_mult = {1, 2};
  c.num_blocks = 1;
  c.attn_resolutions = {8};
  c.dropout = 0.1;  // dropout is on in training: the frozen encoder must stay frozen anyway
  return c;
}

at::Tensor images(int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn({n, 3, 16, 16}, gen).mul_(0.5f).clamp_(-1, 1);
}

TrainConfig short_run(int64_t budget, const std::string& trainable) {
  TrainConfig tc;
  tc.budget = budget;
  tc.batch = 16;
  tc.lr = 2e-3;
  tc.lr_rampup = 0;
  tc.ema_halflife = 50;  // a short half-life: the EMA moves visibly in a short run
  tc.seed = 5;
  tc.trainable = trainable;
  return tc;
}

// A base that has trained a little, so raw and EMA weights differ.
TrainState trained_base() {
  TrainState base = TrainState::create(small_unet(), short_run(160, "all"));
  REQUIRE(train(base, images(64, 1)) == TrainOutcome::Finished);
  return base;
}

// Largest absolute difference of the named parameters of two networks, split
// into the encoder's and the rest.
std::pair<double, double> weight_change(EdmUnet& a, EdmNetwork& b) {
  double enc = 0, dec = 0;
  auto pb = b.named_parameters(true);
  for (const auto& p : a.named_parameters(true)) {
    const double d = (p.value() - *pb.find(p.key())).abs().max().item<double>();
    double& side = a.is_encoder_parameter(p.key()) ? enc : dec;
    side = std::max(side, d);
  }
  return {enc, dec};
}

}  // namespace

TEST_CASE("U-Net: decode(encode(x)) is the forward pass, and the encoder is the down path", "[decoder_aux]") {
  torch::manual_seed(3);
  EdmUnet net(small_unet());
  net.eval();
  // Non-zero output layers, so the decoder's output depends on the whole path.
  for (auto& p : net.parameters()) p.data().normal_(0, 0.2);
  const at::Tensor x = images(4, 9);
  const at::Tensor sigma = at::tensor({0.05f, 0.5f, 2.0f, 20.0f});
  const at::Tensor f = net.forward(x, sigma);
  const at::Tensor d = net.decode(net.encode(x, sigma));
  CHECK((f - d).abs().max().item<double>() == 0.0);

  // Encoder: embedding MLP, input conv and the down path; not the bottleneck or anything after it.
  CHECK(net.is_encoder_parameter("emb0.weight"));
  CHECK(net.is_encoder_parameter("conv_in.bias"));
  CHECK_FALSE(net.is_encoder_parameter("conv_out.weight"));
  CHECK_FALSE(net.is_encoder_parameter("norm_out.weight"));
  int64_t enc = 0, all = 0;
  for (const auto& p : net.named_parameters(true)) {
    all += p.value().numel();
    if (net.is_encoder_parameter(p.key())) enc += p.value().numel();
    if (p.key().rfind("mid", 0) == 0 || p.key().rfind("up", 0) == 0) CHECK_FALSE(net.is_encoder_parameter(p.key()));
    if (p.key().rfind("down", 0) == 0) CHECK(net.is_encoder_parameter(p.key()));
  }
  CHECK(enc > 0);
  CHECK(enc < all / 2);  // the decoder has one block more per level, the bottleneck and the skip inputs
}

TEST_CASE("Decoder-only fine-tune: the encoder stays the base's EMA, raw and EMA, the decoder learns",
          "[decoder_aux]") {
  const TrainState base = trained_base();
  const auto base_ema = std::dynamic_pointer_cast<EdmUnet>(base.ema);
  REQUIRE(base_ema);
  // Guard: the base's raw weights differ from its EMA, so "equal to the EMA" is a real statement.
  REQUIRE(weight_change(*base_ema, *base.raw).first > 1e-4);

  TrainState dec = TrainState::fork(base, short_run(160, "decoder"));
  REQUIRE(train(dec, images(64, 2)) == TrainOutcome::Finished);
  const auto [enc_raw, dec_raw] = weight_change(*base_ema, *dec.raw);
  const auto [enc_ema, dec_ema] = weight_change(*base_ema, *dec.ema);
  CHECK(enc_raw == 0.0);
  CHECK(enc_ema == 0.0);
  CHECK(dec_raw > 1e-4);
  CHECK(dec_ema > 1e-5);
  CHECK(encoders_equal(*base.ema, *dec.ema));

  // The same fine-tune of all weights moves the encoder too.
  TrainState full = TrainState::fork(base, short_run(160, "all"));
  REQUIRE(train(full, images(64, 2)) == TrainOutcome::Finished);
  CHECK(weight_change(*base_ema, *full.ema).first > 1e-5);
  CHECK_FALSE(encoders_equal(*base.ema, *full.ema));

  // Frozen across a checkpoint and a resume.
  TrainState more = TrainState::fork(base, short_run(96, "decoder"));
  REQUIRE(train(more, images(64, 2)) == TrainOutcome::Finished);
  const sims::test::TempDir tmp;
  const std::string path = tmp.file("decoder-aux.ckpt");
  save_checkpoint(path, more);
  TrainState resumed = load_checkpoint(path);
  std::filesystem::remove(path);
  CHECK(resumed.train.trainable == "decoder");
  resumed.train.budget = 160;
  REQUIRE(train(resumed, images(64, 2)) == TrainOutcome::Finished);
  CHECK(weight_change(*base_ema, *resumed.ema).first == 0.0);
  CHECK(weight_change(*std::dynamic_pointer_cast<EdmUnet>(dec.ema), *resumed.ema).second < 1e-5);
}

TEST_CASE("Decoder-only training needs a U-Net, other values of trainable are refused", "[decoder_aux]") {
  NetConfig mlp;
  TrainState st = TrainState::create(mlp, short_run(32, "decoder"));
  CHECK_THROWS_WITH(train(st, at::randn({64, 2})), Catch::Contains("needs a U-Net"));
  TrainConfig bad = short_run(32, "encoder");
  CHECK_THROWS_AS(bad.validate(), InputError);
  CHECK(TrainConfig::from_json(short_run(32, "decoder").to_json()).trainable == "decoder");
  CHECK(TrainConfig::from_json(nlohmann::json::object()).trainable == "all");  // older checkpoints
}

TEST_CASE("Shared-encoder pair evaluation equals two full evaluations", "[decoder_aux]") {
  const TrainState base = trained_base();
  TrainState dec = TrainState::fork(base, short_run(160, "decoder"));
  REQUIRE(train(dec, images(64, 2)) == TrainOutcome::Finished);
  TrainState full = TrainState::fork(base, short_run(160, "all"));
  REQUIRE(train(full, images(64, 2)) == TrainOutcome::Finished);
  auto b = NetworkDenoiser::from_state(base, "base");
  auto a = NetworkDenoiser::from_state(dec, "aux");
  auto f = NetworkDenoiser::from_state(full, "full");

  c10::InferenceMode guard;
  const at::Tensor x = images(6, 11).to(at::kDouble).mul_(3.0);
  for (PairMode mode : {PairMode::Sequential, PairMode::Concurrent}) {
    PairEvaluator shared(*b, a.get(), mode);
    PairEvaluator separate(*b, a.get(), mode, /*share_encoder=*/false);
    PairEvaluator other(*b, f.get(), mode);
    CHECK(shared.shared_encoder());
    CHECK_FALSE(separate.shared_encoder());
    CHECK_FALSE(other.shared_encoder());  // a full fine-tune changed the encoder
    for (double sigma : {0.01, 0.3, 2.5, 40.0}) {
      auto [db1, da1] = shared.evaluate(x, sigma, true);
      auto [db2, da2] = separate.evaluate(x, sigma, true);
      const double scale = da2.abs().max().item<double>();
      CHECK((db1 - db2).abs().max().item<double>() <= 1e-6 * scale);
      CHECK((da1 - da2).abs().max().item<double>() <= 1e-6 * scale);
      // And the two models do differ: the comparison is not between equal networks.
      CHECK((da2 - db2).abs().max().item<double>() > 1e-5);
      auto [db3, da3] = shared.evaluate(x, sigma, false);  // outside the guidance interval: the base alone
      CHECK_FALSE(da3.defined());
      CHECK((db3 - db2).abs().max().item<double>() <= 1e-6 * scale);
    }
  }

  // The sampler counts the shared evaluations: 18 Heun steps, 35 base + 35 decoder-only evaluations.
  SamplerConfig cfg;
  cfg.steps = 18;
  Guidance g;
  g.omega = 1.0;
  const at::Tensor noise = images(3, 4).to(at::kDouble);
  const SampleResult rs = EdmSampler(b, a, cfg, g).sample(noise);
  const SampleResult rf = EdmSampler(b, f, cfg, g).sample(noise);
  CHECK(rs.shared_encoder);
  CHECK(rs.nfe == 70);
  CHECK(rs.nfe_effective == Approx(52.5));
  CHECK_FALSE(rf.shared_encoder);
  CHECK(rf.nfe_effective == Approx(70));
}
