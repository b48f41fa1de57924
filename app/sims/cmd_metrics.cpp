// `sims metrics fd|w2|w1|pr`: the contracted metric commands (../shared/CLI.md).
#include <algorithm>
#include <numeric>
#include <random>
#include <ATen/ATen.h>
#include <cmath>
#include <functional>
#include <iomanip>
#include <limits>
#include <sstream>

#include "cli_common.hpp"
#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "io/npy.hpp"
#include "metrics/frechet.hpp"
#include "metrics/kid.hpp"
#include "metrics/uncertainty.hpp"
#include "metrics/precision_recall.hpp"
#include "metrics/wasserstein.hpp"
#include "metrics/features.hpp"
#include "data/image_datasets.hpp"
#include "io/atomic_file.hpp"
#include <unistd.h>

namespace sims::cli {
namespace {

struct PairArgs {
  std::string a, b;
  int64_t k = 5;
  int ci = 100;  // bootstrap resamples over B's rows (0: no interval); pr takes 200
  bool json = false;
};

struct KidArgs {
  std::string a, b;
  int64_t subsets = 100, subset_size = 1000, seed = 0;
  bool json = false;
};

void bind_ci(CLI::App* c, int& ci, const std::string& over = "the second set's rows", const std::string& dflt = "") {
  c->add_option("--ci", ci, "95 % confidence interval from this many bootstrap resamples of " + over + " (default " +
                                (dflt.empty() ? std::to_string(ci) : dflt) + "; 0: none; at most 100000)");
}

void check_ci(int ci) {
  if (ci > 0 && ci < 10) throw InputError("--ci needs at least 10 resamples (or 0 for none)");
}

// FD's resamples by default: each recomputes a covariance and a D×D eigen-decomposition (about 1.8 s for 3000 rows of
// 2048-d features on 2 cores), so high-dimensional features get fewer: still a normal interval from their spread.
constexpr int kFdAuto = -1;
const char* const kFdCiDefault = "100, or 20 above 512 feature dimensions";
int fd_resamples(int ci, int64_t dims) { return ci != kFdAuto ? ci : dims > 512 ? 20 : 100; }

// The words of a distance's interval: its spread over resampled rows, not the estimator's own bias.
std::string distance_method(const std::string& over) {
  return "normal bootstrap interval over " + over + " (their spread; the distance's upward finite-sample bias is not in it)";
}

// Why a number came without an interval.
std::string why_none(int ci, int64_t rows) {
  if (ci == 0) return "--ci 0";
  if (rows < 2) return "fewer than 2 rows to resample";
  return "fewer than half the resamples gave a finite value";
}

// FD from no more rows than feature dimensions: the covariance is singular and FD is biased upwards.
void note_few_rows(const at::Tensor& rows, const std::string& what) {
  if (rows.defined() && rows.size(0) <= rows.size(1))
    note_at_end("FD from " + std::to_string(rows.size(0)) + " rows of " + what + " in " + std::to_string(rows.size(1)) +
                " dimensions: a covariance from no more rows than dimensions is singular and FD is biased upwards; "
                "compare FDs only at equal sizes (or use kid, which is unbiased)");
}

// f(rows), with a normal bootstrap interval over the rows when ci > 0 and there are at least 2 of them.
metrics::Estimate over_rows(const at::Tensor& rows, int ci, const std::function<double(const at::Tensor&)>& f) {
  if (ci > 0 && rows.size(0) >= 2)
    return metrics::bootstrap_distance(rows.size(0), [&](const std::vector<int64_t>& idx) {
      return f(rows.index_select(0, at::tensor(idx, at::kLong)));
    }, ci);
  metrics::Estimate e;
  e.value = f(rows);
  return e;
}

// FD of `rows` (resampled) against fixed statistics.
metrics::Estimate fd_with_ci(const metrics::GaussianStats& fixed, const at::Tensor& rows, int ci, const std::string& what) {
  const metrics::FrechetTo fd_to(fixed);  // the fixed side's square root once, not per resample
  return over_rows(rows, ci, [&](const at::Tensor& r) { return fd_to(metrics::stats_of_features(r, what)); });
}

// "w2 = 0.2610 (95 % CI 0.2500 .. 0.2710, bootstrap over the second set's rows; lower is better)"; without an
// interval "w2 = 0.2610 (lower is better; no interval: NONE)".
std::string human_line(const std::string& name, const metrics::Estimate& e, const std::string& better,
                       const std::string& method = distance_method("the second set's rows"),
                       const std::string& none = "--ci 0") {
  std::ostringstream s;
  s << name << " = " << std::setprecision(6) << e.value;
  if (e.has_interval())
    s << " (95 % CI " << e.lo << " .. " << e.hi << ", " << method << "; " << better << ")";
  else
    s << " (" << better << "; no interval: " << none << ")";
  return s.str();
}

nlohmann::json ci_json(int ci, const metrics::Estimate& e, const std::string& name,
                       const std::string& over = "the second set's rows") {
  nlohmann::json j;
  if (e.has_interval()) {
    e.put(j, name);
    j["ci"] = {{"method", "normal bootstrap interval (value ± z·sd of the resampled values) over " + over +
                              ", the other set held fixed; the distance's upward finite-sample bias is not in it"},
               {"level", e.level}, {"resamples", ci}};
  } else {
    j[name] = e.value;
  }
  return j;
}

at::Tensor points(const std::string& path) {
  at::Tensor t = io::read_npy_finite(path);
  if (t.dim() != 2) throw InputError("'" + path + "' must be [N, D], got " + c10::str(t.sizes()));
  if (t.size(0) == 0 || t.size(1) == 0)
    throw InputError("'" + path + "' holds no points (shape " + c10::str(t.sizes()) + ")");
  return t;
}

// Two point sets of one space: "'a.npy' has dimension 3 but 'b.npy' has 2", naming both files.
void same_dimension(const std::string& path_a, const at::Tensor& a, const std::string& path_b, const at::Tensor& b) {
  if (a.size(1) != b.size(1))
    throw InputError("'" + path_a + "' has dimension " + std::to_string(a.size(1)) + " but '" + path_b + "' has " +
                     std::to_string(b.size(1)));
}

void report(bool json, const nlohmann::json& j, const std::string& human) {
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it->is_number_float() && !std::isfinite(it->get<double>()))
      throw Error("the result '" + it.key() + "' is not finite; refusing to print it as a number");
  if (json) print_json(j);
  else std::cout << human << "\n";
}

struct ImageMetricArgs {
  std::vector<std::string> files;
  std::string features, classifier, ref, out, group_by, real_attrs;
  int64_t batch = 256, k = 5;
  int ci = kFdAuto;  // bootstrap resamples over the fake images' features (0: no interval)
  bool json = false, pr = false;
  CLI::Option* o_k = nullptr;  // given: --k without --pr would do nothing
};

at::Tensor images_npy(const std::string& path) {
  at::Tensor t = io::read_npy_finite(path);
  if (t.dim() != 4 || (t.size(1) != 1 && t.size(1) != 3))
    throw InputError("'" + path + "' must be images [N,C,H,W] with C = 1 or 3 in [-1,1], got " + c10::str(t.sizes()));
  if (t.size(0) == 0) throw InputError("'" + path + "' holds no images (shape " + c10::str(t.sizes()) + ")");
  // The feature networks read images in [-1, 1]: 8-bit pixels would give a number without meaning. A model's own
  // samples overshoot [-1, 1] a little (they are not clipped), so only values well beyond it are refused.
  if (t.numel() > 0) {
    const double lo = t.min().item<double>(), hi = t.max().item<double>();
    if (lo < -1.5 || hi > 1.5)
      throw InputError("'" + message_text(path, 200) + "' has values in [" + c10::str(static_cast<float>(lo)) + ", " +
                       c10::str(static_cast<float>(hi)) + "]; images must be in [-1, 1] (8-bit pixels: x / 127.5 - 1)");
    if (lo >= 0.0 && hi <= 1.0)
      note_at_end("'" + message_text(path, 200) + "' has values in [0, 1] only, where sims images are in [-1, 1]: if "
                  "these are [0, 1] pixels, give 2x - 1 instead (the numbers above read them as dark images)");
  }
  return t.to(at::kFloat);
}

metrics::BatchOptions batch_opts(int64_t batch, const std::string& what) {
  if (batch < 1) throw InputError("--batch must be >= 1");
  metrics::BatchOptions o;
  o.batch = batch;
  if (::isatty(2))
    o.progress = [what](int64_t done, int64_t total) {
      std::cerr << "\r\033[K" << what << " " << done << "/" << total << (done == total ? "\r\033[K" : "") << std::flush;
      return true;
    };
  return o;
}

// Attribute shares of n images with their 95 % Wilson intervals: KEY, KEY_lo, KEY_hi in j and one line each.
std::string put_shares(nlohmann::json& j, const std::string& key, const metrics::AttributeClassifier& clf,
                       const std::vector<double>& r, int64_t n, const std::string& prefix = "") {
  nlohmann::json v = nlohmann::json::object(), lo = nlohmann::json::object(), hi = nlohmann::json::object();
  std::string human;
  for (size_t k = 0; k < r.size(); ++k) {
    const std::string& name = clf.attr_names()[k];
    const metrics::Estimate e = metrics::share_interval(r[k], n);
    v[name] = r[k], lo[name] = e.lo, hi[name] = e.hi;
    std::ostringstream line;
    line << prefix << name << " = " << std::setprecision(4) << r[k] << " (95 % CI " << e.lo << " .. " << e.hi
         << ", Wilson interval over " << n << " images; share of images with the attribute)";
    human += (k ? "\n" : "") + line.str();
  }
  j[key] = v, j[key + "_lo"] = lo, j[key + "_hi"] = hi;
  return human;
}

int run_fid(ImageMetricArgs& a) {
  if (a.features.empty()) throw InputError("--features NET is required");
  check_ci(a.ci);
  const size_t want = a.ref.empty() ? 2 : 1;
  if (a.files.size() != want)
    throw InputError(a.ref.empty() ? "give REAL.npy and FAKE.npy (or --ref REF.npz and FAKE.npy)"
                                   : "with --ref give only FAKE.npy");
  if (!a.group_by.empty() && a.classifier.empty()) throw InputError("--group-by needs --classifier NET");
  // Flags that would be silently ignored.
  if (a.group_by.empty() && !a.classifier.empty())
    throw InputError("--classifier is used with --group-by ATTRIBUTE only (for attribute shares: 'sims metrics ratio')");
  if (a.group_by.empty() && !a.real_attrs.empty()) throw InputError("--real-attrs is used with --group-by ATTRIBUTE only");
  if (a.o_k && a.o_k->count() > 0 && !a.pr) throw InputError("--k sets precision/recall: give --pr too");
  if (a.pr && !a.ref.empty()) throw InputError("--pr needs real images (REAL.npy), not --ref statistics");
  if (!a.group_by.empty() && !a.ref.empty()) throw InputError("--group-by needs real images, not --ref statistics");
  auto net = metrics::load_feature_net(a.features);
  const at::Tensor fake = images_npy(a.files.back());
  const at::Tensor ff = net->features(fake, batch_opts(a.batch, "features (fake)"));
  nlohmann::json j = {{"features", net->name()}, {"n_fake", fake.size(0)}};
  metrics::GaussianStats real_stats;
  at::Tensor real, rf;
  if (!a.ref.empty()) {
    real_stats = metrics::load_stats_npz(a.ref);
  } else {
    real = images_npy(a.files[0]);
    rf = net->features(real, batch_opts(a.batch, "features (real)"));
    real_stats = metrics::stats_of_features(rf, "real features");
    j["n_real"] = real.size(0);
  }
  if (real_stats.mu.size(0) != ff.size(1))
    throw InputError("the reference statistics have dimension " + std::to_string(real_stats.mu.size(0)) +
                     " but '" + net->name() + "' gives " + std::to_string(ff.size(1)) + " features");
  note_few_rows(ff, "fake features");
  note_few_rows(rf, "real features");
  const int ci = fd_resamples(a.ci, ff.size(1));
  const std::string over = "the fake images' features", method = distance_method(over);
  const metrics::Estimate fd = fd_with_ci(real_stats, ff, ci, "fake features");
  j.update(ci_json(ci, fd, "fd", over));
  std::string human = human_line("FD_" + net->name(), fd, "lower is better", method, why_none(ci, ff.size(0)));
  if (a.pr && rf.defined()) {
    if (rf.size(0) <= a.k || ff.size(0) <= a.k) throw InputError("precision/recall needs more than k images per set");
    const metrics::PointScores ps = metrics::point_scores(rf, ff, a.k);
    metrics::ManifoldEstimates me;
    // Percentiles want more resamples than FD's normal interval; each costs one mean.
    const int pr_ci = a.ci == kFdAuto ? 200 : a.ci;
    if (pr_ci > 0) {
      me = metrics::manifold_estimates(ps, pr_ci);
    } else {
      me.precision.value = ps.fake_in_real.mean().item<double>();
      me.recall.value = ps.real_in_fake.mean().item<double>();
    }
    for (const auto& [name, e] : {std::pair<std::string, const metrics::Estimate&>{"precision", me.precision},
                                  std::pair<std::string, const metrics::Estimate&>{"recall", me.recall}}) {
      if (e.has_interval()) e.put(j, name);
      else j[name] = e.value;
      human += "\n" + human_line(name, e, "higher is better", "percentile bootstrap over the averaged images",
                                 why_none(pr_ci, std::min(rf.size(0), ff.size(0))));
    }
    j["k"] = a.k;
  }
  if (!a.group_by.empty()) {
    auto clf = metrics::load_classifier(a.classifier);
    const auto& names = clf->attr_names();
    const auto it = std::find(names.begin(), names.end(), a.group_by);
    if (it == names.end()) {
      std::string list;
      for (const auto& nm : names) list += (list.empty() ? "" : ", ") + nm;
      throw InputError("--group-by '" + a.group_by + "' is not an attribute of the classifier (" + list + ")");
    }
    const int64_t col = it - names.begin();
    at::Tensor real_lab;
    if (!a.real_attrs.empty()) {
      real_lab = io::read_npy_finite(a.real_attrs);
      if (real_lab.dim() != 2 || real_lab.size(0) != real.size(0) || real_lab.size(1) <= col)
        throw InputError("--real-attrs '" + a.real_attrs + "' must be [N_real, K] with the classifier's columns");
      // Attributes are 0 or 1 (as `sims data export --attrs` writes them); other values are not attributes.
      if (!real_lab.eq(0).logical_or(real_lab.eq(1)).all().item<bool>())
        throw InputError("--real-attrs '" + a.real_attrs + "' holds values other than 0 and 1: not an attribute table");
      real_lab = real_lab.select(1, col).gt(0.5);
    } else {
      real_lab = clf->predict(real, batch_opts(a.batch, "classifier (real)")).select(1, col).gt(0.5);
    }
    at::Tensor fake_lab = clf->predict(fake, batch_opts(a.batch, "classifier (fake)")).select(1, col).gt(0.5);
    nlohmann::json by = nlohmann::json::object(), counts = nlohmann::json::object();
    nlohmann::json by_lo = nlohmann::json::object(), by_hi = nlohmann::json::object();
    for (int v : {1, 0}) {
      const std::string key = a.group_by + "=" + std::to_string(v);
      at::Tensor rm = v ? real_lab : real_lab.logical_not(), fm = v ? fake_lab : fake_lab.logical_not();
      at::Tensor rsub = rf.index_select(0, rm.nonzero().squeeze(1)), fsub = ff.index_select(0, fm.nonzero().squeeze(1));
      counts[key] = {{"real", rsub.size(0)}, {"fake", fsub.size(0)}};
      if (rsub.size(0) >= 2 && fsub.size(0) >= 2) {
        const metrics::Estimate g = fd_with_ci(metrics::stats_of_features(rsub, "real features of " + key), fsub,
                                               ci, "fake features of " + key);
        by[key] = g.value;
        if (g.has_interval()) by_lo[key] = g.lo, by_hi[key] = g.hi;
        human += "\n" + human_line("FD_" + net->name() + " [" + key + "]", g, "lower is better", method,
                                   why_none(ci, fsub.size(0)));
      } else {
        by[key] = nullptr;
        human += "\nFD_" + net->name() + " [" + key + "]: fewer than 2 images in a set";
      }
    }
    j["fd_by_group"] = by;
    if (!by_lo.empty()) j["fd_by_group_lo"] = by_lo, j["fd_by_group_hi"] = by_hi;
    j["n_by_group"] = counts;
    j["classifier"] = clf->name();
    human += "\n" + put_shares(j, "ratio_fake", *clf,
                               metrics::attribute_ratios(clf->predict(fake, batch_opts(a.batch, "classifier"))),
                               fake.size(0), "fake share: ");
  }
  report(a.json, j, human);
  return 0;
}

int run_stats(ImageMetricArgs& a) {
  if (a.features.empty()) throw InputError("--features NET is required");
  if (a.files.size() != 1) throw InputError("give one IMAGES.npy");
  if (a.out.empty()) throw InputError("--out REF.npz is required");
  outputs_not_inputs({{"--out", a.out}}, {{"IMAGES", a.files[0]}, {"--features", a.features}});
  if (a.out.size() < 4 || a.out.compare(a.out.size() - 4, 4, ".npz") != 0)
    throw InputError("--out must name a .npz file (the statistics mu and sigma, as pytorch-fid and EDM write them); "
                     "got '" + message_text(a.out, 200) + "'");
  auto net = metrics::load_feature_net(a.features);
  const at::Tensor x = images_npy(a.files[0]);
  prepare_output("--out", a.out);
  const at::Tensor f = net->features(x, batch_opts(a.batch, "features"));
  const auto st = metrics::stats_of_features(f, "the features of " + a.files[0]);
  metrics::save_stats_npz(a.out, st);
  report(a.json, {{"out", a.out}, {"n", x.size(0)}, {"dim", f.size(1)}, {"features", net->name()}},
         "wrote " + a.out + " (mu, sigma of " + std::to_string(f.size(1)) + "-d " + net->name() + " features of " +
             std::to_string(x.size(0)) + " images)");
  return 0;
}

int run_ratio(ImageMetricArgs& a) {
  if (a.classifier.empty()) throw InputError("--classifier NET is required");
  if (a.files.size() != 1) throw InputError("give one IMAGES.npy");
  auto clf = metrics::load_classifier(a.classifier);
  const at::Tensor x = images_npy(a.files[0]);
  const auto r = metrics::attribute_ratios(clf->predict(x, batch_opts(a.batch, "classifier")));
  // Each share is a count of the n images: the 95 % Wilson interval (inside [0, 1], fine near 0 and 1).
  nlohmann::json j = {{"n", x.size(0)}, {"classifier", clf->name()},
                      {"ci", {{"method", "Wilson score interval of each share"}, {"level", 0.95}}}};
  const std::string human = put_shares(j, "ratio", *clf, r, x.size(0));
  if (a.json) print_json(j);
  else std::cout << human << "\n";
  return 0;
}

}  // namespace

void add_metrics_command(CLI::App& app, Registry& reg) {
  CLI::App* m = app.add_subcommand("metrics", "Distances between sample/feature sets (fd, w2, w1, pr, kid, fid), feature statistics (stats) and attribute shares (ratio)");
  m->require_subcommand(1);

  auto fd = std::make_shared<PairArgs>();
  CLI::App* c = m->add_subcommand("fd", "Fréchet distance of two feature sets (.npy [N,D], or .npz with mu/sigma)");
  input_path(c->add_option("A", fd->a, "first set"))->required();
  input_path(c->add_option("B", fd->b, "second set"))->required();
  fd->ci = kFdAuto;
  bind_ci(c, fd->ci, "the second set's rows (the first's when the second is .npz statistics)", kFdCiDefault);
  c->add_flag("--json", fd->json, "print one JSON object");
  reg.actions.push_back({c, [fd] {
    check_ci(fd->ci);
    // Rows where a set is features (.npy), statistics alone where it is .npz: the interval resamples rows.
    auto read = [](const std::string& path, at::Tensor& rows) {
      if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".npz") == 0) return metrics::stats_from_file(path);
      rows = io::read_npy_finite(path);
      if (rows.dim() != 2) throw InputError("'" + path + "': features must be a 2-D array [N, D], got " + c10::str(rows.sizes()));
      return metrics::stats_of_features(rows, path);
    };
    at::Tensor ra, rb;
    const metrics::GaussianStats sa = read(fd->a, ra), sb = read(fd->b, rb);
    if (sa.mu.size(0) != sb.mu.size(0))
      throw InputError("'" + fd->a + "' has " + std::to_string(sa.mu.size(0)) + " feature dimensions but '" + fd->b +
                       "' has " + std::to_string(sb.mu.size(0)) + ": both sets must come from the same feature network");
    note_few_rows(ra, "'" + fd->a + "'");
    note_few_rows(rb, "'" + fd->b + "'");
    const bool over_b = rb.defined(), over_a = !over_b && ra.defined();
    const int ci = fd_resamples(fd->ci, sa.mu.size(0));
    metrics::Estimate v;
    if (over_b || over_a) {
      v = fd_with_ci(over_b ? sa : sb, over_b ? rb : ra, ci, over_b ? fd->b : fd->a);
    } else {
      v.value = metrics::frechet_distance(sa, sb);
    }
    const std::string over = over_a ? "the first set's rows" : "the second set's rows";
    report(fd->json, ci_json(ci, v, "fd", over),
           human_line("fd", v, "lower is better", distance_method(over),
                      over_b || over_a ? why_none(ci, (over_b ? rb : ra).size(0))
                                       : "both sets are statistics (.npz), there are no rows to resample"));
    return 0;
  }});

  for (int p : {2, 1}) {
    auto w = std::make_shared<PairArgs>();
    const std::string name = p == 2 ? "w2" : "w1";
    c = m->add_subcommand(name, "exact empirical " + std::string(p == 2 ? "2" : "1") +
                                    "-Wasserstein distance by optimal transport (uniform weights)");
    input_path(c->add_option("A", w->a, "first point set .npy [N,D]"))->required();
    input_path(c->add_option("B", w->b, "second point set .npy [M,D]"))->required();
    bind_ci(c, w->ci);
    c->add_flag("--json", w->json, "print one JSON object");
    reg.actions.push_back({c, [w, p, name] {
      at::Tensor a = points(w->a), b = points(w->b);
      same_dimension(w->a, a, w->b, b);
      check_ci(w->ci);
      // Exact transport is cubic in the points, and the interval repeats it per resample: say what runs (4096 points
      // and 100 resamples take minutes on 2 cores), on a terminal, so a long wait is not taken for a hang.
      if (::isatty(2) && static_cast<double>(a.size(0)) * static_cast<double>(b.size(0)) > 1e6)
        std::cerr << "exact " << name << " of " << a.size(0) << " x " << b.size(0) << " points"
                  << (w->ci > 0 ? ", then " + std::to_string(w->ci) + " bootstrap resamples for its 95 % interval (--ci 0: the "
                                  "value alone, --ci 20: a rougher interval sooner)"
                                : std::string())
                  << "...\n";
      const metrics::Estimate v = over_rows(b, w->ci, [&](const at::Tensor& bb) { return metrics::wasserstein(a, bb, p); });
      report(w->json, ci_json(w->ci, v, name),
             human_line(name, v, "lower is better", distance_method("the second set's rows"), why_none(w->ci, b.size(0))));
      return 0;
    }});
  }

  auto pr = std::make_shared<PairArgs>();
  pr->ci = 200;  // percentile intervals want more resamples; each costs one mean
  c = m->add_subcommand("pr", "improved precision and recall (Kynkäänniemi et al. 2019), density and coverage "
                              "(Naeem et al. 2020)");
  input_path(c->add_option("REAL", pr->a, "real samples/features .npy [N,D]"))->required();
  input_path(c->add_option("FAKE", pr->b, "generated samples/features .npy [M,D]"))->required();
  c->add_option("--k", pr->k, "k-th nearest neighbour radius (default 5)");
  bind_ci(c, pr->ci, "the points each metric averages");
  c->add_flag("--json", pr->json, "print one JSON object");
  reg.actions.push_back({c, [pr] {
    if (pr->k < 1) throw InputError("--k must be >= 1");
    at::Tensor real = points(pr->a), fake = points(pr->b);
    same_dimension(pr->a, real, pr->b, fake);
    if (real.size(0) <= pr->k || fake.size(0) <= pr->k)
      throw InputError("precision/recall with k = " + std::to_string(pr->k) + " needs more than k points in each set");
    check_ci(pr->ci);
    const std::vector<std::string> names = {"precision", "recall", "density", "coverage"};
    const metrics::PointScores ps = metrics::point_scores(real, fake, pr->k);
    metrics::ManifoldEstimates me;
    if (pr->ci > 0) {
      me = metrics::manifold_estimates(ps, pr->ci);
    } else {
      me.precision.value = ps.fake_in_real.mean().item<double>();
      me.recall.value = ps.real_in_fake.mean().item<double>();
      me.density.value = ps.fake_balls.mean().item<double>() / static_cast<double>(pr->k);
      me.coverage.value = ps.real_covered.mean().item<double>();
    }
    const std::vector<metrics::Estimate> est = {me.precision, me.recall, me.density, me.coverage};
    nlohmann::json j = {{"k", pr->k}};
    std::string human;
    for (size_t m = 0; m < names.size(); ++m) {
      j.update(ci_json(pr->ci, est[m], names[m]));
      human += (human.empty() ? "" : "\n") +
               human_line(names[m], est[m], names[m] == "density" ? "about 1 when FAKE is spread like REAL" : "higher is better",
                          "percentile bootstrap over the averaged points",
                          why_none(pr->ci, std::min(real.size(0), fake.size(0))));
    }
    j.erase("ci");
    if (pr->ci > 0)
      j["ci"] = {{"method", "percentile bootstrap over the points each metric averages (precision, density: FAKE's; "
                            "recall, coverage: REAL's), balls of the full sets"},
                 {"level", 0.95},
                 {"resamples", pr->ci}};
    report(pr->json, j, human);
    return 0;
  }});

  auto kd = std::make_shared<KidArgs>();
  c = m->add_subcommand("kid", "kernel inception distance: unbiased MMD² with the cubic kernel (x.y/d + 1)^3, "
                               "mean and standard deviation over random subsets (Binkowski et al. 2018), 95 % interval from "
                               "disjoint subsets");
  input_path(c->add_option("REAL", kd->a, "real features .npy [N,D]"))->required();
  input_path(c->add_option("FAKE", kd->b, "generated features .npy [M,D]"))->required();
  c->add_option("--subsets", kd->subsets, "random subsets (default 100; 1: the first rows, deterministic)");
  CLI::Option* subset_size_opt =
      c->add_option("--subset-size", kd->subset_size, "points per subset, at most the smaller set (default 1000)");
  c->add_option("--seed", kd->seed, "seed of the subsets (default 0)");
  c->add_flag("--json", kd->json, "print one JSON object");
  reg.actions.push_back({c, [kd, subset_size_opt] {
    if (kd->subsets < 1 || kd->subsets > 100000)
      throw InputError("--subsets must be from 1 to 100000 (got " + std::to_string(kd->subsets) + ")");
    if (kd->subset_size < 2)
      throw InputError("--subset-size must be at least 2 (got " + std::to_string(kd->subset_size) + ")");
    at::Tensor real = points(kd->a), fake = points(kd->b);
    same_dimension(kd->a, real, kd->b, fake);
    const metrics::Kid k = metrics::kid(real, fake, kd->subsets, kd->subset_size, static_cast<uint64_t>(kd->seed));
    if (subset_size_opt->count() > 0 && k.subset_size < kd->subset_size)  // asked for, and more than a set holds
      note_at_end("--subset-size " + std::to_string(kd->subset_size) + " is more than the smaller set holds: subsets of " +
                  std::to_string(k.subset_size) + " rows");
    nlohmann::json j = {{"kid", k.mean}, {"kid_std", k.std}, {"subsets", k.subsets}, {"subset_size", k.subset_size}};
    std::ostringstream human;
    human << "kid = " << std::setprecision(6) << k.mean;
    const int64_t rows = std::min(real.size(0), fake.size(0)), s = k.subset_size;
    if (k.subsets > 1 && k.subsets_alike) {  // each subset the whole of both sets: their spread says nothing
      j["kid_std"] = nullptr;
      human << " (every subset is all " << s << " rows of both sets: no spread to report, "
            << (rows >= 4 ? "give a smaller --subset-size for one" : "and an interval needs at least 4 rows in each set")
            << "; lower is better, 0 = same distribution, values below 0 are noise around it)";
    } else if (k.subsets > 1) {
      // The field reports the mean and sd over random subsets; those subsets share rows, so their sd understates
      // the estimate's noise (same-distribution sets got "intervals" that excluded 0): the interval's half-width
      // comes from disjoint subsets (metrics::kid_blocks), centred on kid as the loops, shift and sweeps give it.
      human << " (sd " << k.std << " over " << k.subsets << " random subsets of " << s
            << " rows; lower is better, 0 = same distribution)";
      const metrics::KidBlocks e = metrics::kid_blocks(real, fake, s, static_cast<uint64_t>(kd->seed));
      const auto [lo, hi] = e.around(k.mean);
      if (e.blocks >= 2 && std::isfinite(lo)) {
        const std::string method = "kid ± the half-width of the Student t interval over " + std::to_string(e.blocks) +
                                   " disjoint subsets of " + std::to_string(e.block_size) + " rows";
        j["kid_lo"] = lo, j["kid_hi"] = hi;
        j["ci"] = {{"method", method}, {"level", e.level}, {"mean_of_disjoint_subsets", e.value}};
        human << "; 95 % interval " << lo << " .. " << hi << " (" << method
              << ": the random subsets share rows, so their sd is not the estimate's noise)";
        if (lo < 0) human << "; it reaches below 0 (values below 0 are the unbiased estimate's noise): no difference "
                             "is shown between the sets";
      } else if (e.blocks >= 2) {  // subsets enough, but their values overflowed (features far too large)
        human << "; no interval: the disjoint subsets' values are not finite";
      } else {
        human << "; no interval: two disjoint subsets of " << s << " rows need " << 2 * s
              << " rows in each set, give a smaller --subset-size for one";
      }
    } else {  // one subset: no spread (null, as for subsets that are all alike, not 0)
      j["kid_std"] = nullptr;
      human << " (one subset of the first " << s << " rows: no interval, give --subsets 2 or more for "
            << "one; lower is better, 0 = same distribution)";
    }
    report(kd->json, j, human.str());
    return 0;
  }});

  // Image metrics through a feature network / attribute classifier (see 'sims features --help').
  auto fid = std::make_shared<ImageMetricArgs>();
  c = m->add_subcommand("fid", "FD_<net> of two image sets: images -> features -> Fréchet distance "
                               "(REAL.npy FAKE.npy, or --ref REF.npz FAKE.npy); --group-by ATTR: per-group FD");
  input_path(c->add_option("FILES", fid->files, "REAL.npy FAKE.npy (images [N,C,H,W] in [-1,1]), or FAKE.npy with --ref"))->required();
  input_path(c->add_option("--features", fid->features, "feature network (sims features checkpoint or TorchScript spec)"), InputKind::NetSpec)->required();
  input_path(c->add_option("--ref", fid->ref, "reference statistics .npz (mu, sigma) instead of REAL.npy"));
  input_path(c->add_option("--classifier", fid->classifier, "attribute classifier for --group-by"), InputKind::NetSpec);
  c->add_option("--group-by", fid->group_by, "attribute: FD of the fakes the classifier puts in each group vs the real images of that group");
  input_path(c->add_option("--real-attrs", fid->real_attrs, "known attributes [N_real, K] of the real images (default: classify them)"));
  c->add_flag("--pr", fid->pr, "also precision/recall in feature space");
  fid->o_k = c->add_option("--k", fid->k, "k of precision/recall (with --pr; default 5)");
  c->add_option("--batch", fid->batch, "images per network call (default 256)");
  bind_ci(c, fid->ci, "the fake images' features (FD) and of the images each of precision and recall averages",
          std::string(kFdCiDefault) + "; precision and recall 200");
  c->add_flag("--json", fid->json, "print one JSON object");
  reg.actions.push_back({c, [fid] { return run_fid(*fid); }});

  auto st = std::make_shared<ImageMetricArgs>();
  c = m->add_subcommand("stats", "feature statistics of images as a pytorch-fid/EDM compatible .npz (mu, sigma)");
  input_path(c->add_option("IMAGES", st->files, "images .npy [N,C,H,W] in [-1,1]"))->required();
  input_path(c->add_option("--features", st->features, "feature network"), InputKind::NetSpec)->required();
  c->add_option("--out", st->out, "output .npz")->required();
  c->add_option("--batch", st->batch, "images per network call (default 256)");
  c->add_flag("--json", st->json, "print one JSON object");
  reg.actions.push_back({c, [st] { return run_stats(*st); }});

  auto ra = std::make_shared<ImageMetricArgs>();
  c = m->add_subcommand("ratio", "share of images with each attribute (mean of the classifier's predicted labels)");
  input_path(c->add_option("IMAGES", ra->files, "images .npy [N,C,H,W] in [-1,1]"))->required();
  input_path(c->add_option("--classifier", ra->classifier, "classifier: sims features checkpoint or TorchScript returning logits [N,K]"), InputKind::NetSpec)->required();
  c->add_option("--batch", ra->batch, "images per network call (default 256)");
  c->add_flag("--json", ra->json, "print one JSON object");
  reg.actions.push_back({c, [ra] { return run_ratio(*ra); }});
}

namespace {

struct FeatTrainArgs {
  std::string dataset = "faces", out, name;
  int64_t n = 20000, seed = 0, epochs = 4, batch = 64;
  double lr = 2e-3, holdout = 0.1;
  int threads = 0;
  bool json = false, quiet = false;
};

struct FeatExtractArgs {
  std::string features, images, out;
  int64_t batch = 256;
  bool json = false;
};

}  // namespace

void add_features_command(CLI::App& app, Registry& reg) {
  CLI::App* f = app.add_subcommand("features", "Feature networks and attribute classifiers for image metrics (train, extract)");
  f->footer(
      "Feature networks (--features NET, --classifier NET everywhere) are either\n"
      "  - a checkpoint written by 'sims features train' (a compact CNN: its 128-d penultimate layer gives the\n"
      "    features, its head the attribute classifier; images are resized to its input size), or\n"
      "  - a TorchScript file: PATH[,size=S][,range=LO:HI][,name=NAME][,softmax]. Input convention: float32\n"
      "    [N,3,S,S], grey images repeated to 3 channels, resized with bilinear interpolation to S (default 299,\n"
      "    Inception-v3; size=0 keeps the native size), values mapped from [-1,1] to [LO,HI] (default -1:1, i.e.\n"
      "    unchanged; use range=0:255 for NVIDIA's inception-2015-12-05 TorchScript, range=0:1 for pytorch-fid\n"
      "    style nets). forward(x) must return [N,F] ([N,F,1,1] is flattened); checked on a dummy batch at load.\n"
      "    As a classifier the output is read as logits [N,K]: independent attributes (logit > 0) or, with\n"
      "    'softmax', classes (argmax). A 'sims.json' extra file may set name, input_size, input_range,\n"
      "    attr_names and labels (multi|classes).\n"
      "Results name the network: FD_<name>.");
  f->require_subcommand(1);

  auto t = std::make_shared<FeatTrainArgs>();
  CLI::App* c = f->add_subcommand("train", "train the compact feature CNN / attribute classifier on a labelled data set");
  input_path(c->add_option("--dataset", t->dataset, "data set spec (faces, faces:size=64, mnist:DIR, cifar10:DIR, folder:DIR,labels=CSV, ...; default faces)"), InputKind::DataSpec);
  c->add_option("--n", t->n, "images (faces: rendered; others: at most; default 20000)");
  c->add_option("--seed", t->seed, "data and initialisation seed (default 0)");
  c->add_option("--epochs", t->epochs, "epochs (default 4)");
  c->add_option("--batch", t->batch, "batch size (default 64)");
  c->add_option("--lr", t->lr, "Adam learning rate, cosine-decayed (default 2e-3)");
  c->add_option("--holdout", t->holdout, "share of the images held out for the accuracy report (default 0.1)");
  c->add_option("--name", t->name, "network name used in results (default cnn-<dataset kind>)");
  c->add_option("--out", t->out, "output checkpoint (a JSON side-car OUT.json is written beside it)")->required();
  c->add_option("--threads", t->threads, "LibTorch threads (0 = default)");
  c->add_flag("--quiet", t->quiet, "no progress on stderr");
  c->add_flag("--json", t->json, "print one JSON object");
  reg.actions.push_back({c, [t] {
    apply_threads(t->threads);
    const auto spec = data::ImageDatasetSpec::parse(t->dataset, "--dataset");
    if (t->n < 20) throw InputError("--n must be at least 20");
    const data::ImageBatch d = data::load_images(spec, t->n, static_cast<uint64_t>(t->seed));
    prepare_output("--out", t->out);
    prepare_output("--out", t->out + ".json");  // the side-car
    metrics::FeatureTrainConfig cfg;
    cfg.epochs = t->epochs, cfg.batch = t->batch, cfg.lr = t->lr, cfg.holdout = t->holdout;
    cfg.seed = static_cast<uint64_t>(t->seed);
    cfg.name = t->name.empty() ? "cnn-" + spec.kind : t->name;
    metrics::FeatureTrainReport rep;
    const bool quiet = t->quiet;
    auto net = metrics::train_feature_cnn(d, cfg, &rep, [quiet](int64_t ep, int64_t eps, double loss) {
      if (!quiet) std::cerr << "epoch " << ep << "/" << eps << "  loss " << loss << std::endl;
      return true;
    });
    metrics::save_feature_cnn(t->out, *net);
    nlohmann::json j = rep.meta;
    j["out"] = t->out;
    j["seconds"] = rep.seconds;
    j["dataset"] = spec.to_string();
    std::string human = "held-out accuracy " + std::to_string(rep.accuracy);
    if (j.contains("heldout_attr_accuracy")) human += " " + j["heldout_attr_accuracy"].dump();
    human += " (" + std::to_string(rep.n_train) + " train / " + std::to_string(rep.n_heldout) + " held out, " +
             std::to_string(rep.seconds) + " s); wrote " + t->out;
    if (t->json) print_json(j);
    else std::cout << human << "\n";
    return 0;
  }});

  auto e = std::make_shared<FeatExtractArgs>();
  c = f->add_subcommand("extract", "features [N,F] of images [N,C,H,W] (for 'sims metrics fd/pr')");
  input_path(c->add_option("--features", e->features, "feature network"), InputKind::NetSpec)->required();
  input_path(c->add_option("IMAGES", e->images, "images .npy [N,C,H,W] in [-1,1]"))->required();
  npy_output(c->add_option("--out", e->out, "output features .npy"))->required();
  c->add_option("--batch", e->batch, "images per network call (default 256)");
  c->add_flag("--json", e->json, "print one JSON object");
  reg.actions.push_back({c, [e] {
    auto net = metrics::load_feature_net(e->features);
    const at::Tensor x = images_npy(e->images);
    prepare_output("--out", e->out);
    const at::Tensor feats = net->features(x, batch_opts(e->batch, "features"));
    io::write_npy(e->out, feats);
    report(e->json, {{"out", e->out}, {"n", feats.size(0)}, {"dim", feats.size(1)}, {"features", net->name()}},
           "wrote " + e->out + " " + c10::str(feats.sizes()) + " (" + net->name() + ")");
    return 0;
  }});
}

}  // namespace sims::cli
