// Line plots (render/plot.hpp): intervals on a logarithmic axis.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "render/plot.hpp"

using namespace sims::render;

namespace {

// Three points at y = 1 with intervals [0.5, 2]; the middle one's lower end is `mid_lo`.
LinePlot three_points(double mid_lo) {
  LinePlot p;
  p.log_y = true;
  Series s;
  s.x = {1, 2, 3};
  s.y = {1, 1, 1};
  s.lo = {0.5, mid_lo, 0.5};
  s.hi = {2, 2, 2};
  s.colour = {250, 0, 0};
  s.markers = false;
  p.series.push_back(s);
  return p;
}

// The lowest red row (the series colour, anti-aliased) of each column that holds a vertical bar (over 100 red rows).
std::vector<int> bar_ends(const Canvas& c) {
  std::vector<int> ends;
  for (int x = 0; x < c.width(); ++x) {
    int n = 0, lowest = -1;
    for (int y = 0; y < c.height(); ++y) {
      const size_t k = (static_cast<size_t>(y) * c.width() + x) * 3;
      if (c.pixels()[k] > 200 && c.pixels()[k + 1] < 120 && c.pixels()[k + 2] < 120) ++n, lowest = y;
    }
    if (n > 100) ends.push_back(lowest);
  }
  return ends;
}

}  // namespace

TEST_CASE("log plots: an interval reaching zero ends at the frame's bottom and does not stretch the axis", "[render]") {
  // An interval down to 0 (a Student-t interval of a distance often does) and one down to 1e-9: the same picture,
  // a bar to the frame's bottom; before, the first bar was dropped and the second stretched the axis over 9 decades.
  const Canvas zero = render_plot(three_points(0.0)), tiny = render_plot(three_points(1e-9)),
               none = render_plot(three_points(0.5));
  CHECK(zero.pixels() == tiny.pixels());
  CHECK(zero.pixels() != none.pixels());  // the check can fail: the bar is drawn
  // The middle bar ends lower than the outer two (at the frame's bottom); with 0.5 all three end together.
  const std::vector<int> z = bar_ends(zero), n = bar_ends(none);
  REQUIRE(z.size() >= 3);
  REQUIRE(n.size() >= 3);
  CHECK(*std::max_element(z.begin(), z.end()) - *std::min_element(z.begin(), z.end()) > 50);
  CHECK(*std::max_element(n.begin(), n.end()) - *std::min_element(n.begin(), n.end()) <= 2);
  CHECK(*std::max_element(z.begin(), z.end()) >= zero.height() - 52 - 3);
}

namespace {

// The centres of the vertical bars of colour c: runs of adjacent columns holding more than 100 pixels of it (a bar
// drawn at a half pixel covers two columns).
std::vector<double> bar_centres(const Canvas& c, Rgb col) {
  std::vector<int> xs;
  for (int x = 0; x < c.width(); ++x) {
    int n = 0;
    for (int y = 0; y < c.height(); ++y) {
      const size_t k = (static_cast<size_t>(y) * c.width() + x) * 3;
      n += std::abs(c.pixels()[k] - col.r) < 30 && std::abs(c.pixels()[k + 1] - col.g) < 30 &&
           std::abs(c.pixels()[k + 2] - col.b) < 30;
    }
    if (n > 100) xs.push_back(x);
  }
  std::vector<double> centres;
  for (size_t i = 0; i < xs.size();) {
    size_t j = i;
    while (j + 1 < xs.size() && xs[j + 1] == xs[j] + 1) ++j;
    centres.push_back(0.5 * (xs[i] + xs[j]));
    i = j + 1;
  }
  return centres;
}

// The leftmost column holding any pixel of colour c.
int leftmost(const Canvas& c, Rgb col) {
  for (int x = 0; x < c.width(); ++x)
    for (int y = 0; y < c.height(); ++y) {
      const size_t k = (static_cast<size_t>(y) * c.width() + x) * 3;
      if (std::abs(c.pixels()[k] - col.r) < 30 && std::abs(c.pixels()[k + 1] - col.g) < 30 &&
          std::abs(c.pixels()[k + 2] - col.b) < 30)
        return x;
    }
  return -1;
}

}  // namespace

TEST_CASE("series set side by side: bars at the same x drawn dodge_px apart and reference lines stay put", "[render]") {
  LinePlot p;
  p.height = 600;
  for (Rgb col : {Rgb{250, 0, 0}, Rgb{0, 0, 250}}) {
    Series s;
    s.x = {0, 1, 2};
    s.y = {1, 1, 1};
    s.lo = {0, 0, 0};
    s.hi = {2, 2, 2};
    s.colour = col;
    s.markers = false;
    p.series.push_back(s);
  }
  Series ref;
  ref.reference = true;
  ref.x = {0, 2};
  ref.y = {1.5, 1.5};
  p.series.push_back(ref);
  const Canvas plain = render_plot(p);
  CHECK(bar_centres(plain, {250, 0, 0}).empty());  // one over the other: the red bars are hidden under the blue
  const std::vector<double> blue0 = bar_centres(plain, {0, 0, 250});
  REQUIRE(blue0.size() == 3);
  p.dodge_px = 20;
  const Canvas c = render_plot(p);
  const std::vector<double> red = bar_centres(c, {250, 0, 0}), blue = bar_centres(c, {0, 0, 250});
  REQUIRE(red.size() == 3);
  REQUIRE(blue.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(blue[i] - red[i] == Approx(20).margin(1));
  // Centred on the true x: the middle pair sits either side of where the middle bar stood.
  CHECK(0.5 * (red[1] + blue[1]) == Approx(blue0[1]).margin(1));
  // The outermost bar's cap keeps clear of the frame's left edge (x = 74).
  CHECK(leftmost(c, {250, 0, 0}) >= 74 + 4);
  // Without intervals nothing moves: a series with no finite bar is not set apart.
  for (auto& s : p.series) std::fill(s.lo.begin(), s.lo.end(), NAN), std::fill(s.hi.begin(), s.hi.end(), NAN);
  p.series[0].markers = p.series[1].markers = true;
  p.series[1].y = {1.5, 1.5, 1.5};  // the red line in sight
  LinePlot still = p;
  still.dodge_px = 0;
  const int left_dodged = leftmost(render_plot(p), {250, 0, 0});
  CHECK(left_dodged > 0);
  CHECK(left_dodged == leftmost(render_plot(still), {250, 0, 0}));
}

TEST_CASE("series side by side never reach the next x value's group", "[render]") {
  LinePlot p;
  p.height = 500;
  p.dodge_px = 100;  // far more than the 21 x values leave room for
  for (Rgb col : {Rgb{250, 0, 0}, Rgb{0, 0, 250}}) {
    Series s;
    for (int i = 0; i <= 20; ++i) s.x.push_back(i), s.y.push_back(1), s.lo.push_back(0), s.hi.push_back(2);
    s.colour = col;
    s.markers = false;
    p.series.push_back(s);
  }
  const Canvas c = render_plot(p);
  const std::vector<double> red = bar_centres(c, {250, 0, 0}), blue = bar_centres(c, {0, 0, 250});
  REQUIRE(red.size() == 21);
  REQUIRE(blue.size() == 21);
  for (size_t i = 0; i + 1 < 21; ++i) {
    CHECK(blue[i] - red[i] > 4);                                // still apart
    CHECK(blue[i] - red[i] <= 0.8 * (red[i + 1] - red[i]) + 2);  // capped: the groups keep their order
  }
}

namespace {

size_t count_colour(const Canvas& c, Rgb col) {
  size_t n = 0;
  for (size_t k = 0; k + 2 < c.pixels().size(); k += 3)
    n += c.pixels()[k] == col.r && c.pixels()[k + 1] == col.g && c.pixels()[k + 2] == col.b;
  return n;
}

}  // namespace

TEST_CASE("scatter grids: shared ticks on the left and at the bottom and no dot on a cell's frame", "[render]") {
  const PlotRange range{-1, 1, -1, 1};
  // One point in the middle, one a fifth of a pixel beyond the right edge (drawn onto the frame's column before),
  // one on the top edge (a whole dot inside the frame).
  const at::Tensor pts = at::tensor({0.0, 0.0, 1.004, 0.0, 0.0, 1.0}, at::kDouble).reshape({3, 2});
  const Canvas cell = scatter(pts, 100, range, {250, 0, 0});
  // The frame (grey) is whole: no red on the cell's outer ring of pixels.
  for (int i = 0; i < 100; ++i)
    for (const auto& [x, y] : {std::pair<int, int>{i, 0}, {i, 99}, {0, i}, {99, i}}) {
      const size_t k = (static_cast<size_t>(y) * 100 + x) * 3;
      CHECK(cell.pixels()[k] == 150);
    }
  CHECK(count_colour(cell, {150, 150, 150}) == 4 * 99);  // the frame, untouched by the dot at the edge
  // Nothing of the point beyond the range: the columns next to the frame hold no red at the middle's height.
  for (int x = 95; x < 99; ++x) {
    const size_t k = (static_cast<size_t>(50) * 100 + x) * 3;
    CHECK(cell.pixels()[k + 1] > 200);
  }
  // The point on the top edge is a whole dot just inside: its centre (row 1) as red as the middle one's.
  const size_t top = (static_cast<size_t>(1) * 100 + 50) * 3, mid = (static_cast<size_t>(50) * 100 + 50) * 3;
  CHECK(cell.pixels()[top + 1] == cell.pixels()[mid + 1]);
  GridFigure g;  // no labels: the only text is the ticks' values
  const Canvas big = scatter(pts, 200, range, {250, 0, 0});  // about one tick per 50 px: -1 … 1 by 0.5
  g.cells = {{big, big}, {big, big}};
  const Canvas plain = compose_grid(g);
  g.scatter_ticks = true;
  g.range = range;
  const Canvas ticked = compose_grid(g);
  CHECK(ticked.width() > plain.width());    // room for the y values
  CHECK(ticked.height() > plain.height());  // and the x values under the last row
  // Tick marks (mid grey, 4 px each) beside each row and under each column: -0.5, 0 and 0.5 at least (the ends' values
  // would run into the next cell).
  const size_t marks = count_colour(ticked, {120, 120, 120});
  CHECK(marks >= 4 * (2 * 3 + 2 * 3));
  CHECK(count_colour(plain, {120, 120, 120}) == 0);
  // Small cells still get a scale: at least two ticks inside the range per row and column (a 64-px cell over ±7
  // had only its 0).
  GridFigure small;
  small.cells = {{scatter(pts, 64, {-7, 7, -7, 7}, {250, 0, 0})}};
  small.scatter_ticks = true;
  small.range = {-7, 7, -7, 7};
  CHECK(count_colour(compose_grid(small), {120, 120, 120}) >= 4 * (2 + 2));
}
