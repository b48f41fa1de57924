// `sims demo`: the whole SIMS pipeline end to end on built-in 2D data
// (SIMS Algorithm 1): train a base, sample its synthetic set, fine-tune the
// auxiliary on it, sample with guidance at several omega, and write a report
// folder (grids, loss curves, distance vs omega, a summary). It is what the
// README's run command shows where there is no display.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <memory>
#include <optional>
#include <sstream>

#include <ATen/ATen.h>

#include "common/paths.hpp"
#include "cli_common.hpp"
#include "cli_progress.hpp"
#include "common/error.hpp"
#include "data/image_datasets.hpp"
#include "data/toy2d.hpp"
#include "experiment/json_io.hpp"
#include "experiment/run_folder.hpp"
#include "experiment/settings.hpp"
#include "io/atomic_file.hpp"
#include "io/npy.hpp"
#include "loops/tune.hpp"
#include "metrics/sweep.hpp"
#include "metrics/wasserstein.hpp"
#include "render/animation.hpp"
#include "render/plot.hpp"
#include "training/synth.hpp"
#include "training/trainer.hpp"

namespace sims::cli {
namespace {

struct DemoArgs {
  std::string out = "out/demo", data = "gaussian";
  int64_t n_real = 1000, n_synth = 1000, n_eval = 1000, seed = 0;
  double base_epochs = 100, aux_epochs = 50;
  std::vector<double> omegas{-1, 0, 0.5, 1, 1.5, 2, 3};
  bool json = false;
  // Images (--images): built-in faces and the U-Net.
  bool images = false;
  std::string base_ckpt;          // start from this base instead of training one
  int64_t base_budget = 30000;    // images seen by the base (when trained here)
  int64_t aux_budget = 10000;     // images seen by the auxiliary's fine-tuning
  int threads = 0;
};

void write_text(const std::string& path, const std::string& text) { io::write_file_atomically(path, text.data(), text.size()); }

// --out as the demo's run folder. The demo is run again and again into the same folder (tools/run.sh's out/demo):
// a folder of an earlier demo is filled anew (said at the end), any other folder with files in it is refused as
// every command refuses it (another command's run, or files that are not a run), so nothing of the user's is
// replaced. A demo folder of a version that did not mark it (a metrics.json with the demo's keys "out" and "data",
// beside summary.md) counts as a demo's. The returned folder holds the lock against a second demo writing into it.
std::unique_ptr<experiment::RunFolder> claim_demo_folder(const DemoArgs& a) {
  const auto older_demo = [](const std::string& dir) {
    std::error_code ec;
    if (!std::filesystem::exists(dir + "/summary.md", ec)) return false;
    try {
      const nlohmann::json m = experiment::read_json_or_null(dir + "/metrics.json");
      return m.is_object() && m.contains("out") && m.contains("data");
    } catch (const Error&) {  // damaged: not recognised as a demo's, so refused as any other folder
      return false;
    }
  };
  const nlohmann::json settings = {{"data", a.data}, {"images", a.images}};
  auto folder = std::make_unique<experiment::RunFolder>(a.out, "demo", settings, std::vector<std::string>{"data", "images"},
                                                        nlohmann::json(), older_demo);
  if (folder->resumed()) note_at_end("'" + a.out + "' held an earlier demo: the files this demo writes replaced its own");
  return folder;
}

std::string num_text(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

render::Series loss_series(const TrainState& st, const std::string& label, render::Rgb colour) {
  render::Series s;
  s.label = label;
  s.colour = colour;
  s.markers = false;
  for (const auto& p : st.loss_curve) {
    s.x.push_back(p.images / 1000.0);
    s.y.push_back(p.loss);
  }
  return s;
}

// Base and auxiliary loss curves on one log-scale plot, the auxiliary's
// continuing where the base's ends (it is fine-tuned from it).
void write_loss_plot(const TrainState& base, const TrainState& aux, const std::string& unit, const std::string& path,
                     const std::string& caption) {
  render::LinePlot lp;
  lp.title = "EDM training loss";
  lp.x_label = "thousands of " + unit + " seen";
  lp.y_label = "loss (log scale)";
  lp.log_y = true;
  lp.series = {loss_series(base, "base (real data)", render::palette(0)),
               loss_series(aux, "auxiliary (synthetic, from base)", render::palette(1))};
  for (auto& p : lp.series[1].x) p += base.images_seen / 1000.0;
  render::with_caption(render::render_plot(lp), caption).write_png(path);
}

// The shipped pair of the same data (assets/models/<data>-{base,aux}.ckpt), tuned by `sims tune` on held-out data
// (SIMS Algorithm 1: the auxiliary's budget and omega chosen by their score), checked again at omega = 0 and its tuned
// omega against fresh real data that neither the training nor the tuning saw.
struct ShippedCheck {
  std::string base, aux;
  loops::TunedPair tuned;
  metrics::SweepResult sweep;
  loops::TuneChoice choice;
  int64_t n = 0;  // samples per omega
};

std::optional<ShippedCheck> check_shipped_pair(const DemoArgs& a, const data::Toy2dSpec& spec) {
  ShippedCheck c;
  try {
    c.base = asset_path("models/" + a.data + "-base.ckpt"), c.aux = asset_path("models/" + a.data + "-aux.ckpt");
  } catch (const InputError&) {
    return std::nullopt;  // no assets folder
  }
  if (!std::filesystem::exists(c.base) || !std::filesystem::exists(c.aux)) return std::nullopt;
  const std::optional<loops::TunedPair> tuned = loops::read_tuned_pair(c.aux);
  if (!tuned || tuned->omega == 0.0) return std::nullopt;
  c.tuned = *tuned;
  const DenoiserPtr base = load_denoiser(c.base), aux = load_denoiser(c.aux);
  metrics::SweepConfig mc;
  mc.omegas = {0.0, tuned->omega};
  mc.sampler.steps = tuned->steps > 0 ? tuned->steps : 32;
  mc.n = std::max<int64_t>(tuned->n, 1000);
  mc.seed = static_cast<uint64_t>(a.seed) + 20;
  mc.ci = 50;
  mc.point_metric = "energy";
  c.n = mc.n;
  metrics::SweepReference ref;
  const uint64_t real_seed = static_cast<uint64_t>(a.seed) + 4242;  // the tuning scored on seed 777
  ref.real_points = data::sample_toy2d(spec, std::max(mc.n, metrics::kEnergyReference), real_seed);
  ref.floor_samples = data::sample_toy2d(spec, mc.n, metrics::floor_seed(real_seed));
  c.sweep = metrics::run_sweep(base, {{a.data + "-aux.ckpt", aux}}, mc, ref, nullptr, nullptr);
  metrics::add_paired_gains(c.sweep, mc, ref);
  c.sweep.floor = metrics::score_floor(mc, ref, nullptr);
  c.choice = loops::choose_best(c.sweep, {});
  return c;
}

int run_demo(const DemoArgs& a) {
  prepare_output("--out", a.out, OutputKind::Folder);
  const auto folder = claim_demo_folder(a);
  install_quit_handler("stopped: a demo is computed whole, so the same command starts it over in its folder (the "
                       "files it had finished are whole: every file is written at once)");
  const auto t_start = std::chrono::steady_clock::now();
  auto say = [&](const std::string& s) {
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    std::cerr << "[" << std::fixed << std::setprecision(1) << std::setw(6) << t << " s] " << s << std::endl;
  };

  // 1. Real data and the base model.
  const data::Toy2dSpec spec = data::Toy2dSpec::named(a.data);
  at::Tensor real = data::sample_toy2d(spec, a.n_real, static_cast<uint64_t>(a.seed));
  NetConfig net;  // assets/networks/mlp2d.json's defaults
  TrainConfig tc;
  tc.budget = static_cast<int64_t>(a.base_epochs * a.n_real);
  tc.seed = static_cast<uint64_t>(a.seed);
  say("training the base on " + std::to_string(a.n_real) + " '" + a.data + "' samples for " +
      std::to_string(static_cast<int>(a.base_epochs)) + " epochs");
  TrainState base = TrainState::create(net, tc);
  base.data = {{"source", "builtin"}, {"spec", spec.to_json()}, {"n", a.n_real}, {"seed", a.seed}};
  base.provenance = {{"role", "base"}, {"summary", "sims demo base"}};
  train(base, real);
  save_checkpoint(a.out + "/base.ckpt", base);

  // 2. Its synthetic set.
  say("sampling the synthetic set (" + std::to_string(a.n_synth) + " samples)");
  auto base_d = NetworkDenoiser::from_state(base, a.out + "/base.ckpt");
  SynthConfig sc;
  sc.n = a.n_synth;
  sc.seed = static_cast<uint64_t>(a.seed) + 1000;
  sc.sampler.steps = 32;
  generate_synthetic_set(base_d, nullptr, sc, a.out + "/synth.npy");
  at::Tensor synth = io::read_npy(a.out + "/synth.npy");

  // 3. The auxiliary: a copy of the base fine-tuned on the synthetic set.
  TrainConfig ac = tc;
  ac.budget = static_cast<int64_t>(a.aux_epochs * a.n_synth);
  ac.seed = tc.seed + 1;
  say("fine-tuning the auxiliary on the synthetic set for " + std::to_string(static_cast<int>(a.aux_epochs)) + " epochs");
  TrainState aux = TrainState::fork(base, ac);
  aux.provenance.update(nlohmann::json{{"role", "auxiliary"}, {"summary", "aux of base.ckpt on " + std::to_string(a.n_synth) + " synthetic samples"}});
  train(aux, synth);
  save_checkpoint(a.out + "/aux.ckpt", aux);
  auto aux_d = NetworkDenoiser::from_state(aux, a.out + "/aux.ckpt");

  // 4. Guided sampling over omega, distances to fresh real data.
  say("sampling with SIMS guidance at " + std::to_string(a.omegas.size()) + " values of omega");
  SamplerConfig scfg;
  scfg.steps = 32;
  render::GridFigure fig;
  fig.title = "SIMS on '" + a.data + "': samples at each \u03c9 (same seeds)";
  fig.x_title = "guidance \u03c9  (\u03c9 = \u22121: auxiliary, 0: base)";
  fig.y_title = "seed";
  std::vector<std::vector<at::Tensor>> cells(2);
  for (double w : a.omegas) {
    EdmSampler s(base_d, aux_d, scfg, Guidance{w, 0.0, INFINITY});
    for (int r = 0; r < 2; ++r) {
      SampleResult res = s.sample(seeded_noise(a.n_eval, {2}, static_cast<uint64_t>(a.seed) + 10 + r));
      cells[r].push_back(res.x);
    }
    std::ostringstream lab;
    lab << "\u03c9 = " << w;
    fig.x_labels.push_back(lab.str());
  }
  // The metrics: a sweep against fresh real data (the energy distance with a 95 % interval, the paired gain over
  // omega = 0, W2 beside it) and the metric's floor (a second fresh real set of the same size).
  say("scoring every omega against fresh real data (95 % bootstrap intervals)");
  metrics::SweepConfig mc;
  mc.omegas = a.omegas;
  mc.sampler = scfg;
  mc.n = a.n_eval;
  mc.seed = static_cast<uint64_t>(a.seed) + 10;
  mc.ci = 50;
  mc.point_metric = "energy";
  metrics::SweepReference ref;
  const uint64_t real_seed = static_cast<uint64_t>(a.seed) + 777;
  ref.real_points = data::sample_toy2d(spec, std::max(a.n_eval, metrics::kEnergyReference), real_seed);
  ref.floor_samples = data::sample_toy2d(spec, a.n_eval, metrics::floor_seed(real_seed));
  metrics::SweepResult sw = metrics::run_sweep(base_d, {{"aux.ckpt", aux_d}}, mc, ref, nullptr, nullptr);
  metrics::add_paired_gains(sw, mc, ref);
  sw.floor = metrics::score_floor(mc, ref, nullptr);
  const loops::TuneChoice choice = loops::choose_best(sw, {});

  say("checking the shipped tuned '" + a.data + "' pair at its tuned omega on fresh real data");
  const std::optional<ShippedCheck> shipped = check_shipped_pair(a, spec);

  // 5. Report.
  say("writing the report to " + a.out);
  std::vector<at::Tensor> all{real};
  for (auto& r : cells) all.insert(all.end(), r.begin(), r.end());
  const render::PlotRange range = render::robust_range(all);
  fig.y_labels = {std::to_string(a.seed + 10), std::to_string(a.seed + 11)};
  for (auto& r : cells) {
    fig.cells.emplace_back();
    for (auto& x : r) fig.cells.back().push_back(render::scatter(x, 200, range));
  }
  fig.scatter_ticks = true;
  fig.range = range;
  // What produced the figures, under each of them.
  render::SamplingProvenance prov = render::SamplingProvenance::of(a.out + "/base.ckpt", a.out + "/aux.ckpt",
                                                                   Guidance{}, scfg, a.seed + 10, a.n_eval);
  prov.varied = {"omega", "seed"};
  prov.per_cell = true;
  const std::string made = "base: MLP trained here on " + std::to_string(a.n_real) + " '" + a.data + "' samples (" +
                           num_text(a.base_epochs) + " epochs, seed " + std::to_string(a.seed) + "); aux: fine-tuned " +
                           num_text(a.aux_epochs) + " epochs on " + std::to_string(a.n_synth) +
                           " of its samples (32 heun steps, seed " + std::to_string(a.seed + 1000) + ")";
  const std::string caption = made + " \u00b7 " + prov.caption();
  render::with_caption(render::compose_grid(fig), caption).write_png(a.out + "/omega_grid.png");
  render::GridFigure df;
  df.title = "real data ('" + a.data + "')   |   synthetic set of the base";
  df.cells = {{render::scatter(real, 300, range, {40, 40, 40}), render::scatter(synth, 300, range, {214, 39, 40})}};
  df.x_labels = {"real (" + std::to_string(a.n_real) + ")", "synthetic (" + std::to_string(a.n_synth) + ")"};
  df.scatter_ticks = true;
  df.range = range;
  render::with_caption(render::compose_grid(df), made).write_png(a.out + "/data.png");

  write_loss_plot(base, aux, "samples", a.out + "/loss.png", made);

  render::LinePlot wp;
  wp.title = "Energy distance to fresh real data vs guidance";
  wp.subtitle = "lower is better; bars: 95 % bootstrap intervals over " + std::to_string(a.n_eval) +
                " samples; dashed: real vs real (" + sw.floor.text(4) + "); ring: lowest";
  wp.mark_best = true;
  wp.x_label = "\u03c9";
  wp.y_label = "energy distance (" + std::to_string(a.n_eval) + " samples)";
  render::Series es;
  es.label = "SIMS";
  for (const auto& r : sw.rows) es.x.push_back(r.omega), es.y.push_back(r.value), es.lo.push_back(r.value_lo), es.hi.push_back(r.value_hi);
  render::Series fl;
  fl.label = "real vs real";
  fl.colour = render::palette(7);
  fl.reference = true;
  fl.x = {a.omegas.front(), a.omegas.back()};
  fl.y = {sw.floor.value, sw.floor.value};
  wp.series = {es, fl};
  prov.varied = {"omega"};
  prov.seed = static_cast<long long>(mc.seed);
  render::with_caption(render::render_plot(wp), made + " \u00b7 " + prov.caption() + " \u00b7 scored against " +
                                                    std::to_string(ref.real_points.size(0)) + " fresh real samples (seed " +
                                                    std::to_string(real_seed) + ")")
      .write_png(a.out + "/energy_vs_omega.png");
  write_text(a.out + "/metrics.csv", sw.to_csv());

  nlohmann::json result = sw.to_json();
  result["out"] = a.out, result["data"] = a.data, result["chosen"] = choice.to_json();
  result["base_loss"] = base.loss_curve.back().loss, result["aux_loss"] = aux.loss_curve.back().loss;
  result["better"] = "lower energy (and w2), higher precision and recall";
  if (shipped) {
    nlohmann::json sj = shipped->sweep.to_json();
    sj["base"] = shipped->base, sj["aux"] = shipped->aux, sj["tuned"] = shipped->tuned.to_json();
    sj["chosen"] = shipped->choice.to_json();
    result["shipped_pair"] = sj;
  }
  write_text(a.out + "/metrics.json", result.dump(2) + "\n");
  std::ostringstream md;
  md << "# SIMS demo on built-in '" << a.data << "' data\n\n"
     << "Pipeline (SIMS Algorithm 1): base trained " << a.base_epochs << " epochs on " << a.n_real
     << " real samples; synthetic set of " << a.n_synth << " samples (Heun, 32 steps); auxiliary = copy of the base "
     << "fine-tuned " << a.aux_epochs << " epochs on it; guided sampling D = (1+ω)·D_base − ω·D_aux.\n\n"
     << "Scored against fresh real data (20,000 points) by the energy distance (unbiased: 0 for the data itself; lower "
     << "is better), ± the half-width of a 95 % bootstrap interval over the " << a.n_eval << " samples; the gain over "
     << "ω = 0 has a paired interval (the same starting noise for every ω).\n\n"
     << "Precision and recall (higher is better) carry a 95 % percentile bootstrap interval over the points they "
     << "average. The exact W2 of each row (no interval: resampling an optimal transport costs seconds per "
     << "resample) is in `metrics.json`.\n\n"
     << "| ω | energy distance | gain over ω = 0 | precision | recall | NFE |\n|---|---|---|---|---|---|\n";
  const metrics::SweepRow* zero = nullptr;
  for (const auto& r : sw.rows)
    if (r.omega == 0.0) zero = &r;
  for (const auto& r : sw.rows) {
    md << "| " << std::fixed << std::setprecision(2) << r.omega << " | " << r.value_estimate(sw.ci_level).text(4) << " | "
       << (zero && r.omega != 0.0 ? r.gain_estimate(*zero, sw.ci_level).text(4) : std::string("–")) << " | "
       << metrics::Estimate::of(r.precision, r.precision_lo, r.precision_hi).bounds_text() << " | "
       << metrics::Estimate::of(r.recall, r.recall_lo, r.recall_hi).bounds_text()
       << " | " << r.nfe << " |\n";
  }
  md << "\nReal vs real at the same size (the metric's floor): " << sw.floor.text(4) << ".\n\n**" << choice.verdict
     << ".**\n\nThese are small models trained for seconds on a CPU; a base that is already at the floor leaves SIMS "
     << "nothing to fix (docs/REPRODUCTIONS.md, \"SIMS on the shipped 2D pairs\").\n\n";
  if (shipped) {
    const metrics::SweepRow* z = nullptr;
    for (const auto& r : shipped->sweep.rows)
      if (r.omega == 0.0) z = &r;
    md << std::defaultfloat << "## The shipped tuned pair\n\n`assets/models/" << a.data << "-{base,aux}.ckpt` was made by `sims tune` "
       << "(tools/make_models.sh): the auxiliary's budget B = " << shipped->tuned.budget << " and ω = "
       << shipped->tuned.omega << " were chosen on held-out real data, " << shipped->tuned.real << ", where SIMS "
       << (shipped->tuned.gain.value > 0 ? "lowered " : "changed ") << shipped->tuned.metric << " by "
       << shipped->tuned.gain.text(5) << ". The same check on fresh real data (seed " << a.seed + 4242 << ", "
       << shipped->n << " samples per ω from the same noise):\n\n"
       << "| ω | energy distance | gain over ω = 0 |\n|---|---|---|\n";
    for (const auto& r : shipped->sweep.rows)
      md << "| " << std::fixed << std::setprecision(2) << r.omega << " | " << r.value_estimate(shipped->sweep.ci_level).text(5)
         << " | " << (z && r.omega != 0.0 ? r.gain_estimate(*z, shipped->sweep.ci_level).text(5) : std::string("–"))
         << " |\n";
    md << "\nReal vs real at this size: " << shipped->sweep.floor.text(5) << ".\n\n**" << shipped->choice.verdict
       << ".**\n\nThe studio opens on this pair at its tuned ω.\n\n";
  }
  md << "Files: `data.png`, "
     << "`omega_grid.png`, `loss.png`, `energy_vs_omega.png`, `metrics.csv`, `metrics.json`, `base.ckpt`, `aux.ckpt`, "
     << "`synth.npy`.\n";
  write_text(a.out + "/summary.md", md.str());
  if (a.json) print_json(result);
  else std::cout << md.str();
  return 0;
}


// [SECTION] images ------------------------------------------------------------------------

// Loss curve of a training run as a progress line on stderr.
TrainOptions progress_options(const std::string& what) {
  TrainOptions o;
  o.on_progress = [what](const TrainEvent& e) {
    std::cerr << "\r  " << what << ": " << e.images_seen << "/" << e.budget << " images, loss " << std::setprecision(4)
              << e.loss << ", " << std::setprecision(1) << std::fixed << e.images_per_second << " img/s, ETA "
              << static_cast<int>(e.eta) << " s   " << std::defaultfloat << std::flush;
    if (e.images_seen >= e.budget) std::cerr << "\n";
  };
  return o;
}

int run_image_demo(const DemoArgs& a) {
  prepare_output("--out", a.out, OutputKind::Folder);
  const auto folder = claim_demo_folder(a);
  install_quit_handler("stopped: a demo is computed whole, so the same command starts it over in its folder (the "
                       "files it had finished are whole: every file is written at once)");
  apply_threads(a.threads);
  const auto t_start = std::chrono::steady_clock::now();
  auto say = [&](const std::string& s) {
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    std::cerr << "[" << std::fixed << std::setprecision(1) << std::setw(6) << t << " s] " << s << std::endl;
  };
  const data::ImageDatasetSpec spec = data::ImageDatasetSpec::parse(a.data == "gaussian" ? "faces" : a.data, "--data");

  // 1. The base: trained here on rendered faces, or given.
  TrainState base;
  if (!a.base_ckpt.empty()) {
    say("loading the base " + a.base_ckpt);
    base = load_checkpoint(a.base_ckpt);
    if (base.net.type != "unet") throw InputError("'" + a.base_ckpt + "' is not an image model");
  } else {
    data::ImageBatch real = data::load_images(spec, a.n_real, static_cast<uint64_t>(a.seed));
    NetConfig net = NetConfig::from_json(nlohmann::json::parse(std::ifstream(asset_path("networks/unet32.json"))));
    net.channels = real.images.size(1);
    net.resolution = real.images.size(2);
    TrainConfig tc;
    tc.budget = a.base_budget;
    tc.batch = 64;
    tc.seed = static_cast<uint64_t>(a.seed);
    say("training the base U-Net on " + std::to_string(a.n_real) + " '" + spec.to_string() + "' images for " +
        std::to_string(a.base_budget) + " images seen");
    base = TrainState::create(net, tc);
    base.data = {{"source", "images"}, {"spec", spec.to_json()}, {"spec_string", spec.to_string()}, {"n", a.n_real},
                 {"seed", a.seed}};
    base.provenance = {{"role", "base"}, {"summary", "sims demo --images base"}};
    TrainOptions o = progress_options("base");
    train(base, real.images, o);
  }
  save_checkpoint(a.out + "/base.ckpt", base);
  const auto shape = base.net.sample_shape();

  // 2. Its synthetic set.
  say("sampling the synthetic set (" + std::to_string(a.n_synth) + " images, 18 Heun steps)");
  auto base_d = NetworkDenoiser::from_state(base, a.out + "/base.ckpt");
  SynthConfig sc;
  sc.n = a.n_synth;
  sc.chunk = 250;
  sc.seed = static_cast<uint64_t>(a.seed) + 1000;
  generate_synthetic_set(base_d, nullptr, sc, a.out + "/synth.npy");
  at::Tensor synth = io::read_npy(a.out + "/synth.npy");

  // 3. The auxiliary.
  TrainConfig ac = base.train;
  ac.budget = a.aux_budget;
  ac.batch = 64;
  ac.seed = base.train.seed + 1;
  ac.checkpoint_every = ac.snapshot_every = 0;
  say("fine-tuning the auxiliary on the synthetic set for " + std::to_string(a.aux_budget) + " images seen");
  TrainState aux = TrainState::fork(base, ac);
  aux.provenance.update(nlohmann::json{{"role", "auxiliary"}, {"summary", "aux of base.ckpt on " + std::to_string(a.n_synth) + " synthetic images"}});
  TrainOptions o = progress_options("aux");
  train(aux, synth, o);
  save_checkpoint(a.out + "/aux.ckpt", aux);
  auto aux_d = NetworkDenoiser::from_state(aux, a.out + "/aux.ckpt");

  // 4. Guided samples: the same 6 seeds in every column.
  say("sampling with SIMS guidance at " + std::to_string(a.omegas.size()) + " values of omega");
  SamplerConfig scfg;
  scfg.steps = 18;
  const int rows_n = 6;
  std::vector<int64_t> noise_shape(shape.begin(), shape.end());
  at::Tensor noise = seeded_noise(rows_n, noise_shape, static_cast<uint64_t>(a.seed) + 10);
  render::GridFigure fig;
  fig.title = "SIMS on built-in faces: the same seeds at each \u03c9";
  fig.x_title = "guidance \u03c9  (\u03c9 = \u22121: auxiliary, 0: base)";
  fig.y_title = "seed";
  fig.cells.assign(rows_n, {});
  for (int r = 0; r < rows_n; ++r) fig.y_labels.push_back(std::to_string(r));
  nlohmann::json rows = nlohmann::json::array();
  for (double w : a.omegas) {
    EdmSampler s(base_d, aux_d, scfg, Guidance{w, 0.0, INFINITY});
    SampleResult res = s.sample(noise);
    at::Tensor x = res.x.to(at::kFloat).clamp(-1, 1);
    for (int r = 0; r < rows_n; ++r) fig.cells[r].push_back(render::image_to_canvas(x[r], 4));
    std::ostringstream lab;
    lab << "\u03c9 = " << w;
    fig.x_labels.push_back(lab.str());
    rows.push_back({{"omega", w}, {"nfe", res.nfe}, {"seconds", res.seconds}});
  }
  render::SamplingProvenance prov = render::SamplingProvenance::of(a.out + "/base.ckpt", a.out + "/aux.ckpt",
                                                                   Guidance{}, scfg, a.seed + 10, rows_n);
  prov.varied = {"omega", "seed"};
  const std::string made =
      (a.base_ckpt.empty() ? "base: U-Net trained here on " + std::to_string(a.n_real) + " '" + spec.to_string() +
                                 "' images (" + std::to_string(a.base_budget) + " images seen)"
                           : "base: " + a.base_ckpt) +
      "; aux: fine-tuned on " + std::to_string(a.n_synth) + " of its samples (" + std::to_string(a.aux_budget) +
      " images seen)";
  render::with_caption(render::compose_grid(fig), made + " \u00b7 " + prov.caption()).write_png(a.out + "/omega_grid.png");

  // 5. Real vs synthetic, loss curves, summary.
  data::ImageBatch shown = data::load_images(spec, 32, static_cast<uint64_t>(a.seed) + 99);
  render::GridFigure df;
  df.title = "real (built-in faces)   |   synthetic set of the base";
  df.cells = {{render::image_mosaic(shown.images, 8, 2), render::image_mosaic(synth.narrow(0, 0, std::min<int64_t>(32, synth.size(0))).clamp(-1, 1), 8, 2)}};
  df.x_labels = {"real", "synthetic"};
  render::with_caption(render::compose_grid(df), made).write_png(a.out + "/data.png");
  write_loss_plot(base, aux, "images", a.out + "/loss.png", made);

  nlohmann::json result = {{"out", a.out}, {"data", spec.to_string()}, {"rows", rows},
                           {"base_images_seen", base.images_seen}, {"aux_images_seen", aux.images_seen}};
  write_text(a.out + "/metrics.json", result.dump(2) + "\n");
  std::ostringstream md;
  md << "# SIMS demo on built-in faces\n\n"
     << "Pipeline (SIMS Algorithm 1): base U-Net (" << base.images_seen << " images seen"
     << (a.base_ckpt.empty() ? ", trained here" : ", from " + a.base_ckpt) << "); synthetic set of " << a.n_synth
     << " images (Heun, 18 steps); auxiliary = copy of the base fine-tuned for " << aux.images_seen
     << " images on it; guided sampling D = (1+ω)·D_base − ω·D_aux with the same seeds in every column of "
     << "`omega_grid.png`.\n\nCPU-sized models: expect blurry faces; the point is the pipeline and the direction in "
     << "which ω moves the samples. Quantitative sweeps (FD, precision/recall, attribute ratio vs ω): `sims sweep`.\n\n"
     << "Files: `omega_grid.png`, `data.png`, `loss.png`, `metrics.json`, `base.ckpt`, `aux.ckpt`, `synth.npy`.\n";
  write_text(a.out + "/summary.md", md.str());
  if (a.json) print_json(result);
  else std::cout << md.str();
  return 0;
}

}  // namespace

void add_demo_command(CLI::App& app, Registry& reg) {
  auto a = std::make_shared<DemoArgs>();
  CLI::App* c = app.add_subcommand("demo", "The whole SIMS pipeline on built-in data (2D, or faces with --images), with a report folder");
  output_folder(c->add_option("--out", a->out, "report folder (default out/demo)"));
  input_path(c->add_option("--data", a->data, "built-in 2D data set (default gaussian); with --images an image spec (default faces)"), InputKind::DataSpec);
  c->add_flag("--images", a->images, "image pipeline: U-Net on built-in faces (CPU: minutes; see --base)");
  input_path(c->add_option("--base", a->base_ckpt, "images: start from this base checkpoint (e.g. assets/models/faces-base.ckpt)"));
  c->add_option("--base-budget", a->base_budget, "images: images seen by the base when trained here (default 30000)");
  c->add_option("--aux-budget", a->aux_budget, "images: images seen by the auxiliary (default 10000)");
  c->add_option("--threads", a->threads, "LibTorch intra-op threads");
  c->add_option("--n-real", a->n_real, "real training samples (default 1000)");
  c->add_option("--n-synth", a->n_synth, "synthetic samples for the auxiliary (default 1000)");
  c->add_option("--base-epochs", a->base_epochs, "base training epochs (default 100)");
  c->add_option("--aux-epochs", a->aux_epochs, "auxiliary fine-tuning epochs (default 50)");
  c->add_option("--omegas", a->omegas, "omega values to sample, separated by commas or spaces (default -1,0,0.5,1,1.5,2,3)")
      ->delimiter(',');
  c->add_option("--seed", a->seed, "seed");
  c->add_flag("--json", a->json, "print one JSON object on the last line");
  reg.actions.push_back({c, [a, c] {
    if (!a->images)
      for (const char* flag : {"--base", "--base-budget", "--aux-budget"})
        if (c->count(flag) > 0) throw InputError(std::string(flag) + " applies to the image pipeline only (add --images)");
    check_omegas(a->omegas);
    // Upper bounds too: a slip of the finger (1e9 epochs) must not start work that never ends.
    for (const auto& [flag, n] : {std::pair<const char*, int64_t>{"--n-real", a->n_real}, {"--n-synth", a->n_synth}})
      if (n < 10 || n > 10'000'000)
        throw InputError(std::string(flag) + " must be from 10 to 10000000 (got " + std::to_string(n) + ")");
    for (const auto& [flag, e] : {std::pair<const char*, double>{"--base-epochs", a->base_epochs}, {"--aux-epochs", a->aux_epochs}})
      if (!(e > 0) || e > 100000)
        throw InputError(std::string(flag) + " must be a number of epochs above 0 and up to 100000 (got " +
                         experiment::format_real(e) + ")");
    if (a->images) {
      for (const auto& [flag, b] : {std::pair<const char*, int64_t>{"--base-budget", a->base_budget}, {"--aux-budget", a->aux_budget}})
        if (b < 64 || b > 1'000'000'000'000)  // train's bound (EDM's CIFAR-10 run sees 2e8 images)
          throw InputError(std::string(flag) + " must be from 64 to 1e12 images (got " + std::to_string(b) + ")");
      return run_image_demo(*a);
    }
    return run_demo(*a);
  }});
}

}  // namespace sims::cli
