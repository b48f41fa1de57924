#include "metrics/wasserstein.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <utility>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "metrics/frechet.hpp"

namespace sims::metrics {
namespace {

std::string shape_str(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

void check_points(const at::Tensor& x, const char* name) {
  if (!x.defined() || x.dim() != 2)
    throw InputError(std::string("points ") + name + " must be a 2-D array [N, D], got " +
                     (x.defined() ? shape_str(x) : std::string("nothing")));
  if (!at::isFloatingType(x.scalar_type()))
    throw InputError(std::string("points ") + name + " must be float32 or float64");
  if (x.size(0) < 1) throw InputError(std::string("points ") + name + " are empty");
  if (x.size(1) < 1) throw InputError(std::string("points ") + name + " have zero dimensions");
  if (!x.isfinite().all().item<bool>()) {
    const int64_t row = x.isfinite().all(1).logical_not().nonzero()[0][0].item<int64_t>();
    throw InputError(std::string("points ") + name + " contain NaN or Inf (row " + std::to_string(row) + ")");
  }
}

// Primal-dual successive shortest paths for the balanced transportation
// problem on a dense cost matrix C (row-major n × m): Dijkstra on reduced
// costs from one row with remaining supply, stopping at the first column with
// unmet demand; rows are reached through flow-carrying (reverse) edges, which
// are tight, so they are settled together with their column.
class TransportSolver {
 public:
  TransportSolver(const double* c, int64_t n, int64_t m) : C_(c), n_(n), m_(m) {}

  TransportPlan solve() {
    const int64_t g = std::gcd(n_, m_);
    total_ = n_ / g * m_;
    sup_.assign(n_, m_ / g);
    dem_.assign(m_, n_ / g);
    u_.assign(n_, 0.0);
    v_.assign(m_, std::numeric_limits<double>::infinity());
    colflow_.assign(m_, {});
    // Column reduction: v_j = min_i c_ij (every reduced cost ≥ 0 with u = 0),
    // and a greedy start on the tight edges.
    std::vector<int64_t> argmin(m_, 0);
    for (int64_t i = 0; i < n_; ++i) {
      const double* ci = C_ + i * m_;
      for (int64_t j = 0; j < m_; ++j)
        if (ci[j] < v_[j]) {
          v_[j] = ci[j];
          argmin[j] = i;
        }
    }
    for (int64_t j = 0; j < m_; ++j) {
      const int64_t i = argmin[j];
      const int64_t a = std::min(sup_[i], dem_[j]);
      if (a > 0) {
        colflow_[j].push_back({i, a});
        sup_[i] -= a;
        dem_[j] -= a;
      }
    }
    d_col_.assign(m_, 0.0);
    d_row_.assign(n_, 0.0);
    pred_col_.assign(m_, -1);
    pred_row_.assign(n_, -1);
    row_done_.assign(n_, 0);
    todo_.resize(m_);
    for (int64_t i = 0; i < n_; ++i)
      while (sup_[i] > 0) augment_from(i);

    TransportPlan plan;
    plan.total = total_;
    long double acc = 0;
    for (int64_t j = 0; j < m_; ++j)
      for (const auto& f : colflow_[j]) {
        plan.flow.push_back({f.row, j, f.amount});
        acc += static_cast<long double>(f.amount) * C_[f.row * m_ + j];
      }
    std::sort(plan.flow.begin(), plan.flow.end(), [](const TransportPlan::Entry& x, const TransportPlan::Entry& y) {
      return x.i != y.i ? x.i < y.i : x.j < y.j;
    });
    plan.cost = static_cast<double>(acc / static_cast<long double>(total_));
    plan.u = u_;
    plan.v = v_;
    return plan;
  }

 private:
  struct Flow {
    int64_t row;
    int64_t amount;
  };

  // Marks row i settled at distance di and relaxes its edges to the unsettled
  // columns; returns the position in todo_ of the closest unsettled column.
  int64_t settle_row(int64_t i, double di) {
    row_done_[i] = 1;
    d_row_[i] = di;
    rows_.push_back(i);
    const double* ci = C_ + i * m_;
    const double base = di - u_[i];
    double best = std::numeric_limits<double>::infinity();
    int64_t kbest = -1;
    for (int64_t k = 0; k < ntodo_; ++k) {
      const int64_t j = todo_[k];
      const double nd = base + ci[j] - v_[j];
      double dj = d_col_[j];
      if (nd < dj) {
        dj = nd;
        d_col_[j] = nd;
        pred_col_[j] = i;
      }
      if (dj < best) {
        best = dj;
        kbest = k;
      }
    }
    return kbest;
  }

  int64_t scan_min() const {
    double best = std::numeric_limits<double>::infinity();
    int64_t kbest = -1;
    for (int64_t k = 0; k < ntodo_; ++k)
      if (d_col_[todo_[k]] < best) {
        best = d_col_[todo_[k]];
        kbest = k;
      }
    return kbest;
  }

  int64_t& flow_at(int64_t i, int64_t j) {
    for (auto& f : colflow_[j])
      if (f.row == i) return f.amount;
    colflow_[j].push_back({i, 0});
    return colflow_[j].back().amount;
  }

  void augment_from(int64_t i0) {
    const double inf = std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < m_; ++j) {
      todo_[j] = j;
      d_col_[j] = inf;
    }
    ntodo_ = m_;
    rows_.clear();
    cols_.clear();
    int64_t kmin = settle_row(i0, 0.0);
    int64_t jend = -1;
    double dist = 0;
    while (true) {
      if (kmin < 0) throw Error("exact OT: no augmenting path (internal error)");
      const int64_t j = todo_[kmin];
      const double dj = d_col_[j];
      todo_[kmin] = todo_[--ntodo_];
      cols_.push_back(j);
      if (dem_[j] > 0) {
        jend = j;
        dist = dj;
        break;
      }
      int64_t settled = 0;
      for (const auto& f : colflow_[j])
        if (!row_done_[f.row]) {
          pred_row_[f.row] = j;
          kmin = settle_row(f.row, dj);  // the last settled row's scan covers all relaxations
          ++settled;
        }
      if (settled == 0) kmin = scan_min();
    }
    // Potentials: p += min(d, D) − D on the settled nodes (reduced costs stay
    // ≥ 0; the path and all flow-carrying edges become / stay tight).
    for (int64_t j : cols_) v_[j] += d_col_[j] - dist;
    for (int64_t i : rows_) {
      u_[i] += dist - d_row_[i];
      row_done_[i] = 0;
    }
    // Bottleneck along the alternating path i0 → … → jend.
    int64_t delta = std::min(sup_[i0], dem_[jend]);
    for (int64_t j = jend;;) {
      const int64_t i = pred_col_[j];
      if (i == i0) break;
      const int64_t jp = pred_row_[i];
      delta = std::min(delta, flow_at(i, jp));
      j = jp;
    }
    for (int64_t j = jend;;) {
      const int64_t i = pred_col_[j];
      flow_at(i, j) += delta;
      if (i == i0) break;
      const int64_t jp = pred_row_[i];
      int64_t& back = flow_at(i, jp);
      back -= delta;
      if (back == 0) {
        auto& cf = colflow_[jp];
        cf.erase(std::remove_if(cf.begin(), cf.end(), [&](const Flow& f) { return f.row == i; }), cf.end());
      }
      j = jp;
    }
    sup_[i0] -= delta;
    dem_[jend] -= delta;
  }

  const double* C_;
  int64_t n_, m_, total_ = 0;
  std::vector<int64_t> sup_, dem_;
  std::vector<double> u_, v_, d_col_, d_row_;
  std::vector<std::vector<Flow>> colflow_;
  std::vector<int64_t> pred_col_, pred_row_, todo_, rows_, cols_;
  std::vector<char> row_done_;
  int64_t ntodo_ = 0;
};

}  // namespace

TransportPlan exact_ot(const at::Tensor& cost) {
  if (!cost.defined() || cost.dim() != 2)
    throw InputError("cost matrix must be 2-D [n, m], got " + (cost.defined() ? shape_str(cost) : std::string("nothing")));
  if (!at::isFloatingType(cost.scalar_type())) throw InputError("cost matrix must be float32 or float64");
  const int64_t n = cost.size(0), m = cost.size(1);
  if (n < 1 || m < 1) throw InputError("exact OT needs at least one point on each side");
  if (n * m > kMaxOtEntries)
    throw InputError("exact OT on " + std::to_string(n) + " x " + std::to_string(m) +
                     " points is too large (cost matrix limit " + std::to_string(kMaxOtEntries) +
                     " entries); subsample the point sets");
  if (n != m && n * m > kMaxUnequalOtEntries)
    throw InputError("exact OT between sets of different sizes (" + std::to_string(n) + " vs " + std::to_string(m) +
                     ") is limited to n*m <= " + std::to_string(kMaxUnequalOtEntries) +
                     "; use sets of equal size (up to " + std::to_string(kMaxOtEntries) + " = n*n entries)");
  at::Tensor c = cost.to(at::kCPU, at::kDouble).contiguous();
  if (!c.isfinite().all().item<bool>()) throw InputError("cost matrix contains NaN or Inf");
  TransportSolver solver(c.data_ptr<double>(), n, m);
  return solver.solve();
}

at::Tensor squared_distances(const at::Tensor& a_in, const at::Tensor& b_in) {
  at::Tensor a = a_in.to(at::kCPU, at::kDouble).contiguous();
  at::Tensor b = b_in.to(at::kCPU, at::kDouble).contiguous();
  const int64_t n = a.size(0), m = b.size(0), d = a.size(1);
  if (d <= 32) {
    at::Tensor out = at::empty({n, m}, at::kDouble);
    const double* pa = a.data_ptr<double>();
    const double* pb = b.data_ptr<double>();
    double* po = out.data_ptr<double>();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) {
        double s = 0;
        for (int64_t k = 0; k < d; ++k) {
          const double t = pa[i * d + k] - pb[j * d + k];
          s += t * t;
        }
        po[i * m + j] = s;
      }
    return out;
  }
  at::Tensor na = (a * a).sum(1, true), nb = (b * b).sum(1, true);
  return (na + nb.t() - 2.0 * a.mm(b.t())).clamp_min_(0.0);
}

double wasserstein(const at::Tensor& a, const at::Tensor& b, int p) {
  if (p != 1 && p != 2) throw InputError("Wasserstein order must be 1 or 2, got " + std::to_string(p));
  check_points(a, "A");
  check_points(b, "B");
  if (a.size(1) != b.size(1))
    throw InputError("point dimensions differ: " + std::to_string(a.size(1)) + " vs " + std::to_string(b.size(1)));
  if (a.size(0) * b.size(0) > kMaxOtEntries)
    throw InputError("exact OT on " + std::to_string(a.size(0)) + " x " + std::to_string(b.size(0)) +
                     " points is too large (n*m limit " + std::to_string(kMaxOtEntries) + "); subsample the point sets");
  at::Tensor c = squared_distances(a, b);
  if (p == 1) c = c.sqrt_();
  const double cost = exact_ot(c).cost;
  return p == 2 ? std::sqrt(std::max(cost, 0.0)) : cost;
}

double w2_gaussian(const at::Tensor& mu1_in, const at::Tensor& s1_in, const at::Tensor& mu2_in,
                   const at::Tensor& s2_in) {
  auto check = [](const at::Tensor& mu, const at::Tensor& s, const char* which) {
    if (!mu.defined() || mu.dim() != 1 || mu.size(0) < 1)
      throw InputError(std::string("Gaussian ") + which + ": mean must be [D]");
    const int64_t d = mu.size(0);
    if (!s.defined() || s.dim() != 2 || s.size(0) != d || s.size(1) != d)
      throw InputError(std::string("Gaussian ") + which + ": covariance must be [" + std::to_string(d) + ", " +
                       std::to_string(d) + "], got " + (s.defined() ? shape_str(s) : std::string("nothing")));
    if (!mu.isfinite().all().item<bool>() || !s.isfinite().all().item<bool>())
      throw InputError(std::string("Gaussian ") + which + " contains NaN or Inf");
  };
  check(mu1_in, s1_in, "1");
  check(mu2_in, s2_in, "2");
  if (mu1_in.size(0) != mu2_in.size(0))
    throw InputError("Gaussian dimensions differ: " + std::to_string(mu1_in.size(0)) + " vs " +
                     std::to_string(mu2_in.size(0)));
  const at::Tensor mu1 = mu1_in.to(at::kCPU, at::kDouble), mu2 = mu2_in.to(at::kCPU, at::kDouble);
  const at::Tensor s1 = s1_in.to(at::kCPU, at::kDouble), s2 = s2_in.to(at::kCPU, at::kDouble);
  at::Tensor r = sqrtm_psd(s2);
  at::Tensor m = r.mm(s1).mm(r);
  m = (m + m.t()) * 0.5;
  const double tr_sqrt = at::linalg_eigvalsh(m).clamp_min(0).sqrt().sum().item<double>();
  at::Tensor diff = mu1 - mu2;
  const double w2sq =
      diff.dot(diff).item<double>() + s1.trace().item<double>() + s2.trace().item<double>() - 2.0 * tr_sqrt;
  return std::sqrt(std::max(w2sq, 0.0));
}

}  // namespace sims::metrics
