// sims-live's GPU side (OpenGL 3.3 core): each panel is drawn into a texture
// of its own (a framebuffer object) only when what it shows changes, and
// ImGui shows the texture. 2D samples are point sprites drawn by a shader
// from vertex buffers filled once per result (every step's x_t and D(x_t));
// the density map is computed on the GPU: Gaussian splats added into a float
// framebuffer, then a colour-map pass. Image models get a texture atlas per
// panel and step. Needs a current GL 3.3 context on the calling thread.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "live_app.hpp"

namespace sims::live {

class GlRenderer final : public Renderer {
 public:
  // Compiles the shaders; throws std::runtime_error with the GL log when they fail.
  GlRenderer();
  ~GlRenderer() override;
  GlRenderer(const GlRenderer&) = delete;
  GlRenderer& operator=(const GlRenderer&) = delete;

  void set_reference(const at::Tensor& points) override;
  void upload(const engine::LiveResult& r) override;
  void set_field(const at::Tensor& field, double length) override;
  Texture points_panel(int panel, const PointsDraw& d) override;
  Texture images_panel(int panel, int step, bool denoised) override;

  // Read-backs for tests and probes (rows bottom-up): the panel's last image
  // (RGBA8) and its density framebuffer (one float per pixel, a quarter of
  // the panel's resolution in each direction).
  std::vector<uint8_t> read_panel(int panel, int* w, int* h) const;
  std::vector<float> read_density(int panel, int* w, int* h) const;
  // Panels drawn (not served from the cached texture), for benchmarks and tests.
  uint64_t redraws() const { return redraws_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> d_;
  uint64_t redraws_ = 0;
};

}  // namespace sims::live
