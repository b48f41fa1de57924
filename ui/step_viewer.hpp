// Step viewer: scrub through the denoising steps of the last result (the
// state x_t or the denoised estimate D(x_t)), play them as an animation, and
// show the trajectories of a few samples.
#pragma once
#include <vector>

#include <QWidget>

#include "widgets_fwd.hpp"

namespace sims::ui {

class StepViewer final : public QWidget {
  Q_OBJECT
 public:
  explicit StepViewer(QWidget* parent = nullptr);
  // t_0..t_N of the result shown; keeps the position at the end ("final
  // samples") unless the user moved it.
  void set_sigmas(const std::vector<double>& t);
  int step() const;              // 0..N (N = final samples)
  bool show_denoised() const;    // D(x_t) instead of x_t
  bool show_trails() const;
  bool follow_sigma() const;     // 2D axes fit each step's points
  void set_show_denoised(bool yes);
  void set_show_trails(bool yes);
  void set_trails_available(bool yes);  // 2D models only: hidden for images
  QSlider* slider() const { return slider_; }
  QString caption() const;       // e.g. "step 12 / 32 · σ = 0.52 · x_t"
  QPushButton* play_button() const { return play_; }
  void toggle_play();            // View ▸ Play/pause steps (Space)

 Q_SIGNALS:
  void changed();

 private:
  void refresh();
  std::vector<double> t_;
  QSlider* slider_;
  QPushButton* play_;
  QComboBox* what_;
  QCheckBox* trails_;
  QComboBox* speed_;  // playback: steps per second
  QCheckBox* loop_;
  QCheckBox* follow_;
  QLabel* label_;
  QTimer* timer_;
};

}  // namespace sims::ui
