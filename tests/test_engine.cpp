// The engine's background job API and the live "latest wins" sampler.
#include <atomic>
#include <cmath>
#include <limits>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "common/error.hpp"
#include "engine/compare.hpp"
#include "engine/job_runner.hpp"
#include "engine/live_sampler.hpp"
#include "helpers.hpp"

using namespace sims;
using namespace sims::engine;
using sims::test::gaussian2d;
using sims::test::max_abs_diff;
using namespace std::chrono_literals;

namespace {

// Wraps a model and sleeps at every evaluation: makes runs long enough to be
// superseded mid-flight.
class SlowDenoiser final : public Denoiser {
 public:
  SlowDenoiser(DenoiserPtr inner, int ms) : inner_(std::move(inner)), ms_(ms) {}
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma) override {
    calls++;
    std::this_thread::sleep_for(std::chrono::milliseconds(ms_));
    return inner_->denoise(x, sigma);
  }
  const ModelInfo& info() const override { return inner_->info(); }
  at::ScalarType input_dtype() const override { return inner_->input_dtype(); }
  std::atomic<int> calls{0};

 private:
  DenoiserPtr inner_;
  int ms_;
};

// Collects what a LiveSampler publishes.
struct Sink {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<LiveResultPtr> results;
  std::vector<std::pair<uint64_t, std::string>> errors;
  LiveSampler::ResultFn on_result() {
    return [this](LiveResultPtr r) {
      std::lock_guard<std::mutex> lk(mu);
      results.push_back(std::move(r));
      cv.notify_all();
    };
  }
  LiveSampler::ErrorFn on_error() {
    return [this](uint64_t s, const std::string& m) {
      std::lock_guard<std::mutex> lk(mu);
      errors.emplace_back(s, m);
      cv.notify_all();
    };
  }
  // Waits until a result or error with this stamp arrived.
  bool wait_for_stamp(uint64_t stamp, std::chrono::seconds timeout = 30s) {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, timeout, [&] {
      for (auto& r : results)
        if (r->stamp == stamp) return true;
      for (auto& e : errors)
        if (e.first == stamp) return true;
      return false;
    });
  }
};

LiveRequest request(DenoiserPtr base, DenoiserPtr aux, double omega) {
  LiveRequest r;
  r.base = std::move(base);
  r.aux = std::move(aux);
  r.guidance.omega = omega;
  r.sampler.steps = 16;
  r.n = 64;
  r.seed = 7;
  return r;
}

}  // namespace

// [SECTION] JobRunner ------------------------------------------------------------------

TEST_CASE("a job reports progress and returns its result", "[engine]") {
  JobRunner runner;
  std::mutex mu;
  std::vector<JobProgress> events;
  std::atomic<int> done_calls{0};
  JobCallbacks cb;
  cb.on_progress = [&](const JobProgress& p) {
    std::lock_guard<std::mutex> lk(mu);
    events.push_back(p);
  };
  cb.on_done = [&](const Job& j) { done_calls++; };
  JobPtr job = runner.submit("count", [](JobContext& ctx) -> std::any {
    for (int i = 1; i <= 5; ++i) {
      std::this_thread::sleep_for(2ms);
      ctx.progress(i / 5.0, "step " + std::to_string(i), {{"loss", 1.0 / i}});
    }
    return 42;
  }, cb);
  REQUIRE(job->wait_for(30));
  CHECK(job->state() == JobState::Finished);
  CHECK(std::any_cast<int>(job->result()) == 42);
  CHECK(job->error().empty());
  std::lock_guard<std::mutex> lk(mu);
  REQUIRE(events.size() == 5);
  CHECK(events.front().fraction == Approx(0.2));
  CHECK(events.front().eta > 0);  // estimated from elapsed time
  CHECK(events.back().fraction == 1.0);
  CHECK(events.back().eta == Approx(0.0));
  CHECK(events.back().values.at("loss") == Approx(0.2));
  CHECK(events.back().message == "step 5");
  CHECK(job->last_progress().message == "step 5");
  CHECK(done_calls == 1);
}

TEST_CASE("a job stops cooperatively when cancelled", "[engine]") {
  JobRunner runner;
  std::atomic<bool> started{false};
  JobPtr job = runner.submit("forever", [&](JobContext& ctx) -> std::any {
    started = true;
    for (;;) {
      ctx.check_cancel();
      std::this_thread::sleep_for(1ms);
    }
  });
  JobPtr queued = runner.submit("never", [](JobContext&) -> std::any { return 1; });
  while (!started) std::this_thread::sleep_for(1ms);
  CHECK(runner.busy());
  CHECK(job->state() == JobState::Running);
  CHECK_FALSE(job->wait_for(0.02));
  queued->cancel();
  job->cancel();
  REQUIRE(job->wait_for(30));
  CHECK(job->state() == JobState::Cancelled);
  REQUIRE(queued->wait_for(30));
  CHECK(queued->state() == JobState::Cancelled);  // never started
  CHECK_FALSE(queued->result().has_value());

  // A job that returns normally after a cancel (e.g. training that saved a
  // checkpoint) also ends cancelled, keeping what it returned; the flag is
  // what the core's hooks read.
  JobPtr soft = runner.submit("soft", [](JobContext& ctx) -> std::any {
    while (!ctx.cancel_flag()->load()) std::this_thread::sleep_for(1ms);
    return std::string("checkpoint saved");
  });
  std::this_thread::sleep_for(5ms);
  soft->cancel();
  REQUIRE(soft->wait_for(30));
  CHECK(soft->state() == JobState::Cancelled);
  CHECK(std::any_cast<std::string>(soft->result()) == "checkpoint saved");
}

TEST_CASE("job errors are reported, not thrown", "[engine]") {
  JobRunner runner;
  JobPtr a = runner.submit("sims error", [](JobContext&) -> std::any { throw InputError("no such data set 'x'"); });
  JobPtr b = runner.submit("torch error", [](JobContext&) -> std::any {
    return at::ones({2, 3}).view({7});  // c10::Error
  });
  JobPtr c = runner.submit("after", [](JobContext&) -> std::any { return 3; });
  REQUIRE(c->wait_for(30));
  CHECK(a->state() == JobState::Failed);
  CHECK(a->error() == "no such data set 'x'");
  CHECK(b->state() == JobState::Failed);
  CHECK_FALSE(b->error().empty());
  CHECK(b->error().find('\n') == std::string::npos);
  CHECK(c->state() == JobState::Finished);  // the runner goes on
}

TEST_CASE("destroying the runner cancels and joins", "[engine]") {
  JobPtr running, queued;
  {
    JobRunner runner;
    std::atomic<bool> started{false};
    running = runner.submit("loop", [&](JobContext& ctx) -> std::any {
      started = true;
      for (;;) ctx.check_cancel(), std::this_thread::sleep_for(1ms);
    });
    queued = runner.submit("later", [](JobContext&) -> std::any { return 1; });
    while (!started) std::this_thread::sleep_for(1ms);
  }
  CHECK(running->state() == JobState::Cancelled);
  CHECK(queued->state() == JobState::Cancelled);
}

// [SECTION] LiveSampler ------------------------------------------------------------------

TEST_CASE("the live sampler publishes results equal to a direct run", "[engine]") {
  auto base = gaussian2d(0.0, 0.0, 2.0, 1.0, 2.0);
  auto aux = gaussian2d(0.3, -0.2, 1.5, 0.5, 1.5);
  Sink sink;
  LiveSampler live(sink.on_result(), sink.on_error());
  LiveRequest r = request(base, aux, 1.5);
  r.guidance.lo = 0.3;
  r.guidance.hi = 5.0;
  r.compare_base = true;
  const uint64_t s = live.submit(r);
  REQUIRE(sink.wait_for_stamp(s));
  REQUIRE(sink.results.size() == 1);
  const LiveResult& res = *sink.results[0];
  CHECK(res.stamp == s);
  CHECK(res.request.guidance.omega == 1.5);

  at::Tensor noise = seeded_noise(r.n, {2}, r.seed);
  SampleOptions o;
  o.seed = r.seed;
  SampleResult direct = EdmSampler(base, aux, r.sampler, r.guidance).sample(noise, o);
  SampleResult plain = EdmSampler(base, nullptr, r.sampler, Guidance{}).sample(noise, o);
  CHECK(max_abs_diff(res.x, direct.x) == 0.0);
  CHECK(max_abs_diff(res.base_x, plain.x) == 0.0);  // the comparison is omega = 0 on the same seeds
  CHECK(res.trajectory.states.size() == 17);
  CHECK(res.trajectory.denoised.size() == 16);
  CHECK(res.nfe == nfe_per_sample(r.sampler, r.guidance, true));
  CHECK(res.latency_seconds >= res.compute_seconds);
}

TEST_CASE("prefix reuse gives the same result as a full run", "[engine]") {
  auto base = gaussian2d(0.0, 0.0, 2.0, 1.0, 2.0);
  auto aux = gaussian2d(0.5, 0.5, 1.0, 0.2, 1.0);
  Sink sink;
  LiveSampler live(sink.on_result(), sink.on_error());
  LiveRequest r = request(base, aux, 1.0);
  r.sampler.steps = 32;
  r.guidance.lo = 0.1;
  r.guidance.hi = 2.0;
  REQUIRE(sink.wait_for_stamp(live.submit(r)));
  CHECK(sink.results.back()->reused_steps == 0);

  const int first = first_guided_step(r.sampler, r.guidance);
  REQUIRE(first > 5);
  for (double omega : {2.5, -0.5, 0.0, 3.0}) {
    r.guidance.omega = omega;
    REQUIRE(sink.wait_for_stamp(live.submit(r)));
    const LiveResult& res = *sink.results.back();
    CHECK(res.reused_steps >= first);
    SampleOptions o;
    o.seed = r.seed;
    o.record_trajectory = true;
    SampleResult full = EdmSampler(base, aux, r.sampler, r.guidance).sample(seeded_noise(r.n, {2}, r.seed), o);
    CHECK(max_abs_diff(res.x, full.x) == 0.0);
    REQUIRE(res.trajectory.states.size() == full.trajectory.states.size());
    CHECK(max_abs_diff(res.trajectory.stacked_states(), full.trajectory.stacked_states()) == 0.0);
    CHECK(max_abs_diff(res.trajectory.stacked_denoised(), full.trajectory.stacked_denoised()) == 0.0);
  }
  // A wider interval reaches further back: the old prefix is reused only up
  // to the new first guided step, and the result is still exact.
  r.guidance.omega = 1.0;
  r.guidance.hi = 20.0;
  REQUIRE(sink.wait_for_stamp(live.submit(r)));
  const LiveResult& wide = *sink.results.back();
  CHECK(wide.reused_steps == first_guided_step(r.sampler, r.guidance));
  SampleOptions o;
  o.seed = r.seed;
  SampleResult full = EdmSampler(base, aux, r.sampler, r.guidance).sample(seeded_noise(r.n, {2}, r.seed), o);
  CHECK(max_abs_diff(wide.x, full.x) == 0.0);

  // Churn noise is drawn per step from the seed, so reuse stays exact with churn too.
  r.sampler.churn = 20;
  r.guidance.omega = 0.5;
  REQUIRE(sink.wait_for_stamp(live.submit(r)));
  r.guidance.omega = 1.5;
  REQUIRE(sink.wait_for_stamp(live.submit(r)));
  CHECK(sink.results.back()->reused_steps > 0);
  full = EdmSampler(base, aux, r.sampler, r.guidance).sample(seeded_noise(r.n, {2}, r.seed), o);
  CHECK(max_abs_diff(sink.results.back()->x, full.x) == 0.0);
}

TEST_CASE("latest wins: a newer request cancels the run in flight and stale results are dropped", "[engine]") {
  auto slow = std::make_shared<SlowDenoiser>(gaussian2d(0.0, 0.0, 1.0, 0.0, 1.0), 3);
  auto aux = gaussian2d(0.2, 0.0, 1.0, 0.0, 1.0);
  Sink sink;
  LiveSampler live(sink.on_result(), sink.on_error());
  LiveRequest r = request(slow, aux, 0.5);
  r.sampler.steps = 32;  // 63 slow calls: ~0.2 s per run
  const uint64_t first = live.submit(r);
  while (slow->calls < 3) std::this_thread::sleep_for(1ms);  // in flight
  // A burst while it runs: only the last can be published.
  uint64_t last = 0;
  for (int i = 0; i < 20; ++i) {
    r.guidance.omega = 0.1 * i;
    r.seed = 100 + i;  // a new seed: no prefix to reuse
    last = live.submit(r);
  }
  REQUIRE(sink.wait_for_stamp(last));
  while (!live.idle()) std::this_thread::sleep_for(1ms);
  LiveStats st = live.stats();
  std::lock_guard<std::mutex> lk(sink.mu);
  REQUIRE(sink.results.size() == 1);
  CHECK(sink.results[0]->stamp == last);
  CHECK(sink.results[0]->request.seed == 119);
  CHECK(sink.results[0]->stamp > first);
  CHECK(st.submitted == 21);
  CHECK(st.cancelled >= 1);   // the first run stopped mid-way
  CHECK(st.superseded >= 15); // most of the burst never started
  CHECK(st.published == 1);
  // The cancelled run stopped early instead of finishing its 63 evaluations.
  CHECK(slow->calls < 2 * 63);
  CHECK(sink.errors.empty());
}

TEST_CASE("cancel() stops the run in flight and publishes nothing", "[engine]") {
  auto slow = std::make_shared<SlowDenoiser>(gaussian2d(0.0, 0.0, 1.0, 0.0, 1.0), 3);
  Sink sink;
  LiveSampler live(sink.on_result(), sink.on_error());
  LiveRequest r = request(slow, nullptr, 0.0);
  r.sampler.steps = 64;
  live.submit(r);
  while (slow->calls < 2) std::this_thread::sleep_for(1ms);
  live.cancel();
  while (!live.idle()) std::this_thread::sleep_for(1ms);
  CHECK(live.stats().cancelled == 1);
  CHECK(slow->calls < 20);
  std::lock_guard<std::mutex> lk(sink.mu);
  CHECK(sink.results.empty());
  CHECK(sink.errors.empty());
}

TEST_CASE("preview requests use the first rows of the same noise", "[engine]") {
  auto base = gaussian2d(0.0, 0.0, 2.0, 1.0, 2.0);
  Sink sink;
  LiveSampler live(sink.on_result(), sink.on_error());
  LiveRequest r = request(base, nullptr, 0.0);
  r.n = 500;
  r.preview = true;
  r.preview_points = 50;
  r.record_trajectory = false;
  REQUIRE(sink.wait_for_stamp(live.submit(r)));
  LiveResultPtr prev = sink.results.back();
  r.preview = false;
  REQUIRE(sink.wait_for_stamp(live.submit(r)));
  LiveResultPtr full = sink.results.back();
  REQUIRE(prev->x.size(0) == 50);
  REQUIRE(full->x.size(0) == 500);
  CHECK(prev->trajectory.states.empty());
  // Rows are independent for an analytic model: the preview is the full run's head.
  CHECK(max_abs_diff(prev->x, full->x.narrow(0, 0, 50)) < 1e-12);
}

TEST_CASE("live sampling errors are reported, not thrown", "[engine]") {
  auto base = gaussian2d(0.0, 0.0, 1.0, 0.0, 1.0);
  Sink sink;
  LiveSampler live(sink.on_result(), sink.on_error());
  LiveRequest none = request(nullptr, nullptr, 0.0);
  const uint64_t a = live.submit(none);
  REQUIRE(sink.wait_for_stamp(a));
  LiveRequest bad = request(base, nullptr, 0.0);
  bad.sampler.steps = 0;
  const uint64_t b = live.submit(bad);
  REQUIRE(sink.wait_for_stamp(b));
  // Still alive afterwards.
  const uint64_t c = live.submit(request(base, nullptr, 0.0));
  REQUIRE(sink.wait_for_stamp(c));
  std::lock_guard<std::mutex> lk(sink.mu);
  REQUIRE(sink.errors.size() == 2);
  CHECK(sink.errors[0].first == a);
  CHECK(sink.errors[0].second.find("base model") != std::string::npos);
  CHECK(sink.errors[1].first == b);
  CHECK(live.stats().failed == 2);
  REQUIRE(sink.results.size() == 1);
  CHECK(sink.results[0]->stamp == c);
}

TEST_CASE("a refined request publishes a preview and then the full result under one stamp", "[engine]") {
  auto base = gaussian2d(0.0, 0.0, 2.0, 1.0, 2.0);
  auto aux = gaussian2d(0.3, -0.2, 1.5, 0.5, 1.5);
  Sink sink;
  LiveSampler live(sink.on_result(), sink.on_error());
  LiveRequest r = request(base, aux, 1.0);
  r.n = 200;
  r.refine = true;
  r.preview_points = 20;
  r.preview_steps = 6;
  r.block_rows = 7;  // blocks change nothing for rows that are independent
  const uint64_t s = live.submit(r);
  REQUIRE(sink.wait_for_stamp(s));
  while (!live.idle()) std::this_thread::sleep_for(1ms);
  std::lock_guard<std::mutex> lk(sink.mu);
  REQUIRE(sink.results.size() == 2);
  const LiveResult& pre = *sink.results[0];
  const LiveResult& full = *sink.results[1];
  CHECK(pre.stamp == s);
  CHECK(full.stamp == s);
  CHECK(pre.request.preview);
  CHECK(pre.refining);
  CHECK(pre.x.size(0) == 20);
  CHECK(pre.trajectory.states.size() == 7);  // 6 steps
  CHECK_FALSE(full.request.preview);
  CHECK_FALSE(full.refining);
  REQUIRE(full.x.size(0) == 200);
  SampleOptions o;
  o.seed = r.seed;
  const at::Tensor direct = EdmSampler(base, aux, r.sampler, r.guidance).sample(seeded_noise(200, {2}, r.seed), o).x;
  CHECK(max_abs_diff(full.x, direct) < 1e-12);
  SamplerConfig few = r.sampler;
  few.steps = 6;
  const at::Tensor quick = EdmSampler(base, aux, few, r.guidance).sample(seeded_noise(200, {2}, r.seed).narrow(0, 0, 20), o).x;
  CHECK(max_abs_diff(pre.x, quick) < 1e-12);
  CHECK(live.stats().published == 2);
}

TEST_CASE("a newer request stops a long network call between row blocks", "[engine]") {
  auto slow = std::make_shared<SlowDenoiser>(gaussian2d(0.0, 0.0, 1.0, 0.0, 1.0), 15);
  Sink sink;
  LiveSampler live(sink.on_result(), sink.on_error());
  LiveRequest r = request(slow, nullptr, 0.0);
  r.n = 64;
  r.block_rows = 8;  // 8 calls of 15 ms per network evaluation
  live.submit(r);
  while (slow->calls < 2) std::this_thread::sleep_for(1ms);
  live.cancel();
  while (!live.idle()) std::this_thread::sleep_for(1ms);
  CHECK(live.stats().cancelled == 1);
  CHECK(slow->calls < 8);  // stopped inside the first evaluation
  std::lock_guard<std::mutex> lk(sink.mu);
  CHECK(sink.results.empty());
}

TEST_CASE("paired difference: displacements of points and mean |delta| of images, with a t interval", "[engine]") {
  // Points moved by (3, 4): every displacement is 5 long, so the interval has no width.
  const at::Tensor p = at::randn({50, 2}, at::TensorOptions().dtype(at::kFloat));
  const at::Tensor q = p + at::tensor({3.0f, 4.0f});
  const engine::PairedDifference d = engine::paired_difference(q, p);
  CHECK(d.mean_abs.value == Approx(5.0).epsilon(1e-6));
  CHECK(d.mean_abs.hi - d.mean_abs.lo == Approx(0.0).margin(1e-5));
  CHECK(d.pairs == 50);
  CHECK(at::allclose(d.delta.select(1, 0), at::full({50}, 3.0f), 1e-5, 1e-5));
  // Images: image i differs by i / 10 in every pixel, so the mean |delta| is the mean of i / 10 over the images,
  // and the interval is mean ± t * sd / sqrt(n) of those values.
  const int64_t n = 8;
  const at::Tensor a = at::zeros({n, 3, 4, 4});
  const at::Tensor b = a + at::arange(n, at::kFloat).div(10).view({n, 1, 1, 1});
  const engine::PairedDifference e = engine::paired_difference(a, b);
  CHECK(e.mean_abs.value == Approx(0.35).epsilon(1e-6));
  const double sd = std::sqrt(0.06);  // sample sd of 0, 0.1, ..., 0.7
  CHECK(e.mean_abs.hi - e.mean_abs.value == Approx(2.364624 * sd / std::sqrt(8.0)).epsilon(1e-4));
  CHECK(e.delta.min().item<float>() == Approx(-0.7f));
  // A diverged pair is left out and not counted.
  at::Tensor q2 = q.clone();
  q2[3][0] = std::numeric_limits<float>::infinity();
  const engine::PairedDifference f = engine::paired_difference(q2, p);
  CHECK(f.pairs == 49);
  CHECK(f.mean_abs.value == Approx(5.0).epsilon(1e-6));
  // Not paired: another count or shape.
  CHECK_THROWS_AS(engine::paired_difference(p, p.narrow(0, 0, 10)), InputError);
  CHECK_THROWS_AS(engine::paired_difference(a, at::zeros({n, 1, 4, 4})), InputError);
}
