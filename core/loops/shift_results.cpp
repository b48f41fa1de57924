// Reading a distribution-shift run folder back (finished or not), for the
// faces: the CLI's and the studio's views of a run come from here.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "experiment/json_io.hpp"
#include "experiment/run_folder.hpp"
#include "loops/shift.hpp"

namespace sims::loops {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A count shown beside the results: 0 where it is missing or damaged (never converted out of range).
int64_t int_or(const json& j, const char* k) {
  try {
    return count_or(j, k, 0);
  } catch (const InputError&) {
    return 0;
  }
}

void sort_rows(std::vector<ShiftRow>& rows) {
  std::stable_sort(rows.begin(), rows.end(), [](const ShiftRow& a, const ShiftRow& b) { return a.omega < b.omega; });
}

ShiftFolder read_finished(const std::string& dir, const json& j) {
  const std::string file = dir + "/results.json";
  if (!j.is_object() || !j.contains("rows") || !j["rows"].is_array())
    throw InputError("'" + file + "' has no \"rows\" list: not the results of a sims shift run");
  ShiftFolder s;
  ShiftResult& r = s.result;
  try {
    r.attribute = j.value("attribute", std::string("group"));
    r.target = experiment::read_number(j.value("target", json(nullptr)), "target");
    r.features = j.value("features", std::string());
    if (j.contains("pool")) r.n_pool = int_or(j["pool"], "n"), r.pool1 = int_or(j["pool"], "n1");
    if (j.contains("aux_set")) r.aux1 = int_or(j["aux_set"], "n1"), r.aux0 = int_or(j["aux_set"], "n0");
    if (j.contains("real")) r.n_real1 = int_or(j["real"], "n1"), r.n_real0 = int_or(j["real"], "n0");
    r.finetune_loss = experiment::read_number(j.value("finetune_loss", json(nullptr)), "finetune_loss");
    r.seconds = experiment::read_number(j.value("seconds", json(nullptr)), "seconds");
    for (const auto& row : j["rows"]) {
      if (!row.is_object()) throw InputError("'" + file + "': a row is not an object");
      ShiftRow sr;
      try {
        sr = ShiftRow::from_json(row);
      } catch (const InputError& e) {
        throw InputError("'" + file + "': " + e.what());
      }
      if (!std::isfinite(sr.omega)) throw InputError("'" + file + "': a row has no omega value");
      r.rows.push_back(sr);
    }
    s.classifier = j.value("classifier", std::string());
    if (j.contains("config") && j["config"].is_object()) s.config = j["config"];
  } catch (const json::exception& e) {
    throw InputError("'" + file + "' is not a sims shift results file: " + json_error_words(e));
  }
  if (r.rows.empty()) throw InputError("'" + file + "' has no rows (no omega value finished)");
  sort_rows(r.rows);
  s.finished = true;
  return s;
}

// A run in progress or stopped: its settings, auxiliary set and finished rows.
ShiftFolder read_partial(const std::string& dir, const json& settings) {
  ShiftFolder s;
  s.config = settings;
  if (settings.is_object()) {
    s.result.attribute = settings.value("attribute", std::string());
    s.result.target = experiment::read_number(settings.value("target", json(nullptr)), "target");
  }
  const json aj = experiment::read_json_or_null(dir + "/aux_set.json");
  if (aj.is_object()) {
    s.result.aux1 = int_or(aj, "n1");
    s.result.aux0 = int_or(aj, "n0");
    if (aj.contains("pool")) s.result.n_pool = int_or(aj["pool"], "n"), s.result.pool1 = int_or(aj["pool"], "n1");
  }
  std::error_code ec;
  for (fs::directory_iterator it(dir + "/eval", ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path p = it->path();
    if (p.extension() != ".json" || p.filename().string().rfind("omega_", 0) != 0) continue;
    const json j = experiment::read_json_or_null(p.string());
    if (!j.is_object()) continue;
    try {  // a damaged row is left out, as an unreadable file is
      ShiftRow r = ShiftRow::from_json(j);
      if (std::isfinite(r.omega)) s.result.rows.push_back(r);
    } catch (const InputError&) {
    }
  }
  sort_rows(s.result.rows);
  return s;
}

}  // namespace

ShiftFolder read_shift_folder(const std::string& dir) {
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir, ec)) throw InputError("no such folder '" + dir + "'");
  const json results = experiment::read_json_or_null(dir + "/results.json");
  if (!results.is_null()) return read_finished(dir, results);
  if (fs::exists(dir + "/results.json", ec)) throw InputError("'" + dir + "/results.json' is not valid JSON");
  const json run = experiment::read_json_or_null(dir + "/" + experiment::RunFolder::kRunFile);
  if (run.is_object() && run.value("command", std::string()) == "shift") return read_partial(dir, run.value("settings", json()));
  const json old = experiment::read_json_or_null(dir + "/config.json");  // a run of an older sims
  if (old.is_object() && old.value("kind", std::string()) == "sims-shift") {
    ShiftFolder s = read_partial(dir, old.value("config", json()));
    s.classifier = old.value("classifier_name", std::string());
    s.result.features = old.value("features_name", std::string());
    return s;
  }
  throw InputError("'" + dir + "' holds no sims shift run (no results.json or run.json)");
}

}  // namespace sims::loops
