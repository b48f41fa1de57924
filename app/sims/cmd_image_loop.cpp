// `sims loop --family images` and `sims scenarios`: the command-line faces of
// core/loops/image_loop.hpp and core/loops/scenarios.hpp. Both train U-Nets;
// on a CPU only toy sizes finish in minutes (see README), on a GPU use
// --device cuda.
#include "cmd_image_loop.hpp"
#include "cli_progress.hpp"

#include <atomic>
#include <cmath>
#include <csignal>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <unistd.h>

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "data/image_datasets.hpp"
#include "experiment/settings.hpp"
#include "io/atomic_file.hpp"
#include "loops/image_loop.hpp"
#include "loops/scenarios.hpp"
#include "loops/text_format.hpp"
#include "training/checkpoint.hpp"

namespace sims::cli {
namespace {

// [SECTION] Shared pieces --------------------------------------------------------

std::string num(double v, int prec = 4) {
  if (std::isnan(v)) return "-";
  std::ostringstream o;
  o << std::fixed << std::setprecision(prec) << v;
  return o.str();
}

// Three significant digits: KID's scale depends on the feature network (about 1e-3 with Inception, hundreds with
// the faces CNN's unnormalised features).
std::string sig(double v) { return std::isfinite(v) ? loops::text::fmt(v, 3) : "-"; }

// "86.3 ± 6.1": a value with the half-width of its interval (the wider side), "-" when not finite.
std::string num_ci(double v, double lo, double hi, int prec = 1) {
  metrics::Estimate e;
  e.value = v, e.lo = lo, e.hi = hi;
  return std::isfinite(v) ? e.text(prec) : "-";
}

// The value of a flag of `cmd` when it was given on the command line.
template <class T>
bool given(CLI::App* cmd, const std::string& name, T& value) {
  CLI::Option* o = cmd->get_option(name);
  if (!o->count()) return false;
  value = o->as<T>();
  return true;
}
bool given(CLI::App* cmd, const std::string& name) { return cmd->get_option(name)->count() > 0; }

NetConfig read_net(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError("--net: cannot read '" + path + "'");
  return NetConfig::from_json(parse_json_bounded(in, "--net '" + path + "'"));
}

// The network: --net FILE, else the checkpoint's (--init / --base), else the
// default CPU U-Net fitted to the data's channels and size.
NetConfig choose_net(const std::string& net_file, const std::string& ckpt, const data::ImageDatasetSpec& spec) {
  if (!net_file.empty()) return read_net(net_file);
  if (!ckpt.empty()) return load_checkpoint(ckpt).net;
  NetConfig n = loops::default_image_net();
  int64_t channels = 3, size = 32;
  if (spec.kind == "faces") {
    size = spec.faces.size;
  } else {
    const data::ImageBatch one = data::load_images(spec, 1);
    if (one.size() < 1) throw InputError("the data set '" + spec.to_string() + "' holds no images");
    channels = one.images.size(1);
    size = one.images.size(2);
  }
  if (size < 8 || (size & (size - 1)) != 0)
    throw InputError("the default U-Net needs a power-of-two image size >= 8, and '" + spec.to_string() + "' is " +
                     std::to_string(size) + " px: resize it (e.g. size=32 in --data) or give --net");
  n.channels = channels;
  n.resolution = size;
  while (n.channel_mult.size() > 1 && (size >> (n.channel_mult.size() - 1)) < 4) n.channel_mult.pop_back();
  return n;
}

// [SECTION] sims loop --family images ---------------------------------------------

loops::ImageLoopConfig image_config(CLI::App* c, const ImageLoopFlags& f) {
  // Flags of the other families were refused by `sims loop` (cmd_loop.cpp).
  loops::ImageLoopConfig cfg;
  std::string text = "faces";
  given(c, "--data", text);
  cfg.data = data::ImageDatasetSpec::parse(text, "--data");
  cfg.data_seed = f.data_seed;
  if (given(c, "--kind", text)) cfg.kind = loops::parse_loop_kind(text);
  if (given(c, "--pool", text)) {
    if (text != "replace" && text != "accumulate") throw InputError("--pool must be replace or accumulate, got '" + text + "'");
    cfg.accumulate = text == "accumulate";
  }
  given(c, "--n-real", cfg.n_real);
  given(c, "--n-synth", cfg.n_synth);
  given(c, "--generations", cfg.generations);
  given(c, "--seed", cfg.seed);
  if (given(c, "--algorithm", text)) cfg.algorithm = loops::parse_loop_algorithm(text);
  double omega = 0;
  if (given(c, "--omega", omega)) {
    if (cfg.algorithm == loops::LoopAlgorithm::Standard && omega != 0.0)
      throw InputError("--omega needs --algorithm sims (standard training samples the base model alone)");
    cfg.omega = omega;
  }
  if (cfg.algorithm == loops::LoopAlgorithm::Standard)
    note_given(c, {"--interval", "--n-aux", "--aux-epochs", "--aux-images"},
               "with --algorithm standard (no auxiliary is trained; --algorithm sims uses them)");
  for (const auto& [images, epochs] : {std::pair{"--base-images", "--base-epochs"}, {"--aux-images", "--aux-epochs"}})
    if (c->get_option(images)->count() > 0 && c->get_option(epochs)->count() > 0)
      throw InputError(std::string(images) + " and " + epochs + " are two ways to set one budget: give one");
  if (given(c, "--interval", text)) std::tie(cfg.interval_lo, cfg.interval_hi) = parse_interval(text);
  given(c, "--n-aux", cfg.n_aux);
  given(c, "--n-eval", cfg.n_eval);
  given(c, "--base-epochs", cfg.base_epochs);
  given(c, "--aux-epochs", cfg.aux_epochs);
  cfg.base_images = f.base_images;
  cfg.first_images = f.first_images;
  cfg.aux_images = f.aux_images;
  cfg.warm_start = loops::parse_warm_start(f.warm_start);
  cfg.init = f.init;
  cfg.net = choose_net(f.net, f.init, cfg.data);
  given(c, "--batch", cfg.train.batch);
  given(c, "--lr", cfg.train.lr);
  if (given(c, "--sampler", text)) cfg.sampler.kind = parse_sampler_kind(text);
  given(c, "--steps", cfg.sampler.steps);
  cfg.chunk = f.chunk;
  cfg.n_ref = f.n_ref;
  if (!f.features.empty()) cfg.features = f.features;
  cfg.classifier = f.classifier;
  cfg.pr_k = f.pr_k;
  cfg.save_images = f.save_images;
  cfg.keep_models = f.keep_models;
  return cfg;
}

}  // namespace

std::vector<CLI::Option*> bind_image_loop_flags(CLI::App* c, ImageLoopFlags& f) {
  const size_t before = c->get_options().size();
  input_path(c->add_option("--net", f.net, "images: U-Net configuration JSON (default assets/networks/unet32.json fitted to the data; with --init its network)"));
  c->add_option("--base-images", f.base_images, "base training budget per generation in images seen (images: default 20000, or --base-epochs instead; diffusion2d: instead of --base-epochs, the same for every |D^t|)");
  c->add_option("--first-images", f.first_images, "images: generation 1's base budget (-1: as the others; 0: the --init model as it is)");
  c->add_option("--aux-images", f.aux_images, "images SIMS: auxiliary fine-tuning budget in images seen (default 5000, or --aux-epochs instead)");
  c->add_option("--warm-start", f.warm_start, "scratch (each generation's base from random weights, or --init for images: the papers) | previous (each base trained on from the previous generation's base)");
  input_path(c->add_option("--init", f.init, "images: checkpoint the bases start from (e.g. assets/models/faces-base.ckpt)"));
  c->add_option("--data-seed", f.data_seed, "images: which built-in faces (default 0, as the shipped faces models)");
  c->add_option("--chunk", f.chunk, "images: samples per sampler call (default 250)");
  c->add_option("--n-ref", f.n_ref, "images: real reference images for FD/precision/recall (default --n-eval)");
  input_path(c->add_option("--features", f.features, "images: feature network for FD_<net> (default assets/models/faces-cnn.ckpt; or TorchScript, see sims metrics)"), InputKind::NetSpec);
  input_path(c->add_option("--classifier", f.classifier, "images: attribute classifier for ratios (default: the feature net if it classifies; none)"), InputKind::NetSpec);
  c->add_option("--pr-k", f.pr_k, "images: k of precision/recall (default 5)");
  c->add_option("--save-images", f.save_images, "images: samples saved per generation in samples/gen-NNNN.{npy,png} (default 64)");
  c->add_flag("--keep-models", f.keep_models, "images: keep each generation's models in models/");
  c->add_option("--device", f.device, "images: cpu | cuda[:i] for training and sampling (default cpu)");
  std::vector<CLI::Option*> added = c->get_options();
  return {added.begin() + static_cast<std::ptrdiff_t>(before), added.end()};
}

int run_image_loop_family(CLI::App* c, const ImageLoopFlags& f, const std::function<void(const nlohmann::json&)>& plot) {
  std::string out;
  given(c, "--out", out);
  const bool resume = given(c, "--resume"), as_json = given(c, "--json");
  if (out.empty()) throw InputError("--family images needs --out DIR (the run folder: samples, state for --resume)");
  loops::ImageLoopConfig cfg;
  if (resume) {
    cfg = loops::load_image_loop_config(out);
    given(c, "--generations", cfg.generations);
  } else {
    cfg = image_config(c, f);
  }
  loops::validate(cfg);
  const c10::Device device = parse_device(f.device);
  std::string plot_path;
  given(c, "--plot", plot_path);
  prepare_output("--out", out, OutputKind::Folder);
  prepare_output("--plot", plot_path);
  int threads = 0;
  given(c, "--threads", threads);
  apply_threads(threads);
  install_stop_handler();

  loops::ImageLoopRunOptions ro;
  ro.out_dir = out;
  ro.cancel = &stop_flag();
  ro.device = device;
  std::ostringstream header;
  header << "image loop: " << cfg.data.to_string() << ", " << loops::to_string(cfg.kind) << ", "
         << loops::to_string(cfg.algorithm)
         << (cfg.algorithm == loops::LoopAlgorithm::Sims ? " (omega " + num(cfg.omega, 2) + ")" : "")
         << ", |D_r| = " << cfg.n_real << ", |D_s| = " << cfg.n_synth << ", " << cfg.generations
         << " generations, warm start " << loops::to_string(cfg.warm_start) << ", " << device.str();
  ProgressLine line(header.str());
  ro.on_progress = [&](const experiment::Progress& p) { line(p); };
  const loops::ImageLoopResult res = keep_on_stop(line, out, [&] {
    const int64_t last_done = line.last("generation");
    return (last_done > 0 ? "generations up to " + std::to_string(last_done) + " and " : std::string()) +
           "finished stages are saved";
  }, [&] { return loops::run_image_loop(cfg, ro); });
  nlohmann::json j = cfg.to_json();
  j.update(res.to_json());
  j["resumed_from"] = res.resumed_from;
  note_more_generations(out, cfg.generations);
  j["device"] = device.str();
  double total = 0;
  for (double s : res.seconds) total += s;
  j["seconds_total"] = total;
  if (!plot_path.empty()) plot(j);
  if (as_json) {
    print_json(j);
    return 0;
  }
  std::cout << "image loop (" << loops::to_string(cfg.kind) << ", " << loops::to_string(cfg.algorithm);
  if (cfg.algorithm == loops::LoopAlgorithm::Sims) std::cout << ", omega " << cfg.omega;
  std::cout << ", |D_s| = " << cfg.n_synth << "; " << res.metric << " of " << cfg.n_eval << " samples; 95 % intervals)\n";
  // FD, precision and recall with the bootstrap over the scored samples, the ratio with Fieller's interval from the
  // two FDs' intervals, the shares with Wilson's interval.
  std::vector<std::string> head{"gen", res.metric, "KID", "ratio to gen. 1", "precision", "recall"};
  if (!res.fd_base.empty()) head.push_back(res.metric + " of the base");
  for (const auto& name : res.attr_names) head.push_back(name + " share");
  std::vector<std::vector<std::string>> rows;
  for (size_t g = 0; g < res.fd.size(); ++g) {
    std::vector<std::string> r{std::to_string(g + 1), metrics::Estimate::of(res.fd[g], res.fd_lo[g], res.fd_hi[g]).precise_text()};
    // KID with its interval from disjoint subsets (KidBlocks::around); a run folder of an older version has only
    // the sd of its random subsets (subsets of the same two sets, not the estimate's noise).
    const bool have_kid = g < res.kid.size() && std::isfinite(res.kid[g]);
    const bool kid_ci = have_kid && g < res.kid_lo.size() && std::isfinite(res.kid_lo[g]) && std::isfinite(res.kid_hi[g]);
    r.push_back(!have_kid ? std::string("-")
                : kid_ci ? loops::text::with_bounds(res.kid[g], res.kid_lo[g], res.kid_hi[g])
                : res.kid_std[g] > 1e-9 * std::abs(res.kid[g]) ? sig(res.kid[g]) + " (sd " + sig(res.kid_std[g]) + ")"
                                                                : sig(res.kid[g]) + " (no interval)");
    // ratio = FD_t / FD_1 with Fieller's interval (ImageLoopResult::ratio_lo); generation 1: 1.
    r.push_back(g == 0 ? std::string("1") : metrics::Estimate::of(res.ratio[g], res.ratio_lo[g], res.ratio_hi[g]).bounds_text());
    // Percentile intervals, not symmetric (a recall of 0.12 in [0, 0.38]): both ends.
    r.push_back(metrics::Estimate::of(res.precision[g], res.precision_lo[g], res.precision_hi[g]).bounds_text(3));
    r.push_back(metrics::Estimate::of(res.recall[g], res.recall_lo[g], res.recall_hi[g]).bounds_text(3));
    if (!res.fd_base.empty())
      r.push_back(metrics::Estimate::of(res.fd_base[g], g < res.fd_base_lo.size() ? res.fd_base_lo[g] : NAN,
                                        g < res.fd_base_hi.size() ? res.fd_base_hi[g] : NAN)
                      .precise_text());
    for (size_t k = 0; k < res.attr_names.size(); ++k)
      r.push_back(k < res.attr_ratio[g].size() ? res.share(g, k).bounds_text(3) : "-");
    rows.push_back(std::move(r));
  }
  rows.insert(rows.begin(), head);
  print_table(std::cout, rows);
  if (!res.real_ratio.empty()) {
    // With their Wilson intervals over the reference's images (a share of 70 real images is itself uncertain).
    std::cout << "  real reference shares:";
    for (size_t k = 0; k < res.attr_names.size() && k < res.real_ratio.size(); ++k)
      std::cout << " " << res.attr_names[k] << " " << loops::real_share(res.real_ratio, res.n_real, k).bounds_text(3);
    std::cout << (res.n_real > 0 ? " (of the " + std::to_string(res.n_real) + " reference images; the target: nearer it is better)\n"
                                 : std::string(" (the target: nearer it is better)\n"));
  }
  std::cout << "  " << res.metric << ", KID, ratio: lower is better; " << res.metric << ": 95 % normal bootstrap over the "
            << cfg.n_eval << " scored samples, ratio: Fieller's interval from the two FD intervals (it holds 1 exactly when the verdict's "
               "change holds 0; none where generation 1's interval reaches 0); KID: unbiased (a small "
               "sample does not inflate it, FD of a few hundred is biased upwards), the mean over "
            << loops::kScoreKidSubsets << " subsets, 95 % interval: ± the half-width of a Student t interval over at least "
            << loops::kKidBlocks << " disjoint subsets of the rows (none below " << 2 * loops::kKidBlocks
            << " samples; below 0 is noise around 0);\n  precision, recall: higher is better, 95 % percentile bootstrap "
               "over the generated (precision) or real (recall) points; shares: Wilson intervals over the scored samples"
            << "\n";
  if (!res.fd.empty()) std::cout << "  verdict: " << res.verdict() << "\n";
  std::cout << "  -> " << out << "/metrics.{json,csv}, samples/\n";
  if (!plot_path.empty()) std::cout << "  -> " << plot_path << "\n";
  return 0;
}

// [SECTION] sims scenarios ------------------------------------------------------------

namespace {

struct ScenarioArgs {
  std::string data = "faces", pollution = "0,0.25,0.5,1", base, omegas = "0.5,1,1.5", interval = "0:inf", net,
              sampler = "heun", features, classifier, device = "cpu", out;
  uint64_t data_seed = 0, seed = 0;
  int64_t n_real = 2000, base_images = 20000, polluted_images = 20000, n_aux = 1000, aux_images = 5000, batch = 64,
          chunk = 250, n_eval = 1000, n_ref = 0, pr_k = 5, keep = 8;
  double lr = 1e-3;
  int steps = 18, threads = 0;
  bool from_st_i = false, json = false;
};

int run_scenarios_command(const ScenarioArgs& a) {
  if (a.out.empty()) throw InputError("--out DIR is required (the run folder; re-running it reuses finished stages)");
  loops::ScenariosConfig cfg;
  cfg.data = data::ImageDatasetSpec::parse(a.data, "--data");
  cfg.data_seed = a.data_seed;
  cfg.n_real = a.n_real;
  cfg.pollution = experiment::parse_real_list(a.pollution, "--pollution");
  cfg.seed = a.seed;
  cfg.base = a.base;
  cfg.base_images = a.base_images;
  cfg.polluted_images = a.polluted_images;
  cfg.polluted_from_st_i = a.from_st_i;
  cfg.n_aux = a.n_aux;
  cfg.aux_images = a.aux_images;
  cfg.omegas = parse_omegas(a.omegas);
  std::tie(cfg.interval_lo, cfg.interval_hi) = parse_interval(a.interval);
  cfg.net = choose_net(a.net, a.base, cfg.data);
  cfg.train.batch = a.batch;
  cfg.train.lr = a.lr;
  cfg.sampler.kind = parse_sampler_kind(a.sampler);
  cfg.sampler.steps = a.steps;
  cfg.chunk = a.chunk;
  cfg.n_eval = a.n_eval;
  cfg.n_ref = a.n_ref;
  if (!a.features.empty()) cfg.features = a.features;
  cfg.classifier = a.classifier;
  cfg.pr_k = a.pr_k;
  cfg.keep = a.keep;
  loops::validate(cfg);
  const c10::Device device = parse_device(a.device);
  apply_threads(a.threads);
  install_stop_handler();

  loops::ScenariosRunOptions ro;
  ro.out_dir = a.out;
  ro.cancel = &stop_flag();
  ro.device = device;
  ProgressLine line;
  ro.on_note = [&](const std::string& s) {
    line.clear();
    std::cerr << "  " << s << std::endl;
  };
  ro.on_progress = [&](const experiment::Progress& p) { line(p); };
  const loops::ScenariosResult res =
      keep_on_stop(line, a.out, [] { return "finished stages are saved"; }, [&] { return loops::run_scenarios(cfg, ro); });
  if (a.json) {
    nlohmann::json j = cfg.to_json();
    j.update(res.to_json());
    j["device"] = device.str();
    j["files"] = res.files;
    print_json(j);
    return 0;
  }
  std::cout << "Four scenarios (SIMS paper Sec. 4.2.2) on '" << cfg.data.to_string() << "', |D_r| = " << cfg.n_real
            << "; " << res.metric << " of " << cfg.n_eval << " samples (SIMS: best over omega)\n"
            << "     |D_p|          ST-I        SIMS-I          ST-P        SIMS-P\n";
  for (size_t i = 0; i < res.curves[0].n_p.size(); ++i) {
    std::cout << "  " << std::setw(8) << static_cast<int64_t>(res.curves[0].n_p[i]);
    for (const auto& cv : res.curves) std::cout << "  " << std::setw(12) << num_ci(cv.fd[i], cv.fd_lo[i], cv.fd_hi[i]);
    std::cout << "   (omega " << res.curves[1].omega[i] << " / " << res.curves[3].omega[i] << ")\n";
  }
  std::cout << "  lower is better; 95 % normal bootstrap intervals over the scored samples (SIMS: the best omega's, "
               "chosen on the same samples, so slightly optimistic)\n"
            << "     |D_p|  precision / recall: higher is better; 95 % bootstrap over the points\n";
  for (size_t i = 0; i < res.curves[0].n_p.size(); ++i) {
    std::cout << "  " << std::setw(8) << static_cast<int64_t>(res.curves[0].n_p[i]);
    for (const auto& cv : res.curves)
      std::cout << "  " << std::setw(12) << num_ci(cv.precision[i], cv.precision_lo[i], cv.precision_hi[i], 2) << " /"
                << std::setw(12) << num_ci(cv.recall[i], cv.recall_lo[i], cv.recall_hi[i], 2);
    std::cout << "\n";
  }
  for (const auto& v : res.verdicts()) std::cout << "  verdict: " << v << "\n";
  std::cout << "  stages: " << res.stages_run << " run, " << res.stages_reused << " reused; " << num(res.seconds, 1)
            << " s\n";
  for (const auto& f : res.files) std::cout << "  -> " << f << "\n";
  return 0;
}

}  // namespace

void add_scenarios_command(CLI::App& app, Registry& reg) {
  auto a = std::make_shared<ScenarioArgs>();
  CLI::App* c = app.add_subcommand(
      "scenarios",
      "The SIMS paper's four scenarios on images (ST-I, SIMS-I, ST-P, SIMS-P; FD vs polluting synthetic data |D_p|), "
      "resumable run folder");
  input_path(c->add_option("--data", a->data, "real images D_r: an image data set spec (default faces; see sims data)"), InputKind::DataSpec);
  c->add_option("--data-seed", a->data_seed, "which built-in faces (default 0)");
  c->add_option("--n-real", a->n_real, "|D_r| (default 2000)");
  c->add_option("--pollution", a->pollution, "|D_p| values as multiples of --n-real (default 0,0.25,0.5,1)");
  c->add_option("--seed", a->seed, "random seed (training, sampling)");
  input_path(c->add_option("--base", a->base, "ST-I: a trained checkpoint (e.g. assets/models/faces-base.ckpt); default: trained here on D_r"));
  c->add_option("--base-images", a->base_images, "ST-I budget in images seen when trained here (default 20000)");
  c->add_option("--polluted-images", a->polluted_images, "ST-P budget in images seen (default 20000)");
  c->add_flag("--from-st-i", a->from_st_i, "ST-P fine-tunes ST-I (the paper's FFHQ protocol; cheaper) instead of training from scratch (CIFAR-10)");
  c->add_option("--n-aux", a->n_aux, "SIMS: |S|, base samples the auxiliary is fine-tuned on (default 1000)");
  c->add_option("--aux-images", a->aux_images, "SIMS: auxiliary fine-tuning budget in images seen (default 5000)");
  c->add_option("--omegas", a->omegas, "SIMS guidance values; SIMS-I/SIMS-P report the best (default 0.5,1,1.5)");
  c->add_option("--interval", a->interval, "SIMS guidance interval LO:HI in sigma (default 0:inf)");
  input_path(c->add_option("--net", a->net, "U-Net configuration JSON (default assets/networks/unet32.json fitted to the data; with --base its network)"));
  c->add_option("--batch", a->batch, "training batch (default 64)");
  c->add_option("--lr", a->lr, "Adam learning rate (default 1e-3)");
  c->add_option("--sampler", a->sampler, "heun | euler (default heun)");
  c->add_option("--steps", a->steps, "sampling steps (default 18)");
  c->add_option("--chunk", a->chunk, "samples per sampler call (default 250)");
  c->add_option("--n-eval", a->n_eval, "samples scored per model and omega (default 1000)");
  c->add_option("--n-ref", a->n_ref, "real reference images (default --n-eval)");
  input_path(c->add_option("--features", a->features, "feature network for FD_<net> (default assets/models/faces-cnn.ckpt)"), InputKind::NetSpec);
  input_path(c->add_option("--classifier", a->classifier, "attribute classifier (default: the feature net if it classifies; none)"), InputKind::NetSpec);
  c->add_option("--pr-k", a->pr_k, "k of precision/recall (default 5)");
  c->add_option("--keep", a->keep, "samples per row in samples.png (default 8)");
  c->add_option("--device", a->device, "cpu | cuda[:i] (default cpu)");
  c->add_option("--threads", a->threads, "CPU threads for LibTorch (0 = default)");
  output_folder(c->add_option("--out", a->out, "run folder (required): stages, results.{json,csv}, evaluations.csv, scenarios.png, samples.png"));
  c->add_flag("--json", a->json, "print one JSON object");
  reg.actions.push_back({c, [a] { return run_scenarios_command(*a); }});
}

void note_more_generations(const std::string& out, int64_t shown) {
  if (out.empty()) return;
  int64_t kept = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(out + "/stages", ec)) {
    const std::string n = e.path().filename().string();  // generation-0007.json
    const std::string prefix = "generation-", suffix = ".json";
    if (n.size() <= prefix.size() + suffix.size() || n.rfind(prefix, 0) != 0 ||
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string digits = n.substr(prefix.size(), n.size() - prefix.size() - suffix.size());
    if (digits.size() > 12 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    kept = std::max<int64_t>(kept, std::stoll(digits));
  }
  note_kept_generations(out, kept, shown);
}

void note_kept_generations(const std::string& out, int64_t kept, int64_t shown) {
  if (kept > shown)
    note_at_end("'" + message_text(out, 200) + "' holds " + std::to_string(kept) + " finished generations; this run "
                "shows the first " + std::to_string(shown) + " (the others are kept: --generations " +
                std::to_string(kept) + " shows them all)");
}

}  // namespace sims::cli
