#include "engine/live_policy.hpp"

#include <algorithm>
#include <cstdio>

namespace sims::engine {
namespace {

std::string ms_text(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", seconds * 1000);
  return buf;
}

int64_t rows_of(const LiveResult& r) { return r.x.defined() && r.x.dim() > 0 ? r.x.size(0) : 0; }

bool is_points(const LiveResult& r) { return r.x.defined() && r.x.dim() == 2; }

}  // namespace

std::string LiveStatus::label() const {
  if (detail.empty()) return headline;
  if (headline.empty()) return detail;
  return headline + " · " + detail;
}

LiveResultLabels labels_of(const LiveResult& r) {
  LiveResultLabels l;
  const LiveRequest& q = r.request;
  const std::string rows = std::to_string(rows_of(r)), steps = std::to_string(q.run_config().steps);
  l.noun = is_points(r) ? "points" : "images";
  l.quality = q.preview ? "preview" : "final";
  if (q.preview) l.note = "preview (" + rows + " of " + std::to_string(q.n) + " " + l.noun + ", " + steps + " steps)";
  l.footer = l.quality + " · " + rows + " " + l.noun + " · NFE " + std::to_string(r.nfe) + " · " +
             ms_text(r.compute_seconds) + " ms";
  return l;
}

bool same_full_request(const LiveRequest& a, const LiveRequest& b) {
  const SamplerConfig &x = a.sampler, &y = b.sampler;
  return a.base == b.base && a.aux == b.aux && a.guidance.omega == b.guidance.omega && a.guidance.lo == b.guidance.lo &&
         a.guidance.hi == b.guidance.hi && x.kind == y.kind && x.steps == y.steps && x.sigma_min == y.sigma_min &&
         x.sigma_max == y.sigma_max && x.rho == y.rho && x.churn == y.churn && a.n == b.n && a.seed == b.seed &&
         a.compare_base == b.compare_base && a.preview == b.preview && a.refine == b.refine;
}

LivePolicy::LivePolicy(LiveTarget& target, LivePolicyOptions opts) : target_(target), opts_(opts) {}

// [SECTION] Requests ------------------------------------------------------------------------------

int LivePolicy::image_preview_steps() const {
  const int most = opts_.preview_steps, least = std::min(opts_.min_preview_steps, most);
  if (image_eval_seconds_ <= 0) return most;
  // Heun with N steps, guided: 2(2N-1) evaluations of each preview image, so
  // N = (budget + 2·e·p) / (4·e·p) fits the budget. Clamped as a double first:
  // a tiny e would overflow an int.
  const double e = image_eval_seconds_, p = static_cast<double>(std::max<int64_t>(opts_.preview_images, 1));
  const double n = (opts_.preview_budget_seconds + 2.0 * e * p) / (4.0 * e * p);
  return static_cast<int>(std::clamp(n, static_cast<double>(least), static_cast<double>(most)));
}

LiveRequest LivePolicy::build(const LiveSettings& s, bool preview) const {
  LiveRequest r;
  r.base = s.base;
  r.aux = s.aux;
  if (!r.base) return r;
  if (r.aux && r.aux->info().sample_shape != r.base->info().sample_shape) r.aux = nullptr;
  r.guidance.omega = r.aux ? s.omega : 0.0;
  r.guidance.lo = s.lo;
  r.guidance.hi = s.hi;
  r.sampler = s.sampler;
  const bool points = r.base->info().sample_shape.size() == 1;
  r.n = points ? s.points : std::min<int64_t>(s.points, opts_.max_images);
  r.seed = s.seed;
  r.preview = preview;
  r.preview_points = opts_.preview_points;
  if (!points) {
    // A full grid takes seconds on a CPU: a few images with few steps first,
    // then the full grid replaces them (both cancelled by a newer request;
    // the networks see a few images at a time so that happens quickly).
    r.preview_points = opts_.preview_images;
    r.preview_steps = image_preview_steps();
    r.refine = !preview;
    r.block_rows = opts_.block_rows;
  }
  r.compare_base = s.compare && r.aux;
  return r;
}

LiveReaction LivePolicy::drag(const LiveSettings& s) {
  settings_ = s;
  held_ = true;
  return request(true);
}

LiveReaction LivePolicy::commit(const LiveSettings& s) {
  settings_ = s;
  held_ = false;
  return request(false);
}

LiveReaction LivePolicy::models_changed(const LiveSettings& s) {
  settings_ = s;
  shown_.reset();
  image_eval_seconds_ = 0;
  return request(false);
}

LiveReaction LivePolicy::request(bool preview) {
  LiveReaction out;
  if (preview && preview_stamp_ != 0) {
    preview_wanted_ = true;  // sent when the preview in flight is shown
    return out;
  }
  preview_stamp_ = 0;
  preview_wanted_ = false;
  if (!settings_.base) {
    target_.cancel();
    full_stamp_ = 0;
    status_.line = "no base model";
    status_.busy = false;  // nothing runs: no Stop
    out.shown = out.status = true;
    return out;
  }
  LiveRequest r = build(settings_, preview);
  if (!preview && full_stamp_ != 0 && full_stamp_ == target_.latest_stamp() && same_full_request(r, full_req_)) {
    // Already in flight (started while the control was held still) or on screen.
    if (shown_stamp_ == full_stamp_ && !shown_preview_) {
      status_.busy = false;
      out.status = true;
    }
    return out;
  }
  const bool refine = r.refine;
  if (!preview) full_req_ = r;
  const uint64_t stamp = target_.submit(std::move(r));
  if (preview) preview_stamp_ = stamp;
  else full_stamp_ = stamp;
  if (preview) set_status("previewing…", "previewing…", "", true);
  else if (refine) set_status("sampling…", "sampling: a quick preview first, then the full grid…", "", true);
  else set_status("sampling…", "sampling…", "", true);
  out.status = true;
  return out;
}

// [SECTION] Results, errors, stop -----------------------------------------------------------------

LiveReaction LivePolicy::result(const LiveResultPtr& r) {
  LiveReaction out;
  if (!r) return out;
  const bool preview_done = r->stamp == preview_stamp_;
  if (preview_done) preview_stamp_ = 0;
  // An older request finished after a newer one was shown; under the same
  // stamp only a refinement replaces its preview.
  if (r->stamp < shown_stamp_ || (r->stamp == shown_stamp_ && (!shown_preview_ || r->request.preview))) {
    // A dropped preview still frees the slot for the moves made meanwhile.
    if (preview_done && preview_wanted_) return request(true);
    return out;
  }
  shown_stamp_ = r->stamp;
  shown_preview_ = r->request.preview;
  shown_ = r;
  out.shown = true;
  if (r->x.defined() && r->x.dim() > 2 && r->nfe > 0 && r->reused_steps == 0 && r->compute_seconds > 0) {
    const double per = r->compute_seconds / (static_cast<double>(rows_of(*r)) * r->nfe);
    image_eval_seconds_ = image_eval_seconds_ > 0 ? 0.5 * (image_eval_seconds_ + per) : per;
  }
  const LiveRequest& q = r->request;
  const LiveResultLabels l = labels_of(*r);
  const std::string rows = std::to_string(rows_of(*r)), steps = std::to_string(q.run_config().steps);
  const std::string reused = r->reused_steps > 0 ? " (" + std::to_string(r->reused_steps) + " steps reused)" : "";
  const std::string line = (q.preview ? "preview: " : "") + rows + " " + l.noun + " × " + steps + " steps · " +
                           ms_text(r->compute_seconds) + " ms" + reused + " · NFE " + std::to_string(r->nfe);
  const std::string detail =
      q.preview ? rows + " of " + std::to_string(q.n) + " " + l.noun + " · " + steps + " steps" +
                      (r->refining ? " — computing the full result…" : "")
                : rows + " " + l.noun + " · " + steps + " steps · " + ms_text(r->compute_seconds) + " ms";
  set_status(line, l.quality, detail, r->refining || (preview_done && preview_wanted_));
  out.status = true;
  if (preview_done && preview_wanted_) {
    request(true);
  } else if (preview_done && held_ && is_points(*r)) {
    // A drag preview arrived and the control has not moved since: the user is
    // looking at these settings, so their full run starts now rather than at
    // the release (a move cancels it; the release finds it in flight or done).
    request(false);
  }
  return out;
}

LiveReaction LivePolicy::error(uint64_t stamp) {
  if (stamp == preview_stamp_) preview_stamp_ = 0, preview_wanted_ = false;
  if (stamp == full_stamp_) full_stamp_ = 0;  // a retry of the same request runs again
  set_status("sampling failed", "sampling failed (see the messages below)", "", false);
  return {false, true};
}

LiveReaction LivePolicy::stop() {
  target_.cancel();
  preview_stamp_ = 0;
  preview_wanted_ = false;
  set_status("sampling stopped", "stopped", shown_ ? "showing the last result" : "", false);
  return {false, true};
}

void LivePolicy::set_status(std::string line, std::string headline, std::string detail, bool busy) {
  status_.line = std::move(line);
  status_.headline = std::move(headline);
  status_.detail = std::move(detail);
  status_.busy = busy;
}

}  // namespace sims::engine
