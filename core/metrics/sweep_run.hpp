// `sims sweep` as a long command in a run folder (experiment/run_folder.hpp):
// every (aux, interval, ω) row is a stage - its kept samples
// (rows/NAME.npy), then its done-marker holding the row - so a stopped sweep
// continues with the rows it has not finished, the same command finds
// nothing to do, more ω values or intervals only add rows, and other
// settings are refused. The rows equal run_sweep's: each row samples from the
// same starting noise whichever rows ran before it.
#pragma once
#include <atomic>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "experiment/progress.hpp"
#include "metrics/sweep.hpp"

namespace sims::dist {
class Group;
}

namespace sims::metrics {

struct SweepRunOptions {
  std::string out_dir;  // the run folder (required)
  // What the rows depend on besides cfg's numbers: the models by content,
  // the reference, the feature network ... (the face builds it). The grid
  // itself (omegas, intervals, which auxiliaries) and `keep` may change.
  nlohmann::json inputs;
  const std::atomic<bool>* cancel = nullptr;
  // Stage "sweep"; done/total count rows; a finished row comes with its
  // update (row: SweepRow::to_json, samples: its kept samples).
  experiment::ProgressFn on_progress;
  // A job of several processes (dist/group.hpp; null: this process alone):
  // the unfinished rows are shared out, rank 0 writes them and returns the
  // result; the other ranks return an empty one.
  std::shared_ptr<dist::Group> group;
};

// The auxiliaries' labels for the files at `paths` (rows, run-folder stages, plots), as sims sweep and sims tune
// --aux-snapshots name them: their file names, with as many of their real parent folders as it takes to tell them
// apart (runA/aux.ckpt and runB/aux.ckpt; "..", "." and links resolved, so relative and absolute spellings agree);
// still the same as a stage's file name ("aux 1.pt", "aux_1.pt"): numbered (-2, -3 ...). The same file given twice
// is an InputError.
std::vector<std::string> aux_labels(const std::vector<std::string>& paths);

// The settings as stored in run.json: cfg's numbers, its grid, the inputs.
nlohmann::json sweep_settings(const SweepConfig& cfg, const std::vector<SweepAux>& aux, const nlohmann::json& inputs);

SweepResult run_sweep_folder(const DenoiserPtr& base, const std::vector<SweepAux>& aux, const SweepConfig& cfg,
                             SweepReference& ref, FeatureNet* features, AttributeClassifier* classifier,
                             const SweepRunOptions& opts);

// How a sweep's gains over ω = 0 get their intervals (the "ci" notes of sweep.json and a tune's result.json).
inline constexpr const char* kGainIntervalMethod =
    "gain: paired bootstrap (both rows' metric on the same resampled noise indices); if some row cannot be "
    "paired (a folder of an older version), none is and the two half-widths are added in quadrature";

// A row written by SweepRow::to_json (kept samples not included).
SweepRow sweep_row_from_json(const nlohmann::json& j, const std::vector<std::string>& attr_names);

}  // namespace sims::metrics
