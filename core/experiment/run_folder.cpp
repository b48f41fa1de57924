#include "experiment/run_folder.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "experiment/json_io.hpp"

namespace sims::experiment {
namespace fs = std::filesystem;

namespace {

constexpr int kFormatVersion = 1;

void diff_into(const json& a, const json& b, const std::string& prefix, std::vector<SettingChange>& out) {
  if (a.is_object() && b.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      const std::string k = prefix.empty() ? it.key() : prefix + "." + it.key();
      diff_into(it.value(), b.contains(it.key()) ? b.at(it.key()) : json(nullptr), k, out);
    }
    for (auto it = b.begin(); it != b.end(); ++it)
      if (!a.contains(it.key())) out.push_back({prefix.empty() ? it.key() : prefix + "." + it.key(), nullptr, it.value()});
    return;
  }
  if (a != b) out.push_back({prefix.empty() ? "(all)" : prefix, a, b});
}

bool is_free(const std::string& key, const std::vector<std::string>& free_keys) {
  for (const auto& f : free_keys)
    if (key == f || key.rfind(f + ".", 0) == 0) return true;
  return false;
}

// j[key] where j is an object holding text there, "" otherwise.
std::string text_at(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j.at(key).is_string() ? j.at(key).get<std::string>() : std::string();
}

std::string start_over(const std::string& dir) {
  return "continue with the same settings, or start over with another --out (or delete '" + dir + "')";
}

}  // namespace

std::string stage_file_name(const std::string& stage) {
  std::string s = stage;
  for (char& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  return s;
}

std::string SettingChange::describe() const {
  // A long value (a path list, or a damaged file's megabyte string) is cut: the message stays one readable line.
  auto show = [](const json& j) { return j.is_null() ? std::string("unset") : json_brief(j, 240); };
  // An input file's fingerprint ("inputs.data.crc32"): the file, said to have other content.
  const auto ends_with = [&](const std::string& tail) {
    return key.size() > tail.size() && key.compare(key.size() - tail.size(), tail.size(), tail) == 0;
  };
  const bool fingerprint = key.rfind("inputs.", 0) == 0 && (ends_with(".crc32") || ends_with(".bytes"));
  const size_t dot = fingerprint ? key.find('.', 7) : std::string::npos;
  if (dot != std::string::npos)
    return "another content of " + key.substr(0, dot) + " (" + key.substr(dot + 1) + " " + show(before) + ", now " +
           show(after) + ")";
  return key + " = " + show(before) + " (now " + show(after) + ")";
}

std::vector<SettingChange> diff_settings(const json& before, const json& after) {
  std::vector<SettingChange> out;
  diff_into(before, after, "", out);
  return out;
}

std::string RunFolder::command_of(const std::string& dir) {
  const json j = read_json_or_null(dir + "/" + kRunFile);
  if (text_at(j, "format") != "sims-run") return {};
  return text_at(j, "command");
}

json RunFolder::settings_of(const std::string& dir, const std::string& command) {
  const json j = read_json_or_null(dir + "/" + kRunFile);
  const std::string cmd = command_of(dir);
  if (cmd == command) {
    if (!j.contains("settings")) throw InputError("'" + dir + "/" + kRunFile + "' is not a sims run file (no settings)");
    return j.at("settings");
  }
  if (!cmd.empty())
    throw InputError("'" + dir + "' holds a run of 'sims " + cmd + "', not of 'sims " + command + "'");
  const json older = read_json_or_null(dir + "/config.json");  // an older run folder
  if (older.is_null()) throw InputError("'" + dir + "' holds no run of 'sims " + command + "' (no " + kRunFile + ")");
  return older;
}

RunFolder::RunFolder(const std::string& dir, const std::string& command, const json& settings,
                     const std::vector<std::string>& free_keys, const json& defaults,
                     const std::function<bool(const std::string& dir)>& unmarked_run)
    : dir_(dir), command_(command) {
  if (dir.empty()) throw InputError("'sims " + command + "' needs a run folder (--out DIR)");
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw InputError("'" + dir + "' is a file, not a folder; choose another --out");
  fs::create_directories(dir, ec);
  if (ec) throw IoError("cannot create the run folder '" + dir + "': " + ec.message());

  // One process per run folder.
  lock_ = io::FileLock(dir + "/.lock");
  if (lock_.state() == io::FileLock::State::NoFile)
    throw IoError("cannot create or lock '" + dir + "/.lock' (one process at a time writes a run folder)");
  if (lock_.state() == io::FileLock::State::Busy)
    throw InputError("'" + dir + "' is in use by another sims process; wait for it or choose another --out");

  const std::string run_file = dir + "/" + kRunFile;
  // A throw from here on frees the lock (lock_ is a member: it is destroyed when the constructor throws), a failed
  // read or write of run.json included (the Studio runs its jobs in one process: a lock left held would keep the
  // folder "in use" until it quits).
  const json stored = read_json_or_null(run_file);
  bool empty = true;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] != '.') empty = false;  // hidden: the lock, orphaned temporary files
  }
  if (stored.is_null()) {
    // Asked only where run.json is absent (not of a damaged one, which stays refused).
    if (!empty && unmarked_run && !fs::exists(run_file, ec) && unmarked_run(dir)) {
      resumed_ = true;  // an earlier run of this command by a version without run.json: settings unknown
    } else if (!empty) {
      if (fs::exists(dir + "/config.json", ec))
        throw InputError("'" + dir + "' holds a run of an older sims (config.json, no run.json): its results can "
                         "still be read and plotted, but it cannot be continued; choose another --out");
      throw InputError("'" + dir + "' is not empty and holds no sims run; choose a new or empty folder for --out");
    }
  } else {
    // Any field of another kind (a damaged or hand-edited file) makes it no run file: one message naming it.
    const std::string cmd = text_at(stored, "command");
    if (text_at(stored, "format") != "sims-run" || cmd.empty() || !stored.contains("settings"))
      throw InputError("'" + run_file + "' is not a sims run file; choose another --out");
    if (cmd != command)
      throw InputError("'" + dir + "' holds a run of 'sims " + cmd + "', not of 'sims " + command +
                       "'; choose another --out");
    previous_ = stored.at("settings");
    if (previous_.is_object() && defaults.is_object())
      for (auto it = defaults.begin(); it != defaults.end(); ++it)
        if (!previous_.contains(it.key())) previous_[it.key()] = it.value();
    resumed_ = true;
    for (const SettingChange& c : diff_settings(previous_, settings))
      if (!is_free(c.key, free_keys))
        throw InputError("'" + dir + "' was started with " + c.describe() + ": " + start_over(dir));
  }
  write_json_file(run_file, {{"format", "sims-run"}, {"version", kFormatVersion}, {"command", command}, {"settings", settings}});
}

RunFolder::~RunFolder() = default;

std::string RunFolder::path(const std::string& rel) const {
  const fs::path p = fs::path(dir_) / rel;
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  if (ec) throw IoError("cannot create '" + p.parent_path().string() + "': " + ec.message());
  return p.string();
}

std::string RunFolder::marker(const std::string& stage) const { return dir_ + "/stages/" + stage_file_name(stage) + ".json"; }

bool RunFolder::done(const std::string& stage, const json& key) const {
  const json m = read_json_or_null(marker(stage));
  if (!m.is_object() || !m.contains("key")) return false;
  if (m.at("key") == key) return true;
  std::ostringstream what;
  const auto changes = diff_settings(m.at("key"), key);
  for (size_t i = 0; i < changes.size() && i < 3; ++i) what << (i ? "; " : "") << changes[i].describe();
  throw InputError("stage '" + stage + "' of '" + dir_ + "' was made with " + what.str() + ": " + start_over(dir_));
}

json RunFolder::result(const std::string& stage) const {
  const json m = read_json_or_null(marker(stage));
  return m.is_object() ? m.value("result", json(nullptr)) : json(nullptr);
}

void RunFolder::finish(const std::string& stage, const json& key, const json& result) {
  path("stages/x");
  write_json_file(marker(stage), {{"stage", stage}, {"key", key}, {"result", result}});
}

void RunFolder::forget(const std::string& stage) {
  std::error_code ec;
  fs::remove(marker(stage), ec);
}

std::vector<std::string> RunFolder::finished() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_ + "/stages", ec)) {
    const json m = read_json_or_null(e.path().string());
    if (!text_at(m, "stage").empty()) out.push_back(text_at(m, "stage"));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace sims::experiment
