// The GPU path against the CPU path: the same sampling, training and U-Net
// evaluation on a CUDA device give the CPU's numbers within float tolerance.
// Tagged [cuda]; on a machine without a CUDA device (or with a CPU-only
// LibTorch, such as Debian's) each test says so and passes without checking:
// tools/gpu_check.sh runs them where a GPU is.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#include <torch/cuda.h>

#include "data/toy2d.hpp"
#include "diffusion/network.hpp"
#include "helpers.hpp"
#include "sampling/edm_sampler.hpp"
#include "training/checkpoint.hpp"
#include "training/trainer.hpp"

using namespace sims;

namespace {

bool have_cuda() {
  if (torch::cuda::is_available()) {
    // cuDNN and cuBLAS may use TF32 on recent GPUs, which is not float32's precision.
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
    return true;
  }
  WARN("no CUDA device (or a CPU-only LibTorch): the CPU/GPU comparison was not run");
  return false;
}

NetConfig mlp() {
  NetConfig c;
  c.width = 64;
  c.depth = 3;
  return c;
}

TrainConfig short_run() {
  TrainConfig t;
  t.budget = 2048;
  t.batch = 256;
  t.lr = 2e-3;
  t.lr_rampup = 500;
  t.seed = 7;
  return t;
}

}  // namespace

TEST_CASE("cuda: training on the GPU ends where the CPU does", "[cuda]") {
  if (!have_cuda()) return;
  const at::Tensor data = data::sample_toy2d(data::Toy2dSpec::named("mixture8"), 500, 1);
  TrainState cpu = TrainState::create(mlp(), short_run()), gpu = TrainState::create(mlp(), short_run());
  REQUIRE(train(cpu, data) == TrainOutcome::Finished);
  TrainOptions o;
  o.device = c10::Device(c10::kCUDA, 0);
  REQUIRE(train(gpu, data, o) == TrainOutcome::Finished);
  move_to(gpu, c10::Device(c10::kCPU));
  auto a = cpu.ema->parameters(), b = gpu.ema->parameters();
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, test::max_abs_diff(a[i], b[i]));
  CHECK(d < 1e-3);
  CHECK(gpu.loss_curve.back().loss == Approx(cpu.loss_curve.back().loss).epsilon(1e-3));
}

TEST_CASE("cuda: SIMS sampling on the GPU gives the CPU's samples", "[cuda]") {
  if (!have_cuda()) return;
  const at::Tensor data = data::sample_toy2d(data::Toy2dSpec::named("mixture8"), 500, 1);
  TrainState base = TrainState::create(mlp(), short_run());
  REQUIRE(train(base, data) == TrainOutcome::Finished);
  TrainConfig ft = short_run();
  ft.budget = 512;
  TrainState aux = TrainState::fork(base, ft);
  REQUIRE(train(aux, data.slice(0, 0, 100)) == TrainOutcome::Finished);
  test::TempDir dir;
  save_checkpoint(dir.file("base.ckpt"), base);
  save_checkpoint(dir.file("aux.ckpt"), aux);
  auto sample_on = [&](c10::Device dev) {
    LoadOptions lo;
    lo.device = dev;
    EdmSampler s(load_denoiser(dir.file("base.ckpt"), lo), load_denoiser(dir.file("aux.ckpt"), lo), SamplerConfig{},
                 Guidance{1.5, 0, 1e9});
    return s.sample(seeded_noise(400, {2}, 3)).x.to(at::kCPU);
  };
  const at::Tensor x_cpu = sample_on(c10::Device(c10::kCPU)), x_gpu = sample_on(c10::Device(c10::kCUDA, 0));
  CHECK(test::max_abs_diff(x_cpu, x_gpu) < 1e-3 * std::max(1.0, x_cpu.abs().max().item<double>()));
}

TEST_CASE("cuda: a U-Net denoises on the GPU as on the CPU", "[cuda]") {
  if (!have_cuda()) return;
  NetConfig c;
  c.type = "unet";
  c.channels = 3;
  c.resolution = 16;
  c.model_channels = 16;
  c.channel_mult = {1, 2};
  c.attn_resolutions = {8};
  c.dropout = 0;
  const std::shared_ptr<EdmNetwork> net = make_network(c);
  net->eval();
  {
    // A fresh U-Net's output convolutions are zero (it starts as the identity): random weights, so
    // that the convolutions and the attention are what is compared.
    torch::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
    for (auto& p : net->parameters()) p.copy_(at::normal(0.0, 0.2, p.sizes(), gen, at::TensorOptions().dtype(at::kFloat)));
  }
  at::Tensor x = at::randn({4, 3, 16, 16}), sigma = at::tensor({0.1f, 1.0f, 5.0f, 40.0f});
  at::Tensor d_cpu = net->forward(x, sigma).detach();
  net->to(c10::Device(c10::kCUDA, 0));
  at::Tensor d_gpu = net->forward(x.cuda(), sigma.cuda()).detach().cpu();
  CHECK(test::max_abs_diff(d_cpu, d_gpu) < 1e-3 * std::max(1.0, d_cpu.abs().max().item<double>()));
}
