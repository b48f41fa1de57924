// `sims metrics fd|w2|w1|pr`: the contracted metric commands (../shared/CLI.md).
#include <cmath>

#include "cli_common.hpp"
#include "common/error.hpp"
#include "io/npy.hpp"
#include "metrics/frechet.hpp"
#include "metrics/precision_recall.hpp"
#include "metrics/wasserstein.hpp"

namespace sims::cli {
namespace {

struct PairArgs {
  std::string a, b;
  int64_t k = 5;
  bool json = false;
};

at::Tensor points(const std::string& path) {
  at::Tensor t = io::read_npy_finite(path);
  if (t.dim() != 2) throw InputError("'" + path + "' must be [N, D], got " + c10::str(t.sizes()));
  return t;
}

void report(bool json, const nlohmann::json& j, const std::string& human) {
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it->is_number_float() && !std::isfinite(it->get<double>()))
      throw Error("the result '" + it.key() + "' is not finite; refusing to print it as a number");
  if (json) print_json(j);
  else std::cout << human << "\n";
}

}  // namespace

void add_metrics_command(CLI::App& app, Registry& reg) {
  CLI::App* m = app.add_subcommand("metrics", "Distances between sample/feature sets: fd, w2, w1, pr");
  m->require_subcommand(1);

  auto fd = std::make_shared<PairArgs>();
  CLI::App* c = m->add_subcommand("fd", "Fréchet distance of two feature sets (.npy [N,D], or .npz with mu/sigma)");
  c->add_option("A", fd->a, "first set")->required();
  c->add_option("B", fd->b, "second set")->required();
  c->add_flag("--json", fd->json, "print one JSON object");
  reg.actions.push_back({c, [fd] {
    const double v = metrics::frechet_distance(metrics::stats_from_file(fd->a), metrics::stats_from_file(fd->b));
    report(fd->json, {{"fd", v}}, "fd = " + std::to_string(v));
    return 0;
  }});

  for (int p : {2, 1}) {
    auto w = std::make_shared<PairArgs>();
    const std::string name = p == 2 ? "w2" : "w1";
    c = m->add_subcommand(name, "exact empirical " + std::string(p == 2 ? "2" : "1") +
                                    "-Wasserstein distance by optimal transport (uniform weights)");
    c->add_option("A", w->a, "first point set .npy [N,D]")->required();
    c->add_option("B", w->b, "second point set .npy [M,D]")->required();
    c->add_flag("--json", w->json, "print one JSON object");
    reg.actions.push_back({c, [w, p, name] {
      at::Tensor a = points(w->a), b = points(w->b);
      if (a.size(1) != b.size(1))
        throw InputError("'" + w->a + "' has dimension " + std::to_string(a.size(1)) + " but '" + w->b + "' has " +
                         std::to_string(b.size(1)));
      const double v = metrics::wasserstein(a, b, p);
      report(w->json, {{name, v}}, name + " = " + std::to_string(v));
      return 0;
    }});
  }

  auto pr = std::make_shared<PairArgs>();
  c = m->add_subcommand("pr", "improved precision and recall (Kynkäänniemi et al. 2019)");
  c->add_option("REAL", pr->a, "real samples/features .npy [N,D]")->required();
  c->add_option("FAKE", pr->b, "generated samples/features .npy [M,D]")->required();
  c->add_option("--k", pr->k, "k-th nearest neighbour radius (default 5)");
  c->add_flag("--json", pr->json, "print one JSON object");
  reg.actions.push_back({c, [pr] {
    if (pr->k < 1) throw InputError("--k must be >= 1");
    at::Tensor real = points(pr->a), fake = points(pr->b);
    if (real.size(1) != fake.size(1)) throw InputError("REAL and FAKE have different dimensions");
    if (real.size(0) <= pr->k || fake.size(0) <= pr->k)
      throw InputError("precision/recall with k = " + std::to_string(pr->k) + " needs more than k points in each set");
    const auto r = metrics::precision_recall(real, fake, pr->k);
    report(pr->json, {{"precision", r.precision}, {"recall", r.recall}, {"k", pr->k}},
           "precision = " + std::to_string(r.precision) + ", recall = " + std::to_string(r.recall));
    return 0;
  }});
}

}  // namespace sims::cli
