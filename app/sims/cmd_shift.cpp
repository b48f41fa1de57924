// `sims shift`: distribution shifting with SIMS (the paper's Sec. 4.3 and
// Fig. 6). Labels the base model's samples with a classifier, fine-tunes the
// auxiliary on a set with the complement of the target share, and sweeps ω:
// share of the attribute and FD per group. The recipe is
// loops::run_shift (core/loops/shift.hpp); this file parses flags, prints
// progress and turns Ctrl-C into a clean stop that the same command resumes.
#include <atomic>
#include <csignal>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <unistd.h>

#include "cli_common.hpp"
#include "cli_progress.hpp"
#include "common/error.hpp"
#include "loops/shift.hpp"
#include "loops/text_format.hpp"

namespace sims::cli {
namespace {

struct ShiftArgs {
  std::string model, classifier, features, attribute = "group", real_data, out, omegas = "0,0.5,1,1.5,2,3";
  std::string interval = "0:inf", device = "cpu";
  double target = NAN;
  int64_t n_aux = 1000, n_sample = 0, max_samples = 0, chunk = 250, seed = 0;
  int64_t budget = 20000, batch = 64, lr_rampup = 10000, train_seed = 3;
  double lr = 1e-3, ema_halflife = 500000;
  int64_t n_eval = 500, eval_seed = 1, eval_batch = 250, k = 5, keep = 8, n_real = 2000, real_seed = 12345;
  SamplingFlags sampling;
  int threads = 0;
  bool json = false, quiet = false;
};

std::string cell(double v, int precision) {
  if (!std::isfinite(v)) return "n/a";
  std::ostringstream s;
  s << std::fixed << std::setprecision(precision) << v;
  return s.str();
}

// KID to three significant digits (its scale is the feature network's) with its interval where the row has one.
std::string kid_text(const loops::ShiftRow& row) {
  if (!std::isfinite(row.kid)) return "n/a";
  const metrics::Estimate e = row.estimate("kid");
  return e.has_interval() ? loops::text::with_bounds(row.kid, e.lo, e.hi) : loops::text::fmt(row.kid, 3);
}

int run_shift_cmd(ShiftArgs& a) {
  apply_threads(a.threads);
  // --target is required (CLI11 says so when it is missing): what is left to refuse here is nan or inf.
  if (!std::isfinite(a.target)) {
    std::ostringstream got;
    got << a.target;
    throw InputError("--target must be a share in (0, 1), the wanted share of the attribute (got " + got.str() + ")");
  }
  loops::ShiftConfig c;
  c.base = a.model;
  c.classifier = a.classifier;
  c.features = a.features;
  c.attribute = a.attribute;
  c.target = a.target;
  c.real_data = a.real_data;
  c.n_real = a.n_real;
  c.real_seed = static_cast<uint64_t>(a.real_seed);
  c.n_aux = a.n_aux;
  c.n_sample = a.n_sample;
  c.max_samples = a.max_samples;
  c.chunk = a.chunk;
  c.seed = static_cast<uint64_t>(a.seed);
  c.sampler = a.sampling.config();
  c.eval_sampler = c.sampler;
  c.finetune.budget = a.budget;
  c.finetune.batch = a.batch;
  c.finetune.lr = a.lr;
  c.finetune.lr_rampup = a.lr_rampup;
  c.finetune.ema_halflife = a.ema_halflife;
  c.finetune.seed = static_cast<uint64_t>(a.train_seed);
  c.omegas = parse_omegas(a.omegas);
  std::tie(c.interval_lo, c.interval_hi) = parse_interval(a.interval);
  c.n_eval = a.n_eval;
  c.eval_seed = static_cast<uint64_t>(a.eval_seed);
  c.batch = a.eval_batch;
  c.pr_k = a.k;
  c.keep = a.keep;
  loops::validate(c);

  loops::ShiftRunOptions o;
  o.out_dir = a.out;
  o.cancel = &stop_flag();
  o.device = parse_device(a.device);
  ProgressLine line;
  o.on_note = [&](const std::string& m) {
    line.clear();
    std::cerr << "note: " << m << std::endl;
  };
  o.on_progress = [&](const experiment::Progress& p) {
    if (!a.quiet) line(p);
  };
  install_stop_handler();
  const loops::ShiftResult r =
      keep_on_stop(line, a.out, [] { return "finished stages are kept"; }, [&] { return loops::run_shift(c, o); });
  if (a.json) {
    print_json(r.to_json());
    return 0;
  }
  std::cout << "distribution shift of '" << a.model << "': " << a.attribute << "=1 target " << cell(100 * a.target, 1)
            << " %\n"
            << "  base samples: " << r.n_pool << " in " << r.rounds << " round(s), " << r.pool1 << " with "
            << a.attribute << "=1 (" << cell(100.0 * r.pool1 / std::max<int64_t>(1, r.n_pool), 1) << " %)"
            << (r.synth_reused ? " [reused]" : "") << "\n"
            << "  auxiliary set: " << r.aux1 << " with " << a.attribute << "=1, " << r.aux0 << " with " << a.attribute
            << "=0 (" << cell(100.0 * r.aux1 / std::max<int64_t>(1, r.aux1 + r.aux0), 1) << " %)"
            << (r.aux_reused ? "; auxiliary model reused" : "") << "\n"
            << "  real reference: " << r.n_real1 << " / " << r.n_real0 << " images per group (labels from "
            << r.real_labels << ")\n"
            << "     omega  share % (95 % CI)       n1    n0  " << std::setw(12) << "FD_" + r.features << "  "
            << std::setw(12) << "FD target mix" << "  " << std::setw(12) << "FD " + a.attribute + "=1" << "  "
            << std::setw(12) << "FD " + a.attribute + "=0" << "  " << std::setw(32) << "KID [95 % CI]"
            << "    precision       recall\n";
  const auto fd = [](const loops::ShiftRow& row, const char* key, int digits = 1) {
    const metrics::Estimate e = row.estimate(key);
    return std::isfinite(e.value) ? e.text(digits) : std::string("n/a");
  };
  for (const auto& row : r.rows) {
    const metrics::Estimate sh = metrics::proportion(row.n1, row.n1 + row.n0);
    std::cout << "  " << std::setw(8) << cell(row.omega, 2) << "  " << std::setw(5) << cell(100 * row.share, 1) << " ["
              << std::setw(4) << cell(100 * sh.lo, 1) << ", " << std::setw(4) << cell(100 * sh.hi, 1) << "]  "
              << std::setw(5) << row.n1 << " " << std::setw(5) << row.n0 << "  " << std::setw(12) << fd(row, "fd")
              << "  " << std::setw(12) << fd(row, "fd_target") << "  " << std::setw(12) << fd(row, "fd1") << "  "
              << std::setw(12) << fd(row, "fd0") << "  " << std::setw(32) << kid_text(row)
              << "  " << std::setw(11) << fd(row, "precision", 2) << "  " << std::setw(11) << fd(row, "recall", 2)
              << (row.reused ? "  [reused]" : "") << "\n";
  }
  std::cout << "  FD and KID: lower is better; FD intervals: 95 % normal bootstrap over the samples (per group: that "
               "group's); KID is unbiased, FD of a few hundred samples is biased upwards (KID's interval: ± the half-width of "
               "a Student t interval over at least 10 disjoint subsets, none below 20 samples); precision, recall: higher is better, 95 % bootstrap over the "
               "points\n";
  std::cout << loops::shift_verdict(r) << "\n";
  std::cout << "  -> " << a.out << "/{results.csv,results.json,shift.png,samples.png,aux.ckpt} in "
            << hms(r.seconds) << "\n";
  return 0;
}

}  // namespace

void add_shift_command(CLI::App& app, Registry& reg) {
  auto a = std::make_shared<ShiftArgs>();
  CLI::App* c = app.add_subcommand(
      "shift",
      "Distribution shifting with SIMS: label the base's samples with a classifier, fine-tune the auxiliary on the "
      "complement of the target share, sweep omega (share and per-group FD); resumable run folder");
  input_path(c->add_option("--model", a->model, "base model: a sims checkpoint of an image model (it is fine-tuned)"))->required();
  input_path(c->add_option("--classifier", a->classifier, "attribute classifier (a faces-cnn checkpoint or TorchScript, see sims features)"),
             InputKind::NetSpec)
      ->required();
  c->add_option("--attribute", a->attribute, "the classifier's attribute to shift (default group)");
  c->add_option("--target", a->target, "wanted share of attribute = 1 among the samples, in (0,1), e.g. 0.7")->required();
  input_path(c->add_option("--features", a->features, "feature network for FD (default: the classifier)"), InputKind::NetSpec);
  input_path(c->add_option("--real-data", a->real_data, "real images for FD: an image data set spec (default: the base's training set)"), InputKind::DataSpec);
  c->add_option("--n-real", a->n_real, "real images for FD (default 2000)");
  c->add_option("--real-seed", a->real_seed, "seed of the real images (built-in faces; default 12345)");
  c->add_option("--n-aux", a->n_aux, "images in the auxiliary set (default 1000)");
  c->add_option("--n-sample", a->n_sample, "base samples in the first round (default --n-aux; more rounds follow when a group is short)");
  c->add_option("--max-samples", a->max_samples, "give up beyond this many base samples (default 20 x --n-aux)");
  c->add_option("--chunk", a->chunk, "base samples per chunk (default 250)");
  c->add_option("--seed", a->seed, "seed of the base samples (default 0)");
  a->sampling.bind(c);
  c->add_option("--budget", a->budget, "fine-tuning budget in images (default 20000)");
  c->add_option("--batch", a->batch, "fine-tuning batch (default 64)");
  c->add_option("--lr", a->lr, "fine-tuning learning rate (default 1e-3)");
  c->add_option("--lr-rampup", a->lr_rampup, "images over which the learning rate ramps up (default 10000)");
  c->add_option("--ema-halflife", a->ema_halflife, "EMA half-life in images (default 500000, capped at 5% of images seen)");
  c->add_option("--train-seed", a->train_seed, "fine-tuning seed (default 3)");
  c->add_option("--omegas", a->omegas, "comma-separated guidance values (default 0,0.5,1,1.5,2,3; -1 = the auxiliary alone)");
  c->add_option("--interval", a->interval, "guidance interval LO:HI in sigma (default 0:inf)");
  c->add_option("--n-eval", a->n_eval, "samples per omega (default 500; the same noise for every omega)");
  c->add_option("--eval-seed", a->eval_seed, "seed of the sweep's starting noise (default 1)");
  c->add_option("--eval-batch", a->eval_batch, "images per sampler / network call in the sweep (default 250)");
  c->add_option("--k", a->k, "k of precision/recall in feature space (default 5)");
  c->add_option("--keep", a->keep, "samples per omega in samples.png (default 8)");
  output_folder(c->add_option("--out", a->out, "run folder (created; the same command continues an interrupted run)"))->required();
  c->add_option("--threads", a->threads, "LibTorch threads (0 = default)");
  c->add_option("--device", a->device, "fine-tuning device: cpu | cuda[:i] (default cpu)");
  c->add_flag("--quiet", a->quiet, "no progress on stderr");
  c->add_flag("--json", a->json, "print one JSON object with the result as the last line");
  reg.actions.push_back({c, [a] { return run_shift_cmd(*a); }});
}

}  // namespace sims::cli
