#include "step_viewer.hpp"

#include <algorithm>

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QSlider>
#include <QStyle>
#include <QTimer>

namespace sims::ui {

StepViewer::StepViewer(QWidget* parent) : QWidget(parent) {
  auto* h = new QHBoxLayout(this);
  h->setContentsMargins(6, 2, 6, 2);
  play_ = new QPushButton(this);
  play_->setObjectName("play");
  play_->setIcon(style()->standardIcon(QStyle::SP_MediaPlay));
  play_->setToolTip("Play the denoising steps");
  play_->setCheckable(true);
  h->addWidget(play_);
  h->addWidget(new QLabel("Step", this));
  slider_ = new QSlider(Qt::Horizontal, this);
  slider_->setObjectName("stepSlider");
  slider_->setRange(0, 1);
  slider_->setValue(1);
  slider_->setTickPosition(QSlider::TicksBelow);
  h->addWidget(slider_, 1);
  label_ = new QLabel(this);
  label_->setMinimumWidth(170);
  h->addWidget(label_);
  what_ = new QComboBox(this);
  what_->setObjectName("stepWhat");
  what_->addItem("x_t (state)");
  what_->addItem("D(x_t) (denoised)");
  what_->setToolTip("Show the noisy state x_t of each step, or the model's estimate D(x_t) of the clean sample");
  h->addWidget(what_);
  follow_ = new QCheckBox("Follow σ", this);
  follow_->setObjectName("followSigma");
  follow_->setChecked(true);
  follow_->setToolTip("Axes fit each step's points (off: the axes of the models' first full result at every step)");
  h->addWidget(follow_);
  connect(follow_, &QCheckBox::toggled, this, [this] { Q_EMIT changed(); });
  trails_ = new QCheckBox("Trails", this);
  trails_->setObjectName("trails");
  trails_->setToolTip("Paths of a few samples through all steps (yellow: the step shown)");
  h->addWidget(trails_);
  speed_ = new QComboBox(this);
  speed_->setObjectName("playSpeed");
  for (int v : {2, 4, 8, 16, 32}) speed_->addItem(QString("%1 steps/s").arg(v), v);
  speed_->setCurrentIndex(2);
  speed_->setToolTip("Playback speed");
  h->insertWidget(1, speed_);
  loop_ = new QCheckBox("Loop", this);
  loop_->setObjectName("playLoop");
  loop_->setToolTip("Play again from step 0 at the end");
  h->insertWidget(2, loop_);
  timer_ = new QTimer(this);
  timer_->setInterval(1000 / 8);
  connect(speed_, &QComboBox::currentIndexChanged, this,
          [this] { timer_->setInterval(1000 / std::max(1, speed_->currentData().toInt())); });

  connect(slider_, &QSlider::valueChanged, this, [this] {
    refresh();
    Q_EMIT changed();
  });
  connect(what_, &QComboBox::currentIndexChanged, this, [this] {
    refresh();
    Q_EMIT changed();
  });
  connect(trails_, &QCheckBox::toggled, this, [this] { Q_EMIT changed(); });
  connect(play_, &QPushButton::toggled, this, [this](bool on) {
    play_->setIcon(style()->standardIcon(on ? QStyle::SP_MediaPause : QStyle::SP_MediaPlay));
    if (on) {
      if (slider_->value() == slider_->maximum()) slider_->setValue(0);
      timer_->start();
    } else {
      timer_->stop();
    }
  });
  connect(timer_, &QTimer::timeout, this, [this] {
    if (slider_->value() < slider_->maximum()) slider_->setValue(slider_->value() + 1);
    else if (loop_->isChecked() && slider_->maximum() > 0) slider_->setValue(0);
    else play_->setChecked(false);
  });
  refresh();
}

void StepViewer::set_sigmas(const std::vector<double>& t) {
  const int N = t.empty() ? 1 : static_cast<int>(t.size()) - 1;
  const bool at_end = slider_->value() == slider_->maximum();
  t_ = t;
  const QSignalBlocker b(slider_);
  slider_->setRange(0, N);
  slider_->setTickInterval(N > 40 ? 8 : N > 16 ? 4 : 1);
  if (at_end) slider_->setValue(N);
  refresh();
}

int StepViewer::step() const { return slider_->value(); }
bool StepViewer::show_denoised() const { return what_->currentIndex() == 1; }
bool StepViewer::show_trails() const { return trails_->isChecked(); }
bool StepViewer::follow_sigma() const { return follow_->isChecked(); }
void StepViewer::set_show_denoised(bool yes) { what_->setCurrentIndex(yes ? 1 : 0); }
void StepViewer::set_show_trails(bool yes) { trails_->setChecked(yes); }

void StepViewer::set_trails_available(bool yes) {
  trails_->setVisible(yes);
  follow_->setVisible(yes);  // images have no axes
}

QString StepViewer::caption() const {
  const int k = step(), N = slider_->maximum();
  if (t_.empty()) return {};
  if (k >= N) return QString("final samples (σ = 0) · %1 steps").arg(N);
  const QString sig = QString::number(t_[k], 'g', 3);
  // Steps counted from 1, as the guidance panel's "steps 4–18 of 32 guided": state k is the one after k steps.
  const QString when = k == 0 ? QString("before step 1 of %1").arg(N) : QString("after %1 of %2 steps").arg(k).arg(N);
  return when + (show_denoised() ? " · D(x_t) at σ = " : " · x_t at σ = ") + sig;
}

void StepViewer::refresh() {
  const int k = step(), N = slider_->maximum();
  label_->setText(t_.empty() ? QString("—")
                  : k >= N   ? QString("%1 / %2 · final").arg(k).arg(N)
                             : QString("%1 / %2 · σ = %3").arg(k).arg(N).arg(t_[k], 0, 'g', 3));
}

void StepViewer::toggle_play() {
  if (play_->isEnabled()) play_->toggle();
}

}  // namespace sims::ui
