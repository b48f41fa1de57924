// Confidence intervals (bootstrap, Student t), KID and density/coverage,
// each against an independent statement of what it should be.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "common/error.hpp"
#include "experiment/json_io.hpp"
#include "metrics/kid.hpp"
#include "metrics/precision_recall.hpp"
#include "metrics/uncertainty.hpp"
#include "metrics/wasserstein.hpp"
#include "loops/loop_verdict.hpp"

using namespace sims;
using namespace sims::metrics;

namespace {

double mean_of(const std::vector<double>& x, const std::vector<int64_t>& idx) {
  double s = 0;
  for (int64_t i : idx) s += x[static_cast<size_t>(i)];
  return s / static_cast<double>(idx.size());
}

// The unbiased MMD² with the cubic kernel, written out pair by pair.
double mmd2_by_pairs(const at::Tensor& x, const at::Tensor& y) {
  const int64_t n = x.size(0), m = y.size(0), d = x.size(1);
  auto k = [d](const at::Tensor& a, int64_t i, const at::Tensor& b, int64_t j) {
    double dot = 0;
    for (int64_t c = 0; c < d; ++c) dot += a[i][c].item<double>() * b[j][c].item<double>();
    return std::pow(dot / static_cast<double>(d) + 1.0, 3);
  };
  double xx = 0, yy = 0, xy = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      if (i != j) xx += k(x, i, x, j);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < m; ++j)
      if (i != j) yy += k(y, i, y, j);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) xy += k(x, i, y, j);
  return xx / (n * (n - 1.0)) + yy / (m * (m - 1.0)) - 2 * xy / (static_cast<double>(n) * m);
}

double dist(const at::Tensor& a, int64_t i, const at::Tensor& b, int64_t j) {
  return (a[i] - b[j]).pow(2).sum().sqrt().item<double>();
}

}  // namespace

TEST_CASE("normal and Student-t quantiles match the tables", "[uncertainty]") {
  CHECK(normal_quantile(0.975) == Approx(1.959964).margin(1e-6));
  CHECK(normal_quantile(0.5) == Approx(0.0).margin(1e-12));
  CHECK(normal_quantile(0.05) == Approx(-1.644854).margin(1e-6));
  // Two-sided 95 % critical values of Student's t.
  const std::vector<std::pair<int, double>> table = {{1, 12.7062}, {2, 4.3027}, {3, 3.1824}, {4, 2.7764},
                                                     {5, 2.5706},  {10, 2.2281}, {30, 2.0423}};
  for (const auto& [dof, t] : table) {
    INFO("dof " << dof);
    CHECK(student_t_quantile(0.975, dof) == Approx(t).epsilon(2e-3));
  }
  CHECK(student_t_quantile(0.025, 7) == Approx(-student_t_quantile(0.975, 7)));
  CHECK_THROWS_AS(student_t_quantile(1.0, 3), InputError);
  CHECK_THROWS_AS(student_t_quantile(0.5, 0), InputError);
}

TEST_CASE("a bootstrap interval of the mean covers the true mean in about 95 % of trials", "[uncertainty]") {
  const auto kind = GENERATE(BootstrapInterval::Percentile, BootstrapInterval::Normal);
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(1.5, 1.0);
  int covered = 0;
  const int trials = 200;
  for (int t = 0; t < trials; ++t) {
    std::vector<double> x(40);
    for (auto& v : x) v = normal(rng);
    const Estimate e = bootstrap(40, [&](const std::vector<int64_t>& idx) { return mean_of(x, idx); }, 200, 0.95,
                                 static_cast<uint64_t>(t), kind);
    REQUIRE(e.has_interval());
    CHECK(e.lo <= e.value);
    CHECK(e.value <= e.hi);
    if (e.lo <= 1.5 && 1.5 <= e.hi) ++covered;
  }
  // The percentile bootstrap of a mean of 40 normals covers about 93-95 %;
  // 200 trials put the observed share within ±3.5 % of that.
  CHECK(covered >= static_cast<int>(0.88 * trials));
  CHECK(covered <= static_cast<int>(0.99 * trials));
}

TEST_CASE("a distance's interval is centred on its value: resampling repeats points, which moves W2 up by itself",
          "[uncertainty]") {
  at::manual_seed(3);
  const at::Tensor x = at::randn({80, 2}, at::kDouble);
  auto w2_to_x = [&](const std::vector<int64_t>& idx) {
    return wasserstein2(x.index_select(0, at::tensor(idx, at::kLong)), x);
  };
  // W2 of a set to itself is 0; every resample with repeats lies above it.
  const Estimate pct = bootstrap(80, w2_to_x, 40, 0.95, 1);
  CHECK(pct.value == Approx(0).margin(1e-9));
  CHECK(pct.lo > 0.1);  // the percentile interval excludes the true value
  const Estimate e = bootstrap_distance(80, w2_to_x, 40, 0.95, 1);
  CHECK(e.method == "bootstrap-normal");
  CHECK(e.value == Approx(0).margin(1e-9));
  CHECK(e.lo == 0.0);  // cut at 0
  CHECK(e.hi > 0.0);
  // Its half-width is the resamples' spread (the same resamples: same seed),
  // not their offset: well below the percentile interval's upper end.
  CHECK(e.hi < pct.lo);
  CHECK(e.hi > 0.2 * (pct.hi - pct.lo));
}

TEST_CASE("energy distance is the U-statistic written out pair by pair, and 0 in expectation for equal laws",
          "[uncertainty]") {
  at::manual_seed(9);
  const at::Tensor x = at::randn({23, 3}, at::kDouble), y = at::randn({31, 3}, at::kDouble) * 1.5 + 0.3;
  double xy = 0, xx = 0, yy = 0;
  for (int64_t i = 0; i < 23; ++i)
    for (int64_t j = 0; j < 31; ++j) xy += dist(x, i, y, j);
  for (int64_t i = 0; i < 23; ++i)
    for (int64_t j = 0; j < 23; ++j)
      if (i != j) xx += dist(x, i, x, j);
  for (int64_t i = 0; i < 31; ++i)
    for (int64_t j = 0; j < 31; ++j)
      if (i != j) yy += dist(y, i, y, j);
  const double expected = 2 * xy / (23.0 * 31) - xx / (23.0 * 22) - yy / (31.0 * 30);
  CHECK(energy_distance(x, y) == Approx(expected).epsilon(1e-7));
  CHECK(energy_distance(x, y) > 0.1);
  // A subset through the precomputed form equals the subset's own value.
  const EnergyDistance e(x, y);
  const std::vector<int64_t> idx = {0, 3, 5, 7, 11, 19};
  CHECK(e(idx) == Approx(energy_distance(x.index_select(0, at::tensor(idx, at::kLong)), y)).epsilon(1e-7));
  CHECK(e.full() == Approx(expected).epsilon(1e-7));
  // Two samples of one law: the mean over 40 pairs is within noise of 0 (W2 of the same pairs is not).
  double sum = 0, sum_w2 = 0;
  for (int t = 0; t < 40; ++t) {
    const at::Tensor a = at::randn({100, 2}, at::kDouble), b = at::randn({100, 2}, at::kDouble);
    sum += energy_distance(a, b);
    sum_w2 += wasserstein2(a, b);
  }
  CHECK(std::abs(sum / 40) < 0.01);
  CHECK(sum_w2 / 40 > 0.2);
  CHECK_THROWS_AS(energy_distance(x, at::randn({5, 2}, at::kDouble)), InputError);
}

TEST_CASE("a share's Wilson interval matches the closed form and covers the true share", "[uncertainty]") {
  const Estimate h = proportion(50, 100);
  CHECK(h.value == 0.5);
  CHECK(h.lo == Approx(0.4038).margin(1e-4));  // Wilson (1927): 0.5 ± 0.0962 for 50 of 100
  CHECK(h.hi == Approx(0.5962).margin(1e-4));
  const Estimate z = proportion(0, 20);
  CHECK(z.lo == 0.0);
  CHECK(z.hi == Approx(0.1611).margin(1e-4));
  CHECK(std::isnan(proportion(0, 0).value));
  CHECK_THROWS_AS(proportion(5, 4), InputError);
  // A share given as a fraction of n: the same interval as its count; rounding past 1 is held at n; none for NaN.
  const Estimate s = share_interval(0.3, 100), c = proportion(30, 100);
  CHECK(s.value == c.value);
  CHECK(s.lo == Approx(0.2189).margin(1e-4));
  CHECK(s.hi == Approx(0.3958).margin(1e-4));
  CHECK(share_interval(1 + 1e-12, 7).value == 1.0);
  CHECK(std::isnan(share_interval(std::nan(""), 10).value));
  std::mt19937_64 rng(3);
  std::bernoulli_distribution coin(0.3);
  int covered = 0;
  for (int t = 0; t < 400; ++t) {
    int k = 0;
    for (int i = 0; i < 60; ++i) k += coin(rng);
    const Estimate e = proportion(k, 60);
    covered += e.lo <= 0.3 && 0.3 <= e.hi;
  }
  CHECK(covered >= 360);  // about 95 % of 400
  CHECK(covered <= 395);
}

TEST_CASE("ratio_over_runs: Fieller's paired set by its closed form and its coverage with four runs",
          "[uncertainty]") {
  // Closed form: num 2 and 4 over den 1 and 1 (den without spread): the set is R ± t sd(num) / (sqrt(n) mean(den))
  // = 3 ± 12.7062, t(0.975, 1); distances, so the lower end stops at 0.
  const Estimate two = ratio_over_runs({2.0, 4.0}, {1.0, 1.0});
  CHECK(two.value == Approx(3.0));
  CHECK(two.hi == Approx(3.0 + 12.7062).epsilon(1e-4));
  CHECK(two.lo == 0.0);
  CHECK(two.method == "Fieller t, paired");
  // A side that is not positive: not cut at 0 (3 ± 12.7062 · 5).
  const Estimate signed_runs = ratio_over_runs({-2.0, 8.0}, {1.0, 1.0});
  CHECK(signed_runs.value == Approx(3.0));
  CHECK(signed_runs.hi - 3.0 == Approx(12.7062 * 5.0).epsilon(1e-4));
  CHECK(signed_runs.lo == Approx(3.0 - (signed_runs.hi - 3.0)));
  // Three runs worked by hand (t(0.975, 2) = 4.302653): num 2.0, 2.3, 1.9 over den 1.0, 1.1, 0.9: R = 2.06667 in
  // [1.92194, 2.22016]; num 1.05, 1.3, 0.95: R = 1.1 in [0.85244, 1.26206], holding 1 as the paired t interval of
  // num - den, [-0.115, 0.315], holds 0.
  const Estimate three = ratio_over_runs({2.0, 2.3, 1.9}, {1.0, 1.1, 0.9});
  CHECK(three.lo == Approx(1.921940).epsilon(1e-5));
  CHECK(three.hi == Approx(2.220162).epsilon(1e-5));
  const Estimate near = ratio_over_runs({1.05, 1.3, 0.95}, {1.0, 1.1, 0.9});
  CHECK(near.lo == Approx(0.852444).epsilon(1e-5));
  CHECK(near.hi == Approx(1.262058).epsilon(1e-5));
  // den's mean within its own noise of 0 (two runs at 1 and 2, t = 12.7): every ratio fits, no interval.
  CHECK_FALSE(ratio_over_runs({2.0, 2.0}, {1.0, 2.0}).has_interval());
  // Runs with a non-finite side are dropped; one run or a zero denominator: no interval.
  CHECK_FALSE(ratio_over_runs({2.0, NAN}, {1.0, 1.0}).has_interval());
  CHECK_FALSE(ratio_over_runs({2.0, 3.0}, {1.0, -1.0}).has_interval());
  // It holds 1 exactly when the paired t interval of num - den holds 0 (the loops' verdicts), over random runs
  // near the edge.
  std::mt19937_64 edge(3);
  std::normal_distribution<double> unit(0.0, 1.0);
  int agree = 0, holds_one = 0, judged = 0;
  for (int t = 0; t < 300; ++t) {
    const size_t n = 3 + static_cast<size_t>(t % 6);
    std::vector<double> num(n), den(n);
    for (size_t r = 0; r < n; ++r) den[r] = 2.0 + 0.3 * unit(edge), num[r] = den[r] * (1.08 + 0.1 * unit(edge));
    const Estimate e = ratio_over_runs(num, den);
    const Estimate d = loops::paired_change(den, num);
    REQUIRE(d.has_interval());
    REQUIRE(e.has_interval());  // den's mean far from 0: the set is bounded
    ++judged;
    const bool one = e.lo <= 1 && 1 <= e.hi;
    holds_one += one;
    agree += one == !significant(d);
  }
  INFO(agree << " of " << judged << " trials agree; the ratio's set held 1 in " << holds_one);
  CHECK(agree == judged);
  CHECK(holds_one > 30);
  CHECK(holds_one < judged - 30);
  // Coverage with four paired runs (den ~ N(10, 1), num = 1.5 den + N(0, 1): true ratio 1.5), against a
  // percentile bootstrap of the same ratio, which covers far less with so few runs.
  std::mt19937_64 rng(11);
  std::normal_distribution<double> den_d(10.0, 1.0), noise(0.0, 1.0);
  int covered = 0, boot_covered = 0;
  const int trials = 400;
  for (int t = 0; t < trials; ++t) {
    std::vector<double> num(4), den(4);
    for (size_t r = 0; r < 4; ++r) den[r] = den_d(rng), num[r] = 1.5 * den[r] + noise(rng);
    const Estimate e = ratio_over_runs(num, den);
    if (e.lo <= 1.5 && 1.5 <= e.hi) ++covered;
    const Estimate b = bootstrap(
        4,
        [&](const std::vector<int64_t>& idx) {
          double a = 0, c = 0;
          for (int64_t i : idx) a += num[static_cast<size_t>(i)], c += den[static_cast<size_t>(i)];
          return a / c;
        },
        200, 0.95, static_cast<uint64_t>(t));
    if (b.lo <= 1.5 && 1.5 <= b.hi) ++boot_covered;
  }
  CHECK(covered >= static_cast<int>(0.90 * trials));
  CHECK(covered <= static_cast<int>(0.99 * trials));
  CHECK(boot_covered < covered - trials / 20);
}

TEST_CASE("the t interval over runs covers the true mean in about 95 % of trials", "[uncertainty]") {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal(-0.3, 2.0);
  int covered = 0;
  const int trials = 400;
  for (int t = 0; t < trials; ++t) {
    std::vector<double> runs(5);
    for (auto& v : runs) v = normal(rng);
    const Estimate e = mean_over_runs(runs);
    REQUIRE(e.method == "t");
    if (e.lo <= -0.3 && -0.3 <= e.hi) ++covered;
  }
  CHECK(covered >= static_cast<int>(0.91 * trials));
  CHECK(covered <= static_cast<int>(0.985 * trials));
  // One run: a value and no interval; non-finite runs are dropped.
  const Estimate one = mean_over_runs({2.0, NAN});
  CHECK(one.value == 2.0);
  CHECK_FALSE(one.has_interval());
}

TEST_CASE("the median's order-statistics interval: binomial ranks and its coverage on skewed runs",
          "[uncertainty]") {
  // 1..10 shuffled: P(B <= 1) = 11/1024 <= 0.025 < P(B <= 2) = 56/1024 (B ~ Binomial(10, 1/2)), so [x_(2), x_(9)];
  // at 80 %: P(B <= 2) <= 0.1 < P(B <= 3) = 176/1024, so [x_(3), x_(8)].
  const std::vector<double> ten{7, 3, 10, 1, 5, 9, 2, 8, 6, 4};
  const Estimate m = median_over_runs(ten);
  CHECK(m.value == 5.5);
  CHECK(m.lo == 2);
  CHECK(m.hi == 9);
  CHECK(m.method == "order statistics");
  const Estimate m80 = median_over_runs(ten, 0.8);
  CHECK(m80.lo == 3);
  CHECK(m80.hi == 8);
  // Five runs cannot reach 95 % (even [min, max] covers with 1 - 2/32); six can, with [min, max].
  CHECK_FALSE(median_over_runs({1, 2, 3, 4, 5}).has_interval());
  const Estimate six = median_over_runs({6, 1, 5, 2, 4, 3, NAN});  // non-finite runs are dropped
  CHECK(six.value == 3.5);
  CHECK(six.lo == 1);
  CHECK(six.hi == 6);
  // Many runs (2^-n underflows): the ranks approach n/2 ± 1.96 sqrt(n)/2 (5001 runs: 2500 ± 69.3).
  std::vector<double> many(5001);
  for (size_t i = 0; i < many.size(); ++i) many[i] = static_cast<double>(i);
  const Estimate big = median_over_runs(many);
  CHECK(big.value == 2500);
  CHECK(big.lo == Approx(2500 - 69.3).margin(3));
  CHECK(big.hi == Approx(2500 + 69.3).margin(3));
  // Coverage of the exponential's median ln 2 with 25 runs: exactly 1 - 2 P(B <= 7) = 0.957 for any distribution.
  std::mt19937_64 rng(11);
  std::exponential_distribution<double> expo(1.0);
  int covered = 0;
  const int trials = 1000;
  for (int t = 0; t < trials; ++t) {
    std::vector<double> runs(25);
    for (auto& v : runs) v = expo(rng);
    const Estimate e = median_over_runs(runs);
    if (e.lo <= std::log(2.0) && std::log(2.0) <= e.hi) ++covered;
  }
  CHECK(covered >= static_cast<int>(0.935 * trials));
  CHECK(covered <= static_cast<int>(0.977 * trials));
}

TEST_CASE("differences are significant only when their interval excludes zero", "[uncertainty]") {
  Estimate a, b;
  a.value = 1.0, a.lo = 0.9, a.hi = 1.1;
  b.value = 1.5, b.lo = 1.4, b.hi = 1.6;
  const Estimate d = difference(a, b);
  CHECK(d.value == Approx(-0.5));
  CHECK(d.half_width() == Approx(std::sqrt(0.02)));
  CHECK(significant(d));
  b.value = 1.05, b.lo = 0.95, b.hi = 1.15;
  CHECK_FALSE(significant(difference(a, b)));
  nlohmann::json j;
  a.put(j, "w2");
  CHECK(j["w2_lo"] == 0.9);
  const Estimate back = Estimate::get(j, "w2");
  CHECK(back.hi == 1.1);
  CHECK(a.text(2) == "1.00 ± 0.10");
}

TEST_CASE("KID equals the unbiased MMD² written out pair by pair", "[uncertainty]") {
  auto g = at::make_generator<at::CPUGeneratorImpl>(3);
  const at::Tensor x = at::randn({23, 4}, g, at::kDouble);
  const at::Tensor y = at::randn({19, 4}, g, at::kDouble) * 1.3 + 0.4;
  // Subsets as large as the smaller set: with 19 of 19 generated points the
  // estimate depends only on which 19 real points are drawn.
  const at::Tensor x19 = x.slice(0, 0, 19);
  const Kid full = kid(x19, y, 3, 1000, 7);
  CHECK(full.subset_size == 19);
  CHECK(full.mean == Approx(mmd2_by_pairs(x19, y)).epsilon(1e-10));
  CHECK(full.std == Approx(0.0).margin(1e-12));
  // Shifted sets score higher than sets of the same distribution, and the
  // estimate for one distribution is centred on zero (unbiased).
  const at::Tensor a = at::randn({400, 8}, g, at::kDouble), b = at::randn({400, 8}, g, at::kDouble);
  const Kid same = kid(a, b, 50, 100, 1);
  const Kid shifted = kid(a, b + 0.5, 50, 100, 1);
  CHECK(std::abs(same.mean) < 3 * same.std / std::sqrt(50.0) + 1e-3);
  CHECK(shifted.mean > same.mean + 5 * shifted.std / std::sqrt(50.0));
  CHECK_THROWS_AS(kid(a, b.slice(1, 0, 4)), InputError);
  CHECK_THROWS_AS(kid(a, b, 0), InputError);
}

namespace {
// E[(x·y / d + 1)³] for independent x ~ N(m1, s1² I), y ~ N(m2, s2² I) in d dimensions, from the Gaussian moments:
// with s = x·y, E s = m1·m2, E s² = tr(M1 M2) (M = Σ + m mᵀ), E s³ = Σ_ijk T1_ijk T2_ijk (T_ijk = m_i m_j m_k +
// m_i Σ_jk + m_j Σ_ik + m_k Σ_ij), and E k = 1 + 3 E s / d + 3 E s² / d² + E s³ / d³.
double cubic_kernel_mean(int d, double m1, double s1, double m2, double s2) {
  const auto third = [](double m, double var, int i, int j, int k) {
    return m * m * m + m * var * ((j == k) + (i == k) + (i == j));
  };
  double e1 = 0, e2 = 0, e3 = 0;
  for (int i = 0; i < d; ++i) {
    e1 += m1 * m2;
    for (int j = 0; j < d; ++j) {
      e2 += (s1 * s1 * (i == j) + m1 * m1) * (s2 * s2 * (i == j) + m2 * m2);
      for (int k = 0; k < d; ++k) e3 += third(m1, s1 * s1, i, j, k) * third(m2, s2 * s2, i, j, k);
    }
  }
  const double dd = d;
  return 1 + 3 * e1 / dd + 3 * e2 / (dd * dd) + e3 / (dd * dd * dd);
}
}  // namespace

TEST_CASE("KID's interval from disjoint subsets covers the exact MMD² near its level", "[uncertainty]") {
  auto g = at::make_generator<at::CPUGeneratorImpl>(17);
  // Block sizes: at least 10 blocks of the smaller set, at most 1000 rows, none below 2 rows.
  CHECK(kid_block_size(10000, 64) == 6);
  CHECK(kid_block_size(50000, 40000) == 1000);
  CHECK(kid_block_size(30, 19) == 0);
  CHECK(kid_block_size(30, 20) == 2);
  // One block of each set whole: no interval.
  const at::Tensor x = at::randn({40, 3}, g, at::kDouble), y = at::randn({30, 3}, g, at::kDouble);
  const KidBlocks one = kid_blocks(x, y, 30);
  CHECK(one.blocks == 1);
  CHECK(std::isnan(one.lo));
  CHECK(std::isnan(one.around(0.5).first));
  const KidBlocks two = kid_blocks(x, y, 15, 4);
  REQUIRE(two.blocks == 2);
  CHECK(two.method() == "Student t over 2 disjoint subsets of 15 rows");
  // around(v): the same half-width, centred on v.
  const auto [lo, hi] = two.around(0.25);
  CHECK(hi - lo == Approx(two.hi - two.lo));
  CHECK((lo + hi) / 2 == Approx(0.25));
  // The exact MMD² of N(0, I) against N(0.3, 1.44 I) in 3 dimensions with the cubic kernel (0.9022; a Monte Carlo
  // check with 2 million points a side gave 0.896), and 0 for one distribution.
  const double truth = cubic_kernel_mean(3, 0, 1, 0, 1) + cubic_kernel_mean(3, 0.3, 1.2, 0.3, 1.2) -
                       2 * cubic_kernel_mean(3, 0, 1, 0.3, 1.2);
  CHECK(truth == Approx(0.902197).epsilon(1e-5));
  int covers_zero = 0, covers_truth = 0;
  const int trials = 200;
  for (int t = 0; t < trials; ++t) {
    const at::Tensor a = at::randn({200, 3}, g, at::kDouble), b = at::randn({200, 3}, g, at::kDouble);
    const KidBlocks same = kid_blocks(a, b, 20, static_cast<uint64_t>(t));
    REQUIRE(same.blocks == 10);
    covers_zero += same.lo <= 0 && 0 <= same.hi;
    const KidBlocks shifted = kid_blocks(a, b * 1.2 + 0.3, 20, static_cast<uint64_t>(t));
    covers_truth += shifted.lo <= truth && truth <= shifted.hi;
  }
  INFO("0 covered " << covers_zero << ", the shift's MMD² " << truth << " covered " << covers_truth << " of " << trials);
  // Blocks of 20 rows give skewed values, so the t interval covers a little under 95 % (about 94 % and 91-92 % in
  // simulations of this design); 200 trials have a binomial sd of about 4.
  CHECK(covers_zero >= 174);
  CHECK(covers_zero <= 199);
  CHECK(covers_truth >= 168);
  CHECK(covers_truth <= 199);
}

TEST_CASE("a scored set's KID is kid with the disjoint subsets' half-width around it", "[uncertainty]") {
  auto g = at::make_generator<at::CPUGeneratorImpl>(23);
  // float32 features, as the feature networks give them; a reference larger than the samples.
  const at::Tensor ref = at::randn({300, 4}, g), fake = at::randn({60, 4}, g) * 1.3 + 0.2;
  const KidScore s = kid_scored(ref, fake, 7, 5);
  const Kid k = kid(ref, fake, 7, 1000, 5);
  CHECK(s.kid.mean == k.mean);
  CHECK(s.kid.subset_size == 60);
  // 10 disjoint subsets of 6 rows (kid_block_size of 300 and 60), the same seed.
  const KidBlocks b = kid_blocks(ref, fake, 6, 5);
  REQUIRE(b.blocks == 10);
  CHECK((s.lo + s.hi) / 2 == Approx(k.mean));
  CHECK(s.hi - s.lo == Approx(b.hi - b.lo));
  CHECK(s.lo < k.mean);
  // No interval when asked for none, or below 20 samples (10 subsets of 2 rows).
  const KidScore none = kid_scored(ref, fake, 7, 5, false);
  CHECK(none.kid.mean == k.mean);
  CHECK(std::isnan(none.lo));
  CHECK(std::isnan(none.hi));
  CHECK(std::isnan(kid_scored(ref, fake.narrow(0, 0, 19), 7, 5).lo));
  CHECK(std::isfinite(kid_scored(ref, fake.narrow(0, 0, 20), 7, 5).lo));
}

TEST_CASE("density and coverage equal their definitions counted point by point", "[uncertainty]") {
  auto g = at::make_generator<at::CPUGeneratorImpl>(9);
  const at::Tensor real = at::randn({40, 3}, g, at::kDouble);
  const at::Tensor fake = at::randn({30, 3}, g, at::kDouble) * 0.8 + 0.3;
  const int64_t k = 3;
  std::vector<double> radius(40);
  for (int64_t i = 0; i < 40; ++i) {
    std::vector<double> d;
    for (int64_t j = 0; j < 40; ++j)
      if (j != i) d.push_back(dist(real, i, real, j));
    std::sort(d.begin(), d.end());
    radius[static_cast<size_t>(i)] = d[static_cast<size_t>(k - 1)];
  }
  int64_t inside = 0, covered = 0;
  for (int64_t i = 0; i < 40; ++i) {
    bool any = false;
    for (int64_t j = 0; j < 30; ++j)
      if (dist(fake, j, real, i) <= radius[static_cast<size_t>(i)]) ++inside, any = true;
    covered += any;
  }
  const DensityCoverage dc = density_coverage(real, fake, k, 7);
  CHECK(dc.density == Approx(static_cast<double>(inside) / (k * 30.0)));
  CHECK(dc.coverage == Approx(covered / 40.0));
  CHECK_THROWS_AS(density_coverage(real, fake, 40), InputError);
}

#include "metrics/sweep.hpp"

TEST_CASE("a sweep's verdict names a significant gain and refuses to call noise one", "[uncertainty]") {
  auto row = [](double omega, double v, double lo, double hi) {
    SweepRow r;
    r.omega = omega, r.hi = INFINITY, r.aux = "aux.ckpt", r.metric = "w2";
    r.value = v, r.value_lo = lo, r.value_hi = hi;
    return r;
  };
  SweepResult res;
  res.metric = "w2";
  res.rows = {row(0, 1.0, 0.9, 1.1), row(1, 0.5, 0.45, 0.55), row(2, 0.7, 0.6, 0.8)};
  auto v = res.verdicts();
  REQUIRE(v.size() == 1);
  INFO(v[0]);
  CHECK(v[0].rfind("SIMS lowers W2 by 0.50 ± 0.11 at omega = 1 (1.00 -> 0.50)", 0) == 0);  // to the interval's precision
  CHECK(v[0].find("omega = 1") != std::string::npos);
  res.rows = {row(0, 1.0, 0.9, 1.1), row(1, 0.95, 0.85, 1.05)};
  v = res.verdicts();
  INFO(v[0]);
  CHECK(v[0].rfind("no significant gain", 0) == 0);
  CHECK(v[0].find("lowers W2 by 0.05") != std::string::npos);
  // A best omega that is worse beyond the noise is called that, with the signed change.
  res.rows = {row(0, 1.0, 0.98, 1.02), row(1, 1.5, 1.45, 1.55)};
  v = res.verdicts();
  INFO(v[0]);
  CHECK(v[0].rfind("SIMS does not help", 0) == 0);
  CHECK(v[0].find("raises W2 by 0.5") != std::string::npos);
  // The surest gain is named, as tune names it, and the lowest value beside it.
  res.rows = {row(0, 1.0, 0.98, 1.02), row(1, 0.6, 0.59, 0.61), row(2, 0.5, 0.2, 0.8)};
  v = res.verdicts();
  INFO(v[0]);
  CHECK(v[0].find("at omega = 1 (") != std::string::npos);
  CHECK(v[0].find("is named by the highest lower end of its gain's interval (as sims tune chooses): the lowest value is at "
               "omega = 2, whose gain is less certain") != std::string::npos);
  // A base at the real-data floor is named as the reason.
  res.rows = {row(0, 1.0, 0.9, 1.1), row(1, 0.95, 0.85, 1.05)};
  res.floor.value = 0.98, res.floor.lo = 0.9, res.floor.hi = 1.06;
  v = res.verdicts();
  INFO(v[0]);
  CHECK(v[0].find("already at the floor") != std::string::npos);
  CHECK(v[0].find("of this size: 0.980 ± 0.080)") != std::string::npos);  // the floor to its interval's precision
  // A gain beyond the noise from a base at the floor is no gain the metric can see (the value went below the floor).
  res.rows = {row(0, 1.0, 0.95, 1.05), row(1, 0.8, 0.75, 0.85)};
  v = res.verdicts();
  INFO(v[0]);
  CHECK(v[0].rfind("no gain the metric can see: SIMS lowers W2 by 0.20", 0) == 0);
  CHECK(v[0].find("already at the floor") != std::string::npos);
  res.floor.value = 0.5, res.floor.lo = 0.45, res.floor.hi = 0.55;  // a base above the floor: the gain stands
  CHECK(res.verdicts()[0].rfind("SIMS lowers W2 by 0.20", 0) == 0);
  // An unbiased metric (the energy distance) has a floor of noise around 0: its paired drop stands there too.
  res.floor.value = 0.98, res.floor.lo = 0.9, res.floor.hi = 1.06;
  res.metric = "energy";
  CHECK(res.verdicts()[0].rfind("SIMS lowers energy by 0.20", 0) == 0);
  CHECK(metrics::visible_gain("energy", res.rows[0].value_estimate(0.95), res.rows[1].gain_estimate(res.rows[0], 0.95), res.floor));
  CHECK_FALSE(metrics::visible_gain("w2", res.rows[0].value_estimate(0.95), res.rows[1].gain_estimate(res.rows[0], 0.95), res.floor));
  res.metric = "w2";
  res.floor = Estimate{};
  res.rows = {row(1, 0.95, 0.85, 1.05)};
  CHECK(res.verdicts()[0].rfind("no verdict", 0) == 0);
  // The intervals travel through the JSON row and the CSV.
  const nlohmann::json j = row(1, 0.5, 0.45, 0.55).to_json({});
  CHECK(j["w2_lo"] == 0.45);
  CHECK(j["w2_hi"] == 0.55);
  res.rows = {row(0, 1.0, 0.9, 1.1)};
  CHECK(res.to_csv().find(",w2_lo,w2_hi,") != std::string::npos);
}

TEST_CASE("an estimate is written to its interval's precision", "[uncertainty]") {
  auto est = [](double v, double lo, double hi) { return Estimate::of(v, lo, hi); };
  CHECK(est(0.0009129, -0.0005, 0.0023).precise_text() == "0.0009 ± 0.0014");  // noise-decided digits dropped
  CHECK(est(0.17531, 0.1519, 0.1987).precise_text() == "0.175 ± 0.023");
  CHECK(est(48.02, 45.1, 50.3).precise_text() == "48.0 ± 2.9");
  CHECK(est(1234.4, 1100, 1300).precise_text() == "1234 ± 134");    // the larger side of the interval
  CHECK(est(0.9991, 0.9987, 0.9995).precise_text(3) == "0.999 ± 0.0004");  // capped decimals, the half kept
  CHECK(est(1.0, 1.0, 1.0).precise_text() == "1 ± 0");
  CHECK(est(0.5, NAN, NAN).precise_text() == "0.5");
  CHECK(est(NAN, 0, 1).precise_text() == "n/a");
  CHECK(est(2.5, 2.0, 3.0).precise_text(10, "|") == "2.50|0.50");
  CHECK(est(0.5, 0.5 - 1e-12, 0.5 + 1e-12).precise_text() == "0.5000000000 ± 1e-12");  // never "± 0.0000000000"
  CHECK(est(-0.00001, -0.0013, 0.0013).precise_text() == "0.0000 ± 0.0013");  // no "-0.0000"
  CHECK(est(-0.00051, -0.0018, 0.0008).precise_text() == "-0.0005 ± 0.0013");
}

TEST_CASE("a lopsided interval is written with both ends to its precision", "[uncertainty]") {
  auto est = [](double v, double lo, double hi) { return Estimate::of(v, lo, hi); };
  CHECK(est(1.0234, 0.8091, 1.2517).bounds_text() == "1.02 [0.81, 1.25]");      // a ratio over runs
  CHECK(est(0.9931, 0.9881, 0.9968).bounds_text() == "0.9931 [0.9881, 0.9968]");  // a share near 1 (Wilson)
  CHECK(est(0.0, 0.0, 0.0376).bounds_text() == "0.000 [0.000, 0.038]");         // no "-0.000" at the edge
  CHECK(est(1.0, 1.0, 1.0).bounds_text() == "1 [1, 1]");                      // every resample the same
  CHECK(est(0.52, NAN, NAN).bounds_text() == "0.52");
  const Estimate of = Estimate::of(0.3, 0.2, 0.5, "t");
  CHECK(of.method == "t");
  CHECK(of.level == 0.95);
  CHECK(of.half_width() == Approx(0.15));
  CHECK(est(NAN, 0, 1).bounds_text() == "n/a");
  CHECK(est(52.04, 47.31, 56.66).bounds_text(1) == "52.0 [47.3, 56.7]");        // a percentage
  CHECK(est(52.04, 51.98, 52.11).bounds_text(1) == "52.0 [52.0, 52.1]");        // decimals capped
  // A change's size: a negative change mirrors its interval with it.
  const Estimate m = est(-0.2, -0.3, -0.1).magnitude();
  CHECK(m.value == 0.2);
  CHECK(m.lo == Approx(0.1));
  CHECK(m.hi == Approx(0.3));
  CHECK(est(0.2, 0.1, 0.3).magnitude().lo == 0.1);
  // The GUIs' spelling of the weight in a verdict: only the phrase "omega = ".
  CHECK(sims::metrics::omega_as_symbol("SIMS lowers fd by 2 at omega = 1 and omega = 2 (omegas.json)") ==
        "SIMS lowers fd by 2 at \u03c9 = 1 and \u03c9 = 2 (omegas.json)");
  CHECK(sims::metrics::omega_as_symbol("more samples per omega") == "more samples per \u03c9");
  CHECK(sims::metrics::omega_as_symbol("(0.041 -> 0.028), n_e >= n_r, a <= b -> c") ==
        "(0.041 \u2192 0.028), n_e \u2265 n_r, a \u2264 b \u2192 c");
  CHECK(sims::metrics::omega_as_symbol("a->b, x>=y") == "a->b, x>=y");  // only the spaced signs of the verdicts
}

#include "loops/tune.hpp"

TEST_CASE("tune chooses the surest gain over omega = 0 and judges it by the interval", "[uncertainty][tune]") {
  auto row = [](const std::string& aux, double omega, double v, double half) {
    SweepRow r;
    r.omega = omega, r.hi = INFINITY, r.aux = aux, r.metric = "fd";
    r.value = v, r.value_lo = v - half, r.value_hi = v + half;
    return r;
  };
  SweepResult grid;
  grid.metric = "fd";
  grid.rows = {row("B=100", 0, 80, 2), row("B=100", 1, 75, 2), row("B=400", 0, 80, 2), row("B=400", 1, 70, 2),
               row("B=400", 2, 72, 2)};
  const auto c = loops::choose_best(grid, {{"B=100", 100}, {"B=400", 400}});
  CHECK(c.budget == 400);
  CHECK(c.omega == 1);
  CHECK(c.gain.value == Approx(10));
  CHECK(c.gain.half_width() == Approx(std::sqrt(8.0)));
  CHECK(c.significant);
  CHECK(c.verdict.rfind("SIMS lowers FD by 10.0 ± 2.8 at omega = 1", 0) == 0);  // to the interval's precision
  CHECK(c.verdict.find("(80.0 -> 70.0)") != std::string::npos);                 // the values beside it too
  // A gain inside the noise is not called one.
  grid.rows = {row("B=100", 0, 80, 6), row("B=100", 1, 78, 6)};
  const auto n = loops::choose_best(grid, {{"B=100", 100}});
  CHECK_FALSE(n.significant);
  CHECK(n.verdict.rfind("no significant gain: SIMS lowers FD by 2", 0) == 0);
  // The row is the one chosen (not always the lowest): the verdict names its omega, not "the best".
  CHECK(n.verdict.find("best") == std::string::npos);
  // The surest gain wins over the lowest value: omega = 1 is lower but its gain is within its noise.
  grid.rows = {row("B=100", 0, 80, 2), row("B=100", 0.5, 75, 1), row("B=100", 1, 70, 10)};
  const auto sure = loops::choose_best(grid, {{"B=100", 100}});
  CHECK(sure.omega == 0.5);
  CHECK(sure.significant);
  CHECK(sure.lowest_omega == 1);
  CHECK_THAT(sure.verdict, Catch::EndsWith("; omega = 0.5 is chosen for the surest gain (the highest lower end of its "
                                           "interval): the lowest value is at omega = 1, whose gain is less certain"));
  CHECK(c.verdict.find("surest") == std::string::npos);  // chosen row and lowest row the same: nothing to explain
  CHECK(sure.to_json()["lowest"]["omega"] == 1.0);
  grid.rows = {row("B=100", 1, 78, 6)};
  CHECK_THROWS_AS(loops::choose_best(grid, {}), InputError);
}

#include <set>

#include "loops/tune_report.hpp"

TEST_CASE("tune's heat map carries a colour key from its highest to its lowest value and frames the chosen cell",
          "[uncertainty][tune]") {
  auto row = [](const std::string& aux, double omega, double v, double half) {
    SweepRow r;
    r.omega = omega, r.hi = INFINITY, r.aux = aux, r.metric = "w2";
    r.value = v;
    if (half > 0) r.value_lo = v - half, r.value_hi = v + half;
    return r;
  };
  const auto figure = [&](double half) {
    loops::TuneResult t;
    t.grid.metric = "w2";
    t.grid.rows = {row("B=100", 0, 0.8, half), row("B=100", 1, 0.5, half), row("B=400", 0, 0.8, half),
                   row("B=400", 1, 0.3, half)};
    t.aux_labels = {"B=100", "B=400"};
    t.choice = loops::choose_best(t.grid, {{"B=100", 100}, {"B=400", 400}});
    return loops::tune_heatmap(t);
  };
  const render::Canvas c = figure(0.02);
  // Colours on the ramp from light (239, 243, 255: the highest, worse) to dark (8, 48, 107: the lowest, better).
  std::set<int> ramp_steps;
  size_t darkest = 0, lightest = 0, red = 0;
  const auto& px = c.pixels();
  for (size_t i = 0; i + 2 < px.size(); i += 3) {
    const int r = px[i], g = px[i + 1], b = px[i + 2];
    if (r == 8 && g == 48 && b == 107) ++darkest;
    if (r == 239 && g == 243 && b == 255) ++lightest;
    if (r == 214 && g == 39 && b == 40) ++red;
    const double t = (239.0 - r) / (239.0 - 8.0);
    if (r <= 239 && r >= 8 && std::abs(g - (243 + (48 - 243) * t)) <= 1 && std::abs(b - (255 + (107 - 255) * t)) <= 1)
      ramp_steps.insert(r);
  }
  CHECK(darkest > 1000);  // the lowest cell (0.3) and the key's dark end
  CHECK(lightest > 1000);  // the two omega = 0 cells (0.8)
  CHECK(red > 100);        // the chosen cell's frame
  // The key: a continuous ramp, far more shades than the grid's three values.
  CHECK(ramp_steps.size() > 100);
  // Two-line cells with intervals make the figure taller than without.
  CHECK(c.height() > figure(0).height());
}

#include <filesystem>
#include <fstream>

#include "common/paths.hpp"
#include "helpers.hpp"

TEST_CASE("a damaged tuned-pair file is refused with an InputError naming it, never anything worse",
          "[uncertainty][tune][fuzz]") {
  std::ifstream in(sims::asset_path("models/grid25-aux.tune.json"));
  const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(good.size() > 100);
  sims::test::TempDir dir;
  const std::string aux = dir.path + "/aux.ckpt", file = dir.path + "/aux.tune.json";
  CHECK_FALSE(loops::read_tuned_pair(aux).has_value());  // none beside it
  auto write = [&](const std::string& text) { std::ofstream(file, std::ios::binary) << text; };
  write(good);
  const auto t = loops::read_tuned_pair(aux);
  REQUIRE(t.has_value());
  CHECK(t->metric == "energy");
  std::mt19937_64 rng(17);
  int read = 0, refused = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string s = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % s.size();
      switch (rng() % 4) {
        case 0: s[at] = static_cast<char>(rng() % 256); break;  // a flipped byte
        case 1: s.resize(at); break;                              // truncated
        case 2: s.insert(at, std::string(1 + rng() % 8, static_cast<char>("\"[]{}0-e,"[rng() % 9]))); break;
        default: s.erase(at, 1 + rng() % 16); break;
      }
      if (s.empty()) s = "{";
    }
    write(s);
    try {
      const auto r = loops::read_tuned_pair(aux);
      REQUIRE(r.has_value());
      CHECK(std::isfinite(r->omega));
      ++read;
    } catch (const InputError& e) {
      CHECK(std::string(e.what()).find("aux.tune.json") != std::string::npos);
      ++refused;
    }
  }
  CHECK(refused > 100);  // most damage is noticed
  CHECK(read + refused == 400);
}


#include "loops/loop_verdict.hpp"

TEST_CASE("a loop's verdict tells drift from noise with the runs' paired changes", "[uncertainty][loops]") {
  using sims::loops::drift_verdict;
  using sims::loops::paired_change;
  // Runs that differ a lot from each other but each grow by about 0.1: the paired interval is narrow.
  const std::vector<double> first{0.10, 0.30, 0.50, 0.70, 0.90}, last{0.21, 0.39, 0.60, 0.80, 1.00};
  const Estimate d = paired_change(first, last);
  CHECK(d.value == Approx(0.1));
  CHECK(d.method == "paired t");
  // Written out: sd of the changes {.11, .09, .10, .10, .10} and t_{0.975,4} = 2.776.
  const double sd = std::sqrt((0.0001 + 0.0001) / 4.0);
  CHECK(d.half_width() == Approx(2.776 * sd / std::sqrt(5.0)).epsilon(2e-3));
  Estimate f = mean_over_runs(first), l = mean_over_runs(last);
  std::string v = drift_verdict("E[W2]", 10, f, l, d, "95 % paired t over 5 runs");
  INFO(v);
  CHECK(v.rfind("E[W2] at generation 10: ", 0) == 0);
  CHECK(v.find("the loop drifts away from p_r (+0.1 ± ") != std::string::npos);
  CHECK(v.find("ratio 1.20)") != std::string::npos);  // no ratio interval given: the ratio alone
  // With the ratio's interval from the loop's table: both ends, to two decimals.
  v = drift_verdict("E[W2]", 10, f, l, d, "95 % paired t over 5 runs", Estimate::of(1.2, 1.153, 1.2449));
  CHECK(v.find("(ratio 1.20 [1.15, 1.24]): ") != std::string::npos);
  // The unpaired intervals overlap: the difference of the two means alone would not see it.
  CHECK_FALSE(significant(difference(l, f)));
  // Changes of both signs: within the noise.
  const Estimate n = paired_change(first, {0.12, 0.28, 0.52, 0.68, 0.91});
  v = drift_verdict("E[W2]", 10, f, l, n, "paired");
  INFO(v);
  CHECK(v.find("stays within the noise of generation 1") != std::string::npos);
  // A loop that comes closer, non-finite runs dropped, a single run without interval.
  const Estimate c = paired_change({0.5, 0.6, NAN, 0.7}, {0.3, 0.41, 0.2, 0.5});
  CHECK(c.value == Approx(-0.1966667).epsilon(1e-4));
  CHECK(drift_verdict("FD", 3, f, l, c, "x").find("the loop comes closer to p_r") != std::string::npos);
  const Estimate one = paired_change({0.5}, {0.6});
  CHECK_FALSE(one.has_interval());
  CHECK(drift_verdict("FD", 3, f, l, one, "one run").find("no interval to tell it from noise") != std::string::npos);
  // One generation: nothing to compare (a zero change with a zero-width interval is not "within the noise").
  v = drift_verdict("E[W2]", 1, f, f, paired_change(first, first), "paired");
  INFO(v);
  CHECK(v.find("one generation: no change to judge") != std::string::npos);
}

TEST_CASE("paired_replicates: the interval of a difference from two replicate lists", "[uncertainty]") {
  const std::vector<double> a{1.0, 2.0, 3.0, 4.0}, b{0.5, 1.0, 2.5, 3.0};  // differences 0.5, 1, 0.5, 1
  const Estimate e = paired_replicates(0.75, a, b, 0.95);
  const double h = normal_quantile(0.975) * std::sqrt(1.0 / 12.0);  // sd of {0.5, 1, 0.5, 1} = sqrt(1/12)
  CHECK(e.lo == Approx(0.75 - h));
  CHECK(e.hi == Approx(0.75 + h));
  CHECK(e.method == "paired bootstrap");
  // Non-finite sides are dropped; too few pairs, or lists of other lengths: no interval.
  const Estimate d = paired_replicates(0.75, {1.0, NAN, 3.0, 4.0}, b, 0.95);
  CHECK(d.has_interval());
  CHECK_FALSE(paired_replicates(0.75, {NAN, NAN, NAN, 4.0}, b, 0.95).has_interval());
  CHECK_FALSE(paired_replicates(0.75, {1.0, 2.0}, b, 0.95).has_interval());
}

TEST_CASE("replicate_change pairs where both sides kept replicates over as many items, and judge_change",
          "[uncertainty]") {
  Estimate from, to;
  from.value = 10, from.lo = 8, from.hi = 12, to.value = 11, to.lo = 9, to.hi = 13;
  const std::vector<double> a{10.0, 10.5, 9.5, 10.0}, b{11.0, 11.6, 10.4, 11.0};  // differences 1, 1.1, 0.9, 1
  const Estimate paired = replicate_change(from, to, a, b, 50, 50);
  CHECK(paired.method == "paired bootstrap");
  CHECK(paired.value == Approx(1.0));
  CHECK(paired.half_width() == Approx(normal_quantile(0.975) * std::sqrt(0.02 / 3)));
  CHECK(judge_change(paired, "worse", "better", "same") == "worse");  // lower is better: a rise
  // Other item counts, no count, or one side without replicates: the half-widths in quadrature.
  for (const Estimate& q : {replicate_change(from, to, a, b, 50, 60), replicate_change(from, to, a, b, 0, 0),
                            replicate_change(from, to, {}, b, 50, 50)}) {
    CHECK(q.method == "difference");
    CHECK(q.half_width() == Approx(std::sqrt(8.0)));
    CHECK(judge_change(q, "worse", "better", "same") == "same");
  }
  CHECK(judge_change(replicate_change(to, from, b, a, 50, 50), "worse", "better", "same") == "better");  // a fall
  CHECK(judge_change(Estimate{}, "worse", "better", "same") == "no interval");
}

TEST_CASE("read_numbers: a stored list of numbers, null as NaN, anything else one error naming it",
          "[uncertainty]") {
  const std::vector<double> v = experiment::read_numbers(nlohmann::json::parse(R"([1.5, null, "inf", -2])"), "reps");
  REQUIRE(v.size() == 4);
  CHECK(v[0] == 1.5);
  CHECK(std::isnan(v[1]));
  CHECK(std::isinf(v[2]));
  CHECK(v[3] == -2);
  CHECK_THROWS_WITH(experiment::read_numbers(nlohmann::json(7), "reps"), "reps is not a list of numbers");
  CHECK_THROWS_WITH(experiment::read_numbers(nlohmann::json::parse("[1, 2, 3]"), "reps", 2),
                    "reps is not a list of numbers");
  CHECK_THROWS_WITH(experiment::read_numbers(nlohmann::json::parse(R"([1, {"a": 1}])"), "reps"),
                    Catch::Contains("reps: expected a number"));
}

TEST_CASE("aux_differences: each auxiliary against the first at the same omega, with its verdict", "[uncertainty]") {
  const auto row = [](const std::string& aux, double omega, double value, std::vector<double> reps) {
    SweepRow r;
    r.aux = aux, r.omega = omega, r.hi = INFINITY, r.metric = "w2", r.value = value, r.replicates = std::move(reps);
    return r;
  };
  SweepResult res;
  res.metric = "w2";
  res.rows = {row("a", 0, 1.0, {1.0, 1.1, 0.9, 1.0}), row("a", 1, 0.8, {0.8, 0.9, 0.7, 0.8}),
              row("b", 0, 1.0, {1.0, 1.1, 0.9, 1.0}), row("b", 1, 0.5, {0.5, 0.62, 0.38, 0.5})};
  const nlohmann::json d = res.aux_differences();
  REQUIRE(d.size() == 1);  // ω = 0 is the base alone for both
  // Replicate differences -0.3, -0.28, -0.32, -0.3: standard deviation sqrt(0.0008 / 3).
  const double h = normal_quantile(0.975) * std::sqrt(0.0008 / 3);
  CHECK(d[0]["difference"].get<double>() == Approx(-0.3));
  CHECK(d[0]["difference_lo"].get<double>() == Approx(-0.3 - h));
  CHECK(d[0]["difference_hi"].get<double>() == Approx(-0.3 + h));
  CHECK(d[0]["significant"].get<bool>());
  INFO(d[0]["text"].get<std::string>());
  CHECK(d[0]["text"].get<std::string>().find("aux b against a at omega = 1: w2 0.5 vs 0.8") == 0);
  CHECK(d[0]["text"].get<std::string>().find("b is lower (better)") != std::string::npos);
  // Without replicates (a sweep without intervals) or with one auxiliary: nothing to compare.
  res.rows[3].replicates.clear();
  CHECK(res.aux_differences().empty());
  res.rows.resize(2);
  CHECK(res.aux_differences().empty());
}

TEST_CASE("add_paired_gains: a grid grown row by row is paired as a whole or not at all, on every call",
          "[uncertainty]") {
  const auto row = [](double omega, double value, std::vector<double> reps) {
    SweepRow r;
    r.aux = "a", r.omega = omega, r.hi = INFINITY, r.metric = "w2", r.value = value, r.replicates = std::move(reps);
    r.value_lo = value - 0.1, r.value_hi = value + 0.1;
    return r;
  };
  SweepConfig cfg;
  cfg.ci = 4;
  const SweepReference ref;
  SweepResult res;
  res.metric = "w2";
  // As the faces add rows: ω = 1 first (no ω = 0 yet: nothing paired), then ω = 0.
  res.rows = {row(1, 0.8, {0.8, 0.9, 0.7, 0.8})};
  add_paired_gains(res, cfg, ref);
  CHECK(std::isnan(res.rows[0].gain));
  res.rows.push_back(row(0, 1.0, {1.0, 1.1, 0.9, 1.0}));
  add_paired_gains(res, cfg, ref);
  CHECK(res.rows[0].gain == Approx(0.2));
  CHECK(res.rows[0].gain_hi - res.rows[0].gain_lo < 1e-9);  // the replicates move together exactly
  // A third row that cannot be paired (its resamples are lost): the earlier row's paired gain goes too, so that
  // no row's gain is judged by a narrower interval than another's.
  res.rows.push_back(row(2, 0.7, {0.7, NAN, NAN, NAN}));
  add_paired_gains(res, cfg, ref);
  for (const auto& r : res.rows) CHECK(std::isnan(r.gain));
  CHECK(res.rows[0].gain_estimate(res.rows[1], 0.95).method != "paired bootstrap");
  CHECK(res.rows[0].gain_estimate(res.rows[1], 0.95).has_interval());  // the two half-widths in quadrature
  // Its resamples back: every row paired again.
  res.rows[2].replicates = {0.7, 0.85, 0.55, 0.7};
  add_paired_gains(res, cfg, ref);
  CHECK(res.rows[0].gain == Approx(0.2));
  CHECK(res.rows[2].gain == Approx(0.3));
  CHECK(res.rows[2].gain_lo < 0.3);
  CHECK(res.rows[2].gain_estimate(res.rows[1], 0.95).method == "paired bootstrap");
}
