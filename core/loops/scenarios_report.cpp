// The four scenarios' figures, drawn from the results (not part of the run).
#include <algorithm>
#include <cmath>
#include <sstream>

#include "loops/scenarios.hpp"
#include "loops/text_format.hpp"
#include "render/canvas.hpp"
#include "render/plot.hpp"

namespace sims::loops {

std::vector<std::string> write_scenarios_figures(const std::string& dir, const ScenariosConfig& cfg,
                                                 const ScenariosResult& res, const std::vector<ScenarioSamplesRow>& rows) {
  std::vector<std::string> files;
  render::LinePlot plot;
  plot.title = "Four scenarios (SIMS paper Sec. 4.2.2): " + res.metric + " vs |D_p|";
  plot.x_label = "|D_p| polluting synthetic images (n_real = " + std::to_string(cfg.n_real) + ")";
  plot.y_label = res.metric + " (SIMS: best over omega)";
  plot.subtitle = "lower is better; bars: 95 % bootstrap intervals over the scored samples, set slightly apart";
  plot.width = 820;
  plot.height = 520;
  // The curves share their x values: each is drawn a little beside them, so that its bars do not hide the others'.
  plot.dodge_px = 10;
  for (size_t i = 0; i < res.curves.size(); ++i) {
    render::Series s;
    s.label = res.curves[i].name;
    s.x = res.curves[i].n_p;
    s.y = res.curves[i].fd;
    s.lo = res.curves[i].fd_lo;
    s.hi = res.curves[i].fd_hi;
    s.colour = render::palette(i);
    s.markers = i >= 2;  // ST-I / SIMS-I: one model each, a flat reference line
    plot.series.push_back(std::move(s));
  }
  std::ostringstream cap;
  cap << "U-Nets on " << cfg.n_real << " '" << cfg.data.to_string() << "' images (data seed " << cfg.data_seed
      << "), polluted by |D_p| = " << text::join_numbers(cfg.pollution) << " \u00d7 " << cfg.n_real
      << " synthetic images; ST-I " << (cfg.base.empty() ? std::to_string(cfg.base_images) + " images seen" : cfg.base)
      << ", ST-P " << cfg.polluted_images << " images seen; SIMS aux fine-tuned " << cfg.aux_images << " images seen on "
      << cfg.n_aux << " of the base's samples, \u03c9 in {" << text::join_numbers(cfg.omegas) << "}, \u03c3 in ("
      << text::fmt(cfg.interval_lo) << ", " << (std::isinf(cfg.interval_hi) ? std::string("\u221e") : text::fmt(cfg.interval_hi))
      << "] \u00b7 " << to_string(cfg.sampler.kind) << ", " << cfg.sampler.steps << " steps \u00b7 seed " << cfg.seed
      << " \u00b7 " << cfg.n_eval << " samples per model and \u03c9";
  const std::string caption = cap.str();
  render::with_caption(render::render_plot(plot), caption).write_png(dir + "/scenarios.png");
  files.push_back(dir + "/scenarios.png");
  if (rows.empty()) return files;
  render::GridFigure fig;
  fig.title = "First samples of each scenario (the same noise in every row)";
  const int zoom = cfg.net.sample_shape()[1] <= 32 ? 2 : 1;
  for (const auto& r : rows) {
    fig.y_labels.push_back(r.label);
    fig.cells.push_back({render::image_mosaic(r.images, static_cast<int>(r.images.size(0)), zoom)});
  }
  write_grid_png(fig, dir + "/samples.png", caption);
  files.push_back(dir + "/samples.png");
  return files;
}

}  // namespace sims::loops
