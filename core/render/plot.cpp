#include "render/plot.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "common/error.hpp"

namespace sims::render {
namespace {

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

std::string tick_label(double v, double step) {
  std::ostringstream o;
  if (v != 0 && (std::abs(v) >= 1e5 || std::abs(v) < 1e-3)) {
    o << std::setprecision(2) << std::scientific << v;
  } else {
    const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
    o << std::fixed << std::setprecision(std::min(decimals, 6)) << v;
  }
  return o.str();
}

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

namespace {

// Where a plot's data goes: the data range and the frame in pixels.
// Series with more intervals than this draw them as a band instead of bars.
constexpr size_t kBandFrom = 30;

struct Frame {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;  // in log10 units for log_x / log_y
  int left = 74, top = 14, right = 18, bottom = 52, pw = 0, ph = 0;
  bool log_x = false, log_y = false;
  bool integer_x = false;  // ticks on whole numbers only (generations)
  double dodge = 0;        // pixels between series set side by side (LinePlot::dodge_px, capped to fit)
  double tx(double x) const { return log_x ? std::log10(x) : x; }
  double ty(double y) const { return log_y ? std::log10(y) : y; }
  double px(double x) const { return left + (tx(x) - x0) / (x1 - x0) * (pw - 1); }
  double py(double y) const { return top + ph - 1 - (ty(y) - y0) / (y1 - y0) * (ph - 1); }
  bool usable(double x, double y) const {
    return std::isfinite(x) && std::isfinite(y) && !(log_y && y <= 0) && !(log_x && x <= 0);
  }
  // An interval's lower end as drawn: on a log axis one at or below zero, or below the frame, ends at the frame's
  // bottom (an interval reaching 0 is a bar to the axis, not a missing bar nor a plunge over decades).
  double low(double y) const {
    if (!log_y || !std::isfinite(y)) return y;
    return y > 0 && std::log10(y) >= y0 ? y : std::pow(10.0, y0);
  }
};

// Calls f(X, Y, joined) for every drawable point of s in pixels; joined: the
// previous point was drawable too (a line connects them).
// shift: the series' sideways offset in pixels (LinePlot::dodge_px).
template <class F>
void for_each_point(const Frame& fr, const Series& s, double shift, F f) {
  bool have_prev = false;
  for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
    if (!fr.usable(s.x[i], s.y[i])) {
      have_prev = false;
      continue;
    }
    f(fr.px(s.x[i]) + shift, fr.py(s.y[i]), have_prev);
    have_prev = true;
  }
}

// How far series s is drawn beside its true x, in pixels: the series drawn with error bars (not reference lines,
// not bands, at least one finite interval) are spread dodge_px apart, in order, centred on 0.
bool set_apart(const Series& o) {
  const size_t n = std::min({o.x.size(), o.y.size(), o.lo.size(), o.hi.size()});
  if (o.reference || n == 0 || n > kBandFrom) return false;
  for (size_t i = 0; i < n; ++i)
    if (std::isfinite(o.lo[i]) && std::isfinite(o.hi[i])) return true;
  return false;
}

// The offset of series s in units of the dodge: its place among the series set apart, centred on 0.
double series_slot(const LinePlot& p, const Series& s) {
  if (p.dodge_px == 0 || !set_apart(s)) return 0;
  int k = -1, n = 0;
  for (const auto& o : p.series) {
    if (!set_apart(o)) continue;
    if (&o == &s) k = n;
    ++n;
  }
  return k < 0 ? 0 : k - 0.5 * (n - 1);
}

double series_shift(const LinePlot& p, const Frame& fr, const Series& s) { return series_slot(p, s) * fr.dodge; }

// Fits the x axis to the series set side by side, for the frame's present width: the dodge is capped so that
// neighbouring x values' groups do not cross (at most 0.8 of the smallest gap between them), and the outermost bar
// and its cap (4 px) keep 6 px inside the frame (a margin of m pixels on a frame of pw: the data range D padded by
// D·m / (pw − 1 − 2m)). Without series set apart the axis is as it was.
void fit_dodge(const LinePlot& p, Frame& fr, double data_x0, double data_x1, double padded_x0, double padded_x1) {
  fr.dodge = 0;
  fr.x0 = padded_x0, fr.x1 = padded_x1;
  double widest = 0, span = 0;  // slots from the centre, slots end to end
  std::vector<double> xs;
  for (const auto& s : p.series) {
    if (!set_apart(s)) continue;
    const double k = series_slot(p, s);
    widest = std::max(widest, std::abs(k)), span = std::max(span, 2 * std::abs(k));
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
      if (fr.usable(s.x[i], s.y[i])) xs.push_back(fr.tx(s.x[i]));
  }
  if (p.dodge_px == 0 || widest == 0 || xs.empty()) return;
  std::sort(xs.begin(), xs.end());
  double gap = INFINITY;  // the smallest gap between distinct x values, in axis units
  for (size_t i = 1; i < xs.size(); ++i)
    if (xs[i] > xs[i - 1]) gap = std::min(gap, xs[i] - xs[i - 1]);
  const double D = data_x1 - data_x0;
  double dodge = p.dodge_px;
  for (int pass = 0; pass < 2; ++pass) {  // the cap depends on the padding, the padding on the dodge
    const double m = widest * dodge + 10, room = fr.pw - 1 - 2 * m;
    if (room <= 0) return;  // far too many series for the width: drawn at their x values
    const double xpad = std::max(D * m / room, (padded_x1 - padded_x0 - D) / 2);
    fr.x0 = data_x0 - xpad, fr.x1 = data_x1 + xpad;
    if (std::isfinite(gap)) dodge = std::min(dodge, 0.8 * gap / (fr.x1 - fr.x0) * (fr.pw - 1) / std::max(span, 1.0));
  }
  fr.dodge = dodge;
}

struct Legend {
  int named = 0, bw = 0, bh = 0, bx = 0, by = 0;
};

// Inside the frame, in the corner that hides the least of the data (points
// and the lines between them, sampled), top-right on a tie; returns how much
// data the chosen corner hides.
long place_legend(const LinePlot& p, const Frame& fr, Legend& lg) {
  const int xs[2] = {fr.left + fr.pw - lg.bw - 8, fr.left + 8}, ys[2] = {fr.top + 8, fr.top + fr.ph - lg.bh - 8};
  lg.bx = xs[0], lg.by = ys[0];
  long best = -1;
  for (int cy = 0; cy < 2; ++cy)
    for (int cx = 0; cx < 2; ++cx) {
      const int x0b = xs[cx] - 4, y0b = ys[cy] - 4, x1b = xs[cx] + lg.bw + 4, y1b = ys[cy] + lg.bh + 4;
      long hidden = 0;
      for (const auto& s : p.series) {
        double lx = 0, ly = 0;
        const double shift = series_shift(p, fr, s);
        for_each_point(fr, s, shift, [&](double X, double Y, bool joined) {
          const int steps = joined ? 8 : 1;
          for (int k = 1; k <= steps; ++k) {
            const double f = static_cast<double>(k) / steps;
            const double qx = joined ? lx + (X - lx) * f : X, qy = joined ? ly + (Y - ly) * f : Y;
            hidden += qx >= x0b && qx <= x1b && qy >= y0b && qy <= y1b;
          }
          lx = X;
          ly = Y;
        });
        // Error bars count too (sampled along their length).
        for (size_t i = 0; i < std::min({s.x.size(), s.lo.size(), s.hi.size()}); ++i) {
          if (!fr.usable(s.x[i], fr.low(s.lo[i])) || !fr.usable(s.x[i], s.hi[i])) continue;
          const double X = fr.px(s.x[i]) + shift, Y0 = fr.py(fr.low(s.lo[i])), Y1 = fr.py(s.hi[i]);
          for (int k = 0; k <= 8; ++k) {
            const double qy = Y0 + (Y1 - Y0) * k / 8.0;
            hidden += X >= x0b && X <= x1b && qy >= y0b && qy <= y1b;
          }
        }
      }
      if (best < 0 || hidden < best) best = hidden, lg.bx = xs[cx], lg.by = ys[cy];
    }
  return best;
}

// Log axis ticks: decades when the range spans several; 1-2-5 or 1..9 per
// decade when it spans less; plain nice ticks of the values when even that is too few.
std::vector<double> log_ticks(double y0, double y1) {
  std::vector<double> ticks;
  for (const std::vector<double>& mant :
       {std::vector<double>{1}, std::vector<double>{1, 2, 5}, std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
    ticks.clear();
    for (int e = static_cast<int>(std::floor(y0)) - 1; e <= static_cast<int>(std::ceil(y1)); ++e)
      for (double m : mant) {
        const double v = m * std::pow(10.0, e), lv = std::log10(v);
        if (lv >= y0 && lv <= y1) ticks.push_back(v);
      }
    if (ticks.size() >= 3) break;
  }
  if (ticks.size() < 3) ticks = nice_ticks(std::pow(10.0, y0), std::pow(10.0, y1), 4);
  return ticks;
}

void draw_grid(Canvas& c, const Frame& fr, float fs) {
  auto xt = fr.log_x ? log_ticks(fr.x0, fr.x1) : nice_ticks(fr.x0, fr.x1);
  if (!fr.log_x && fr.integer_x && (xt.size() < 2 || xt[1] - xt[0] < 1)) {  // a step below 1: every whole number
    xt.clear();
    for (double v = std::ceil(fr.x0); v <= fr.x1; v += 1) xt.push_back(v);
  }
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1;
  for (double v : xt) {
    if (fr.log_x && (v <= 0 || std::log10(v) < fr.x0 || std::log10(v) > fr.x1)) continue;
    const int X = static_cast<int>(std::round(fr.px(v)));
    c.fill_rect(X, fr.top + 1, 1, fr.ph - 2, {236, 236, 236});
    const std::string s = tick_label(v, fr.log_x ? std::min(xstep, v) : xstep);
    c.draw_text(s, X - Canvas::text_width(s, fs) / 2, fr.top + fr.ph + 4, fs);
  }
  auto y_tick = [&](double v, double step) {
    const int Y = static_cast<int>(std::round(fr.py(v)));
    c.fill_rect(fr.left + 1, Y, fr.pw - 2, 1, {236, 236, 236});
    const std::string s = tick_label(v, step);
    c.draw_text(s, fr.left - 6 - Canvas::text_width(s, fs), Y - 9, fs);
  };
  if (fr.log_y) {
    const auto ticks = log_ticks(fr.y0, fr.y1);
    const double ystep = ticks.size() > 1 ? ticks[1] - ticks[0] : ticks.empty() ? 1 : ticks[0];
    for (double v : ticks)
      if (v > 0 && std::log10(v) >= fr.y0 && std::log10(v) <= fr.y1) y_tick(v, std::min(ystep, v));
  } else {
    auto yt = nice_ticks(fr.y0, fr.y1);
    const double ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
    for (double v : yt) y_tick(v, ystep);
  }
}

void draw_legend(Canvas& c, const LinePlot& p, const Legend& lg, float fs) {
  c.fill_rect(lg.bx, lg.by, lg.bw, lg.bh, {255, 255, 255});
  c.stroke_rect(lg.bx, lg.by, lg.bw, lg.bh, {200, 200, 200});
  int k = 0;
  for (const auto& s : p.series) {
    if (s.label.empty()) continue;
    const int yy = lg.by + 6 + k * 20;
    if (s.reference) {
      c.fill_rect(lg.bx + 6, yy + 7, 6, 2, s.colour);
      c.fill_rect(lg.bx + 16, yy + 7, 6, 2, s.colour);
    } else {
      c.fill_rect(lg.bx + 6, yy + 6, 18, 4, s.colour);
    }
    c.draw_text(s.label, lg.bx + 30, yy - 2, fs - 1);
    ++k;
  }
}

}  // namespace

Canvas render_plot(const LinePlot& p) {
  Frame fr;
  fr.log_x = p.log_x;
  fr.log_y = p.log_y;
  fr.integer_x = p.integer_x;
  for (const auto& s : p.series)
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!fr.usable(s.x[i], s.y[i])) continue;
      fr.x0 = std::min(fr.x0, fr.tx(s.x[i]));
      fr.x1 = std::max(fr.x1, fr.tx(s.x[i]));
      fr.y0 = std::min(fr.y0, fr.ty(s.y[i]));
      fr.y1 = std::max(fr.y1, fr.ty(s.y[i]));
    }
  // Interval ends widen the range; on a log axis a lower end counts down to a decade below the lowest value only
  // (a bound near zero would otherwise stretch the axis over decades; low() draws it to the frame's bottom).
  const double lowest = fr.y0;
  for (const auto& s : p.series)
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!fr.usable(s.x[i], s.y[i])) continue;
      for (const auto* b : {&s.lo, &s.hi})
        if (i < b->size() && fr.usable(s.x[i], (*b)[i])) {
          fr.y0 = std::min(fr.y0, fr.log_y ? std::max(fr.ty((*b)[i]), lowest - 1) : fr.ty((*b)[i]));
          fr.y1 = std::max(fr.y1, fr.ty((*b)[i]));
        } else if (fr.log_y && b == &s.lo && i < b->size() && std::isfinite((*b)[i])) {
          fr.y0 = std::min(fr.y0, lowest - 1);  // a lower end at or below 0: as far down as a tiny one
        }
    }
  Canvas c(p.width, p.height, {255, 255, 255});
  const float fs = 14.0f;
  // A subtitle wider than the figure is wrapped (it ran off both edges); the plot starts below its last line.
  const std::vector<std::string> sub = p.subtitle.empty() ? std::vector<std::string>{}
                                                          : wrap_text(p.subtitle, p.width - 24, fs - 2);
  fr.top = (p.title.empty() ? 14 : 38) + 18 * static_cast<int>(sub.size());
  fr.pw = p.width - fr.left - fr.right;
  fr.ph = p.height - fr.top - fr.bottom;
  if (!p.title.empty()) c.draw_text(p.title, (p.width - Canvas::text_width(p.title, 16, true)) / 2, 8, 16, {10, 10, 10}, true);
  for (size_t i = 0; i < sub.size(); ++i)
    c.draw_text(sub[i], (p.width - Canvas::text_width(sub[i], fs - 2)) / 2,
                (p.title.empty() ? 8 : 30) + 17 * static_cast<int>(i), fs - 2, {90, 90, 90});
  if (!std::isfinite(fr.x0)) {
    c.stroke_rect(fr.left, fr.top, fr.pw, fr.ph, {120, 120, 120});
    c.draw_text("no data", fr.left + fr.pw / 2 - 25, fr.top + fr.ph / 2 - 8, fs, {120, 120, 120});
    return c;
  }
  if (fr.x1 == fr.x0) fr.x0 -= 0.5, fr.x1 += 0.5;
  bool bars = false;
  for (const auto& s : p.series) bars = bars || !s.lo.empty();
  const double data_x0 = fr.x0, data_x1 = fr.x1;
  if (bars) {  // room for the caps of the first and last error bars
    const double xpad = (fr.x1 - fr.x0) * 0.03;
    fr.x0 -= xpad;
    fr.x1 += xpad;
  }
  const double padded_x0 = fr.x0, padded_x1 = fr.x1;
  if (fr.y1 == fr.y0) {
    const double d = std::max(std::abs(fr.y0) * 0.1, 1e-6);
    fr.y0 -= d, fr.y1 += d;
  }
  const double ypad = (fr.y1 - fr.y0) * 0.06;
  fr.y0 -= ypad;
  fr.y1 += ypad;
  Legend lg;
  int lw = 0;
  for (const auto& s : p.series)
    if (!s.label.empty()) ++lg.named, lw = std::max(lw, Canvas::text_width(s.label, fs - 1));
  lg.bw = lw + 36, lg.bh = lg.named * 20 + 8;
  // Series side by side are fitted before the legend looks for a corner (it must see them where they are drawn),
  // and again if the legend goes outside and narrows the frame.
  fit_dodge(p, fr, data_x0, data_x1, padded_x0, padded_x1);
  // When every corner would hide data, the legend goes outside, right of the frame.
  if (lg.named > 0 && place_legend(p, fr, lg) > 0 && p.width - fr.left - (lg.bw + 30) > 200) {
    fr.right = lg.bw + 30;
    fr.pw = p.width - fr.left - fr.right;
    lg.bx = fr.left + fr.pw + 14;
    lg.by = fr.top;
    fit_dodge(p, fr, data_x0, data_x1, padded_x0, padded_x1);
  }
  draw_grid(c, fr, fs);
  c.stroke_rect(fr.left, fr.top, fr.pw, fr.ph, {120, 120, 120});
  if (!p.x_label.empty())
    c.draw_text(p.x_label, fr.left + (fr.pw - Canvas::text_width(p.x_label, fs)) / 2, p.height - 24, fs);
  if (!p.y_label.empty()) c.draw_text_vertical(p.y_label, 14, fr.top + fr.ph / 2, fs);
  for (const auto& s : p.series) {  // many points: a shaded band between the bounds, under the lines
    const size_t n = std::min({s.x.size(), s.y.size(), s.lo.size(), s.hi.size()});
    if (n <= kBandFrom) continue;
    for (size_t i = 0; i + 1 < n; ++i) {
      const double lo0 = fr.low(s.lo[i]), lo1 = fr.low(s.lo[i + 1]);
      if (!fr.usable(s.x[i], lo0) || !fr.usable(s.x[i], s.hi[i]) || !fr.usable(s.x[i + 1], lo1) ||
          !fr.usable(s.x[i + 1], s.hi[i + 1]))
        continue;
      const double X0 = fr.px(s.x[i]), X1 = fr.px(s.x[i + 1]);
      // The edges run straight in pixels between the points (on a log axis too).
      const double A0 = fr.py(s.hi[i]), A1 = fr.py(s.hi[i + 1]), B0 = fr.py(lo0), B1 = fr.py(lo1);
      for (int X = static_cast<int>(std::ceil(X0)); X <= static_cast<int>(std::floor(X1)) && X1 > X0; ++X) {
        const double f = (X - X0) / (X1 - X0);
        const double a = A0 + (A1 - A0) * f, b = B0 + (B1 - B0) * f;
        for (int Y = static_cast<int>(std::lround(std::min(a, b))); Y <= static_cast<int>(std::lround(std::max(a, b))); ++Y)
          if (Y >= fr.top && Y < fr.top + fr.ph) c.blend(X, Y, s.colour, 0.22f);
      }
    }
  }
  for (const auto& s : p.series) {  // few points: error bars with caps, under the lines
    const size_t n = std::min({s.x.size(), s.y.size(), s.lo.size(), s.hi.size()});
    for (size_t i = 0; i < n && n <= kBandFrom; ++i) {
      if (!fr.usable(s.x[i], s.y[i]) || !fr.usable(s.x[i], fr.low(s.lo[i])) || !fr.usable(s.x[i], s.hi[i])) continue;
      const double X = fr.px(s.x[i]) + series_shift(p, fr, s), Y0 = fr.py(fr.low(s.lo[i])), Y1 = fr.py(s.hi[i]);
      line(c, X, Y0, X, Y1, s.colour);
      line(c, X - 4, Y0, X + 4, Y0, s.colour);
      line(c, X - 4, Y1, X + 4, Y1, s.colour);
    }
  }
  for (const auto& s : p.series) {
    double lx = 0, ly = 0;
    for_each_point(fr, s, series_shift(p, fr, s), [&](double X, double Y, bool joined) {
      if (joined && s.reference) {
        const double len = std::hypot(X - lx, Y - ly);
        for (double t = 0; t < len; t += 10)  // 6 px on, 4 px off
          line(c, lx + (X - lx) * t / len, ly + (Y - ly) * t / len, lx + (X - lx) * std::min(t + 6, len) / len,
               ly + (Y - ly) * std::min(t + 6, len) / len, s.colour);
      } else if (joined) {
        line(c, lx, ly, X, Y, s.colour);
      }
      if (s.markers && !s.reference) c.fill_rect(static_cast<int>(X) - 3, static_cast<int>(Y) - 3, 7, 7, s.colour);
      lx = X;
      ly = Y;
    });
  }
  if (p.mark_best) {
    const Series* bs = nullptr;
    size_t bi = 0;
    for (const auto& s : p.series)
      for (size_t i = 0; i < std::min(s.x.size(), s.y.size()) && !s.reference; ++i)
        if (fr.usable(s.x[i], s.y[i]) && (!bs || (p.mark_best_high ? s.y[i] > bs->y[bi] : s.y[i] < bs->y[bi])))
          bs = &s, bi = i;
    if (bs) {
      const double X = fr.px(bs->x[bi]) + series_shift(p, fr, *bs), Y = fr.py(bs->y[bi]);
      for (int a = 0; a < 48; ++a) {  // a ring of radius 9
        const double t0 = a * 2 * 3.14159265358979 / 48, t1 = (a + 1) * 2 * 3.14159265358979 / 48;
        line(c, X + 9 * std::cos(t0), Y + 9 * std::sin(t0), X + 9 * std::cos(t1), Y + 9 * std::sin(t1), {20, 20, 20});
      }
      // Named for what it is (the lowest value is not a gain beyond the noise), kept inside the picture.
      const std::string what = p.mark_best_high ? "highest" : "lowest";
      const int tw = Canvas::text_width(what, fs - 2);
      int tx = static_cast<int>(X) + 12;
      if (tx + tw > c.width() - 6) tx = static_cast<int>(X) - 12 - tw;
      c.draw_text(what, tx, static_cast<int>(Y) - 22, fs - 2, {20, 20, 20});
    }
  }
  if (lg.named > 0) draw_legend(c, p, lg, fs);
  return c;
}

Canvas scatter_axes(const std::vector<ScatterLayer>& layers, int size, const PlotRange& r, float label_px) {
  const std::vector<double> xt = nice_ticks(r.x0, r.x1, 6), yt = nice_ticks(r.y0, r.y1, 6);
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
  int label_w = 0;
  for (double v : yt) label_w = std::max(label_w, Canvas::text_width(tick_label(v, ystep), label_px));
  const int tick = 4, left = label_w + tick + 4, bottom = static_cast<int>(label_px * 1.5f) + tick;
  // Room on the right for the last x label's overhang (half its width: labels are centred on their ticks).
  int right = static_cast<int>(label_px * 1.6f);
  if (!xt.empty()) right = std::max(right, Canvas::text_width(tick_label(xt.back(), xstep), label_px) / 2 + 2);
  const int top = static_cast<int>(label_px * 0.6f);
  Canvas c(left + size + right, top + size + bottom, {255, 255, 255});
  c.fill_rect(left, top, size, size, {252, 252, 250});
  auto px_x = [&](double v) { return left + static_cast<int>(std::lround((v - r.x0) / (r.x1 - r.x0) * (size - 1))); };
  auto px_y = [&](double v) { return top + size - 1 - static_cast<int>(std::lround((v - r.y0) / (r.y1 - r.y0) * (size - 1))); };
  for (double v : xt) {
    const int x = px_x(v);
    if (x < left || x >= left + size) continue;
    c.fill_rect(x, top, 1, size, v == 0 ? Rgb{215, 215, 215} : Rgb{236, 236, 236});
    c.fill_rect(x, top + size, 1, tick, {120, 120, 120});
    const std::string s = tick_label(v, xstep);
    c.draw_text(s, x - Canvas::text_width(s, label_px) / 2, top + size + tick + 1, label_px, {60, 60, 60});
  }
  for (double v : yt) {
    const int y = px_y(v);
    if (y < top || y >= top + size) continue;
    c.fill_rect(left, y, size, 1, v == 0 ? Rgb{215, 215, 215} : Rgb{236, 236, 236});
    c.fill_rect(left - tick, y, tick, 1, {120, 120, 120});
    const std::string s = tick_label(v, ystep);
    c.draw_text(s, left - tick - 2 - Canvas::text_width(s, label_px), y - static_cast<int>(label_px * 0.6f), label_px,
                {60, 60, 60});
  }
  for (const ScatterLayer& l : layers)
    if (l.points.defined() && l.points.dim() == 2 && l.points.size(1) >= 2 && l.points.size(0) > 0)
      draw_points(c, left, top, size, l.points, r, l.colour, l.alpha_scale);
  c.stroke_rect(left, top, size, size, {150, 150, 150});
  return c;
}

}  // namespace sims::render
