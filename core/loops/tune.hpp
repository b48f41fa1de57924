// `sims tune`: SIMS Algorithm 1's own search for the auxiliary's training
// budget B and the guidance weight ω (the SIMS paper reports the best FID over
// both). In a run folder (experiment/run_folder.hpp's rule):
//   synth      the base's synthetic set (training/synth.hpp), n_synth samples
//   aux-B      the auxiliary fine-tuned from the base on it, one checkpoint per
//              budget B (aux-B.ckpt; each continues the previous one)
//   grid/      a sweep (metrics/sweep_run.hpp) of every (B, ω) from the same
//              starting noise, scored against held-out real data with
//              bootstrap intervals
//   choice     the best (B, ω), its gain over ω = 0 with an interval and
//              whether it is significant; aux.ckpt is the chosen auxiliary.
// Given auxiliary files (aux_snapshots) replace the first two stages.
// Lower is better for the metric (W2 for points, FD for images).
#pragma once
#include <atomic>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include "experiment/progress.hpp"
#include "metrics/sweep.hpp"
#include "metrics/uncertainty.hpp"
#include "training/checkpoint.hpp"

namespace sims::dist {
class Group;
}

namespace sims::loops {

struct TuneConfig {
  std::string base;                         // the base checkpoint (fine-tuned into the auxiliary)
  std::vector<std::string> aux_snapshots;   // given auxiliaries instead of fine-tuning
  int64_t n_synth = 2000;                   // base samples the auxiliary is fine-tuned on
  uint64_t synth_seed = 1;
  int64_t chunk = 4096;
  std::vector<int64_t> budgets{2000, 5000, 10000, 20000};  // auxiliary snapshots, images seen
  TrainConfig finetune;                     // its budget is the largest of `budgets`
  metrics::SweepConfig sweep;               // ω grid (with 0), n, seed, sampler, ci
};

// Throws InputError naming the flag when a setting is out of range.
void validate(const TuneConfig& cfg);

struct TuneChoice {
  std::string aux;        // the chosen auxiliary's label ("B=5000" or a file name)
  int64_t budget = 0;     // 0 for a given auxiliary
  double omega = 0;
  metrics::Estimate value, zero, gain;  // gain = zero - value: > 0 means SIMS is better
  bool significant = false;             // a gain the metric can see (metrics::visible_gain)
  std::string metric;
  std::string verdict;                  // one line for people
  std::string lowest_aux;               // the row with the lowest value (the paper's "best FID"), for reference
  double lowest_omega = 0;
  nlohmann::json to_json() const;
};

// The chosen row of a grid and its gain over the ω = 0 row: the row whose
// gain has the highest lower bound (the surest gain; the lowest value alone
// favours the noisiest rows, whose gain shrinks on fresh data), or the lowest
// value where there are no intervals. `budgets` maps auxiliary labels to
// their budgets.
TuneChoice choose_best(const metrics::SweepResult& grid, const std::map<std::string, int64_t>& budgets);

struct TuneResult {
  metrics::SweepResult grid;
  TuneChoice choice;
  std::vector<std::string> aux_labels;   // grid order
  std::vector<int64_t> aux_budgets;      // 0 for given files
  std::string chosen_path;               // aux.ckpt in the folder, or the given file
  nlohmann::json to_json() const;
};

struct TuneRunOptions {
  std::string out_dir;                        // the run folder (required)
  nlohmann::json inputs;                      // the base model, reference and feature net, by content (the face builds it)
  const std::atomic<bool>* cancel = nullptr;
  c10::Device device = c10::Device(c10::kCPU);  // fine-tuning
  experiment::ProgressFn on_progress;         // stages "synth", "finetune", "sweep"
  // A job of several processes (dist/group.hpp; null: this process alone):
  // the synthetic set's chunks, the fine-tuning (data-parallel) and the grid's
  // rows are shared; rank 0 alone writes the run folder and returns the
  // result (the other ranks return an empty one).
  std::shared_ptr<dist::Group> group;
};

// The file beside a tuned auxiliary (AUX minus its extension + ".tune.json":
// aux.ckpt -> aux.tune.json) that says how it was chosen: the ω, the budget,
// the gain over ω = 0 with its interval, the floor and the verdict, and how
// that was measured. `sims tune` writes it next to aux.ckpt; faces that load
// the auxiliary start at the tuned ω and say what it gained.
std::string tuned_pair_path(const std::string& aux_path);

struct TunedPair {
  double omega = 0;
  int64_t budget = 0;
  std::string metric;
  metrics::Estimate zero, value, gain, floor;
  bool significant = false;  // a gain the metric can see (judged again on reading, metrics::visible_gain)
  std::string verdict;
  int steps = 0;        // sampler steps of the measurement
  int64_t n = 0;        // samples per (B, ω)
  std::string real;     // what it was scored against
  nlohmann::json to_json() const;
  // The verdict in this version's words, rebuilt from the stored numbers (values to their interval's precision;
  // a file written by an older version keeps its own text in `verdict`), and where it was measured: "SIMS lowers
  // energy by 0.0015 ± 0.0007 at omega = 0.5 with the auxiliary fine-tuned for 20000 samples seen (0.0037 ->
  // 0.0021); 95 % interval, lower is better (sims tune: 4000 samples per omega, held-out real data gaussian ...)".
  std::string summary() const;
};

// The tuned-pair file of `aux_path`; nullopt when there is none. Throws
// InputError naming the file when it exists but cannot be read.
std::optional<TunedPair> read_tuned_pair(const std::string& aux_path);

// base: the base model (its checkpoint is cfg.base unless auxiliaries are
// given). ref/features as for metrics::run_sweep (held-out real data).
TuneResult run_tune(const DenoiserPtr& base, const TuneConfig& cfg, metrics::SweepReference& ref,
                    metrics::FeatureNet* features, const TuneRunOptions& opts);

}  // namespace sims::loops
