// `sims sweep`: the guidance sweep of the SIMS paper. Samples the base model
// with SIMS guidance for every ω (× interval × auxiliary snapshot), with the
// same seed for every setting, measures each set against real data (exact W2
// and precision/recall for 2D models; FD_<net>, precision/recall in feature
// space and attribute ratios for images) and writes sweep.csv, sweep.json,
// metric/ratio-vs-ω plots and a samples figure. The computation is
// metrics::run_sweep (core/metrics/sweep.hpp), which the GUIs call too.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <unistd.h>

#include <ATen/ATen.h>

#include "cli_common.hpp"
#include "sweep_table.hpp"
#include "cli_progress.hpp"
#include "common/error.hpp"
#include "dist/group.hpp"
#include "data/image_datasets.hpp"
#include "data/toy2d.hpp"
#include "io/atomic_file.hpp"
#include "io/npy.hpp"
#include "metrics/kid.hpp"
#include "metrics/frechet.hpp"
#include "metrics/sweep.hpp"
#include "metrics/sweep_run.hpp"
#include "experiment/json_io.hpp"
#include "render/animation.hpp"
#include "render/canvas.hpp"
#include "reference_flags.hpp"
#include "render/plot.hpp"

namespace sims::cli {
namespace {

struct SweepArgs {
  ModelFlags models;
  SamplingFlags sampling;
  std::string omegas = "-1,0,0.5,1,2";
  std::vector<std::string> intervals;
  std::string aux_snapshots;
  std::string out;
  ReferenceFlags reference;
  int64_t n = 1000, seed = 0, batch = 256, k = 5, keep = 8;
  int threads = 0, ci = 50;
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
  return f(lo) + ", " + f(hi);  // read as (lo, hi]
}

void write_text(const std::string& path, const std::string& text) {
  io::write_file_atomically(path, text.data(), text.size());
}

int run_sweep_cmd(SweepArgs& a) {
  apply_threads(a.threads);
  if (a.out.empty()) throw InputError("--out DIR is required");
  if (a.n < 2 || a.n > 10'000'000)  // a slip of the finger (1e9) would fill the memory before any message
    throw InputError("--n must be from 2 to 10000000 samples per setting (got " + std::to_string(a.n) + ")");
  if (a.batch < 1 || a.k < 1 || a.keep < 1) throw InputError("--batch, --k and --keep must be >= 1");
  // k-th nearest neighbours among the samples and among the real points (--n-real, or --n where not given).
  const int64_t fewest = a.reference.n_real > 0 ? std::min(a.n, a.reference.n_real) : a.n;
  if (a.k >= fewest)
    throw InputError("--k must be below --n and --n-real (the k-th nearest neighbour within each set); got --k " +
                     std::to_string(a.k) + " with " + std::to_string(fewest) + " points");

  metrics::SweepConfig cfg;
  cfg.omegas = parse_omegas(a.omegas);
  if (!a.intervals.empty()) {
    cfg.intervals.clear();
    for (const auto& iv : a.intervals) cfg.intervals.push_back(parse_interval(iv));
  }
  cfg.sampler = a.sampling.config();
  cfg.n = a.n, cfg.seed = static_cast<uint64_t>(a.seed), cfg.batch = a.batch, cfg.pr_k = a.k, cfg.keep = a.keep;
  cfg.ci = a.ci;
  cfg.point_metric = a.reference.metric;
  if (a.ci < 0 || (a.ci > 0 && a.ci < 10)) throw InputError("--ci needs 0 (no intervals) or at least 10 resamples");

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
  const std::vector<std::string> labels = metrics::aux_labels(aux_paths);
  std::vector<const Denoiser*> loaded;
  for (size_t i = 0; i < aux_paths.size(); ++i) {
    auxes.push_back({labels[i], load_denoiser(aux_paths[i], alo)});
    loaded.push_back(auxes.back().model.get());
  }
  a.models.note_loaded(*base, loaded);

  const auto& shape = base->info().sample_shape;
  const bool images = shape.size() == 3;
  Reference rd = load_reference(a.reference, shape, a.n);
  metrics::SweepReference& ref = rd.ref;
  metrics::FeatureNetPtr& features = rd.features;
  metrics::ClassifierPtr& classifier = rd.classifier;
  // Under `sims launch`, torchrun or srun: the rows are shared out; rank 0 writes and reports.
  const std::shared_ptr<dist::Group> group = dist::Group::join_from_environment();
  const bool lead = dist::leads(group.get());
  // The output folder, created only once the inputs are good.
  if (lead) prepare_output("--out", a.out, OutputKind::Folder);
  // What the rows depend on besides the numbers: the models and the reference, by content.
  nlohmann::json inputs = rd.inputs;
  inputs["model"] = file_identity(a.models.model);
  inputs["aux"] = nlohmann::json::array();
  for (const auto& p : aux_paths) inputs["aux"].push_back(file_identity(p));
  install_stop_handler();
  metrics::SweepRunOptions so;
  so.out_dir = a.out;
  so.inputs = inputs;
  so.cancel = &stop_flag();
  so.group = group;
  ProgressLine line;
  so.on_progress = [&](const experiment::Progress& p) {
    if (!a.quiet && lead) line(p);
  };
  auto sweep = [&] { return metrics::run_sweep_folder(base, auxes, cfg, ref, features.get(), classifier.get(), so); };
  const metrics::SweepResult res = lead ? keep_on_stop(line, a.out, [] { return "finished rows are kept"; }, sweep) : sweep();
  if (!lead) return 0;

  // Files.
  nlohmann::json j = res.to_json();
  const std::vector<std::string> verdicts = res.verdicts();
  j["verdicts"] = verdicts;
  const nlohmann::json between = res.aux_differences();  // several auxiliaries: each against the first, paired
  if (!between.empty()) j["aux_differences"] = between;
  if (a.ci > 0)
    j["ci"] = {{"method", "bootstrap over each row's samples: normal interval (value ± z·sd of the resampled values) "
                          "for " + res.metric + ", percentile for precision/recall; " + metrics::kGainIntervalMethod},
               {"kid", metrics::kKidIntervalMethod}, {"level", res.ci_level}, {"resamples", a.ci}};
  j["better"] = "lower " + res.metric + ", higher precision and recall";
  j["model"] = a.models.model;
  j["n"] = a.n;
  j["seed"] = a.seed;
  j["steps"] = cfg.sampler.steps;
  j["sampler"] = to_string(cfg.sampler.kind);
  j["real"] = a.reference.source();
  if (group) j["processes"] = group->size();
  if (classifier) j["classifier"] = classifier->name();
  // The real data's own attribute shares, by the same classifier: the level the samples' shares are read against.
  std::vector<double> real_shares;
  int64_t n_real_images = 0;
  if (classifier && ref.real_images.defined() && !res.attr_names.empty()) {
    n_real_images = ref.real_images.size(0);
    real_shares = metrics::attribute_ratios(classifier->predict(ref.real_images.clamp(-1, 1)));
    nlohmann::json rr = nlohmann::json::object();
    for (size_t k = 0; k < real_shares.size() && k < res.attr_names.size(); ++k) rr[res.attr_names[k]] = real_shares[k];
    j["real_ratio"] = rr;
    j["n_real_images"] = n_real_images;
  }
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
    if (cfg.intervals.size() > 1)
      label += (label.empty() ? "" : ", ") + std::string("guided for \u03c3 in (") + interval_text(r.lo, r.hi) + "]";
    if (combos.empty() || combos.back().label != label || combos.back().rows.size() == cfg.omegas.size())
      combos.push_back({label, {}});
    combos.back().rows.push_back(&r);
  }
  // What produced the figures, under each of them.
  // The caption shows file names (what follows a path's last '/'): labels with folders (runA/aux.ckpt) are left
  // to the plot's legend and the samples' row titles.
  std::string aux_names;
  bool folders = false;
  for (const auto& x : auxes) {
    aux_names += (aux_names.empty() ? "" : ", ") + x.label;
    folders = folders || x.label.find('/') != std::string::npos;
  }
  if (folders) aux_names = std::to_string(auxes.size()) + " models (named in the figure)";
  render::SamplingProvenance prov = render::SamplingProvenance::of(
      a.models.model, aux_names, Guidance{0, cfg.intervals.front().first, cfg.intervals.front().second}, cfg.sampler,
      a.seed, a.n);
  prov.per_cell = true;
  prov.varied = {"omega"};
  if (cfg.intervals.size() > 1) prov.varied.push_back("interval");
  const std::string caption = prov.caption() + " \u00b7 " + reference_caption(rd, a.reference);
  const std::string metric_name = images ? "FD_" + res.features : res.metric == "energy" ? "energy distance" : "W2 (exact)";
  render::LinePlot mp;
  mp.title = metric_name + " vs guidance \u03c9";
  mp.x_label = "\u03c9";
  mp.y_label = metric_name + " (lower is better)";
  mp.subtitle = a.ci > 0 ? "bars: 95 % bootstrap intervals over " + std::to_string(a.n) + " samples; ring: lowest"
                         : "no intervals (--ci 0); ring: lowest";
  if (std::isfinite(res.floor.value)) mp.subtitle += "; dashed: real vs real (" + res.floor.text(3) + ")";
  mp.mark_best = true;
  // Several series share every ω: each is drawn a little beside it, so that no series' bars hide another's.
  mp.dodge_px = 12;
  if (combos.size() > 1) mp.subtitle += "; series drawn side by side at each \u03c9";
  for (size_t c = 0; c < combos.size(); ++c) {
    render::Series s;
    s.label = combos[c].label.empty() ? metric_name : combos[c].label;
    s.colour = render::palette(c);
    for (auto* r : combos[c].rows)
      s.x.push_back(r->omega), s.y.push_back(r->value), s.lo.push_back(r->value_lo),
          s.hi.push_back(r->value_hi);
    mp.series.push_back(s);
  }
  if (std::isfinite(res.floor.value)) {
    render::Series fl;
    fl.label = "real vs real";
    fl.colour = {110, 110, 110};
    fl.reference = true;
    fl.x = {cfg.omegas.front(), cfg.omegas.back()};
    for (double w : cfg.omegas) fl.x[0] = std::min(fl.x[0], w), fl.x[1] = std::max(fl.x[1], w);
    fl.y = {res.floor.value, res.floor.value};
    mp.series.push_back(fl);
  }
  const std::string metric_png = dir + res.metric + "_vs_omega.png";  // w2_, energy_ or fd_vs_omega.png
  render::with_caption(render::render_plot(mp), caption).write_png(metric_png);
  std::vector<std::string> written = {dir + "sweep.csv", dir + "sweep.json", metric_png};
  if (!res.attr_names.empty()) {
    render::LinePlot rp;
    rp.title = "attribute share vs guidance \u03c9 (" + classifier->name() + ")";
    rp.x_label = "\u03c9";
    rp.y_label = "share of samples";
    // Each share is k of the row's n samples: its Wilson interval (with 64 samples about ± 12 points).
    rp.subtitle = "bars: 95 % Wilson intervals over " + std::to_string(a.n) + " samples per \u03c9" +
                  (combos.size() * res.attr_names.size() > 1 ? "; series drawn side by side at each \u03c9" : "");
    rp.dodge_px = 10;
    size_t colour = 0;
    for (const auto& cb : combos)
      for (size_t k = 0; k < res.attr_names.size(); ++k) {
        render::Series s;
        s.label = res.attr_names[k] + (cb.label.empty() ? "" : " (" + cb.label + ")");
        s.colour = render::palette(colour++);
        for (auto* r : cb.rows) {
          const double share = k < r->ratios.size() ? r->ratios[k] : NAN;
          const metrics::Estimate e = metrics::share_interval(share, a.n);
          s.x.push_back(r->omega), s.y.push_back(share), s.lo.push_back(e.lo), s.hi.push_back(e.hi);
        }
        rp.series.push_back(s);
      }
    // Dashed: the real images' share of each attribute (same classifier), with its Wilson interval in the legend.
    for (size_t k = 0; k < real_shares.size() && k < res.attr_names.size(); ++k) {
      const metrics::Estimate e = metrics::share_interval(real_shares[k], n_real_images);
      render::Series rs;
      rs.label = "real " + res.attr_names[k] + ": " + e.text(2);
      rs.reference = true;
      rs.colour = res.attr_names.size() == 1 ? render::Rgb{110, 110, 110} : render::palette(k);
      const auto [w_lo, w_hi] = std::minmax_element(cfg.omegas.begin(), cfg.omegas.end());
      // (one ω: a line across the ±0.5 the plot shows around it)
      rs.x = {*w_lo - (*w_lo == *w_hi ? 0.5 : 0.0), *w_hi + (*w_lo == *w_hi ? 0.5 : 0.0)}, rs.y = {e.value, e.value};
      rp.series.push_back(rs);
    }
    if (!real_shares.empty())
      rp.subtitle += "; dashed: the " + std::to_string(n_real_images) + " real images' share by the same classifier";
    render::with_caption(render::render_plot(rp), caption).write_png(dir + "ratio_vs_omega.png");
    written.push_back(dir + "ratio_vs_omega.png");
  }
  // Samples: one row per combination, one column per omega.
  render::GridFigure fig;
  fig.title = "SIMS sweep: (1+\u03c9)\u00b7D_base \u2212 \u03c9\u00b7D_aux, seed " + std::to_string(a.seed);
  fig.x_title = "guidance \u03c9";
  fig.y_title = combos.size() <= 1          ? ""
                : auxes.size() == 1         ? "interval"
                : cfg.intervals.size() == 1 ? "auxiliary"
                                            : "aux / interval";
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
  fig.scatter_ticks = !images;
  fig.range = range;
  render::with_caption(render::compose_grid(fig), caption).write_png(dir + "samples.png");
  written.push_back(dir + "samples.png");

  if (a.json) {
    j["files"] = written;
    print_json(j);
  } else {
    print_sweep_table(std::cout, res, [&](const metrics::SweepRow& row) {
      const metrics::SweepResult::NamedRows n = res.named_rows_of(row);
      return n.zero && n.named == &row ? std::string("<- the verdict's omega") : std::string();
    });
    for (const auto& v : verdicts) std::cout << v << "\n";
    for (const auto& d : between) std::cout << d.at("text").get<std::string>() << "\n";
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
      "w2_vs_omega.png (energy_vs_omega.png) or fd_vs_omega.png, ratio_vs_omega.png and samples.png");
  a->models.bind(c);
  a->sampling.bind(c);
  c->add_option("--omegas", a->omegas, "comma-separated omega values (default -1,0,0.5,1,2)");
  c->add_option("--interval", a->intervals, "guidance interval LO:HI (repeat for several; default 0:inf)");
  input_path(c->add_option("--aux-snapshots", a->aux_snapshots, "further auxiliary models A1,A2,... (one row set per model)"), InputKind::List);
  c->add_option("--n", a->n, "samples per setting (default 1000)");
  c->add_option("--seed", a->seed, "seed of the starting noise, the same for every setting (default 0)");
  a->reference.bind(c);
  c->add_option("--batch", a->batch, "images per sampler / network call (default 256)");
  c->add_option("--k", a->k, "k of precision/recall (default 5)");
  c->add_option("--keep", a->keep, "images per omega in samples.png (default 8)");
  c->add_option("--ci", a->ci, "bootstrap resamples for 95 % intervals of every metric (default 50; 0: none)");
  output_folder(c->add_option("--out", a->out, "output directory"))->required();
  c->add_option("--threads", a->threads, "LibTorch threads (0 = default)");
  c->add_flag("--quiet", a->quiet, "no progress on stderr");
  c->add_flag("--json", a->json, "print one JSON object (the rows) as the last line");
  reg.actions.push_back({c, [a] { return run_sweep_cmd(*a); }});
}

}  // namespace sims::cli
