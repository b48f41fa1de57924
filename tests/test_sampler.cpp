// The EDM sampler against closed forms and invariances.
#include <atomic>
#include <cmath>

#include <catch2/catch.hpp>

#include "common/error.hpp"
#include "helpers.hpp"
#include "sampling/edm_sampler.hpp"

using namespace sims;
using sims::test::gaussian2d;
using sims::test::max_abs_diff;

TEST_CASE("time steps follow the published EDM discretisation", "[sampler]") {
  SamplerConfig c;  // N=18, 0.002..80, rho 7
  auto t = edm_time_steps(c);
  REQUIRE(t.size() == 19);
  // Reference values computed independently with numpy.
  CHECK(t[0] == Approx(80.0).epsilon(1e-14));
  CHECK(t[1] == Approx(57.58598472).epsilon(1e-9));
  CHECK(t[2] == Approx(40.7855738).epsilon(1e-9));
  CHECK(t[3] == Approx(28.3745846).epsilon(1e-9));
  CHECK(t[16] == Approx(0.00752802).epsilon(1e-6));
  CHECK(t[17] == Approx(0.002).epsilon(1e-12));
  CHECK(t[18] == 0.0);
}

TEST_CASE("NFE accounting matches the paper's count", "[sampler]") {
  SamplerConfig c;
  Guidance g;
  CHECK(nfe_per_sample(c, g, false) == 35);
  CHECK(nfe_per_sample(c, g, true) == 70);  // Table 1 of the SIMS paper
  g.lo = 1e9;
  g.hi = 1e9;
  CHECK(nfe_per_sample(c, g, true) == 35);  // empty interval: base only
  c.kind = SamplerKind::Euler;
  CHECK(nfe_per_sample(c, Guidance{}, true) == 36);
}

TEST_CASE("one Heun step and the final Euler step equal the formulas", "[sampler]") {
  // 1D-like check in 2D with an isotropic Gaussian: D(x; s) = m + v/(v+s^2) (x - m).
  const double v = 1.7, m = 0.3;
  auto model = gaussian2d(m, m, v, 0.0, v);
  SamplerConfig c;
  c.steps = 2;
  c.sigma_min = 0.5;
  c.sigma_max = 3.0;
  EdmSampler s(model, nullptr, c, Guidance{});
  at::Tensor noise = at::tensor({0.7, -1.2}, at::kDouble).reshape({1, 2});
  SampleResult r = s.sample(noise, {});
  auto D = [&](double x, double sg) { return m + v / (v + sg * sg) * (x - m); };
  for (int k = 0; k < 2; ++k) {
    const double t0 = 3.0, t1 = 0.5;
    double x = noise[0][k].item<double>() * t0;
    // Heun step 0 -> 1
    double d = (x - D(x, t0)) / t0;
    double xn = x + (t1 - t0) * d;
    double d2 = (xn - D(xn, t1)) / t1;
    x = x + (t1 - t0) * (0.5 * d + 0.5 * d2);
    // Last step: Euler to t = 0
    d = (x - D(x, t1)) / t1;
    x = x + (0.0 - t1) * d;
    CHECK(r.x[0][k].item<double>() == Approx(x).epsilon(1e-13));
  }
  CHECK(r.nfe == 3);
}

TEST_CASE("exact Gaussian denoiser: samples have the data's mean and covariance", "[sampler]") {
  // The SIMS paper's p_r = N([0,0], [[2,1],[1,2]]), shifted to test the mean too.
  auto model = gaussian2d(1.0, -2.0, 2.0, 1.0, 2.0);
  SamplerConfig c;
  c.steps = 32;
  EdmSampler s(model, nullptr, c, Guidance{});
  const int64_t n = 20000;
  SampleResult r = s.sample(seeded_noise(n, {2}, 7), {});
  at::Tensor x = r.x;
  at::Tensor mean = x.mean(0);
  at::Tensor xc = x - mean;
  at::Tensor cov = at::matmul(xc.t(), xc) / (n - 1);
  // Sampling error of the mean ~ sqrt(2/20000) = 0.01; of the covariance ~ 0.02-0.03.
  CHECK(mean[0].item<double>() == Approx(1.0).margin(0.04));
  CHECK(mean[1].item<double>() == Approx(-2.0).margin(0.04));
  CHECK(cov[0][0].item<double>() == Approx(2.0).margin(0.1));
  CHECK(cov[1][1].item<double>() == Approx(2.0).margin(0.1));
  CHECK(cov[0][1].item<double>() == Approx(1.0).margin(0.08));
  // An untrained "model" (the wrong Gaussian) must fail the same check.
  auto wrong = gaussian2d(0.0, 0.0, 1.0, 0.0, 1.0);
  EdmSampler s2(wrong, nullptr, c, Guidance{});
  at::Tensor y = s2.sample(seeded_noise(n, {2}, 7), {}).x;
  CHECK(std::abs(y.mean(0)[0].item<double>() - 1.0) > 0.5);
}

TEST_CASE("Gaussian mixture denoiser reproduces the mixture", "[sampler]") {
  std::vector<GaussianComponent> comps;
  for (double cx : {-3.0, 3.0})
    comps.push_back({at::tensor({cx, 0.0}, at::kDouble), at::eye(2, at::kDouble) * 0.1, cx < 0 ? 0.25 : 0.75});
  auto model = std::make_shared<AnalyticDenoiser>(comps);
  SamplerConfig c;
  c.steps = 40;
  EdmSampler s(model, nullptr, c, Guidance{});
  at::Tensor x = s.sample(seeded_noise(8000, {2}, 3), {}).x;
  const double right = (x.select(1, 0) > 0).to(at::kDouble).mean().item<double>();
  CHECK(right == Approx(0.75).margin(0.03));
  at::Tensor near = ((x.select(1, 0).abs() - 3.0).abs() < 1.2);
  CHECK(near.to(at::kDouble).mean().item<double>() > 0.99);
}

TEST_CASE("guidance invariances", "[sampler]") {
  auto base = gaussian2d(0.0, 0.0, 2.0, 1.0, 2.0);
  auto aux = gaussian2d(0.5, 0.0, 1.0, 0.0, 1.0);
  at::Tensor noise = seeded_noise(256, {2}, 11);
  SamplerConfig c;
  const at::Tensor plain = EdmSampler(base, nullptr, c, {}).sample(noise).x;

  SECTION("omega = 0 equals the base model") {
    SampleResult r = EdmSampler(base, aux, c, Guidance{0.0, 0.0, INFINITY}).sample(noise);
    CHECK(max_abs_diff(r.x, plain) == 0.0);
    CHECK(r.nfe == 70);
  }
  SECTION("base == aux gives the base for any omega") {
    auto same = gaussian2d(0.0, 0.0, 2.0, 1.0, 2.0);
    for (double w : {0.5, 2.0, -0.7}) {
      SampleResult r = EdmSampler(base, same, c, Guidance{w, 0.0, INFINITY}).sample(noise);
      CHECK(max_abs_diff(r.x, plain) < 1e-10);
    }
  }
  SECTION("an interval holding no step equals the base and never calls the auxiliary") {
    for (auto [lo, hi] : {std::pair<double, double>{100.0, 200.0}, {81.0, 1e9}, {0.0, 1e-3}}) {
      SampleResult r = EdmSampler(base, aux, c, Guidance{1.5, lo, hi}).sample(noise);
      CHECK(max_abs_diff(r.x, plain) == 0.0);
      CHECK(r.aux_evals == 0);
    }
  }
  SECTION("omega != 0 changes the samples; omega = -1 is the auxiliary model") {
    SampleResult r = EdmSampler(base, aux, c, Guidance{1.0, 0.0, INFINITY}).sample(noise);
    CHECK(max_abs_diff(r.x, plain) > 0.1);
    const at::Tensor aux_only = EdmSampler(aux, nullptr, c, {}).sample(noise).x;
    SampleResult neg = EdmSampler(base, aux, c, Guidance{-1.0, 0.0, INFINITY}).sample(noise);
    CHECK(max_abs_diff(neg.x, aux_only) < 1e-10);
  }
  SECTION("guidance is tested per evaluation sigma") {
    Guidance g{1.0, 0.5, 10.0};
    SampleResult r = EdmSampler(base, aux, c, g).sample(noise);
    CHECK(r.aux_evals == nfe_per_sample(c, g, true) - 35);
    int expected = 0;
    auto t = edm_time_steps(c);
    for (int i = 0; i < c.steps; ++i)
      for (double s : step_eval_sigmas(c, t, i)) expected += (s > 0.5 && s <= 10.0);
    CHECK(r.aux_evals == expected);
    CHECK(expected > 0);
    CHECK(expected < 35);
  }
}

TEST_CASE("guided samples move away from the auxiliary's distribution", "[sampler]") {
  // SIMS' mechanism in closed form: aux sits off-centre; positive omega pushes
  // the samples' mean to the other side (extrapolating the score difference).
  auto base = gaussian2d(0.0, 0.0, 1.0, 0.0, 1.0);
  auto aux = gaussian2d(0.5, 0.0, 1.0, 0.0, 1.0);
  SamplerConfig c;
  at::Tensor noise = seeded_noise(4000, {2}, 5);
  double prev = 1e9;
  for (double w : {0.0, 0.5, 1.0, 2.0}) {
    const double mx = EdmSampler(base, aux, c, Guidance{w, 0.0, INFINITY}).sample(noise).x.mean(0)[0].item<double>();
    CHECK(mx < prev);
    prev = mx;
  }
  CHECK(prev < -0.5);
}

TEST_CASE("same seed gives the same samples, churn is reproducible", "[sampler]") {
  auto base = gaussian2d(0.0, 0.0, 2.0, 1.0, 2.0);
  SamplerConfig c;
  c.churn = 40;
  c.s_min = 0.05;
  c.s_max = 50;
  SampleOptions o;
  o.seed = 9;
  at::Tensor a = EdmSampler(base, nullptr, c, {}).sample(seeded_noise(100, {2}, 9), o).x;
  at::Tensor b = EdmSampler(base, nullptr, c, {}).sample(seeded_noise(100, {2}, 9), o).x;
  CHECK(max_abs_diff(a, b) == 0.0);
  o.seed = 10;
  at::Tensor d = EdmSampler(base, nullptr, c, {}).sample(seeded_noise(100, {2}, 9), o).x;
  CHECK(max_abs_diff(a, d) > 1e-3);
  CHECK(max_abs_diff(seeded_noise(5, {2}, 1), seeded_noise(5, {2}, 1)) == 0.0);
  CHECK(max_abs_diff(seeded_noise(5, {2}, 1), seeded_noise(5, {2}, 2)) > 0.0);
}

TEST_CASE("prefix reuse equals a full run", "[sampler]") {
  auto base = gaussian2d(0.0, 0.0, 2.0, 1.0, 2.0);
  auto aux = gaussian2d(0.3, 0.2, 1.5, 0.5, 1.5);
  at::Tensor noise = seeded_noise(64, {2}, 4);
  for (double churn : {0.0, 30.0}) {
    SamplerConfig c;
    c.steps = 32;
    c.churn = churn;
    SampleOptions o;
    o.seed = 77;
    o.record_trajectory = true;
    EdmSampler first(base, aux, c, Guidance{1.0, 0.0, 5.0});
    SampleResult r1 = first.sample(noise, o);
    REQUIRE(r1.trajectory.states.size() == 33);
    EdmSampler second(base, aux, c, Guidance{2.5, 0.0, 5.0});
    const int k = second.reusable_prefix(Guidance{1.0, 0.0, 5.0});
    CHECK(k == first_guided_step(c, Guidance{2.5, 0.0, 5.0}));
    CHECK(k > 10);  // the high-noise part is unguided
    SampleResult resumed = second.resume(r1.trajectory, k, o);
    SampleResult full = second.sample(noise, o);
    CHECK(max_abs_diff(resumed.x, full.x) == 0.0);
    REQUIRE(resumed.trajectory.states.size() == 33);
    CHECK(max_abs_diff(resumed.trajectory.stacked_states(), full.trajectory.stacked_states()) == 0.0);
    CHECK(resumed.nfe < full.nfe);  // the prefix was not recomputed
    CHECK(max_abs_diff(resumed.x, r1.x) > 1e-4);
  }
}

TEST_CASE("trajectory recording", "[sampler]") {
  auto base = gaussian2d(0.0, 0.0, 2.0, 1.0, 2.0);
  SamplerConfig c;
  c.steps = 10;
  SampleOptions o;
  o.record_trajectory = true;
  at::Tensor noise = seeded_noise(16, {2}, 1);
  SampleResult r = EdmSampler(base, nullptr, c, {}).sample(noise, o);
  at::Tensor st = r.trajectory.stacked_states();
  REQUIRE(st.sizes() == at::IntArrayRef({11, 16, 2}));
  CHECK(max_abs_diff(st[0], noise * 80.0) == 0.0);
  CHECK(max_abs_diff(st[10], r.x) == 0.0);
  REQUIRE(r.trajectory.stacked_denoised().sizes() == at::IntArrayRef({10, 16, 2}));
  // The denoised estimate at the last step is close to the final sample.
  CHECK(max_abs_diff(r.trajectory.denoised.back(), r.x) < 0.01);
}

TEST_CASE("step callback sees every step and can cancel", "[sampler]") {
  auto base = gaussian2d(0.0, 0.0, 2.0, 1.0, 2.0);
  SamplerConfig c;
  int seen = 0;
  SampleOptions o;
  o.on_step = [&](const StepEvent& e) {
    CHECK(e.step == seen);
    CHECK(e.steps == 18);
    ++seen;
    return true;
  };
  EdmSampler(base, nullptr, c, {}).sample(seeded_noise(4, {2}, 1), o);
  CHECK(seen == 18);
  o.on_step = [&](const StepEvent& e) { return e.step < 4; };
  CHECK_THROWS_AS(EdmSampler(base, nullptr, c, {}).sample(seeded_noise(4, {2}, 1), o), Cancelled);
  std::atomic<bool> flag{true};
  SampleOptions o2;
  o2.cancel = &flag;
  CHECK_THROWS_AS(EdmSampler(base, nullptr, c, {}).sample(seeded_noise(4, {2}, 1), o2), Cancelled);
}

TEST_CASE("bad sampler settings are refused with a clear error", "[sampler]") {
  auto base = gaussian2d(0.0, 0.0, 2.0, 1.0, 2.0);
  SamplerConfig c;
  c.steps = 0;
  CHECK_THROWS_AS(EdmSampler(base, nullptr, c, {}), InputError);
  c = {};
  c.sigma_min = 100;
  CHECK_THROWS_AS(EdmSampler(base, nullptr, c, {}), InputError);
  CHECK_THROWS_AS(EdmSampler(base, nullptr, {}, Guidance{1.0, 5.0, 1.0}), InputError);
  CHECK_THROWS_AS(EdmSampler(base, nullptr, {}, Guidance{1.0, 3.0, 3.0}), InputError);  // empty: LO = HI
  CHECK_THROWS_AS(EdmSampler(base, nullptr, {}, Guidance{1.0, INFINITY, INFINITY}), InputError);
  CHECK_THROWS_AS(EdmSampler(base, nullptr, {}, Guidance{NAN, 0.0, 1.0}), InputError);
  EdmSampler s(base, nullptr, {}, {});
  CHECK_THROWS_AS(s.sample(seeded_noise(4, {3}, 1)), InputError);  // wrong shape
}
