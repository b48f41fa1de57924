// `sims sweep`: the guidance sweep of the SIMS paper. Samples the base model
// with SIMS guidance for every ω (× interval × auxiliary snapshot), with the
// same seed for every setting, measures each set against real data (exact W2
// and precision/recall for 2D models; FD_<net>, precision/recall in feature
// space and attribute ratios for images) and writes sweep.csv, sweep.json,
// metric/ratio-vs-ω plots and a samples figure. The computation is
// metrics::run_sweep (core/metrics/sweep.hpp), which the GUIs call too.
#include <cmath>
#include <filesystem>
#include <sstream>
#include <unistd.h>

#include <ATen/ATen.h>

#include "cli_common.hpp"
#include "cli_progress.hpp"
#include "common/error.hpp"
#include "data/image_datasets.hpp"
#include "data/toy2d.hpp"
#include "io/atomic_file.hpp"
#include "io/npy.hpp"
#include "metrics/frechet.hpp"
#include "metrics/sweep.hpp"
#include "metrics/sweep_run.hpp"
#include "experiment/json_io.hpp"
#include "render/canvas.hpp"
#include "render/plot.hpp"

namespace sims::cli {
namespace {

struct SweepArgs {
  ModelFlags models;
  SamplingFlags sampling;
  std::string omegas = "-1,0,0.5,1,2";
  std::vector<std::string> intervals;
  std::string aux_snapshots;
  std::string real, ref, real_data, features, classifier, out;
  int64_t n = 1000, n_real = 0, seed = 0, real_seed = 12345, batch = 256, k = 5, keep = 8;
  int threads = 0;
  bool json = false, quiet = false;
};

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string v;
  while (std::getline(ss, v, sep)) out.push_back(v);
  return out;
}

std::string interval_text(double lo, double hi) {
  auto f = [](double v) {
    if (std::isinf(v)) return std::string("inf");
    std::ostringstream s;
    s << v;
    return s.str();
  };
  return f(lo) + ":" + f(hi);
}

at::Tensor read_images(const std::string& path, const char* what) {
  at::Tensor t = io::read_npy_finite(path);
  if (t.dim() != 4 || (t.size(1) != 1 && t.size(1) != 3))
    throw InputError(std::string(what) + " '" + path + "' must be images [N,C,H,W] with C = 1 or 3, got " +
                     c10::str(t.sizes()));
  return t.to(at::kFloat);
}

void write_text(const std::string& path, const std::string& text) {
  io::write_file_atomically(path, text.data(), text.size());
}

int run_sweep_cmd(SweepArgs& a) {
  apply_threads(a.threads);
  if (a.out.empty()) throw InputError("--out DIR is required");
  if (a.n < 2) throw InputError("--n must be at least 2");
  if (a.batch < 1 || a.k < 1 || a.keep < 1) throw InputError("--batch, --k and --keep must be >= 1");
  const int sources = !a.real.empty() + !a.ref.empty() + !a.real_data.empty();
  if (sources != 1) throw InputError("give exactly one of --real REAL.npy, --ref REF.npz, --real-data SPEC");

  metrics::SweepConfig cfg;
  cfg.omegas.clear();
  for (const auto& v : split(a.omegas, ',')) {
    if (v.empty()) throw InputError("--omegas '" + a.omegas + "' has an empty value");
    cfg.omegas.push_back(parse_number(v, "--omegas"));
  }
  if (cfg.omegas.empty()) throw InputError("--omegas needs at least one value");
  if (!a.intervals.empty()) {
    cfg.intervals.clear();
    for (const auto& iv : a.intervals) cfg.intervals.push_back(parse_interval(iv));
  }
  cfg.sampler = a.sampling.config();
  cfg.n = a.n, cfg.seed = static_cast<uint64_t>(a.seed), cfg.batch = a.batch, cfg.pr_k = a.k, cfg.keep = a.keep;

  const std::string dir = a.out + "/";
  LoadOptions lo = a.models.load_options();
  DenoiserPtr base = load_denoiser(a.models.model, lo);
  LoadOptions alo = lo;
  alo.sample_shape = base->info().sample_shape;
  std::vector<metrics::SweepAux> auxes;
  std::vector<std::string> aux_paths;
  if (!a.models.aux.empty()) aux_paths.push_back(a.models.aux);
  if (!a.aux_snapshots.empty())
    for (const auto& p : split(a.aux_snapshots, ','))
      if (!p.empty()) aux_paths.push_back(p);
  if (aux_paths.empty()) throw InputError("a sweep needs an auxiliary model (--aux or --aux-snapshots)");
  for (const auto& p : aux_paths)
    auxes.push_back({std::filesystem::path(p).filename().string(), load_denoiser(p, alo)});

  const auto& shape = base->info().sample_shape;
  const bool images = shape.size() == 3;
  const int64_t n_real = a.n_real > 0 ? a.n_real : a.n;
  metrics::SweepReference ref;
  metrics::FeatureNetPtr features;
  metrics::ClassifierPtr classifier;
  if (images) {
    if (a.features.empty()) throw InputError("image models need a feature network: --features NET");
    features = metrics::load_feature_net(a.features);
    if (!a.classifier.empty()) classifier = metrics::load_classifier(a.classifier);
    if (!a.real.empty()) {
      ref.real_images = read_images(a.real, "--real");
    } else if (!a.ref.empty()) {
      ref.real_stats = metrics::load_stats_npz(a.ref);
    } else {
      auto spec = data::ImageDatasetSpec::parse(a.real_data);
      ref.real_images = data::load_images(spec, n_real, static_cast<uint64_t>(a.real_seed)).images;
    }
    if (ref.real_images.defined()) {
      const auto s = ref.real_images.sizes();
      if (s[1] != shape[0] || s[2] != shape[1] || s[3] != shape[2])
        throw InputError("the real images are " + c10::str(s.slice(1)) + " but the model samples " + shape_to_string(shape));
    }
  } else {
    if (!a.features.empty() || !a.classifier.empty())
      throw InputError("--features / --classifier apply to image models; this model samples points " + shape_to_string(shape));
    if (!a.ref.empty()) throw InputError("--ref statistics apply to image models; give --real or --real-data for points");
    if (!a.real.empty()) {
      ref.real_points = io::read_npy_finite(a.real);
      if (ref.real_points.dim() != 2 || (shape.size() == 1 && ref.real_points.size(1) != shape[0]))
        throw InputError("--real '" + a.real + "' must be points [M," + (shape.empty() ? "D" : std::to_string(shape[0])) +
                         "], got " + c10::str(ref.real_points.sizes()));
    } else {
      if (shape.size() != 1 || shape[0] != 2) throw InputError("--real-data names built-in 2D data; this model samples " + shape_to_string(shape));
      ref.real_points = data::sample_toy2d(data::Toy2dSpec::named(a.real_data), n_real, static_cast<uint64_t>(a.real_seed));
    }
  }

  // The output folder, created only once the inputs are good.
  prepare_output("--out", a.out, OutputKind::Folder);
  // What the rows depend on besides the numbers: the models and the reference, by content.
  auto identity = [](const std::string& path) {
    return path.empty() ? nlohmann::json(nullptr) : nlohmann::json{{"path", path}, {"content", experiment::file_fingerprint(path)}};
  };
  nlohmann::json inputs = {{"model", identity(a.models.model)}, {"aux", nlohmann::json::array()},
                           {"real", identity(a.real)}, {"ref", identity(a.ref)}, {"real_data", a.real_data},
                           {"n_real", n_real}, {"real_seed", a.real_seed},
                           {"features", a.features}, {"classifier", a.classifier}};
  for (const auto& p : aux_paths) inputs["aux"].push_back(identity(p));
  install_stop_handler();
  metrics::SweepRunOptions so;
  so.out_dir = a.out;
  so.inputs = inputs;
  so.cancel = &stop_flag();
  ProgressLine line;
  so.on_progress = [&](const experiment::Progress& p) {
    if (!a.quiet) line(p);
  };
  metrics::SweepResult res;
  try {
    res = metrics::run_sweep_folder(base, auxes, cfg, ref, features.get(), classifier.get(), so);
  } catch (const Cancelled&) {
    line.clear();
    std::cerr << "stopped: finished rows are kept in " << a.out << " (run the same command again to continue)" << std::endl;
    throw;
  }
  line.clear();

  // Files.
  nlohmann::json j = res.to_json();
  j["model"] = a.models.model;
  j["n"] = a.n;
  j["seed"] = a.seed;
  j["steps"] = cfg.sampler.steps;
  j["sampler"] = to_string(cfg.sampler.kind);
  j["real"] = !a.real.empty() ? a.real : !a.ref.empty() ? a.ref : a.real_data;
  if (classifier) j["classifier"] = classifier->name();
  write_text(dir + "sweep.csv", res.to_csv());
  write_text(dir + "sweep.json", j.dump(2) + "\n");

  // Series: one per (aux, interval) combination.
  struct Combo {
    std::string label;
    std::vector<const metrics::SweepRow*> rows;
  };
  std::vector<Combo> combos;
  for (const auto& r : res.rows) {
    std::string label;
    if (auxes.size() > 1) label += r.aux;
    if (cfg.intervals.size() > 1) label += (label.empty() ? "" : ", ") + std::string("(") + interval_text(r.lo, r.hi) + "]";
    if (combos.empty() || combos.back().label != label || combos.back().rows.size() == cfg.omegas.size())
      combos.push_back({label, {}});
    combos.back().rows.push_back(&r);
  }
  const std::string metric_name = images ? "FD_" + res.features : "W2 (exact)";
  render::LinePlot mp;
  mp.title = metric_name + " vs guidance \u03c9";
  mp.x_label = "\u03c9";
  mp.y_label = metric_name;
  for (size_t c = 0; c < combos.size(); ++c) {
    render::Series s;
    s.label = combos[c].label.empty() ? metric_name : combos[c].label;
    s.colour = render::palette(c);
    for (auto* r : combos[c].rows) s.x.push_back(r->omega), s.y.push_back(r->value);
    mp.series.push_back(s);
  }
  const std::string metric_png = dir + (images ? "fd_vs_omega.png" : "w2_vs_omega.png");
  render::render_plot(mp).write_png(metric_png);
  std::vector<std::string> written = {dir + "sweep.csv", dir + "sweep.json", metric_png};
  if (!res.attr_names.empty()) {
    render::LinePlot rp;
    rp.title = "attribute share vs guidance \u03c9 (" + classifier->name() + ")";
    rp.x_label = "\u03c9";
    rp.y_label = "share of samples";
    size_t colour = 0;
    for (const auto& cb : combos)
      for (size_t k = 0; k < res.attr_names.size(); ++k) {
        render::Series s;
        s.label = res.attr_names[k] + (cb.label.empty() ? "" : " (" + cb.label + ")");
        s.colour = render::palette(colour++);
        for (auto* r : cb.rows) s.x.push_back(r->omega), s.y.push_back(k < r->ratios.size() ? r->ratios[k] : NAN);
        rp.series.push_back(s);
      }
    render::render_plot(rp).write_png(dir + "ratio_vs_omega.png");
    written.push_back(dir + "ratio_vs_omega.png");
  }
  // Samples: one row per combination, one column per omega.
  render::GridFigure fig;
  fig.title = "SIMS sweep: (1+\u03c9)\u00b7D_base \u2212 \u03c9\u00b7D_aux, seed " + std::to_string(a.seed);
  fig.x_title = "guidance \u03c9";
  fig.y_title = combos.size() > 1 ? "aux / interval" : "";
  for (double w : cfg.omegas) {
    std::ostringstream s;
    s << "\u03c9 = " << w;
    fig.x_labels.push_back(s.str());
  }
  render::PlotRange range;
  if (!images) {
    std::vector<at::Tensor> all;
    for (const auto& r : res.rows) all.push_back(r.kept);
    all.push_back(ref.real_points);
    range = render::robust_range(all);
  }
  for (const auto& cb : combos) {
    fig.y_labels.push_back(cb.label);
    fig.cells.emplace_back();
    for (auto* r : cb.rows) {
      if (images) {
        const int cnt = static_cast<int>(r->kept.size(0));
        const int cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(cnt))));
        fig.cells.back().push_back(render::image_mosaic(r->kept, cols, shape[2] <= 32 ? 2 : 1, 1));
      } else {
        fig.cells.back().push_back(render::scatter(r->kept, 200, range));
      }
    }
  }
  render::compose_grid(fig).write_png(dir + "samples.png");
  written.push_back(dir + "samples.png");

  if (a.json) {
    j["files"] = written;
    print_json(j);
  } else {
    std::cout << res.to_csv();
    std::cout << "wrote";
    for (const auto& w : written) std::cout << " " << w;
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

void add_sweep_command(CLI::App& app, Registry& reg) {
  auto a = std::make_shared<SweepArgs>();
  CLI::App* c = app.add_subcommand(
      "sweep",
      "Guidance sweep: sample with every omega (same seed), measure against real data (2D: exact W2 + precision/recall; "
      "images: FD_<net>, precision/recall in feature space, attribute ratios); writes DIR/sweep.csv, sweep.json, "
      "w2_vs_omega.png or fd_vs_omega.png, ratio_vs_omega.png and samples.png");
  a->models.bind(c);
  a->sampling.bind(c);
  c->add_option("--omegas", a->omegas, "comma-separated omega values (default -1,0,0.5,1,2)");
  c->add_option("--interval", a->intervals, "guidance interval LO:HI (repeat for several; default 0:inf)");
  input_path(c->add_option("--aux-snapshots", a->aux_snapshots, "further auxiliary models A1,A2,... (one row set per model)"), InputKind::List);
  c->add_option("--n", a->n, "samples per setting (default 1000)");
  c->add_option("--seed", a->seed, "seed of the starting noise, the same for every setting (default 0)");
  input_path(c->add_option("--real", a->real, "real samples .npy (points [M,D] or images [M,C,H,W])"));
  input_path(c->add_option("--ref", a->ref, "reference feature statistics .npz (mu, sigma; images only; no precision/recall)"));
  input_path(c->add_option("--real-data", a->real_data, "built-in data: a 2D name (gaussian, grid25, ...) or an image data set spec (faces, faces:ratio=0.3, mnist:DIR, ...)"), InputKind::DataSpec);
  c->add_option("--n-real", a->n_real, "real samples drawn with --real-data (default --n)");
  c->add_option("--real-seed", a->real_seed, "seed of the --real-data samples (default 12345)");
  input_path(c->add_option("--features", a->features, "feature network for images (see 'sims features --help')"), InputKind::NetSpec);
  input_path(c->add_option("--classifier", a->classifier, "attribute classifier for images (ratio per attribute)"), InputKind::NetSpec);
  c->add_option("--batch", a->batch, "images per sampler / network call (default 256)");
  c->add_option("--k", a->k, "k of precision/recall (default 5)");
  c->add_option("--keep", a->keep, "images per omega in samples.png (default 8)");
  c->add_option("--out", a->out, "output directory")->required();
  c->add_option("--threads", a->threads, "LibTorch threads (0 = default)");
  c->add_flag("--quiet", a->quiet, "no progress on stderr");
  c->add_flag("--json", a->json, "print one JSON object (the rows) as the last line");
  reg.actions.push_back({c, [a] { return run_sweep_cmd(*a); }});
}

}  // namespace sims::cli
