// A small RGB raster for exported figures (sample grids, scatter plots,
// labelled X/Y grids): blits images, plots points, draws anti-aliased text
// with stb_truetype and a system font, and writes PNG atomically. Kept in the
// core so the headless CLI exports the same pictures the GUIs show.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/Tensor.h>

namespace sims::render {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

class Canvas {
 public:
  Canvas() = default;
  Canvas(int w, int h, Rgb bg = {255, 255, 255});

  int width() const { return w_; }
  int height() const { return h_; }
  const std::vector<uint8_t>& pixels() const { return px_; }

  void fill_rect(int x, int y, int w, int h, Rgb c);
  void stroke_rect(int x, int y, int w, int h, Rgb c);
  // Alpha-blends colour c with coverage a in [0,1] at (x, y).
  void blend(int x, int y, Rgb c, float a);
  void blit(const Canvas& src, int x, int y);

  // Draws text with its top-left at (x, y); returns the advance width.
  int draw_text(const std::string& text, int x, int y, float px_height, Rgb c = {20, 20, 20}, bool bold = false);
  // Width of the rendered text in pixels.
  static int text_width(const std::string& text, float px_height, bool bold = false);
  // Draws text rotated by 90 degrees (reading bottom-to-top), centred at (cx, cy).
  void draw_text_vertical(const std::string& text, int cx, int cy, float px_height, Rgb c = {20, 20, 20},
                          bool bold = false);

  void write_png(const std::string& path) const;

 private:
  int w_ = 0, h_ = 0;
  std::vector<uint8_t> px_;
};

// One image [C,H,W] in [-1,1] (C = 1 or 3) to a canvas, each pixel scaled by `zoom`.
Canvas image_to_canvas(const at::Tensor& img, int zoom = 1);

// A rows x cols mosaic of images [N,C,H,W] in [-1,1] with `pad` pixels between.
Canvas image_mosaic(const at::Tensor& imgs, int cols, int zoom = 1, int pad = 2);

// Axis range for scatter plots: a square box holding nearly all points.
struct PlotRange {
  double x0 = -1, x1 = 1, y0 = -1, y1 = 1;
};
PlotRange robust_range(const std::vector<at::Tensor>& point_sets);

// Draws 2D points [N, >=2] (first two coordinates) into the size x size square at (x0, y0) of c, clipped to
// it; the dots' opacity adapts to the count (times alpha_scale).
void draw_points(Canvas& c, int x0, int y0, int size, const at::Tensor& points, const PlotRange& r, Rgb colour,
                 float alpha_scale = 1.0f);

// 2D points [N, >=2] (first two coordinates) as a scatter plot of size px.
Canvas scatter(const at::Tensor& points, int size, const PlotRange& range, Rgb colour = {31, 90, 180});

// Splits text into lines no wider than `width` pixels (at text height px), at spaces; a " · " separator never
// starts or ends a line.
std::vector<std::string> wrap_text(const std::string& text, int width, float px);
// The figure with a caption band under it (grey text wrapped to the figure's width, at least 360 px).
Canvas with_caption(const Canvas& fig, const std::string& caption, float px = 13);

// Labelled X/Y grid of equally sized cells, the way an X/Y plot shows them.
struct GridFigure {
  std::string title;
  std::string x_title, y_title;
  std::vector<std::string> x_labels, y_labels;
  std::vector<std::vector<Canvas>> cells;  // [row][col]
  // Cells that are scatter squares (render::scatter) over one shared range: tick marks and their values are drawn
  // under the bottom row and left of the first column (x and y of the points).
  bool scatter_ticks = false;
  PlotRange range;
};
Canvas compose_grid(const GridFigure& fig);

}  // namespace sims::render
