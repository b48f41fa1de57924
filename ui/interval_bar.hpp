// The guidance-interval control: sigma on a log axis with the sampler's steps
// marked (index labels, guided steps highlighted) and two draggable handles
// for (sigma_lo, sigma_hi]. Sigma falls from left to right as sampling does;
// the far left end means infinity, the far right end 0.
#pragma once
#include <QWidget>

#include "sampling/schedule.hpp"

namespace sims::ui {

class IntervalBar final : public QWidget {
  Q_OBJECT
 public:
  explicit IntervalBar(QWidget* parent = nullptr);
  void set_sampler(const SamplerConfig& cfg);
  void set_interval(double lo, double hi);  // no signal
  double lo() const { return lo_; }
  double hi() const { return hi_; }
  // Steps whose evaluations are guided: [first, last], or first > last if none.
  std::pair<int, int> guided_steps() const;
  QSize sizeHint() const override { return {320, 74}; }
  QSize minimumSizeHint() const override { return {220, 74}; }

 Q_SIGNALS:
  void dragging(double lo, double hi);
  void released(double lo, double hi);

 protected:
  void paintEvent(QPaintEvent*) override;
  void mousePressEvent(QMouseEvent*) override;
  void mouseMoveEvent(QMouseEvent*) override;
  void mouseReleaseEvent(QMouseEvent*) override;

 private:
  double x_of(double sigma) const;
  double sigma_at(double x) const;  // 0 / inf at the ends
  QRectF axis() const;

  SamplerConfig cfg_;
  std::vector<double> t_;
  double lo_ = 0, hi_ = std::numeric_limits<double>::infinity();
  int drag_ = -1;  // 0 lo, 1 hi
};

}  // namespace sims::ui
