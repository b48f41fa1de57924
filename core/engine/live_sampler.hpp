// Interactive sampling for the faces: a worker thread with a single
// "latest wins" request slot. A face submits immutable request values
// whenever a control moves; the worker keeps only the newest, cancels the
// run in flight as soon as a newer request arrives (the stamp is checked at
// every denoising step), reuses the unguided prefix of an earlier trajectory
// when only omega / the interval changed (EdmSampler::reusable_prefix +
// resume, exact), and publishes results tagged with their request's stamp.
// Results whose request has been superseded are dropped, never published.
#pragma once
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
  bool compare_base = false;      // also the base model alone (omega = 0) on the same noise
  bool record_trajectory = true;  // states and denoised estimates of every step
  // Set by LiveSampler::submit.
  uint64_t stamp = 0;
  std::chrono::steady_clock::time_point submitted{};

  int64_t rows() const { return preview ? std::min(n, preview_points) : n; }
};

struct LiveResult {
  uint64_t stamp = 0;
  LiveRequest request;
  at::Tensor x;                 // final samples [rows, ...] float64 (SIMS-guided)
  Trajectory trajectory;        // when recorded
  at::Tensor base_x;            // compare_base: the base model's samples on the same noise
  Trajectory base_trajectory;
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

class LiveSampler {
 public:
  // Both callbacks run on the worker thread.
  using ResultFn = std::function<void(LiveResultPtr)>;
  using ErrorFn = std::function<void(uint64_t stamp, const std::string& message)>;

  explicit LiveSampler(ResultFn on_result, ErrorFn on_error = {});
  ~LiveSampler();  // cancels the run in flight and joins
  LiveSampler(const LiveSampler&) = delete;
  LiveSampler& operator=(const LiveSampler&) = delete;

  // Replaces any pending request; returns the new request's stamp.
  uint64_t submit(LiveRequest r);
  // Bumps the stamp: the run in flight stops and nothing older is published.
  void cancel();
  uint64_t latest_stamp() const { return stamp_.load(); }
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
