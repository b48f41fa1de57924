// The run folder: one rule for every long command (train's folder-less
// checkpoints follow the same rule through training/resume_rule.hpp).
//
//   1. `sims CMD ... --out DIR` on a new or empty DIR starts a run: DIR/run.json
//      records the command and all its settings.
//   2. The same command again continues where it stopped: finished stages
//      (their done-markers, DIR/stages/NAME.json) are reused and a
//      half-finished one continues.
//   3. A changed setting that would invalidate finished work is refused; the
//      message names the setting, its old and new value, and how to start
//      over (another --out, or delete DIR). Settings declared free (they
//      change no finished work, e.g. more generations, the number of worker
//      threads) may change; run.json then records the new values.
//   4. A DIR holding anything else - another command's run, a run of an older
//      sims without run.json, or files that are no run at all - is refused:
//      an existing output is never overwritten silently.
//   5. Every file is written atomically and a stage's done-marker last, so a
//      crash or Ctrl-C at any moment leaves finished stages intact.
//   6. One process at a time: a second one on the same DIR is refused.
//
// A stage's key is what its output depends on (settings, the fingerprints
// of input files, earlier stages' keys); a marker whose key differs from the
// one asked for is refused the same way (an input file changed on disk).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/file_lock.hpp"

namespace sims::experiment {

using json = nlohmann::json;

// A stage's name as its marker's file name (stages/<name>.json): letters, digits, '-', '_' and '.' kept, the rest
// '_' (so two stage names can share a file: callers that make names from user input keep them apart).
std::string stage_file_name(const std::string& stage);

// One difference between two JSON settings objects, by dotted key.
struct SettingChange {
  std::string key;  // e.g. "train.lr", "omegas"
  json before, after;
  std::string describe() const;  // "train.lr = 0.001 (now 0.002)"
};

// Every leaf that differs (objects are compared key by key, arrays and
// scalars as wholes); keys missing on one side show as null there.
std::vector<SettingChange> diff_settings(const json& before, const json& after);

class RunFolder {
 public:
  // Opens or starts the run of `command` in `dir` with `settings` under the
  // rule above. `free_keys`: dotted keys (a prefix covers its sub-keys) that
  // may change between calls. Throws InputError (refusals) or IoError.
  // `defaults`: the settings at their default values; a top-level key that
  // the stored settings lack (a setting added by a newer sims) counts as its
  // default there, so an older folder continues when the new setting is at
  // its default.
  // `unmarked_run`: recognises a folder of this command written by a version
  // that left no run.json; asked only of a folder without run.json that is
  // not empty, once the lock is held. Such a folder is adopted as an earlier
  // run of `command`: resumed(), with no settings stored (null).
  RunFolder(const std::string& dir, const std::string& command, const json& settings,
            const std::vector<std::string>& free_keys = {}, const json& defaults = json(),
            const std::function<bool(const std::string& dir)>& unmarked_run = {});
  ~RunFolder();
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;

  const std::string& dir() const { return dir_; }
  // dir/rel; its parent folder is created.
  std::string path(const std::string& rel) const;
  // The folder held work of an earlier call of the same command.
  bool resumed() const { return resumed_; }
  // The settings stored by the earlier call (null for a new run).
  const json& previous_settings() const { return previous_; }

  // True when `stage` finished with this key; false when it has not finished.
  // Throws InputError when it finished with another key (naming what changed).
  bool done(const std::string& stage, const json& key) const;
  // What finish() stored with the stage (null if none or not finished).
  json result(const std::string& stage) const;
  // Marks `stage` finished (atomically, after its outputs are written).
  void finish(const std::string& stage, const json& key, const json& result = nullptr);
  // Drops a stage's marker (its outputs are about to be made again).
  void forget(const std::string& stage);
  // Names of the finished stages, sorted.
  std::vector<std::string> finished() const;

  // The file that marks a folder as a run folder.
  static constexpr const char* kRunFile = "run.json";
  // The command recorded in a run folder ("" when DIR is none).
  static std::string command_of(const std::string& dir);
  // The settings a run of `command` stored in DIR (run.json; an older folder's config.json). Throws InputError
  // naming what DIR holds instead: another command's run ("holds a run of 'sims sweep', not of 'sims loop'"), or
  // none.
  static json settings_of(const std::string& dir, const std::string& command);

 private:
  std::string marker(const std::string& stage) const;
  std::string dir_, command_;
  json previous_;
  bool resumed_ = false;
  io::FileLock lock_;  // DIR/.lock, held for the object's life
};

}  // namespace sims::experiment
