// `sims tune`: SIMS Algorithm 1's own search (core/loops/tune.hpp): fine-tune
// the auxiliary with snapshots at several budgets B, sweep every (B, ω) from
// the same noise against held-out real data, and choose the best pair with
// its gain over ω = 0 and whether that gain is beyond its interval. Writes
// DIR/result.json, tune.csv, heatmap.png and aux.ckpt (the chosen auxiliary).
#include <cmath>
#include <filesystem>
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli_common.hpp"
#include "sweep_table.hpp"
#include "render/animation.hpp"
#include "cli_progress.hpp"
#include "common/error.hpp"
#include "dist/group.hpp"
#include "experiment/json_io.hpp"
#include "experiment/settings.hpp"
#include "loops/tune.hpp"
#include "loops/tune_compare.hpp"
#include "loops/tune_report.hpp"
#include "metrics/sweep_run.hpp"
#include "render/plot.hpp"
#include "reference_flags.hpp"
#include "training/checkpoint.hpp"

namespace sims::cli {
namespace {

struct TuneArgs {
  ModelFlags models;
  SamplingFlags sampling;
  ReferenceFlags reference;
  std::string aux_snapshots, budgets = "2000,5000,10000,20000", omegas = "0,0.25,0.5,1,1.5,2,3", out;
  std::string trainable = "all";
  int64_t n_synth = 2000, synth_seed = 1, chunk = 4096, n = 1000, seed = 0, batch = 0, lr_rampup = 1000, train_seed = 3;
  double lr = 1e-3;
  int ci = 100, threads = 0;
  bool json = false, quiet = false;
  CLI::App* cmd = nullptr;  // to tell the flags given from the defaults
};

std::vector<int64_t> parse_budgets(const std::string& text) {
  std::vector<int64_t> out;
  for (double v : experiment::parse_real_list(text, "--budgets")) {
    if (v < 1 || v != std::floor(v)) throw InputError("--budgets takes whole numbers of images (got " + text + ")");
    out.push_back(static_cast<int64_t>(v));
  }
  return out;
}

loops::TuneConfig tune_config(const TuneArgs& a, bool images) {
  loops::TuneConfig c;
  c.base = is_checkpoint(a.models.model) ? a.models.model : "";
  std::stringstream list(a.aux_snapshots);
  for (std::string p; std::getline(list, p, ',');)
    if (!p.empty()) c.aux_snapshots.push_back(p);
  if (c.aux_snapshots.empty() && c.base.empty())
    throw InputError("--model must be a sims checkpoint to fine-tune the auxiliary from (or give --aux-snapshots)");
  c.n_synth = a.n_synth;
  c.synth_seed = static_cast<uint64_t>(a.synth_seed);
  c.chunk = a.chunk;
  c.budgets = parse_budgets(a.budgets);
  c.finetune.batch = a.batch > 0 ? a.batch : images ? 64 : 256;
  c.finetune.lr = a.lr;
  c.finetune.lr_rampup = a.lr_rampup;
  c.finetune.seed = static_cast<uint64_t>(a.train_seed);
  c.finetune.trainable = a.trainable;
  if (a.trainable == "decoder" && !c.aux_snapshots.empty())
    throw InputError("--train decoder fine-tunes the auxiliary; with --aux-snapshots nothing is fine-tuned");
  if (!c.aux_snapshots.empty())
    refuse_given(a.cmd, {"--budgets", "--n-synth", "--synth-seed", "--chunk", "--batch", "--lr", "--lr-rampup", "--train-seed"},
                 "with --aux-snapshots (the auxiliaries are given: nothing is sampled or fine-tuned)");
  if (a.trainable == "decoder" && c.aux_snapshots.empty() && load_checkpoint(c.base).net.type != "unet")
    throw InputError("--train decoder needs a U-Net base ('" + c.base + "' is a '" + load_checkpoint(c.base).net.type +
                     "'): use --train all");
  c.finetune.budget = *std::max_element(c.budgets.begin(), c.budgets.end());
  c.sweep.omegas = parse_omegas(a.omegas);
  c.sweep.sampler = a.sampling.config();
  c.sweep.n = a.n;
  c.sweep.seed = static_cast<uint64_t>(a.seed);
  c.sweep.ci = a.ci;
  c.sweep.point_metric = a.reference.metric;
  return c;
}

void print_table(const loops::TuneResult& r) {
  print_sweep_table(std::cout, r.grid, [&](const metrics::SweepRow& row) {
    return row.aux == r.choice.aux && row.omega == r.choice.omega ? std::string("<- chosen") : std::string();
  });
}

int run_tune_cmd(TuneArgs& a) {
  apply_threads(a.threads);
  if (a.n < 2) throw InputError("--n must be at least 2");
  LoadOptions lo = a.models.load_options();
  DenoiserPtr base = load_denoiser(a.models.model, lo);
  const auto& shape = base->info().sample_shape;
  const bool images = shape.size() == 3;
  loops::TuneConfig cfg = tune_config(a, images);
  loops::validate(cfg);
  // Fine-tuned here, the auxiliary is a checkpoint; given snapshots (possibly TorchScript) are loaded later: no note.
  if (cfg.aux_snapshots.empty()) a.models.note_loaded(*base, {});
  Reference rd = load_reference(a.reference, shape, a.n);
  // Under `sims launch`, torchrun or srun: synth chunks, fine-tuning and grid rows shared; rank 0 writes and reports.
  const std::shared_ptr<dist::Group> group = dist::Group::join_from_environment();
  const bool lead = dist::leads(group.get());
  if (lead) prepare_output("--out", a.out, OutputKind::Folder);
  loops::TuneRunOptions o;
  o.group = group;
  o.out_dir = a.out;
  o.inputs = rd.inputs;
  o.inputs["model"] = file_identity(a.models.model);
  o.cancel = &stop_flag();
  o.device = parse_device(a.models.device);
  ProgressLine line;
  o.on_progress = [&](const experiment::Progress& p) {
    if (!a.quiet && lead) line(p);
  };
  install_stop_handler();
  auto tune = [&] { return loops::run_tune(base, cfg, rd.ref, rd.features.get(), o); };
  const loops::TuneResult r = lead ? keep_on_stop(line, a.out, [] { return "finished stages are kept"; }, tune) : tune();
  if (!lead) return 0;
  experiment::write_text_file(a.out + "/tune.csv", r.grid.to_csv());
  render::SamplingProvenance prov = render::SamplingProvenance::of(
      a.models.model,
      cfg.aux_snapshots.empty() ? std::string(cfg.finetune.trainable == "decoder" ? "decoder-only " : "") + "fine-tuned on " +
                                      std::to_string(cfg.n_synth) + " of its samples"
                                : "snapshots given",
      Guidance{0, cfg.sweep.intervals.front().first, cfg.sweep.intervals.front().second}, cfg.sweep.sampler,
      static_cast<long long>(cfg.sweep.seed), cfg.sweep.n);
  prov.per_cell = true;
  prov.varied = {"omega", "aux budget"};
  render::with_caption(loops::tune_heatmap(r), prov.caption() + " \u00b7 " + reference_caption(rd, a.reference))
      .write_png(a.out + "/heatmap.png");
  if (a.json) {
    nlohmann::json j = r.to_json();
    j["aux"] = r.chosen_path;
    j["aux_label"] = r.choice.aux;
    j.erase("grid");
    j["files"] = {a.out + "/result.json", a.out + "/tune.csv", a.out + "/heatmap.png"};
    if (r.choice.budget > 0) {  // the chosen auxiliary and its pair file, which the studio and `sample` read
      j["files"].push_back(r.chosen_path);
      j["files"].push_back(loops::tuned_pair_path(r.chosen_path));
    }
    print_json(j);
    return 0;
  }
  std::cout << "sims tune of '" << a.models.model << "' against " << a.reference.source() << " (" << a.n
            << " samples per cell)\n";
  print_table(r);
  std::cout << r.choice.verdict << "\n  -> " << a.out << "/{result.json,tune.csv,heatmap.png}"
            << (r.choice.budget > 0 ? ", chosen auxiliary " + r.chosen_path + " (how it was chosen: " +
                                          loops::tuned_pair_path(r.chosen_path) + ")"
                                    : "")
            << "\n";
  return 0;
}

struct CompareArgs {
  std::vector<std::string> runs;
  std::string labels, title = "SIMS auxiliaries compared", out;
  bool json = false;
};

int run_tune_compare(const CompareArgs& a) {
  std::vector<std::string> labels;
  std::stringstream list(a.labels);
  for (std::string l; std::getline(list, l, ',');) labels.push_back(l);
  if (!a.labels.empty() && labels.size() != a.runs.size())
    throw InputError("--labels names " + std::to_string(labels.size()) + " runs but " + std::to_string(a.runs.size()) +
                     " are given");
  std::vector<loops::TuneCurve> curves;
  for (size_t i = 0; i < a.runs.size(); ++i) {
    std::string file = a.runs[i];
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec)) file += "/result.json";
    if (!std::filesystem::exists(file, ec))
      throw InputError("'" + a.runs[i] + "' has no result.json: is it a finished sims tune run folder?");
    curves.push_back(loops::tune_curve(experiment::read_json_file(file), labels.empty() ? a.runs[i] : labels[i], file));
  }
  const render::LinePlot plot = loops::tune_curves_plot(curves, a.title);
  prepare_output("--out", a.out);
  std::string caption = "Runs:";
  for (size_t i = 0; i < curves.size(); ++i)
    caption += (i ? "; " : " ") + curves[i].label + " = " + a.runs[i];
  caption += ". The minimum over \u03c9 is optimistic (the winner's curse): read the curves, not single points.";
  render::with_caption(render::render_plot(plot), caption).write_png(a.out);
  if (a.json) {
    nlohmann::json j = {{"out", a.out}, {"runs", nlohmann::json::array()}};
    for (const auto& c : curves) j["runs"].push_back(c.to_json());
    print_json(j);
    return 0;
  }
  size_t lw = 4;
  for (const auto& c : curves) lw = std::max(lw, c.label.size() + 2);
  const int w = static_cast<int>(lw);
  // Columns at least as wide as their headings plus two blanks ("energy at the lowest omega>0" is 28 wide).
  const std::string best_head = curves[0].metric + " at the lowest omega>0";
  const int bw = std::max(26, static_cast<int>(best_head.size()) + 2);
  std::cout << std::left << std::setw(w) << "run" << std::setw(9) << "B" << std::setw(bw) << best_head << std::setw(7)
            << "omega" << std::setw(20)
            << curves[0].metric + " at omega=0" << std::setw(6) << "NFE" << "s/row   (NFE: base + aux evaluations per sample)\n";
  for (const auto& c : curves)
    for (size_t k = 0; k < c.budgets.size(); ++k) {
      std::ostringstream secs;
      secs << std::fixed << std::setprecision(1) << c.seconds;
      // One decimal for FD-sized values, three for W2-sized ones.
      const int digits = std::abs(c.zero.value) >= 10 ? 1 : 3;
      std::cout << std::setw(w) << c.label << std::setw(9) << c.budgets[k] << std::setw(bw) << c.best[k].text(digits)
                << std::setw(7) << c.best_omega[k] << std::setw(20) << c.zero.text(digits) << std::setw(6)
                << static_cast<long long>(std::llround(c.nfe)) << secs.str() << "\n";
    }
  std::cout << "(lower is better; \u00b1: 95 % bootstrap interval half-widths)\n  -> " << a.out << "\n";
  return 0;
}

}  // namespace

void add_tune_command(CLI::App& app, Registry& reg) {

  auto a = std::make_shared<TuneArgs>();
  CLI::App* c = app.add_subcommand(
      "tune",
      "SIMS Algorithm 1's search: fine-tune the auxiliary on the base's samples with snapshots at several budgets B, "
      "sweep every (B, omega) against held-out real data, choose the best with its gain over omega = 0 and a 95 % "
      "interval; resumable run folder");
  a->cmd = c;
  a->models.bind(c, false);
  a->sampling.bind(c);
  a->reference.bind(c, true);
  input_path(c->add_option("--aux-snapshots", a->aux_snapshots, "given auxiliaries A1,A2,... instead of fine-tuning"), InputKind::List);
  c->add_option("--budgets", a->budgets, "auxiliary snapshots in images seen (default 2000,5000,10000,20000)");
  c->add_option("--n-synth", a->n_synth, "base samples the auxiliary is fine-tuned on (default 2000)");
  c->add_option("--synth-seed", a->synth_seed, "seed of those samples (default 1)");
  c->add_option("--chunk", a->chunk, "samples per sampler call for them (default 4096)");
  c->add_option("--batch", a->batch, "fine-tuning batch (default 256 for points, 64 for images)");
  c->add_option("--lr", a->lr, "fine-tuning learning rate (default 1e-3)");
  c->add_option("--lr-rampup", a->lr_rampup, "images over which the learning rate ramps up (default 1000)");
  c->add_option("--train-seed", a->train_seed, "fine-tuning seed (default 3)");
  c->add_option("--train", a->trainable,
                "which weights to fine-tune: all (default) or decoder (U-Nets: the auxiliary shares the base's "
                "encoder, evaluated once for both: 1.5 network evaluations per step in the paper's count; the time saved "
                "depends on the encoder's share of the network)")
      ->check(CLI::IsMember({"all", "decoder"}));
  c->add_option("--omegas", a->omegas, "guidance values, 0 included (default 0,0.25,0.5,1,1.5,2,3)");
  c->add_option("--n", a->n, "samples per (B, omega), the same noise for all (default 1000)");
  c->add_option("--seed", a->seed, "seed of that noise (default 0)");
  c->add_option("--ci", a->ci, "bootstrap resamples for the 95 % intervals (default 100)");
  output_folder(c->add_option("--out", a->out, "run folder (the same command continues an interrupted run)"))->required();
  c->add_option("--threads", a->threads, "LibTorch threads (0 = default)");
  c->add_flag("--quiet", a->quiet, "no progress on stderr");
  c->add_flag("--json", a->json, "print one JSON object as the last line");
  reg.actions.push_back({c, [a] { return run_tune_cmd(*a); }});

  auto cmp = std::make_shared<CompareArgs>();
  CLI::App* k = app.add_subcommand(
      "tune-compare",
      "Several sims tune runs side by side (SIMS App. A ablations: synthetic-set size, decoder-only auxiliary): "
      "the lowest metric over omega > 0 per auxiliary budget, with 95 % intervals, as a plot and a table");
  input_path(k->add_option("runs", cmp->runs, "finished sims tune run folders (or their result.json)"))->required();
  k->add_option("--labels", cmp->labels, "a label per run, L1,L2,... (default: the folder names)");
  k->add_option("--title", cmp->title, "the plot's title");
  png_output(k->add_option("--out", cmp->out, "the plot (.png)"))->required();
  k->add_flag("--json", cmp->json, "print one JSON object as the last line");
  reg.actions.push_back({k, [cmp] { return run_tune_compare(*cmp); }});
}

}  // namespace sims::cli
