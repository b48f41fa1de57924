#include "engine/job_runner.hpp"

#include <c10/util/Exception.h>

#include "common/error.hpp"
#include "common/json_parse.hpp"

namespace sims::engine {

const char* to_string(JobState s) {
  switch (s) {
    case JobState::Queued: return "queued";
    case JobState::Running: return "running";
    case JobState::Finished: return "finished";
    case JobState::Cancelled: return "cancelled";
    case JobState::Failed: return "failed";
  }
  return "?";
}

// [SECTION] JobContext ---------------------------------------------------------

const std::atomic<bool>* JobContext::cancel_flag() const { return &job_.cancel_; }
bool JobContext::cancelled() const { return job_.cancel_.load(); }
void JobContext::check_cancel() const {
  if (cancelled()) throw Cancelled();
}

double JobContext::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - job_.start_).count();
}

void JobContext::progress(const experiment::Progress& p) { progress(p.fraction(), p.message, {}, p.eta); }

void JobContext::progress(double fraction, std::string message, std::map<std::string, double> values, double eta) {
  JobProgress p;
  p.fraction = std::min(1.0, std::max(0.0, fraction));
  p.message = std::move(message);
  p.elapsed = elapsed();
  p.eta = eta >= 0 ? eta : (p.fraction > 1e-6 ? p.elapsed * (1.0 - p.fraction) / p.fraction : -1.0);
  p.values = std::move(values);
  {
    std::lock_guard<std::mutex> lk(job_.mu_);
    job_.progress_ = p;
  }
  if (job_.cb_.on_progress) job_.cb_.on_progress(p);
}

// [SECTION] Job -------------------------------------------------------------------

Job::Job(uint64_t id, std::string name, JobFn fn, JobCallbacks cb)
    : id_(id), name_(std::move(name)), fn_(std::move(fn)), cb_(std::move(cb)) {}

bool Job::done() const {
  const JobState s = state_.load();
  return s == JobState::Finished || s == JobState::Cancelled || s == JobState::Failed;
}

std::string Job::error() const {
  std::lock_guard<std::mutex> lk(mu_);
  return error_;
}

JobProgress Job::last_progress() const {
  std::lock_guard<std::mutex> lk(mu_);
  return progress_;
}

void Job::wait() const {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait(lk, [&] { return settled_; });
}

bool Job::wait_for(double seconds) const {
  std::unique_lock<std::mutex> lk(mu_);
  return cv_.wait_for(lk, std::chrono::duration<double>(seconds), [&] { return settled_; });
}

void Job::finish(JobState s, std::string error) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    error_ = std::move(error);
    state_.store(s);
  }
  if (cb_.on_done) {
    try {
      cb_.on_done(*this);
    } catch (...) {
      // A face's callback must not take the worker down.
    }
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    settled_ = true;
  }
  cv_.notify_all();
}

void Job::run() {
  if (cancel_.load()) return finish(JobState::Cancelled, {});
  start_ = std::chrono::steady_clock::now();
  state_.store(JobState::Running);
  JobContext ctx(*this);
  try {
    std::any r = fn_(ctx);
    result_ = std::move(r);
    // A job that returned after a cancel request (e.g. training stopped with a
    // checkpoint) ends as cancelled, with whatever it returned.
    finish(cancel_.load() ? JobState::Cancelled : JobState::Finished, {});
  } catch (const Cancelled&) {
    finish(JobState::Cancelled, {});
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    finish(JobState::Failed, msg.substr(0, msg.find('\n')));
  } catch (const nlohmann::json::exception& e) {
    finish(JobState::Failed, "a stored value is damaged: " + json_error_words(e));
  } catch (const std::exception& e) {
    finish(JobState::Failed, e.what());
  } catch (...) {
    finish(JobState::Failed, "unknown error");
  }
  fn_ = nullptr;  // release what the function captured (models, data)
}

// [SECTION] JobRunner ----------------------------------------------------------------

JobRunner::JobRunner() : worker_([this] { loop(); }) {}

JobRunner::~JobRunner() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
    for (auto& j : queue_) j->cancel();
    if (current_) current_->cancel();
  }
  cv_.notify_all();
  worker_.join();
  // Jobs that never started end as cancelled, so waiters wake up.
  for (auto& j : queue_) j->finish(JobState::Cancelled, {});
}

JobPtr JobRunner::submit(std::string name, JobFn fn, JobCallbacks cb) {
  std::lock_guard<std::mutex> lk(mu_);
  auto job = std::make_shared<Job>(next_id_++, std::move(name), std::move(fn), std::move(cb));
  queue_.push_back(job);
  cv_.notify_all();
  return job;
}

void JobRunner::cancel_all() {
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& j : queue_) j->cancel();
  if (current_) current_->cancel();
}

bool JobRunner::busy() const {
  std::lock_guard<std::mutex> lk(mu_);
  return current_ != nullptr || !queue_.empty();
}

void JobRunner::loop() {
  for (;;) {
    JobPtr job;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      job = queue_.front();
      queue_.pop_front();
      current_ = job;
    }
    job->run();
    std::lock_guard<std::mutex> lk(mu_);
    current_.reset();
  }
}

}  // namespace sims::engine
