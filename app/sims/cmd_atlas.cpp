// `sims atlas`: the MAD paper's effective sample size n_e (eq. 3) over a grid of (n_r, n_s) for several
// sampling biases λ, in the Gaussian family (Fig. 10, 30-32), or curves over the memory K (Fig. 33), the corpus
// size n with a real fraction p (Fig. 34) or over p (retraining stability): atlas.csv, atlas.json and atlas.png.
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <unistd.h>

#include "cli_common.hpp"
#include "cli_progress.hpp"
#include "common/error.hpp"
#include "experiment/json_io.hpp"
#include "experiment/run_folder.hpp"
#include "experiment/settings.hpp"
#include "loops/admissibility.hpp"

namespace sims::cli {
namespace {

struct AtlasArgs {
  std::string kind = "fresh", n_real = "10,30,100,300,1000", n_synth = "0,10,30,100,300,1000,3000",
              lambdas = "0.5,0.9,1", memory = "1", pool = "replace", total, fractions, out;
  CLI::Option *o_nreal = nullptr, *o_nsynth = nullptr;
  loops::AtlasConfig cfg;
  bool json = false;
};

std::vector<std::string> items(const std::string& text, const std::string& flag) {
  std::vector<std::string> out;
  std::stringstream s(text);
  std::string v;
  while (std::getline(s, v, ','))
    if (v.empty()) throw InputError(flag + " '" + text + "' has an empty value");
    else out.push_back(v);
  if (out.empty()) throw InputError(flag + " needs at least one value");
  return out;
}

int run_atlas_command(AtlasArgs& a) {
  loops::AtlasConfig c = a.cfg;
  try {
    c.kind = loops::parse_loop_kind(a.kind);
  } catch (const InputError&) {  // (its message also lists fully-synthetic, which an atlas refuses: no limit)
    throw InputError("--kind must be fresh or augment (got '" + message_text(a.kind, 40) + "')");
  }
  c.n_real.clear(), c.n_synth.clear(), c.lambdas.clear();
  for (const auto& v : items(a.n_real, "--n-real")) c.n_real.push_back(experiment::parse_integer(v, "--n-real"));
  for (const auto& v : items(a.n_synth, "--n-synth")) c.n_synth.push_back(experiment::parse_integer(v, "--n-synth"));
  for (const auto& v : items(a.lambdas, "--lambda")) c.lambdas.push_back(parse_number(v, "--lambda"));
  c.memory.clear();
  for (const auto& v : items(a.memory, "--memory")) c.memory.push_back(experiment::parse_integer(v, "--memory"));
  if (a.pool != "replace" && a.pool != "accumulate")
    throw InputError("--pool must be replace or accumulate, got '" + a.pool + "'");
  c.accumulate = a.pool == "accumulate";
  if (!a.total.empty()) {
    if (a.o_nreal->count() || a.o_nsynth->count())
      throw InputError("--total with --real-fraction replaces --n-real and --n-synth: give one or the other");
    for (const auto& v : items(a.total, "--total")) c.total.push_back(experiment::parse_integer(v, "--total"));
  }
  if (!a.fractions.empty())
    for (const auto& v : items(a.fractions, "--real-fraction")) c.real_fraction.push_back(parse_number(v, "--real-fraction"));
  loops::validate(c);
  // --out as a run folder of `sims atlas` (new or empty, or an atlas that was stopped before it wrote its results):
  // another command's run or a folder of the user's files is refused, and a second atlas into it is refused while
  // the first holds it. An atlas is computed whole, so its settings may change between tries; its results are never
  // replaced (asked under the lock, so that two atlases cannot both find the folder without them).
  std::unique_ptr<experiment::RunFolder> folder;
  if (!a.out.empty()) {
    prepare_output("--out", a.out, OutputKind::Folder);
    folder = std::make_unique<experiment::RunFolder>(a.out, "atlas", nlohmann::json::object());
    if (std::filesystem::exists(a.out + "/atlas.json"))
      throw InputError("--out '" + a.out + "' already holds an atlas (atlas.json): choose another folder or remove it");
  }
  install_stop_handler();
  const bool tty = ::isatty(2) != 0;
  int cells_done = 0, cells = 0;
  std::optional<loops::AtlasResult> finished;
  try {
    finished = loops::run_atlas(c, [&](int done, int total) {
      if (tty && done != cells_done) std::cerr << "\r  cell " << done << "/" << total << std::flush;
      cells_done = done, cells = total;
      return !stop_flag().load();
    });
  } catch (const Cancelled&) {
    if (tty) std::cerr << "\n";
    std::cerr << "stopped after " << cells_done << " of " << cells << " cells; no results were written (an atlas is "
              << "computed whole: run it again, with fewer cells, generations or runs to make it shorter)\n";
    return 130;
  }
  const loops::AtlasResult& r = *finished;
  if (tty) std::cerr << "\r" << std::string(24, ' ') << "\r";
  if (!a.out.empty()) {
    experiment::write_text_file(a.out + "/atlas.csv", r.to_csv());
    experiment::write_json_file(a.out + "/atlas.json", r.to_json());
    loops::atlas_figure(r).write_png(a.out + "/atlas.png");
  }
  if (a.json) {
    nlohmann::json j = r.to_json();
    if (!a.out.empty()) j["files"] = {a.out + "/atlas.csv", a.out + "/atlas.json", a.out + "/atlas.png"};
    print_json(j);
    return 0;
  }
  std::cout << "Effective sample size n_e / n_r (MAD eq. 3), " << loops::to_string(c.kind) << " loop, D = " << c.dim
            << " (>= 1: the synthetic data are admissible; higher is better; 95 % interval; 'admissible' where the "
            << "whole interval is >= 1, 'within noise of 1' where it holds 1)\n";
  for (const auto& cell : r.cells) {
    std::ostringstream line;
    line.precision(3);
    line << "  lambda " << cell.lambda;
    if (c.memory.size() > 1 || c.memory[0] > 1) line << "  K " << cell.memory;
    if (cell.total > 0) line << "  n " << cell.total << "  p " << cell.real_fraction;
    line << "  n_r " << cell.n_real << "  n_s " << cell.n_synth << ":  W2 " << cell.wd << "  n_e/n_r "
         << cell.ratio() << "  [" << cell.n_e_lo / static_cast<double>(cell.n_real) << ", "
         << cell.n_e_hi / static_cast<double>(cell.n_real) << "]";
    // Judged by the interval, as the heat map's dark frame: an estimate of 1.01 [0.93, 1.09] is not told from 1.
    if (cell.surely_admissible()) line << "  admissible";
    else if (cell.within_noise_of_one())
      line << (cell.n_synth == 0 ? "  within noise of 1 (no synthetic data: 1 by definition)" : "  within noise of 1");
    line << (cell.settled ? "" : "  NOT SETTLED");
    std::cout << line.str() << "\n";
  }
  size_t unsettled = 0;
  for (const auto& cell : r.cells) unsettled += !cell.settled;
  if (unsettled > 0)
    std::cout << "  note: " << unsettled << " cell(s) NOT SETTLED: the last " << c.tail << " generations still drift "
              << "(halves differ by more than a generation's 95 % half-width); raise --generations (and --tail)\n";
  if (!a.out.empty()) std::cout << "  -> " << a.out << "/atlas.{csv,json,png}\n";
  return 0;
}

}  // namespace

void add_atlas_command(CLI::App& app, Registry& reg) {
  auto a = std::make_shared<AtlasArgs>();
  CLI::App* c = app.add_subcommand(
      "atlas", "MAD effective sample size n_e / n_r over (n_r, n_s) for several lambda: where synthetic data help (Gaussian family)");
  c->add_option("--kind", a->kind, "fresh | augment (default fresh)");
  a->o_nreal = c->add_option("--n-real", a->n_real, "real sample sizes n_r, comma-separated (default 10,30,100,300,1000)");
  a->o_nsynth = c->add_option("--n-synth", a->n_synth, "synthetic sample sizes n_s (default 0,10,30,100,300,1000,3000)");
  c->add_option("--lambda", a->lambdas, "sampling biases lambda in (0, 1] (default 0.5,0.9,1)");
  c->add_option("--memory", a->memory, "K values: each synthetic sample from one of the last K models (MAD Fig. 33; default 1); "
                                      "several with one --n-real and --n-synth: curves over K");
  c->add_option("--pool", a->pool, "synthetic pool: replace (the last generation's set) | accumulate (all of them)");
  c->add_option("--total", a->total, "corpus sizes n per generation, with --real-fraction instead of --n-real/--n-synth "
                                    "(MAD Fig. 34: curves over n; one n: curves over the fraction)");
  c->add_option("--real-fraction", a->fractions, "real (clean) fractions p in (0, 1] of each generation's n samples");
  c->add_option("--dim", a->cfg.dim, "dimension D (default 2)");
  c->add_option("--generations", a->cfg.generations, "generations per loop (default 60)");
  c->add_option("--tail", a->cfg.tail, "the limit: mean over the last TAIL generations (default 20)");
  c->add_option("--runs", a->cfg.runs, "runs per cell (default 200)");
  c->add_option("--curve-runs", a->cfg.curve_runs, "runs per n of the single-fit curve (default 2000)");
  c->add_option("--seed", a->cfg.seed, "random seed (default 0)");
  output_folder(c->add_option("--out", a->out, "folder for atlas.csv, atlas.json and atlas.png"));
  c->add_flag("--json", a->json, "print one JSON object");
  reg.actions.push_back({c, [a] { return run_atlas_command(*a); }});
}

}  // namespace sims::cli
