// Line charts for exported figures (loss curves, metric vs omega, metric vs
// generation): axes with "nice" ticks, several series, markers, legend,
// optional log-scaled y. Drawn on a Canvas, so the CLI writes the same PNG
// a GUI exports.
#pragma once
#include <string>
#include <vector>

#include "render/canvas.hpp"

namespace sims::render {

struct Series {
  std::string label;
  std::vector<double> x, y;
  // Optional interval per point (error bars with caps; a shaded band for
  // more than 30 points); non-finite: none.
  std::vector<double> lo, hi;
  Rgb colour{31, 119, 180};
  bool markers = true;
  // A reference level (e.g. the metric between two real sets): dashed, no
  // markers, never ringed as the best point.
  bool reference = false;
};

struct LinePlot {
  std::string title, x_label, y_label;
  // A line under the title, e.g. "lower is better; bars: 95 % bootstrap intervals".
  std::string subtitle;
  // Rings the lowest (or, with mark_best_high, highest) point over all series.
  bool mark_best = false, mark_best_high = false;
  std::vector<Series> series;
  bool log_y = false;
  bool log_x = false;      // log-scaled x (e.g. a sample size); points with x <= 0 are skipped
  bool integer_x = false;  // x ticks on whole numbers only (e.g. generations)
  // Series with error bars that share their x values (several settings at each omega) are drawn this many pixels
  // apart, in order, centred on the true x, so that one series' bars do not hide another's; reference lines and
  // series without intervals stay put. The data keep their x values; the subtitle should say so.
  double dodge_px = 0;
  int width = 640, height = 420;
};

// Renders the plot; non-finite points are skipped (a gap in the line).
Canvas render_plot(const LinePlot& plot);

// The default palette (colour-blind friendly, matplotlib's tab10 order).
Rgb palette(size_t i);

// Ticks at 1/2/5 x 10^k covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

// A tick's label at the precision the tick spacing needs ("0.25", "-3", "1.2e-05").
std::string tick_label(double v, double step);

// A 2D scatter plot with grid lines and tick labels on the left and bottom: the plot square's side is `size`;
// layers are drawn in order (e.g. the training data in grey, then the samples).
struct ScatterLayer {
  at::Tensor points;  // [N, >=2]
  Rgb colour{31, 90, 180};
  float alpha_scale = 1.0f;
};
Canvas scatter_axes(const std::vector<ScatterLayer>& layers, int size, const PlotRange& r, float label_px = 13);

}  // namespace sims::render
