// The run-folder rule (experiment/run_folder.hpp) for the commands whose
// output is one checkpoint (`sims train`, `sims finetune`): the checkpoint
// holds the settings and the data it was trained on, so
//   - no checkpoint at OUT: training starts;
//   - the same command again: training continues where it stopped (a larger
//     budget continues past the old end; a reached budget does nothing and
//     rewrites nothing);
//   - a changed setting or other data: refused, naming the setting, both
//     values and how to start over; the checkpoint is left as it was.
// The budget and how often checkpoints and snapshots are written may change.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "training/checkpoint.hpp"

namespace sims {

enum class TrainStart { Fresh, Continue, Finished };

// What training toward `want` (whose budget is the new end) may do with the
// checkpoint `stored` found at `path`. `data_spec`: the training data's
// description (TrainState::data); `net`: the network asked for (null: the
// command did not name one, e.g. finetune, which takes the base's).
// Throws InputError naming the first setting that differs. Keys that an
// older checkpoint does not record are not compared.
TrainStart check_continues(const std::string& path, const TrainState& stored, const nlohmann::json& data_spec,
                           const nlohmann::json& net, const TrainConfig& want);

}  // namespace sims
