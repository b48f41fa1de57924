// `sims train`, `sims finetune` and `sims synth`: SIMS Algorithm 1 steps 1-3
// (train the base on real data, sample its synthetic set, fine-tune a copy
// of the base on it). All resumable; Ctrl-C stops cleanly with a checkpoint.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <memory>
#include <sstream>
#include <unistd.h>

#include <ATen/ATen.h>

#include "common/paths.hpp"
#include "cli_common.hpp"
#include "cli_progress.hpp"
#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "experiment/settings.hpp"
#include "data/image_datasets.hpp"
#include "data/toy2d.hpp"
#include "diffusion/unet.hpp"
#include "dist/group.hpp"
#include "io/atomic_file.hpp"
#include "io/file_lock.hpp"
#include "io/npy.hpp"
#include "experiment/json_io.hpp"
#include "experiment/run_folder.hpp"
#include "training/continue_rule.hpp"
#include "training/synth.hpp"
#include "training/trainer.hpp"

namespace sims::cli {
namespace {

// One process writes a checkpoint at a time, as a run folder is held by one: a hidden lock file beside it
// (".NAME.lock", kept, as a run folder's .lock is), held until the process ends. A second `sims train --out` on the
// same file would otherwise train on and report a model that the first one's writes replace. A folder that takes
// no extra file gives a lock that is not held: the checkpoint's own write then says what is wrong.
io::FileLock lock_checkpoint(const std::string& path) {
  const std::filesystem::path p(path);
  io::FileLock lock((p.parent_path() / ("." + p.filename().string() + ".lock")).string());
  if (lock.state() == io::FileLock::State::Busy)
    throw InputError("'" + message_text(path, 200) + "' is being written by another sims process; wait for it or "
                     "choose another --out");
  return lock;
}

// [SECTION] Ctrl-C and progress -------------------------------------------------

// A progress bar on a terminal; a line every ~10% otherwise (logs, clusters).
struct ProgressPrinter {
  bool tty = ::isatty(2) != 0;
  int last_decile = -1;
  void operator()(const TrainEvent& e) {
    const double frac = static_cast<double>(e.images_seen) / e.budget;
    std::ostringstream line;
    line << std::fixed << std::setprecision(4);
    if (std::isfinite(e.loss)) line << "loss " << e.loss << "  ";
    line << std::setprecision(0)
         << e.images_per_second << " img/s  ETA " << hms(e.eta);
    if (tty) {
      const int w = 28, filled = static_cast<int>(frac * w);
      std::cerr << "\r[" << std::string(filled, '#') << std::string(w - filled, '.') << "] " << std::setw(3)
                << static_cast<int>(frac * 100) << "% " << e.images_seen << "/" << e.budget << " img  " << line.str()
                << "   " << std::flush;
      if (e.images_seen >= e.budget) std::cerr << "\n";
    } else if (static_cast<int>(frac * 10) != last_decile) {
      last_decile = static_cast<int>(frac * 10);
      std::cerr << "  " << static_cast<int>(frac * 100) << "% " << e.images_seen << "/" << e.budget << " img  "
                << line.str() << "\n";
    }
  }
};

// [SECTION] Data ---------------------------------------------------------------------

struct DataArgs {
  std::string data = "gaussian";
  int64_t n_data = 1000, data_seed = 0;
  const CLI::App* cmd = nullptr;  // train's (it has --n-data, --data-seed); null for finetune
};

// Loads or generates the training set and describes it for the checkpoint.
bool is_image_spec(const std::string& d) {
  for (const char* k : {"faces", "mnist:", "cifar10:", "folder:", "npy:"})
    if (d.rfind(k, 0) == 0) return true;
  return false;
}

at::Tensor load_training_data(const DataArgs& d, nlohmann::json& spec) {
  const bool is_file = d.data.size() > 4 && d.data.substr(d.data.size() - 4) == ".npy" && !is_image_spec(d.data);
  // --n-data and --data-seed make the built-in sets (2D points, rendered faces); a file or a real set is used whole.
  // (--data-seed with a real image set is left alone: checkpoints record it, and refusing it would stop them continuing.)
  if (d.cmd && is_file) refuse_given(d.cmd, {"--n-data", "--data-seed"}, "with a data file (it is used whole)");
  if (d.cmd && is_image_spec(d.data) && d.data.rfind("faces", 0) != 0)
    refuse_given(d.cmd, {"--n-data"}, "with a real image set (it is used whole)");
  if (is_file) {
    at::Tensor x = io::read_npy_finite(d.data).to(at::kFloat);
    if (x.dim() < 2 || x.size(0) < 2) throw InputError("'" + d.data + "' must be [N, ...] with N >= 2");
    spec = {{"source", "npy"}, {"path", d.data}, {"n", x.size(0)}};
    return x;
  }
  if (is_image_spec(d.data)) {
    // Images: the built-in faces (n_data rendered from data_seed) or a real set (all of it).
    data::ImageDatasetSpec is = data::ImageDatasetSpec::parse(d.data, "--data");
    if (is.kind == "faces" && d.n_data < 2) throw InputError("--n-data must be >= 2");
    data::ImageBatch b = data::load_images(is, is.kind == "faces" ? d.n_data : -1, static_cast<uint64_t>(d.data_seed));
    if (b.size() < 2) throw InputError("'" + d.data + "' holds fewer than 2 images");
    spec = {{"source", "images"}, {"spec", is.to_json()}, {"spec_string", is.to_string()}, {"n", b.size()},
            {"seed", d.data_seed}, {"attr_names", b.attr_names}};
    if (b.attrs.defined() && b.attrs.size(1) > 0) {
      std::vector<double> means;
      at::Tensor m = b.attrs.to(at::kDouble).mean(0);
      for (int64_t k = 0; k < m.size(0); ++k) means.push_back(m[k].item<double>());
      spec["attr_means"] = means;
    }
    return b.images;
  }
  if (d.n_data < 2) throw InputError("--n-data must be >= 2");
  data::Toy2dSpec s = data::Toy2dSpec::named(d.data);
  spec = {{"source", "builtin"}, {"spec", s.to_json()}, {"n", d.n_data}, {"seed", d.data_seed}};
  return data::sample_toy2d(s, d.n_data, static_cast<uint64_t>(d.data_seed));
}

// [SECTION] train / finetune ------------------------------------------------------------

struct TrainArgs {
  DataArgs data;
  std::string net, out, base;  // net: default mlp2d.json for points, unet32.json for images
  int64_t budget = 0, batch = 256, lr_rampup = 10000, checkpoint_every = 0, snapshot_every = 0;
  double epochs = 0, lr = 1e-3, ema_halflife = 500000;
  int64_t seed = 0;
  int threads = 0;
  std::string device = "cpu";
  std::string trainable = "all";  // finetune: all | decoder
  bool resume = false, json = false, finetune = false;
  CLI::Option *o_budget = nullptr, *o_epochs = nullptr;  // "--epochs 0" is a wrong value, not "no --epochs"
};

// The network configuration a fresh `train` builds (the given file, or the
// default for the data's kind).
NetConfig train_net_config(TrainArgs& a, const at::Tensor& data) {
  if (a.net.empty())
    a.net = asset_path(std::string("networks/") + (data.dim() == 4 ? "unet32.json" : "mlp2d.json"));
  return NetConfig::from_json(experiment::read_json_file(a.net));
}

std::string data_summary(const TrainArgs& a, const nlohmann::json& spec, const at::Tensor& data) {
  if (spec["source"] == "images")
    return "'" + spec["spec_string"].get<std::string>() + "' (" + std::to_string(data.size(0)) + " images)";
  if (spec["source"] == "builtin")
    return "built-in '" + spec["spec"]["name"].get<std::string>() + "' (" + std::to_string(spec["n"].get<int64_t>()) +
           " samples, seed " + std::to_string(spec["seed"].get<int64_t>()) + ")";
  return "'" + a.data.data + "' (" + std::to_string(data.size(0)) + " samples)";
}

// A fresh model: the base's copy (finetune) or a new network (train).
TrainState fresh_state(TrainArgs& a, const TrainConfig& tc, const at::Tensor& data, const nlohmann::json& spec) {
  TrainState st;
  if (a.finetune) {
    TrainState base = load_checkpoint(a.base);
    st = TrainState::fork(base, tc);
    if (tc.trainable == "decoder") frozen_for_decoder_training(*st.raw);  // refuses a network without a decoder
    st.provenance.update(nlohmann::json{{"role", "auxiliary"},
                     {"base", a.base},
                     {"base_images_seen", base.images_seen},
                     {"n_synthetic", data.size(0)},
                     {"trainable", tc.trainable},
                     {"summary", std::string(tc.trainable == "decoder" ? "decoder-only aux" : "aux") + " of " + a.base +
                                     " on " + std::to_string(data.size(0)) + " synthetic samples"},
                     {"base_history", base.provenance}});
  } else {
    st = TrainState::create(train_net_config(a, data), tc);
    st.provenance = {{"role", "base"}, {"summary", "base trained on " + data_summary(a, spec, data)}};
  }
  st.data = spec;
  return st;
}

constexpr int64_t kMaxBudget = 1'000'000'000'000;

int run_train(TrainArgs& a) {
  // At most 1e12 images seen (EDM's CIFAR-10 run sees 2e8): a slip of the finger cannot start a training that never ends.
  if (a.budget < 0 || a.budget > kMaxBudget)
    throw InputError("--budget must be a positive number of images up to 1e12 (got " + std::to_string(a.budget) + ")");
  if (a.o_budget->count() > 0 && a.budget == 0)
    throw InputError("--budget must be a positive number of images up to 1e12 (got 0)");
  if (!(a.epochs >= 0) || !std::isfinite(a.epochs) || a.epochs > 1e9 || (a.o_epochs->count() > 0 && a.epochs == 0))
    throw InputError("--epochs must be a number above 0 and up to 1e9 (got " + experiment::format_real(a.epochs) + ")");
  if (a.budget > 0 && a.epochs > 0) throw InputError("give --budget or --epochs, not both");
  apply_threads(a.threads);
  if (a.finetune && a.base.empty()) throw InputError("finetune needs --base CHECKPOINT");
  // Under `sims launch`, torchrun or srun: data-parallel over the job's processes; rank 0 writes and reports.
  const std::shared_ptr<dist::Group> group = dist::Group::join_from_environment();
  const bool lead = dist::leads(group.get());
  {
    std::error_code ec;
    if (std::filesystem::is_directory(a.out, ec))
      throw InputError("--out '" + message_text(a.out, 200) + "' is a folder: training writes one checkpoint file (e.g. "
                       "--out '" + message_text(a.out, 200) + "/model.ckpt')");
  }
  // The checkpoint's lock before its state is read (a process that saved in between would be overwritten from the
  // older state) and before the data are loaded; where its folder does not exist yet, once it is made below.
  io::FileLock lock;
  {
    const std::filesystem::path folder = std::filesystem::path(a.out).parent_path();
    std::error_code ec;
    if (lead && std::filesystem::is_directory(folder.empty() ? std::filesystem::path(".") : folder, ec))
      lock = lock_checkpoint(a.out);
  }
  nlohmann::json spec;
  at::Tensor data = load_training_data(a.data, spec);
  // What the model is trained from, by content: a file replaced under the same name is other data.
  if (spec["source"] == "npy") spec["content"] = experiment::file_fingerprint(a.data.data);
  if (a.finetune) spec["base"] = {{"path", a.base}, {"content", experiment::file_fingerprint(a.base)}};
  int64_t budget = a.budget;
  if (budget <= 0 && a.epochs > 0) {
    const double images = std::round(a.epochs * static_cast<double>(data.size(0)));
    if (images > static_cast<double>(kMaxBudget))
      throw InputError("--epochs " + experiment::format_real(a.epochs) + " of " + std::to_string(data.size(0)) +
                       " samples is more than 1e12 images");
    budget = static_cast<int64_t>(images);
  }
  TrainConfig tc;
  tc.budget = budget;
  tc.batch = a.batch;
  tc.lr = a.lr;
  tc.lr_rampup = a.lr_rampup;
  tc.ema_halflife = a.ema_halflife;
  tc.seed = static_cast<uint64_t>(a.seed);
  tc.checkpoint_every = a.checkpoint_every;
  tc.snapshot_every = a.snapshot_every;
  tc.trainable = a.trainable;
  TrainState st;
  std::error_code ec;
  if (std::filesystem::exists(a.out, ec)) {
    // The run rule: the same command continues; other settings are refused.
    st = load_checkpoint(a.out);
    if (tc.budget <= 0) tc.budget = st.train.budget;
    const nlohmann::json net = a.finetune ? nlohmann::json(nullptr) : train_net_config(a, data).to_json();
    if (check_continues(a.out, st, spec, net, tc) == TrainStart::Finished) {
      if (!lead) return 0;
      std::cerr << "nothing to do: " << a.out << " has already seen " << st.images_seen << " of " << tc.budget
                << " images with these settings (give a larger --budget or --epochs to train on)\n";
      if (a.json) print_json({{"out", a.out}, {"images_seen", st.images_seen}, {"seconds", 0.0}, {"finished", true}});
      return 0;
    }
    st.train.budget = tc.budget;
    st.train.checkpoint_every = tc.checkpoint_every;
    st.train.snapshot_every = tc.snapshot_every;
    if (lead) std::cerr << "continuing " << a.out << " at " << st.images_seen << " of " << st.train.budget << " images\n";
  } else {
    if (budget <= 0 && a.epochs > 0)
      throw InputError("--epochs " + experiment::format_real(a.epochs) + " of " + std::to_string(data.size(0)) +
                       " samples is less than one image: give more epochs");
    if (budget <= 0) throw InputError("give --budget IMAGES or --epochs E");
    st = fresh_state(a, tc, data, spec);
  }
  if (lead) {
    prepare_output("--out", a.out, OutputKind::File, false);
    if (!lock.held()) lock = lock_checkpoint(a.out);
  }
  install_stop_handler();
  TrainOptions o;
  o.group = group;
  ProgressPrinter printer;
  if (lead && (!a.json || ::isatty(2))) o.on_progress = [&](const TrainEvent& e) { printer(e); };
  o.cancel = &stop_flag();
  o.checkpoint_path = a.out;
  o.device = parse_device(a.device);  // under a launcher, plain cuda is cuda:LOCAL_RANK
  if (st.train.snapshot_every > 0) {
    std::string stem = a.out;
    const auto dot = stem.rfind('.');
    if (dot != std::string::npos && dot > stem.rfind('/') + 1) stem = stem.substr(0, dot);
    o.snapshot_pattern = stem + "-%09lld.ckpt";
    // Steps are whole batches (the last one cut to end on the budget): a snapshot is kept at the first step that
    // reaches each multiple and named by the images seen then. Said when a name is not its multiple, as the trainer
    // will step (a --snapshot-every off the batch, or a run continued from a count off the batch).
    const int64_t every = st.train.snapshot_every, b = st.train.batch, seen = st.images_seen, end = st.train.budget;
    for (int64_t target = (seen / every + 1) * every, k = 0; lead && target <= end && k < 3; target += every, ++k) {
      const int64_t at = std::min(seen + (target - seen + b - 1) / b * b, end);
      if (at == target) continue;
      char name[32];
      std::snprintf(name, sizeof name, "-%09lld.ckpt", static_cast<long long>(at));
      note_at_end("--snapshot-every " + std::to_string(every) + " does not fall on whole batches of " +
                  std::to_string(b) +
                  (seen > 0 ? " counted from " + std::to_string(seen) + " images, where this run continued" : "") +
                  ": each snapshot is kept at the first batch that reaches it and named by the images seen then (" +
                  std::filesystem::path(stem).filename().string() + name + " for " + std::to_string(target) + ")");
      break;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t seen0 = st.images_seen;
  TrainOutcome outcome = train(st, data, o);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!lead) return outcome == TrainOutcome::Cancelled ? 130 : 0;
  if (outcome == TrainOutcome::Cancelled) {
    std::cerr << "\nstopped at " << st.images_seen << " images; checkpoint saved to " << a.out
              << " (run the same command again to continue)\n";
    return 130;
  }
  const double final_loss = st.loss_curve.empty() ? NAN : st.loss_curve.back().loss;
  if (a.json) {
    nlohmann::json j = {{"out", a.out},
                {"images_seen", st.images_seen},
                {"seconds", secs},
                {"images_per_second", (st.images_seen - seen0) / std::max(secs, 1e-9)},
                {"final_loss", std::isfinite(final_loss) ? nlohmann::json(final_loss) : nlohmann::json(nullptr)},
                {"nonfinite_grad_steps", st.nonfinite_grad_steps},
                {"processes", group ? group->size() : 1}};
    // Rank 0's seconds in all-reduces, waiting for the slower rank included.
    if (group) j["communication_seconds"] = group->seconds_communicating();
    print_json(j);
  } else {
    std::cout << (a.finetune ? "fine-tuned " : "trained ") << a.out << ": " << st.images_seen << " images in "
              << std::fixed << std::setprecision(1) << secs << " s"
              << (group ? " on " + std::to_string(group->size()) + " processes" : std::string()) << ", final loss "
              << std::setprecision(4) << final_loss << "\n";
  }
  return 0;
}

// [SECTION] synth ------------------------------------------------------------------------

struct SynthArgs {
  ModelFlags models;
  SamplingFlags sampling;
  std::string out;
  int64_t n = 0, chunk = 4096, seed = 0;
  int threads = 0;
  bool json = false;
};

int run_synth(SynthArgs& a) {
  apply_threads(a.threads);
  if (a.n <= 0) throw InputError("--n must be positive");
  a.sampling.check_needs_aux(a.models.aux);
  DenoiserPtr base = load_denoiser(a.models.model, a.models.load_options());
  DenoiserPtr aux = a.models.aux.empty() ? nullptr : load_denoiser(a.models.aux, a.models.load_options());
  a.models.note_loaded(*base, aux ? std::vector<const Denoiser*>{aux.get()} : std::vector<const Denoiser*>{});
  SynthConfig sc;
  sc.n = a.n;
  sc.chunk = a.chunk;
  sc.seed = static_cast<uint64_t>(a.seed);
  sc.sampler = a.sampling.config();
  sc.guidance = a.sampling.guidance();
  // The run rule for the set: the same command continues or finds nothing to do; others are refused.
  // Under `sims launch`, torchrun or srun: the chunks are shared out; rank 0 writes and reports.
  const std::shared_ptr<dist::Group> group = dist::Group::join_from_environment();
  const bool lead = dist::leads(group.get());
  std::error_code ec;
  if (std::filesystem::exists(a.out, ec)) {
    const nlohmann::json made = experiment::read_json_or_null(a.out + ".json");
    if (!made.is_object() || !made.contains("config"))
      throw InputError("'" + a.out + "' exists and was not written by 'sims synth'; choose another --out (or delete it)");
    const auto changes = experiment::diff_settings(made.at("config"), synth_key(base, aux, sc));
    if (!changes.empty())
      throw InputError("'" + a.out + "' was made with " + changes.front().describe() +
                       ": choose another --out for these settings (or delete '" + a.out + "')");
    if (!lead) return 0;
    std::cerr << "nothing to do: " << a.out << " already holds these " << a.n << " samples\n";
    if (a.json) print_json({{"out", a.out}, {"n", a.n}, {"seconds", 0.0}, {"resumed_from", a.n}, {"finished", true}});
    return 0;
  }
  if (lead) prepare_output("--out", a.out, OutputKind::File, false);
  install_stop_handler();
  ProgressPrinter printer;
  std::function<void(int64_t, int64_t, double)> on_chunk;
  if (lead) on_chunk = [&](int64_t done, int64_t total, double secs) {
    const double ips = done / std::max(secs, 1e-9);
    printer({done, total, NAN, secs, (total - done) / std::max(ips, 1e-9), ips});
  };
  SynthResult r = generate_synthetic_set(base, aux, sc, a.out, &stop_flag(), on_chunk, group.get());
  if (!lead) return r.cancelled ? 130 : 0;
  if (r.cancelled) {
    std::cerr << "\nstopped after " << r.done << " of " << a.n << " samples; run the same command again to continue\n";
    return 130;
  }
  if (a.json) print_json({{"out", a.out}, {"n", a.n}, {"seconds", r.seconds}, {"resumed_from", r.resumed_from}});
  else std::cout << "wrote " << a.n << " synthetic samples -> " << a.out << "\n";
  return 0;
}

void bind_train(CLI::App* c, TrainArgs& a) {
  c->add_option("--out", a.out, "checkpoint to write; if it exists, the same command continues it and other settings are refused")->required();
  a.o_budget = c->add_option("--budget", a.budget, "total images (samples) seen");
  a.o_epochs = c->add_option("--epochs", a.epochs, "budget in epochs of the training set (instead of --budget)");
  c->add_option("--batch", a.batch, "batch size (default 256)");
  c->add_option("--lr", a.lr, "Adam learning rate (default 1e-3)");
  c->add_option("--lr-rampup", a.lr_rampup, "images over which the learning rate ramps up (default 10000)");
  c->add_option("--ema-halflife", a.ema_halflife, "EMA half-life in images (default 500000, capped at 5% of images seen)");
  c->add_option("--seed", a.seed, "training seed (initial weights, batches, noise)");
  c->add_option("--checkpoint-every", a.checkpoint_every, "images between checkpoints (default: end and Ctrl-C only)");
  c->add_option("--snapshot-every", a.snapshot_every, "images between kept snapshots OUT-<images>.ckpt");
  c->add_option("--threads", a.threads, "LibTorch intra-op threads (default: LibTorch's; base and aux run side by side regardless)");
  c->add_option("--device", a.device, "cpu | cuda[:i] (default cpu; checkpoints load on any device)");
  c->add_flag("--resume", a.resume, "accepted for older scripts: the same command always continues OUT");
  c->add_flag("--json", a.json, "print one JSON object on the last line");
}

}  // namespace

void add_train_commands(CLI::App& app, Registry& reg) {
  auto t = std::make_shared<TrainArgs>();
  CLI::App* c = app.add_subcommand("train", "Train a base diffusion model (EDM) on built-in or real data");
  input_path(c->add_option("--data", t->data.data, "built-in 2D set (gaussian, grid25, mixture8, rings, spirals, swissroll), FILE.npy, or an image set: faces[:ratio=R,size=S], mnist:PATH, cifar10:PATH, folder:DIR[,labels=CSV], npy:FILE (see sims data)"), InputKind::DataSpec);
  c->add_option("--n-data", t->data.n_data, "size of the built-in training set (2D points or rendered faces; default 1000)");
  c->add_option("--data-seed", t->data.data_seed, "seed of the built-in training set (default 0)");
  t->data.cmd = c;
  input_path(c->add_option("--net", t->net, "network configuration JSON (default assets/networks/mlp2d.json for points, unet32.json for images)"));
  bind_train(c, *t);
  reg.actions.push_back({c, [t] { return run_train(*t); }});

  auto f = std::make_shared<TrainArgs>();
  f->finetune = true;
  c = app.add_subcommand("finetune", "Fine-tune a copy of the base on its synthetic set: the auxiliary model");
  input_path(c->add_option("--base", f->base, "base checkpoint"))->required();
  input_path(c->add_option("--data", f->data.data, "synthetic set .npy (from sims synth)"))->required();
  c->add_option("--train", f->trainable,
                "which weights to fine-tune: all (default) or decoder (U-Nets: the encoder stays the base's, so "
                "sampling evaluates it once for both models: 1.5 network evaluations per step instead of 2 in the paper's "
                "count; the time saved depends on the encoder's share of the network)")
      ->check(CLI::IsMember({"all", "decoder"}));
  bind_train(c, *f);
  reg.actions.push_back({c, [f] { return run_train(*f); }});

  auto s = std::make_shared<SynthArgs>();
  c = app.add_subcommand("synth", "Generate a model's synthetic set, in chunks straight to disk (resumable)");
  s->models.bind(c);
  s->sampling.bind(c);
  s->sampling.bind_guidance(c, "with --aux");
  c->add_option("--n", s->n, "number of samples")->required();
  c->add_option("--chunk", s->chunk, "samples per chunk (memory stays flat; default 4096)");
  c->add_option("--seed", s->seed, "seed (chunk k uses its own stream, so resuming reproduces it)");
  npy_output(c->add_option("--out", s->out, "output .npy"))->required();
  c->add_option("--threads", s->threads, "LibTorch intra-op threads");
  c->add_flag("--json", s->json, "print one JSON object on the last line");
  reg.actions.push_back({c, [s] { return run_synth(*s); }});
}

}  // namespace sims::cli
