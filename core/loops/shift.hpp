// Distribution shifting with SIMS (SIMS paper Sec. 4.3, Fig. 6): move the
// share of an attribute among a base model's samples towards a target share
// while self-improving it.
//
//   1. sample the base model (chunked, resumable, in rounds);
//   2. label the samples with an attribute classifier;
//   3. build the auxiliary set with the COMPLEMENT of the target share
//      (target 70 % attr = 1 -> aux set 30 % attr = 1, 70 % attr = 0), sampling
//      more rounds when one group is short;
//   4. fine-tune a copy of the base on it (the auxiliary model);
//   5. sweep the guidance ω of D = (1+ω) D_base − ω D_aux: share of the
//      attribute, FD_<net> overall (vs the real set and vs the real set
//      re-balanced to the target share) and per group (generated images the
//      classifier puts in a group vs the real images of that group).
//
// Everything lives in one run folder, stage by stage:
//   run.json, stages/               the settings; each stage's done-marker and key
//   synth/round-NNN.npy (+ -labels.npy)   base samples and their labels
//   aux_set.npy, aux_set.json       the auxiliary set and its counts
//   aux.ckpt                        the auxiliary model
//   eval/omega_W.json (+ .npy)      one finished ω row (its first samples)
//   results.csv, results.json, shift.png, samples.png
// A finished stage is reused and a half-finished one continues (sampling
// chunks, training from its checkpoint, ω rows); changed settings, or inputs
// changed on disk, are refused (experiment/run_folder.hpp). Cancelling (the
// flag) throws sims::Cancelled with everything finished so far kept; the
// same call continues.
// GUI-free: the CLI (`sims shift`) and the studio call run_shift.
#pragma once
#include <atomic>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiment/progress.hpp"
#include "experiment/settings.hpp"
#include "metrics/features.hpp"
#include "metrics/uncertainty.hpp"
#include "sampling/schedule.hpp"
#include "training/checkpoint.hpp"

namespace sims::loops {

struct ShiftConfig {
  // Inputs. The base must be a sims checkpoint of an image model (it is fine-tuned).
  std::string base;              // checkpoint path
  std::string classifier;        // classifier spec (metrics::load_classifier)
  std::string features;          // feature-net spec for FD; empty: the classifier's spec
  std::string attribute = "group";
  double target = 0.7;           // wanted share of attribute = 1, in (0, 1)
  // Real images for FD: an image data set spec (data/image_datasets.hpp);
  // empty: the base's own training set when its checkpoint names one.
  std::string real_data;
  int64_t n_real = 2000;
  uint64_t real_seed = 12345;

  // Stages 1-3: the auxiliary set.
  int64_t n_aux = 1000;          // images in the auxiliary set
  int64_t n_sample = 0;          // first round of base samples (0: n_aux)
  int64_t max_samples = 0;       // give up beyond this many base samples (0: 20 x n_aux)
  int64_t chunk = 250;           // samples per sampler call / file append
  uint64_t seed = 0;             // base samples (round r, chunk k draw from their own seeds)
  SamplerConfig sampler;         // for the base samples (default Heun, 18 steps)

  // Stage 4: fine-tuning (budget, batch, lr, EMA, seed; like `sims finetune`).
  TrainConfig finetune;

  // Stage 5: the ω sweep.
  std::vector<double> omegas{0.0, 0.5, 1.0, 1.5, 2.0, 3.0};
  int64_t n_eval = 500;          // samples per ω (the same starting noise for every ω)
  uint64_t eval_seed = 1;
  SamplerConfig eval_sampler;
  double interval_lo = 0.0, interval_hi = std::numeric_limits<double>::infinity();
  int64_t batch = 250;           // images per sampler / network call in the sweep
  int64_t pr_k = 5;
  int64_t keep = 8;              // images per ω in samples.png

  ShiftConfig();                 // fine-tune defaults: 20000 images, batch 64, lr 1e-3, seed 3
  nlohmann::json to_json() const;
  static ShiftConfig from_json(const nlohmann::json& j);  // throws InputError
};

// Checks the numbers (not the files); throws InputError naming the setting.
void validate(const ShiftConfig& cfg);

struct ShiftRunOptions {
  // The run folder (required; experiment/run_folder.hpp's rule: the same
  // settings continue, more ω values add rows, other changes are refused).
  std::string out_dir;
  const std::atomic<bool>* cancel = nullptr;  // throws sims::Cancelled; finished work stays
  // Stage "sample", "label", "select", "finetune", "sweep", "write"; each
  // finished ω row comes with its update (row: ShiftRow::to_json, samples: kept).
  experiment::ProgressFn on_progress;
  // Called once per stage that is reused or redone, e.g. "reusing the auxiliary set".
  std::function<void(const std::string&)> on_note;
  // Tests and GUIs may hand in loaded networks; the specs then only name them
  // (their name() joins the stage keys in place of a file fingerprint).
  metrics::ClassifierPtr classifier;
  metrics::FeatureNetPtr features;
  c10::Device device = c10::Device(c10::kCPU);  // fine-tuning
};

struct ShiftRow {
  double omega = 0;
  double share = std::numeric_limits<double>::quiet_NaN();       // of attribute = 1
  int64_t n1 = 0, n0 = 0;                                         // generated images per group
  double fd = std::numeric_limits<double>::quiet_NaN();          // vs the real set as given
  double fd_target = std::numeric_limits<double>::quiet_NaN();   // vs the real set at the target share
  double fd1 = std::numeric_limits<double>::quiet_NaN();         // group 1 vs real group 1
  double fd0 = std::numeric_limits<double>::quiet_NaN();         // group 0 vs real group 0
  double precision = std::numeric_limits<double>::quiet_NaN();
  double recall = std::numeric_limits<double>::quiet_NaN();
  // KID of all samples against the real images as given (mean, sd over subsets).
  double kid = std::numeric_limits<double>::quiet_NaN(), kid_std = std::numeric_limits<double>::quiet_NaN();
  // 95 % intervals, key -> (lo, hi), absent in older run folders: normal bootstrap over the samples (per group:
  // over that group's samples) of "fd", "fd_target", "fd1", "fd0"; percentile bootstrap over the points of
  // "precision" and "recall" (metrics::manifold_estimates); of "kid", kid ± the half-width of a Student t
  // interval over at least 10 disjoint subsets (metrics::KidBlocks::around; none below 20 samples).
  std::map<std::string, std::pair<double, double>> ci;
  int nfe = 0;
  double seconds = 0;
  bool reused = false;   // read back from the run folder
  at::Tensor kept;       // first `keep` samples
  // The classifier's group of every generated sample, '1' or '0', in sample order: sample i of every row starts
  // from the same noise, so two rows' groups pair up (shift_change). Empty in older run folders.
  std::string groups;
  // FD ("fd") on each of the bootstrap resamples of the samples, in resample order: every row draws the same
  // sample indices (same n_eval, same seed), so two rows' FDs pair up (shift_fd_change). Empty in older folders.
  std::vector<double> fd_replicates;
  // The same for "fd_target" (all samples against the real set at the target mix; same resamples). The per-group
  // FDs keep none: a group holds other samples at each omega, so those never pair.
  std::vector<double> fd_target_replicates;
  // With share_lo/share_hi: the 95 % Wilson interval of n1 / (n1 + n0); `groups` and the replicates for the
  // stage record and results.json (not for progress updates).
  nlohmann::json to_json(bool with_groups = false) const;
  static ShiftRow from_json(const nlohmann::json& j);  // throws InputError for damaged groups, counts, replicates
  // The value of "fd", "fd_target", "fd1", "fd0", "precision" or "recall" with its interval (none when not
  // computed).
  metrics::Estimate estimate(const std::string& key) const;
  static const std::vector<std::string>& fd_keys();
  static const std::vector<std::string>& interval_keys();  // fd_keys() and precision, recall, kid
};

// The share's change from `from` to `to` (to's share - from's), paired sample by sample over their `groups` (the
// same noise): the 95 % Bonett-Price adjusted Wald interval for paired proportions. No interval (NaN bounds) when
// the groups do not pair up (older folders, other sample counts).
metrics::Estimate shift_change(const ShiftRow& from, const ShiftRow& to);
// FD's change from `from` to `to` (to's - from's; lower is better): paired over the same bootstrap resamples of
// the same noise where both rows kept their replicates of as many samples, else half-widths in quadrature. `key`:
// "fd" (against the real images as given) or "fd_target" (against the real set at the target mix).
metrics::Estimate shift_fd_change(const ShiftRow& from, const ShiftRow& to, const std::string& key = "fd");
// Such a change as the verdict and the studio write it, to its interval's precision: "-3.1 ± 1.2, paired" (or "in
// quadrature").
std::string fd_change_text(const metrics::Estimate& d);
// A change of share as the verdict and the studio write it: "+7.2 points [+4.8, +9.5]".
std::string share_change_text(const metrics::Estimate& change);

struct ShiftResult;
// The rows the verdict compares: ω = 0, and the other ω whose share is closest to the target (rows without
// labelled samples or without a share are left out); nullptr where there is none.
const ShiftRow* shift_base_row(const ShiftResult& r);
const ShiftRow* shift_closest_row(const ShiftResult& r);

// One line on the shift: the ω whose share is closest to the target, against
// ω = 0, with 95 % Wilson intervals, and whether the move is beyond noise:
// the paired interval of the change excludes 0 (shift_change), or, for rows
// without their groups, the two Wilson intervals do not overlap.
std::string shift_verdict(const ShiftResult& r);

struct ShiftResult {
  std::string attribute, features;        // features: the FD network's name
  double target = 0;
  // The auxiliary set.
  int64_t n_pool = 0, pool1 = 0;          // base samples drawn and those with attribute = 1
  int rounds = 0;
  int64_t aux1 = 0, aux0 = 0;             // auxiliary set per group
  // Real reference per group (n_real1 + n_real0 = n_real) and how the groups were known.
  int64_t n_real1 = 0, n_real0 = 0;
  std::string real_labels;                // "data" (known attributes) or "classifier"
  std::vector<ShiftRow> rows;             // in the order of cfg.omegas
  bool synth_reused = false, aux_reused = false;
  double finetune_loss = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0;
  std::vector<std::string> files;         // written this call (results, plots)
  nlohmann::json to_json() const;
  std::string to_csv() const;
};

// Runs (or continues) the recipe in opts.out_dir. Throws InputError on bad
// settings or inputs (unknown attribute, target outside (0,1), a classifier
// without the attribute, a base that is not an image checkpoint, real images
// of another shape, a base that makes too few images of a group),
// Cancelled when cancelled.
ShiftResult run_shift(const ShiftConfig& cfg, const ShiftRunOptions& opts);

// A shift run folder read back: finished (results.json) or, for a run in
// progress or stopped, its settings, auxiliary set and finished ω rows
// (rows sorted by ω; kept samples not loaded).
struct ShiftFolder {
  ShiftResult result;
  nlohmann::json config;   // the run's settings (null when unknown)
  std::string classifier;  // the classifier's name, when known
  bool finished = false;
};
// Reads new and older run folders; throws InputError naming what is wrong.
ShiftFolder read_shift_folder(const std::string& dir);

// The settings, declared once (`omegas` may change when a run continues).
const experiment::Schema<ShiftConfig>& shift_schema();

// shift.png and samples.png from the results (loops/shift_report.cpp).
// What produced a run's figures, for the caption under each: the base, the auxiliary's data, the interval,
// sampler, steps and seed of the ω sweep, its samples per ω, the target and the aux set's size.
std::string shift_caption(const ShiftConfig& cfg);
void write_shift_figures(const std::string& dir, const ShiftConfig& cfg, const ShiftResult& res,
                         const std::string& classifier, const std::vector<int64_t>& shape);

}  // namespace sims::loops
