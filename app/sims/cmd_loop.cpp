// `sims loop`: self-consuming loops. The Gaussian family (the MAD paper's
// closed-form model) is contracted in ../shared/CLI.md; the diffusion2d
// family trains R independent 2D diffusion models per generation as a
// batched ensemble (core/loops/diffusion_loop.hpp), standard or SIMS
// training (the SIMS paper's Fig. 4), with a resumable run folder.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <unistd.h>

#include "cli_common.hpp"
#include "metrics/uncertainty.hpp"
#include "cli_progress.hpp"
#include "cmd_image_loop.hpp"
#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "dist/env.hpp"
#include "dist/group.hpp"
#include "io/atomic_file.hpp"
#include "loops/diffusion_loop.hpp"
#include "loops/gaussian_loop.hpp"
#include "loops/mixture_loop.hpp"
#include "experiment/json_io.hpp"
#include "experiment/run_folder.hpp"
#include "experiment/settings.hpp"
#include "loops/run_caption.hpp"
#include "render/plot.hpp"

namespace sims::cli {
namespace {

struct LoopArgs {
  std::string family = "gaussian", kind, out;
  int64_t dim = 2, n_real = 0, n_synth = 0, n_init = 0, generations = 0, runs = 1, memory = 1;
  double bias = 1.0;
  uint64_t seed = 0;
  bool json = false;
  // diffusion2d
  std::string data = "gaussian", pool = "replace", algorithm = "standard", interval = "0:inf", sampler = "heun";
  std::string model = "edm";
  int64_t grid = 5;
  double mode_std = 0.1;
  double omega = 3.0, base_epochs = 100, aux_epochs = 50, sigma_data = 0.5, lr = 1e-3;
  int64_t n_aux = 2000, n_eval = 1000, width = 64, depth = 3, batch = 256, batch_runs = 0, save_runs = 4;
  int steps = 18, threads = 0, workers = 0;
  bool resume = false;
  // plots
  std::string plot, plot_key = "ratio", label;
  bool plot_log = false;
  std::vector<std::string> compare;
  CLI::Option *o_kind = nullptr, *o_nreal = nullptr, *o_nsynth = nullptr, *o_gens = nullptr, *o_runs = nullptr,
              *o_omega = nullptr;
  // images (cmd_image_loop.cpp)
  ImageLoopFlags images;
  CLI::App* cmd = nullptr;
  // Flags that only some families read, with those families; the rest are common.
  CLI::Option* o_family = nullptr;
  std::vector<std::pair<CLI::Option*, std::vector<std::string>>> family_only;
};

const std::vector<std::string> kFamilies = {"gaussian", "mixture", "diffusion2d", "images"};

// A flag the chosen family would silently ignore is refused, naming the families it is for.
void refuse_other_families_flags(const LoopArgs& a) {
  for (const auto& [opt, families] : a.family_only) {
    if (!opt->count() || std::find(families.begin(), families.end(), a.family) != families.end()) continue;
    std::string list;
    for (const auto& f : families) list += (list.empty() ? "" : ", ") + f;
    throw InputError(opt->get_name() + " does not apply to --family " + a.family +
                     (a.o_family->count() ? "" : " (the default)") + "; it is for " + list);
  }
}

// Gaussian and mixture loops are computed whole (their runs advance together, in seconds to minutes): a stop keeps
// no generation, and says so.
int stopped_whole(const std::string& family, int64_t reached, int64_t generations, bool tty) {
  if (tty) std::cerr << "\n";
  std::cerr << "stopped in generation " << reached << " of " << generations << "; a " << family
            << " loop is computed whole (its runs advance together), so none of it was kept: the same command starts "
               "it over\n";
  return 130;
}

// The gaussian and diffusion2d tables show generations 1-5, every 10th and the last: said where others are left out.
std::string shown_generations(int64_t generations, const std::string& file) {
  return generations > 6 ? "\n  rows: generations 1-5, every 10th and the last (every generation in " + file + ")"
                         : std::string();
}

// --out DIR of another family's loop is named as that (its settings would otherwise be refused one key at a time,
// "dim = 2 (now unset)"); a folder without a readable run.json is left to the family's own checks.
void refuse_folder_of_another_family(const LoopArgs& a) {
  std::error_code ec;
  if (a.out.empty() || !std::filesystem::exists(a.out + "/run.json", ec)) return;
  nlohmann::json stored;
  try {
    stored = experiment::RunFolder::settings_of(a.out, "loop");
  } catch (const InputError&) {
    return;
  }
  const nlohmann::json family = stored.is_object() ? stored.value("family", nlohmann::json()) : nlohmann::json();
  if (family.is_string() && family.get<std::string>() != a.family)
    throw InputError("'" + message_text(a.out, 200) + "' holds a " + family.get<std::string>() + " loop, not --family " +
                     a.family + (a.o_family->count() ? "" : " (the default)") +
                     ": choose another --out (or give its own family to continue it)");
}

// `--resume` takes every setting from the run folder in --out, the family too where --family is not given. A setting
// given beside it would be ignored (the run goes on with the folder's), so it is refused: only what a continued run
// may take is accepted (more --generations, threads and workers, output and plot flags).
void take_resumed_family(LoopArgs& a) {
  // A family --resume is not for is refused as before (refuse_other_families_flags), before the folder is read.
  if (a.o_family->count() && a.family != "diffusion2d" && a.family != "images") return;
  if (a.out.empty()) throw InputError("--resume needs --out DIR (the run folder to continue)");
  std::error_code ec;
  if (!std::filesystem::is_directory(a.out, ec))
    throw InputError("--resume: '" + message_text(a.out, 200) + "' is no folder here (the run folder to continue)");
  const nlohmann::json stored = experiment::RunFolder::settings_of(a.out, "loop");  // names what else it holds
  const std::string family = stored.is_object() && stored.value("family", nlohmann::json()).is_string()
                                 ? stored.at("family").get<std::string>()
                                 : std::string();
  if (family == "gaussian" || family == "mixture")
    throw InputError("'" + message_text(a.out, 200) + "' holds a " + family + " loop, which --resume does not continue "
                     "(it is computed whole): run its own command again");
  if (!a.o_family->count()) {
    if (family.empty())
      throw InputError("'" + message_text(a.out, 200) + "' does not say its loop's family: give --family");
    a.family = family;
  } else if (!family.empty() && family != a.family) {
    throw InputError("'" + message_text(a.out, 200) + "' holds a " + family + " loop, not --family " + a.family +
                     " (with --resume --family may be left out)");
  }
  static const std::vector<std::string> continued = {"--out",      "--resume",   "--family", "--generations",
                                                     "--threads",  "--workers",  "--device", "--json",
                                                     "--plot",     "--plot-key", "--plot-log", "--label",
                                                     "--compare",  "--help"};
  std::string ignored;
  for (const CLI::Option* o : a.cmd->get_options()) {
    if (o->count() == 0) continue;
    // "--omega"; an option without a group has no such name, its list of names never is empty.
    const std::string name = o->get_name().empty() ? o->get_name(false, true) : o->get_name();
    if (std::find(continued.begin(), continued.end(), name) == continued.end())
      ignored += (ignored.empty() ? "" : ", ") + name;
  }
  if (!ignored.empty())
    throw InputError("--resume takes every setting from '" + message_text(a.out, 200) + "', so " + ignored +
                     " would be ignored: leave " + (ignored.find(',') == std::string::npos ? "it" : "them") +
                     " out, or give the run's whole command without --resume (a changed setting is then refused by "
                     "name)");
}

// [SECTION] Plots ------------------------------------------------------------------

nlohmann::json read_result(const std::string& where) {
  std::string path = where;
  if (std::filesystem::is_directory(where)) path = where + "/metrics.json";
  std::ifstream in(path);
  if (!in) throw InputError("--compare: cannot read '" + path + "'");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A --json capture: the last non-empty line is the object.
  try {
    return parse_json_bounded(text, "--compare '" + path + "'");
  } catch (const InputError&) {
  }
  std::istringstream lines(text);
  std::string line, last;
  while (std::getline(lines, line))
    if (!line.empty()) last = line;
  try {
    return parse_json_bounded(last, "--compare '" + path + "'");
  } catch (const InputError& e) {
    throw InputError(std::string(e.what()) + ": not a loop result");
  }
}

void add_series(render::LinePlot& plot, const nlohmann::json& j, const std::string& key, const std::string& label) {
  if (!j.contains(key) || !j[key].is_array())
    throw InputError("--plot-key '" + key + "' is not an array in a loop result");
  render::Series s;
  s.label = label.empty() ? loops::run_label(j) : label;
  std::vector<double> v;  // null (a value not finite, or not recorded by an older run) -> NaN
  for (const auto& x : j[key]) v.push_back(x.is_number() ? x.get<double>() : NAN);
  // Intervals stored beside the key (w2_mean: w2_lo / w2_hi) become error bars.
  const std::string stem = key.size() > 5 && key.compare(key.size() - 5, 5, "_mean") == 0 ? key.substr(0, key.size() - 5) : key;
  const auto bound = [&](const std::string& k, size_t i) {
    return j.contains(k) && j[k].is_array() && i < j[k].size() && j[k][i].is_number() ? j[k][i].get<double>() : NAN;
  };
  // KID of an older version's generation has only its spread over subsets (kid_std): bars of one standard
  // deviation for that point (a resumed folder mixes both).
  for (size_t i = 0; i < v.size(); ++i) {
    s.x.push_back(static_cast<double>(i + 1));
    s.y.push_back(v[i]);
    const bool by_std = !std::isfinite(bound(stem + "_lo", i)) && std::isfinite(bound(key + "_std", i));
    s.lo.push_back(by_std ? v[i] - bound(key + "_std", i) : bound(stem + "_lo", i));
    s.hi.push_back(by_std ? v[i] + bound(key + "_std", i) : bound(stem + "_hi", i));
  }
  s.markers = v.size() <= 30;
  s.colour = render::palette(plot.series.size());
  plot.series.push_back(std::move(s));
}

// "1 run" / "5 runs".
std::string runs_text(int64_t runs) { return std::to_string(runs) + (runs == 1 ? " run" : " runs"); }

// What a loop table's intervals are: over the runs, or none with one run.
std::string run_intervals_text(int64_t runs) {
  return runs < 2 ? "one run: no intervals (--runs 2 or more gives them)" : "95 % t intervals over the runs";
}

void write_plot(const LoopArgs& a, const nlohmann::json* own) {
  render::LinePlot plot;
  plot.x_label = "generation t";
  plot.integer_x = true;
  // What each result array is, which way is better and what its bars mean.
  struct Key {
    const char* key;
    const char* label;
    const char* subtitle;
  };
  static const Key keys[] = {
      {"ratio", "E[dist(G^t)] / E[dist(G^1)]", "lower is better (1: no drift); bars or band: 95 % intervals over the runs"},
      {"w2_mean", "E[W2] to p_r", "lower is better; bars or band: 95 % Student-t intervals over the runs"},
      {"w2_median", "median W2 to p_r", "lower is better"},
      {"trace_mean", "mean tr \u03a3 of the fitted Gaussians",
       "p_r has tr \u03a3 = D: closer is better, 0 is collapse; bars or band: 95 % Student-t intervals over the runs"},
      {"fd", "FD of the generation's samples", "lower is better; bars: 95 % bootstrap intervals over the scored samples"},
      {"kid", "KID of the generation's samples",
       "lower is better (unbiased at any sample size); bars: 95 %, the half-width of a Student-t interval over at least "
       "10 disjoint subsets of the samples (a generation without one, of an older version or of fewer than 20 "
       "samples: \u00b1 1 sd over 100 subsets)"},
      {"precision", "precision", "higher is better; bars: 95 % bootstrap over the generated points"},
      {"recall", "recall", "higher is better; bars: 95 % bootstrap over the real points"},
      // The mixture family's arrays (mean over the runs, with _lo/_hi).
      {"recall_mean", "recall (mean over runs)", "higher is better; bars or band: 95 % Student-t intervals over the runs"},
      {"precision_mean", "precision (mean over runs)",
       "higher is better; bars or band: 95 % Student-t intervals over the runs"},
      {"modes_mean", "real modes covered (mean over runs)",
       "higher is better (p_r's modes all covered is best); bars or band: 95 % Student-t intervals over the runs"},
      {"variance_mean", "total variance of the fit (mean over runs)",
       "closer to p_r's is better, falling is collapse; bars or band: 95 % Student-t intervals over the runs"},
      {"modal_variance_mean", "average modal variance (mean over runs)",
       "closer to p_r's is better; bars or band: 95 % Student-t intervals over the runs"},
      {"components_mean", "components of the fit still alive (mean over runs)",
       "fewer is mode loss; bars or band: 95 % Student-t intervals over the runs"},
  };
  plot.y_label = a.plot_key;
  plot.title = "Self-consuming loop: " + a.plot_key;
  for (const Key& k : keys)
    if (a.plot_key == k.key) plot.y_label = k.label, plot.subtitle = k.subtitle, plot.title = std::string("Self-consuming loop: ") + k.label;
  plot.width = 800;
  plot.height = 520;
  plot.log_y = a.plot_log;
  std::string caption;
  if (own) {
    add_series(plot, *own, a.plot_key, a.label);
    caption = loops::run_settings(*own, a.label);
  }
  // What the bars are and what dist is, as the results say (several results: each different one once).
  std::vector<std::string> methods, dists;
  const auto note = [&](const nlohmann::json& j) {
    const auto add = [](std::vector<std::string>& v, const std::string& x) {
      if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
    };
    if (j.contains("ratio_ci") && j["ratio_ci"].is_object() && j["ratio_ci"].contains("method") &&
        j["ratio_ci"]["method"].is_string())
      add(methods, j["ratio_ci"]["method"].get<std::string>());
    if (j.contains("metric") && j["metric"].is_string()) add(dists, j["metric"].get<std::string>());
  };
  if (own) note(*own);
  nlohmann::json first_compare;  // the first compared result, kept for the reference lines below
  for (const auto& c : a.compare) {
    const nlohmann::json j = read_result(c);
    add_series(plot, j, a.plot_key, "");
    caption += (caption.empty() ? "" : "; ") + loops::run_settings(j, "");
    note(j);
    if (first_compare.is_null()) first_compare = j;
  }
  const auto joined = [](const std::vector<std::string>& v) {
    std::string t;
    for (const auto& x : v) t += (t.empty() ? "" : " / ") + x;
    return t;
  };
  // The Gaussian family's trace is judged against p_r's (tr Σ = D): drawn as a dashed line.
  const nlohmann::json* first = own ? own : first_compare.is_null() ? nullptr : &first_compare;
  if (a.plot_key == "trace_mean" && first && first->contains("dim") && (*first)["dim"].is_number() &&
      !plot.series.empty() && !plot.series.front().x.empty()) {
    render::Series ref;
    ref.label = "p_r: tr \u03a3 = D = " + std::to_string((*first)["dim"].get<int64_t>());
    ref.colour = {110, 110, 110};
    ref.reference = true;
    ref.x = {plot.series.front().x.front(), plot.series.front().x.back()};
    ref.y = {(*first)["dim"].get<double>(), (*first)["dim"].get<double>()};
    plot.series.push_back(ref);
  }
  // FD names its feature network (the image loop records it), as every other FD label does.
  if (a.plot_key == "fd" && first && first->contains("features") && (*first)["features"].is_string())
    plot.y_label = "FD_" + (*first)["features"].get<std::string>() + " of the generation's samples",
    plot.title = "Self-consuming loop: " + plot.y_label;
  if (a.plot_key == "ratio") {
    plot.subtitle = "lower is better (1: no drift)";
    if (!dists.empty()) plot.subtitle += "; dist = " + joined(dists);
    plot.subtitle += methods.empty() ? "; bars or band: 95 % intervals over the runs"
                                     : "; bars or band: 95 %, " + joined(methods);
  }
  // KID without a spread (every subset held both sets whole): say that there are no bars rather than promise them.
  if (a.plot_key == "kid") {
    bool any = false;
    for (const auto& s : plot.series)
      for (double v : s.lo) any = any || std::isfinite(v);
    if (!any)
      plot.subtitle = "lower is better (unbiased at any sample size); no bars: none recorded (fewer than 20 samples, or "
                      "an older run folder whose subsets all held both sets whole)";
  }
  // Several results share the generations: their bars are set side by side (bands, from 31 points, stay put).
  if ((own ? 1 : 0) + a.compare.size() > 1) {
    plot.dodge_px = 8;
    plot.subtitle += "; bars of the series set side by side";
  }
  render::with_caption(render::render_plot(plot), caption).write_png(a.plot);
}

// [SECTION] Gaussian family ------------------------------------------------------

int run_gaussian(const LoopArgs& a) {
  loops::GaussianLoopConfig cfg;
  if (a.kind.empty()) throw InputError("--kind is required (fully-synthetic, augment or fresh)");
  if (!a.o_nreal->count() || !a.o_nsynth->count() || !a.o_gens->count())
    throw InputError("--n-real, --n-synth and --generations are required for the gaussian family");
  cfg.kind = loops::parse_loop_kind(a.kind);
  cfg.dim = a.dim;
  cfg.n_real = a.n_real;
  cfg.n_synth = a.n_synth;
  cfg.n_init = a.n_init;
  cfg.generations = a.generations;
  cfg.runs = a.runs;
  cfg.bias = a.bias;
  cfg.memory = a.memory;
  if (a.pool != "replace" && a.pool != "accumulate")
    throw InputError("--pool must be replace or accumulate, got '" + a.pool + "'");
  cfg.accumulate = a.pool == "accumulate";
  cfg.seed = a.seed;
  loops::validate(cfg);
  prepare_output("--out", a.out, OutputKind::Folder);
  prepare_output("--plot", a.plot);
  const bool tty = ::isatty(2) != 0;
  install_stop_handler();
  int reached = 0;
  auto progress = [&](int g) {
    if (tty) std::cerr << "\r  generation " << g << "/" << cfg.generations << std::flush;
    reached = g;
    return g >= cfg.generations || !stop_flag().load();  // a stop after the last generation keeps the whole loop
  };
  nlohmann::json j;
  try {
    j = a.out.empty() ? loops::gaussian_loop_json(cfg, loops::run_gaussian_loop(cfg, progress))
                      : loops::run_gaussian_loop_in(a.out, cfg, progress);
  } catch (const Cancelled&) {
    return stopped_whole("gaussian", reached, cfg.generations, tty);
  }
  if (!a.out.empty()) {
    // A rerun with fewer --generations shows the first ones of the folder's loop, which metrics.json keeps whole.
    const std::string file = a.out + "/metrics.json";
    note_kept_generations(a.out, count_or(experiment::read_json_file(file), "generations", 0, int64_t{1} << 40,
                                          "'" + file + "': "),
                          cfg.generations);
  }
  if (tty) std::cerr << "\r" << std::string(32, ' ') << "\r";
  loops::GaussianLoopResult res;
  res.w2_mean = j.at("w2_mean").get<std::vector<double>>();
  res.trace_mean = j.at("trace_mean").get<std::vector<double>>();
  res.trace_median = j.at("trace_median").get<std::vector<double>>();
  if (!a.plot.empty()) write_plot(a, &j);
  if (a.json) {
    print_json(j);
  } else {
    std::cout << "Gaussian loop (" << loops::to_string(cfg.kind) << ", D=" << cfg.dim << ", " << runs_text(cfg.runs)
              << ", bias " << cfg.bias << (cfg.memory > 1 ? ", memory " + std::to_string(cfg.memory) : "")
              << (cfg.accumulate ? ", accumulated synthetic sets" : "") << ")\n"
              << "  lower W2 is better, tr Σ nearer p_r's is better; " << run_intervals_text(cfg.runs)
              << (cfg.runs < 2 ? "" : std::string(" (medians: order statistics") + (cfg.runs < 6 ? ", none below 6 runs" : "") + ")")
              << shown_generations(cfg.generations, a.out.empty() ? "--json" : a.out + "/metrics.csv") << "\n"
              << "   gen  " << padded("E[W2]", 22) << padded("E[tr Σ] (p_r: " + std::to_string(cfg.dim) + ")", 22)
              << "median tr Σ [95 % interval]\n";
    // Generation g's value of j[k]; NaN where a folder of an older version has none.
    const auto at = [&](const std::string& k, size_t g) {
      return j.contains(k) && g < j[k].size() && j[k][g].is_number() ? j[k][g].get<double>() : NAN;
    };
    const auto estimate = [&](const std::string& key, size_t g) {
      return metrics::Estimate::of(at(key + "_mean", g), at(key + "_lo", g), at(key + "_hi", g));
    };
    for (size_t g = 0; g < res.w2_mean.size(); ++g)
      if (g < 5 || g + 1 == res.w2_mean.size() || (g + 1) % 10 == 0)
        std::cout << "  " << std::setw(4) << g + 1 << "  " << padded(estimate("w2", g).precise_text(), 22)
                  << padded(estimate("trace", g).precise_text(), 22)
                  << metrics::Estimate::of(res.trace_median[g], at("trace_median_lo", g), at("trace_median_hi", g))
                         .bounds_text()
                  << "\n";
    if (j.contains("verdict")) std::cout << "  verdict: " << j["verdict"].get<std::string>() << "\n";
    if (!a.out.empty()) std::cout << "  -> " << a.out << "/metrics.{json,csv}\n";
  }
  return 0;
}

// [SECTION] diffusion2d family ----------------------------------------------------

loops::DiffusionLoopConfig diffusion_config(const LoopArgs& a) {
  loops::DiffusionLoopConfig c;
  c.data = data::Toy2dSpec::named(a.data);
  if (!a.kind.empty()) c.kind = loops::parse_loop_kind(a.kind);
  if (a.pool != "replace" && a.pool != "accumulate")
    throw InputError("--pool must be replace or accumulate, got '" + a.pool + "'");
  c.accumulate = a.pool == "accumulate";
  if (a.o_nreal->count()) c.n_real = a.n_real;
  if (a.o_nsynth->count()) c.n_synth = a.n_synth;
  if (a.o_gens->count()) c.generations = a.generations;
  if (a.o_runs->count()) c.runs = a.runs;
  c.seed = a.seed;
  c.algorithm = loops::parse_loop_algorithm(a.algorithm);
  if (a.o_omega->count() && c.algorithm == loops::LoopAlgorithm::Standard && a.omega != 0.0)
    throw InputError("--omega needs --algorithm sims (standard training samples the base model alone)");
  if (c.algorithm == loops::LoopAlgorithm::Standard)
    note_given(a.cmd, {"--interval", "--n-aux", "--aux-epochs", "--aux-images"},
               "with --algorithm standard (no auxiliary is trained; --algorithm sims uses them)");
  c.omega = a.omega;
  std::tie(c.interval_lo, c.interval_hi) = parse_interval(a.interval);
  c.n_aux = a.n_aux;
  c.base_epochs = a.base_epochs;
  if (a.cmd->get_option("--base-images")->count()) {
    if (a.cmd->get_option("--base-epochs")->count())
      throw InputError("--base-images and --base-epochs are two ways to set the base budget: give one");
    c.base_images = a.images.base_images;
  }
  c.aux_epochs = a.aux_epochs;
  c.n_eval = a.n_eval;
  c.net.width = a.width;
  c.train.lr = a.lr;
  const auto given = [&](const char* flag) { return a.cmd->get_option(flag)->count() > 0; };
  if (a.model == "ddpm") {
    // The paper's DDPM model: --depth counts its residual blocks, --batch and --steps are its own (defaults 4,
    // 2048, 40); EDM's sampler settings do not apply.
    c.model = loops::LoopModel::Ddpm;
    for (const char* f : {"--sampler", "--sigma-data"})
      if (given(f)) throw InputError(std::string(f) + " applies to --model edm only");
    if (given("--depth")) c.ddpm_blocks = a.depth;
    if (given("--batch")) c.ddpm_batch = a.batch;
    if (given("--steps")) c.ddpm_steps = a.steps;
  } else if (a.model == "edm") {
    c.net.depth = a.depth;
    c.net.sigma_data = a.sigma_data;
    c.train.batch = a.batch;
    c.sampler.kind = parse_sampler_kind(a.sampler);
    c.sampler.steps = a.steps;
  } else {
    throw InputError("--model must be edm or ddpm, got '" + a.model + "'");
  }
  c.warm_start = loops::parse_warm_start(a.images.warm_start);
  c.batch_runs = a.batch_runs;
  c.bias = a.bias;
  c.save_runs = a.save_runs;
  return c;
}

int run_diffusion(const LoopArgs& a) {
  if (a.resume && a.out.empty()) throw InputError("--resume needs --out DIR (the run folder to continue)");
  loops::DiffusionLoopConfig cfg;
  if (a.resume) {
    cfg = loops::load_diffusion_loop_config(a.out);
    if (a.o_gens->count()) cfg.generations = a.generations;
  } else {
    cfg = diffusion_config(a);
  }
  loops::validate(cfg);
  for (const auto& c : a.compare) (void)read_result(c);
  // Under `sims launch`, torchrun or srun: this process's share of the runs; rank 0 writes and reports.
  const std::shared_ptr<dist::Group> group = dist::Group::join_from_environment();
  const bool lead = dist::leads(group.get());
  if (lead) {
    prepare_output("--out", a.out, OutputKind::Folder);
    prepare_output("--plot", a.plot);
  }
  apply_threads(a.threads);
  install_stop_handler();

  loops::DiffusionLoopRunOptions ro;
  ro.out_dir = a.out;
  ro.cancel = &stop_flag();
  ro.workers = a.workers;
  ro.group = group;
  std::ostringstream header;
  header << "diffusion2d loop" << (cfg.model == loops::LoopModel::Ddpm ? " (DDPM model)" : "") << ": "
         << loops::to_string(cfg.kind) << ", " << loops::to_string(cfg.algorithm)
         << (cfg.algorithm == loops::LoopAlgorithm::Sims ? " (omega " + experiment::format_real(cfg.omega) + ")" : "")
         << ", |D_s| = " << cfg.n_synth << ", " << runs_text(cfg.runs) << " x " << cfg.generations << " generations"
         << (cfg.warm_start == loops::WarmStart::Previous ? ", each base from the previous one" : "");
  if (group) header << " on " << group->size() << " processes";
  ProgressLine line(header.str());
  if (lead) ro.on_progress = [&](const experiment::Progress& p) { line(p); };
  loops::DiffusionLoopResult res;
  try {
    res = loops::run_diffusion_loop(cfg, ro);
  } catch (const Cancelled&) {
    line.clear();
    if (!a.out.empty() && line.last("generation") > 0)
      std::cerr << "stopped: generations up to " << line.last("generation") << " are saved in " << a.out
                << " (run the same command again to continue)" << std::endl;
    throw;
  }
  line.clear();
  if (!lead) return 0;  // rank 0 reports
  nlohmann::json j = cfg.to_json();
  j.update(res.to_json());
  if (group) j["processes"] = group->size(), j["communication_seconds"] = group->seconds_communicating();
  j["resumed_from"] = res.resumed_from;
  note_more_generations(a.out, cfg.generations);
  j["seconds_total"] = [&] {
    double s = 0;
    for (double x : res.seconds) s += x;
    return s;
  }();
  if (!a.plot.empty()) write_plot(a, &j);
  if (a.json) {
    print_json(j);
  } else {
    std::cout << "diffusion2d loop (" << loops::to_string(cfg.kind) << ", " << loops::to_string(cfg.algorithm);
    if (cfg.algorithm == loops::LoopAlgorithm::Sims) std::cout << ", omega " << cfg.omega;
    std::cout << ", |D_s| = " << cfg.n_synth << ", " << runs_text(cfg.runs) << "; dist = " << res.metric << ")\n"
              << "  lower is better; " << run_intervals_text(cfg.runs)
              << (cfg.runs < 2 ? "" : std::string(" (the ratio's paired with generation 1; the median's by order statistics") +
                                          (cfg.runs < 6 ? ", none below 6 runs" : "") + ")")
              << shown_generations(static_cast<int64_t>(res.w2_mean.size()), a.out.empty() ? "--json" : a.out + "/metrics.csv")
              << "\n"
              << "   gen  E[dist]               ratio to generation 1   median dist [95 %]"
              << (res.w2_base_mean.empty() ? "" : "      E[dist] of the base") << "\n";
    bool unbounded = false;  // a ratio without an interval because generation 1's mean is within its own noise of 0
    for (size_t g = 0; g < res.w2_mean.size(); ++g)
      if (g < 5 || g + 1 == res.w2_mean.size() || (g + 1) % 10 == 0) {
        metrics::Estimate e = res.w2_interval(g);
        e.value = res.w2_mean[g];
        metrics::Estimate ratio = res.ratio_interval(g);
        ratio.value = res.ratio_at(g);
        if (!(ratio.hi > ratio.lo)) ratio.lo = ratio.hi = NAN;  // generation 1: 1 by definition, no interval
        unbounded = unbounded || ratio.method.find("unbounded") != std::string::npos;
        const std::string median = res.w2_median_interval(g).bounds_text();
        std::cout << "  " << std::setw(4) << g + 1 << "  " << padded(e.precise_text(), 22) << padded(ratio.bounds_text(), 24)
                  << (res.w2_base_mean.empty() ? median : padded(median, 24));
        if (!res.w2_base_mean.empty()) {
          metrics::Estimate b = res.w2_base_interval(g);
          b.value = res.w2_base_mean[g];  // over every run, as the JSON's w2_base_mean (the interval skips NaN runs)
          std::cout << b.precise_text();
        }
        std::cout << "\n";
      }
    if (unbounded)
      std::cout << "  a ratio without an interval: generation 1's mean E[dist] is within its own noise of 0 over these "
                   "runs, so every ratio fits them (Fieller's set is unbounded; more runs give one)\n";
    if (!res.w2_mean.empty())
      std::cout << "  limit ratio E[dist(G^t)]/E[dist(G^1)], mean over generations " << res.limit_from << ".."
                << res.w2_mean.size() << " (lower is better; 95 % interval: " << res.ratio_method() << "): "
                << res.limit_ratio_estimate().bounds_text(3)  // both ends: Fieller's set is not symmetric
                << "\n  E[dist] over the same generations: "
                << res.limit_distance().text(4) << "\n";
    if (!res.w2_mean.empty()) std::cout << "  verdict: " << res.verdict() << "\n";
    if (!a.out.empty()) std::cout << "  -> " << a.out << "/metrics.{json,csv}, samples/\n";
    if (!a.plot.empty()) std::cout << "  -> " << a.plot << "\n";
  }
  return 0;
}

// [SECTION] Gaussian-mixture family ------------------------------------------------

int run_mixture(const LoopArgs& a) {
  loops::MixtureLoopConfig cfg;
  if (a.kind.empty()) throw InputError("--kind is required (fully-synthetic, augment or fresh)");
  cfg.kind = loops::parse_loop_kind(a.kind);
  if (a.o_nreal->count()) cfg.n_real = a.n_real;
  if (a.o_nsynth->count()) cfg.n_synth = a.n_synth;
  if (a.o_gens->count()) cfg.generations = a.generations;
  if (a.o_runs->count()) cfg.runs = a.runs;
  cfg.grid = a.grid;
  cfg.mode_std = a.mode_std;
  cfg.bias = a.bias;
  if (a.cmd->get_option("--n-eval")->count()) cfg.n_eval = a.n_eval;
  if (a.cmd->get_option("--pr-k")->count()) cfg.pr_k = a.images.pr_k;
  cfg.seed = a.seed;
  loops::validate(cfg);
  prepare_output("--out", a.out, OutputKind::Folder);
  prepare_output("--plot", a.plot);
  const bool tty = ::isatty(2) != 0;
  install_stop_handler();
  int64_t reached = 0;
  auto progress = [&](const loops::MixtureLoopResult& so_far) {
    reached = static_cast<int64_t>(so_far.mean.at("modes").size());
    if (tty) {
      std::ostringstream o;
      o.precision(3);
      o << "\r  generation " << so_far.mean.at("modes").size() << "/" << cfg.generations << ": modes "
        << so_far.mean.at("modes").back() << ", recall " << so_far.mean.at("recall").back();
      std::cerr << o.str() << std::flush;
    }
    return reached >= cfg.generations || !stop_flag().load();  // after the last generation: the loop is whole
  };
  nlohmann::json j;
  try {
    if (!a.out.empty()) {
      experiment::RunFolder rf(a.out, "loop", loops::mixture_loop_schema().to_json(cfg),
                               loops::mixture_loop_schema().free_keys(),
                               loops::mixture_loop_schema().to_json(loops::MixtureLoopConfig()));
      const bool done = rf.done("loop", nlohmann::json::object());
      const std::string file = a.out + "/metrics.json";
      const nlohmann::json stored = done ? experiment::read_json_file(file) : nlohmann::json::object();
      const int64_t had = count_or(stored, "generations", 0, int64_t{1} << 40, "'" + file + "': ");
      if (done && had == cfg.generations) {
        j = stored;
      } else {
        // A mixture loop takes seconds: another generation count reruns it whole (same seed: the shared
        // generations come out the same) and says so.
        if (done)
          std::cerr << "note: " << a.out << " held " << had << " generations; rerunning with " << cfg.generations
                    << "\n";
        rf.forget("loop");
        const loops::MixtureLoopResult res = loops::run_mixture_loop(cfg, progress);
        j = loops::mixture_loop_json(cfg, res);
        loops::write_mixture_figure(a.out + "/mixtures.png", cfg, res);
        experiment::write_json_file(a.out + "/metrics.json", j);
        rf.finish("loop", nlohmann::json::object());
      }
    } else {
      j = loops::mixture_loop_json(cfg, loops::run_mixture_loop(cfg, progress));
    }
  } catch (const Cancelled&) {
    return stopped_whole("mixture", reached, cfg.generations, tty);
  }
  if (tty) std::cerr << "\r" << std::string(60, ' ') << "\r";
  if (!a.plot.empty()) write_plot(a, &j);
  if (a.json) {
    print_json(j);
    return 0;
  }
  std::cout << "Gaussian-mixture loop (" << loops::to_string(cfg.kind) << ", " << cfg.grid * cfg.grid << " modes, "
            << runs_text(cfg.runs) << ", bias " << cfg.bias << "); "
            << (cfg.runs < 2 ? run_intervals_text(cfg.runs) : std::string("means over runs with 95 % t intervals")) << "\n"
            << "  variances: nearer the real data's (below) is better; modes covered and recall: higher is better\n";
  std::vector<std::vector<std::string>> rows{{"gen", "variance", "modal variance", "modes covered", "recall"}};
  const size_t G = j["recall_mean"].size();
  for (size_t g = 0; g < G; ++g) {
    if (!(g < 3 || g + 1 == G || (g + 1) % std::max<size_t>(1, G / 8) == 0)) continue;
    rows.push_back({std::to_string(g + 1)});
    for (const char* k : {"variance", "modal_variance", "modes", "recall"}) {
      metrics::Estimate v;
      v.value = j[std::string(k) + "_mean"][g].get<double>();
      const auto& lo = j[std::string(k) + "_lo"][g];
      const auto& hi = j[std::string(k) + "_hi"][g];
      if (lo.is_number()) v.lo = lo.get<double>(), v.hi = hi.get<double>();
      // Every run covered as many modes: a t interval of no width says nothing more than that.
      const bool all_same = std::string(k) == "modes" && cfg.runs > 1 && v.has_interval() && v.lo == v.hi;
      // An interval cut at what the quantity can be (0, the modes there are, 1) is no longer symmetric: its ends.
      const bool cut = v.has_interval() && std::abs((v.hi - v.value) - (v.value - v.lo)) > 1e-9 * (1 + std::abs(v.value));
      const int digits = std::string(k) == "modal_variance" ? 4 : 2;
      rows.back().push_back(all_same ? std::to_string(std::lround(v.value)) + " in all runs"
                            : cut    ? v.bounds_text(digits + 1)
                                     : v.text(digits));
    }
  }
  print_table(std::cout, rows, "   ");
  std::cout << "  real: variance " << j["real"]["variance"].get<double>() << ", modal variance "
            << j["real"]["modal_variance"].get<double>() << ", " << cfg.grid * cfg.grid << " modes\n";
  std::cout << "  " << j["verdict"].get<std::string>() << "\n";
  if (!a.out.empty()) std::cout << "  -> " << a.out << "/metrics.json, " << a.out << "/mixtures.png\n";
  if (!a.plot.empty()) std::cout << "  -> " << a.plot << "\n";
  return 0;
}

int run_loop(LoopArgs& a) {
  if (a.resume) take_resumed_family(a);
  if (std::find(kFamilies.begin(), kFamilies.end(), a.family) == kFamilies.end())
    throw InputError("--family " + a.family + " is not available (gaussian, mixture, diffusion2d or images)");
  refuse_other_families_flags(a);
  refuse_folder_of_another_family(a);
  if (a.workers < 0 || a.threads < 0 || a.batch_runs < 0 || a.save_runs < 0)
    throw InputError("--workers, --threads, --batch-runs and --save-runs must be >= 0");
  // Plot-only: no loop asked for, only finished runs to draw.
  if (a.kind.empty() && !a.resume && !a.plot.empty() && !a.compare.empty()) {
    prepare_output("--plot", a.plot);
    write_plot(a, nullptr);
    if (a.json) print_json({{"plot", a.plot}, {"series", a.compare.size()}});
    else std::cout << "wrote " << a.plot << " (" << a.compare.size() << (a.compare.size() == 1 ? " run" : " runs") << ")\n";
    return 0;
  }
  if (!a.compare.empty() && a.plot.empty()) throw InputError("--compare needs --plot FILE.png");
  if (a.plot.empty())  // they shape the plot only
    for (const char* f : {"--plot-key", "--plot-log", "--label"})
      if (a.cmd->get_option(f)->count() > 0) throw InputError(std::string(f) + " needs --plot FILE.png");
  if (dist::read_dist_env().several() && a.family != "diffusion2d")
    throw InputError("--family " + a.family + " runs in one process; only --family diffusion2d shares its runs over "
                     "several processes so far");
  if (a.family == "gaussian") return run_gaussian(a);
  if (a.family == "mixture") return run_mixture(a);
  if (a.family == "diffusion2d") return run_diffusion(a);
  return run_image_loop_family(a.cmd, a.images, [&](const nlohmann::json& j) { write_plot(a, &j); });
}

}  // namespace

void add_loop_command(CLI::App& app, Registry& reg) {
  auto a = std::make_shared<LoopArgs>();
  CLI::App* c = app.add_subcommand("loop", "Run a self-consuming (autophagous) loop");
  const std::vector<std::string> gauss = {"gaussian"}, d2 = {"diffusion2d"}, trained = {"diffusion2d", "images"},
                                 gauss_d2 = {"gaussian", "diffusion2d"}, mix = {"mixture"},
                                 fitted = {"gaussian", "mixture", "diffusion2d"};
  auto only = [&a](CLI::Option* o, const std::vector<std::string>& families) {
    a->family_only.push_back({o, families});
    return o;
  };
  a->o_family = c->add_option("--family", a->family, "gaussian | mixture (2D Gaussian mixture fitted by EM; MAD App. C.1) | diffusion2d | images (U-Net per generation; see also: sims scenarios)");
  a->o_kind = c->add_option("--kind", a->kind, "fully-synthetic | augment | fresh (required for gaussian and mixture; diffusion2d and images default to augment)");
  a->o_nreal = c->add_option("--n-real", a->n_real, "real samples per generation (generation 1 and augment/fresh; diffusion2d default 1000)");
  a->o_nsynth = c->add_option("--n-synth", a->n_synth, "synthetic samples |D_s| entering each generation (diffusion2d default 250)");
  a->o_gens = c->add_option("--generations", a->generations, "number of generations G (diffusion2d default 100)");
  a->o_runs = only(c->add_option("--runs", a->runs, "independent runs averaged over (gaussian default 1, mixture 20, diffusion2d 100)"), fitted);
  only(c->add_option("--grid", a->grid, "mixture: p_r has grid x grid modes on a square grid of spacing 2 (default 5: 25 modes)"), mix);
  only(c->add_option("--mode-std", a->mode_std, "mixture: standard deviation of each real mode (default 0.1)"), mix);
  only(c->add_option("--dim", a->dim, "gaussian: data dimension D (p_r = N(0, I_D))"), gauss);
  only(c->add_option("--n-init", a->n_init, "gaussian: generation 1's real samples, apart from --n-real (MAD Fig. 9: a fresh loop forgets its start; default --n-real)"), gauss);
  only(c->add_option("--memory", a->memory, "gaussian: each synthetic sample from one of the last K models, chosen at random (MAD Fig. 33; default 1; a generation costs about K plain draws)"), gauss);
  only(c->add_option("--bias", a->bias, "sampling bias lambda in (0, 1]: gaussian samples N(mu, lambda Sigma); mixture scales every component's covariance by lambda; diffusion2d starts the sampler from noise scaled by sqrt(lambda) (a temperature stand-in for the MAD paper's guidance)"), fitted);
  c->add_option("--seed", a->seed, "random seed");
  output_folder(c->add_option("--out", a->out, "run folder: metrics.json, and metrics.csv (gaussian, diffusion2d, images) or mixtures.png (mixture); diffusion2d also run.json, state, samples/"));
  c->add_flag("--json", a->json, "print one JSON object");
  // diffusion2d (and, where they apply, images)
  only(input_path(c->add_option("--data", a->data, "diffusion2d: p_r, a built-in 2D set (default gaussian = N(0, [[2,1],[1,2]])); images: an image data set spec (default faces)"), InputKind::DataSpec), trained);
  only(c->add_option("--pool", a->pool, "synthetic pool: replace (D_s^{t-1}) | accumulate (all previous generations' sets; MAD Fig. 28-29)"), {"gaussian", "diffusion2d", "images"});
  only(c->add_option("--algorithm", a->algorithm, "diffusion2d: standard | sims (default standard)"), trained);
  a->o_omega = only(c->add_option("--omega", a->omega, "diffusion2d SIMS guidance omega (default 3)"), trained);
  only(c->add_option("--interval", a->interval, "diffusion2d SIMS guidance interval LO:HI in sigma (default 0:inf)"), trained);
  only(c->add_option("--n-aux", a->n_aux, "diffusion2d SIMS: synthetic samples the auxiliary is fine-tuned on (default 2000)"), trained);
  only(c->add_option("--base-epochs", a->base_epochs, "diffusion2d: base training budget in epochs of D^t (default 100)"), trained);
  only(c->add_option("--aux-epochs", a->aux_epochs, "diffusion2d SIMS: auxiliary fine-tuning epochs of S (default 50)"), trained);
  only(c->add_option("--n-eval", a->n_eval, "diffusion2d: generated points per run scored by the distance (default 1000); mixture: samples scored per generation and run (default 500)"), {"diffusion2d", "images", "mixture"});
  only(c->add_option("--model", a->model, "diffusion2d: edm (EDM MLP, Heun sampler; default) | ddpm (the SIMS paper's Fig. 4 model: epsilon-MLP with residual blocks, cosine schedule, ancestral sampler)"), d2);
  only(c->add_option("--width", a->width, "diffusion2d: MLP hidden units (default 64)"), d2);
  only(c->add_option("--depth", a->depth, "diffusion2d: MLP hidden layers (default 3; ddpm: residual blocks, default 4)"), d2);
  only(c->add_option("--sigma-data", a->sigma_data, "diffusion2d: EDM sigma_data (default 0.5)"), d2);
  only(c->add_option("--batch", a->batch, "diffusion2d: training batch per run (default 256; ddpm 2048)"), trained);
  only(c->add_option("--lr", a->lr, "diffusion2d: Adam learning rate (default 1e-3)"), trained);
  only(c->add_option("--sampler", a->sampler, "diffusion2d: heun | euler (default heun)"), trained);
  only(c->add_option("--steps", a->steps, "diffusion2d: sampling steps (default 18; ddpm: diffusion steps T, default 40)"), trained);
  only(c->add_option("--batch-runs", a->batch_runs,
                     "diffusion2d: runs trained together per ensemble (0 = all runs split evenly over the workers; 1 = one by one)"), d2);
  only(c->add_option("--workers", a->workers,
                     "diffusion2d: threads training chunks of runs side by side, one LibTorch thread each (0 = --threads)"), d2);
  only(c->add_option("--save-runs", a->save_runs, "diffusion2d: runs whose points are saved per generation (default 4)"), d2);
  only(c->add_flag("--resume", a->resume, "take the settings from the run folder in --out, the family too (re-running the same command also continues it); a setting given beside it is refused"), trained);
  only(c->add_option("--threads", a->threads, "CPU threads for LibTorch (0 = default)"), trained);
  // plots
  png_output(c->add_option("--plot", a->plot, "write a PNG line plot of --plot-key per generation"));
  c->add_option("--plot-key", a->plot_key, "result array to plot (default ratio; e.g. w2_mean)");
  c->add_flag("--plot-log", a->plot_log, "--plot with a logarithmic y axis (values that span decades)");
  c->add_option("--label", a->label, "legend label of this run in --plot");
  input_path(c->add_option("--compare", a->compare, "finished run folder or metrics JSON to add to --plot (repeatable); "
                                                    "without --kind only plots"));
  // --base-images also sets diffusion2d's budget (a fixed number of images per generation instead of epochs of D^t);
  // --warm-start also where diffusion2d's bases start.
  for (CLI::Option* o : bind_image_loop_flags(c, a->images))
    only(o, o->get_name() == "--base-images" || o->get_name() == "--warm-start" ? std::vector<std::string>{"images", "diffusion2d"}
            : o->get_name() == "--pr-k"      ? std::vector<std::string>{"images", "mixture"}
                                              : std::vector<std::string>{"images"});
  a->cmd = c;
  reg.actions.push_back({c, [a] { return run_loop(*a); }});
  add_scenarios_command(app, reg);  // the four scenarios of the image loops, beside `loop`
}

}  // namespace sims::cli
