// The U-Net image denoiser: shapes, EDM preconditioning at initialisation,
// configuration as data, checkpoints, training on images.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "common/error.hpp"
#include "helpers.hpp"
#include "diffusion/denoiser.hpp"
#include "diffusion/export_torchscript.hpp"
#include "diffusion/unet.hpp"
#include "training/checkpoint.hpp"
#include "training/trainer.hpp"

using namespace sims;
using sims::test::TempDir;

namespace {

NetConfig tiny_unet(int64_t channels = 3, int64_t res = 16) {
  NetConfig c;
  c.type = "unet";
  c.channels = channels;
  c.resolution = res;
  c.model_channels = 8;
  c.channel_mult = {1, 2};
  c.num_blocks = 1;
  c.attn_resolutions = {res / 2};
  c.dropout = 0.0;
  return c;
}

// Images with a structure a network can learn quickly: a bright square at a
// random corner on a dark background.
at::Tensor corner_images(int64_t n, int64_t c, int64_t r, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor x = at::full({n, c, r, r}, -0.8f);
  at::Tensor corner = at::randint(0, 4, {n}, gen, at::TensorOptions().dtype(at::kLong));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = corner[i].item<int64_t>(), y0 = (k / 2) * r / 2, x0 = (k % 2) * r / 2;
    x[i].narrow(1, y0, r / 2).narrow(2, x0, r / 2).fill_(0.8f);
  }
  return x;
}

}  // namespace

TEST_CASE("U-Net maps images to images, and at initialisation D = c_skip x", "[unet]") {
  torch::manual_seed(0);
  for (int64_t ch : {1, 3}) {
    NetConfig cfg = tiny_unet(ch, 16);
    auto net = make_network(cfg);
    net->eval();
    at::Tensor x = at::randn({5, ch, 16, 16});
    at::Tensor sigma = at::tensor({0.01f, 0.1f, 1.0f, 10.0f, 80.0f});
    at::Tensor d;
    {
      torch::NoGradGuard ng;
      d = net->forward(x, sigma);
    }
    REQUIRE(d.sizes() == x.sizes());
    // The last convolution starts at zero, so F = 0 and D = c_skip * x exactly.
    at::Tensor s = sigma.reshape({-1, 1, 1, 1});
    at::Tensor c_skip = 0.25 / (s * s + 0.25);
    CHECK(at::allclose(d, c_skip * x, 1e-6, 1e-6));
  }
  // A 64x64 configuration with three levels builds and runs.
  NetConfig big = tiny_unet(3, 64);
  big.channel_mult = {1, 1, 2};
  big.attn_resolutions = {16};
  auto net = make_network(big);
  torch::NoGradGuard ng;
  CHECK(net->forward(at::randn({2, 3, 64, 64}), at::ones({2})).sizes() == at::IntArrayRef({2, 3, 64, 64}));
}

TEST_CASE("U-Net configuration is data: JSON round trip and clear errors", "[unet]") {
  NetConfig c = tiny_unet();
  NetConfig d = NetConfig::from_json(c.to_json());
  CHECK(d.to_json() == c.to_json());
  CHECK(d.sample_shape() == std::vector<int64_t>({3, 16, 16}));
  auto bad = [&](const char* key, nlohmann::json v) {
    nlohmann::json j = c.to_json();
    j[key] = v;
    return j;
  };
  CHECK_THROWS_AS(NetConfig::from_json(bad("resolution", 24)), InputError);      // not a power of two
  CHECK_THROWS_AS(NetConfig::from_json(bad("model_channels", 6)), InputError);   // not a multiple of 4
  CHECK_THROWS_AS(NetConfig::from_json(bad("channel_mult", nlohmann::json::array())), InputError);
  CHECK_THROWS_AS(NetConfig::from_json(bad("channel_mult", {1, 1, 1, 1, 1})), InputError);  // 16 px -> 1 px
  CHECK_THROWS_AS(NetConfig::from_json(bad("dropout", 1.5)), InputError);
  CHECK_THROWS_AS(NetConfig::from_json(bad("type", "transformer")), InputError);
  // sigma_data up to 1e6, the bound TorchScript metadata has, so that an exported model loads back (MLP and U-Net).
  CHECK(NetConfig::from_json(bad("sigma_data", 1e6)).sigma_data == 1e6);
  CHECK_THROWS_WITH(NetConfig::from_json(bad("sigma_data", 2e6)), Catch::Contains("sigma_data <= 1e6"));
  nlohmann::json mlp = {{"type", "mlp"}, {"sigma_data", 2e6}};
  CHECK_THROWS_WITH(NetConfig::from_json(mlp), Catch::Contains("sigma_data <= 1e6"));
  mlp["sigma_data"] = 0.5;
  CHECK(NetConfig::from_json(mlp).sigma_data == 0.5);
}

TEST_CASE("U-Net trains on images, round-trips through a checkpoint and resumes exactly", "[unet][training]") {
  TempDir tmp;
  at::Tensor data = corner_images(256, 1, 16, 5);
  TrainConfig tc;
  tc.budget = 64 * 12;
  tc.batch = 64;
  tc.lr = 2e-3;
  tc.lr_rampup = 64;
  tc.seed = 3;
  NetConfig cfg = tiny_unet(1, 16);

  TrainState st = TrainState::create(cfg, tc);
  train(st, data);
  REQUIRE(st.loss_curve.size() >= 2);
  // The loss falls from its value at initialisation (mean of the first events vs the last).
  CHECK(st.loss_curve.back().loss < st.loss_curve.front().loss);

  // Stop half way, save, load, resume: same weights as straight through.
  TrainConfig half = tc;
  half.budget = 64 * 6;
  TrainState a = TrainState::create(cfg, half);
  train(a, data);
  save_checkpoint(tmp.file("half.ckpt"), a);
  TrainState b = load_checkpoint(tmp.file("half.ckpt"));
  b.train.budget = tc.budget;
  train(b, data);
  double diff = 0;
  auto pb = st.raw->named_parameters(true);
  for (auto& p : b.raw->named_parameters(true))
    diff = std::max(diff, (p.value() - pb[p.key()]).abs().max().item<double>());
  CHECK(diff == 0.0);

  // The checkpoint is a model of [1, 16, 16] images.
  auto d = load_denoiser(tmp.file("half.ckpt"));
  CHECK(d->info().sample_shape == std::vector<int64_t>({1, 16, 16}));
  torch::NoGradGuard ng;
  CHECK(d->denoise(data.narrow(0, 0, 2), at::ones({2})).sizes() == at::IntArrayRef({2, 1, 16, 16}));
}

TEST_CASE("a U-Net exported to TorchScript gives the same D(x, sigma) after saving and loading", "[unet][torchscript]") {
  // Three levels with attention at 8 and 4 px, two blocks per level (1x1 skips where the channel count changes), both
  // channel counts; every weight perturbed so the zero-initialised output layers do not hide a wrong branch.
  for (int64_t ch : {1, 3}) {
    NetConfig cfg = tiny_unet(ch, 16);
    cfg.channel_mult = {1, 2, 2};
    cfg.num_blocks = 2;
    cfg.attn_resolutions = {8, 4};
    torch::manual_seed(7 + ch);
    auto net = make_network(cfg);
    {
      torch::NoGradGuard ng;
      for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.2);
    }
    net->eval();
    torch::jit::Module m = network_to_torchscript(*net);
    TempDir dir;
    const std::string path = dir.file("unet.pt");
    m.save(path, {{"sims.json", nlohmann::json{{"shape", cfg.sample_shape()}}.dump()}});
    DenoiserPtr loaded = load_denoiser(path, LoadOptions{});
    CHECK(loaded->info().sample_shape == cfg.sample_shape());

    torch::NoGradGuard ng;
    const at::Tensor x = at::randn({5, ch, 16, 16}) * 2.0;
    const at::Tensor sigma = at::tensor({0.002f, 0.05f, 0.5f, 3.0f, 80.0f});
    const at::Tensor want = net->forward(x, sigma);
    const at::Tensor got = loaded->denoise(x, sigma);
    REQUIRE(got.sizes() == want.sizes());
    // Guard: the network is far from D = c_skip x, so an ignored branch would show.
    const Precond p = edm_precond(sigma.reshape({-1, 1, 1, 1}), cfg.sigma_data);
    CHECK((want - p.c_skip * x).abs().max().item<double>() > 0.1);
    const double err = (got - want).abs().max().item<double>(), scale = want.abs().max().item<double>();
    INFO("channels " << ch << ": max |TorchScript - C++| = " << err << " of " << scale);
    CHECK(err <= 1e-5 * scale);
    // One sigma for the whole batch, as a 0-d tensor.
    const at::Tensor s1 = at::tensor(0.7f);
    CHECK((loaded->denoise(x, s1) - net->forward(x, s1)).abs().max().item<double>() <= 1e-5 * scale);
  }
  NetConfig gauss;  // the MLP path still exports; other types are refused with InputError in the CLI's words
  gauss.type = "mlp";
  auto mlp = make_network(gauss);
  CHECK_NOTHROW(network_to_torchscript(*mlp));
}
