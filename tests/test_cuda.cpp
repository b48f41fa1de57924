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

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "common/device.hpp"
#include "common/error.hpp"
#include "data/toy2d.hpp"
#include "engine/live_policy.hpp"
#include "engine/live_sampler.hpp"
#include "metrics/sweep.hpp"
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

// A short-trained base and its auxiliary (fine-tuned on 100 of the points), saved as DIR/base.ckpt and aux.ckpt.
void save_trained_pair(const test::TempDir& dir, const at::Tensor& data) {
  TrainState base = TrainState::create(mlp(), short_run());
  REQUIRE(train(base, data) == TrainOutcome::Finished);
  TrainConfig ft = short_run();
  ft.budget = 512;
  TrainState aux = TrainState::fork(base, ft);
  REQUIRE(train(aux, data.slice(0, 0, 100)) == TrainOutcome::Finished);
  save_checkpoint(dir.file("base.ckpt"), base);
  save_checkpoint(dir.file("aux.ckpt"), aux);
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
  test::TempDir dir;
  save_trained_pair(dir, data);
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

// [SECTION] Device choice (every machine) and what the faces read (GPU only) ---------------------------------------

TEST_CASE("devices: --device spellings, the devices offered and the faces' device", "[device]") {
  CHECK(parse_device("cpu") == c10::Device(c10::kCPU));
  CHECK_THROWS_WITH(parse_device("gpu"), Catch::Contains("--device must be cpu or cuda[:i]"));
  CHECK_THROWS_WITH(parse_device("CUDA"), Catch::Contains("--device must be cpu or cuda[:i]"));
  CHECK_THROWS_AS(parse_device("cuda:x"), InputError);
  // The names alone, on every machine: an index LibTorch cannot hold is refused, not wrapped around (its own
  // parser made cuda:200 into cuda:-56, which passed a check against the GPU count).
  CHECK(device_from_name("cuda") == c10::Device(c10::kCUDA));
  CHECK(device_from_name("cuda:3") == c10::Device(c10::kCUDA, 3));
  CHECK(device_from_name("cuda:127") == c10::Device(c10::kCUDA, 127));
  CHECK(device_from_name("cuda:007") == c10::Device(c10::kCUDA, 7));
  CHECK(device_from_name("cuda:0") == c10::Device(c10::kCUDA, 0));
  for (const char* wrapped : {"cuda:128", "cuda:200", "cuda:99999", "cuda:4294967296", "cuda:12345678901234567890"})
    CHECK_THROWS_WITH(device_from_name(wrapped), Catch::Contains("a GPU index is at most 127"));
  for (const char* bad : {"cuda:", "cuda:-1", "cuda:+1", "cuda:1x", "cuda:1:2", "cuda0", "cudax", "cuda: 1"})
    CHECK_THROWS_WITH(device_from_name(bad), Catch::Contains("cannot parse"));
  CHECK_THROWS_WITH(parse_device("cuda:200"), Catch::Contains("a GPU index is at most 127"));
  const auto offered = available_devices();
  REQUIRE(!offered.empty());
  CHECK(offered[0] == "cpu");
  if (torch::cuda::is_available()) {
    CHECK(offered.size() == 1 + torch::cuda::device_count());
    CHECK(parse_device("cuda:0") == c10::Device(c10::kCUDA, 0));
    CHECK_THROWS_WITH(parse_device("cuda:" + std::to_string(torch::cuda::device_count())), Catch::Contains("GPU(s)"));
  } else {
    CHECK(offered.size() == 1);
    CHECK_THROWS_WITH(parse_device("cuda"), Catch::Contains("CUDA is not available"));
    CHECK_THROWS_WITH(parse_device("cuda:0"), Catch::Contains("CUDA is not available"));
  }
  for (const auto& name : offered) CHECK(device_name(parse_device(name)) == name);
  CHECK(face_device() == c10::Device(c10::kCPU));  // until a face's --device sets it
  set_face_device(c10::Device(c10::kCPU));
  CHECK(device_name(face_device()) == "cpu");
}

TEST_CASE("cuda: what the GUI faces read comes back on the CPU, equal to the CPU's", "[cuda]") {
  if (!have_cuda()) return;
  const at::Tensor data = data::sample_toy2d(data::Toy2dSpec::named("mixture8"), 500, 1);
  test::TempDir dir;
  save_trained_pair(dir, data);
  const auto load_on = [&](const char* f, c10::Device dev) {
    LoadOptions lo;
    lo.device = dev;
    return load_denoiser(dir.file(f), lo);
  };
  const c10::Device cpu(c10::kCPU), gpu(c10::kCUDA, 0);
  // The live sampler's results (sims-studio's Live tab, sims-live): on the CPU, trajectory included.
  const auto live_on = [&](c10::Device dev) {
    std::mutex mu;
    std::condition_variable cv;
    engine::LiveResultPtr got;
    std::string error;
    engine::LiveSampler live(
        [&](engine::LiveResultPtr r) {
          std::lock_guard<std::mutex> lk(mu);
          got = std::move(r);
          cv.notify_all();
        },
        [&](uint64_t, const std::string& m) {
          std::lock_guard<std::mutex> lk(mu);
          error = m.empty() ? "error" : m;
          cv.notify_all();
        });
    engine::LiveRequest r;
    r.base = load_on("base.ckpt", dev);
    r.aux = load_on("aux.ckpt", dev);
    r.guidance.omega = 1.5;
    r.sampler.steps = 16;
    r.n = 128;
    r.seed = 7;
    r.compare_base = true;
    r.record_trajectory = true;
    live.submit(r);
    std::unique_lock<std::mutex> lk(mu);
    REQUIRE(cv.wait_for(lk, std::chrono::seconds(60), [&] { return got || !error.empty(); }));
    REQUIRE(error.empty());
    return got;
  };
  const auto on_cpu = live_on(cpu), on_gpu = live_on(gpu);
  CHECK(on_gpu->x.device().is_cpu());
  CHECK(on_gpu->base_x.device().is_cpu());
  REQUIRE(on_gpu->trajectory.states.size() == on_cpu->trajectory.states.size());
  for (const auto& t : on_gpu->trajectory.states) CHECK(t.device().is_cpu());
  for (const auto& t : on_gpu->trajectory.denoised) CHECK(t.device().is_cpu());
  const double tol = 1e-3 * std::max(1.0, on_cpu->x.abs().max().item<double>());
  CHECK(test::max_abs_diff(on_cpu->x, on_gpu->x) < tol);
  CHECK(test::max_abs_diff(on_cpu->base_x, on_gpu->base_x) < tol);
  // The guidance field (sims-live's arrows): the points go to the models' device, the field comes back.
  auto bc = load_on("base.ckpt", cpu), ac = load_on("aux.ckpt", cpu);
  auto bg = load_on("base.ckpt", gpu), ag = load_on("aux.ckpt", gpu);
  const Guidance g{1.5, 0.0, 10.0};
  const at::Tensor fc = engine::guidance_field(*bc, *ac, g, 0.5, -2, 2, -2, 2, 16, 16);
  const at::Tensor fg = engine::guidance_field(*bg, *ag, g, 0.5, -2, 2, -2, 2, 16, 16);
  CHECK(fg.device().is_cpu());
  CHECK(test::max_abs_diff(fc, fg) < 1e-3 * std::max(1.0, fc.abs().max().item<double>()));
  // A sweep's kept samples (the studio's Sweep tab draws them).
  metrics::SweepConfig sc;
  sc.omegas = {0.0, 1.0};
  sc.n = 200;
  sc.ci = 0;
  metrics::SweepReference ref;
  ref.real_points = data.to(at::kDouble);
  const auto res = metrics::run_sweep(bg, {{"aux", ag}}, sc, ref, nullptr, nullptr, {}, nullptr);
  REQUIRE(res.rows.size() == 2);
  for (const auto& row : res.rows) CHECK(row.kept.device().is_cpu());
}
