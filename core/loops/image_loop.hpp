// Self-consuming loops of image diffusion models (U-Net, EDM; SIMS paper
// Sec. 4.2; MAD paper), standard or SIMS training, one model per generation.
//
// Generation 1 trains on D^1 = D_r, n_real real images. Generation t >= 2 on
//   fully-synthetic: the synthetic pool
//   augment:         D_r ∪ the synthetic pool
//   fresh:           n_real new real images ∪ the synthetic pool
// where the pool is D_s^{t-1} (replace) or D_s^1 ∪ ... ∪ D_s^{t-1} (accumulate).
// Per generation (Algorithm 1 for SIMS, Algorithm 2 for standard):
//   1. base model: trained on D^t for its budget (images seen), from random
//      weights (warm start "scratch", the papers' protocol; or from `init`
//      when given) or from the previous generation's base (warm start
//      "previous": a fine-tune, much cheaper, not the papers' protocol);
//   2. SIMS only: n_aux images S sampled from the base; the auxiliary = a copy
//      of the base fine-tuned on S for aux_images; S is then discarded;
//   3. max(n_synth, n_eval) images sampled with D = (1+w) D_base - w D_aux
//      inside the guidance interval (w = 0, base alone, for standard): the
//      first n_synth, clamped to [-1, 1] like saved images, are D_s^t; the
//      first n_eval are scored.
// Scores per generation, against a fixed set of n_ref real images (built-in
// faces: images no generation trains on; a data set on disk: its first
// n_ref images, the usual FID convention of scoring against the training
// set): FD_<net> (Fréchet distance of feature statistics; the project's faces
// CNN by default), improved precision/recall in feature space (k = pr_k) and
// the share of each classifier attribute (the faces CNN's group/smile/glasses).
//
// Every random draw (initial weights, batches, dropout, sampling noise) comes
// from a seed derived from (seed, generation, role), and each stage's output
// is written to the run folder before the next stage reads it back, so a loop
// stopped anywhere and resumed equals an uninterrupted one (on the same
// machine and thread count): a finished stage of the unfinished generation
// (base, S, aux, samples in chunks) is reused, an unfinished training stage
// restarts.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <limits>
#include <string>
#include <vector>

#include <ATen/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include "data/image_datasets.hpp"
#include "diffusion/network.hpp"
#include "loops/diffusion_loop.hpp"
#include "loops/gaussian_loop.hpp"
#include "metrics/features.hpp"
#include "metrics/frechet.hpp"
#include "metrics/kid.hpp"
#include "metrics/uncertainty.hpp"
#include "render/canvas.hpp"
#include "sampling/edm_sampler.hpp"
#include "sampling/schedule.hpp"
#include "training/checkpoint.hpp"

namespace sims::loops {

// The project's shipped faces CNN (FD features and attribute classifier).
std::string default_image_features();
// assets/networks/unet32.json: the small CPU U-Net (0.28 M parameters).
NetConfig default_image_net();

struct ImageLoopConfig {
  data::ImageDatasetSpec data;  // default: built-in faces, 32x32 RGB
  uint64_t data_seed = 0;       // built-in faces: which faces (the shipped faces models used seed 0)
  LoopKind kind = LoopKind::Augment;
  bool accumulate = false;      // pool: all previous synthetic sets (true) or only the last
  int64_t n_real = 2000;
  int64_t n_synth = 1000;       // |D_s| per generation
  int64_t generations = 5;
  uint64_t seed = 0;
  LoopAlgorithm algorithm = LoopAlgorithm::Standard;
  double omega = 1.0;           // SIMS guidance (the paper's image optima: 0.7-1.5)
  double interval_lo = 0.0, interval_hi = std::numeric_limits<double>::infinity();
  int64_t n_aux = 1000;         // |S|

  // Training budgets in images seen. *_epochs > 0 replaces *_images with
  // epochs x (the training set's size).
  int64_t base_images = 20000;
  double base_epochs = 0;
  int64_t first_images = -1;    // generation 1's base budget; -1: as the others; 0: `init` as it is
  int64_t aux_images = 5000;
  double aux_epochs = 0;
  WarmStart warm_start = WarmStart::Scratch;
  std::string init;             // optional checkpoint the first (scratch: every) base starts from

  NetConfig net;                // U-Net; channels and resolution must match the data
  TrainConfig train;            // batch, lr, ramp-up, EMA (budget and seed are set per stage)
  SamplerConfig sampler;        // Heun, 18 steps (no churn)
  int64_t chunk = 250;          // images per sampler call

  int64_t n_eval = 1000;        // generated images scored per generation
  int64_t n_ref = 0;            // real reference images (0: n_eval)
  std::string features;         // feature-net spec for FD (default: default_image_features())
  std::string classifier;       // attribute classifier spec; "" = the feature net if it classifies; "none"
  int64_t pr_k = 5;
  int64_t save_images = 64;     // per generation: samples/gen-NNNN.{npy,png}
  bool keep_models = false;     // models/gen-NNNN-{base,aux}.ckpt

  ImageLoopConfig();  // the defaults above; net = default_image_net(); batch 64, lr 1e-3, ramp-up 2000
  nlohmann::json to_json() const;
  static ImageLoopConfig from_json(const nlohmann::json& j);  // throws InputError
};

// Throws InputError naming the offending setting (numbers only; files are
// checked when the loop starts).
void validate(const ImageLoopConfig& cfg);

// Base budget of generation t for a training set of n_data images.
int64_t base_budget(const ImageLoopConfig& cfg, int64_t t, int64_t n_data);

// Subsets of a score's KID.
constexpr int kScoreKidSubsets = 100;
// Disjoint subsets of KID's interval (at least; metrics::kKidIntervalMethod says how it is made).
constexpr int kKidBlocks = metrics::kKidIntervalBlocks;

// Scores of one set of generated images.
struct ImageScore {
  double fd = std::numeric_limits<double>::quiet_NaN();  // inf when samples diverged
  // 95 % normal bootstrap interval of fd over the scored images (metrics/uncertainty.hpp); NaN when not computed
  // (older run folders).
  double fd_lo = std::numeric_limits<double>::quiet_NaN(), fd_hi = std::numeric_limits<double>::quiet_NaN();
  // KID (unbiased MMD², cubic kernel) in the same features: mean and standard deviation over kScoreKidSubsets
  // subsets (subsets of the same two sets: kid_std is not the estimate's noise, and NaN where they are all alike).
  double kid = std::numeric_limits<double>::quiet_NaN(), kid_std = std::numeric_limits<double>::quiet_NaN();
  // KID's 95 % interval: kid ± the half-width of the Student t interval over at least kKidBlocks disjoint subsets
  // of the rows (metrics::kid_blocks, KidBlocks::around). NaN below 2 rows per subset, and in older run folders.
  double kid_lo = std::numeric_limits<double>::quiet_NaN(), kid_hi = std::numeric_limits<double>::quiet_NaN();
  double precision = std::numeric_limits<double>::quiet_NaN();
  double recall = std::numeric_limits<double>::quiet_NaN();
  // 95 % percentile bootstrap intervals of precision (over the generated points) and recall (over the real ones),
  // the k-NN balls held fixed (metrics::manifold_estimates); NaN in older run folders.
  double precision_lo = std::numeric_limits<double>::quiet_NaN(), precision_hi = std::numeric_limits<double>::quiet_NaN();
  double recall_lo = std::numeric_limits<double>::quiet_NaN(), recall_hi = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> ratio;  // per classifier attribute
  // fd on each resample of fd's bootstrap: every score of as many images draws the same resampled indices, so two
  // scores' replicates pair up (fd_change). Empty when not computed (older run folders).
  std::vector<double> fd_replicates;
  int64_t fd_n = 0;  // images scored (resample k pairs only between scores of as many); 0 when not recorded
  metrics::Estimate fd_estimate() const;
  // fd_lo, fd_hi, kid, kid_std, kid_lo/hi, precision_lo/hi, recall_lo/hi, fd_replicates into a stage record (finite numbers
  // or the setting encoding), and back (absent: NaN, or no replicates; damaged: InputError).
  void put_uncertainty(nlohmann::json& j) const;
  void get_uncertainty(const nlohmann::json& j);
};

// to.fd - from.fd with its 95 % interval: paired over the same bootstrap resamples where both scores have their
// replicates of as many images (method "paired bootstrap"), else the two intervals' half-widths in quadrature. Pairing is what the
// design calls for where sample i of both sets starts from the same noise (the scenarios' models).
metrics::Estimate fd_change(const ImageScore& from, const ImageScore& to);

// How fd_change's intervals were made, for a result's notes: `paired` when every difference shown was paired.
// (An image loop's drift verdict stays in quadrature: each generation samples from its own noise.)
std::string fd_change_method(bool paired);

// A series of image scores, one per point (a generation, a pollution size), as parallel arrays.
struct ImageScoreSeries {
  std::vector<double> fd;
  std::vector<double> fd_lo, fd_hi;      // 95 % bootstrap interval of fd over the scored samples
  std::vector<double> kid, kid_std;      // KID in the same features (mean, sd over subsets)
  std::vector<double> kid_lo, kid_hi;    // its 95 % interval from disjoint subsets (NaN: none)
  std::vector<double> precision, recall;
  std::vector<double> precision_lo, precision_hi, recall_lo, recall_hi;  // 95 % bootstrap over the points
  std::vector<std::vector<double>> fd_replicates;                     // ImageScore::fd_replicates (not in put_arrays)
  std::vector<int64_t> fd_n;                                          // ImageScore::fd_n
  // Appends one point's FD, KID, precision and recall with their intervals (not the attribute shares).
  void push_score(const ImageScore& s);
  // Point i's FD with its interval and replicates (what fd_change needs).
  ImageScore fd_score(size_t i) const;
  // The arrays into `j` under their member names (non-finite values as null).
  void put_arrays(nlohmann::json& j) const;
};

struct ImageLoopResult : ImageScoreSeries {
  std::string metric;                    // "FD_<net>"
  std::string features;                  // the feature network's name
  std::vector<std::string> attr_names;   // classifier attributes (empty without one)
  std::vector<double> real_ratio;        // attribute shares of the real reference (classifier-labelled)
  int64_t n_real = 0;                    // the real reference's images (the shares' Wilson intervals; 0: unknown)
  // One value per finished generation (index 0 = generation 1) here and in ImageScoreSeries.
  std::vector<double> ratio;             // ratio = fd[t] / fd[0]
  // ratio's 95 % interval: Fieller's, every r with (fd_t - r fd_1)² <= h_t² + r² h_1², h the FD intervals'
  // half-widths (each generation samples from its own noise: independent scores); it holds 1 exactly when the
  // verdict's change holds 0. [1, 1] for generation 1 (by definition), NaN where an FD has no interval or
  // generation 1's interval reaches 0.
  std::vector<double> ratio_lo, ratio_hi;
  int64_t n_scored = 0;  // images scored per generation (the settings' n_eval), for records without their count
  std::vector<std::vector<double>> attr_ratio;  // [generation][attribute]
  std::vector<double> fd_base;           // SIMS: FD of the base's samples S (first min(n_aux, n_eval)); empty otherwise
  std::vector<double> fd_base_lo, fd_base_hi;  // its 95 % bootstrap interval (NaN: a record of an older version)
  std::vector<double> train_images;      // base images seen per generation
  std::vector<double> seconds;
  int resumed_from = 0;
  nlohmann::json to_json() const;  // with "verdict"
  // Generation g's share of attribute k with its 95 % Wilson interval over the fd_n[g] images scored (n_scored
  // where a record has no count; no interval where neither is known).
  metrics::Estimate share(size_t g, size_t k) const;
  // ratio and its interval from fd (finish of every generation).
  void set_ratios();
  // The last generation's FD against the first's (loops/loop_verdict.hpp); empty without generations.
  std::string verdict() const;
};

struct ImageLoopRunOptions {
  // The run folder (required; experiment/run_folder.hpp's rule: the same
  // settings continue, `generations` may change, other changes are refused).
  std::string out_dir;
  const std::atomic<bool>* cancel = nullptr;  // throws sims::Cancelled; finished stages stay saved
  // Stage "generation t/G: train base" etc. (done/total: generations in
  // thousandths); a finished generation's update carries its row (generation,
  // fd, ratio, precision, recall, attr_ratio, fd_base, train_images, seconds)
  // and its saved samples.
  experiment::ProgressFn on_progress;
  c10::Device device = c10::Device(c10::kCPU);  // training and sampling (CUDA: up to float rounding)
  // Tests and GUIs may hand in loaded networks; the specs then only name them.
  metrics::FeatureNetPtr features;
  metrics::ClassifierPtr classifier;
};

// Runs (or continues) the loop. Run folder: run.json; per generation
// samples/gen-NNNN.npy (first save_images samples, float32) and .png, and
// samples/overview.png (the first 8 of every generation, a row each);
// metrics.json and metrics.csv; state/pool-NNNN.npy and, for warm start
// "previous", state/base-NNNN.ckpt; the done-marker
// stages/generation-NNNN.json (the commit point); state/gen-NNNN/ holds the
// finished stages of the generation in progress (base, S, aux, samples).
ImageLoopResult run_image_loop(const ImageLoopConfig& cfg, const ImageLoopRunOptions& run);

// The configuration stored in a run folder (DIR/run.json; DIR/config.json of older folders).
ImageLoopConfig load_image_loop_config(const std::string& dir);

// The settings, declared once (`generations`, `save_images` and `keep_models`
// may change when a run continues).
const experiment::Schema<ImageLoopConfig>& image_loop_schema();

// [SECTION] Building blocks (shared with loops/scenarios.hpp) --------------------

// Real images for FD: the reference set, fixed for a data set and seed.
// Built-in faces: n faces that no loop generation trains on; on disk: the
// first n images.
at::Tensor image_reference(const data::ImageDatasetSpec& spec, int64_t n, uint64_t data_seed);

// n real training images starting at image `first` (built-in faces are
// rendered; a data set on disk must hold first + n images).
at::Tensor real_images(const data::ImageDatasetSpec& spec, int64_t first, int64_t n, uint64_t data_seed);

// FD, precision/recall and attribute shares of generated images against a
// fixed real reference (features computed once).
class ImageScorer {
 public:
  ImageScorer(metrics::FeatureNetPtr features, metrics::ClassifierPtr classifier, const at::Tensor& reference,
              int64_t pr_k, const std::atomic<bool>* cancel = nullptr);
  // images [N,C,H,W]; clamped to [-1,1]. FD with its bootstrap interval (100 resamples, kept as fd_replicates),
  // KID (100 subsets), precision/recall, attribute shares.
  ImageScore score(const at::Tensor& images) const;
  std::string metric() const { return "FD_" + features_->name(); }
  std::string features_name() const { return features_->name(); }
  const std::vector<std::string>& attr_names() const { return attr_names_; }
  const std::vector<double>& real_ratio() const { return real_ratio_; }
  int64_t n_real() const { return ref_features_.size(0); }

 private:
  metrics::FeatureNetPtr features_;
  metrics::ClassifierPtr classifier_;
  at::Tensor ref_features_;
  metrics::GaussianStats ref_stats_;
  std::vector<std::string> attr_names_;
  std::vector<double> real_ratio_;
  int64_t pr_k_;
  const std::atomic<bool>* cancel_;
};

// Throws InputError when the images x [N, ...] of `data` are not of `shape`.
void check_image_shape(const at::Tensor& x, const std::vector<int64_t>& shape, const data::ImageDatasetSpec& data);

// The scorer of an image experiment: the feature net and classifier
// (preloaded, else from their specs; see resolve_scoring_nets) against the
// real reference of `data` (n_ref images; checked against `shape`).
std::unique_ptr<ImageScorer> make_image_scorer(const std::string& features_spec, const std::string& classifier_spec,
                                               metrics::FeatureNetPtr features, metrics::ClassifierPtr classifier,
                                               const data::ImageDatasetSpec& data, int64_t n_ref, uint64_t data_seed,
                                               int64_t pr_k, const std::vector<int64_t>& shape,
                                               const std::atomic<bool>* cancel);

// The scorer's names in a result (metric, features, attr_names, real_ratio and the reference's size).
template <class R>
void set_score_names(R& res, const ImageScorer& scorer) {
  res.metric = scorer.metric();
  res.features = scorer.features_name();
  res.attr_names = scorer.attr_names();
  res.real_ratio = scorer.real_ratio();
  res.n_real = scorer.n_real();
}

// The real reference's share of attribute k with its 95 % Wilson interval over its n_real images (none where n_real
// is 0: a result of an older version).
metrics::Estimate real_share(const std::vector<double>& real_ratio, int64_t n_real, size_t k);
// Those shares into j: "real_ratio", "real_ratio_lo", "real_ratio_hi", "n_real_images" (null where not finite).
void put_real_shares(nlohmann::json& j, const std::vector<double>& real_ratio, int64_t n_real);

// The feature net (spec or preloaded) and the classifier: classifier_spec ""
// uses the feature net when it is a classifier, "none" disables ratios.
void resolve_scoring_nets(const std::string& features_spec, const std::string& classifier_spec,
                          metrics::FeatureNetPtr& features, metrics::ClassifierPtr& classifier);

// One training stage: trains `st` on `data` for its budget (global RNG, used
// by dropout, seeded from dropout_seed first) and writes it to `path`
// atomically. Cancelling throws sims::Cancelled and writes nothing.
void train_stage(TrainState& st, const at::Tensor& data, uint64_t dropout_seed, const std::string& path,
                 c10::Device device, const std::atomic<bool>* cancel,
                 const std::function<void(int64_t seen, int64_t budget)>& progress);

// n samples of base (guided by aux when given) into out_npy, in chunks of
// `chunk` that resume after an interruption; returns them (float32 CPU,
// clamped to [-1,1] when `clamp`).
at::Tensor sample_stage(const std::string& base_ckpt, const std::string& aux_ckpt, int64_t n, uint64_t seed,
                        const SamplerConfig& sampler, const Guidance& guidance, int64_t chunk,
                        const std::string& out_npy, c10::Device device, const std::atomic<bool>* cancel,
                        const std::function<void(int64_t done, int64_t total)>& progress, bool clamp = true);

// Writes a labelled grid (render::compose_grid) as PNG, without its title
// when the grid is narrower than the title (small images).
void write_grid_png(render::GridFigure fig, const std::string& path, const std::string& caption = "");

}  // namespace sims::loops
