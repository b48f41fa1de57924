#include "engine/live_sampler.hpp"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "common/error.hpp"
#include "common/json_parse.hpp"

namespace sims::engine {
namespace {

bool same_config(const SamplerConfig& a, const SamplerConfig& b) {
  return a.kind == b.kind && a.steps == b.steps && a.sigma_min == b.sigma_min && a.sigma_max == b.sigma_max &&
         a.rho == b.rho && a.churn == b.churn && a.s_min == b.s_min && a.s_max == b.s_max && a.s_noise == b.s_noise;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// A model as one live request sees it: every call first checks that the
// request is still the newest (a superseded or cancelled run stops at the next
// network call, not only at the next step), and large batches go through the
// network in row blocks with the check between blocks. Rows are independent,
// so blocking changes nothing but float rounding.
class GuardedDenoiser final : public Denoiser {
 public:
  GuardedDenoiser(DenoiserPtr inner, const std::atomic<uint64_t>& stamp, uint64_t want, int64_t block)
      : inner_(std::move(inner)), stamp_(stamp), want_(want), block_(block) {}
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma) override {
    check();
    const int64_t n = x.size(0);
    if (block_ <= 0 || n <= block_) return inner_->denoise(x, sigma);
    std::vector<at::Tensor> parts;
    for (int64_t r0 = 0; r0 < n; r0 += block_) {
      if (r0 > 0) check();
      const int64_t m = std::min(block_, n - r0);
      parts.push_back(inner_->denoise(x.narrow(0, r0, m), sigma.narrow(0, r0, m)));
    }
    return at::cat(parts, 0);
  }
  const ModelInfo& info() const override { return inner_->info(); }
  at::ScalarType input_dtype() const override { return inner_->input_dtype(); }
  c10::Device device() const override { return inner_->device(); }
  std::string identity() const override { return inner_->identity(); }

 private:
  void check() const {
    if (stamp_.load(std::memory_order_relaxed) != want_) throw Cancelled();
  }
  DenoiserPtr inner_;
  const std::atomic<uint64_t>& stamp_;
  uint64_t want_;
  int64_t block_;
};

}  // namespace

// A finished run, kept so the next request can start from its prefix.
struct LiveSampler::Cached {
  // Held, not just compared: a freed model's address could be reused by a new one.
  DenoiserPtr base, aux;  // aux null: the base model alone
  SamplerConfig cfg;
  int64_t n = 0, rows = 0;
  uint64_t seed = 0;
  Guidance g;
  SampleResult result;

  bool matches(const LiveRequest& r, const Denoiser* want_aux) const {
    return base.get() == r.base.get() && aux.get() == want_aux && same_config(cfg, r.run_config()) && n == r.n &&
           rows == r.rows() && seed == r.seed;
  }
};

LiveSampler::LiveSampler(ResultFn on_result, ErrorFn on_error)
    : on_result_(std::move(on_result)), on_error_(std::move(on_error)), worker_([this] { loop(); }) {}

LiveSampler::~LiveSampler() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
    stamp_.fetch_add(1);  // the run in flight stops at its next step
  }
  cv_.notify_all();
  worker_.join();
}

uint64_t LiveSampler::submit(LiveRequest r) {
  std::lock_guard<std::mutex> lk(mu_);
  r.stamp = stamp_.fetch_add(1) + 1;
  r.submitted = std::chrono::steady_clock::now();
  stats_.submitted++;
  if (pending_) stats_.superseded++;
  pending_ = std::move(r);
  cv_.notify_all();
  return pending_->stamp;
}

void LiveSampler::cancel() {
  std::lock_guard<std::mutex> lk(mu_);
  stamp_.fetch_add(1);
  if (pending_) {
    stats_.superseded++;
    pending_.reset();
  }
}

bool LiveSampler::idle() const {
  std::lock_guard<std::mutex> lk(mu_);
  return !busy_ && !pending_;
}

LiveStats LiveSampler::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

void LiveSampler::clear_cache() { clear_cache_.store(true); }

void LiveSampler::loop() {
  for (;;) {
    LiveRequest req;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || pending_.has_value(); });
      if (stop_) return;
      req = std::move(*pending_);
      pending_.reset();
      busy_ = true;
      stats_.started++;
    }
    // The caches belong to this thread; others only ask for them to go.
    if (clear_cache_.exchange(false))
      for (int i = 0; i < 2; ++i) guided_caches_[i].reset(), base_caches_[i].reset();
    std::string error;
    bool cancelled = false;
    try {
      if (req.refine && !req.preview) {
        // The cheap stage first; the full result follows under the same stamp.
        LiveResultPtr pre = run(req.preview_stage());
        auto marked = std::make_shared<LiveResult>(*pre);
        marked->refining = true;
        if (publish(req, marked)) publish(req, run(req));
      } else {
        publish(req, run(req));
      }
    } catch (const Cancelled&) {
      cancelled = true;
    } catch (const c10::Error& e) {
      std::string msg = e.what_without_backtrace();
      error = msg.substr(0, msg.find('\n'));
    } catch (const std::exception& e) {
      error = error_words(e);
    } catch (...) {
      error = "unknown error while sampling";
    }
    const bool current = req.stamp == stamp_.load();
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (cancelled) stats_.cancelled++;
      else if (!error.empty()) stats_.failed++;
    }
    // Outside the lock: a face may submit from inside the callback.
    if (!cancelled && current && !error.empty() && on_error_) on_error_(req.stamp, error);
    std::lock_guard<std::mutex> lk(mu_);
    busy_ = false;
  }
}

bool LiveSampler::publish(const LiveRequest& r, LiveResultPtr res) {
  const bool current = r.stamp == stamp_.load();
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (current) stats_.published++;
    else stats_.dropped++;
  }
  // Callbacks outside the lock: a face may submit from inside them.
  if (current && res && on_result_) on_result_(std::move(res));
  return current;
}

LiveResultPtr LiveSampler::run(const LiveRequest& r) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!r.base) throw InputError("no base model loaded");
  if (r.n < 1) throw InputError("the number of points must be positive");
  const SamplerConfig cfg = r.run_config();
  cfg.validate();
  r.guidance.validate();
  auto res = std::make_shared<LiveResult>();
  res->stamp = r.stamp;
  res->request = r;

  SampleOptions opts;
  opts.seed = r.seed;
  opts.record_trajectory = true;  // always: the cache needs the states to resume from
  const uint64_t stamp = r.stamp;
  opts.on_step = [this, stamp](const StepEvent&) { return stamp_.load() == stamp; };
  const DenoiserPtr base = std::make_shared<GuardedDenoiser>(r.base, stamp_, stamp, r.block_rows);
  const DenoiserPtr aux = r.aux ? std::make_shared<GuardedDenoiser>(r.aux, stamp_, stamp, r.block_rows) : nullptr;

  at::Tensor noise;
  auto get_noise = [&]() -> const at::Tensor& {
    if (!noise.defined()) {
      noise = seeded_noise(r.n, r.base->info().sample_shape, r.seed);
      if (r.rows() < r.n) noise = noise.narrow(0, 0, r.rows()).contiguous();
    }
    return noise;
  };

  // The base model alone: needed for the comparison, and as the unguided
  // prefix (and the whole result) when omega is 0.
  const bool guided = r.aux && r.guidance.omega != 0.0;
  std::shared_ptr<Cached>& gcache = guided_caches_[r.preview ? 1 : 0];
  std::shared_ptr<Cached>& bcache = base_caches_[r.preview ? 1 : 0];
  int base_reused = 0;
  auto base_run = [&]() -> const SampleResult& {
    if (!bcache || !bcache->matches(r, nullptr)) {
      EdmSampler s(base, nullptr, cfg, Guidance{});
      auto c = std::make_shared<Cached>();
      c->base = r.base;
      c->cfg = cfg;
      c->n = r.n;
      c->rows = r.rows();
      c->seed = r.seed;
      // A guided run's states are the base model's up to its first guided step.
      int k = 0;
      if (gcache && gcache->matches(r, gcache->aux.get()))
        k = first_guided_step(cfg, gcache->g);
      c->result = k > 0 ? s.resume(gcache->result.trajectory, k, opts) : s.sample(get_noise(), opts);
      base_reused = k;
      bcache = c;
    } else {
      base_reused = cfg.steps;
    }
    return bcache->result;
  };

  if (r.compare_base || !guided) {
    const SampleResult& b = base_run();
    res->base_x = b.x;
    res->base_trajectory = b.trajectory;
  }
  const bool compare_guided = r.compare_base && r.aux && r.compare_omega != 0.0;
  SampleResult other;  // compare_guided: the comparison at compare_omega, from the base run's unguided prefix
  if (compare_guided) {
    Guidance gc = r.guidance;
    gc.omega = r.compare_omega;
    EdmSampler s(base, aux, cfg, gc);
    Guidance unguided;
    unguided.omega = 0.0;
    const int k = s.reusable_prefix(unguided);
    other = k > 0 ? s.resume(bcache->result.trajectory, k, opts) : s.sample(get_noise(), opts);
  }

  if (!guided) {
    res->x = res->base_x;
    res->trajectory = res->base_trajectory;
    res->reused_steps = base_reused;
    res->nfe = nfe_per_sample(cfg, r.guidance, false);
    if (!r.compare_base) res->base_x = at::Tensor(), res->base_trajectory = Trajectory();
  } else {
    EdmSampler s(base, aux, cfg, r.guidance);
    // Pick the cached run with the longest reusable prefix.
    const Trajectory* from = nullptr;
    int k = 0;
    if (gcache && gcache->matches(r, r.aux.get())) {
      const int kg = s.reusable_prefix(gcache->g);
      if (kg > k) k = kg, from = &gcache->result.trajectory;
    }
    if (bcache && bcache->matches(r, nullptr)) {
      Guidance unguided;
      unguided.omega = 0.0;
      const int kb = s.reusable_prefix(unguided);
      if (kb > k) k = kb, from = &bcache->result.trajectory;
    }
    auto c = std::make_shared<Cached>();
    c->base = r.base;
    c->aux = r.aux;
    c->cfg = cfg;
    c->n = r.n;
    c->rows = r.rows();
    c->seed = r.seed;
    c->g = r.guidance;
    c->result = from ? s.resume(*from, k, opts) : s.sample(get_noise(), opts);
    gcache = c;
    res->x = c->result.x;
    res->trajectory = c->result.trajectory;
    res->reused_steps = from ? k : 0;
    res->nfe = nfe_per_sample(cfg, r.guidance, true);
  }
  if (compare_guided) {
    res->base_x = other.x;
    res->base_trajectory = other.trajectory;
  }
  if (!r.record_trajectory) res->trajectory = Trajectory(), res->base_trajectory = Trajectory();
  // Faces read the results' memory: they are published on the CPU whatever the models' device (the caches keep
  // the device copies that later requests resume from).
  // An unguided result shares its tensors with the base's: each is copied once.
  const auto to_cpu = [](at::Tensor& t, at::Tensor& twin) {
    if (!t.defined() || t.device().is_cpu()) return;
    const bool shared = twin.defined() && twin.is_same(t);
    t = t.cpu();
    if (shared) twin = t;
  };
  at::Tensor none;
  to_cpu(res->x, res->base_x), to_cpu(res->base_x, none);
  const auto pair_to_cpu = [&](std::vector<at::Tensor>& a, std::vector<at::Tensor>& b) {
    for (size_t i = 0; i < a.size(); ++i) to_cpu(a[i], i < b.size() ? b[i] : none);
    for (auto& t : b) to_cpu(t, none);
  };
  pair_to_cpu(res->trajectory.states, res->base_trajectory.states);
  pair_to_cpu(res->trajectory.denoised, res->base_trajectory.denoised);
  res->compute_seconds = seconds_since(t0);
  res->latency_seconds = seconds_since(r.submitted);
  return res;
}

}  // namespace sims::engine
