// The studio's Live tab: the sample views (base | SIMS on the same seeds) and
// the step viewer. It forwards the guidance panel's and the models panel's
// events to the engine's LivePolicy (which decides what to sample: previews
// while dragging, full quality on release), runs its requests on a
// LiveSampler, and draws what the policy says to show. No request logic here.
#pragma once
#include <memory>
#include <vector>

#include <QRectF>
#include <QWidget>

#include "engine/live_policy.hpp"
#include "engine/live_sampler.hpp"
#include "sample_view.hpp"

#include "widgets_fwd.hpp"

namespace sims::ui {

class GuidancePanel;
class MessageArea;
class ModelsPanel;
class StepViewer;

class LiveView final : public QWidget {
  Q_OBJECT
 public:
  // status: the window's status-bar line.
  LiveView(ModelsPanel* models, GuidancePanel* guidance, MessageArea* messages, QLabel* status,
           const engine::LivePolicyOptions& opts, QWidget* parent = nullptr);
  ~LiveView() override;
  // Stops and joins the sampling worker; nothing is requested or shown afterwards.
  void shutdown();

  StepViewer* steps() const { return steps_; }
  SampleView* sims_view() const { return sims_view_; }
  SampleView* base_view() const { return base_view_; }
  // The result shown (null before the first and after the models changed).
  engine::LiveResultPtr last_result() const;
  engine::LiveSampler& live() { return *live_; }
  const engine::LivePolicy& policy() const { return *policy_; }
  // The panel's settings and the loaded models, as the policy takes them.
  engine::LiveSettings settings() const;
  // Paused (an analysis tab is shown): a run in flight is stopped and nothing
  // is sampled; what changed meanwhile is sampled once it is resumed.
  void set_paused(bool paused);
  bool paused() const { return paused_; }

  // Compare two settings: the full result shown is pinned (its ω, interval, steps, seed and model pair) and drawn
  // in the left view instead of the base alone, at the same step while the step counts agree; flicker alternates
  // the right view between the live result and the pinned one (2.5 times a second). pin() is false (and says why)
  // when there is no full result; a pinned result goes when models of another sample shape are loaded.
  bool pin();
  void unpin();
  engine::LiveResultPtr pinned() const { return pinned_; }
  QString pinned_label() const { return pinned_label_; }
  void set_flicker(bool on);
  bool flicker() const;
  // The right view shows live − pinned sample by sample (same seed and count): images as signed differences around
  // mid-grey, points with a segment from each pinned sample to its live one, and the mean |Δ| with its 95 %
  // interval. Flicker and difference exclude each other.
  void set_difference(bool on);
  bool difference() const { return difference_; }

 public Q_SLOTS:
  // preview: a control is being dragged; otherwise the full request.
  void request(bool preview);
  void models_changed();
  // Stops the run in flight; the views keep the last result.
  void cancel_sampling();
  void refresh_views();

 Q_SIGNALS:
  void result_shown(quint64 stamp, bool preview);

 private:
  bool aux_fits() const;
  void update_controls();
  void on_result(const engine::LiveResultPtr& r);
  void apply(const engine::LiveReaction& what);
  void ensure_views(const std::vector<int64_t>& shape);

  ModelsPanel* models_;
  GuidancePanel* guidance_;
  MessageArea* messages_;
  QLabel* status_;
  StepViewer* steps_;
  QSplitter* views_;
  SampleView *base_view_ = nullptr, *sims_view_ = nullptr;
  std::vector<int64_t> view_shape_;
  QRectF bounds_;
  bool renderer_logged_ = false;
  bool paused_ = false;
  void update_left_view();  // shown when comparing with the base alone or when a result is pinned
  engine::LiveResultPtr pinned_;
  QString pinned_label_;
  QTimer* flicker_timer_ = nullptr;
  bool flicker_phase_ = false;
  bool difference_ = false;
  // The difference view's content for step k (or why there is none in its subtitle).
  ViewContent difference_content(const ViewContent& live, const ViewContent& pinned, int k, bool den) const;
  enum class Pending { None, Request, Models } pending_ = Pending::None;
  std::unique_ptr<engine::LiveSampler> live_;
  std::unique_ptr<engine::LivePolicy> policy_;  // submits to live_
};

}  // namespace sims::ui
