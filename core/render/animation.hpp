// The denoising process as an animation: one frame per sampler step with the
// step and σ labelled, panels side by side (base alone | SIMS on the same
// noise), a provenance caption under every frame; written as an animated GIF
// (giflib) or an animated PNG (APNG: zlib-compressed frames in PNG's own
// chunks). Kept in the core so the CLI (`sims sample --animation`) and the
// GUIs write the same file.
#pragma once
#include <string>
#include <vector>

#include <ATen/Tensor.h>
#include <nlohmann/json.hpp>

#include "render/canvas.hpp"
#include "sampling/edm_sampler.hpp"

namespace sims::render {

// What produced a figure, for the caption every exported figure carries.
struct SamplingProvenance {
  std::string base, aux;  // model files (shown by file name)
  double omega = 0, lo = 0, hi = 0;
  int steps = 0;
  std::string sampler;    // "heun" / "euler"
  long long seed = -1;    // < 0: not seeded (noise from a file)
  long long n = 0;        // samples
  bool per_cell = false;  // n counts the samples of each cell of a grid (of each ω when only ω varies)
  std::vector<std::string> varied;  // settings a grid's axes vary ("omega", "seed", "steps", ...): left out
  // e.g. "base grid25-base.ckpt · aux grid25-aux.ckpt · ω = 0.5 for σ in (0.3, 80] · heun, 32 steps · seed 1 · 2000 samples"
  std::string caption() const;
  // The fields from a run's settings (aux empty: no auxiliary).
  static SamplingProvenance of(const std::string& base, const std::string& aux, const Guidance& g,
                               const SamplerConfig& cfg, long long seed, long long n);
};

struct AnimationPanel {
  std::string title;                // e.g. "base alone (ω = 0)"
  Rgb colour{31, 90, 180};          // points colour (2D) and title colour
  std::vector<at::Tensor> frames;   // per frame: points [N, >=2] or images [N, C, H, W]
};

struct AnimationSpec {
  std::vector<AnimationPanel> panels;      // 1 or more, each with the same number of frames
  std::vector<std::string> frame_labels;   // one per frame: the header ("step 3 of 32 · σ = 12.1 · x_t")
  std::string caption;                     // wrapped to the frame's width under every frame
  at::Tensor reference;                    // optional 2D points drawn in grey under every panel (training data)
  std::string reference_label;             // its legend entry, e.g. "training data (grid25)"
  bool follow_axes = true;                 // 2D: the axes fit each frame's points (else the final frame's)
  int panel_px = 360;                      // side of a 2D panel
  int max_points = 5000;                   // points drawn per panel (the first rows)
  int max_images = 16;                     // images drawn per panel (the first ones, a square mosaic)
};

// Frames 0..N of a recorded run: the state x_t after each step (x_0 is the
// starting noise at σ_max), or the denoised estimate D(x_t) of each step, and
// the final samples last.
std::vector<at::Tensor> trajectory_frames(const Trajectory& tr, const at::Tensor& final_x, bool denoised);
// The matching header of each frame, e.g. "step 5 of 32 · σ = 3.21 · x_t" and "step 32 of 32 · final samples".
std::vector<std::string> step_labels(const std::vector<double>& t, bool denoised);

// The colours the faces use for the two runs.
inline constexpr Rgb kBaseColour{60, 100, 170}, kSimsColour{214, 82, 48};

// One recorded run for denoising_animation: its panel's title and colour, its trajectory and final samples.
struct AnimationRun {
  std::string title;
  Rgb colour;
  const Trajectory* trajectory = nullptr;
  at::Tensor final_x;
};
// Panels side by side, one frame per step (labels from the first run's σ), the training data of `provenance`
// (a model's training history, 2D only) in grey, and the caption of `prov`.
AnimationSpec denoising_animation(const std::vector<AnimationRun>& runs, bool denoised, const SamplingProvenance& prov,
                                  const nlohmann::json& provenance = nlohmann::json());

// Renders every frame (all the same size).
std::vector<Canvas> render_animation(const AnimationSpec& spec);

enum class AnimationFormat { Gif, Apng };
// From the file name: .gif, or .png / .apng. Throws InputError otherwise.
AnimationFormat animation_format(const std::string& path);

// Writes the frames atomically, `fps` frames per second, the last frame held
// for `hold_last_s` seconds, looping forever. GIF: one 256-colour palette for
// the whole animation (median cut over every frame); APNG: lossless RGB.
// Frames after the first store only the rectangle that changed.
void write_animation(const std::string& path, const std::vector<Canvas>& frames, double fps, double hold_last_s = 1.5);

}  // namespace sims::render
