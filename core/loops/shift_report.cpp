// The distribution-shift figures, drawn from the results (not part of the run):
// shift.png (share vs ω with the target and the auxiliary set's share; FD per
// group vs ω) and samples.png (the kept samples of every ω, one row each).
#include <algorithm>
#include <cmath>
#include <limits>

#include "loops/shift.hpp"
#include "loops/text_format.hpp"
#include "metrics/uncertainty.hpp"
#include "render/animation.hpp"
#include "render/canvas.hpp"
#include "render/plot.hpp"

namespace sims::loops {
namespace {

using text::fmt;
using text::percent;

// A dashed horizontal line (a reference level: never the "best" point).
render::Series dashed_line(const std::string& label, double y, double x0, double x1, render::Rgb colour) {
  render::Series s;
  s.label = label;
  s.colour = colour;
  s.reference = true;
  s.x = {x0, x1};
  s.y = {y, y};
  return s;
}

// A series that draws nothing but widens the y range (room for the legend,
// which render_plot puts in the top-right corner).
render::Series invisible_point(double x, double y) {
  render::Series s;
  s.markers = false;
  s.x = {x};
  s.y = {y};
  return s;
}

}  // namespace

std::string shift_caption(const ShiftConfig& c) {
  render::SamplingProvenance p = render::SamplingProvenance::of(
      c.base, "fine-tuned on the base's samples picked to hold " + percent(1 - c.target) + " of " + c.attribute +
                  " = 1 (the target's complement)",
      Guidance{0, c.interval_lo, c.interval_hi},
      c.eval_sampler, static_cast<long long>(c.eval_seed), c.n_eval);
  p.per_cell = true;
  p.varied = {"omega"};
  return p.caption() + " \u00b7 target " + percent(c.target) + " of " + c.attribute + " = 1 \u00b7 aux set " +
         std::to_string(c.n_aux) + " images";
}

void write_shift_figures(const std::string& dir, const ShiftConfig& cfg, const ShiftResult& res,
                         const std::string& classifier, const std::vector<int64_t>& shape) {
  double x0 = INFINITY, x1 = -INFINITY;
  for (double w : cfg.omegas) x0 = std::min(x0, w), x1 = std::max(x1, w);
  if (x1 == x0) x0 -= 0.5, x1 += 0.5;
  render::LinePlot sp;
  sp.title = "share of " + cfg.attribute + " = 1 vs \u03c9";
  sp.x_label = "guidance \u03c9";
  sp.y_label = "share (" + classifier + ")";
  sp.width = 560;
  sp.height = 420;
  render::Series share;
  share.label = "generated";
  share.colour = render::palette(0);
  for (const auto& r : res.rows) {
    const metrics::Estimate e = metrics::proportion(r.n1, r.n1 + r.n0);
    share.x.push_back(r.omega), share.y.push_back(r.share), share.lo.push_back(e.lo), share.hi.push_back(e.hi);
  }
  sp.series.push_back(share);
  sp.subtitle = "bars: 95 % Wilson intervals over " + std::to_string(cfg.n_eval) + " samples per \u03c9";
  sp.series.push_back(dashed_line("target " + fmt(cfg.target, 3), cfg.target, x0, x1, render::palette(3)));
  sp.series.push_back(
      dashed_line("aux set " + fmt(double(res.aux1) / cfg.n_aux, 3), double(res.aux1) / cfg.n_aux, x0, x1,
                  render::palette(7)));
  sp.series.push_back(invisible_point(x0, 0.0));  // shares on [0, 1]
  sp.series.push_back(invisible_point(x0, 1.0));
  render::LinePlot fp;
  fp.title = "FD_" + res.features + " per group vs \u03c9";
  fp.x_label = "guidance \u03c9";
  fp.y_label = "FD_" + res.features;
  fp.width = 560;
  fp.height = 420;
  render::Series g1, g0, all;
  g1.label = cfg.attribute + "=1 vs real " + cfg.attribute + "=1";
  g1.colour = render::palette(1);
  g0.label = cfg.attribute + "=0 vs real " + cfg.attribute + "=0";
  g0.colour = render::palette(2);
  all.label = "all vs real at target share";
  all.colour = render::palette(7);
  // The three series share every ω: each is drawn a little beside it, so that no one's bars hide another's.
  fp.dodge_px = 10;
  const auto add = [](render::Series& s, const ShiftRow& r, const char* key) {
    const metrics::Estimate e = r.estimate(key);
    s.x.push_back(r.omega), s.y.push_back(e.value), s.lo.push_back(e.lo), s.hi.push_back(e.hi);
  };
  for (const auto& r : res.rows) add(g1, r, "fd1"), add(g0, r, "fd0"), add(all, r, "fd_target");
  fp.series = {g1, g0, all};
  fp.subtitle = "lower is better; bars: 95 % bootstrap intervals; series side by side at each \u03c9";
  double fd_max = 0;
  for (const auto& s : fp.series)
    for (size_t i = 0; i < s.y.size(); ++i)
      for (double v : {s.y[i], s.hi[i]})
        if (std::isfinite(v)) fd_max = std::max(fd_max, v);
  fp.series.push_back(invisible_point(x0, 0.0));
  fp.series.push_back(invisible_point(x0, 1.35 * fd_max));  // room for the legend
  const render::Canvas left = render::render_plot(sp), right = render::render_plot(fp);
  render::Canvas both(left.width() + right.width(), std::max(left.height(), right.height()));
  both.blit(left, 0, 0);
  both.blit(right, left.width(), 0);
  const std::string caption = shift_caption(cfg);
  render::with_caption(both, caption).write_png(dir + "/shift.png");

  render::GridFigure fig;
  fig.title = "SIMS shift: aux set " + percent(double(res.aux1) / cfg.n_aux) + " " + cfg.attribute + "=1, target " +
              percent(cfg.target);
  fig.x_title = "same noise in every row";
  fig.x_labels = {""};
  // Small images are enlarged so the strip is wide enough for the titles.
  const int zoom = std::clamp(static_cast<int>(std::ceil(480.0 / (cfg.keep * (shape[2] + 2)))), 1, 4);
  for (const auto& r : res.rows) {
    fig.y_labels.push_back("\u03c9 = " + fmt(r.omega) + " (" + percent(r.share) + " " + cfg.attribute + "=1)");
    fig.cells.push_back({render::image_mosaic(r.kept, static_cast<int>(r.kept.size(0)), zoom, 2)});
  }
  render::with_caption(render::compose_grid(fig), caption).write_png(dir + "/samples.png");

}

}  // namespace sims::loops
