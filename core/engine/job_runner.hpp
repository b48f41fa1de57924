// Background jobs for every face (studio, live viewer, scripts): a function
// runs on a worker thread, reports progress (fraction, message, ETA, named
// values such as the loss), stops cooperatively when cancelled (the job hands
// its JobContext's flag to the core's cancel hooks), and ends with a result
// or an error message: sims errors and LibTorch errors are caught here, never
// thrown into the face. Callbacks run on the worker thread; a GUI re-posts
// them to its own thread. The runner joins its thread on destruction.
#pragma once
#include <any>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "experiment/progress.hpp"

namespace sims::engine {

struct JobProgress {
  double fraction = 0;                   // 0..1
  std::string message;
  double elapsed = 0;                    // seconds since the job started
  double eta = -1;                       // seconds left; < 0 when unknown
  std::map<std::string, double> values;  // e.g. {"loss", 0.31}, {"images", 51200}
};

enum class JobState { Queued, Running, Finished, Cancelled, Failed };
const char* to_string(JobState s);

class Job;

// What a running job sees: its cancel flag and a progress reporter.
class JobContext {
 public:
  explicit JobContext(Job& job) : job_(job) {}
  // Pass this to the core (TrainOptions::cancel, SampleOptions::cancel, ...).
  const std::atomic<bool>* cancel_flag() const;
  bool cancelled() const;
  // Throws sims::Cancelled when cancel was requested.
  void check_cancel() const;
  // eta < 0: estimated from the elapsed time and the fraction.
  void progress(double fraction, std::string message = {}, std::map<std::string, double> values = {},
                double eta = -1);
  // A core experiment's progress (experiment/progress.hpp) as the job's:
  // the fraction done/total, its message and its ETA.
  void progress(const experiment::Progress& p);
  double elapsed() const;

 private:
  Job& job_;
};

using JobFn = std::function<std::any(JobContext&)>;

struct JobCallbacks {
  std::function<void(const JobProgress&)> on_progress;  // worker thread
  std::function<void(const Job&)> on_done;              // worker thread, once, after the state is final
};

class Job {
 public:
  Job(uint64_t id, std::string name, JobFn fn, JobCallbacks cb);
  uint64_t id() const { return id_; }
  const std::string& name() const { return name_; }
  JobState state() const { return state_.load(); }
  bool done() const;
  // Requests cancellation; a queued job never starts.
  void cancel() { cancel_.store(true); }
  bool cancel_requested() const { return cancel_.load(); }
  // Valid once done(): the function's return value (Finished) / the message (Failed).
  const std::any& result() const { return result_; }
  std::string error() const;
  JobProgress last_progress() const;
  // wait()/wait_for() return once the state is final AND on_done has returned,
  // so a waiter sees everything the callback did.
  void wait() const;
  // False on timeout.
  bool wait_for(double seconds) const;

 private:
  friend class JobContext;
  friend class JobRunner;
  void run();
  void finish(JobState s, std::string error);

  const uint64_t id_;
  const std::string name_;
  JobFn fn_;
  JobCallbacks cb_;
  std::atomic<JobState> state_{JobState::Queued};
  std::atomic<bool> cancel_{false};
  bool settled_ = false;  // under mu_: on_done has run
  std::any result_;
  std::string error_;
  JobProgress progress_;
  std::chrono::steady_clock::time_point start_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
};

using JobPtr = std::shared_ptr<Job>;

// One worker thread running jobs in submission order.
class JobRunner {
 public:
  JobRunner();
  ~JobRunner();  // cancels every job and joins
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  JobPtr submit(std::string name, JobFn fn, JobCallbacks cb = {});
  void cancel_all();
  // A job is queued or running.
  bool busy() const;

 private:
  void loop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<JobPtr> queue_;
  JobPtr current_;
  bool stop_ = false;
  uint64_t next_id_ = 1;
  std::thread worker_;
};

}  // namespace sims::engine
