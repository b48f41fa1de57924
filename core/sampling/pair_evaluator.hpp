// Evaluates the base and (inside the guidance interval) the auxiliary
// denoiser at the same state without redundant work: the input is cast once
// per dtype and shared, and on a multi-core CPU the two networks run
// concurrently (whenever the machine has two or more cores), each on its share of the intra-op threads (two small
// networks side by side scale better than one after the other, each split
// over all cores). A persistent worker thread avoids per-call thread start-up.
#pragma once
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include <ATen/Tensor.h>

#include "diffusion/denoiser.hpp"

namespace sims {

enum class PairMode { Auto, Sequential, Concurrent };

class PairEvaluator {
 public:
  PairEvaluator(Denoiser& base, Denoiser* aux, PairMode mode);
  ~PairEvaluator();
  PairEvaluator(const PairEvaluator&) = delete;
  PairEvaluator& operator=(const PairEvaluator&) = delete;

  // x: state (float64); sigma: scalar noise level. Returns {D_base, D_aux}
  // in float64; D_aux is undefined when with_aux is false.
  std::pair<at::Tensor, at::Tensor> evaluate(const at::Tensor& x, double sigma, bool with_aux);

  bool concurrent() const { return concurrent_; }
  // Intra-op threads used by the calling thread while evaluating the pair.
  int caller_threads() const { return caller_threads_; }

 private:
  void worker_loop();

  Denoiser& base_;
  Denoiser* aux_;
  bool concurrent_ = false;
  int caller_threads_ = 1;
  int worker_threads_ = 1;

  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool has_job_ = false, job_done_ = false, stop_ = false;
  std::exception_ptr job_error_;
};

}  // namespace sims
