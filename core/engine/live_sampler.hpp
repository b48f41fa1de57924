// Interactive sampling for the faces: a worker thread with a single
// "latest wins" request slot. A face submits immutable request values
// whenever a control moves; the worker keeps only the newest, cancels the
// run in flight as soon as a newer request arrives (the stamp is checked at
// every denoising step), reuses the unguided prefix of an earlier trajectory
// when only omega / the interval changed (EdmSampler::reusable_prefix +
// resume, exact), and publishes results tagged with their request's stamp.
// Results whose request has been superseded are dropped, never published.
// Slow models (images) can be refined: a request publishes a cheap preview
// (few rows, few steps) first and then the full result under the same stamp;
// the networks are called on row blocks so a newer request or cancel() stops
// even a long evaluation within a block's time.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <ATen/Tensor.h>

#include "diffusion/denoiser.hpp"
#include "sampling/edm_sampler.hpp"
#include "sampling/schedule.hpp"

namespace sims::engine {

struct LiveRequest {
  DenoiserPtr base, aux;  // aux may be null (plain sampling)
  Guidance guidance;
  SamplerConfig sampler;
  int64_t n = 2000;               // points of a full-quality result
  uint64_t seed = 0;              // seeds the starting noise (and churn)
  bool preview = false;           // cheap: only the first preview_points rows of the same noise
  int64_t preview_points = 256;
  int preview_steps = 0;          // steps of a preview (0: sampler.steps)
  bool refine = false;            // a full request publishes its preview first, then the full result
  int64_t block_rows = 0;         // call the networks on at most this many rows at a time (0: all)
  bool compare_base = false;      // also the base model alone (omega = 0) on the same noise
  double compare_omega = 0;       // ... or, when not 0, guided at this omega instead (any two omegas side by side)
  bool record_trajectory = true;  // states and denoised estimates of every step
  // Set by LiveSampler::submit.
  uint64_t stamp = 0;
  std::chrono::steady_clock::time_point submitted{};

  int64_t rows() const { return preview ? std::min(n, preview_points) : n; }
  // The sampler settings this request runs with (a preview may use fewer steps).
  SamplerConfig run_config() const {
    SamplerConfig c = sampler;
    if (preview && preview_steps > 0) c.steps = std::min(preview_steps, sampler.steps);
    return c;
  }
  // The preview stage of a refined request.
  LiveRequest preview_stage() const {
    LiveRequest p = *this;
    p.preview = true;
    p.refine = false;
    return p;
  }
};

struct LiveResult {
  uint64_t stamp = 0;
  LiveRequest request;
  // Every tensor here is on the CPU, whatever the models' device.
  at::Tensor x;                 // final samples [rows, ...] float64 (SIMS-guided)
  Trajectory trajectory;        // when recorded
  at::Tensor base_x;            // compare_base: the base model's samples on the same noise (at compare_omega)
  Trajectory base_trajectory;
  bool refining = false;        // a preview whose full-quality result is being computed
  int reused_steps = 0;         // steps of the guided run taken from an earlier run
  int nfe = 0;                  // network evaluations per sample of the guided run (reused ones included)
  double compute_seconds = 0;   // time the worker spent on this request
  double latency_seconds = 0;   // from submit() to publication
};
using LiveResultPtr = std::shared_ptr<const LiveResult>;

struct LiveStats {
  uint64_t submitted = 0, started = 0, published = 0, dropped = 0, cancelled = 0, failed = 0;
  uint64_t superseded = 0;  // requests replaced in the slot before the worker took them
};

// Where a face's requests go: the LiveSampler, or a recorder in tests of the
// request policy (live_policy.hpp).
class LiveTarget {
 public:
  virtual ~LiveTarget() = default;
  virtual uint64_t submit(LiveRequest r) = 0;  // returns the request's stamp
  virtual void cancel() = 0;                   // nothing in flight or older is published
  virtual uint64_t latest_stamp() const = 0;
};

class LiveSampler final : public LiveTarget {
 public:
  // Both callbacks run on the worker thread.
  using ResultFn = std::function<void(LiveResultPtr)>;
  using ErrorFn = std::function<void(uint64_t stamp, const std::string& message)>;

  explicit LiveSampler(ResultFn on_result, ErrorFn on_error = {});
  ~LiveSampler() override;  // cancels the run in flight and joins
  LiveSampler(const LiveSampler&) = delete;
  LiveSampler& operator=(const LiveSampler&) = delete;

  // Replaces any pending request; returns the new request's stamp.
  uint64_t submit(LiveRequest r) override;
  // Bumps the stamp: the run in flight stops and nothing older is published.
  void cancel() override;
  uint64_t latest_stamp() const override { return stamp_.load(); }
  // No request pending or running.
  bool idle() const;
  LiveStats stats() const;
  // Forget cached trajectories before the next request (e.g. a model file was
  // reloaded in place at the same address).
  void clear_cache();

 private:
  struct Cached;
  void loop();
  LiveResultPtr run(const LiveRequest& r);
  // Publishes unless the request was superseded; false when it was.
  bool publish(const LiveRequest& r, LiveResultPtr res);

  ResultFn on_result_;
  ErrorFn on_error_;
  std::atomic<uint64_t> stamp_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<LiveRequest> pending_;
  bool busy_ = false, stop_ = false;
  std::atomic<bool> clear_cache_{false};
  LiveStats stats_;
  // Worker thread only; one pair for full-quality runs and one for previews,
  // so dragging does not evict the full run the release will resume from.
  std::shared_ptr<Cached> guided_caches_[2], base_caches_[2];
  std::thread worker_;
};

}  // namespace sims::engine
