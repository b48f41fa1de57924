#include "guidance_panel.hpp"
#include "theme.hpp"

#include <cmath>

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QSignalBlocker>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QRandomGenerator>
#include <QSlider>
#include <QSpinBox>
#include <QVBoxLayout>

#include "interval_bar.hpp"

namespace sims::ui {
namespace {
QString sigma_text(double s) {
  if (s <= 0) return "0";
  if (!std::isfinite(s)) return "∞";
  return QString::number(s, 'g', 3);
}
}  // namespace

GuidancePanel::GuidancePanel(QWidget* parent) : QGroupBox("Live guidance", parent) {
  auto* v = new QVBoxLayout(this);

  // omega
  auto* head = new QHBoxLayout;
  head->addWidget(new QLabel("<b>ω</b> (guidance weight)", this));
  head->addStretch();
  // The value, large, and typed where a drag is too coarse (Enter or leaving the box applies it).
  omega_box_ = new QDoubleSpinBox(this);
  omega_box_->setObjectName("omegaBox");
  omega_box_->setPrefix("ω = ");
  omega_box_->setRange(-1.0, 3.0);
  omega_box_->setDecimals(2);
  omega_box_->setSingleStep(0.05);
  omega_box_->setKeyboardTracking(false);
  omega_box_->setToolTip("Type ω (−1 … 3, steps of 0.01) or drag the slider");
  QFont big = omega_box_->font();
  big.setPointSizeF(big.pointSizeF() * 1.25);
  big.setBold(true);
  omega_box_->setFont(big);
  head->addWidget(omega_box_);
  v->addLayout(head);
  omega_ = new QSlider(Qt::Horizontal, this);
  omega_->setObjectName("omegaSlider");
  omega_->setRange(-100, 300);
  omega_->setSingleStep(5);
  omega_->setPageStep(25);
  omega_->setTickPosition(QSlider::TicksBelow);
  omega_->setTickInterval(50);
  omega_->setToolTip("D = (1+ω)·D_base − ω·D_aux.  ω = 0: the base model; ω = −1: the auxiliary model; "
                     "ω > 0 pushes samples away from the auxiliary (self-improvement).");
  v->addWidget(omega_);
  auto* ticks = new QHBoxLayout;
  const char* names[] = {"−1 aux", "0 base", "1", "2", "3"};
  for (int i = 0; i < 5; ++i) {
    auto* l = new QLabel(names[i], this);
    QFont f = l->font();
    f.setPointSizeF(f.pointSizeF() * 0.8);
    l->setFont(f);
    set_tone(l, Tone::Faint);
    l->setAlignment(i == 0 ? Qt::AlignLeft : i == 4 ? Qt::AlignRight : Qt::AlignHCenter);
    ticks->addWidget(l, 1);
  }
  v->addLayout(ticks);

  // interval
  auto* ih = new QHBoxLayout;
  ih->addWidget(new QLabel("<b>Guidance interval</b>", this));
  ih->addStretch();
  auto* all = new QPushButton("Everywhere", this);
  all->setObjectName("intervalAll");
  all->setToolTip("Guide at every step: (0, ∞]");
  ih->addWidget(all);
  v->addSpacing(6);
  v->addLayout(ih);
  bar_ = new IntervalBar(this);
  bar_->setObjectName("intervalBar");
  v->addWidget(bar_);
  interval_label_ = new QLabel(this);
  interval_label_->setObjectName("intervalLabel");
  interval_label_->setWordWrap(true);
  v->addWidget(interval_label_);

  // sampler and sample set
  auto* form = new QFormLayout;
  form->setObjectName("guidanceForm");
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  steps_ = new QSpinBox(this);
  steps_->setObjectName("steps");
  steps_->setRange(2, 256);
  steps_->setToolTip("Heun steps N (2N−1 network evaluations per model)");
  form->addRow("Steps", steps_);
  sampler_ = new QComboBox(this);
  sampler_->setObjectName("sampler");
  sampler_->addItem("Heun (2nd order, EDM)", static_cast<int>(SamplerKind::Heun));
  sampler_->addItem("Euler (1st order)", static_cast<int>(SamplerKind::Euler));
  sampler_->setToolTip("Heun: 2N−1 evaluations per model; Euler: N");
  form->addRow("Sampler", sampler_);
  auto* seed_row = new QHBoxLayout;
  seed_ = new QSpinBox(this);
  seed_->setObjectName("seed");
  seed_->setRange(0, 1 << 30);
  auto* dice = new QPushButton("New", this);
  dice->setToolTip("A new random seed");
  seed_row->addWidget(seed_, 1);
  seed_row->addWidget(dice);
  form->addRow("Seed", seed_row);
  points_ = new QSpinBox(this);
  points_->setObjectName("points");
  points_->setRange(16, 200000);
  points_->setSingleStep(500);
  points_->setToolTip("Points per sample set (while dragging, a preview uses the first few hundred)");
  form->addRow("Points", points_);
  compare_ = new QCheckBox("Show the base (ω = 0) beside, same seeds", this);
  compare_->setObjectName("compare");
  v->addSpacing(6);
  v->addLayout(form);
  v->addWidget(compare_);
  status_row_ = new QWidget(this);
  status_row_->setObjectName("liveStatusRow");
  auto* status_row = new QHBoxLayout(status_row_);
  status_row->setContentsMargins(0, 4, 0, 0);
  quality_ = new QLabel(this);
  quality_->setObjectName("qualityLabel");
  quality_->setWordWrap(true);
  quality_->setToolTip("Which quality the views show: a quick preview while a control moves (or before a slow "
                       "model's full grid is ready), or the final full-quality samples");
  stop_ = new QPushButton("Stop", this);
  stop_->setObjectName("stopSampling");
  stop_->setToolTip("Stop the sampling run in flight (the views keep the last result)");
  stop_->setEnabled(false);
  status_row->addWidget(quality_, 1);
  status_row->addWidget(stop_);
  v->addWidget(status_row_);
  set_settings(GuidanceSettings{});
  connect(stop_, &QPushButton::clicked, this, &GuidancePanel::cancel_requested);

  // Dragging previews, releasing (or any discrete change) asks for full quality.
  connect(omega_box_, &QDoubleSpinBox::valueChanged, this, [this](double w) {
    const int v = static_cast<int>(std::lround(w * 100));
    if (v != omega_->value()) omega_->setValue(v);  // the slider's own signal samples
  });
  connect(omega_, &QSlider::valueChanged, this, [this] {
    refresh_labels();
    if (!omega_->isSliderDown()) Q_EMIT changed(false);
  });
  connect(omega_, &QSlider::sliderMoved, this, [this] {
    refresh_labels();
    Q_EMIT changed(true);
  });
  connect(omega_, &QSlider::sliderReleased, this, [this] { Q_EMIT changed(false); });
  connect(bar_, &IntervalBar::dragging, this, [this] {
    refresh_labels();
    Q_EMIT changed(true);
  });
  connect(bar_, &IntervalBar::released, this, [this] {
    refresh_labels();
    Q_EMIT changed(false);
  });
  connect(all, &QPushButton::clicked, this, [this] {
    bar_->set_interval(0, std::numeric_limits<double>::infinity());
    refresh_labels();
    Q_EMIT changed(false);
  });
  auto full = [this] {
    bar_->set_sampler(sampler_config());
    refresh_labels();
    Q_EMIT changed(false);
  };
  connect(steps_, &QSpinBox::valueChanged, this, full);
  connect(sampler_, &QComboBox::currentIndexChanged, this, full);
  connect(seed_, &QSpinBox::valueChanged, this, full);
  connect(points_, &QSpinBox::valueChanged, this, full);
  connect(compare_, &QCheckBox::toggled, this, full);
  connect(dice, &QPushButton::clicked, this, [this] { seed_->setValue(QRandomGenerator::global()->bounded(100000)); });
}

SamplerConfig GuidancePanel::sampler_config() const {
  SamplerConfig c;
  c.steps = steps_->value();
  c.kind = static_cast<SamplerKind>(sampler_->currentData().toInt());
  return c;
}

QWidget* GuidancePanel::take_status_row() {
  if (layout()) layout()->removeWidget(status_row_);
  return status_row_;
}

GuidanceSettings GuidancePanel::settings() const {
  GuidanceSettings s;
  // The slider position, not its value: sliderMoved (a drag) is emitted
  // before the value follows.
  s.omega = omega_->sliderPosition() / 100.0;
  s.lo = bar_->lo();
  s.hi = bar_->hi();
  s.steps = steps_->value();
  s.sampler = static_cast<SamplerKind>(sampler_->currentData().toInt());
  s.seed = static_cast<uint64_t>(seed_->value());
  s.points = points_->value();
  s.compare = compare_->isChecked();
  return s;
}

void GuidancePanel::set_settings(const GuidanceSettings& s) {
  const QSignalBlocker b1(omega_), b2(steps_), b3(seed_), b4(points_), b5(compare_), b6(sampler_);
  omega_->setValue(static_cast<int>(std::lround(s.omega * 100)));
  steps_->setValue(s.steps);
  sampler_->setCurrentIndex(std::max(0, sampler_->findData(static_cast<int>(s.sampler))));
  seed_->setValue(static_cast<int>(s.seed));
  points_->setValue(static_cast<int>(s.points));
  compare_->setChecked(s.compare);
  bar_->set_sampler(sampler_config());
  bar_->set_interval(s.lo, s.hi);
  refresh_labels();
}

void GuidancePanel::set_status(const QString& quality, bool busy) {
  quality_->setText(quality);
  stop_->setEnabled(busy);
}

QString GuidancePanel::quality_text() const { return quality_->text(); }

bool GuidancePanel::dragging() const { return omega_->isSliderDown(); }

void GuidancePanel::set_points_visible(bool yes) {
  if (auto* form = findChild<QFormLayout*>("guidanceForm")) form->setRowVisible(points_, yes);
}

void GuidancePanel::set_aux_available(bool yes) {
  omega_->setEnabled(yes);
  bar_->setEnabled(yes);
  omega_box_->setEnabled(yes);
}

void GuidancePanel::refresh_labels() {
  {
    const QSignalBlocker quiet(omega_box_);
    omega_box_->setValue(omega_->sliderPosition() / 100.0);
  }
  const auto [first, last] = bar_->guided_steps();
  const int N = steps_->value();
  QString which = first > last ? "no step is guided"
                  : first == 0 && last == N - 1 ? QString("all %1 steps guided").arg(N)
                                                : QString("steps %1–%2 of %3 guided").arg(first + 1).arg(last + 1).arg(N);  // counted from 1, as "of N" reads
  interval_label_->setText(QString("σ ∈ (%1, %2]  ·  %3").arg(sigma_text(bar_->lo()), sigma_text(bar_->hi()), which));
}

}  // namespace sims::ui
