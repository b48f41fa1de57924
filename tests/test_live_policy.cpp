// The live view's request/refine policy (engine/live_policy), driven without a
// GUI or a worker: user events and hand-made results go in, the requests it
// submits (recorded) and the status it shows come out.
#include <memory>
#include <vector>

#include <catch2/catch.hpp>

#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <c10/core/InferenceMode.h>

#include "common/error.hpp"
#include "diffusion/analytic.hpp"
#include "engine/live_policy.hpp"

#include "helpers.hpp"

using namespace sims;
using namespace sims::engine;

namespace {

// A model that only has a sample shape: the policy never evaluates it.
class ShapeOnly final : public Denoiser {
 public:
  explicit ShapeOnly(std::vector<int64_t> shape) { info_.sample_shape = std::move(shape); }
  at::Tensor denoise(const at::Tensor& x, const at::Tensor&) override { return x; }
  const ModelInfo& info() const override { return info_; }

 private:
  ModelInfo info_;
};

// Records what the policy submits; stamps count up like the LiveSampler's.
struct Recorder final : LiveTarget {
  std::vector<LiveRequest> sent;
  uint64_t stamp = 0;
  int cancels = 0;
  uint64_t submit(LiveRequest r) override {
    r.stamp = ++stamp;
    sent.push_back(std::move(r));
    return stamp;
  }
  void cancel() override {
    ++stamp;
    ++cancels;
  }
  uint64_t latest_stamp() const override { return stamp; }
  const LiveRequest& last() const { return sent.back(); }
};

LiveSettings points_settings(double omega = 1.0) {
  static auto base = std::make_shared<ShapeOnly>(std::vector<int64_t>{2});
  static auto aux = std::make_shared<ShapeOnly>(std::vector<int64_t>{2});
  LiveSettings s;
  s.base = base;
  s.aux = aux;
  s.omega = omega;
  s.sampler.steps = 32;
  s.points = 2000;
  return s;
}

LiveSettings image_settings(double omega = 1.0) {
  static auto base = std::make_shared<ShapeOnly>(std::vector<int64_t>{3, 8, 8});
  static auto aux = std::make_shared<ShapeOnly>(std::vector<int64_t>{3, 8, 8});
  LiveSettings s = points_settings(omega);
  s.base = base;
  s.aux = aux;
  return s;
}

// What the worker would publish for request q (its preview stage when q is
// refined and preview_stage is set).
LiveResultPtr result_for(const LiveRequest& q, double seconds = 0.05, int nfe = 63, bool preview_stage = false,
                         int reused = 0) {
  auto r = std::make_shared<LiveResult>();
  r->request = preview_stage ? q.preview_stage() : q;
  r->stamp = q.stamp;
  std::vector<int64_t> shape{r->request.rows()};
  for (int64_t d : q.base->info().sample_shape) shape.push_back(d);
  r->x = at::zeros(shape, at::kDouble);
  r->refining = preview_stage && q.refine;
  r->nfe = nfe;
  r->compute_seconds = seconds;
  r->reused_steps = reused;
  return r;
}

}  // namespace

TEST_CASE("dragging sends cheap previews of the same noise, one at a time", "[live_policy]") {
  Recorder rec;
  LivePolicy p(rec);
  p.drag(points_settings(0.8));
  REQUIRE(rec.sent.size() == 1);
  const LiveRequest& q = rec.last();
  CHECK(q.preview);
  CHECK_FALSE(q.refine);
  CHECK(q.n == 2000);
  CHECK(q.rows() == 400);
  CHECK(q.run_config().steps == 32);  // 2D previews keep the steps (the unguided prefix is reused)
  CHECK(q.guidance.omega == 0.8);
  CHECK(q.compare_base);
  CHECK(p.status().busy);
  CHECK(p.status().label() == "previewing…");

  // Moves while the preview runs are not sent one by one...
  p.drag(points_settings(0.9));
  p.drag(points_settings(1.1));
  CHECK(rec.sent.size() == 1);
  // ... but as one preview of the newest settings when it is shown.
  const LiveReaction shown = p.result(result_for(rec.sent[0]));
  CHECK(shown.shown);
  REQUIRE(rec.sent.size() == 2);
  CHECK(rec.last().preview);
  CHECK(rec.last().guidance.omega == 1.1);
}

TEST_CASE("a preview shown while the control is held still starts the full run, the release does not restart it",
          "[live_policy]") {
  Recorder rec;
  LivePolicy p(rec);
  p.drag(points_settings(0.8));
  p.result(result_for(rec.sent[0]));
  REQUIRE(rec.sent.size() == 2);
  CHECK(p.shown()->request.preview);  // shown, and its full run already started
  CHECK(p.status().line == "sampling…");
  CHECK(p.status().busy);
  CHECK_FALSE(rec.last().preview);
  CHECK(rec.last().n == 2000);
  CHECK(rec.last().guidance.omega == 0.8);
  p.commit(points_settings(0.8));
  CHECK(rec.sent.size() == 2);  // in flight: not restarted
  p.result(result_for(rec.sent[1]));
  CHECK(p.shown()->stamp == rec.sent[1].stamp);
  CHECK_FALSE(p.status().busy);
  CHECK(p.status().headline == "full quality");
}

TEST_CASE("the release sends one full request", "[live_policy]") {
  Recorder rec;
  LivePolicy p(rec);
  p.drag(points_settings(0.8));
  p.drag(points_settings(1.2));  // wanted, but the release comes first
  p.commit(points_settings(1.3));
  REQUIRE(rec.sent.size() == 2);
  const LiveRequest& full = rec.last();
  CHECK_FALSE(full.preview);
  CHECK(full.rows() == 2000);
  CHECK(full.guidance.omega == 1.3);
  CHECK_FALSE(p.holding());
  CHECK(p.status().busy);
  // The superseded preview's result (if the worker had published it) brings no new request.
  p.result(result_for(rec.sent[0]));
  CHECK(rec.sent.size() == 2);
  p.result(result_for(full));
  CHECK(p.shown()->stamp == full.stamp);
  CHECK(p.status().label() == "full quality · 2000 points · 32 steps · 50 ms");
}

TEST_CASE("an identical full request in flight or shown is not resubmitted", "[live_policy]") {
  Recorder rec;
  LivePolicy p(rec);
  p.commit(points_settings(1.0));
  REQUIRE(rec.sent.size() == 1);
  p.commit(points_settings(1.0));
  CHECK(rec.sent.size() == 1);  // in flight
  p.result(result_for(rec.sent[0]));
  const LiveReaction again = p.commit(points_settings(1.0));
  CHECK(rec.sent.size() == 1);  // shown
  CHECK(again.status);
  CHECK_FALSE(p.status().busy);
  CHECK(p.status().headline == "full quality");

  SECTION("any change of the full request is sent") {
    LiveSettings s = points_settings(1.0);
    s.seed = 7;
    p.commit(s);
    REQUIRE(rec.sent.size() == 2);
    CHECK(rec.last().seed == 7);
    s.compare = false;
    p.commit(s);
    REQUIRE(rec.sent.size() == 3);
    CHECK_FALSE(rec.last().compare_base);
    s.sampler.kind = SamplerKind::Euler;
    p.commit(s);
    CHECK(rec.sent.size() == 4);
  }
  SECTION("after Stop the same request runs again") {
    p.stop();
    CHECK(rec.cancels == 1);
    p.commit(points_settings(1.0));
    CHECK(rec.sent.size() == 2);
  }
  SECTION("after an error the same request runs again") {
    p.commit(points_settings(2.0));
    REQUIRE(rec.sent.size() == 2);
    p.error(rec.last().stamp);
    CHECK(p.status().line == "sampling failed");
    CHECK_FALSE(p.status().busy);
    p.commit(points_settings(2.0));
    CHECK(rec.sent.size() == 3);
  }
  SECTION("a newer request in between makes it new again") {
    p.commit(points_settings(2.0));
    p.commit(points_settings(1.0));
    CHECK(rec.sent.size() == 3);
  }
}

TEST_CASE("results older than the one shown are ignored", "[live_policy]") {
  Recorder rec;
  LivePolicy p(rec);
  p.commit(points_settings(1.0));
  p.commit(points_settings(2.0));
  REQUIRE(rec.sent.size() == 2);
  CHECK(p.result(result_for(rec.sent[1])).shown);
  const LiveReaction stale = p.result(result_for(rec.sent[0]));
  CHECK_FALSE(stale.shown);
  CHECK_FALSE(stale.status);
  CHECK(p.shown()->stamp == rec.sent[1].stamp);
  CHECK(p.shown()->request.guidance.omega == 2.0);
  // The same result twice is not shown twice.
  CHECK_FALSE(p.result(result_for(rec.sent[1])).shown);
}

TEST_CASE("image models: 4 images with 8 Heun steps first, then the full grid under the same stamp", "[live_policy]") {
  Recorder rec;
  LivePolicy p(rec);
  p.commit(image_settings(1.0));
  REQUIRE(rec.sent.size() == 1);
  const LiveRequest q = rec.last();
  CHECK_FALSE(q.preview);
  CHECK(q.refine);
  CHECK(q.n == 36);  // a grid, not 2000 images
  CHECK(q.block_rows == 4);
  CHECK(q.preview_stage().rows() == 4);
  CHECK(q.preview_stage().run_config().steps == 8);
  CHECK(q.run_config().steps == 32);
  CHECK(p.status().label() == "sampling: a quick preview first, then the full grid…");

  CHECK(p.result(result_for(q, 0.2, 30, true)).shown);
  CHECK(p.shown()->request.preview);
  CHECK(p.status().label() == "preview · 4 of 36 images · 8 steps — computing the full result…");
  CHECK(p.status().busy);
  CHECK(labels_of(*p.shown()).footer.rfind("preview · 4 images", 0) == 0);

  CHECK(p.result(result_for(q, 1.5, 126)).shown);
  CHECK_FALSE(p.shown()->request.preview);
  CHECK(p.status().label() == "full quality · 36 images · 32 steps · 1500 ms");
  CHECK_FALSE(p.status().busy);
  // A late copy of the preview does not replace its refinement.
  CHECK_FALSE(p.result(result_for(q, 0.2, 30, true)).shown);
  CHECK_FALSE(p.shown()->request.preview);

  SECTION("a drag previews without refining, and a held image preview waits for the release") {
    p.drag(image_settings(1.5));
    REQUIRE(rec.sent.size() == 2);
    CHECK(rec.last().preview);
    CHECK_FALSE(rec.last().refine);
    CHECK(rec.last().rows() == 4);
    CHECK(rec.last().run_config().steps <= 8);
    p.result(result_for(rec.last(), 0.05, 30));
    CHECK(rec.sent.size() == 2);  // no full grid while held
    p.commit(image_settings(1.5));
    REQUIRE(rec.sent.size() == 3);
    CHECK(rec.last().refine);
  }
}

TEST_CASE("slow machines get fewer preview steps for image models, never under 4", "[live_policy]") {
  Recorder rec;
  LivePolicy p(rec);
  CHECK(p.image_preview_steps() == 8);  // nothing measured yet
  p.commit(image_settings(1.0));
  // 36 images x 126 evaluations in 27.216 s: 0.006 s per image and evaluation;
  // N = (0.6 + 2·0.006·4) / (4·0.006·4) = 6.75 -> 6 Heun steps.
  p.result(result_for(rec.last(), 27.216, 126));
  CHECK(p.image_eval_seconds() == Approx(0.006));
  CHECK(p.image_preview_steps() == 6);
  p.commit(image_settings(1.5));
  CHECK(rec.last().preview_stage().run_config().steps == 6);
  p.drag(image_settings(1.6));
  CHECK(rec.last().run_config().steps == 6);

  SECTION("very slow: the floor") {
    p.commit(image_settings(2.0));
    p.result(result_for(rec.last(), 36 * 126 * 2.0, 126));  // 2 s per image and evaluation
    CHECK(p.image_eval_seconds() == Approx(0.5 * (0.006 + 2.0)));
    CHECK(p.image_preview_steps() == 4);
    p.commit(image_settings(2.5));
    CHECK(rec.last().preview_stage().run_config().steps == 4);
  }
  SECTION("fast: the ceiling") {
    for (int i = 0; i < 12; ++i) {
      p.commit(image_settings(2.0 + i * 0.01));
      p.result(result_for(rec.last(), 1e-6, 126));
    }
    CHECK(p.image_preview_steps() == 8);
  }
  SECTION("runs that reused steps, and 2D runs, are not timed") {
    p.commit(image_settings(2.0));
    p.result(result_for(rec.last(), 1000.0, 126, false, 10));
    p.commit(points_settings(2.0));
    p.result(result_for(rec.last(), 1000.0, 126));
    CHECK(p.image_eval_seconds() == Approx(0.006));
  }
  SECTION("other models forget the timing") {
    p.models_changed(image_settings(1.0));
    CHECK(p.image_eval_seconds() == 0);
    CHECK(p.shown() == nullptr);
    CHECK(rec.last().preview_stage().run_config().steps == 8);
  }
}

TEST_CASE("Stop cancels and keeps the last result, no base model cancels too", "[live_policy]") {
  Recorder rec;
  LivePolicy p(rec);
  p.commit(points_settings(1.0));
  p.result(result_for(rec.last()));
  p.drag(points_settings(1.5));
  const LiveReaction r = p.stop();
  CHECK(r.status);
  CHECK(rec.cancels == 1);
  CHECK_FALSE(p.status().busy);
  CHECK(p.status().label() == "stopped · showing the last result");
  REQUIRE(p.shown());
  CHECK(p.shown()->request.guidance.omega == 1.0);
  // The preview slot is free again: the next move sends a preview at once.
  p.drag(points_settings(1.6));
  CHECK(rec.last().preview);
  CHECK(rec.last().guidance.omega == 1.6);

  LiveSettings none = points_settings(1.0);
  none.base = nullptr;
  const size_t sent = rec.sent.size();
  const LiveReaction n = p.models_changed(none);
  CHECK(n.shown);
  CHECK(p.shown() == nullptr);
  CHECK(rec.sent.size() == sent);
  CHECK(rec.cancels == 2);
  CHECK(p.status().line == "no base model");
}

TEST_CASE("requests follow the models: an auxiliary of another shape is not used", "[live_policy]") {
  Recorder rec;
  LivePolicy p(rec);
  LiveSettings s = points_settings(1.5);
  s.aux = std::make_shared<ShapeOnly>(std::vector<int64_t>{3});
  const LiveRequest q = p.build(s, false);
  CHECK(q.aux == nullptr);
  CHECK(q.guidance.omega == 0.0);
  CHECK_FALSE(q.compare_base);
  s.aux = nullptr;
  CHECK(p.build(s, false).guidance.omega == 0.0);
}

TEST_CASE("result labels say preview or final with sizes", "[live_policy]") {
  Recorder rec;
  LivePolicy p(rec);
  p.drag(points_settings(1.0));
  const LiveResultLabels l = labels_of(*result_for(rec.last(), 0.012, 63));
  CHECK(l.noun == "points");
  CHECK(l.quality == "preview");
  CHECK(l.note == "preview (400 of 2000 points, 32 steps)");
  CHECK(l.footer == "preview · 400 points · NFE 63 · 12 ms");
  p.commit(points_settings(1.0));
  auto r = result_for(rec.last(), 0.0414, 63, false, 5);
  p.result(r);
  CHECK(labels_of(*r).note.empty());
  CHECK(labels_of(*r).footer == "full quality · 2000 points · NFE 63 · 41 ms");
  CHECK(p.status().line == "2000 points × 32 steps · 41 ms (5 steps reused) · NFE 63");
  CHECK(p.status().label() == "full quality · 2000 points · 32 steps · 41 ms");
}

// [SECTION] Shared by the faces: the guidance field, session files, any two omegas --------------

namespace fs = std::filesystem;

namespace {

DenoiserPtr gaussian2d(double mx, double my, double var) {
  GaussianComponent c;
  c.mean = at::tensor({mx, my}, at::kDouble);
  c.cov = at::eye(2, at::kDouble) * var;
  return std::make_shared<AnalyticDenoiser>(std::vector<GaussianComponent>{c});
}

}  // namespace

TEST_CASE("the guidance field is omega (D_base - D_aux) / sigma^2, zero outside the interval", "[live_policy]") {
  // Two isotropic Gaussians N(m, v I): D(x; s) = m + v / (v + s^2) (x - m).
  const double v = 1.0, s = 0.7, w = 2.0;
  auto base = gaussian2d(0, 0, v), aux = gaussian2d(1, -0.5, v);
  const at::Tensor f = guidance_field(*base, *aux, Guidance{w, 0.0, 10.0}, s, -2, 2, -1, 1, 8, 4);
  REQUIRE(f.sizes() == at::IntArrayRef({32, 4}));
  const double k = s * s / (v + s * s);  // D_b - D_a = (m_b - m_a) * (1 - v / (v + s^2))
  for (int64_t i = 0; i < 32; ++i) {
    CHECK(f[i][2].item<double>() == Approx(w * (0 - 1) * k / (s * s)).margin(1e-9));
    CHECK(f[i][3].item<double>() == Approx(w * (0 + 0.5) * k / (s * s)).margin(1e-9));
  }
  CHECK(f[0][0].item<double>() == Approx(-1.75));  // cell centres, row by row from y0
  CHECK(f[0][1].item<double>() == Approx(-0.75));
  CHECK(f[8][1].item<double>() == Approx(-0.25));
  const at::Tensor off = guidance_field(*base, *aux, Guidance{w, 1.0, 10.0}, s, -2, 2, -1, 1, 8, 4);
  CHECK(off.slice(1, 2, 4).abs().max().item<double>() == 0);
  CHECK_THROWS_AS(guidance_field(*base, *aux, Guidance{w, 0, 1}, s, 2, -2, -1, 1, 8, 4), InputError);
}

TEST_CASE("session files round trip and bad ones are refused with the reason", "[live_policy]") {
  const sims::test::TempDir tmp;  // this process's own: CTest runs test binaries side by side
  const fs::path dir = tmp.path;
  LiveSession s;
  s.base = "b.ckpt";
  s.aux = (dir / "a.ckpt").string();
  s.omega = 0.75, s.lo = 0.1, s.hi = 5, s.steps = 24, s.sampler = SamplerKind::Euler, s.seed = 12345, s.points = 5000;
  s.compare = false, s.denoised = true, s.trails = true, s.tab = "live";
  {
    std::ofstream(dir / "s.simsession") << live_session_text(s);
  }
  const LiveSession r = read_live_session((dir / "s.simsession").string(), LiveSession{});
  CHECK(r.base == (dir / "b.ckpt").string());  // relative to the session's folder
  CHECK(r.aux == s.aux);
  CHECK(r.omega == 0.75);
  CHECK(r.lo == 0.1);
  CHECK(r.hi == 5);
  CHECK(r.steps == 24);
  CHECK(r.sampler == SamplerKind::Euler);
  CHECK(r.seed == 12345);
  CHECK(r.points == 5000);
  CHECK_FALSE(r.compare);
  CHECK(r.denoised);
  CHECK(r.trails);
  auto refused = [&](const std::string& text) {
    std::ofstream(dir / "bad.simsession") << text;
    try {
      read_live_session((dir / "bad.simsession").string(), LiveSession{});
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(refused("{") .find("not valid JSON") != std::string::npos);
  CHECK(refused(R"({"format":"x","version":1})").find("not a SIMS Studio session") != std::string::npos);
  CHECK(refused(R"({"format":"sims-studio-session","version":1,"models":{"base":"b"},"guidance":{"omega":9}})")
            .find("\"omega\" must be a number in [-1, 3]") != std::string::npos);
  CHECK(refused(R"({"format":"sims-studio-session","version":1,"models":{"base":"b"},"guidance":{"lo":2,"hi":1}})")
            .find("lo < hi") != std::string::npos);
  CHECK(refused(R"({"format":"sims-studio-session","version":1,"models":{}})").find("no base model") != std::string::npos);
}

TEST_CASE("any two omegas side by side: the left panel is the guided run at its omega, same noise", "[live_policy]") {
  c10::InferenceMode guard;
  auto base = gaussian2d(0, 0, 1), aux = gaussian2d(0.6, 0.2, 0.8);
  std::mutex mu;
  std::vector<LiveResultPtr> got;
  LiveSampler sampler([&](LiveResultPtr r) {
    std::lock_guard<std::mutex> lock(mu);
    got.push_back(r);
  });
  auto run = [&](LiveRequest r) {
    const uint64_t stamp = sampler.submit(r);
    for (int i = 0; i < 2000; ++i) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!got.empty() && got.back()->stamp == stamp) return got.back();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return LiveResultPtr();
  };
  LiveRequest q;
  q.base = base, q.aux = aux, q.n = 300, q.seed = 7;
  q.sampler.steps = 12;
  q.guidance.omega = 1.0;
  q.compare_base = true;
  q.compare_omega = 0.5;
  const auto both = run(q);
  REQUIRE(both);
  LiveRequest single = q;
  single.compare_base = false, single.compare_omega = 0, single.guidance.omega = 0.5;
  const auto half = run(single);
  REQUIRE(half);
  CHECK(at::allclose(both->base_x, half->x, 1e-9, 1e-9));
  CHECK_FALSE(at::allclose(both->x, half->x, 1e-3, 1e-3));  // the right panel stays at omega 1
  CHECK(both->base_trajectory.states.size() == 13);
}
