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
#include "sampling/xy_grid.hpp"

namespace sims::cli {
namespace {

struct GridArgs {
  ModelFlags models;
  SamplingFlags sampling;
  std::string x = "omega=0,0.5,1,2", y = "seed=0,1,2,3", out, title;
  int64_t n = 0, seed = 0;
  int cell = 0, threads = 0;
  bool json = false;
  CLI::Option *o_n = nullptr, *o_cell = nullptr;
  CLI::App* cmd = nullptr;
};

int run_grid(GridArgs& a) {
  apply_threads(a.threads);
  XYGridRequest req;
  req.x = parse_xy_axis(a.x, "--x");
  req.y = parse_xy_axis(a.y, "--y");
  if (req.x.name == req.y.name) {
    const auto given = [&](const char* f) { return a.cmd->get_option(f)->count() > 0; };
    if (given("--x") != given("--y")) {  // one of them is the default
      std::string others;
      for (const char* s : {"omega", "seed", "interval", "steps"})
        if (req.x.name != s) others += std::string(others.empty() ? "" : ", ") + s;
      throw InputError(std::string(given("--x") ? "--x" : "--y") + " varies " + req.x.name + ", as the default " +
                       (given("--x") ? "--y " + a.y : "--x " + a.x) + " does: give " + (given("--x") ? "--y" : "--x") +
                       " one of " + others);
    }
    throw InputError("--x and --y must vary different settings (both vary " + req.x.name + ")");
  }
  // A setting that is an axis takes the axis' values: the single flag for it would be dropped.
  for (const XYAxis* ax : {&req.x, &req.y})
    if (a.cmd->get_option("--" + ax->name)->count() > 0) {
      const std::string axis = ax == &req.x ? "--x" : "--y";
      const bool by_default = a.cmd->get_option(axis)->count() == 0;
      throw InputError("--" + ax->name + " does nothing when " + axis + " varies " + ax->name +
                       (by_default ? " (the default " + axis + " " + (ax == &req.x ? a.x : a.y) + ")" : std::string()) +
                       ": leave it out (or vary another setting)");
    }
  const bool uses_aux = req.x.name == "omega" || req.y.name == "omega" || a.sampling.omega != 0.0;
  if (uses_aux && a.models.aux.empty()) throw InputError("an omega axis (or --omega) needs an auxiliary model (--aux)");

  if (a.o_cell->count() > 0 && (a.cell < 32 || a.cell > 2048))
    throw InputError("--cell must be from 32 to 2048 pixels (got " + std::to_string(a.cell) + ")");
  // Samples per cell (0, not given: the default), bounded so that a grid fits in memory: the points' bound before
  // the models load, the images' (lower) once the shape is known.
  const auto check_n = [&](int64_t most, const std::string& unit) {
    if (a.n < 0 || a.n > most || (a.n == 0 && a.o_n->count() > 0))
      throw InputError("--n must be from 1 to " + std::to_string(most) + unit + " per cell (got " +
                       std::to_string(a.n) + ")");
  };
  check_n(100000, " points (1024 images)");
  LoadOptions lo = a.models.load_options();
  req.base = load_denoiser(a.models.model, lo);
  if (!a.models.aux.empty()) {
    LoadOptions alo = lo;
    alo.sample_shape = req.base->info().sample_shape;
    req.aux = load_denoiser(a.models.aux, alo);
  }
  a.models.note_loaded(*req.base, req.aux ? std::vector<const Denoiser*>{req.aux.get()} : std::vector<const Denoiser*>{});
  if (req.base->info().sample_shape.size() == 3) check_n(1024, " images");
  req.cfg = a.sampling.config();
  req.g = a.sampling.guidance();
  req.seed = static_cast<uint64_t>(a.seed);
  req.n = a.n;
  req.cell = a.cell;
  req.title = a.title;
  prepare_output("--out", a.out);
  const bool tty = ::isatty(2) != 0;  // progress only for people at a terminal
  const XYGridResult res = render_xy_grid(req, [tty](int done, int total) {
    if (tty) std::cerr << "\r  cell " << done << "/" << total << std::flush;
  });
  if (tty) std::cerr << "\r" << std::string(24, ' ') << "\r";
  res.image.write_png(a.out);
  if (a.json) {
    print_json({{"out", a.out}, {"rows", res.rows}, {"cols", res.cols}, {"width", res.image.width()},
                {"height", res.image.height()}, {"seconds", res.seconds}, {"nfe_total", res.nfe_total}});
  } else {
    std::cout << "wrote " << res.rows << " x " << res.cols << " grid (" << res.image.width() << "x"
              << res.image.height() << " px) -> " << a.out << "\n";
  }
  return 0;
}

}  // namespace

void add_grid_command(CLI::App& app, Registry& reg) {
  auto a = std::make_shared<GridArgs>();
  CLI::App* cmd = app.add_subcommand("grid", "X/Y grid of samples with labelled axes (omega, seed, interval, steps)");
  a->cmd = cmd;
  a->models.bind(cmd);
  a->sampling.bind(cmd);
  a->sampling.bind_guidance(cmd, "when not an axis");
  cmd->add_option("--x", a->x, "columns: NAME=V1,V2,... with NAME omega|seed|interval|steps (default omega=0,0.5,1,2)");
  cmd->add_option("--y", a->y, "rows: NAME=V1,V2,... (default seed=0,1,2,3)");
  a->o_n = cmd->add_option("--n", a->n, "samples per cell (default 1 image, or 1000 points)");
  cmd->add_option("--seed", a->seed, "seed when seed is not an axis (default 0)");
  a->o_cell = cmd->add_option("--cell", a->cell, "cell size in pixels (default: 220 for points, 3x zoom for images)");
  cmd->add_option("--title", a->title, "figure title");
  cmd->add_option("--threads", a->threads, "LibTorch intra-op threads");
  png_output(cmd->add_option("--out", a->out, "output PNG"))->required();
  cmd->add_flag("--json", a->json, "print the result as one JSON object on the last line");
  reg.actions.push_back({cmd, [a] { return run_grid(*a); }});
}

}  // namespace sims::cli
