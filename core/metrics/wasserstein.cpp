#include "metrics/wasserstein.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <utility>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "kernels/min_plus.hpp"
#include "metrics/frechet.hpp"
#include "metrics/shape_text.hpp"

namespace sims::metrics {
namespace {

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

// Reduced costs above −kRelTol · max|c_ij| count as zero (no entering arc).
constexpr double kRelTol = 1e-13;

// ---------------------------------------------------------------------------
// Primal network simplex on the complete bipartite transportation problem
// (rows supply a = m/g units each, columns demand b = n/g units each). The
// basis is a spanning tree of the n + m nodes (rows 0..n−1, columns
// n..n+m−1), kept as parent pointers plus child lists, with depths. It starts
// from a north-west-corner solution along a given order of rows and columns,
// built so that it is a strongly feasible tree rooted at the first row (its
// only zero-flow arcs point away from the root). Entering arcs are chosen by
// block search (the most negative reduced cost in the first block of
// ~sqrt(n·m) arcs that has one); leaving arcs by Cunningham's rule (the last
// blocking arc met going round the cycle in the direction of the entering
// arc from the apex), which keeps the tree strongly feasible and prevents
// cycling. Node potentials pi satisfy c_ij = pi_i − pi_j on tree arcs (row i,
// column n + j); the reduced cost of arc (i, j) is c_ij − pi_i + pi_{n+j}.
// The pricing scans dominate the running time (tens of passes over the
// matrix); the tree updates cost O(cycle + moved subtree) per pivot.
// ---------------------------------------------------------------------------
class NetworkSimplex {
 public:
  // fast: the pricing scan's AVX kernel (kernels/min_plus.hpp), else its reference.
  NetworkSimplex(const double* c, int64_t n, int64_t m, bool fast)
      : C_(c), n_(n), m_(m), N_(n + m), min_plus_(fast ? kernels::min_plus_fast : kernels::min_plus_reference) {}

  // row_order / col_order: permutations of 0..n−1 / 0..m−1 for the initial
  // north-west-corner solution (empty: identity).
  void solve(const std::vector<int64_t>& row_order, const std::vector<int64_t>& col_order) {
    double cmax = 0;
    for (int64_t k = 0; k < n_ * m_; ++k) cmax = std::max(cmax, std::abs(C_[k]));
    eps_ = kRelTol * std::max(cmax, std::numeric_limits<double>::min());
    init_tree(row_order, col_order);
    compute_potentials();
    block_ = std::max<int64_t>(static_cast<int64_t>(std::sqrt(static_cast<double>(n_ * m_))), 16);
    // Far beyond what these problems need (typically 10-40 (n + m) pivots);
    // only a guard against an endless loop.
    const int64_t max_pivots = 10000 * N_ + 1'000'000;
    int64_t since_refresh = 0;
    for (;;) {
      int64_t i = 0, j = 0;
      double r = 0;
      while (find_entering(i, j, r)) {
        pivot(i, j, r);
        if (++pivots_ > max_pivots) throw Error("exact OT: network simplex did not converge (internal error)");
        if (++since_refresh == 4 * N_) {  // bound the drift of the incrementally updated potentials
          compute_potentials();
          since_refresh = 0;
        }
      }
      // Confirm optimality with potentials recomputed exactly from the tree.
      compute_potentials();
      since_refresh = 0;
      if (!find_entering(i, j, r)) break;
      pivot(i, j, r);
      ++pivots_;
    }
  }

  int64_t pivots() const { return pivots_; }
  int64_t parent(int64_t x) const { return parent_[x]; }
  int64_t flow(int64_t x) const { return flow_[x]; }
  double potential(int64_t x) const { return pi_[x]; }

 private:
  double arc_cost(int64_t x, int64_t p) const {  // tree arc between x and p
    return x < n_ ? C_[x * m_ + (p - n_)] : C_[p * m_ + (x - n_)];
  }

  void unlink(int64_t x) {
    const int64_t p = parent_[x];
    if (prev_[x] >= 0)
      next_[prev_[x]] = next_[x];
    else
      first_[p] = next_[x];
    if (next_[x] >= 0) prev_[next_[x]] = prev_[x];
  }
  void link(int64_t x, int64_t p) {
    parent_[x] = p;
    prev_[x] = -1;
    next_[x] = first_[p];
    if (first_[p] >= 0) prev_[first_[p]] = x;
    first_[p] = x;
  }

  void init_tree(const std::vector<int64_t>& ro_in, const std::vector<int64_t>& co_in) {
    const int64_t n = n_, m = m_;
    std::vector<int64_t> ro(ro_in), co(co_in);
    if (ro.empty()) {
      ro.resize(n);
      std::iota(ro.begin(), ro.end(), 0);
    }
    if (co.empty()) {
      co.resize(m);
      std::iota(co.begin(), co.end(), 0);
    }
    const int64_t g = std::gcd(n, m), a = m / g, b = n / g;
    parent_.assign(N_, -1);
    first_.assign(N_, -1);
    next_.assign(N_, -1);
    prev_.assign(N_, -1);
    depth_.assign(N_, 0);
    flow_.assign(N_, 0);
    pi_.assign(N_, 0.0);
    root_ = ro[0];
    int64_t ri = 0, cj = 0, s = a, d = b;
    int64_t node = n + co[0];  // tree node whose parent arc is the current cell
    link(node, root_);
    for (;;) {
      const int64_t f = std::min(s, d);
      flow_[node] = f;
      s -= f;
      d -= f;
      if (s == 0 && d == 0) {
        if (ri == n - 1 && cj == m - 1) break;
        // Degenerate: zero arc (row ri → column cj+1), then cell (ri+1, cj+1).
        const int64_t col = n + co[cj + 1];
        link(col, ro[ri]);
        flow_[col] = 0;
        ++ri;
        ++cj;
        s = a;
        d = b;
        node = ro[ri];
        link(node, col);
      } else if (s == 0) {
        ++ri;
        s = a;
        node = ro[ri];
        link(node, n + co[cj]);
      } else {
        ++cj;
        d = b;
        node = n + co[cj];
        link(node, ro[ri]);
      }
    }
  }

  // Potentials (pi_root = 0) and depths by a preorder walk of the tree.
  void compute_potentials() {
    pi_[root_] = 0;
    depth_[root_] = 0;
    walk_subtree(root_, [&](int64_t x) {
      const int64_t p = parent_[x];
      depth_[x] = depth_[p] + 1;
      pi_[x] = x < n_ ? pi_[p] + arc_cost(x, p) : pi_[p] - arc_cost(x, p);
    });
  }

  // Calls fn(x) for every proper descendant x of top, parents first.
  template <class Fn>
  void walk_subtree(int64_t top, Fn&& fn) {
    int64_t x = top;
    for (;;) {
      if (first_[x] >= 0) {
        x = first_[x];
      } else {
        while (x != top && next_[x] < 0) x = parent_[x];
        if (x == top) return;
        x = next_[x];
      }
      fn(x);
    }
  }

  // Block search over the arcs in row-major order, continuing where the last
  // search stopped: the most negative reduced cost of the first block that
  // has one below −eps.
  bool find_entering(int64_t& ei, int64_t& ej, double& er) {
    const int64_t total = n_ * m_, n = n_, m = m_;
    const double* pcol = pi_.data() + n;
    double best = -eps_;
    int64_t in_block = 0;
    bool found = false;
    for (int64_t scanned = 0; scanned < total;) {
      const int64_t i = pos_i_, j0 = pos_j_;
      const int64_t len = std::min(m - j0, block_ - in_block);
      const double* ci = C_ + i * m;
      const double pr = pi_[i];
      const int64_t jend = j0 + len;
      const double mn = min_plus_(ci + j0, pcol + j0, len) - pr;
      int64_t j;
      if (mn < best) {
        for (j = j0; j < jend; ++j)
          if (ci[j] + pcol[j] - pr == mn) break;
        if (j < jend) {
          best = mn;
          ei = i;
          ej = j;
          found = true;
        }
      }
      scanned += len;
      in_block += len;
      pos_j_ = jend;
      if (pos_j_ == m) {
        pos_j_ = 0;
        pos_i_ = pos_i_ + 1 == n ? 0 : pos_i_ + 1;
      }
      if (in_block >= block_) {
        if (found) break;
        in_block = 0;
      }
    }
    er = best;
    return found;
  }

  void pivot(int64_t i, int64_t j, double r) {
    const int64_t ui = i, uj = n_ + j;
    // Apex of the cycle.
    int64_t a = ui, b = uj;
    while (depth_[a] > depth_[b]) a = parent_[a];
    while (depth_[b] > depth_[a]) b = parent_[b];
    while (a != b) {
      a = parent_[a];
      b = parent_[b];
    }
    const int64_t apex = a;
    // Blocking arcs: rows on the i side (flow decreases from the apex down
    // to i), columns on the j side (flow decreases from j up to the apex).
    // Cunningham: first minimum going up from i, last going up from j.
    int64_t theta = std::numeric_limits<int64_t>::max(), out = -1;
    bool out_on_i_side = true;
    for (int64_t x = ui; x != apex; x = parent_[x])
      if (x < n_ && flow_[x] < theta) {
        theta = flow_[x];
        out = x;
      }
    for (int64_t x = uj; x != apex; x = parent_[x])
      if (x >= n_ && flow_[x] <= theta) {
        theta = flow_[x];
        out = x;
        out_on_i_side = false;
      }
    if (theta > 0) {
      for (int64_t x = ui; x != apex; x = parent_[x]) flow_[x] += x < n_ ? -theta : theta;
      for (int64_t x = uj; x != apex; x = parent_[x]) flow_[x] += x < n_ ? theta : -theta;
    }
    // Re-hang the subtree cut off by removing out's parent arc.
    const int64_t u_in = out_on_i_side ? ui : uj, v_in = out_on_i_side ? uj : ui;
    int64_t x = u_in, newp = v_in, newflow = theta;
    for (;;) {
      const int64_t oldp = parent_[x], oldflow = flow_[x];
      unlink(x);
      link(x, newp);
      flow_[x] = newflow;
      if (x == out) break;
      newp = x;
      newflow = oldflow;
      x = oldp;
    }
    // Potentials and depths of the moved subtree.
    const double shift = out_on_i_side ? r : -r;
    pi_[u_in] += shift;
    depth_[u_in] = depth_[v_in] + 1;
    walk_subtree(u_in, [&](int64_t y) {
      pi_[y] += shift;
      depth_[y] = depth_[parent_[y]] + 1;
    });
  }

  const double* C_;
  int64_t n_, m_, N_;
  double (*min_plus_)(const double*, const double*, int64_t);
  double eps_ = 0;
  int64_t root_ = 0, block_ = 16, pos_i_ = 0, pos_j_ = 0, pivots_ = 0;
  std::vector<int64_t> parent_, first_, next_, prev_, depth_, flow_;
  std::vector<double> pi_;
};

}  // namespace

TransportPlan exact_ot(const at::Tensor& cost, KernelPath path) {
  if (!cost.defined() || cost.dim() != 2)
    throw InputError("cost matrix must be 2-D [n, m], got " + (cost.defined() ? shape_str(cost) : std::string("nothing")));
  if (!at::isFloatingType(cost.scalar_type())) throw InputError("cost matrix must be float32 or float64");
  const int64_t n = cost.size(0), m = cost.size(1);
  if (n < 1 || m < 1) throw InputError("exact OT needs at least one point on each side");
  if (n * m > kMaxOtEntries)
    throw InputError("exact OT on " + std::to_string(n) + " x " + std::to_string(m) +
                     " points is too large (cost matrix limit " + std::to_string(kMaxOtEntries) +
                     " entries); subsample the point sets");
  at::Tensor c = cost.to(at::kCPU, at::kDouble).contiguous();
  if (!c.isfinite().all().item<bool>()) throw InputError("cost matrix contains NaN or Inf");
  const double* pc = c.data_ptr<double>();
  NetworkSimplex solver(pc, n, m, kernels::use_fast(path, kernels::KernelFamily::Transport));
  solver.solve({}, {});

  TransportPlan plan;
  plan.total = n / std::gcd(n, m) * m;
  plan.flow.reserve(n + m);
  long double acc = 0;
  for (int64_t x = 0; x < n + m; ++x) {
    const int64_t p = solver.parent(x), f = solver.flow(x);
    if (p < 0 || f == 0) continue;
    const int64_t i = x < n ? x : p, j = x < n ? p - n : x - n;
    plan.flow.push_back({i, j, f});
    acc += static_cast<long double>(f) * pc[i * m + j];
  }
  std::sort(plan.flow.begin(), plan.flow.end(), [](const TransportPlan::Entry& e1, const TransportPlan::Entry& e2) {
    return e1.i != e2.i ? e1.i < e2.i : e1.j < e2.j;
  });
  plan.cost = static_cast<double>(acc / static_cast<long double>(plan.total));
  plan.u.resize(n);
  plan.v.resize(m);
  for (int64_t i = 0; i < n; ++i) plan.u[i] = solver.potential(i);
  for (int64_t j = 0; j < m; ++j) plan.v[j] = -solver.potential(n + j);
  plan.pivots = solver.pivots();
  return plan;
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

double wasserstein(const at::Tensor& a, const at::Tensor& b, int p, KernelPath path) {
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
  const double cost = exact_ot(c, path).cost;
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
