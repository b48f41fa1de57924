#include "sampling/xy_grid.hpp"

#include <cmath>
#include <limits>
#include <sstream>
#include <tuple>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "experiment/settings.hpp"
#include "render/animation.hpp"

namespace sims {
namespace {

double number(const std::string& text, const std::string& what) { return experiment::parse_real(text, what); }

struct CellSettings {
  SamplerConfig cfg;
  Guidance g;
  uint64_t seed;
};

void apply(const XYAxis& axis, size_t i, CellSettings& s) {
  const std::string& v = axis.values[i];
  if (axis.name == "omega") {
    s.g.omega = number(v, "omega value");
    try {
      s.g.validate();  // the range --omega has, named as the axis value
    } catch (const InputError&) {
      throw InputError("omega value '" + v + "' must be a number between -1000 and 1000");
    }
  } else if (axis.name == "seed") {
    const double d = number(v, "seed value");
    if (d < 0 || d != std::floor(d) || d > 9.007e15) throw InputError("seed value '" + v + "' must be a non-negative integer");
    s.seed = static_cast<uint64_t>(d);
  } else if (axis.name == "interval") {
    std::tie(s.g.lo, s.g.hi) = experiment::parse_interval(v, "the grid's interval value");  // the one reader of LO:HI
  } else {
    const double d = number(v, "steps value");
    if (d < 1 || d > 10000 || d != std::floor(d)) throw InputError("steps value '" + v + "' must be a positive integer");
    s.cfg.steps = static_cast<int>(d);
  }
}

std::string axis_title(const std::string& name) {
  if (name == "omega") return "guidance \u03c9";
  if (name == "interval") return "guidance interval (\u03c3_lo, \u03c3_hi]";
  if (name == "steps") return "sampling steps";
  return "seed";
}

}  // namespace

XYAxis parse_xy_axis(const std::string& text, const std::string& what) {
  const auto eq = text.find('=');
  if (eq == std::string::npos) throw InputError(what + " '" + text + "' must be NAME=V1,V2,... (e.g. omega=0,0.5,1)");
  XYAxis a;
  a.name = text.substr(0, eq);
  if (a.name != "omega" && a.name != "seed" && a.name != "interval" && a.name != "steps")
    throw InputError(what + ": axis '" + a.name + "' is not one of omega, seed, interval, steps");
  std::stringstream ss(text.substr(eq + 1));
  std::string v;
  while (std::getline(ss, v, ',')) {
    const auto b = v.find_first_not_of(' '), e = v.find_last_not_of(' ');
    v = b == std::string::npos ? "" : v.substr(b, e - b + 1);
    if (v.empty()) throw InputError(what + " '" + text + "' has an empty value");
    a.values.push_back(v);
  }
  if (a.values.empty() || a.values.size() > 64) throw InputError(what + " needs 1 to 64 values");
  for (size_t i = 0; i < a.values.size(); ++i) {  // each value parses (clear errors before any sampling)
    CellSettings probe{SamplerConfig{}, Guidance{}, 0};
    apply(a, i, probe);
  }
  return a;
}

XYGridResult render_xy_grid(const XYGridRequest& req, const std::function<void(int, int)>& progress,
                            const std::atomic<bool>* cancel) {
  const XYAxis &ax = req.x, &ay = req.y;
  if (!req.base) throw InputError("a grid needs a base model");
  if (ax.values.empty() || ay.values.empty()) throw InputError("both grid axes need values");
  if (ax.name == ay.name) throw InputError("the two grid axes must vary different settings");
  const bool uses_aux = ax.name == "omega" || ay.name == "omega" || req.g.omega != 0.0;
  if (uses_aux && !req.aux) throw InputError("an omega axis (or a non-zero omega) needs an auxiliary model");
  const auto& shape = req.base->info().sample_shape;
  const bool images = shape.size() == 3;
  if (!images && !(shape.size() == 1 && shape[0] >= 2))
    throw InputError("grids need an image model or a point model of dimension >= 2; this model's samples are " +
                     shape_to_string(shape));
  const int64_t n = req.n > 0 ? req.n : (images ? 1 : 1000);
  const int cell_px = req.cell > 0 ? req.cell : (images ? 0 : 220);

  // Every cell's settings first, so bad values fail before any sampling.
  const CellSettings defaults{req.cfg, req.g, req.seed};
  std::vector<std::vector<CellSettings>> cells(ay.values.size());
  for (size_t r = 0; r < ay.values.size(); ++r)
    for (size_t c = 0; c < ax.values.size(); ++c) {
      CellSettings s = defaults;
      apply(ay, r, s);
      apply(ax, c, s);
      s.cfg.validate();
      s.g.validate();
      cells[r].push_back(s);
    }

  XYGridResult out;
  out.rows = ay.values.size();
  out.cols = ax.values.size();
  const int total = static_cast<int>(out.rows * out.cols);
  std::vector<std::vector<at::Tensor>> samples(out.rows);
  int done = 0;
  for (size_t r = 0; r < out.rows; ++r)
    for (size_t c = 0; c < out.cols; ++c) {
      if (cancel && cancel->load()) throw Cancelled();
      const CellSettings& s = cells[r][c];
      EdmSampler sampler(req.base, uses_aux ? req.aux : nullptr, s.cfg, s.g);
      SampleOptions so;
      so.seed = s.seed;
      so.cancel = cancel;
      SampleResult res = sampler.sample(seeded_noise(n, shape, s.seed), so);
      samples[r].push_back(res.x);
      out.nfe_total += res.nfe;
      out.seconds += res.seconds;
      if (progress) progress(++done, total);
    }

  render::GridFigure fig;
  fig.title = !req.title.empty() ? req.title : (uses_aux ? "SIMS: (1+\u03c9)\u00b7D_base \u2212 \u03c9\u00b7D_aux" : "base model");
  fig.x_title = axis_title(ax.name);
  fig.y_title = axis_title(ay.name);
  for (const auto& v : ax.values) fig.x_labels.push_back((ax.name == "omega" ? "\u03c9 = " : "") + v);
  for (const auto& v : ay.values) fig.y_labels.push_back(v);
  render::PlotRange range;
  if (!images) {
    std::vector<at::Tensor> all;
    for (const auto& row : samples) all.insert(all.end(), row.begin(), row.end());
    range = render::robust_range(all);
  }
  for (const auto& row : samples) {
    fig.cells.emplace_back();
    for (const auto& x : row) {
      if (images) {
        const int cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))));
        const int zoom = cell_px > 0 ? std::max(1, cell_px / (cols * static_cast<int>(shape[2]))) : (shape[2] <= 32 ? 3 : 2);
        fig.cells.back().push_back(render::image_mosaic(x, cols, zoom, n > 1 ? 1 : 0));
      } else {
        fig.cells.back().push_back(render::scatter(x, cell_px, range));
      }
    }
  }
  // The caption: what produced the figure (the axes' settings are named on the axes).
  render::SamplingProvenance prov = render::SamplingProvenance::of(
      req.base->info().path, uses_aux ? req.aux->info().path : std::string(), req.g, req.cfg,
      static_cast<long long>(req.seed), n);
  prov.per_cell = true;
  prov.varied = {ax.name, ay.name};
  std::string caption = prov.caption();
  if (!images) {  // every cell is drawn on the same axes, ticked on the left and at the bottom
    fig.scatter_ticks = true;
    fig.range = range;
    auto r = [](double v) { return experiment::format_real(std::round(v * 100) / 100); };
    caption += " \u00b7 every cell on the same axes: x " + r(range.x0) + " to " + r(range.x1) + ", y " + r(range.y0) +
               " to " + r(range.y1) + " (grey lines: 0)";
  }
  out.image = render::with_caption(render::compose_grid(fig), caption);
  return out;
}

}  // namespace sims
