// The EDM MLP's sampling path (one sigma for all rows, gradients off: the
// embedding folded into the first layer's bias, rows in blocks, vectorised
// SiLU) against the general path that training differentiates.
#include <catch2/catch.hpp>

#include <cmath>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include "common/paths.hpp"
#include "diffusion/network.hpp"
#include "helpers.hpp"
#include "sampling/edm_sampler.hpp"
#include "training/checkpoint.hpp"

using namespace sims;

namespace {

NetConfig mlp(int64_t width, int64_t depth, int64_t freqs) {
  NetConfig c;
  c.dim = 2;
  c.width = width;
  c.depth = depth;
  c.emb_freqs = freqs;
  return c;
}

// Relative to the size of the outputs.
double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return test::max_abs_diff(a, b) / std::max(1e-12, b.abs().max().item<double>());
}

// The general path behind the Denoiser interface (what sampling used before the fast path).
class GeneralPath final : public Denoiser {
 public:
  GeneralPath(std::shared_ptr<EdmMlp> net, ModelInfo info) : net_(std::move(net)), info_(std::move(info)) {}
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma) override { return net_->forward_general(x, sigma); }
  const ModelInfo& info() const override { return info_; }

 private:
  std::shared_ptr<EdmMlp> net_;
  ModelInfo info_;
};

}  // namespace

// The one-sigma path against the general path on random networks: tests/test_kernels.cpp.

TEST_CASE("EdmMlp: float64 networks and training keep the general path's results", "[network]") {
  torch::manual_seed(4);
  EdmMlp net(mlp(64, 4, 8));
  net.eval();
  {
    // With gradients on (training), forward is the general path itself.
    const at::Tensor x = at::randn({40, 2});
    const at::Tensor sig = at::full({40}, 0.8, at::kFloat);
    const at::Tensor a = net.forward(x, sig), b = net.forward_general(x, sig);
    CHECK(a.requires_grad());
    CHECK(at::equal(a.detach(), b.detach()));
  }
  net.to(torch::kDouble);
  c10::InferenceMode guard;
  const at::Tensor x = at::randn({300, 2}, at::kDouble);
  const at::Tensor sig = at::full({300}, 2.5, at::kDouble);
  CHECK(rel_diff(net.forward(x, sig), net.forward_general(x, sig)) < 1e-13);
}

TEST_CASE("EdmMlp: sampling the shipped 2D models with the fast path equals the general path", "[network][sampler]") {
  const std::string dir = sims::asset_path("models/");
  auto load = [&](const std::string& name) { return NetworkDenoiser::from_checkpoint(dir + name, {}); };
  auto general = [&](const std::string& name) {
    TrainState st = load_checkpoint(dir + name);
    auto net = std::dynamic_pointer_cast<EdmMlp>(make_network(st.net));
    REQUIRE(net);
    torch::NoGradGuard ng;
    auto src = st.ema->named_parameters(true);
    for (auto& p : net->named_parameters(true)) p.value().copy_(src[p.key()]);
    net->eval();
    ModelInfo info;
    info.sample_shape = {2};
    return std::make_shared<GeneralPath>(net, info);
  };
  SamplerConfig sc;
  sc.steps = 32;
  Guidance g;
  g.omega = 1.0;
  const at::Tensor noise = seeded_noise(2000, {2}, 7);
  const at::Tensor a = EdmSampler(load("grid25-base.ckpt"), load("grid25-aux.ckpt"), sc, g).sample(noise).x;
  const at::Tensor b = EdmSampler(general("grid25-base.ckpt"), general("grid25-aux.ckpt"), sc, g).sample(noise).x;
  // Float rounding differs in the last bits; a point near the boundary between
  // two modes can amplify that, so most points, not all, are compared tightly.
  const at::Tensor d = (a - b).abs().amax(1);
  CHECK(d.lt(1e-4).to(at::kDouble).mean().item<double>() > 0.99);
  CHECK(d.median().item<double>() < 1e-5);
}
