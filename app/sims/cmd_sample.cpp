// `sims sample`: the contracted sampling command (../shared/CLI.md).
#include <cmath>
#include <iomanip>
#include <sstream>

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include "cli_common.hpp"
#include "common/error.hpp"
#include "experiment/settings.hpp"
#include "io/atomic_file.hpp"
#include "io/npy.hpp"
#include "render/animation.hpp"
#include "render/canvas.hpp"
#include "render/plot.hpp"

namespace sims::cli {
namespace {

struct SampleArgs {
  ModelFlags models;
  SamplingFlags sampling;
  std::string noise, out, trajectory, denoised, grid, pair_mode = "auto";
  std::string animation, animation_view = "state", animation_axes = "follow";
  double fps = 6;
  int panel_px = 360;
  int64_t n = 0;
  int64_t seed = -1;
  int threads = 0;
  bool json = false;
  CLI::Option* omega_opt = nullptr;
};

// What produced the outputs, for the captions of the pictures.
render::SamplingProvenance provenance_of(const SampleArgs& a, int64_t n) {
  return render::SamplingProvenance::of(a.models.model, a.models.aux, a.sampling.guidance(), a.sampling.config(),
                                        a.seed, n);
}

std::string caption_of(const SampleArgs& a, int64_t n) {
  return provenance_of(a, n).caption() + (a.noise.empty() ? "" : " \u00b7 noise " + a.noise);
}

// A picture of the samples with its caption: a mosaic for images, a scatter plot for points.
void write_preview(const std::string& path, const at::Tensor& x, const std::string& title, const std::string& caption) {
  using namespace render;
  if (x.dim() == 4) {
    const int n = static_cast<int>(std::min<int64_t>(x.size(0), 256));
    const int cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))));
    const int zoom = x.size(3) <= 32 ? 2 : 1;
    with_caption(image_mosaic(x.narrow(0, 0, n), cols, zoom), caption).write_png(path);
  } else if (x.dim() == 2 && x.size(1) >= 2) {
    GridFigure fig;
    fig.title = title;
    const PlotRange range = robust_range({x});
    fig.cells = {{scatter_axes({{x, {31, 90, 180}, 1.0f}}, 480, range)}};
    // The frame holds nearly all points (robust_range): the ones it leaves out are counted, not hidden in silence.
    const at::Tensor p = x.narrow(1, 0, 2).to(at::kCPU, at::kDouble);
    const at::Tensor px = p.select(1, 0), py = p.select(1, 1);
    const at::Tensor inside =
        (px >= range.x0).logical_and(px <= range.x1).logical_and(py >= range.y0).logical_and(py <= range.y1);
    const int64_t outside = x.size(0) - inside.sum().item<int64_t>();
    const std::string note = outside == 0 ? std::string()
                                          : " \u00b7 " + std::to_string(outside) + " of " + std::to_string(x.size(0)) +
                                                " points lie outside the frame (set by the central 99 % of each axis)";
    with_caption(compose_grid(fig), caption + note).write_png(path);
  } else {
    throw InputError("--grid needs images [N,C,H,W] or points [N,D>=2]; these samples are " + c10::str(x.sizes()));
  }
}

// The rows an animation draws (AnimationSpec's defaults): the first 5000 points or 16 images.
int64_t animation_rows(const std::vector<int64_t>& shape) { return shape.size() == 1 ? 5000 : 16; }

// The denoising as an animation: with a guided auxiliary, the base alone (omega = 0) on the same noise on the
// left and SIMS on the right; otherwise the one run. The training data (from the base's provenance) in grey.
// Only the rows drawn are recorded: when the main run has more, they are sampled again with a trajectory.
void write_animation(const SampleArgs& a, const DenoiserPtr& base, const DenoiserPtr& aux, const at::Tensor& noise,
                     SampleOptions so, const SampleResult& main_run) {
  const SamplerConfig cfg = a.sampling.config();
  const Guidance g = a.sampling.guidance();
  const int64_t rows = std::min<int64_t>(noise.size(0), animation_rows(base->info().sample_shape));
  const at::Tensor drawn = noise.narrow(0, 0, rows);
  so.record_trajectory = true;
  const bool resample = main_run.trajectory.states.empty() || main_run.x.size(0) > rows;
  SampleResult again;
  if (resample) again = EdmSampler(base, aux, cfg, g).sample(drawn, so);
  const SampleResult& r = resample ? again : main_run;
  const bool denoised = a.animation_view == "denoised";
  std::ostringstream sims_title;
  sims_title << "SIMS (\u03c9 = " << g.omega << ")";
  const render::SamplingProvenance prov = provenance_of(a, main_run.x.size(0));
  SampleResult alone_result;
  std::vector<render::AnimationRun> runs;
  if (aux && g.omega != 0.0) {
    EdmSampler alone(base, nullptr, cfg, Guidance{});
    alone_result = alone.sample(drawn, so);
    runs.push_back({"base alone (\u03c9 = 0)", render::kBaseColour, &alone_result.trajectory, alone_result.x});
    runs.push_back({sims_title.str(), render::kSimsColour, &r.trajectory, r.x});
  } else {
    runs.push_back({aux ? sims_title.str() : std::string("base"), render::kBaseColour, &r.trajectory, r.x});
  }
  render::AnimationSpec spec = render::denoising_animation(runs, denoised, prov, base->info().provenance);
  // denoising_animation captioned it with the provenance; add the noise file and how many rows are shown.
  if (!a.noise.empty()) spec.caption += " \u00b7 noise " + a.noise;
  if (rows < main_run.x.size(0)) spec.caption += " (the first " + std::to_string(rows) + " shown)";
  spec.follow_axes = a.animation_axes == "follow";
  spec.panel_px = a.panel_px;
  render::write_animation(a.animation, render::render_animation(spec), a.fps);
}

int run_sample(SampleArgs& a) {
  apply_threads(a.threads);
  const SamplerConfig cfg = a.sampling.config();
  const Guidance g = a.sampling.guidance();
  a.sampling.check_needs_aux(a.models.aux);
  const bool have_noise = !a.noise.empty();
  const bool have_seeded = a.n > 0 || a.seed >= 0;
  if (have_noise && have_seeded) throw InputError("give either --noise or --n/--seed, not both");
  if (!have_noise && (a.n <= 0 || a.seed < 0))
    throw InputError("give --noise NOISE.npy, or --n COUNT (> 0) with --seed SEED (>= 0)");
  PairMode mode = PairMode::Auto;
  if (a.pair_mode == "sequential") mode = PairMode::Sequential;
  else if (a.pair_mode == "concurrent") mode = PairMode::Concurrent;
  else if (a.pair_mode != "auto") throw InputError("--pair-mode must be auto, sequential or concurrent");
  if (mode != PairMode::Auto && a.models.aux.empty())
    throw InputError("--pair-mode " + a.pair_mode + " needs an auxiliary model (--aux): it says how base and auxiliary run");

  distinct_outputs({{"--out", a.out}, {"--trajectory", a.trajectory}, {"--denoised", a.denoised}, {"--grid", a.grid},
                    {"--animation", a.animation}});
  outputs_not_inputs({{"--out", a.out}, {"--trajectory", a.trajectory}, {"--denoised", a.denoised}},
                     {{"--noise", a.noise}, {"--model", a.models.model}, {"--aux", a.models.aux}});
  if (!a.animation.empty()) {
    render::animation_format(a.animation);
    if (a.animation_view != "state" && a.animation_view != "denoised")
      throw InputError("--animation-view must be state (x at each step) or denoised (D(x; sigma) at each step)");
    if (a.animation_axes != "follow" && a.animation_axes != "fixed")
      throw InputError("--animation-axes must be follow (fit each step) or fixed (the final samples' axes)");
    if (!(a.fps >= 0.1 && a.fps <= 50)) throw InputError("--fps must be 0.1 to 50 frames per second");
    if (a.panel_px < 120 || a.panel_px > 2000) throw InputError("--panel-size must be 120 to 2000 pixels");
  }
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
  a.models.note_loaded(*base, aux ? std::vector<const Denoiser*>{aux.get()} : std::vector<const Denoiser*>{});
  if (!a.animation.empty()) {
    const auto& sh = base->info().sample_shape;
    if (!((sh.size() == 1 && sh[0] >= 2) || (sh.size() == 3 && (sh[0] == 1 || sh[0] == 3))))
      throw InputError("--animation shows points of 2 or more dimensions or 1- or 3-channel images; this model's "
                       "samples are " + shape_to_string(sh));
  }
  if (!have_noise) noise = seeded_noise(a.n, base->info().sample_shape, static_cast<uint64_t>(a.seed));
  // The inputs are good: make the outputs' folders before the sampling.
  prepare_output("--out", a.out);
  prepare_output("--trajectory", a.trajectory);
  prepare_output("--denoised", a.denoised);
  prepare_output("--grid", a.grid);
  prepare_output("--animation", a.animation);

  EdmSampler sampler(base, aux, cfg, g);
  SampleOptions so;
  so.seed = a.seed >= 0 ? static_cast<uint64_t>(a.seed) : 0;
  // The animation reuses this run's trajectory when it draws all of its rows (else it samples the rows it draws).
  so.record_trajectory = !a.trajectory.empty() || !a.denoised.empty() ||
                         (!a.animation.empty() && noise.size(0) <= animation_rows(base->info().sample_shape));
  so.pair_mode = mode;
  SampleResult r = sampler.sample(noise, so);

  io::write_npy(a.out, r.x);
  if (!a.trajectory.empty()) io::write_npy(a.trajectory, r.trajectory.stacked_states());
  if (!a.denoised.empty()) io::write_npy(a.denoised, r.trajectory.stacked_denoised());
  if (!a.grid.empty()) {
    std::ostringstream title;
    title << (aux ? "SIMS" : "base") << "  \u03c9=" << g.omega << "  " << to_string(cfg.kind) << " " << cfg.steps << " steps";
    write_preview(a.grid, r.x, title.str(), caption_of(a, r.x.size(0)));
  }

  if (!a.animation.empty()) write_animation(a, base, aux, noise, so, r);

  // An interval that holds none of the noise levels the sampler passes to the networks guides nothing.
  if (aux && g.omega != 0.0 && r.aux_evals == 0)
    note_at_end("--interval " + a.sampling.interval + " holds none of the sampler's noise levels (sigma " +
                experiment::format_real(cfg.sigma_max) + " down to " + experiment::format_real(cfg.sigma_min) +
                "): no step was guided, the samples are the base's");
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
                {"shared_encoder", r.shared_encoder},
                {"nfe_effective", r.nfe_effective},
                {"threads", at::get_num_threads()},
                {"out", a.out}});
  } else {
    std::cout << "sampled " << n << " x " << shape_to_string(base->info().sample_shape) << " with "
              << to_string(cfg.kind) << " (" << cfg.steps << " steps" << (aux ? ", SIMS omega=" : "");
    if (aux) std::cout << g.omega << " on (" << g.lo << ", " << g.hi << "]";
    std::cout << ") in " << std::fixed << std::setprecision(3) << r.seconds << " s, " << r.nfe
              << " network evaluations per sample";
    if (r.shared_encoder)
      std::cout << " (the auxiliary shares the base's encoder: " << std::setprecision(1) << r.nfe_effective
                << " counting its decoder-only evaluations as half)";
    std::cout << "\n  -> " << a.out << "\n";
    if (!a.trajectory.empty()) std::cout << "  trajectory -> " << a.trajectory << "\n";
    if (!a.grid.empty()) std::cout << "  preview -> " << a.grid << "\n";
    if (!a.animation.empty()) std::cout << "  animation -> " << a.animation << "\n";
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
  npy_output(cmd->add_option("--out", a->out, "output .npy of final samples"))->required();
  npy_output(cmd->add_option("--trajectory", a->trajectory, "output .npy [steps+1, N, ...] of the state after each step"));
  npy_output(cmd->add_option("--denoised", a->denoised, "output .npy [steps, N, ...] of the denoised estimate at each step"));
  png_output(cmd->add_option("--grid", a->grid, "output PNG: a mosaic of images or a scatter plot of points"));
  cmd->add_option("--animation", a->animation,
                  "output .gif or .png (animated PNG): the denoising step by step; with --aux and --omega, the base "
                  "alone | SIMS on the same noise");
  cmd->add_option("--animation-view", a->animation_view, "state (x at each step) | denoised (D(x; sigma) at each step)");
  cmd->add_option("--animation-axes", a->animation_axes, "follow (2D axes fit each step) | fixed (the final samples' axes)");
  cmd->add_option("--panel-size", a->panel_px, "animation: side of each panel in pixels (default 360)");
  cmd->add_option("--fps", a->fps, "animation frames (steps) per second; the final frame is held 1.5 s");
  cmd->add_option("--threads", a->threads, "LibTorch intra-op threads (default: LibTorch's; base and aux run side by side regardless)");
  cmd->add_option("--pair-mode", a->pair_mode, "base/aux evaluation: auto | sequential | concurrent");
  cmd->add_flag("--json", a->json, "print the result as one JSON object on the last line");
  reg.actions.push_back({cmd, [a, cmd] {
    if (a->animation.empty())
      for (const char* flag : {"--animation-view", "--animation-axes", "--panel-size", "--fps"})
        if (cmd->count(flag) > 0) throw InputError(std::string(flag) + " sets the animation: give --animation FILE too");
    return run_sample(*a);
  }});
}

}  // namespace sims::cli
