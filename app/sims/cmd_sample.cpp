// `sims sample`: the contracted sampling command (../shared/CLI.md).
#include <cmath>
#include <iomanip>

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include "cli_common.hpp"
#include "common/error.hpp"
#include "io/atomic_file.hpp"
#include "io/npy.hpp"
#include "render/canvas.hpp"

namespace sims::cli {
namespace {

struct SampleArgs {
  ModelFlags models;
  SamplingFlags sampling;
  std::string noise, out, trajectory, denoised, grid, pair_mode = "auto";
  int64_t n = 0;
  int64_t seed = -1;
  int threads = 0;
  bool json = false;
  CLI::Option* omega_opt = nullptr;
};

// A picture of the samples: a mosaic for images, a scatter plot for points.
void write_preview(const std::string& path, const at::Tensor& x, const std::string& title) {
  using namespace render;
  if (x.dim() == 4) {
    const int n = static_cast<int>(std::min<int64_t>(x.size(0), 256));
    const int cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))));
    const int zoom = x.size(3) <= 32 ? 2 : 1;
    image_mosaic(x.narrow(0, 0, n), cols, zoom).write_png(path);
  } else if (x.dim() == 2 && x.size(1) >= 2) {
    GridFigure fig;
    fig.title = title;
    fig.cells = {{scatter(x, 480, robust_range({x}))}};
    compose_grid(fig).write_png(path);
  } else {
    throw InputError("--grid needs images [N,C,H,W] or points [N,D>=2]; these samples are " + c10::str(x.sizes()));
  }
}

int run_sample(SampleArgs& a) {
  apply_threads(a.threads);
  const SamplerConfig cfg = a.sampling.config();
  const Guidance g = a.sampling.guidance();
  if (a.models.aux.empty() && g.omega != 0.0) throw InputError("--omega needs an auxiliary model (--aux)");
  const bool have_noise = !a.noise.empty();
  const bool have_seeded = a.n > 0 || a.seed >= 0;
  if (have_noise && have_seeded) throw InputError("give either --noise or --n/--seed, not both");
  if (!have_noise && (a.n <= 0 || a.seed < 0))
    throw InputError("give --noise NOISE.npy, or --n COUNT (> 0) with --seed SEED (>= 0)");
  PairMode mode = PairMode::Auto;
  if (a.pair_mode == "sequential") mode = PairMode::Sequential;
  else if (a.pair_mode == "concurrent") mode = PairMode::Concurrent;
  else if (a.pair_mode != "auto") throw InputError("--pair-mode must be auto, sequential or concurrent");

  LoadOptions lo = a.models.load_options();
  if (lo.device.is_cuda() && !torch::cuda::is_available())
    throw InputError("--device " + a.models.device + ": CUDA is not available in this build or on this machine");
  at::Tensor noise;
  if (have_noise) {
    noise = io::read_npy_finite(a.noise);
    if (noise.dim() < 2) throw InputError("'" + a.noise + "' must be [N, ...] (one row per sample), got " + c10::str(noise.sizes()));
    if (lo.sample_shape.empty()) lo.sample_shape.assign(noise.sizes().begin() + 1, noise.sizes().end());
  }
  DenoiserPtr base = load_denoiser(a.models.model, lo);
  DenoiserPtr aux;
  if (!a.models.aux.empty()) {
    LoadOptions alo = lo;
    alo.sample_shape = base->info().sample_shape;
    aux = load_denoiser(a.models.aux, alo);
  }
  if (!have_noise) noise = seeded_noise(a.n, base->info().sample_shape, static_cast<uint64_t>(a.seed));
  // The inputs are good: make the outputs' folders before the sampling.
  prepare_output("--out", a.out);
  prepare_output("--trajectory", a.trajectory);
  prepare_output("--denoised", a.denoised);
  prepare_output("--grid", a.grid);

  EdmSampler sampler(base, aux, cfg, g);
  SampleOptions so;
  so.seed = a.seed >= 0 ? static_cast<uint64_t>(a.seed) : 0;
  so.record_trajectory = !a.trajectory.empty() || !a.denoised.empty();
  so.pair_mode = mode;
  SampleResult r = sampler.sample(noise, so);

  io::write_npy(a.out, r.x);
  if (!a.trajectory.empty()) io::write_npy(a.trajectory, r.trajectory.stacked_states());
  if (!a.denoised.empty()) io::write_npy(a.denoised, r.trajectory.stacked_denoised());
  if (!a.grid.empty()) {
    std::ostringstream title;
    title << (aux ? "SIMS" : "base") << "  \u03c9=" << g.omega << "  " << to_string(cfg.kind) << " " << cfg.steps << " steps";
    write_preview(a.grid, r.x, title.str());
  }

  const int64_t n = r.x.size(0);
  if (a.json) {
    print_json({{"n", n},
                {"nfe", r.nfe},
                {"seconds", r.seconds},
                {"base_evals", r.base_evals},
                {"aux_evals", r.aux_evals},
                {"steps", cfg.steps},
                {"sampler", to_string(cfg.kind)},
                {"omega", g.omega},
                {"shape", base->info().sample_shape},
                {"concurrent_pair", r.concurrent_pair},
                {"threads", at::get_num_threads()},
                {"out", a.out}});
  } else {
    std::cout << "sampled " << n << " x " << shape_to_string(base->info().sample_shape) << " with "
              << to_string(cfg.kind) << " (" << cfg.steps << " steps" << (aux ? ", SIMS omega=" : "");
    if (aux) std::cout << g.omega << " on (" << g.lo << ", " << g.hi << "]";
    std::cout << ") in " << std::fixed << std::setprecision(3) << r.seconds << " s, " << r.nfe
              << " network evaluations per sample\n  -> " << a.out << "\n";
    if (!a.trajectory.empty()) std::cout << "  trajectory -> " << a.trajectory << "\n";
    if (!a.grid.empty()) std::cout << "  preview -> " << a.grid << "\n";
  }
  return 0;
}

}  // namespace

void add_sample_command(CLI::App& app, Registry& reg) {
  auto a = std::make_shared<SampleArgs>();
  CLI::App* cmd = app.add_subcommand("sample", "Sample a model (optionally with SIMS guidance) with the EDM sampler");
  a->models.bind(cmd);
  a->sampling.bind(cmd);
  a->sampling.bind_guidance(cmd);
  input_path(cmd->add_option("--noise", a->noise, "unit-variance starting noise .npy [N, ...]"));
  cmd->add_option("--n", a->n, "number of samples (with --seed)");
  cmd->add_option("--seed", a->seed, "seed of the starting noise (and churn)");
  cmd->add_option("--out", a->out, "output .npy of final samples")->required();
  cmd->add_option("--trajectory", a->trajectory, "output .npy [steps+1, N, ...] of the state after each step");
  cmd->add_option("--denoised", a->denoised, "output .npy [steps, N, ...] of the denoised estimate at each step");
  cmd->add_option("--grid", a->grid, "output PNG: a mosaic of images or a scatter plot of points");
  cmd->add_option("--threads", a->threads, "LibTorch intra-op threads (default: LibTorch's; base and aux run side by side regardless)");
  cmd->add_option("--pair-mode", a->pair_mode, "base/aux evaluation: auto | sequential | concurrent");
  cmd->add_flag("--json", a->json, "print the result as one JSON object on the last line");
  reg.actions.push_back({cmd, [a] { return run_sample(*a); }});
}

}  // namespace sims::cli
