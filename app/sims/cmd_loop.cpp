// `sims loop`: self-consuming loops. The Gaussian family (the MAD paper's
// closed-form model) is contracted in ../shared/CLI.md; diffusion families
// arrive with the loops issue.
#include <filesystem>
#include <unistd.h>
#include <iomanip>
#include <sstream>

#include "cli_common.hpp"
#include "common/error.hpp"
#include "io/atomic_file.hpp"
#include "loops/gaussian_loop.hpp"

namespace sims::cli {
namespace {

struct LoopArgs {
  std::string family = "gaussian", kind, out;
  int64_t dim = 2, n_real = 0, n_synth = 0, generations = 0, runs = 1;
  double bias = 1.0;
  uint64_t seed = 0;
  bool json = false;
};

int run_loop(const LoopArgs& a) {
  if (a.family != "gaussian")
    throw InputError("--family " + a.family + " is not available yet (only 'gaussian'; diffusion2d and images come later)");
  loops::GaussianLoopConfig cfg;
  cfg.kind = loops::parse_loop_kind(a.kind);
  cfg.dim = a.dim;
  cfg.n_real = a.n_real;
  cfg.n_synth = a.n_synth;
  cfg.generations = a.generations;
  cfg.runs = a.runs;
  cfg.bias = a.bias;
  cfg.seed = a.seed;
  loops::validate(cfg);
  if (!a.out.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(a.out, ec);
    if (ec) throw IoError("cannot create --out directory '" + a.out + "': " + ec.message());
    io::check_writable(a.out + "/metrics.json");
  }
  const bool tty = ::isatty(2) != 0;
  auto res = loops::run_gaussian_loop(cfg, [&](int g) {
    if (tty) std::cerr << "\r  generation " << g << "/" << cfg.generations << std::flush;
    return true;
  });
  if (tty) std::cerr << "\r" << std::string(32, ' ') << "\r";
  nlohmann::json j = {{"family", "gaussian"},
                      {"kind", loops::to_string(cfg.kind)},
                      {"dim", cfg.dim},
                      {"n_real", cfg.n_real},
                      {"n_synth", cfg.n_synth},
                      {"generations", cfg.generations},
                      {"runs", cfg.runs},
                      {"bias", cfg.bias},
                      {"seed", cfg.seed},
                      {"w2_mean", res.w2_mean},
                      {"w2_median", res.w2_median},
                      {"trace_mean", res.trace_mean},
                      {"trace_median", res.trace_median}};
  if (!a.out.empty()) {
    const std::string text = j.dump(2) + "\n";
    io::write_file_atomically(a.out + "/metrics.json", text.data(), text.size());
    std::ostringstream csv;
    csv << "generation,w2_mean,w2_median,trace_mean,trace_median\n" << std::setprecision(10);
    for (size_t g = 0; g < res.w2_mean.size(); ++g)
      csv << g + 1 << "," << res.w2_mean[g] << "," << res.w2_median[g] << "," << res.trace_mean[g] << ","
          << res.trace_median[g] << "\n";
    const std::string c = csv.str();
    io::write_file_atomically(a.out + "/metrics.csv", c.data(), c.size());
  }
  if (a.json) {
    print_json(j);
  } else {
    std::cout << "Gaussian loop (" << loops::to_string(cfg.kind) << ", D=" << cfg.dim << ", " << cfg.runs
              << " runs, bias " << cfg.bias << ")\n  gen   E[W2]     tr mean   tr median\n";
    for (size_t g = 0; g < res.w2_mean.size(); ++g)
      if (g < 5 || g + 1 == res.w2_mean.size() || (g + 1) % 10 == 0)
        std::cout << "  " << std::setw(4) << g + 1 << std::fixed << std::setprecision(4) << "  " << std::setw(8)
                  << res.w2_mean[g] << "  " << std::setw(8) << res.trace_mean[g] << "  " << std::setw(8)
                  << res.trace_median[g] << "\n";
    if (!a.out.empty()) std::cout << "  -> " << a.out << "/metrics.{json,csv}\n";
  }
  return 0;
}

}  // namespace

void add_loop_command(CLI::App& app, Registry& reg) {
  auto a = std::make_shared<LoopArgs>();
  CLI::App* c = app.add_subcommand("loop", "Run a self-consuming (autophagous) loop");
  c->add_option("--family", a->family, "gaussian (diffusion2d, images: later)");
  c->add_option("--kind", a->kind, "fully-synthetic | augment | fresh")->required();
  c->add_option("--dim", a->dim, "data dimension D (p_r = N(0, I_D))");
  c->add_option("--n-real", a->n_real, "real samples per generation (generation 1 and augment/fresh)")->required();
  c->add_option("--n-synth", a->n_synth, "synthetic samples entering each generation")->required();
  c->add_option("--generations", a->generations, "number of generations G")->required();
  c->add_option("--runs", a->runs, "independent runs averaged over");
  c->add_option("--bias", a->bias, "sampling bias lambda in (0, 1]: sample N(mu, lambda Sigma)");
  c->add_option("--seed", a->seed, "random seed");
  c->add_option("--out", a->out, "run folder: metrics.json and metrics.csv");
  c->add_flag("--json", a->json, "print one JSON object");
  reg.actions.push_back({c, [a] { return run_loop(*a); }});
}

}  // namespace sims::cli
