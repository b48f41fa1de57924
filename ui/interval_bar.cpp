#include "interval_bar.hpp"

#include "theme.hpp"

#include <cmath>

#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>

namespace sims::ui {
namespace {
const double kEnd = 0.045;  // share of the axis taken by each of the "0" and "inf" end zones
}

IntervalBar::IntervalBar(QWidget* parent) : QWidget(parent) {
  setMouseTracking(false);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
  set_sampler(SamplerConfig{});
  setToolTip("Guidance interval (σ_lo, σ_hi]: SIMS guidance is applied only to denoiser evaluations at σ inside it; "
             "elsewhere the base model runs alone. σ falls from left to right, as sampling goes; the ticks are the steps. "
             "Drag the handles; the far ends mean ∞ (left) and 0 (right).");
}

void IntervalBar::set_sampler(const SamplerConfig& cfg) {
  cfg_ = cfg;
  t_ = edm_time_steps(cfg);
  update();
}

void IntervalBar::set_interval(double lo, double hi) {
  lo_ = lo;
  hi_ = hi;
  update();
}

std::pair<int, int> IntervalBar::guided_steps() const {
  Guidance g;
  g.lo = lo_;
  g.hi = hi_;
  int first = cfg_.steps, last = -1;
  for (int i = 0; i < cfg_.steps; ++i)
    for (double s : step_eval_sigmas(cfg_, t_, i))
      if (g.applies(s)) first = std::min(first, i), last = std::max(last, i);
  return {first, last};
}

QRectF IntervalBar::axis() const { return QRectF(10, 30, width() - 20, 15); }

// Sigma decreases from left to right, so the steps run left to right as in
// the step viewer.
double IntervalBar::x_of(double sigma) const {
  const QRectF a = axis();
  if (sigma <= 0) return a.right();
  if (!std::isfinite(sigma)) return a.left();
  const double l0 = std::log(cfg_.sigma_min / 1.5), l1 = std::log(cfg_.sigma_max * 1.5);
  const double u = std::clamp((std::log(sigma) - l0) / (l1 - l0), 0.0, 1.0);
  return a.right() - a.width() * (kEnd + u * (1 - 2 * kEnd));
}

double IntervalBar::sigma_at(double x) const {
  const QRectF a = axis();
  const double u = ((a.right() - x) / a.width() - kEnd) / (1 - 2 * kEnd);
  if (u <= 0) return 0;
  if (u >= 1) return std::numeric_limits<double>::infinity();
  const double l0 = std::log(cfg_.sigma_min / 1.5), l1 = std::log(cfg_.sigma_max * 1.5);
  return std::exp(l0 + u * (l1 - l0));
}

void IntervalBar::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing, true);
  const ViewColours& k = screen_colours();
  const QRectF a = axis();
  QFont small = font();
  small.setPointSizeF(7.5);
  p.setFont(small);
  const QFontMetricsF fm(small);
  // Axis track and the guided band.
  p.setPen(Qt::NoPen);
  p.setBrush(k.track);
  p.drawRoundedRect(a, 3, 3);
  const double x0 = x_of(lo_), x1 = x_of(hi_);
  p.setBrush(QColor(221, 85, 51, 70));
  p.drawRect(QRectF(QPointF(x0, a.top()), QPointF(x1, a.bottom())));
  // End zones.
  p.setPen(k.footnote);
  p.drawText(QRectF(a.left(), a.bottom() + 2, 20, 12), Qt::AlignLeft, "∞");
  p.drawText(QRectF(a.right() - 20, a.bottom() + 2, 20, 12), Qt::AlignRight, "0");
  // Decades of sigma below the axis.
  for (int e = -3; e <= 2; ++e) {
    const double s = std::pow(10.0, e);
    if (s < cfg_.sigma_min || s > cfg_.sigma_max) continue;  // leaves room for "∞" and "0"
    const double x = x_of(s);
    p.drawLine(QPointF(x, a.bottom()), QPointF(x, a.bottom() + 3));
    const QString t = e >= 0 ? QString::number(s, 'f', 0) : QString::number(s, 'g', 1);
    p.drawText(QPointF(x - fm.horizontalAdvance(t) / 2, a.bottom() + 4 + fm.ascent()), t);
  }
  p.drawText(QRectF(a.left(), a.bottom() + 14, a.width(), 12), Qt::AlignHCenter, "σ (log scale) →  less noise");
  // Steps: a tick per step at the sigma it starts from; guided ones highlighted.
  Guidance g;
  g.lo = lo_;
  g.hi = hi_;
  const int N = cfg_.steps;
  const int every = N <= 12 ? 1 : N <= 24 ? 2 : N <= 48 ? 4 : 8;
  double last_label = -1e9;
  for (int i = 0; i < N; ++i) {
    bool guided = false;
    for (double s : step_eval_sigmas(cfg_, t_, i)) guided = guided || g.applies(s);
    const double x = x_of(t_[i]);
    p.setPen(QPen(guided ? k.data(QColor(200, 70, 40)) : k.axis, guided ? 2 : 1));
    p.drawLine(QPointF(x, a.top() + 2), QPointF(x, a.bottom() - 2));
    // Counted from 1 (the panel's "steps 4–18 of 32"): 1, then every `every`-th up to N.
    if ((i == 0 || (i + 1) % every == 0 || i == N - 1) && std::abs(x - last_label) > fm.horizontalAdvance("00") + 3) {
      const QString t = QString::number(i + 1);
      p.drawText(QPointF(x - fm.horizontalAdvance(t) / 2, a.top() - 6), t);
      last_label = x;
    }
  }
  p.setPen(k.footnote);
  p.drawText(QRectF(a.left(), 0, a.width(), 12), Qt::AlignLeft, "step");
  // Handles: knobs across the track (kept clear of the step labels above).
  for (int h = 0; h < 2; ++h) {
    const double x = h == 0 ? x0 : x1;
    p.setPen(QPen(QColor(140, 50, 25), 1));
    p.setBrush(drag_ == h ? QColor(255, 150, 90) : QColor(221, 85, 51));
    p.drawRoundedRect(QRectF(x - 3.5, a.top() - 3, 7, a.height() + 6), 2.5, 2.5);
  }
}

void IntervalBar::mousePressEvent(QMouseEvent* e) {
  const double x = e->position().x();
  const double d0 = std::abs(x - x_of(lo_)), d1 = std::abs(x - x_of(hi_));
  drag_ = d0 < d1 || (d0 == d1 && x > x_of(lo_)) ? 0 : 1;  // lo sits right of hi
  mouseMoveEvent(e);
}

void IntervalBar::mouseMoveEvent(QMouseEvent* e) {
  if (drag_ < 0) return;
  const double s = sigma_at(e->position().x());
  if (drag_ == 0) lo_ = std::min(s, hi_);
  else hi_ = std::max(s, lo_);
  // Never empty (the samplers refuse LO = HI): LO at the far left (infinity) becomes a value above every step's
  // sigma, and at LO = 0 the smallest HI lies below every step's sigma; both guide no step, as the ends they stand for.
  if (!std::isfinite(lo_)) lo_ = cfg_.sigma_max * 1.5;
  if (lo_ >= hi_) hi_ = lo_ > 0 ? lo_ * 1.0001 : cfg_.sigma_min * 0.5;
  update();
  Q_EMIT dragging(lo_, hi_);
}

void IntervalBar::mouseReleaseEvent(QMouseEvent*) {
  if (drag_ < 0) return;
  drag_ = -1;
  update();
  Q_EMIT released(lo_, hi_);
}

}  // namespace sims::ui
