// The live view's request/refine policy, shared by every face: which
// LiveRequests to send while a control is dragged and when it is released,
// which results to show, and what the face should say about them. A face
// forwards user events (drag, commit, models changed, stop) and the worker's
// results and errors; the policy submits requests to a LiveTarget (the
// LiveSampler, or a recorder in tests) and keeps the result to show and a
// status to display. No GUI types: the Qt studio and an ImGui face draw from
// the same decisions, and the tests drive it without a window or a worker.
//
// The rules:
// - Dragging (omega or the guidance interval) asks for cheap previews: the
//   first `preview_points` rows of the same noise (2D), or a few images with
//   few Heun steps (images). At most one preview is in flight: moves made
//   while one runs are sent as one preview when it is shown, so previews
//   arrive at the worker's pace instead of each cancelling the one before.
// - A commit (release, or any discrete change) asks for the full request;
//   image models get it refined (a quick preview first, then the full grid).
//   A full request identical to the newest one (in flight or shown) is not
//   restarted.
// - A 2D preview shown while the control is still held and has not moved
//   since starts the full run at once; the release then finds it in flight
//   or done.
// - Results older than the one shown are ignored; under the same stamp only a
//   refinement replaces its preview.
// - Image previews adapt to a slow machine: from the last full-image run's
//   seconds per sample and network evaluation, the preview's Heun steps are
//   chosen to land within a time budget, never below a floor.
#pragma once
#include <cstdint>
#include <limits>
#include <string>

#include "diffusion/denoiser.hpp"
#include "engine/live_sampler.hpp"
#include "sampling/schedule.hpp"

namespace sims::engine {

// What the face's controls say, with the models they apply to.
struct LiveSettings {
  DenoiserPtr base, aux;  // base null: nothing to sample
  double omega = 1.0;
  double lo = 0.0, hi = std::numeric_limits<double>::infinity();
  SamplerConfig sampler;  // kind and steps of a full-quality run
  uint64_t seed = 0;
  int64_t points = 2000;  // 2D points of a full result (image models: at most max_images of them)
  bool compare = true;    // also the base model alone on the same noise
  double compare_omega = 0;  // ... guided at this omega instead when not 0 (sims-live: any two omegas)
};

struct LivePolicyOptions {
  int64_t preview_points = 400;   // 2D: rows of a drag preview
  int64_t max_images = 36;        // image models: a grid's worth of samples, not thousands of points
  int64_t preview_images = 4;     // image models: rows of a preview
  int preview_steps = 8;          // image models: Heun steps of a preview on a fast machine
  int min_preview_steps = 4;      // ... and never fewer on a slow one
  double preview_budget_seconds = 0.6;  // image models: aim a preview at this time
  int64_t block_rows = 4;         // image models: rows per network call (a newer request stops a run quickly)
};

// What the face should display about the live run: a one-line status (the
// status bar) and a quality label "headline · detail" ("preview · 4 of 36
// images · 8 steps", "final · 2000 points · 32 steps · 41 ms"), plus whether
// a run is in flight (enables Stop).
struct LiveStatus {
  std::string line;
  std::string headline;
  std::string detail;
  bool busy = false;
  // "headline · detail" (or either alone).
  std::string label() const;
};

// Labels of a shown result, for the views' captions and footers.
struct LiveResultLabels {
  std::string noun;          // "points" or "images"
  std::string quality;       // "preview" or "full quality"
  std::string note;          // preview only: "preview (400 of 2000 points, 32 steps)"
  std::string footer;        // "preview · 400 points · NFE 63 · 12 ms"
};
LiveResultLabels labels_of(const LiveResult& r);

// What an event changed, for the face: the views to redraw from shown() (a
// new result, or nothing to show), and/or a new status().
struct LiveReaction {
  bool shown = false;
  bool status = false;
};

// Same full-quality work: models, guidance, sampler, rows, seed, comparison
// and refinement (a preview stage's own size is not part of it).
bool same_full_request(const LiveRequest& a, const LiveRequest& b);

// The guidance field of a 2D pair at noise level sigma: what SIMS adds to the
// score there, omega * (D_base - D_aux) / sigma^2 (the guided denoiser is
// D_base + omega (D_base - D_aux), and the score is (D - x) / sigma^2), on an
// nx x ny grid of cell centres over [x0, x1] x [y0, y1], row by row from y0.
// Returns [ny * nx, 4] float64 rows (x, y, fx, fy); zero where the guidance
// interval does not cover sigma. Throws InputError for a pair that is not 2D
// or a bad grid. Network calls: run it on a worker, not on a face's thread.
at::Tensor guidance_field(Denoiser& base, Denoiser& aux, const Guidance& g, double sigma, double x0, double x1,
                          double y0, double y1, int nx, int ny);

// A session file (*.simsession, format "sims-studio-session", version 1): the
// models and the live settings, shared by the studio and sims-live.
struct LiveSession {
  std::string base, aux;  // read: made absolute against the session's folder
  double omega = 1.0, lo = 0.0, hi = std::numeric_limits<double>::infinity();
  int steps = 32;
  SamplerKind sampler = SamplerKind::Heun;
  uint64_t seed = 0;
  int64_t points = 2000;
  bool compare = true;
  bool denoised = false, trails = false;  // the step viewer
  std::string tab;                        // the studio's tab ("live", "sweep", ...); "" none
};
// Reads and checks everything; a key that is missing keeps its value in
// `defaults`. Throws InputError with the reason ("\"omega\" must be a number
// in [-1, 3]") for a file that is not a valid session.
LiveSession read_live_session(const std::string& path, const LiveSession& defaults);
// The session as indented JSON text (the caller writes it atomically).
std::string live_session_text(const LiveSession& s);

class LivePolicy {
 public:
  explicit LivePolicy(LiveTarget& target, LivePolicyOptions opts = {});

  // A control is being dragged to `s`: a preview.
  LiveReaction drag(const LiveSettings& s);
  // A control was released, or a discrete setting changed: the full request.
  LiveReaction commit(const LiveSettings& s);
  // Other models were loaded: nothing shown any more, timings forgotten, the full request.
  LiveReaction models_changed(const LiveSettings& s);
  // The user pressed Stop: the run in flight ends, the last result stays.
  LiveReaction stop();
  // From the worker (on the face's thread).
  LiveReaction result(const LiveResultPtr& r);
  LiveReaction error(uint64_t stamp);

  // The result to draw (null before the first, and after models_changed).
  const LiveResultPtr& shown() const { return shown_; }
  const LiveStatus& status() const { return status_; }
  // The request the current settings make (what commit() or drag() would send).
  LiveRequest build(const LiveSettings& s, bool preview) const;
  const LivePolicyOptions& options() const { return opts_; }
  // Image models: measured seconds per sample and network evaluation (0: none yet).
  double image_eval_seconds() const { return image_eval_seconds_; }
  // Heun steps the next image preview gets (the slow-machine adaptation).
  int image_preview_steps() const;
  bool holding() const { return held_; }

 private:
  LiveReaction request(bool preview);
  void set_status(std::string line, std::string headline, std::string detail, bool busy);

  LiveTarget& target_;
  LivePolicyOptions opts_;
  LiveSettings settings_;  // the newest, for the preview sent when the one in flight is shown
  bool held_ = false;      // a drag is in progress (not yet committed)
  LiveResultPtr shown_;
  uint64_t shown_stamp_ = 0;
  bool shown_preview_ = false;  // the result shown is a preview (its refinement may replace it)
  // The last full request: an identical one while it is still the newest is skipped.
  LiveRequest full_req_;
  uint64_t full_stamp_ = 0;
  // At most one preview in flight; moves meanwhile set preview_wanted_.
  uint64_t preview_stamp_ = 0;
  bool preview_wanted_ = false;
  double image_eval_seconds_ = 0;
  LiveStatus status_;
};

}  // namespace sims::engine
