// Metrics: Fréchet distance, exact empirical Wasserstein, improved precision/recall.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "common/error.hpp"
#include "metrics/frechet.hpp"
#include "metrics/precision_recall.hpp"
#include "metrics/wasserstein.hpp"

#include "helpers.hpp"

using namespace sims;
using namespace sims::metrics;

namespace {

at::Generator gen_of(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }
const auto f64 = at::TensorOptions().dtype(at::kDouble);

// Random SPD matrix with eigenvalues in [lo, lo + spread].
at::Tensor random_spd(int64_t d, at::Generator& g, double lo = 0.2, double spread = 2.0) {
  at::Tensor q = std::get<0>(at::linalg_qr(at::randn({d, d}, g, f64)));
  at::Tensor w = at::rand({d}, g, f64) * spread + lo;
  return (q * w.unsqueeze(0)).mm(q.t());
}

std::filesystem::path temp_path(const std::string& name) {
  static const sims::test::TempDir dir;  // this process's own: CTest runs test binaries side by side
  return std::filesystem::path(dir.path) / name;
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void write_all(const std::filesystem::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

// Textbook Hungarian algorithm (potentials, O(n^3)), independent of the
// library's solver: minimum-cost perfect assignment of a square matrix.
double hungarian_min_cost(const std::vector<std::vector<double>>& a) {
  const int n = static_cast<int>(a.size());
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1), v(n + 1);
  std::vector<int> p(n + 1), way(n + 1);
  for (int i = 1; i <= n; ++i) {
    p[0] = i;
    int j0 = 0;
    std::vector<double> minv(n + 1, inf);
    std::vector<char> used(n + 1, false);
    do {
      used[j0] = true;
      int i0 = p[j0], j1 = 0;
      double delta = inf;
      for (int j = 1; j <= n; ++j)
        if (!used[j]) {
          double cur = a[i0 - 1][j - 1] - u[i0] - v[j];
          if (cur < minv[j]) minv[j] = cur, way[j] = j0;
          if (minv[j] < delta) delta = minv[j], j1 = j;
        }
      for (int j = 0; j <= n; ++j)
        if (used[j]) u[p[j]] += delta, v[j] -= delta;
        else minv[j] -= delta;
      j0 = j1;
    } while (p[j0] != 0);
    do {
      int j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0);
  }
  double cost = 0;
  for (int j = 1; j <= n; ++j) cost += a[p[j] - 1][j - 1];
  return cost;
}

std::vector<std::vector<double>> to_matrix(const at::Tensor& c_in) {
  at::Tensor c = c_in.to(at::kDouble).contiguous();
  std::vector<std::vector<double>> m(c.size(0), std::vector<double>(c.size(1)));
  for (int64_t i = 0; i < c.size(0); ++i)
    for (int64_t j = 0; j < c.size(1); ++j) m[i][j] = c[i][j].item<double>();
  return m;
}

// 1-D W_p^p between empirical measures with uniform weights via quantile functions.
double w_pp_1d(std::vector<double> a, std::vector<double> b, int p) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  const size_t n = a.size(), m = b.size();
  size_t i = 0, j = 0;
  double t = 0, acc = 0;
  while (i < n && j < m) {
    const double ta = static_cast<double>(i + 1) / n, tb = static_cast<double>(j + 1) / m;
    const double next = std::min(ta, tb);
    acc += (next - t) * std::pow(std::abs(a[i] - b[j]), p);
    t = next;
    if (ta <= next) ++i;
    if (tb <= next) ++j;
  }
  return acc;
}

void check_plan(const TransportPlan& plan, const at::Tensor& cost_in) {
  at::Tensor cost = cost_in.to(at::kDouble).contiguous();
  const int64_t n = cost.size(0), m = cost.size(1);
  REQUIRE(plan.total % n == 0);
  REQUIRE(plan.total % m == 0);
  std::vector<int64_t> rs(n, 0), cs(m, 0);
  double primal = 0;
  for (const auto& e : plan.flow) {
    REQUIRE(e.amount > 0);
    rs[e.i] += e.amount;
    cs[e.j] += e.amount;
    primal += static_cast<double>(e.amount) / plan.total * cost[e.i][e.j].item<double>();
  }
  for (int64_t i = 0; i < n; ++i) REQUIRE(rs[i] == plan.total / n);
  for (int64_t j = 0; j < m; ++j) REQUIRE(cs[j] == plan.total / m);
  CHECK(plan.cost == Approx(primal).epsilon(1e-12).margin(1e-12));
  // Dual certificate: feasibility and zero duality gap.
  double dual = 0, worst = 0;
  const double* c = cost.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) dual += plan.u[i] / n;
  for (int64_t j = 0; j < m; ++j) dual += plan.v[j] / m;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) worst = std::max(worst, plan.u[i] + plan.v[j] - c[i * m + j]);
  CHECK(worst <= 1e-9);
  CHECK(dual == Approx(plan.cost).epsilon(1e-9).margin(1e-9));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Fréchet distance
// ---------------------------------------------------------------------------------------------

TEST_CASE("FD of 2x2 Gaussians matches the analytic trace formula", "[metrics]") {
  auto g = gen_of(1);
  for (int trial = 0; trial < 20; ++trial) {
    GaussianStats a{at::randn({2}, g, f64), random_spd(2, g), 100};
    GaussianStats b{at::randn({2}, g, f64), random_spd(2, g), 100};
    // For 2x2: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) for M = S1 S2 (eigenvalues ≥ 0).
    at::Tensor m = a.sigma.mm(b.sigma);
    const double trm = m.trace().item<double>();
    const double detm = at::linalg_det(m).item<double>();
    const double tr_sqrt = std::sqrt(trm + 2.0 * std::sqrt(detm));
    const double diff = (a.mu - b.mu).pow(2).sum().item<double>();
    const double expected = diff + a.sigma.trace().item<double>() + b.sigma.trace().item<double>() - 2 * tr_sqrt;
    CHECK(frechet_distance(a, b) == Approx(expected).epsilon(1e-10).margin(1e-12));
    CHECK(frechet_distance(b, a) == Approx(expected).epsilon(1e-10).margin(1e-12));
  }
}

TEST_CASE("FD agrees with eigenvalues of the non-symmetric product and with diagonal cases", "[metrics]") {
  auto g = gen_of(2);
  for (int64_t d : {1, 3, 7, 16}) {
    GaussianStats a{at::randn({d}, g, f64), random_spd(d, g), 10};
    GaussianStats b{at::randn({d}, g, f64), random_spd(d, g), 10};
    at::Tensor ev = at::linalg_eigvals(a.sigma.mm(b.sigma));  // complex; real positive in theory
    const double tr_sqrt = at::real(ev).clamp_min(0).sqrt().sum().item<double>();
    const double expected = (a.mu - b.mu).pow(2).sum().item<double>() + a.sigma.trace().item<double>() +
                            b.sigma.trace().item<double>() - 2 * tr_sqrt;
    CHECK(frechet_distance(a, b) == Approx(expected).epsilon(1e-9).margin(1e-10));
  }
  // Diagonal covariances: FD = |dmu|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
  at::Tensor da = at::tensor({1.0, 4.0, 9.0}, f64), db = at::tensor({4.0, 1.0, 9.0}, f64);
  GaussianStats a{at::tensor({0.0, 1.0, 2.0}, f64), at::diag(da), 0};
  GaussianStats b{at::tensor({1.0, 1.0, 0.0}, f64), at::diag(db), 0};
  CHECK(frechet_distance(a, b) == Approx(1.0 + 4.0 + 1.0 + 1.0 + 0.0).epsilon(1e-12));
  CHECK(frechet_distance(a, a) == Approx(0.0).margin(1e-12));
}

TEST_CASE("FD of large samples approaches the closed form of the generating Gaussians", "[metrics]") {
  auto g = gen_of(3);
  const int64_t d = 3, n = 200000;
  at::Tensor s1 = random_spd(d, g, 0.5, 1.0), s2 = random_spd(d, g, 0.5, 1.0);
  at::Tensor mu1 = at::tensor({0.0, 0.0, 0.0}, f64), mu2 = at::tensor({1.0, -0.5, 0.25}, f64);
  at::Tensor x = at::randn({n, d}, g, f64).mm(sqrtm_psd(s1)) + mu1;
  at::Tensor y = at::randn({n, d}, g, f64).mm(sqrtm_psd(s2)) + mu2;
  const double exact = frechet_distance({mu1, s1, 0}, {mu2, s2, 0});
  const double est = fd_of_features(x.to(at::kFloat), y);
  CHECK(est == Approx(exact).epsilon(0.03).margin(0.01));
  // And FD is the squared closed-form W2 of the same Gaussians.
  CHECK(std::sqrt(exact) == Approx(w2_gaussian(mu1, s1, mu2, s2)).epsilon(1e-10));
}

TEST_CASE("streaming statistics equal one-shot statistics", "[metrics]") {
  auto g = gen_of(4);
  const int64_t n = 1000, d = 6;
  at::Tensor x = at::randn({n, d}, g, f64) * 3.0 + 1000.0;  // large offset: naive sums would lose digits
  at::Tensor mean = x.mean(0);
  at::Tensor xc = x - mean;
  at::Tensor cov = xc.t().mm(xc) / static_cast<double>(n - 1);
  StatsAccumulator acc2;
  int64_t s = 0;
  for (int64_t len : {1, 7, 0, 100, 2, 390, 500}) {
    acc2.add(x.slice(0, s, s + len));
    s += len;
  }
  REQUIRE(acc2.count() == n);
  GaussianStats st = acc2.finalize();
  CHECK(st.n == n);
  CHECK((st.mu - mean).abs().max().item<double>() < 1e-10);
  CHECK((st.sigma - cov).abs().max().item<double>() < 1e-10);
  GaussianStats one = stats_of_features(x);
  CHECK((one.mu - mean).abs().max().item<double>() < 1e-10);
  CHECK((one.sigma - cov).abs().max().item<double>() < 1e-10);
  CHECK((st.sigma - st.sigma.t()).abs().max().item<double>() == 0.0);
}

TEST_CASE("CRC-32 matches the standard check value", "[metrics]") {
  const std::string s = "123456789";
  CHECK(crc32(s.data(), s.size()) == 0xCBF43926u);
  CHECK(crc32(s.data() + 4, 5, crc32(s.data(), 4)) == 0xCBF43926u);
  CHECK(crc32(nullptr, 0) == 0u);
  CHECK(crc32(nullptr, 0, 0xCBF43926u) == 0xCBF43926u);  // an empty piece (a tensor of no elements) changes nothing
}

TEST_CASE("stats .npz round trip, zip layout and corruption", "[metrics]") {
  auto g = gen_of(5);
  GaussianStats st{at::randn({5}, g, f64), random_spd(5, g), 42};
  const auto path = temp_path("stats.npz");
  save_stats_npz(path.string(), st);
  GaussianStats back = load_stats_npz(path.string());
  CHECK(at::equal(back.mu, st.mu));
  CHECK(at::equal(back.sigma, st.sigma));
  CHECK(back.mu.scalar_type() == at::kDouble);
  CHECK(back.n == 0);
  CHECK(stats_from_file(path.string()).mu.size(0) == 5);

  std::string bytes = read_all(path);
  REQUIRE(bytes.substr(0, 4) == std::string("PK\x03\x04", 4));
  CHECK(bytes.find("mu.npy") != std::string::npos);
  CHECK(bytes.find("sigma.npy") != std::string::npos);
  CHECK(bytes.find("<f8") != std::string::npos);

  // A flipped data byte is caught by the CRC.
  {
    std::string bad = bytes;
    const size_t data = bad.find("\x93NUMPY", bad.find("sigma.npy"));  // sigma's array
    REQUIRE(data != std::string::npos);
    bad[data + 140] ^= 0x01;  // inside the float64 values (header is 128 bytes)
    const auto p = temp_path("corrupt.npz");
    write_all(p, bad);
    CHECK_THROWS_AS(load_stats_npz(p.string()), InputError);
  }
  // A stored member labelled deflated is damaged deflate data, refused with a clear message; other zip methods
  // (bzip2 = 12) are named.
  {
    std::string bad = bytes, bz = bytes;
    size_t c = 0;
    while ((c = bad.find(std::string("PK\x01\x02", 4), c)) != std::string::npos) {
      bad[c + 10] = 8;  // method: deflate
      bz[c + 10] = 12;
      c += 4;
    }
    const auto p = temp_path("deflated.npz");
    write_all(p, bad);
    CHECK_THROWS_AS(load_stats_npz(p.string()), InputError);
    write_all(p, bz);
    CHECK_THROWS_WITH(load_stats_npz(p.string()), Catch::Contains("zip method 12"));
  }
  // Missing arrays, truncated files, missing files.
  {
    const auto p = temp_path("only_mu.npz");
    write_npz(p.string(), {{"mu", st.mu}});
    CHECK_THROWS_WITH(load_stats_npz(p.string()), Catch::Contains("sigma"));
    auto all = read_npz(p.string());
    CHECK(all.size() == 1);
    const auto t = temp_path("truncated.npz");
    write_all(t, bytes.substr(0, bytes.size() / 2));
    CHECK_THROWS_AS(load_stats_npz(t.string()), InputError);
    CHECK_THROWS_AS(load_stats_npz(temp_path("does_not_exist.npz").string()), InputError);
  }
}

TEST_CASE("zip directories that would cost more than their file holds are refused", "[metrics]") {
  // One stored member of 320 kB.
  const auto path = temp_path("big.npz");
  write_npz(path.string(), {{"mu", at::arange(40000, at::kDouble)}});
  const std::string bytes = read_all(path);
  auto le32 = [&](const std::string& b, size_t at) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(b[at + i])) << (8 * i);
    return v;
  };
  auto put = [](std::string& b, size_t at, uint32_t v, int n) {
    for (int i = 0; i < n; ++i) b[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
  };
  const size_t eocd = bytes.size() - 22;
  REQUIRE(le32(bytes, eocd) == 0x06054b50u);
  const uint32_t cd_size = le32(bytes, eocd + 12), cd_offset = le32(bytes, eocd + 16);
  // The directory's one entry three times over: three members on the same bytes (a small file whose readers
  // would copy, parse and checksum its data once per entry).
  {
    std::string alias = bytes.substr(0, cd_offset);
    const std::string entry = bytes.substr(cd_offset, cd_size);
    alias += entry + entry + entry;
    alias += bytes.substr(eocd);
    const size_t e = alias.size() - 22;
    put(alias, e + 8, 3, 2);
    put(alias, e + 10, 3, 2);
    put(alias, e + 12, 3 * cd_size, 4);
    const auto p = temp_path("alias.npz");
    write_all(p, alias);
    CHECK_THROWS_WITH(read_npz(p.string()), Catch::Contains("members overlap"));
  }
  // One entry whose directory claims most of the file: refused before it is read.
  {
    std::string wide = bytes;
    put(wide, eocd + 12, static_cast<uint32_t>(eocd), 4);
    put(wide, eocd + 16, 0, 4);
    const auto p = temp_path("wide.npz");
    write_all(p, wide);
    CHECK_THROWS_WITH(read_npz(p.string()), Catch::Contains("central directory implausibly large"));
  }
  CHECK(read_npz(path.string()).at("mu").size(0) == 40000);
}

TEST_CASE("FD rejects bad input", "[metrics]") {
  auto g = gen_of(6);
  at::Tensor a = at::randn({10, 3}, g, f64), b = at::randn({10, 4}, g, f64);
  CHECK_THROWS_AS(fd_of_features(a, b), InputError);           // dimension mismatch
  CHECK_THROWS_AS(fd_of_features(a.slice(0, 0, 1), a), InputError);  // n < 2
  CHECK_THROWS_AS(fd_of_features(a[0], a), InputError);          // not 2-D
  at::Tensor c = a.clone();
  c[3][1] = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH(fd_of_features(a, c), Catch::Contains("row 3"));
  c[3][1] = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(fd_of_features(c, a), InputError);
  StatsAccumulator acc;
  acc.add(a);
  CHECK_THROWS_AS(acc.add(b), InputError);
  GaussianStats s{at::zeros({3}, f64), at::eye(4, f64), 0};
  CHECK_THROWS_AS(frechet_distance(s, s), InputError);
  StatsAccumulator empty;
  CHECK_THROWS_AS(empty.finalize(), InputError);
}

// ---------------------------------------------------------------------------------------------
// Wasserstein
// ---------------------------------------------------------------------------------------------

TEST_CASE("exact W2 equals brute force over all permutations (n <= 7)", "[metrics]") {
  auto g = gen_of(7);
  for (int trial = 0; trial < 30; ++trial) {
    const int64_t n = 1 + trial % 7, d = 1 + trial % 3;
    at::Tensor a = at::randn({n, d}, g, f64), b = at::randn({n, d}, g, f64) + 0.3;
    at::Tensor c = squared_distances(a, b);
    std::vector<int> perm(n);
    std::iota(perm.begin(), perm.end(), 0);
    double best = std::numeric_limits<double>::infinity(), best1 = best;
    do {
      double s = 0, s1 = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double v = c[i][perm[i]].item<double>();
        s += v;
        s1 += std::sqrt(v);
      }
      best = std::min(best, s / n);
      best1 = std::min(best1, s1 / n);
    } while (std::next_permutation(perm.begin(), perm.end()));
    CHECK(wasserstein2(a, b) == Approx(std::sqrt(best)).epsilon(1e-12));
    CHECK(wasserstein1(a, b) == Approx(best1).epsilon(1e-12));
    check_plan(exact_ot(c), c);
  }
}

TEST_CASE("exact OT with unequal sizes equals the replicated assignment problem", "[metrics]") {
  auto g = gen_of(8);
  for (int trial = 0; trial < 24; ++trial) {
    const int64_t n = 1 + trial % 6, m = 1 + (trial * 5 + 2) % 7;
    at::Tensor a = at::randn({n, 2}, g, f64), b = at::randn({m, 2}, g, f64) * 1.5;
    at::Tensor c = squared_distances(a, b);
    const int64_t l = std::lcm(n, m);
    // Replicate each point of A m/g times... i.e. to l points each, uniform weights 1/l.
    at::Tensor ar = a.repeat_interleave(l / n, 0), br = b.repeat_interleave(l / m, 0);
    const double expected = hungarian_min_cost(to_matrix(squared_distances(ar, br))) / static_cast<double>(l);
    const TransportPlan plan = exact_ot(c);
    CHECK(plan.total == l);
    CHECK(plan.cost == Approx(expected).epsilon(1e-12).margin(1e-14));
    check_plan(plan, c);
    CHECK(wasserstein2(a, b) == Approx(std::sqrt(expected)).epsilon(1e-12));
  }
}

TEST_CASE("exact OT on larger sets: 1-D quantile formula, Hungarian, dual certificate", "[metrics]") {
  auto g = gen_of(9);
  // 1-D: W_p^p is the integral of |F^-1 - G^-1|^p, exact for any sizes.
  for (auto [n, m] : std::vector<std::pair<int64_t, int64_t>>{{200, 200}, {150, 250}, {301, 300}, {64, 1000}}) {
    at::Tensor a = at::randn({n, 1}, g, f64), b = at::randn({m, 1}, g, f64) * 2 + 0.5;
    std::vector<double> va(a.data_ptr<double>(), a.data_ptr<double>() + n);
    std::vector<double> vb(b.data_ptr<double>(), b.data_ptr<double>() + m);
    CHECK(wasserstein2(a, b) == Approx(std::sqrt(w_pp_1d(va, vb, 2))).epsilon(1e-10));
    CHECK(wasserstein1(a, b) == Approx(w_pp_1d(va, vb, 1)).epsilon(1e-10));
  }
  // 2-D, equal sizes, against the textbook Hungarian algorithm.
  at::Tensor a = at::randn({150, 2}, g, f64), b = at::rand({150, 2}, g, f64) * 3;
  at::Tensor c = squared_distances(a, b);
  const TransportPlan plan = exact_ot(c);
  CHECK(plan.cost == Approx(hungarian_min_cost(to_matrix(c)) / 150.0).epsilon(1e-12));
  check_plan(plan, c);
  // 2-D, unequal and coprime sizes: dual certificate of optimality.
  at::Tensor x = at::randn({97, 2}, g, f64), y = at::randn({130, 2}, g, f64) + 1.0;
  at::Tensor cxy = squared_distances(x, y);
  check_plan(exact_ot(cxy), cxy);
  // Identical sets → 0; float32 input works.
  CHECK(wasserstein2(a.to(at::kFloat), a.to(at::kFloat)) == Approx(0.0).margin(1e-12));
  // Translation by t: W2 = |t| for identical shapes.
  at::Tensor t = at::tensor({3.0, -4.0}, f64);
  CHECK(wasserstein2(a, a + t) == Approx(5.0).epsilon(1e-12));
}

TEST_CASE("network simplex on unequal sizes equals the replicated Hungarian problem", "[metrics]") {
  auto g = gen_of(21);
  const std::vector<std::pair<int64_t, int64_t>> sizes{{5, 7}, {6, 4}, {9, 12}, {12, 9}, {1, 9}, {9, 1},
                                                       {10, 15}, {8, 8}, {13, 5}, {2, 3}};
  for (int trial = 0; trial < 3; ++trial)
    for (auto [n, m] : sizes) {
      const int64_t d = 1 + (trial + n) % 3;
      at::Tensor a = at::randn({n, d}, g, f64), b = at::randn({m, d}, g, f64) * 1.5 + 0.25 * trial;
      const int64_t l = std::lcm(n, m);
      at::Tensor ar = a.repeat_interleave(l / n, 0), br = b.repeat_interleave(l / m, 0);
      for (int p : {1, 2}) {
        at::Tensor c = squared_distances(a, b), cr = squared_distances(ar, br);
        if (p == 1) {
          c = c.sqrt();
          cr = cr.sqrt();
        }
        const double expected = hungarian_min_cost(to_matrix(cr)) / static_cast<double>(l);
        const TransportPlan plan = exact_ot(c);
        CHECK(plan.total == l);
        CHECK(static_cast<int64_t>(plan.flow.size()) <= n + m - 1);  // a basic solution
        CHECK(plan.cost == Approx(expected).epsilon(1e-12).margin(1e-14));
        check_plan(plan, c);
        const double w = wasserstein(a, b, p);
        CHECK(w == Approx(p == 2 ? std::sqrt(expected) : expected).epsilon(1e-12).margin(1e-14));
        CHECK(wasserstein(b, a, p) == Approx(w).epsilon(1e-12).margin(1e-14));  // the transposed problem
      }
    }
  // Tiny unequal cases against enumeration of all permutations of the replicated sets.
  for (auto [n, m] : std::vector<std::pair<int64_t, int64_t>>{{2, 3}, {3, 2}, {2, 4}, {4, 2}, {1, 7}}) {
    at::Tensor a = at::randn({n, 2}, g, f64), b = at::randn({m, 2}, g, f64);
    const int64_t l = std::lcm(n, m);
    at::Tensor cr = squared_distances(a.repeat_interleave(l / n, 0), b.repeat_interleave(l / m, 0));
    const auto mat = to_matrix(cr);
    std::vector<int> perm(l);
    std::iota(perm.begin(), perm.end(), 0);
    double best = std::numeric_limits<double>::infinity();
    do {
      double s = 0;
      for (int64_t i = 0; i < l; ++i) s += mat[i][perm[i]];
      best = std::min(best, s / l);
    } while (std::next_permutation(perm.begin(), perm.end()));
    CHECK(exact_ot(squared_distances(a, b)).cost == Approx(best).epsilon(1e-12));
  }
}

TEST_CASE("exact OT with unequal sizes: 1-D quantile formula up to a few hundred points", "[metrics]") {
  auto g = gen_of(22);
  for (auto [n, m] : std::vector<std::pair<int64_t, int64_t>>{
           {300, 299}, {299, 300}, {123, 456}, {500, 200}, {1, 300}, {300, 1}, {257, 256}, {97, 389}}) {
    at::Tensor a = at::randn({n, 1}, g, f64), b = at::randn({m, 1}, g, f64) * 1.7 - 0.4;
    std::vector<double> va(a.data_ptr<double>(), a.data_ptr<double>() + n);
    std::vector<double> vb(b.data_ptr<double>(), b.data_ptr<double>() + m);
    CHECK(wasserstein2(a, b) == Approx(std::sqrt(w_pp_1d(va, vb, 2))).epsilon(1e-10));
    CHECK(wasserstein1(a, b) == Approx(w_pp_1d(va, vb, 1)).epsilon(1e-10));
  }
  // Rounded 1-D values: many exact ties in the costs.
  at::Tensor a = (at::randn({240, 1}, g, f64) * 4).round(), b = (at::randn({180, 1}, g, f64) * 4 + 1).round();
  std::vector<double> va(a.data_ptr<double>(), a.data_ptr<double>() + 240);
  std::vector<double> vb(b.data_ptr<double>(), b.data_ptr<double>() + 180);
  CHECK(wasserstein2(a, b) == Approx(std::sqrt(w_pp_1d(va, vb, 2))).epsilon(1e-12));
  CHECK(wasserstein1(a, b) == Approx(w_pp_1d(va, vb, 1)).epsilon(1e-12));
  const at::Tensor c = squared_distances(a, b);
  check_plan(exact_ot(c), c);
}

TEST_CASE("exact OT with many ties (integer grid points) and degenerate inputs", "[metrics]") {
  auto g = gen_of(23);
  auto grid_points = [&](int64_t n, int64_t side) {
    return at::randint(0, side, {n, 2}, g, f64);  // points of a side x side integer grid, with repeats
  };
  for (auto [n, m, side] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {24, 36, 4}, {40, 60, 5}, {50, 50, 3}, {45, 30, 6}, {16, 48, 2}}) {
    at::Tensor a = grid_points(n, side), b = grid_points(m, side);
    const int64_t l = std::lcm(n, m);
    for (int p : {1, 2}) {
      at::Tensor c = squared_distances(a, b);
      at::Tensor cr = squared_distances(a.repeat_interleave(l / n, 0), b.repeat_interleave(l / m, 0));
      if (p == 1) {
        c = c.sqrt();
        cr = cr.sqrt();
      }
      const TransportPlan plan = exact_ot(c);
      CHECK(plan.cost == Approx(hungarian_min_cost(to_matrix(cr)) / static_cast<double>(l)).epsilon(1e-12).margin(1e-14));
      check_plan(plan, c);
    }
  }
  // All points identical: every cost is 0.
  at::Tensor z = at::ones({30, 3}, f64), z2 = at::ones({45, 3}, f64);
  const TransportPlan zp = exact_ot(squared_distances(z, z2));
  CHECK(zp.cost == 0.0);
  check_plan(zp, squared_distances(z, z2));
  // A set against itself repeated: W = 0 for any number of copies.
  at::Tensor q = grid_points(35, 4);
  CHECK(wasserstein2(q, q.repeat({3, 1})) == 0.0);
  CHECK(wasserstein1(q.repeat({2, 1}), q.repeat({3, 1})) == 0.0);
  // A constant cost matrix: every plan is optimal.
  const TransportPlan cp = exact_ot(at::full({7, 11}, 2.5, f64));
  CHECK(cp.cost == Approx(2.5).epsilon(1e-15));
  check_plan(cp, at::full({7, 11}, 2.5, f64));
  // Single rows / columns.
  const at::Tensor row = at::tensor({1.0, 2.0, 6.0}, f64).reshape({1, 3});
  CHECK(exact_ot(row).cost == Approx(3.0));
  CHECK(exact_ot(row.t()).cost == Approx(3.0));
  CHECK(exact_ot(at::full({1, 1}, 4.0, f64)).cost == 4.0);
}

TEST_CASE("exact OT with unequal sizes: translation identity, dual certificate, symmetry", "[metrics]") {
  auto g = gen_of(24);
  // W2^2(A, B + t) = W2^2(A, B) + |t|^2 + 2 t·(mean B − mean A): the cost changes by
  // terms fixed by the marginals, so the optimal plan does not change.
  at::Tensor a = at::randn({700, 2}, g, f64), b = at::randn({301, 2}, g, f64) * at::tensor({1.5, 0.7}, f64);
  at::Tensor t = at::tensor({0.8, -1.3}, f64);
  const double w = wasserstein2(a, b), wt = wasserstein2(a, b + t);
  const double shift = t.dot(t).item<double>() + 2 * t.dot(b.mean(0) - a.mean(0)).item<double>();
  CHECK(wt * wt == Approx(w * w + shift).epsilon(1e-11));
  CHECK(wasserstein2(b, a) == Approx(w).epsilon(1e-12));
  // Dual certificate on a coprime pair in 3-D, and on the larger pair above.
  at::Tensor x = at::randn({211, 3}, g, f64), y = at::randn({157, 3}, g, f64) + 0.5;
  at::Tensor cxy = squared_distances(x, y);
  check_plan(exact_ot(cxy), cxy);
  at::Tensor cab = squared_distances(a, b);
  const TransportPlan plan = exact_ot(cab);
  check_plan(plan, cab);
  CHECK(static_cast<int64_t>(plan.flow.size()) <= 700 + 301 - 1);
  // Permuting the points does not change the optimum.
  at::Tensor pa = at::randperm(700, g, at::kLong), pb = at::randperm(301, g, at::kLong);
  CHECK(wasserstein2(a.index_select(0, pa), b.index_select(0, pb)) == Approx(w).epsilon(1e-12));
  // Large unequal sets run (they were refused before): W1 <= W2, both positive.
  at::Tensor u = at::randn({1000, 2}, g, f64), v = at::randn({1500, 2}, g, f64) + 0.3;
  const double w1 = wasserstein1(u, v), w2 = wasserstein2(u, v);
  CHECK(w1 > 0);
  CHECK(w1 <= w2 * (1 + 1e-12));
}

TEST_CASE("w2_gaussian known values", "[metrics]") {
  auto s = [](double v) { return at::full({1, 1}, v, f64); };
  auto m = [](double v) { return at::full({1}, v, f64); };
  // 1-D: W2^2 = (mu1 - mu2)^2 + (s1 - s2)^2 with standard deviations s.
  CHECK(w2_gaussian(m(1.0), s(4.0), m(-2.0), s(9.0)) == Approx(std::sqrt(9.0 + 1.0)).epsilon(1e-12));
  CHECK(w2_gaussian(m(0.5), s(0.25), m(0.5), s(0.25)) == Approx(0.0).margin(1e-12));
  // Commuting (diagonal) covariances: sum over axes.
  at::Tensor s1 = at::diag(at::tensor({1.0, 4.0}, f64)), s2 = at::diag(at::tensor({9.0, 1.0}, f64));
  CHECK(w2_gaussian(at::zeros({2}, f64), s1, at::tensor({3.0, 4.0}, f64), s2) ==
        Approx(std::sqrt(25.0 + 4.0 + 1.0)).epsilon(1e-12));
  // Against identity: sum (sqrt(l_i) - 1)^2 over eigenvalues, rotation invariant.
  auto g = gen_of(10);
  at::Tensor q = std::get<0>(at::linalg_qr(at::randn({3, 3}, g, f64)));
  at::Tensor s3 = (q * at::tensor({0.25, 1.0, 4.0}, f64).unsqueeze(0)).mm(q.t());
  CHECK(w2_gaussian(at::zeros({3}, f64), s3, at::zeros({3}, f64), at::eye(3, f64)) ==
        Approx(std::sqrt(0.25 + 0.0 + 1.0)).epsilon(1e-10));
  // Symmetric in its arguments.
  at::Tensor a = random_spd(4, g), b = random_spd(4, g);
  at::Tensor ma = at::randn({4}, g, f64), mb = at::randn({4}, g, f64);
  CHECK(w2_gaussian(ma, a, mb, b) == Approx(w2_gaussian(mb, b, ma, a)).epsilon(1e-10));
}

TEST_CASE("Wasserstein rejects bad input", "[metrics]") {
  auto g = gen_of(11);
  at::Tensor a = at::randn({5, 2}, g, f64), b = at::randn({6, 3}, g, f64);
  CHECK_THROWS_AS(wasserstein2(a, b), InputError);
  CHECK_THROWS_AS(wasserstein2(a, a.slice(0, 0, 0)), InputError);
  CHECK_THROWS_AS(wasserstein(a, a, 3), InputError);
  at::Tensor c = a.clone();
  c[2][0] = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH(wasserstein2(a, c), Catch::Contains("NaN"));
  CHECK_THROWS_AS(wasserstein2(at::zeros({7000, 1}, f64), at::zeros({7000, 1}, f64)), InputError);  // too large
  CHECK_THROWS_AS(wasserstein2(at::zeros({7000, 1}, f64), at::zeros({6000, 1}, f64)), InputError);  // unequal, too large
  CHECK(wasserstein2(at::zeros({1000, 1}, f64), at::zeros({999, 1}, f64)) == 0.0);  // unequal sizes are no longer limited
  CHECK_THROWS_AS(exact_ot(at::zeros({3, 0}, f64)), InputError);
  CHECK_THROWS_AS(exact_ot(at::zeros({3, 4}, at::kLong)), InputError);
  at::Tensor bad = at::zeros({3, 4}, f64);
  bad[1][2] = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH(exact_ot(bad), Catch::Contains("NaN or Inf"));
  CHECK_THROWS_AS(w2_gaussian(at::zeros({2}, f64), at::eye(3, f64), at::zeros({2}, f64), at::eye(2, f64)),
                  InputError);
}

// Timing, not run by default: sims_tests "[.bench]" (one thread).
TEST_CASE("bench: exact W2 2000 vs 2000, 2000 vs 1999, 1000 vs 3000", "[.bench]") {
  auto g = gen_of(12);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  for (auto [n, m] : std::vector<std::pair<int64_t, int64_t>>{
           {1000, 1000}, {2000, 2000}, {2000, 1999}, {1000, 3000}, {500, 499}, {250, 1000}, {4000, 3999}}) {
    at::Tensor a = at::randn({n, 2}, g, f64), b = at::randn({m, 2}, g, f64) * 1.3 + 0.2;
    auto t0 = std::chrono::steady_clock::now();
    const double w = wasserstein2(a, b);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const at::Tensor c = squared_distances(a, b);
    t0 = std::chrono::steady_clock::now();
    const TransportPlan plan = exact_ot(c);
    const double ot_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("W2 %lld vs %lld points: %.9f in %.3f s (exact_ot alone %.3f s, %lld pivots)\n",
                static_cast<long long>(n), static_cast<long long>(m), w, secs, ot_secs,
                static_cast<long long>(plan.pivots));
  }
  at::set_num_threads(threads);
}

// ---------------------------------------------------------------------------------------------
// Precision / recall
// ---------------------------------------------------------------------------------------------

TEST_CASE("precision/recall on hand-made configurations", "[metrics]") {
  auto g = gen_of(13);
  at::Tensor real = at::randn({200, 8}, g, f64);
  // Identical sets: every point lies in its own ball.
  auto same = precision_recall(real, real.clone(), 5);
  CHECK(same.precision == 1.0);
  CHECK(same.recall == 1.0);
  // Generated points far away: nothing covered either way.
  auto far = precision_recall(real, real + 1000.0, 5);
  CHECK(far.precision == 0.0);
  CHECK(far.recall == 0.0);
  // 1-D grid 0..9, k = 1: every real radius is 1 (0 and 9 included).
  at::Tensor grid = at::arange(10, f64).unsqueeze(1);
  // Generated: 4 near the grid, 4 far; generated radii with k = 1 are small for the close pair.
  at::Tensor fake = at::tensor({0.5, 3.9, 9.95, 10.0, 50.0, 50.1, 60.0, 60.05}, f64).unsqueeze(1);
  auto pr = precision_recall(grid, fake, 1);
  CHECK(pr.precision == Approx(4.0 / 8.0));
  // Generated radii: 0.5→3.4 (to 3.9), 3.9→3.4, 9.95→0.05, 10→0.05, 50→0.1, 50.1→0.1, 60→0.05, 60.05→0.05.
  // Real points covered: by 0.5 (r 3.4): 0..3; by 3.9 (r 3.4): 1..7 → 0..7 covered; 9.95/10 cover nothing.
  CHECK(pr.recall == Approx(8.0 / 10.0));
}

TEST_CASE("precision/recall equals a brute-force computation (blocked, k = 3 and 5)", "[metrics]") {
  auto g = gen_of(14);
  at::Tensor real = at::randn({120, 5}, g, f64), fake = at::randn({90, 5}, g, f64) * 1.3 + 0.4;
  auto brute_radius = [](const at::Tensor& x, int64_t k) {
    at::Tensor d = at::cdist(x, x);
    std::vector<double> r;
    for (int64_t i = 0; i < x.size(0); ++i) {
      std::vector<double> row(d[i].data_ptr<double>(), d[i].data_ptr<double>() + x.size(0));
      row.erase(row.begin() + i);
      std::nth_element(row.begin(), row.begin() + (k - 1), row.end());
      r.push_back(row[k - 1]);
    }
    return r;
  };
  for (int64_t k : {3, 5}) {
    const auto rr = brute_radius(real, k), rf = brute_radius(fake, k);
    at::Tensor d = at::cdist(fake, real);  // [90, 120]
    int64_t p = 0, r = 0;
    for (int64_t i = 0; i < 90; ++i) {
      bool in = false;
      for (int64_t j = 0; j < 120; ++j) in = in || d[i][j].item<double>() <= rr[j];
      p += in;
    }
    for (int64_t j = 0; j < 120; ++j) {
      bool in = false;
      for (int64_t i = 0; i < 90; ++i) in = in || d[i][j].item<double>() <= rf[i];
      r += in;
    }
    for (int64_t block : {7, 1024}) {
      auto pr = precision_recall(real, fake, k, block);
      CHECK(pr.precision == Approx(p / 90.0));
      CHECK(pr.recall == Approx(r / 120.0));
    }
    at::Tensor r2 = knn_radii_squared(real, k, 13);
    for (int64_t i = 0; i < 120; ++i) CHECK(std::sqrt(r2[i].item<double>()) == Approx(rr[i]).epsilon(1e-9));
  }
}
