// The one progress report of every long command (train, synth, sweeps,
// loops, shift, scenarios): which stage runs, how far it is, a line for
// people, the time so far and an estimate of the time left, and - when the
// update finishes a result row (a generation, an ω) - that row, so a face
// shows results as they come without reading the run folder.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

namespace sims::experiment {

struct Progress {
  std::string stage;      // e.g. "generation 3: train base", "finetune", "sweep"
  int64_t done = 0;       // units of the whole command finished (generations, images, ω values, ...)
  int64_t total = 0;      // units in all (0: unknown)
  std::string message;    // one line for people
  double elapsed = 0;     // seconds since this call started
  double eta = -1;        // seconds left (< 0: unknown)
  nlohmann::json row;     // a finished result row (null when this update carries none)
  at::Tensor samples;     // the row's samples where it has some (e.g. a generation's saved runs)
  double fraction() const { return total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0.0; }
};

using ProgressFn = std::function<void(const Progress&)>;

// Seconds since construction, and an ETA from the fraction done since then
// (work reused from an earlier call does not count towards the rate).
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  // fraction_at_start: the part that was already done when the call began.
  double eta(double fraction, double fraction_at_start = 0) const {
    const double gained = fraction - fraction_at_start;
    if (gained <= 1e-9 || fraction >= 1) return fraction >= 1 ? 0.0 : -1.0;
    return seconds() * (1.0 - fraction) / gained;
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// Sends progress to a callback (if any) with elapsed and ETA filled in.
class Reporter {
 public:
  explicit Reporter(ProgressFn fn, double fraction_at_start = 0) : fn_(std::move(fn)), f0_(fraction_at_start) {}
  void operator()(std::string stage, int64_t done, int64_t total, std::string message,
                  nlohmann::json row = nullptr, at::Tensor samples = {}) const {
    if (!fn_) return;
    Progress p;
    p.stage = std::move(stage);
    p.done = done;
    p.total = total;
    p.message = std::move(message);
    p.elapsed = clock_.seconds();
    p.eta = clock_.eta(p.fraction(), f0_);
    p.row = std::move(row);
    p.samples = std::move(samples);
    fn_(p);
  }
  void set_start_fraction(double f) { f0_ = f; }
  double elapsed() const { return clock_.seconds(); }
  bool active() const { return static_cast<bool>(fn_); }

 private:
  ProgressFn fn_;
  double f0_ = 0;
  Stopwatch clock_;
};

}  // namespace sims::experiment
