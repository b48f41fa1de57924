#include "metrics/uncertainty.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <iomanip>
#include <random>
#include <sstream>

#include <ATen/ATen.h>

#include "common/error.hpp"

namespace sims::metrics {

namespace {

constexpr double kPi = 3.14159265358979323846;

void check_level(double level) {
  if (!(level > 0.0 && level < 1.0)) throw InputError("confidence level must be in (0, 1)");
}

// The q-quantile of sorted values (linear interpolation between order statistics).
double quantile_sorted(const std::vector<double>& v, double q) {
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t i = static_cast<size_t>(std::floor(pos));
  const double f = pos - static_cast<double>(i);
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v.back();
}

nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

// The decimals that show a value beside an interval of half-width h > 0: two significant digits of h (before any
// cap), as Estimate::precise_text writes them.
int decimals_for(double h) { return 1 - static_cast<int>(std::floor(std::log10(h))); }

// A value rounded to zero from below prints without its sign ("0.0000", not "-0.0000").
std::string unsigned_zero(std::string t) {
  if (!t.empty() && t[0] == '-' && t.find_first_of("123456789") == std::string::npos) t.erase(0, 1);
  return t;
}

std::string fixed_text(double v, int decimals) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(std::clamp(decimals, 0, 10)) << v;
  return unsigned_zero(s.str());
}

double number_or_nan(const nlohmann::json& j, const std::string& key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

bool Estimate::has_interval() const { return std::isfinite(lo) && std::isfinite(hi); }

double Estimate::half_width() const { return has_interval() ? (hi - lo) / 2 : std::numeric_limits<double>::quiet_NaN(); }

std::string Estimate::text(int digits) const {
  std::ostringstream s;
  if (!std::isfinite(value)) return "n/a";
  s << std::fixed << std::setprecision(digits) << value;
  if (has_interval()) s << " ± " << std::max(value - lo, hi - value);
  return s.str();
}

std::string Estimate::precise_text(int most, const std::string& pm) const {
  auto digits = [](double v, int d, bool fixed) {
    std::ostringstream s;
    if (fixed) s << std::fixed;
    s << std::setprecision(d) << v;
    return unsigned_zero(s.str());
  };
  if (!std::isfinite(value)) return "n/a";
  if (!has_interval()) return digits(value, 4, false);
  const double h = std::max(value - lo, hi - value);
  if (!(h > 0)) return digits(value, 4, false) + pm + "0";  // every resample gave the same value
  const int wanted = decimals_for(h), decimals = std::clamp(wanted, 0, 10);
  // Beyond the cap the half-width keeps one significant digit ("0.999 ± 0.0004", never "± 0.000").
  const std::string half = decimals > most || wanted > 10 ? digits(h, 1, false) : digits(h, decimals, true);
  return digits(value, std::min(decimals, most), true) + pm + half;
}

std::string Estimate::bounds_text(int most) const {
  if (!std::isfinite(value)) return "n/a";
  auto four = [](double v) {
    std::ostringstream s;
    s << std::setprecision(4) << v;
    return unsigned_zero(s.str());
  };
  if (!has_interval()) return four(value);
  const double h = std::max(value - lo, hi - value);
  if (!(h > 0)) return four(value) + " [" + four(lo) + ", " + four(hi) + "]";  // every resample gave the same value
  const int decimals = std::clamp(decimals_for(h), 0, most);
  return fixed_text(value, decimals) + " [" + fixed_text(lo, decimals) + ", " + fixed_text(hi, decimals) + "]";
}

Estimate Estimate::of(double value, double lo, double hi, const std::string& method) {
  Estimate e;
  e.value = value, e.lo = lo, e.hi = hi, e.method = method;
  return e;
}

Estimate Estimate::magnitude() const {
  Estimate m = *this;
  if (value < 0) m.value = -value, m.lo = -hi, m.hi = -lo;
  return m;
}

void Estimate::put(nlohmann::json& j, const std::string& key) const {
  j[key] = finite_or_null(value);
  j[key + "_lo"] = finite_or_null(lo);
  j[key + "_hi"] = finite_or_null(hi);
}

Estimate Estimate::get(const nlohmann::json& j, const std::string& key) {
  Estimate e;
  e.value = number_or_nan(j, key);
  e.lo = number_or_nan(j, key + "_lo");
  e.hi = number_or_nan(j, key + "_hi");
  return e;
}

double normal_quantile(double p) {
  if (!(p > 0.0 && p < 1.0)) throw InputError("normal_quantile: p must be in (0, 1)");
  // Bisection on the CDF 0.5 erfc(-x / sqrt 2): slow but exact to double precision.
  double lo = -40, hi = 40;
  for (int i = 0; i < 200 && hi - lo > 1e-15; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

double student_t_quantile(double p, int dof) {
  if (!(p > 0.0 && p < 1.0)) throw InputError("student_t_quantile: p must be in (0, 1)");
  if (dof < 1) throw InputError("student_t_quantile: at least 1 degree of freedom");
  if (dof == 1) return std::tan(kPi * (p - 0.5));
  if (dof == 2) return (2 * p - 1) / std::sqrt(2 * p * (1 - p));
  const double z = normal_quantile(p), n = dof;
  const double z2 = z * z, z3 = z2 * z, z5 = z3 * z2, z7 = z5 * z2, z9 = z7 * z2;
  return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n) +
         (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * n * n * n) +
         (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92160 * n * n * n * n);
}

namespace {

// value ± z · the standard deviation of `values` (at least 2).
void normal_interval(Estimate& e, const std::vector<double>& values) {
  double mean = 0, ss = 0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  for (double v : values) ss += (v - mean) * (v - mean);
  const double h = normal_quantile((1 + e.level) / 2) * std::sqrt(ss / static_cast<double>(values.size() - 1));
  e.lo = e.value - h, e.hi = e.value + h;
}

}  // namespace

Estimate bootstrap(int64_t n, const std::function<double(const std::vector<int64_t>&)>& stat, int resamples,
                   double level, uint64_t seed, BootstrapInterval kind, bool nonnegative,
                   std::vector<double>* replicates) {
  if (n < 2) throw InputError("bootstrap: at least 2 items are needed");
  if (resamples < 10) throw InputError("bootstrap: at least 10 resamples are needed");
  check_level(level);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  Estimate out;
  out.value = stat(idx);
  out.level = level;
  out.method = kind == BootstrapInterval::Normal ? "bootstrap-normal" : "bootstrap";
  std::vector<double> values;
  if (replicates) replicates->assign(static_cast<size_t>(resamples), std::numeric_limits<double>::quiet_NaN());
  std::mt19937_64 rng(seed ^ 0x5eedb007u);
  std::uniform_int_distribution<int64_t> pick(0, n - 1);
  for (int r = 0; r < resamples; ++r) {
    for (auto& i : idx) i = pick(rng);
    const double v = stat(idx);
    if (!std::isfinite(v)) continue;
    values.push_back(v);
    if (replicates) (*replicates)[static_cast<size_t>(r)] = v;
  }
  if (2 * values.size() < static_cast<size_t>(resamples)) return out;  // too many failed resamples: no interval
  if (kind == BootstrapInterval::Normal) {
    normal_interval(out, values);
    if (nonnegative) out.lo = std::max(out.lo, 0.0);
  } else {
    std::sort(values.begin(), values.end());
    out.lo = quantile_sorted(values, (1 - level) / 2);
    out.hi = quantile_sorted(values, (1 + level) / 2);
  }
  return out;
}

Estimate paired_replicates(double value, const std::vector<double>& a, const std::vector<double>& b, double level) {
  check_level(level);
  Estimate out;
  out.value = value, out.level = level, out.method = "paired bootstrap";
  if (a.size() != b.size() || a.size() < 2) return out;
  std::vector<double> d;
  for (size_t r = 0; r < a.size(); ++r)
    if (std::isfinite(a[r]) && std::isfinite(b[r])) d.push_back(a[r] - b[r]);
  if (d.size() < 2 || 2 * d.size() < a.size()) return out;
  normal_interval(out, d);
  return out;
}

Estimate bootstrap_distance(int64_t n, const std::function<double(const std::vector<int64_t>&)>& stat, int resamples,
                            double level, uint64_t seed) {
  return bootstrap(n, stat, resamples, level, seed, BootstrapInterval::Normal, true);
}

Estimate bootstrap_mean(const at::Tensor& values, int resamples, double level, uint64_t seed) {
  const at::Tensor v = values.to(at::kCPU, at::kDouble).contiguous();
  const double* p = v.data_ptr<double>();
  return bootstrap(v.numel(), [p](const std::vector<int64_t>& idx) {
    double s = 0;
    for (int64_t i : idx) s += p[i];
    return s / static_cast<double>(idx.size());
  }, resamples, level, seed);
}

ManifoldEstimates manifold_estimates(const PointScores& s, int resamples, double level, uint64_t seed) {
  ManifoldEstimates m;
  m.precision = bootstrap_mean(s.fake_in_real, resamples, level, seed);
  m.recall = bootstrap_mean(s.real_in_fake, resamples, level, seed + 1);
  m.density = bootstrap_mean(s.fake_balls / static_cast<double>(s.k), resamples, level, seed + 2);
  m.coverage = bootstrap_mean(s.real_covered, resamples, level, seed + 3);
  return m;
}

Estimate proportion(int64_t k, int64_t n, double level) {
  check_level(level);
  if (k < 0 || k > n) throw InputError("proportion: need 0 <= k <= n");
  Estimate e;
  e.level = level;
  if (n == 0) return e;
  const double nn = static_cast<double>(n), p = static_cast<double>(k) / nn, z = normal_quantile((1 + level) / 2);
  const double d = 1 + z * z / nn, centre = (p + z * z / (2 * nn)) / d;
  const double h = z * std::sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / d;
  e.value = p, e.lo = std::max(0.0, centre - h), e.hi = std::min(1.0, centre + h), e.method = "wilson";
  return e;
}

Estimate share_interval(double share, int64_t n, double level) {
  if (!std::isfinite(share) || n < 0) return Estimate{};
  const int64_t k = std::clamp<int64_t>(std::llround(share * static_cast<double>(n)), 0, n);
  return proportion(k, n, level);
}

Estimate mean_over_runs(const std::vector<double>& values, double level) {
  check_level(level);
  std::vector<double> v;
  for (double x : values)
    if (std::isfinite(x)) v.push_back(x);
  Estimate e;
  e.level = level;
  if (v.empty()) return e;
  double sum = 0;
  for (double x : v) sum += x;
  e.value = sum / static_cast<double>(v.size());
  if (v.size() < 2) return e;
  double ss = 0;
  for (double x : v) ss += (x - e.value) * (x - e.value);
  const double se = std::sqrt(ss / static_cast<double>(v.size() - 1) / static_cast<double>(v.size()));
  const double t = student_t_quantile((1 + level) / 2, static_cast<int>(v.size()) - 1);
  e.lo = e.value - t * se;
  e.hi = e.value + t * se;
  e.method = "t";
  return e;
}

Estimate median_over_runs(const std::vector<double>& values, double level) {
  check_level(level);
  std::vector<double> v;
  for (double x : values)
    if (!std::isnan(x)) v.push_back(x);  // a diverged run's +inf is an order statistic like any other
  Estimate e;
  e.level = level;
  if (v.empty()) return e;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  e.value = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  // P(B <= i) for B ~ Binomial(n, 1/2): log P(B = i) by the recurrence P(i) = P(i - 1) (n - i + 1) / i from
  // P(0) = 2^-n (which underflows beyond ~1000 runs as a double, not as its log).
  const double tail = (1 - level) / 2, nd = static_cast<double>(n);
  double log_pmf = -nd * std::log(2.0), cdf = 0;
  size_t k = 0;  // the largest k with P(B <= k - 1) <= tail
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) log_pmf += std::log((nd - static_cast<double>(i) + 1) / static_cast<double>(i));
    cdf += std::exp(log_pmf);
    if (cdf > tail) break;
    k = i + 1;
  }
  if (k == 0) return e;  // even [min, max] covers the median with probability 1 - 2^(1-n) < level
  e.lo = v[k - 1];
  e.hi = v[n - k];
  e.method = "order statistics";
  return e;
}

Estimate ratio_over_runs(const std::vector<double>& num, const std::vector<double>& den, double level) {
  check_level(level);
  std::vector<double> a, b;
  for (size_t r = 0; r < num.size() && r < den.size(); ++r)
    if (std::isfinite(num[r]) && std::isfinite(den[r])) a.push_back(num[r]), b.push_back(den[r]);
  Estimate e;
  e.level = level;
  if (a.empty()) return e;
  const double n = static_cast<double>(a.size());
  double sa = 0, sb = 0;
  for (size_t r = 0; r < a.size(); ++r) sa += a[r], sb += b[r];
  const double ma = sa / n, mb = sb / n;
  if (mb == 0) return e;
  e.value = ma / mb;
  if (a.size() < 2) return e;
  // Fieller's set, paired: every r for which the runs' num_r - r den_r have a mean within the t interval of 0,
  // (ma - r mb)^2 <= q (s_aa - 2 r s_ab + r^2 s_bb), q = t^2 / n, s the runs' (co)variances. At r = 1 this is the
  // paired t test of num - den, so the set holds 1 exactly when that difference's t interval holds 0 (a loop's
  // verdict); a delta-method interval on the log scale need not.
  double saa = 0, sbb = 0, sab = 0;
  for (size_t r = 0; r < a.size(); ++r) {
    saa += (a[r] - ma) * (a[r] - ma), sbb += (b[r] - mb) * (b[r] - mb), sab += (a[r] - ma) * (b[r] - mb);
  }
  saa /= n - 1, sbb /= n - 1, sab /= n - 1;
  const double t = student_t_quantile((1 + level) / 2, static_cast<int>(a.size()) - 1);
  const double q = t * t / n;
  const double qa = mb * mb - q * sbb, qb = ma * mb - q * sab, qc = ma * ma - q * saa;
  e.method = "Fieller t, paired";
  if (!(qa > 0)) {  // den's mean within its noise of 0: the set is unbounded, no interval
    e.method += " (unbounded: no interval)";
    return e;
  }
  const double root = std::sqrt(std::max(0.0, qb * qb - qa * qc));  // >= 0: the set holds ma / mb
  e.lo = (qb - root) / qa;
  e.hi = (qb + root) / qa;
  const bool positive = std::all_of(a.begin(), a.end(), [](double v) { return v > 0; }) &&
                        std::all_of(b.begin(), b.end(), [](double v) { return v > 0; });
  if (positive) e.lo = std::max(0.0, e.lo);  // a ratio of distances is not below 0 (1 inside or not: unchanged)
  return e;
}

Estimate difference(const Estimate& a, const Estimate& b) {
  Estimate d;
  d.level = a.level;
  d.value = a.value - b.value;
  if (a.has_interval() && b.has_interval()) {
    const double h = std::hypot(a.half_width(), b.half_width());
    d.lo = d.value - h;
    d.hi = d.value + h;
    d.method = "difference";
  }
  return d;
}

Estimate replicate_change(const Estimate& from, const Estimate& to, const std::vector<double>& from_replicates,
                          const std::vector<double>& to_replicates, int64_t n_from, int64_t n_to) {
  const Estimate paired = n_from > 0 && n_from == n_to
                              ? paired_replicates(to.value - from.value, to_replicates, from_replicates, to.level)
                              : Estimate{};
  return paired.has_interval() ? paired : difference(to, from);
}

bool significant(const Estimate& d) { return d.has_interval() && (d.lo > 0 || d.hi < 0); }

std::string judge_change(const Estimate& d, const std::string& worse, const std::string& better,
                         const std::string& none) {
  return !d.has_interval() ? "no interval" : !significant(d) ? none : d.value > 0 ? worse : better;
}

namespace {

std::string num(double v) {
  std::ostringstream s;
  s << std::setprecision(3) << v;
  return s.str();
}

}  // namespace

namespace {
bool at_the_floor(const Estimate& zero, const Estimate& floor) { return floor.has_interval() && zero.value <= floor.hi; }
}  // namespace

bool floor_is_bias(const std::string& metric) {
  std::string m = metric;
  for (char& ch : m) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return m.rfind("energy", 0) != 0 && m.rfind("kid", 0) != 0;
}

bool visible_gain(const std::string& metric, const Estimate& zero, const Estimate& gain, const Estimate& floor) {
  return significant(gain) && gain.value > 0 && !(floor_is_bias(metric) && at_the_floor(zero, floor));
}

std::string metric_name(const std::string& metric) {
  if (metric == "w2" || metric == "fd" || metric == "kid") {
    std::string upper = metric;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return upper;
  }
  return metric;
}

std::string gain_verdict(const std::string& metric, const std::string& where, const Estimate& zero, const Estimate& best,
                         const Estimate& gain, const Estimate& floor) {
  std::ostringstream s;
  // The size of the change to its interval's precision ("by 0.0015 ± 0.0013", not "0.00152 ± 0.00132").
  const Estimate size = gain.magnitude();
  const std::string change = (gain.value >= 0 ? "lowers " : "raises ") + metric_name(metric) + " by " +
                             (gain.has_interval() ? size.precise_text() : num(std::abs(gain.value)));
  // The two values to the same precision as the change between them ("(0.0024 -> 0.0009)").
  const double h = size.has_interval() ? std::max(size.value - size.lo, size.hi - size.value) : 0.0;
  const std::string values = h > 0 ? " (" + fixed_text(zero.value, decimals_for(h)) + " -> " +
                                         fixed_text(best.value, decimals_for(h)) + ")"
                                   : " (" + num(zero.value) + " -> " + num(best.value) + ")";
  if (!gain.has_interval()) {
    s << (gain.value > 0 ? "SIMS " : "SIMS does not help: ") << change << " " << where << values
      << "; no interval to tell it from noise (a sweep needs --ci; older run folders did not record one)";
    return s.str();
  }
  // A paired interval (both sides over the same resamples) is narrower than either value's own: say so.
  const std::string level = std::to_string(std::lround(100 * gain.level)) +
                            (gain.method == "paired bootstrap" ? " % paired interval" : " % interval");
  const bool at_floor = at_the_floor(zero, floor);
  const std::string floor_words = metric_name(metric) + " between two real sets of this size: " + floor.precise_text();
  if (significant(gain) && gain.value > 0) {
    // Where the floor is the metric's bias, a value going under it is not a sample closer to the data.
    if (at_floor && floor_is_bias(metric))
      s << "no gain the metric can see: SIMS " << change << " " << where << values << " (" << level
        << "), but the base is already at the floor (" << floor_words << ")"
        << (best.value < floor.value ? ", and a value below the floor is not a sample closer to the real data"
                                     : ", where the metric cannot see an improvement");
    else
      s << "SIMS " << change << " " << where << values << "; " << level << ", lower is better";
    return s.str();
  }
  if (significant(gain)) s << "SIMS does not help: it " << change << " " << where << values;
  else s << "no significant gain: SIMS " << change << " " << where << values << ", within the noise";
  if (at_floor)
    s << "; the base is already at the floor (" << floor_words << "), where the metric cannot see an improvement";
  else if (significant(gain))
    s << "; try smaller omegas or a shorter auxiliary budget";
  else
    s << "; the auxiliary may be too close to the base (a larger budget) or the sample too small (more samples per "
         "omega)";
  return s.str();
}

std::string omega_as_symbol(std::string verdict) {
  for (const std::string phrase : {"omega = ", "per omega"}) {
    const size_t word = phrase.find("omega");
    for (size_t at = verdict.find(phrase); at != std::string::npos; at = verdict.find(phrase, at))
      verdict.replace(at + word, 5, "\u03c9");
  }
  for (const auto& [ascii, sign] : {std::pair<std::string, std::string>{" -> ", " \u2192 "}, {" >= ", " \u2265 "},
                                    {" <= ", " \u2264 "}})
    for (size_t at = verdict.find(ascii); at != std::string::npos; at = verdict.find(ascii, at + sign.size()))
      verdict.replace(at, ascii.size(), sign);
  return verdict;
}

}  // namespace sims::metrics
