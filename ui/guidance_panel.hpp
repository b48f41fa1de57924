// Live guidance panel: omega slider (-1..3), guidance interval, steps, seed,
// number of points, sampler, base-vs-SIMS comparison. Dragging a control asks
// for a cheap preview; releasing it asks for full quality. A status line says
// which quality is shown, with a Stop button while a run is in flight.
#pragma once
#include <cstdint>

#include <QGroupBox>

#include "sampling/schedule.hpp"

#include "widgets_fwd.hpp"

namespace sims::ui {

class IntervalBar;

struct GuidanceSettings {
  double omega = 1.0;
  double lo = 0.0, hi = std::numeric_limits<double>::infinity();
  int steps = 32;
  SamplerKind sampler = SamplerKind::Heun;
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
  void set_points_visible(bool yes);  // 2D models only
  QSlider* omega_slider() const { return omega_; }
  QDoubleSpinBox* omega_box() const { return omega_box_; }
  // The omega slider is held down (being dragged, or held still before release).
  bool dragging() const;
  IntervalBar* interval_bar() const { return bar_; }
  SamplerConfig sampler_config() const;
  // What the views show ("preview · 8 steps", "full quality") and whether a run is
  // in flight (enables Stop).
  void set_status(const QString& quality, bool busy);
  QPushButton* stop_button() const { return stop_; }
  QString quality_text() const;
  // The quality line and Stop, in the panel until its owner takes them out to place them itself (the Live tab
  // pins them under its scrolled side panel, so that Stop never scrolls out of a 1280 x 720 window).
  QWidget* take_status_row();

 Q_SIGNALS:
  // A setting changed; preview = a control is being dragged.
  void changed(bool preview);
  // The user pressed Stop.
  void cancel_requested();

 private:
  void refresh_labels();

  QSlider* omega_;
  QLabel* interval_label_;
  QDoubleSpinBox* omega_box_;  // ω typed (the slider moves with it)
  IntervalBar* bar_;
  QSpinBox *steps_, *seed_, *points_;
  QComboBox* sampler_;
  QCheckBox* compare_;
  QLabel* quality_;
  QPushButton* stop_;
  QWidget* status_row_;
};

}  // namespace sims::ui
