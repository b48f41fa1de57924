#include "training/continue_rule.hpp"

#include "common/error.hpp"
#include "experiment/run_folder.hpp"

namespace sims {

namespace {

// The settings that decide what a checkpoint's finished images mean.
nlohmann::json binding_settings(const nlohmann::json& data, const nlohmann::json& net, const TrainConfig& tc) {
  nlohmann::json t = tc.to_json();
  for (const char* k : {"budget", "checkpoint_every", "snapshot_every"}) t.erase(k);
  nlohmann::json j = {{"data", data}, {"train", t}};
  if (!net.is_null()) j["net"] = net;
  return j;
}

}  // namespace

TrainStart check_continues(const std::string& path, const TrainState& stored, const nlohmann::json& data_spec,
                           const nlohmann::json& net, const TrainConfig& want) {
  const nlohmann::json before = binding_settings(stored.data, net.is_null() ? net : stored.net.to_json(), stored.train);
  const nlohmann::json after = binding_settings(data_spec, net, want);
  for (const auto& c : experiment::diff_settings(before, after)) {
    if (c.before.is_null()) continue;  // not recorded by an older sims
    throw InputError("'" + path + "' was trained with " + c.describe() +
                     ": continue with the same settings, or start over with another --out (or delete '" + path + "')");
  }
  return stored.images_seen >= want.budget ? TrainStart::Finished : TrainStart::Continue;
}

}  // namespace sims
