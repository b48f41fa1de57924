#include "metrics/precision_recall.hpp"

#include <algorithm>
#include <string>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "metrics/shape_text.hpp"

namespace sims::metrics {
namespace {

void check_set(const at::Tensor& x, const char* name, int64_t k) {
  if (!x.defined() || x.dim() != 2)
    throw InputError(std::string(name) + " features must be a 2-D array [N, D], got " +
                     (x.defined() ? shape_str(x) : std::string("nothing")));
  if (!at::isFloatingType(x.scalar_type())) throw InputError(std::string(name) + " features must be float32 or float64");
  if (x.size(1) < 1) throw InputError(std::string(name) + " features have zero dimensions");
  if (x.size(0) <= k)
    throw InputError(std::string(name) + " set has " + std::to_string(x.size(0)) + " points; k = " +
                     std::to_string(k) + " needs at least " + std::to_string(k + 1));
  if (!x.isfinite().all().item<bool>()) {
    const int64_t row = x.isfinite().all(1).logical_not().nonzero()[0][0].item<int64_t>();
    throw InputError(std::string(name) + " features contain NaN or Inf (row " + std::to_string(row) + ")");
  }
}

// Squared distances between the rows of x [b, D] and y [N, D], given the
// squared norms; clamped at 0.
at::Tensor sqdist(const at::Tensor& x, const at::Tensor& xn, const at::Tensor& y, const at::Tensor& yn) {
  return at::addmm(xn.unsqueeze(1) + yn.unsqueeze(0), x, y.t(), /*beta=*/1, /*alpha=*/-2).clamp_min_(0);
}

at::Tensor radii_impl(const at::Tensor& x, int64_t k, int64_t block) {
  const int64_t n = x.size(0);
  at::Tensor xn = (x * x).sum(1);
  at::Tensor r = at::empty({n}, x.options());
  for (int64_t s = 0; s < n; s += block) {
    const int64_t e = std::min(n, s + block);
    at::Tensor d = sqdist(x.slice(0, s, e), xn.slice(0, s, e), x, xn);
    d.diagonal(s).zero_();  // the point itself: exactly 0
    r.slice(0, s, e).copy_(std::get<0>(d.kthvalue(k + 1, 1)));
  }
  return r;
}

at::ScalarType compute_dtype(const at::Tensor& a, const at::Tensor& b) {
  return (a.scalar_type() == at::kDouble || b.scalar_type() == at::kDouble) ? at::kDouble : at::kFloat;
}

}  // namespace

at::Tensor knn_radii_squared(const at::Tensor& x, int64_t k, int64_t block) {
  if (k < 1) throw InputError("k must be at least 1, got " + std::to_string(k));
  if (block < 1) throw InputError("block must be at least 1");
  check_set(x, "the", k);
  return radii_impl(x.to(at::kCPU, compute_dtype(x, x)).contiguous(), k, block);
}

PointScores point_scores(const at::Tensor& real_in, const at::Tensor& fake_in, int64_t k, int64_t block) {
  if (k < 1) throw InputError("k must be at least 1, got " + std::to_string(k));
  if (block < 1) throw InputError("block must be at least 1");
  check_set(real_in, "real", k);
  check_set(fake_in, "generated", k);
  if (real_in.size(1) != fake_in.size(1))
    throw InputError("feature dimensions differ: real " + std::to_string(real_in.size(1)) + " vs generated " +
                     std::to_string(fake_in.size(1)));
  const at::ScalarType dt = compute_dtype(real_in, fake_in);
  at::Tensor real = real_in.to(at::kCPU, dt).contiguous();
  at::Tensor fake = fake_in.to(at::kCPU, dt).contiguous();
  at::Tensor r_real = radii_impl(real, k, block);
  at::Tensor r_fake = radii_impl(fake, k, block);
  at::Tensor real_n = (real * real).sum(1), fake_n = (fake * fake).sum(1);
  // One pass over the cross distances serves all four: per generated point
  // (any / how many real balls), per real point (in some generated ball; a
  // generated point in its own ball).
  const int64_t nf = fake.size(0), nr = real.size(0);
  PointScores ps;
  ps.k = k;
  ps.fake_in_real = at::empty({nf}, at::kDouble);
  ps.fake_balls = at::empty({nf}, at::kDouble);
  at::Tensor real_in_fake = at::zeros({nr}, at::kBool), real_covered = at::zeros({nr}, at::kBool);
  for (int64_t s = 0; s < nf; s += block) {
    const int64_t e = std::min(nf, s + block);
    at::Tensor d = sqdist(fake.slice(0, s, e), fake_n.slice(0, s, e), real, real_n);  // [b, Nr]
    const at::Tensor in_real_balls = d.le(r_real.unsqueeze(0));
    ps.fake_in_real.slice(0, s, e).copy_(in_real_balls.any(1));
    ps.fake_balls.slice(0, s, e).copy_(in_real_balls.sum(1));
    real_covered.logical_or_(in_real_balls.any(0));
    real_in_fake.logical_or_(d.le(r_fake.slice(0, s, e).unsqueeze(1)).any(0));
  }
  ps.real_in_fake = real_in_fake.to(at::kDouble);
  ps.real_covered = real_covered.to(at::kDouble);
  return ps;
}

PrecisionRecall precision_recall(const at::Tensor& real, const at::Tensor& fake, int64_t k, int64_t block) {
  const PointScores ps = point_scores(real, fake, k, block);
  PrecisionRecall pr;
  pr.precision = ps.fake_in_real.mean().item<double>();
  pr.recall = ps.real_in_fake.mean().item<double>();
  return pr;
}

DensityCoverage density_coverage(const at::Tensor& real, const at::Tensor& fake, int64_t k, int64_t block) {
  const PointScores ps = point_scores(real, fake, k, block);
  DensityCoverage dc;
  dc.density = ps.fake_balls.mean().item<double>() / static_cast<double>(k);
  dc.coverage = ps.real_covered.mean().item<double>();
  return dc;
}

}  // namespace sims::metrics
