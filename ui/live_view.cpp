#include "live_view.hpp"

#include <algorithm>
#include <cmath>

#include <QFileInfo>
#include <QLabel>
#include <QSplitter>
#include <QTimer>
#include <QVBoxLayout>

#include <ATen/ATen.h>

#include "engine/compare.hpp"
#include "guidance_panel.hpp"
#include "message_area.hpp"
#include "models_panel.hpp"
#include "point_view.hpp"
#include "step_viewer.hpp"
#include "common/json_parse.hpp"

namespace sims::ui {
namespace {

const QColor kBaseColour(60, 100, 170);
const QColor kSimsColour(214, 82, 48);
const QColor kPinnedColour(120, 80, 170);
const int kTrails = 14;

SampleSet to_set(const at::Tensor& t) {
  SampleSet s;
  if (!t.defined() || t.dim() < 1) return s;
  at::Tensor f = t.to(at::kFloat).contiguous();
  s.shape.assign(f.sizes().begin() + 1, f.sizes().end());
  s.data.assign(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
  return s;
}

// The samples of step k (k = N: final) of a trajectory, as state or denoised estimate.
at::Tensor at_step(const at::Tensor& final_x, const Trajectory& tr, int k, bool denoised) {
  const int N = static_cast<int>(tr.states.size()) - 1;
  if (N < 1 || k >= N) return final_x;
  if (denoised && k < static_cast<int>(tr.denoised.size())) return tr.denoised[k];
  return tr.states[k];
}

std::vector<std::vector<QPointF>> trails_of(const Trajectory& tr, int count) {
  std::vector<std::vector<QPointF>> out;
  if (tr.states.empty() || tr.states[0].dim() != 2 || tr.states[0].size(1) != 2) return out;
  const int64_t n = std::min<int64_t>(count, tr.states[0].size(0));
  // Spread the chosen points over the set rather than the first rows.
  const int64_t stride = std::max<int64_t>(1, tr.states[0].size(0) / std::max<int64_t>(n, 1));
  out.resize(n);
  for (const at::Tensor& s : tr.states) {
    at::Tensor rows = s.index({at::arange(0, n * stride, stride)}).to(at::kDouble).contiguous();
    const double* p = rows.data_ptr<double>();
    for (int64_t i = 0; i < n; ++i) out[i].emplace_back(p[2 * i], p[2 * i + 1]);
  }
  return out;
}

QString qs(const std::string& s) { return QString::fromStdString(s); }

// The next of 1, 2, 5, 10, 20, 50, …
double next_round_factor(double f) {
  const double mag = std::pow(10.0, std::floor(std::log10(f) + 1e-9));
  return f / mag < 1.5 ? 2 * mag : f / mag < 3.5 ? 5 * mag : 10 * mag;
}

}  // namespace

// [SECTION] Construction ----------------------------------------------------------------

LiveView::LiveView(ModelsPanel* models, GuidancePanel* guidance, MessageArea* messages, QLabel* status,
                   const engine::LivePolicyOptions& opts, QWidget* parent)
    : QWidget(parent), models_(models), guidance_(guidance), messages_(messages), status_(status) {
  views_ = new QSplitter(Qt::Horizontal, this);
  views_->setChildrenCollapsible(false);
  steps_ = new StepViewer(this);
  auto* rv = new QVBoxLayout(this);
  rv->setContentsMargins(0, 6, 6, 0);
  rv->addWidget(views_, 1);
  rv->addWidget(steps_);
  ensure_views({2});
  connect(steps_, &StepViewer::changed, this, &LiveView::refresh_views);

  // Worker -> UI thread: results and errors are queued onto this view.
  live_ = std::make_unique<engine::LiveSampler>(
      [this](engine::LiveResultPtr r) { QMetaObject::invokeMethod(this, [this, r] { on_result(r); }, Qt::QueuedConnection); },
      [this](uint64_t stamp, const std::string& msg) {
        const QString m = QString::fromStdString(msg);
        QMetaObject::invokeMethod(this, [this, m, stamp] {
          if (!policy_) return;
          messages_->error("sampling: " + m);
          apply(policy_->error(stamp));
        }, Qt::QueuedConnection);
      });
  policy_ = std::make_unique<engine::LivePolicy>(*live_, opts);
}

LiveView::~LiveView() { shutdown(); }

void LiveView::shutdown() {
  // The policy submits to the worker: it goes first, then the worker is joined
  // before the widgets its queued callbacks point at go.
  policy_.reset();
  live_.reset();
}

engine::LiveResultPtr LiveView::last_result() const { return policy_ ? policy_->shown() : nullptr; }

// [SECTION] Events to the policy ------------------------------------------------------------

engine::LiveSettings LiveView::settings() const {
  const GuidanceSettings g = guidance_->settings();
  engine::LiveSettings s;
  s.base = models_->base();
  s.aux = models_->aux();
  s.omega = g.omega;
  s.lo = g.lo;
  s.hi = g.hi;
  s.sampler = guidance_->sampler_config();
  s.seed = g.seed;
  s.points = g.points;
  // Image models: a full grid (the points control is hidden for them).
  if (s.base && s.base->info().sample_shape.size() != 1) s.points = policy_ ? policy_->options().max_images : 36;
  s.compare = g.compare;
  return s;
}

void LiveView::set_paused(bool paused) {
  if (paused == paused_ || !policy_) return;
  paused_ = paused;
  if (paused) {
    if (!live_->idle()) {
      apply(policy_->stop());
      if (pending_ == Pending::None) pending_ = Pending::Request;
    }
    status_->setText("live sampling paused on this tab (it would compete for the cores); it resumes on the Live tab");
    return;
  }
  const Pending p = pending_;
  pending_ = Pending::None;
  if (p == Pending::Models) models_changed();
  else if (p == Pending::Request) request(false);
  else status_->setText(QString::fromStdString(policy_->status().line));  // nothing changed: the last result's line
}

void LiveView::request(bool preview) {
  if (!policy_) return;
  if (paused_) {
    if (pending_ == Pending::None) pending_ = Pending::Request;
    return;
  }
  const engine::LiveSettings s = settings();
  update_left_view();
  apply(preview ? policy_->drag(s) : policy_->commit(s));
}

// The auxiliary is usable with this base: loaded, and its samples have the base's shape.
bool LiveView::aux_fits() const {
  return models_->aux() && models_->base() &&
         models_->aux()->info().sample_shape == models_->base()->info().sample_shape;
}

// Controls that mean nothing for the loaded models are hidden: points and
// trails are for 2D models; omega and the interval need a fitting auxiliary.
void LiveView::update_controls() {
  guidance_->set_aux_available(aux_fits());
  const bool points = !models_->base() || models_->base()->info().sample_shape.size() == 1;
  guidance_->set_points_visible(points);
  steps_->set_trails_available(points);
}

void LiveView::models_changed() {
  if (!policy_) return;
  if (paused_) {
    pending_ = Pending::Models;
    update_controls();
    return;
  }
  bounds_ = QRectF();
  update_controls();
  if (models_->base()) ensure_views(models_->base()->info().sample_shape);
  if (pinned_ && models_->base() && pinned_->x.sizes().slice(1).vec() != models_->base()->info().sample_shape) {
    unpin();
    messages_->info("unpinned: the new models make samples of another shape");
  }
  if (!models_->reference().data.empty()) bounds_ = bounds_of({&models_->reference()});
  const engine::LiveSettings s = settings();
  update_left_view();
  apply(policy_->models_changed(s));
}

void LiveView::cancel_sampling() {
  if (!policy_) return;
  apply(policy_->stop());
  messages_->info("sampling stopped; the views keep the last result");
}

void LiveView::on_result(const engine::LiveResultPtr& r) {
  if (!policy_) return;
  const engine::LiveReaction what = policy_->result(r);
  if (what.shown) {
    if (!bounds_.isValid() && !r->request.preview) {
      SampleSet a = to_set(r->x), b = to_set(r->base_x);
      bounds_ = bounds_of({&a, &b});
    }
    steps_->set_sigmas(r->trajectory.t);
  }
  apply(what);
  if (what.shown) Q_EMIT result_shown(r->stamp, r->request.preview);
}

// What the policy changed: the status line, the quality label, the views.
void LiveView::apply(const engine::LiveReaction& what) {
  if (what.status) {
    const engine::LiveStatus& st = policy_->status();
    status_->setText(qs(st.line));
    // "<b>preview</b> · 4 of 36 images · 8 steps"
    const QString quality = st.detail.empty() ? qs(st.headline)
                                              : "<b>" + qs(st.headline).toHtmlEscaped() + "</b> · " + qs(st.detail).toHtmlEscaped();
    guidance_->set_status(quality, st.busy);
  }
  if (what.shown) refresh_views();
}

// [SECTION] Pinned result ----------------------------------------------------------------------

void LiveView::update_left_view() {
  if (base_view_) base_view_->setVisible((guidance_->settings().compare && aux_fits()) || pinned_);
}

bool LiveView::pin() {
  const engine::LiveResultPtr r = last_result();
  if (!r || r->request.preview || r->refining) {
    messages_->error("nothing to pin yet: wait for the full-quality result");
    return false;
  }
  const auto& q = r->request;
  auto name = [](const QString& path) { return path.isEmpty() ? QString("?") : QFileInfo(path).completeBaseName(); };
  QString label = q.aux ? QString("ω = %1 · σ in (%2, %3]")
                              .arg(q.guidance.omega, 0, 'f', 2)
                              .arg(q.guidance.lo, 0, 'g', 3)
                              .arg(std::isinf(q.guidance.hi) ? QString("∞") : QString::number(q.guidance.hi, 'g', 3))
                        : QString("no auxiliary");
  label += QString(" · %1 %2 steps · seed %3 · %4").arg(to_string(q.sampler.kind)).arg(q.sampler.steps).arg(q.seed)
               .arg(name(models_->path(ModelRole::Base)) + (q.aux ? " + " + name(models_->path(ModelRole::Aux)) : QString()));
  pinned_ = r;
  pinned_label_ = label;
  update_left_view();
  refresh_views();
  messages_->info("pinned " + label + "; change the settings to compare (View ▸ Unpin to go back to the base alone)");
  return true;
}

void LiveView::unpin() {
  pinned_.reset();
  pinned_label_.clear();
  difference_ = false;
  set_flicker(false);
  update_left_view();
  refresh_views();
}

void LiveView::set_difference(bool on) {
  if (on && !pinned_) {
    messages_->error("the difference needs a pinned result (View ▸ Pin the result shown)");
    on = false;
  }
  if (on && flicker()) set_flicker(false);
  difference_ = on;
  refresh_views();
}

void LiveView::set_flicker(bool on) {
  if (on && !pinned_) {
    messages_->error("flicker needs a pinned result (View ▸ Pin the result shown)");
    on = false;
  }
  if (on) difference_ = false;
  if (on && !flicker_timer_) {
    flicker_timer_ = new QTimer(this);
    flicker_timer_->setInterval(400);
    connect(flicker_timer_, &QTimer::timeout, this, [this] {
      flicker_phase_ = !flicker_phase_;
      refresh_views();
    });
  }
  if (flicker_timer_) {
    if (on) flicker_timer_->start();
    else flicker_timer_->stop();
  }
  flicker_phase_ = false;
  refresh_views();
}

bool LiveView::flicker() const { return flicker_timer_ && flicker_timer_->isActive(); }

ViewContent LiveView::difference_content(const ViewContent& live, const ViewContent& pin, int k, bool den) const {
  const engine::LiveResultPtr last = last_result();
  ViewContent d = live;
  d.title = "Difference  live − pinned";
  d.trails.clear();
  d.trail_step = -1;
  const auto& q = last->request;
  const auto& p = pinned_->request;
  const int pinned_steps = static_cast<int>(pinned_->trajectory.states.size()) - 1;
  const bool same_steps = pinned_steps == steps_->slider()->maximum();
  // The same step of both runs while their step counts agree, else both final samples.
  const at::Tensor a = same_steps ? at_step(last->x, last->trajectory, k, den) : last->x;
  const at::Tensor b = same_steps ? at_step(pinned_->x, pinned_->trajectory, k, den) : pinned_->x;
  const bool images = a.dim() == 4;
  if (q.preview) {  // a drag's preview has fewer samples: the difference follows with the full result
    d.title = "Live preview (the difference follows on release)";
    return d;
  }
  const bool paired = q.seed == p.seed && a.sizes() == b.sizes();
  if (!paired) {
    // Not the same noise: no sample-by-sample difference; points show the pinned set in grey under the live one.
    d.subtitle = QString("no sample-by-sample difference: the pinned result has seed %1 and %2 samples, the live one "
                         "seed %3 and %4 (pin again, or set the same seed)")
                     .arg(p.seed).arg(b.defined() ? b.size(0) : 0).arg(q.seed).arg(a.defined() ? a.size(0) : 0);
    if (images) d.samples = {};
    else d.reference = pin.samples;
    return d;
  }
  const engine::PairedDifference diff = engine::paired_difference(a, b);
  const metrics::Estimate& e = diff.mean_abs;
  // "0.0270 ± 0.0007 (95 % CI)": digits enough for the interval's half-width.
  const int digits = e.has_interval() && e.half_width() > 0
                         ? std::clamp(-static_cast<int>(std::floor(std::log10(e.half_width()))), 1, 6)
                         : 4;
  const QString estimate = QString::fromStdString(e.text(digits)) + (e.has_interval() ? " (95 % CI)" : "");
  const QString where = same_steps ? steps_->caption().section(" · ", 0, 0) : QString("final samples (other step counts)");
  if (images) {
    // Signed, around mid-grey: grey where equal, brighter where the live image is brighter; |Δ| ≥ 1 saturates.
    // Small differences are enlarged by a round factor (said) so that the largest ones (99th percentile) reach
    // at least half of the range.
    at::Tensor mag = diff.delta.abs().flatten();
    if (mag.numel() > (1 << 20)) mag = mag.slice(0, 0, mag.numel(), mag.numel() / (1 << 20) + 1);  // a subsample
    const int64_t k99 = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(0.99 * static_cast<double>(mag.numel()))));
    const double q99 = std::get<0>(mag.kthvalue(k99)).item<double>();
    double gain = 1;
    while (q99 > 0 && gain < 50 && q99 * gain < 0.5) gain = next_round_factor(gain);
    d.samples = to_set((diff.delta * gain).clamp(-1, 1));
    d.subtitle = where + (gain > 1 ? QString(" · differences ×%1").arg(gain) : QString()) +
                 " · grey: equal · lighter: live brighter · darker: pinned brighter";
    d.footer = "mean |Δ| per pixel " + estimate + " · " + QString::number(diff.pairs) + " pairs · lower: closer";
  } else {
    if (a.size(1) != 2) {  // points of another dimension: the number only
      d.footer = "mean shift " + estimate + " · " + QString::number(diff.pairs) + " pairs · lower: closer";
      return d;
    }
    // A quiver: from where the pinned setting put each noise to where the live one puts it, over the pinned set in
    // grey. Displacements are often a few pixels, so the arrows are drawn magnified by a round factor (said).
    d.reference = pin.samples;
    const int64_t n = a.size(0), shown = std::min<int64_t>(n, 150);
    const int64_t stride = std::max<int64_t>(1, n / shown);
    const at::Tensor len = diff.delta.to(at::kDouble).pow(2).sum(1).sqrt();
    const double median = len.median().item<double>();
    const double extent = std::max(live.bounds.width(), live.bounds.height());
    double scale = 1;
    if (median > 0 && extent > 0)
      while (scale < 1000 && median * scale < 0.04 * extent) scale = next_round_factor(scale);
    const at::Tensor la = a.to(at::kDouble).contiguous(), lb = b.to(at::kDouble).contiguous();
    const double *pa = la.data_ptr<double>(), *pb = lb.data_ptr<double>();
    for (int64_t i = 0; i < n && static_cast<int64_t>(d.trails.size()) < shown; i += stride) {
      const QPointF from(pb[2 * i], pb[2 * i + 1]), to(pa[2 * i], pa[2 * i + 1]);
      d.trails.push_back({from, from + (to - from) * scale});
    }
    d.arrows = true;
    d.subtitle = QString("%1 · arrows pinned → live: %2 of %3 pairs%4")
                     .arg(where)
                     .arg(d.trails.size())
                     .arg(diff.pairs)
                     .arg(scale > 1 ? QString(", drawn %1× longer").arg(scale) : QString());
    d.footer = "mean shift " + estimate + " · lower: closer";
  }
  return d;
}

// [SECTION] Views ------------------------------------------------------------------------------

void LiveView::ensure_views(const std::vector<int64_t>& shape) {
  if (shape == view_shape_ && sims_view_) return;
  delete base_view_;
  delete sims_view_;
  base_view_ = make_sample_view(shape, views_);
  sims_view_ = make_sample_view(shape, views_);
  // Side by side on the same axes: a zoom or pan in one view moves the other with it.
  auto* pb = dynamic_cast<PointView*>(base_view_);
  auto* ps = dynamic_cast<PointView*>(sims_view_);
  if (pb && ps) {
    pb->on_zoom = [ps](const QRectF& box) { ps->set_zoom(box); };
    ps->on_zoom = [pb](const QRectF& box) { pb->set_zoom(box); };
  }
  base_view_->setObjectName("baseView");
  sims_view_->setObjectName("simsView");
  views_->addWidget(base_view_);
  views_->addWidget(sims_view_);
  view_shape_ = shape;
}

void LiveView::refresh_views() {
  ViewContent s, b;
  s.color = kSimsColour;
  b.color = kBaseColour;
  s.reference = b.reference = models_->reference();
  s.bounds = b.bounds = bounds_.isValid() ? bounds_ : QRectF(-3, -3, 6, 6);
  const QString ref = models_->reference_name().isEmpty() ? QString()
                                                          : " · grey: training data (" + models_->reference_name() + ")";
  const engine::LiveResultPtr last = last_result();
  if (!last) {
    s.title = models_->base() ? "sampling…" : "no base model";
    s.subtitle = models_->base() ? QString() : "open one (File ▸ Open) or train one (Tools ▸ Train models)";
    sims_view_->set_content(s);
    if (base_view_) base_view_->set_content(b);
    return;
  }
  const auto& q = last->request;
  const engine::LiveResultLabels labels = engine::labels_of(*last);
  const QString noun = qs(labels.noun);
  const int k = steps_->step();
  const bool den = steps_->show_denoised();
  QString caption = steps_->caption();
  if (!labels.note.empty()) caption += " · " + qs(labels.note);
  const bool guided = q.aux && q.guidance.omega != 0.0;
  const bool misfit = models_->base() && models_->aux() && !aux_fits();
  s.title = !q.aux ? (misfit ? "Base model alone: the auxiliary does not fit it" : "Base model (no auxiliary loaded)")
            : guided ? QString("SIMS  ω = %1").arg(q.guidance.omega, 0, 'f', 2)
                     : QString("SIMS  ω = 0 (the base model)");
  s.subtitle = caption + ref;
  if (!q.aux && misfit) {
    auto what = [](const Denoiser& d) {
      const auto& sh = d.info().sample_shape;
      return sh.size() == 1 ? QString("%1-D points").arg(sh[0]) : qs(shape_to_string(sh)) + " images";
    };
    s.subtitle = QString("the auxiliary makes %1, the base %2: open an auxiliary fine-tuned from this base · %3")
                     .arg(what(*models_->aux()), what(*models_->base()), caption + ref);
  }
  s.samples = to_set(at_step(last->x, last->trajectory, k, den));
  s.grid_cells = b.grid_cells = static_cast<int>(std::min<int64_t>(q.n, policy_->options().max_images));
  s.footer = qs(labels.footer);
  if (steps_->show_trails()) {
    s.trails = trails_of(last->trajectory, kTrails);
    s.trail_step = k;
  }
  // The pinned result: in the left view (at the same step while the step counts agree), and in the right one
  // every other flicker tick.
  ViewContent pin;
  if (pinned_) {
    const int pinned_steps = static_cast<int>(pinned_->trajectory.states.size()) - 1;
    const int live_steps = steps_->slider()->maximum();
    const bool same_steps = pinned_steps == live_steps;
    pin = b;
    pin.color = kPinnedColour;
    pin.title = "Pinned  " + pinned_label_.section(" · ", 0, 0);
    // Its settings without the model files (those are in the message and the exports' captions).
    pin.subtitle = pinned_label_.section(" · ", 1, -2) + (same_steps ? QString() : " · final samples (other step count)");
    pin.samples = to_set(at_step(pinned_->x, pinned_->trajectory, same_steps ? k : pinned_steps, den));
    pin.footer = QString("pinned · %1 %2").arg(pinned_->x.size(0)).arg(noun);
  }
  if (pinned_ && base_view_) {
    b = pin;
  } else if (base_view_ && last->base_x.defined()) {
    b.title = "Base model  ω = 0";
    b.subtitle = caption;
    b.samples = to_set(at_step(last->base_x, last->base_trajectory, k, den));
    b.footer = QString("same seeds · %1 %2").arg(last->base_x.size(0)).arg(noun);
    if (steps_->show_trails()) {
      b.trails = trails_of(last->base_trajectory, kTrails);
      b.trail_step = k;
    }
  }
  // Axes that follow σ: at an intermediate step the box holds that step's
  // points (x_t at σ = 10 spreads far beyond the final samples' box).
  if (steps_->follow_sigma() && k < steps_->slider()->maximum() && s.samples.shape == std::vector<int64_t>{2}) {
    const bool base_shown = base_view_ && base_view_->isVisibleTo(this) && !b.samples.data.empty();
    s.bounds = b.bounds = base_shown ? bounds_of({&s.samples, &b.samples}) : bounds_of({&s.samples});
    pin.bounds = s.bounds;
  }
  if (pinned_ && difference_) {
    ViewContent d;
    try {
      d = difference_content(s, pin, k, den);
    } catch (const std::exception& e) {  // shown, never thrown out of a slot
      d = s;
      d.title = "Difference  live − pinned";
      d.subtitle = QString("cannot compute the difference: ") + QString::fromStdString(sims::error_words(e));
    }
    sims_view_->set_content(d);
  } else if (pinned_ && flicker() && flicker_phase_) {
    pin.title = "Pinned (flicker)  " + pinned_label_.section(" · ", 0, 0);
    sims_view_->set_content(pin);
  } else {
    sims_view_->set_content(s);
  }
  if (base_view_ && (pinned_ || last->base_x.defined())) base_view_->set_content(b);
  if (!renderer_logged_ && !s.samples.data.empty()) {
    renderer_logged_ = true;
    messages_->info("sample views drawn with " + sims_view_->renderer());
  }
}

}  // namespace sims::ui
