// Line plots (render/plot.hpp): intervals on a logarithmic axis.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

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
