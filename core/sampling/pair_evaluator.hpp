// Evaluates the base and (inside the guidance interval) the auxiliary
// denoiser at the same state without redundant work: the input is cast once
// per dtype and shared, and on a multi-core CPU the two networks run
// concurrently (whenever the machine has two or more cores), each on its share of the intra-op threads (two small
// networks side by side scale better than one after the other, each split
// over all cores). A persistent worker thread avoids per-call thread start-up.
// When the auxiliary is a decoder-only fine-tune of the base (two U-Nets with
// equal encoder weights, unet.hpp), the encoder runs once for both and only
// the two decoders run (side by side where the pair would): SIMS App. A's
// 1.5 network evaluations per step instead of 2.
#pragma once
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include <ATen/Tensor.h>

#include "diffusion/denoiser.hpp"
#include "diffusion/unet.hpp"

namespace sims {

enum class PairMode { Auto, Sequential, Concurrent };

class PairEvaluator {
 public:
  // share_encoder = false evaluates the two networks in full even when their
  // encoders are equal (tests compare the two ways).
  PairEvaluator(Denoiser& base, Denoiser* aux, PairMode mode, bool share_encoder = true);
  ~PairEvaluator();
  PairEvaluator(const PairEvaluator&) = delete;
  PairEvaluator& operator=(const PairEvaluator&) = delete;

  // x: state (float64); sigma: scalar noise level. Returns {D_base, D_aux}
  // in float64; D_aux is undefined when with_aux is false.
  std::pair<at::Tensor, at::Tensor> evaluate(const at::Tensor& x, double sigma, bool with_aux);

  bool concurrent() const { return concurrent_; }
  // The auxiliary shares the base's encoder: one encoder evaluation per step for both.
  bool shared_encoder() const { return base_unet_ != nullptr; }
  // Intra-op threads used by the calling thread while evaluating the pair.
  int caller_threads() const { return caller_threads_; }

 private:
  void worker_loop();
  // Runs `mine` on this thread and `theirs` on the worker at the same time.
  void side_by_side(const std::function<void()>& mine, std::function<void()> theirs);

  Denoiser& base_;
  Denoiser* aux_;
  EdmUnet* base_unet_ = nullptr;  // both set when the encoder is shared
  EdmUnet* aux_unet_ = nullptr;
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
