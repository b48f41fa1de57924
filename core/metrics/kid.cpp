#include "metrics/kid.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "metrics/shape_text.hpp"
#include "metrics/uncertainty.hpp"

namespace sims::metrics {
namespace {

at::Tensor checked_features(const at::Tensor& x, const char* name, int64_t min_rows) {
  if (!x.defined() || x.dim() != 2)
    throw InputError(std::string(name) + " features must be a 2-D array [N, D], got " +
                     (x.defined() ? shape_str(x) : std::string("nothing")));
  if (!at::isFloatingType(x.scalar_type())) throw InputError(std::string(name) + " features must be float32 or float64");
  if (x.size(0) < min_rows)
    throw InputError(std::string(name) + " set has " + std::to_string(x.size(0)) + " points; at least " +
                     std::to_string(min_rows) + " are needed");
  if (!x.isfinite().all().item<bool>()) throw InputError(std::string(name) + " features contain NaN or Inf");
  return x.to(at::kCPU, at::kDouble).contiguous();
}

// m distinct indices of 0..n-1 (a partial Fisher-Yates shuffle).
at::Tensor choose(int64_t n, int64_t m, std::mt19937_64& rng) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  for (int64_t i = 0; i < m; ++i) {
    std::uniform_int_distribution<int64_t> pick(i, n - 1);
    std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(pick(rng))]);
  }
  return at::tensor(std::vector<int64_t>(idx.begin(), idx.begin() + m), at::kLong);
}

}  // namespace

Kid kid(const at::Tensor& real_in, const at::Tensor& fake_in, int64_t subsets, int64_t subset_size, uint64_t seed) {
  if (subsets < 1) throw InputError("KID needs at least one subset");
  if (subset_size < 2) throw InputError("KID subsets need at least 2 points");
  const at::Tensor real = checked_features(real_in, "real", 2), fake = checked_features(fake_in, "generated", 2);
  if (real.size(1) != fake.size(1))
    throw InputError("feature dimensions differ: real " + std::to_string(real.size(1)) + " vs generated " +
                     std::to_string(fake.size(1)));
  const int64_t m = std::min({subset_size, real.size(0), fake.size(0)});
  const double d = static_cast<double>(real.size(1)), mm = static_cast<double>(m);
  auto kernel = [d](const at::Tensor& a, const at::Tensor& b) { return (at::mm(a, b.t()) / d + 1.0).pow(3); };
  std::mt19937_64 rng(seed ^ 0x6b1du);
  std::vector<double> values;
  for (int64_t s = 0; s < subsets; ++s) {
    // One subset: the first m rows of each set (deterministic); several: random draws.
    const at::Tensor x = subsets == 1 ? real.slice(0, 0, m) : real.index_select(0, choose(real.size(0), m, rng));
    const at::Tensor y = subsets == 1 ? fake.slice(0, 0, m) : fake.index_select(0, choose(fake.size(0), m, rng));
    const at::Tensor kxx = kernel(x, x), kyy = kernel(y, y), kxy = kernel(x, y);
    const double sxx = (kxx.sum() - kxx.diagonal().sum()).item<double>();
    const double syy = (kyy.sum() - kyy.diagonal().sum()).item<double>();
    const double sxy = kxy.sum().item<double>();
    values.push_back((sxx + syy) / (mm * (mm - 1)) - 2 * sxy / (mm * mm));
  }
  Kid k;
  k.subset_size = m;
  k.subsets = subsets;
  k.subsets_alike = m == real.size(0) && m == fake.size(0);
  k.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  double ss = 0;
  for (double v : values) ss += (v - k.mean) * (v - k.mean);
  k.std = values.size() > 1 ? std::sqrt(ss / static_cast<double>(values.size())) : 0.0;
  return k;
}

std::string KidBlocks::method() const {
  return "Student t over " + std::to_string(blocks) + " disjoint subsets of " + std::to_string(block_size) + " rows";
}

std::pair<double, double> KidBlocks::around(double v) const {
  const double h = (hi - lo) / 2;
  return std::isfinite(h) && std::isfinite(v) ? std::make_pair(v - h, v + h)
                                              : std::make_pair(std::numeric_limits<double>::quiet_NaN(),
                                                               std::numeric_limits<double>::quiet_NaN());
}

KidBlocks kid_blocks(const at::Tensor& real_in, const at::Tensor& fake_in, int64_t block_size, uint64_t seed, double level) {
  if (block_size < 2) throw InputError("KID subsets need at least 2 points");
  const at::Tensor real = checked_features(real_in, "real", 2), fake = checked_features(fake_in, "generated", 2);
  KidBlocks r;
  r.level = level;
  r.block_size = block_size;
  r.blocks = std::min(real.size(0), fake.size(0)) / block_size;
  if (r.blocks < 2) return r;
  std::mt19937_64 rng(seed ^ 0x6b69642d626c6bULL);
  // The rows the blocks use, in a seeded random order (a reference can hold many more than they use).
  const auto shuffled = [&](const at::Tensor& x) {
    std::vector<int64_t> idx(static_cast<size_t>(x.size(0)));
    std::iota(idx.begin(), idx.end(), int64_t{0});
    std::shuffle(idx.begin(), idx.end(), rng);
    idx.resize(static_cast<size_t>(r.blocks * block_size));
    return x.index_select(0, at::tensor(idx, at::kLong));
  };
  const at::Tensor rs = shuffled(real), fs = shuffled(fake);
  std::vector<double> v;
  for (int64_t b = 0; b < r.blocks; ++b)
    v.push_back(kid(rs.narrow(0, b * block_size, block_size), fs.narrow(0, b * block_size, block_size), 1, block_size, 0).mean);
  const Estimate e = mean_over_runs(v, level);
  r.value = e.value, r.lo = e.lo, r.hi = e.hi;
  return r;
}

KidScore kid_scored(const at::Tensor& real_in, const at::Tensor& fake_in, int64_t subsets, uint64_t seed, bool interval) {
  // Converted once: kid and kid_blocks take float64 contiguous tensors as they are (no second copy).
  const at::Tensor real = checked_features(real_in, "real", 2), fake = checked_features(fake_in, "generated", 2);
  KidScore s;
  s.kid = kid(real, fake, subsets, 1000, seed);
  if (const int64_t b = interval ? kid_block_size(real.size(0), fake.size(0), kKidIntervalBlocks) : 0)
    std::tie(s.lo, s.hi) = kid_blocks(real, fake, b, seed).around(s.kid.mean);
  return s;
}

int64_t kid_block_size(int64_t real_rows, int64_t fake_rows, int64_t blocks) {
  const int64_t s = std::min<int64_t>(1000, std::min(real_rows, fake_rows) / std::max<int64_t>(blocks, 1));
  return s >= 2 ? s : 0;
}

namespace {

at::Tensor points64(const at::Tensor& t, const char* what) {
  if (t.dim() != 2 || t.size(0) < 2)
    throw InputError(std::string("energy distance: ") + what + " must be points [N, D] with N >= 2, got " + shape_str(t));
  at::Tensor d = t.to(at::kCPU, at::kDouble).contiguous();
  if (!at::isfinite(d).all().item<bool>()) throw InputError(std::string("energy distance: ") + what + " has non-finite values");
  return d;
}

// Sum of |a_i - b_j| over all pairs, in blocks of rows (a 5,000-point set
// needs no 200 MB matrix).
double sum_distances(const at::Tensor& a, const at::Tensor& b) {
  double s = 0;
  for (int64_t i = 0; i < a.size(0); i += 1024) s += at::cdist(a.narrow(0, i, std::min<int64_t>(1024, a.size(0) - i)), b).sum().item<double>();
  return s;
}

}  // namespace

double EnergyDistance::self_term(const at::Tensor& y_in) {
  const at::Tensor y = points64(y_in, "the reference");
  const double m = static_cast<double>(y.size(0));
  return sum_distances(y, y) / (m * (m - 1));  // the diagonal is 0
}

EnergyDistance::EnergyDistance(const at::Tensor& x_in, const at::Tensor& y_in, double y_self) {
  const at::Tensor x = points64(x_in, "the samples"), y = points64(y_in, "the reference");
  if (x.size(1) != y.size(1))
    throw InputError("energy distance: the sets have dimensions " + std::to_string(x.size(1)) + " and " +
                     std::to_string(y.size(1)));
  dxx_ = at::cdist(x, x);
  const at::Tensor rows = at::empty({x.size(0)}, x.options());
  for (int64_t i = 0; i < x.size(0); i += 1024) {
    const int64_t k = std::min<int64_t>(1024, x.size(0) - i);
    rows.narrow(0, i, k).copy_(at::cdist(x.narrow(0, i, k), y).mean(1));
  }
  xy_mean_.assign(rows.data_ptr<double>(), rows.data_ptr<double>() + rows.numel());
  yy_ = std::isfinite(y_self) ? y_self : self_term(y);
}

double EnergyDistance::operator()(const std::vector<int64_t>& idx) const {
  const double n = static_cast<double>(idx.size());
  if (idx.size() < 2) throw InputError("energy distance: at least 2 samples are needed");
  // With multiplicities c, the sum over pairs of positions a != b is c^T D c (D's diagonal is 0): one
  // matrix-vector product instead of an n x n copy per resample.
  double xy = 0;
  at::Tensor c = at::zeros({dxx_.size(0)}, dxx_.options());
  double* cp = c.data_ptr<double>();
  for (int64_t i : idx) {
    xy += xy_mean_.at(static_cast<size_t>(i));
    cp[i] += 1;
  }
  const double xx = at::dot(c, at::mv(dxx_, c)).item<double>() / (n * (n - 1));
  return 2 * xy / n - xx - yy_;
}

double EnergyDistance::full() const {
  std::vector<int64_t> idx(xy_mean_.size());
  std::iota(idx.begin(), idx.end(), 0);
  return (*this)(idx);
}

double energy_distance(const at::Tensor& x, const at::Tensor& y) { return EnergyDistance(x, y).full(); }

}  // namespace sims::metrics
