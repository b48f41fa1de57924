// `sims grid`: an X/Y grid PNG with labelled axes, the way users of
// AUTOMATIC1111's X/Y plot know it. Any two of omega / seed / interval /
// steps span the axes; each cell is a sample (images) or a scatter plot of
// points sampled with that cell's settings.
#include <cmath>
#include <sstream>
#include <unistd.h>

#include <ATen/ATen.h>

#include "cli_common.hpp"
#include "common/error.hpp"
#include "io/atomic_file.hpp"
#include "render/canvas.hpp"

namespace sims::cli {
namespace {

struct Axis {
  std::string name;                 // omega | seed | interval | steps
  std::vector<std::string> values;  // as typed, used as labels
};

Axis parse_axis(const std::string& text, const char* flag) {
  const auto eq = text.find('=');
  if (eq == std::string::npos) throw InputError(std::string(flag) + " '" + text + "' must be NAME=V1,V2,... (e.g. omega=0,0.5,1)");
  Axis a;
  a.name = text.substr(0, eq);
  if (a.name != "omega" && a.name != "seed" && a.name != "interval" && a.name != "steps")
    throw InputError(std::string(flag) + ": axis '" + a.name + "' is not one of omega, seed, interval, steps");
  std::stringstream ss(text.substr(eq + 1));
  std::string v;
  while (std::getline(ss, v, ',')) {
    if (v.empty()) throw InputError(std::string(flag) + " '" + text + "' has an empty value");
    a.values.push_back(v);
  }
  if (a.values.empty() || a.values.size() > 64) throw InputError(std::string(flag) + " needs 1 to 64 values");
  return a;
}

struct GridArgs {
  ModelFlags models;
  SamplingFlags sampling;
  std::string x = "omega=0,0.5,1,2", y = "seed=0,1,2,3", out, title;
  int64_t n = 0, seed = 0;
  int cell = 0, threads = 0;
  bool json = false;
};

struct CellSettings {
  SamplerConfig cfg;
  Guidance g;
  uint64_t seed;
};

void apply(const Axis& axis, size_t i, CellSettings& s) {
  const std::string& v = axis.values[i];
  if (axis.name == "omega") {
    s.g.omega = parse_number(v, "omega value");
  } else if (axis.name == "seed") {
    const double d = parse_number(v, "seed value");
    if (d < 0 || d != std::floor(d)) throw InputError("seed value '" + v + "' must be a non-negative integer");
    s.seed = static_cast<uint64_t>(d);
  } else if (axis.name == "interval") {
    std::tie(s.g.lo, s.g.hi) = parse_interval(v);
  } else {
    const double d = parse_number(v, "steps value");
    if (d < 1 || d != std::floor(d)) throw InputError("steps value '" + v + "' must be a positive integer");
    s.cfg.steps = static_cast<int>(d);
  }
}

std::string axis_title(const std::string& name) {
  if (name == "omega") return "guidance \u03c9";
  if (name == "interval") return "guidance interval (\u03c3_lo, \u03c3_hi]";
  if (name == "steps") return "sampling steps";
  return "seed";
}

int run_grid(GridArgs& a) {
  apply_threads(a.threads);
  const Axis ax = parse_axis(a.x, "--x"), ay = parse_axis(a.y, "--y");
  if (ax.name == ay.name) throw InputError("--x and --y must vary different settings");
  io::check_writable(a.out);
  const bool uses_aux = ax.name == "omega" || ay.name == "omega" || a.sampling.omega != 0.0;
  if (uses_aux && a.models.aux.empty()) throw InputError("an omega axis (or --omega) needs an auxiliary model (--aux)");

  LoadOptions lo = a.models.load_options();
  DenoiserPtr base = load_denoiser(a.models.model, lo);
  DenoiserPtr aux;
  if (!a.models.aux.empty()) {
    LoadOptions alo = lo;
    alo.sample_shape = base->info().sample_shape;
    aux = load_denoiser(a.models.aux, alo);
  }
  const auto& shape = base->info().sample_shape;
  const bool images = shape.size() == 3;
  if (!images && !(shape.size() == 1 && shape[0] >= 2))
    throw InputError("grids need an image model or a point model of dimension >= 2; this model's samples are " + shape_to_string(shape));
  const int64_t n = a.n > 0 ? a.n : (images ? 1 : 1000);
  const int cell_px = a.cell > 0 ? a.cell : (images ? 0 : 220);

  CellSettings defaults{a.sampling.config(), a.sampling.guidance(), static_cast<uint64_t>(a.seed)};
  std::vector<std::vector<at::Tensor>> samples(ay.values.size());
  const bool tty = ::isatty(2) != 0;  // progress only for people at a terminal
  int total_nfe = 0;
  double seconds = 0;
  for (size_t r = 0; r < ay.values.size(); ++r)
    for (size_t c = 0; c < ax.values.size(); ++c) {
      CellSettings s = defaults;
      apply(ay, r, s);
      apply(ax, c, s);
      s.cfg.validate();
      s.g.validate();
      EdmSampler sampler(base, s.g.omega != 0.0 || uses_aux ? aux : nullptr, s.cfg, s.g);
      SampleOptions so;
      so.seed = s.seed;
      SampleResult res = sampler.sample(seeded_noise(n, shape, s.seed), so);
      samples[r].push_back(res.x);
      total_nfe += res.nfe;
      seconds += res.seconds;
      if (tty) std::cerr << "\r  cell " << r * ax.values.size() + c + 1 << "/" << ax.values.size() * ay.values.size() << std::flush;
    }
  if (tty) std::cerr << "\r" << std::string(24, ' ') << "\r";

  render::GridFigure fig;
  fig.title = a.title.empty() ? (aux ? "SIMS: (1+\u03c9)\u00b7D_base \u2212 \u03c9\u00b7D_aux" : "base model") : a.title;
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
  render::Canvas img = render::compose_grid(fig);
  img.write_png(a.out);
  if (a.json) {
    print_json({{"out", a.out}, {"rows", ay.values.size()}, {"cols", ax.values.size()}, {"width", img.width()},
                {"height", img.height()}, {"seconds", seconds}, {"nfe_total", total_nfe}});
  } else {
    std::cout << "wrote " << ay.values.size() << " x " << ax.values.size() << " grid (" << img.width() << "x"
              << img.height() << " px) -> " << a.out << "\n";
  }
  return 0;
}

}  // namespace

void add_grid_command(CLI::App& app, Registry& reg) {
  auto a = std::make_shared<GridArgs>();
  CLI::App* cmd = app.add_subcommand("grid", "X/Y grid of samples with labelled axes (omega, seed, interval, steps)");
  a->models.bind(cmd);
  a->sampling.bind(cmd);
  cmd->add_option("--omega", a->sampling.omega, "guidance weight when omega is not an axis (default 0)");
  cmd->add_option("--interval", a->sampling.interval, "guidance interval LO:HI when not an axis (default 0:inf)");
  cmd->add_option("--x", a->x, "columns: NAME=V1,V2,... with NAME omega|seed|interval|steps (default omega=0,0.5,1,2)");
  cmd->add_option("--y", a->y, "rows: NAME=V1,V2,... (default seed=0,1,2,3)");
  cmd->add_option("--n", a->n, "samples per cell (default 1 image, or 1000 points)");
  cmd->add_option("--seed", a->seed, "seed when seed is not an axis (default 0)");
  cmd->add_option("--cell", a->cell, "cell size in pixels (default: 220 for points, 3x zoom for images)");
  cmd->add_option("--title", a->title, "figure title");
  cmd->add_option("--threads", a->threads, "LibTorch intra-op threads");
  cmd->add_option("--out", a->out, "output PNG")->required();
  cmd->add_flag("--json", a->json, "print the result as one JSON object on the last line");
  reg.actions.push_back({cmd, [a] { return run_grid(*a); }});
}

}  // namespace sims::cli
