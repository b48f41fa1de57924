#include "render/plot.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "common/error.hpp"

namespace sims::render {
namespace {

std::string fmt(double v, double step) {
  std::ostringstream o;
  if (v != 0 && (std::abs(v) >= 1e5 || std::abs(v) < 1e-3)) {
    o << std::setprecision(2) << std::scientific << v;
  } else {
    const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
    o << std::fixed << std::setprecision(std::min(decimals, 6)) << v;
  }
  return o.str();
}

// Anti-aliased-ish thick line (Wu would be nicer; 2px stamps are enough at this size).
void line(Canvas& c, double x0, double y0, double x1, double y1, Rgb col) {
  const double len = std::hypot(x1 - x0, y1 - y0);
  const int steps = std::max(1, static_cast<int>(len * 2));
  for (int i = 0; i <= steps; ++i) {
    const double t = static_cast<double>(i) / steps;
    const double x = x0 + (x1 - x0) * t, y = y0 + (y1 - y0) * t;
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx) {
        const double d = std::hypot(std::round(x) + dx - x, std::round(y) + dy - y);
        c.blend(static_cast<int>(std::round(x)) + dx, static_cast<int>(std::round(y)) + dy, col,
                static_cast<float>(std::clamp(1.4 - d, 0.0, 1.0)));
      }
  }
}

}  // namespace

Rgb palette(size_t i) {
  static const Rgb p[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189},
                          {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return p[i % 10];
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) {
    const double d = std::max(std::abs(lo) * 0.1, 1e-9);
    lo -= d;
    hi += d;
  }
  const double raw = (hi - lo) / std::max(target, 2);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

Canvas render_plot(const LinePlot& p) {
  auto ty = [&](double y) { return p.log_y ? std::log10(y) : y; };
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : p.series)
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (p.log_y && s.y[i] <= 0)) continue;
      x0 = std::min(x0, s.x[i]);
      x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, ty(s.y[i]));
      y1 = std::max(y1, ty(s.y[i]));
    }
  Canvas c(p.width, p.height, {255, 255, 255});
  const float fs = 14.0f;
  const int top = p.title.empty() ? 14 : 38, bottom = 52, left = 74;
  int right = 18;
  int pw = p.width - left - right;
  const int ph = p.height - top - bottom;
  if (!p.title.empty()) c.draw_text(p.title, (p.width - Canvas::text_width(p.title, 16, true)) / 2, 8, 16, {10, 10, 10}, true);
  if (!std::isfinite(x0)) {
    c.stroke_rect(left, top, pw, ph, {120, 120, 120});
    c.draw_text("no data", left + pw / 2 - 25, top + ph / 2 - 8, fs, {120, 120, 120});
    return c;
  }
  if (x1 == x0) { x0 -= 0.5; x1 += 0.5; }
  if (y1 == y0) { const double d = std::max(std::abs(y0) * 0.1, 1e-6); y0 -= d; y1 += d; }
  const double ypad = (y1 - y0) * 0.06;
  y0 -= ypad;
  y1 += ypad;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * (pw - 1); };
  auto py = [&](double y) { return top + ph - 1 - (ty(y) - y0) / (y1 - y0) * (ph - 1); };
  // Legend: inside the frame, in the corner that hides the least of the data
  // (points and the lines between them, sampled), top-right on a tie.
  int named = 0, lw = 0;
  for (const auto& s : p.series)
    if (!s.label.empty()) {
      ++named;
      lw = std::max(lw, Canvas::text_width(s.label, fs - 1));
    }
  const int bw = lw + 36, bh = named * 20 + 8;
  int bx = 0, by = 0;
  auto place_legend = [&]() -> long {
    const int xs[2] = {left + pw - bw - 8, left + 8}, ys[2] = {top + 8, top + ph - bh - 8};
    bx = xs[0], by = ys[0];
    long best = -1;
    for (int cy = 0; cy < 2; ++cy)
      for (int cx = 0; cx < 2; ++cx) {
        const int x0b = xs[cx] - 4, y0b = ys[cy] - 4, x1b = xs[cx] + bw + 4, y1b = ys[cy] + bh + 4;
        long hidden = 0;
        for (const auto& s : p.series) {
          bool have_prev = false;
          double lx = 0, ly = 0;
          for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
            if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (p.log_y && s.y[i] <= 0)) {
              have_prev = false;
              continue;
            }
            const double X = px(s.x[i]), Y = py(s.y[i]);
            const int steps = have_prev ? 8 : 1;
            for (int k = 1; k <= steps; ++k) {
              const double f = static_cast<double>(k) / steps;
              const double qx = have_prev ? lx + (X - lx) * f : X, qy = have_prev ? ly + (Y - ly) * f : Y;
              hidden += qx >= x0b && qx <= x1b && qy >= y0b && qy <= y1b;
            }
            lx = X;
            ly = Y;
            have_prev = true;
          }
        }
        if (best < 0 || hidden < best) best = hidden, bx = xs[cx], by = ys[cy];
      }
    return best;
  };
  // When every corner would hide data, the legend goes outside, right of the frame.
  if (named > 0 && place_legend() > 0 && p.width - left - (bw + 30) > 200) {
    right = bw + 30;
    pw = p.width - left - right;
    bx = left + pw + 14;
    by = top;
  }
  // Grid and ticks.
  auto xt = nice_ticks(x0, x1);
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1;
  for (double v : xt) {
    const int X = static_cast<int>(std::round(px(v)));
    c.fill_rect(X, top + 1, 1, ph - 2, {236, 236, 236});
    const std::string s = fmt(v, xstep);
    c.draw_text(s, X - Canvas::text_width(s, fs) / 2, top + ph + 4, fs);
  }
  if (p.log_y) {
    // Decades when the range spans several; 1-2-5 or 1..9 per decade when it
    // spans less; plain nice ticks of the values when even that is too few.
    std::vector<double> ticks;
    for (const std::vector<double>& mant : {std::vector<double>{1}, std::vector<double>{1, 2, 5},
                                            std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
      ticks.clear();
      for (int e = static_cast<int>(std::floor(y0)) - 1; e <= static_cast<int>(std::ceil(y1)); ++e)
        for (double m : mant) {
          const double v = m * std::pow(10.0, e), lv = std::log10(v);
          if (lv >= y0 && lv <= y1) ticks.push_back(v);
        }
      if (ticks.size() >= 3) break;
    }
    if (ticks.size() < 3) ticks = nice_ticks(std::pow(10.0, y0), std::pow(10.0, y1), 4);
    const double ystep = ticks.size() > 1 ? ticks[1] - ticks[0] : ticks.empty() ? 1 : ticks[0];
    for (double v : ticks) {
      if (v <= 0 || std::log10(v) < y0 || std::log10(v) > y1) continue;
      const int Y = static_cast<int>(std::round(py(v)));
      c.fill_rect(left + 1, Y, pw - 2, 1, {236, 236, 236});
      const std::string s = fmt(v, std::min(ystep, v));
      c.draw_text(s, left - 6 - Canvas::text_width(s, fs), Y - 9, fs);
    }
  } else {
    auto yt = nice_ticks(y0, y1);
    const double ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
    for (double v : yt) {
      const int Y = static_cast<int>(std::round(py(v)));
      c.fill_rect(left + 1, Y, pw - 2, 1, {236, 236, 236});
      const std::string s = fmt(v, ystep);
      c.draw_text(s, left - 6 - Canvas::text_width(s, fs), Y - 9, fs);
    }
  }
  c.stroke_rect(left, top, pw, ph, {120, 120, 120});
  if (!p.x_label.empty()) c.draw_text(p.x_label, left + (pw - Canvas::text_width(p.x_label, fs)) / 2, p.height - 24, fs);
  if (!p.y_label.empty()) c.draw_text_vertical(p.y_label, 14, top + ph / 2, fs);
  // Series.
  for (const auto& s : p.series) {
    bool have_prev = false;
    double lx = 0, ly = 0;
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (p.log_y && s.y[i] <= 0)) {
        have_prev = false;
        continue;
      }
      const double X = px(s.x[i]), Y = py(s.y[i]);
      if (have_prev) line(c, lx, ly, X, Y, s.colour);
      if (s.markers) c.fill_rect(static_cast<int>(X) - 3, static_cast<int>(Y) - 3, 7, 7, s.colour);
      lx = X;
      ly = Y;
      have_prev = true;
    }
  }
  // Legend.
  if (named > 0) {
    c.fill_rect(bx, by, bw, bh, {255, 255, 255});
    c.stroke_rect(bx, by, bw, bh, {200, 200, 200});
    int k = 0;
    for (const auto& s : p.series) {
      if (s.label.empty()) continue;
      const int yy = by + 6 + k * 20;
      c.fill_rect(bx + 6, yy + 6, 18, 4, s.colour);
      c.draw_text(s.label, bx + 30, yy - 2, fs - 1);
      ++k;
    }
  }
  return c;
}

}  // namespace sims::render
