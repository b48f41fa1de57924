// The SIMS paper's Fig. 4 model (loops/ddpm_ensemble.hpp): the schedule, the
// ancestral sampler against a plain reference and a closed form on an exact
// Gaussian epsilon-model, the ensemble against one-by-one members, guidance,
// learning, and the diffusion2d loop's `model ddpm`.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "loops/ddpm_ensemble.hpp"
#include "loops/diffusion_loop.hpp"
#include "metrics/wasserstein.hpp"

using namespace sims;
using namespace sims::loops;

namespace {

using M2 = std::array<double, 4>;  // row-major 2x2
M2 mul(const M2& a, const M2& b) {
  return {a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3]};
}
M2 inv(const M2& a) {
  const double d = a[0] * a[3] - a[1] * a[2];
  return {a[3] / d, -a[1] / d, -a[2] / d, a[0] / d};
}
M2 tr(const M2& a) { return {a[0], a[2], a[1], a[3]}; }

// The exact epsilon of data N(mu, S): E[eps | x_t] = sqrt(1 - ab) (ab S + (1 - ab) I)^-1 (x_t - sqrt(ab) mu).
const M2 kS{2.0, 1.0, 1.0, 2.0};
const double kMu[2] = {1.0, -0.5};
M2 precision(double ab) { return inv({ab * kS[0] + 1 - ab, ab * kS[1], ab * kS[2], ab * kS[3] + 1 - ab}); }

at::Tensor exact_eps(const DdpmSchedule& sc, const at::Tensor& x, int64_t t) {
  const double ab = sc.alpha_bar[static_cast<size_t>(t)];
  const M2 P = precision(ab);
  const at::Tensor Pt = at::tensor(std::vector<double>(P.begin(), P.end()), at::kDouble).reshape({2, 2});
  const at::Tensor mu = at::tensor(std::vector<double>{kMu[0], kMu[1]}, at::kDouble) * std::sqrt(ab);
  return at::matmul(x - mu, Pt.t()) * std::sqrt(1 - ab);
}

}  // namespace

TEST_CASE("DDPM cosine schedule: alpha_bar from 1, betas that multiply back to it", "[ddpm]") {
  const DdpmSchedule sc = DdpmSchedule::cosine(40);
  REQUIRE(sc.steps() == 40);
  CHECK(sc.alpha_bar[0] == 1.0);
  CHECK(sc.beta[0] == 0.0);
  double prod = 1;
  for (int64_t t = 1; t < 40; ++t) {
    CHECK(sc.alpha_bar[t] < sc.alpha_bar[t - 1]);
    prod *= 1 - sc.beta[t];
    CHECK(prod == Approx(sc.alpha_bar[t]).epsilon(1e-12));
  }
  // f(t) = cos^2((t/T + s)/(1 + s) pi/2): the last level by hand.
  const auto f = [](double t) { return std::pow(std::cos((t / 40 + 0.008) / 1.008 * M_PI / 2), 2); };
  CHECK(sc.alpha_bar[39] == Approx(f(39) / f(0)).epsilon(1e-12));
  CHECK(sc.sigma(20) == Approx(std::sqrt((1 - sc.alpha_bar[20]) / sc.alpha_bar[20])));
  CHECK_THROWS_AS(DdpmSchedule::cosine(1), InputError);
}

TEST_CASE("DDPM ancestral sampler equals a plain reference on an exact Gaussian epsilon-model", "[ddpm]") {
  const DdpmSchedule sc = DdpmSchedule::cosine(40);
  const std::vector<uint64_t> seeds{7, 8};
  const int64_t n = 50;
  const at::Tensor noise = at::randn({2, n, 2}, at::kDouble);
  const at::Tensor x = ddpm_ancestral([&](const at::Tensor& y, int64_t t) { return exact_eps(sc, y, t); }, noise, sc, seeds);
  // The reference: one point at a time, 2x2 algebra by hand, the same z's.
  double worst = 0;
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t i = 0; i < n; ++i) {
      double p[2] = {noise[r][i][0].item<double>(), noise[r][i][1].item<double>()};
      for (int64_t t = 39; t >= 1; --t) {
        const double ab = sc.alpha_bar[t], b = sc.beta[t];
        const M2 P = precision(ab);
        const double d0 = p[0] - std::sqrt(ab) * kMu[0], d1 = p[1] - std::sqrt(ab) * kMu[1];
        const double e0 = std::sqrt(1 - ab) * (P[0] * d0 + P[1] * d1), e1 = std::sqrt(1 - ab) * (P[2] * d0 + P[3] * d1);
        p[0] = (p[0] - b / std::sqrt(1 - ab) * e0) / std::sqrt(1 - b);
        p[1] = (p[1] - b / std::sqrt(1 - ab) * e1) / std::sqrt(1 - b);
        if (t > 1) {
          const at::Tensor z = ddpm_step_noise(n, 2, {seeds[r]}, t);
          p[0] += std::sqrt(b) * z[0][i][0].item<double>();
          p[1] += std::sqrt(b) * z[0][i][1].item<double>();
        }
      }
      worst = std::max({worst, std::abs(p[0] - x[r][i][0].item<double>()), std::abs(p[1] - x[r][i][1].item<double>())});
    }
  CHECK(worst < 1e-10);
}

TEST_CASE("DDPM ancestral sampler: the exact model's samples follow the chain's closed-form moments", "[ddpm]") {
  // With a linear epsilon the chain is linear-Gaussian: x <- A_t x + c_t + sqrt(beta_t) z, so its mean and
  // covariance follow m <- A m + c, C <- A C A^T + beta I.
  const DdpmSchedule sc = DdpmSchedule::cosine(40);
  double m[2] = {0, 0};
  M2 C{1, 0, 0, 1};
  for (int64_t t = 39; t >= 1; --t) {
    const double ab = sc.alpha_bar[t], b = sc.beta[t], k = 1 / std::sqrt(1 - b);
    const M2 P = precision(ab);
    const M2 A{k * (1 - b * P[0]), -k * b * P[1], -k * b * P[2], k * (1 - b * P[3])};
    const double c0 = k * b * std::sqrt(ab) * (P[0] * kMu[0] + P[1] * kMu[1]);
    const double c1 = k * b * std::sqrt(ab) * (P[2] * kMu[0] + P[3] * kMu[1]);
    const double m0 = A[0] * m[0] + A[1] * m[1] + c0, m1 = A[2] * m[0] + A[3] * m[1] + c1;
    m[0] = m0, m[1] = m1;
    C = mul(mul(A, C), tr(A));
    if (t > 1) C[0] += b, C[3] += b;
  }
  const int64_t n = 200000;
  const at::Tensor x =
      ddpm_ancestral([&](const at::Tensor& y, int64_t t) { return exact_eps(sc, y, t); },
                     at::randn({1, n, 2}, at::kDouble), sc, {3})[0];
  const at::Tensor mean = x.mean(0), cov = at::cov(x.t());
  CHECK(mean[0].item<double>() == Approx(m[0]).margin(0.02));
  CHECK(mean[1].item<double>() == Approx(m[1]).margin(0.02));
  CHECK(cov[0][0].item<double>() == Approx(C[0]).epsilon(0.03));
  CHECK(cov[0][1].item<double>() == Approx(C[1]).epsilon(0.05));
  CHECK(cov[1][1].item<double>() == Approx(C[3]).epsilon(0.03));
  // And 40 steps of the exact model land near the data (the discretisation leaves a few per cent).
  CHECK(m[0] == Approx(kMu[0]).margin(0.05));
  CHECK(C[0] == Approx(kS[0]).epsilon(0.05));
  CHECK(C[1] == Approx(kS[1]).epsilon(0.08));
}

TEST_CASE("DDPM ensemble: members trained and sampled together equal members alone", "[ddpm]") {
  DdpmNet net;
  net.width = 16;
  net.blocks = 2;
  const DdpmSchedule sc = DdpmSchedule::cosine(10);
  DdpmTrainConfig tc;
  tc.batch = 24;
  tc.epochs = 5;
  const at::Tensor data = at::randn({2, 40, 2}) * 1.3;
  DdpmEnsemble both = create_ddpm_ensemble(net, {11, 12});
  train_ddpm_ensemble(both, tc, sc, data, {21, 22});
  DdpmEnsemble second = create_ddpm_ensemble(net, {12});
  train_ddpm_ensemble(second, tc, sc, data.slice(0, 1, 2), {22});
  double dw = 0;
  for (size_t k = 0; k < both.p.size(); ++k)
    dw = std::max(dw, (both.p[k][1] - second.p[k][0]).abs().max().item<double>());
  CHECK(dw < 1e-5);
  // Training moved the weights (the comparison is not between two untouched initialisations).
  const DdpmEnsemble init = create_ddpm_ensemble(net, {12});
  CHECK((init.p[0] - second.p[0]).abs().max().item<double>() > 1e-3);
  const at::Tensor noise = at::randn({2, 30, 2}, at::kDouble);
  const at::Tensor xb = sample_ddpm_ensemble(both, nullptr, noise, sc, Guidance{}, {5, 6});
  const at::Tensor xs = sample_ddpm_ensemble(second, nullptr, noise.slice(0, 1, 2), sc, Guidance{}, {6});
  CHECK((xb[1] - xs[0]).abs().max().item<double>() < 1e-4);
}

TEST_CASE("DDPM guidance: (1+w) eps_base - w eps_aux, inside its interval only", "[ddpm]") {
  DdpmNet net;
  net.width = 16;
  net.blocks = 1;
  const DdpmSchedule sc = DdpmSchedule::cosine(12);
  const DdpmEnsemble base = create_ddpm_ensemble(net, {1}), other = create_ddpm_ensemble(net, {2});
  const at::Tensor noise = at::randn({1, 20, 2}, at::kDouble);
  const std::vector<uint64_t> seeds{9};
  Guidance g;
  g.omega = 2.5;
  const at::Tensor plain = sample_ddpm_ensemble(base, nullptr, noise, sc, Guidance{}, seeds);
  // An auxiliary equal to the base changes nothing whatever omega.
  CHECK((sample_ddpm_ensemble(base, &base, noise, sc, g, seeds) - plain).abs().max().item<double>() < 1e-9);
  // Another auxiliary: the guided chain equals the reference chain with the combination written out.
  const at::Tensor guided = sample_ddpm_ensemble(base, &other, noise, sc, g, seeds);
  const at::Tensor by_hand = ddpm_ancestral(
      [&](const at::Tensor& x, int64_t t) {
        const at::Tensor xf = x.to(at::kFloat), tt = at::full({1, x.size(1), 1}, static_cast<double>(t));
        return (ddpm_eps(base, xf, tt).to(at::kDouble) * 3.5 - ddpm_eps(other, xf, tt).to(at::kDouble) * 2.5);
      },
      noise, sc, seeds);
  CHECK((guided - by_hand).abs().max().item<double>() < 1e-6);
  CHECK((guided - plain).abs().max().item<double>() > 1e-3);
  // An interval above every step's sigma: no step is guided.
  g.lo = 1e6;
  g.hi = 1e7;
  CHECK((sample_ddpm_ensemble(base, &other, noise, sc, g, seeds) - plain).abs().max().item<double>() < 1e-9);
}

TEST_CASE("DDPM model learns a 2D Gaussian with enough steps", "[ddpm]") {
  // 1000 points of N(0, [[2,1],[1,2]]), batch 64 (16 steps per epoch) for 60 epochs.
  const at::Tensor L = at::tensor(std::vector<float>{std::sqrt(2.f), 0.f, 1.f / std::sqrt(2.f), std::sqrt(1.5f)}).reshape({2, 2});
  at::manual_seed(4);
  const at::Tensor data = at::matmul(at::randn({1, 1000, 2}), L.t());
  const DdpmSchedule sc = DdpmSchedule::cosine(40);
  DdpmEnsemble e = create_ddpm_ensemble(DdpmNet{}, {5});
  DdpmTrainConfig tc;
  tc.batch = 64;
  tc.epochs = 60;
  std::vector<double> losses;
  EnsembleTrainOptions o;
  o.on_progress = [&](int64_t, int64_t, double l) { losses.push_back(l); };
  train_ddpm_ensemble(e, tc, sc, data, {6}, o);
  REQUIRE(losses.size() == 60);
  CHECK(losses.back() < 0.8 * losses.front());
  const at::Tensor x = sample_ddpm_ensemble(e, nullptr, at::randn({1, 4000, 2}, at::kDouble), sc, Guidance{}, {7})[0];
  const at::Tensor S = at::tensor(std::vector<double>{2, 1, 1, 2}).reshape({2, 2});
  const double w2 = metrics::w2_gaussian(x.mean(0), at::cov(x.t()), at::zeros({2}, at::kDouble), S);
  INFO("W2 of the trained model's samples: " << w2);
  CHECK(w2 < 0.5);
  // The untrained network is far off (the test can tell).
  const DdpmEnsemble fresh = create_ddpm_ensemble(DdpmNet{}, {5});
  const at::Tensor y = sample_ddpm_ensemble(fresh, nullptr, at::randn({1, 4000, 2}, at::kDouble), sc, Guidance{}, {7})[0];
  CHECK(metrics::w2_gaussian(y.mean(0), at::cov(y.t()), at::zeros({2}, at::kDouble), S) > 2.0);
}

TEST_CASE("diffusion2d loop with model ddpm: runs independent of batching, settings checked", "[ddpm][loop2d]") {
  DiffusionLoopConfig c;
  c.model = LoopModel::Ddpm;
  c.kind = LoopKind::Augment;
  c.n_real = 60;
  c.n_synth = 30;
  c.n_aux = 40;
  c.n_eval = 40;
  c.runs = 2;
  c.generations = 2;
  c.base_epochs = 3;
  c.aux_epochs = 2;
  c.ddpm_steps = 8;
  c.ddpm_blocks = 1;
  c.ddpm_batch = 32;
  c.net.width = 16;
  c.algorithm = LoopAlgorithm::Sims;
  c.omega = 1.0;
  validate(c);
  const DiffusionLoopResult all = run_diffusion_loop(c, {});
  DiffusionLoopConfig one = c;
  one.batch_runs = 1;
  const DiffusionLoopResult each = run_diffusion_loop(one, {});
  REQUIRE(all.w2_runs.size() == 2);
  for (size_t g = 0; g < 2; ++g)
    for (size_t r = 0; r < 2; ++r) CHECK(all.w2_runs[g][r] == Approx(each.w2_runs[g][r]).epsilon(1e-4));
  CHECK(all.w2_base_mean.size() == 2);
  // The EDM model with the same settings is another loop.
  DiffusionLoopConfig edm = c;
  edm.model = LoopModel::Edm;
  CHECK(run_diffusion_loop(edm, {}).w2_runs[0][0] != Approx(all.w2_runs[0][0]).epsilon(1e-3));
  // Settings: written and read back; a folder without the key is the EDM model; bias refused.
  CHECK(c.to_json().at("model") == "ddpm");
  CHECK(DiffusionLoopConfig::from_json(c.to_json()).model == LoopModel::Ddpm);
  nlohmann::json old = edm.to_json();
  old.erase("model");
  old.erase("ddpm_steps");
  CHECK(DiffusionLoopConfig::from_json(old).model == LoopModel::Edm);
  DiffusionLoopConfig biased = c;
  biased.bias = 0.8;
  CHECK_THROWS_AS(validate(biased), InputError);
}
