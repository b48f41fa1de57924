// The SIMS paper's four training scenarios on images (Sec. 4.2.2, Fig. 5),
// plotted against the amount |D_p| of polluting synthetic data:
//   ST-I    standard training on the real set D_r (generation 1);
//   SIMS-I  SIMS on that base: S sampled from ST-I, the auxiliary = ST-I
//           fine-tuned on S, guided sampling D = (1+w) D_base - w D_aux;
//   ST-P    standard training on D_r ∪ D_p, where D_p are |D_p| images
//           sampled from ST-I (the polluted second generation);
//   SIMS-P  SIMS with ST-P as its base.
// Like the paper, SIMS-I and SIMS-P report their best FD over the ω values
// given (all are kept). ST-P is trained from scratch (the paper's CIFAR-10
// protocol) or, with polluted_from_st_i, fine-tuned from ST-I (the paper's
// FFHQ-64 protocol, much cheaper). |D_p| = 0 means no pollution: ST-P is then
// ST-I and SIMS-P is SIMS-I (the same models, not trained again). D_p of every
// size is a prefix of one synthetic pool, and every model is scored on
// samples from the same starting noise, so the curves differ by the models
// only.
//
// Run folder: one sub-folder per model stage: st-i/, sims-i/, pollution/,
// p-NNNNNN/{st-p,sims-p}/, each model's samples in <stage>/eval/; a
// done-marker per stage (stages/) with the key it was made with. Re-running
// reuses every finished stage (new |D_p| values or ω values only add stages;
// a larger |D_p| extends the pool without changing its first images) and
// continues a half-finished sampling stage chunk by chunk; changed settings
// are refused (experiment/run_folder.hpp). Results: results.json,
// results.csv (one row per |D_p|: FD per scenario), evaluations.csv (every
// model and ω), scenarios.png (FD vs |D_p|), samples.png.
#pragma once
#include <atomic>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiment/progress.hpp"
#include "experiment/settings.hpp"
#include "loops/image_loop.hpp"

namespace sims::loops {

struct ScenariosConfig {
  data::ImageDatasetSpec data;  // D_r: default built-in faces, 32x32
  uint64_t data_seed = 0;
  int64_t n_real = 2000;
  std::vector<double> pollution{0.0, 0.25, 0.5, 1.0};  // |D_p| as multiples of n_real
  uint64_t seed = 0;

  // ST-I: a given checkpoint (e.g. assets/models/faces-base.ckpt; the
  // network must equal `net`), or trained here on D_r for base_images.
  std::string base;
  int64_t base_images = 20000;
  // ST-P (and SIMS-P's base).
  int64_t polluted_images = 20000;
  bool polluted_from_st_i = false;

  // SIMS (both SIMS-I and SIMS-P).
  int64_t n_aux = 1000;
  int64_t aux_images = 5000;
  std::vector<double> omegas{0.5, 1.0, 1.5};
  double interval_lo = 0.0, interval_hi = std::numeric_limits<double>::infinity();

  NetConfig net;          // default_image_net()
  TrainConfig train;      // batch 64, lr 1e-3, ramp-up 2000
  SamplerConfig sampler;  // Heun, 18 steps
  int64_t chunk = 250;

  int64_t n_eval = 1000;  // samples per model and ω (same starting noise everywhere)
  int64_t n_ref = 0;      // real reference images (0: n_eval)
  std::string features;   // default_image_features()
  std::string classifier; // "" = the feature net if it classifies; "none"
  int64_t pr_k = 5;
  int64_t keep = 8;       // samples per row in samples.png

  ScenariosConfig();
  nlohmann::json to_json() const;
  static ScenariosConfig from_json(const nlohmann::json& j);  // throws InputError
};

// Throws InputError naming the offending setting.
void validate(const ScenariosConfig& cfg);

// |D_p| in images for each entry of cfg.pollution.
std::vector<int64_t> pollution_sizes(const ScenariosConfig& cfg);

// One evaluated model: a scenario at one |D_p| and ω.
struct ScenarioEval {
  std::string scenario;  // "ST-I", "SIMS-I", "ST-P", "SIMS-P"
  int64_t n_p = 0;
  double omega = 0;
  ImageScore score;
  bool reused = false;   // its samples came from an earlier run
};

// One point per pollution size: the scores (ImageScoreSeries; SIMS: those of the ω with the lowest FD) and where.
struct ScenarioCurve : ImageScoreSeries {
  std::string name;                // "ST-I", "SIMS-I", "ST-P", "SIMS-P"
  std::vector<double> n_p;         // |D_p| (images)
  std::vector<double> omega;       // the ω of each point (0 for standard training)
};

struct ScenariosResult {
  std::string metric, features;
  std::vector<std::string> attr_names;
  std::vector<double> real_ratio;
  int64_t n_real = 0;                 // the real reference's images (0: unknown)
  std::vector<ScenarioCurve> curves;  // ST-I, SIMS-I, ST-P, SIMS-P
  std::vector<ScenarioEval> evals;    // every model and ω
  int stages_reused = 0, stages_run = 0;
  double seconds = 0;
  std::vector<std::string> files;     // results written
  nlohmann::json to_json() const;
  std::string to_csv() const;         // one row per |D_p|
  std::string evals_csv() const;      // one row per evaluation
  // One line per comparison the paper makes (SIMS-I against ST-I; at the largest |D_p|, ST-P against ST-I and
  // SIMS-P against ST-P): which is lower, by how much, and whether beyond the 95 % intervals.
  std::vector<std::string> verdicts() const;
  // Whether the verdicts' differences are all paired (every score kept its resamples); results.json's "ci" says so.
  bool differences_paired() const;
};

struct ScenariosRunOptions {
  // The run folder (required; experiment/run_folder.hpp's rule: the same
  // settings continue; more |D_p| or ω values only add stages; other
  // changes are refused).
  std::string out_dir;
  const std::atomic<bool>* cancel = nullptr;  // throws sims::Cancelled; finished stages stay
  // Stage "ST-I", "SIMS-I", "pollution", "ST-P 500", "SIMS-P", "results".
  experiment::ProgressFn on_progress;
  std::function<void(const std::string&)> on_note;  // "reusing ST-I", ...
  c10::Device device = c10::Device(c10::kCPU);
  metrics::FeatureNetPtr features;  // preloaded nets (tests, GUIs)
  metrics::ClassifierPtr classifier;
};

ScenariosResult run_scenarios(const ScenariosConfig& cfg, const ScenariosRunOptions& run);

// The settings, declared once (`pollution`, `omegas` and `keep` may change
// when a run continues: they add stages or change only the figures).
const experiment::Schema<ScenariosConfig>& scenarios_schema();

// [SECTION] Figures (loops/scenarios_report.cpp) ----------------------------------
struct ScenarioSamplesRow {
  std::string label;
  at::Tensor images;  // [k, C, H, W]
};
// scenarios.png (FD vs |D_p|, one line per scenario) and samples.png (the
// rows given); returns the files written.
std::vector<std::string> write_scenarios_figures(const std::string& dir, const ScenariosConfig& cfg,
                                                 const ScenariosResult& res, const std::vector<ScenarioSamplesRow>& rows);

}  // namespace sims::loops
