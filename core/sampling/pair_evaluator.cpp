#include "sampling/pair_evaluator.hpp"

#include <omp.h>

#include <thread>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

namespace sims {
namespace {

at::Tensor sigma_vector(const at::Tensor& like, double sigma) {
  return at::full({like.size(0)}, sigma, like.options());
}

}  // namespace

PairEvaluator::PairEvaluator(Denoiser& base, Denoiser* aux, PairMode mode, bool share_encoder)
    : base_(base), aux_(aux) {
  if (aux && share_encoder && base.device() == aux->device() && base.input_dtype() == aux->input_dtype() &&
      base.network() && aux->network() && encoders_equal(*base.network(), *aux->network())) {
    base_unet_ = dynamic_cast<EdmUnet*>(base.network());
    aux_unet_ = dynamic_cast<EdmUnet*>(aux->network());
  }
  const int threads = at::get_num_threads();
  caller_threads_ = threads;
  const bool cpu = base.device().is_cpu() && (!aux || aux->device().is_cpu());
  // Two cores are enough to run the pair side by side, whatever the intra-op
  // setting: with one intra-op thread each, no OpenMP team spins, which also
  // keeps a busy machine from slowing down (oversubscribed OpenMP spinning
  // costs 10-20x on a 2-core machine).
  if (aux && cpu) {
    concurrent_ = mode == PairMode::Concurrent || (mode == PairMode::Auto && std::thread::hardware_concurrency() >= 2);
  }
  if (concurrent_) {
    caller_threads_ = std::max(1, threads - threads / 2);
    worker_threads_ = std::max(1, threads / 2);
    worker_ = std::thread([this] { worker_loop(); });
  }
}

PairEvaluator::~PairEvaluator() {
  if (worker_.joinable()) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }
}

void PairEvaluator::worker_loop() {
  c10::InferenceMode guard;
  omp_set_num_threads(worker_threads_);  // this thread's OpenMP team size only
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [this] { return has_job_ || stop_; });
    if (stop_) return;
    auto job = std::move(job_);
    has_job_ = false;
    lk.unlock();
    std::exception_ptr err;
    try {
      job();
    } catch (...) {
      err = std::current_exception();
    }
    lk.lock();
    job_error_ = err;
    job_done_ = true;
    cv_.notify_all();
  }
}

void PairEvaluator::side_by_side(const std::function<void()>& mine, std::function<void()> theirs) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    job_ = std::move(theirs);
    has_job_ = true;
    job_done_ = false;
    job_error_ = nullptr;
  }
  cv_.notify_all();
  std::exception_ptr my_err;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(caller_threads_);
  try {
    mine();
  } catch (...) {
    my_err = std::current_exception();
  }
  omp_set_num_threads(saved);
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait(lk, [this] { return job_done_; });
  if (my_err) std::rethrow_exception(my_err);
  if (job_error_) std::rethrow_exception(job_error_);
}

std::pair<at::Tensor, at::Tensor> PairEvaluator::evaluate(const at::Tensor& x, double sigma, bool with_aux) {
  // Cast once per dtype; base and aux share the cast input when they agree.
  at::Tensor xb = x.to(base_.input_dtype());
  at::Tensor sb = sigma_vector(xb, sigma);
  at::Tensor xa, sa;
  if (with_aux) {
    if (aux_->input_dtype() == base_.input_dtype() && aux_->device() == base_.device()) {
      xa = xb;
      sa = sb;
    } else {
      xa = x.to(aux_->device(), aux_->input_dtype());
      sa = sigma_vector(xa, sigma);
    }
  }
  at::Tensor db, da;
  if (with_aux && base_unet_ != nullptr) {
    // One encoder evaluation for both; the decoders differ.
    const UnetEncoding enc = base_unet_->encode(xb, sb);
    if (concurrent_) {
      side_by_side([&] { db = base_unet_->decode(enc); }, [&] { da = aux_unet_->decode(enc); });
    } else {
      db = base_unet_->decode(enc);
      da = aux_unet_->decode(enc);
    }
  } else if (with_aux && concurrent_) {
    side_by_side([&] { db = base_.denoise(xb, sb); }, [&] { da = aux_->denoise(xa, sa); });
  } else {
    db = base_.denoise(xb, sb);
    if (with_aux) da = aux_->denoise(xa, sa);
  }
  db = db.to(x.device(), at::kDouble);
  if (with_aux) da = da.to(x.device(), at::kDouble);
  return {db, da};
}

}  // namespace sims
