// Live guidance panel: omega slider (-1..3), guidance interval, steps, seed,
// number of points, base-vs-SIMS comparison. Dragging a control asks for a
// cheap preview; releasing it asks for full quality.
#pragma once
#include <cstdint>

#include <QGroupBox>

#include "sampling/schedule.hpp"

class QCheckBox;
class QLabel;
class QSlider;
class QSpinBox;

namespace sims::ui {

class IntervalBar;

struct GuidanceSettings {
  double omega = 1.0;
  double lo = 0.0, hi = std::numeric_limits<double>::infinity();
  int steps = 32;
  uint64_t seed = 0;
  int64_t points = 2000;
  bool compare = true;
};

class GuidancePanel final : public QGroupBox {
  Q_OBJECT
 public:
  explicit GuidancePanel(QWidget* parent = nullptr);
  GuidanceSettings settings() const;
  void set_settings(const GuidanceSettings& s);  // no signal
  void set_aux_available(bool yes);
  QSlider* omega_slider() const { return omega_; }
  IntervalBar* interval_bar() const { return bar_; }
  SamplerConfig sampler_config() const;

 Q_SIGNALS:
  // A setting changed; preview = a control is being dragged.
  void changed(bool preview);

 private:
  void refresh_labels();

  QSlider* omega_;
  QLabel *omega_label_, *interval_label_;
  IntervalBar* bar_;
  QSpinBox *steps_, *seed_, *points_;
  QCheckBox* compare_;
};

}  // namespace sims::ui
