// X/Y grids of samples with labelled axes (`sims grid`, the studio's
// "Export ω × seed grid…"): any two of omega / seed / interval / steps span
// the axes; each cell is a sample mosaic (images) or a scatter plot (points)
// drawn with that cell's settings, on the same starting noise for equal seeds.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "render/canvas.hpp"
#include "sampling/edm_sampler.hpp"

namespace sims {

struct XYAxis {
  std::string name;                 // omega | seed | interval | steps
  std::vector<std::string> values;  // as typed; also the labels
};

// "NAME=V1,V2,..." (1 to 64 values); `what` names the input in errors (e.g. "--x").
XYAxis parse_xy_axis(const std::string& text, const std::string& what);

struct XYGridRequest {
  DenoiserPtr base, aux;  // aux: needed when omega is an axis or g.omega != 0
  SamplerConfig cfg;      // defaults for what the axes do not vary
  Guidance g;
  uint64_t seed = 0;
  XYAxis x, y;
  int64_t n = 0;     // samples per cell (0: 1 image, or 1000 points)
  int cell = 0;      // cell size in pixels (0: 220 for points, 3x zoom for small images)
  std::string title; // "" : a title saying what is sampled
};

struct XYGridResult {
  render::Canvas image;
  size_t rows = 0, cols = 0;
  int nfe_total = 0;
  double seconds = 0;  // sampling time
};

// Validates everything (clear InputErrors) before sampling; progress(done,
// total) after each cell; a set cancel flag throws sims::Cancelled between cells.
XYGridResult render_xy_grid(const XYGridRequest& req, const std::function<void(int, int)>& progress = {},
                            const std::atomic<bool>* cancel = nullptr);

}  // namespace sims
