// Shared pieces of the `sims` subcommands: flag groups bound to CLI11,
// model loading, JSON/human output. Every subcommand's run function may
// throw sims::Error; main() prints it once as "error: ..." and exits 1.
#pragma once
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/device.hpp"
#include "diffusion/denoiser.hpp"
#include "sampling/edm_sampler.hpp"

namespace sims::cli {

// A subcommand registers itself and leaves the function main() runs.
using Action = std::function<int()>;
struct Registry {
  std::vector<std::pair<CLI::App*, Action>> actions;
};

// Each command file defines one of these; main() calls them in the order
// `sims --help` lists the commands.
using AddCommand = void(CLI::App& app, Registry& reg);
AddCommand add_sample_command, add_grid_command, add_info_command, add_metrics_command, add_loop_command,
    add_train_commands, add_demo_command, add_data_command, add_sweep_command, add_features_command,
    add_shift_command, add_tune_command, add_atlas_command, add_launch_command;

// Sampler + guidance flags (the contract's names).
struct SamplingFlags {
  std::string sampler = "heun";
  int steps = 18;
  double sigma_min = 0.002, sigma_max = 80.0, rho = 7.0;
  double churn = 0.0, s_min = 0.0, s_max = std::numeric_limits<double>::infinity(), s_noise = 1.0;
  double omega = 0.0;
  std::string interval = "0:inf";
  std::string s_max_text;

  void bind(CLI::App* cmd);
  // --omega and --interval; `note` says when they apply (e.g. "when omega is not an axis").
  void bind_guidance(CLI::App* cmd, const std::string& note = "");
  SamplerConfig config() const;
  Guidance guidance() const;
  // Without an auxiliary model nothing is guided: --omega (not 0) and --interval (not 0:inf) are refused.
  void check_needs_aux(const std::string& aux) const;
};

// Model flags shared by commands that sample.
struct ModelFlags {
  std::string model, aux, shape, device = "cpu";
  bool no_optimize = false;
  void bind(CLI::App* cmd, bool aux_allowed = true);
  LoadOptions load_options() const;
  // Once the models are loaded, notes for the end of the command: each auxiliary that is not the base's own
  // fine-tune (pairing_doubt), and --no-optimize when no model is TorchScript (it changes nothing then).
  void note_loaded(const Denoiser& base, const std::vector<const Denoiser*>& auxes) const;
};

// "LO:HI" with inf allowed -> {lo, hi}; throws InputError.
std::pair<double, double> parse_interval(const std::string& text);
// Parses a number that may be "inf"; throws InputError naming `flag`.
double parse_number(const std::string& text, const std::string& flag);

// Guidance weights given as a list (--omegas): numbers separated by commas, each finite and within the range
// --omega takes (-1000 to 1000), checked before any work and named by `flag`. check_omegas for a list CLI11 read.
std::vector<double> parse_omegas(const std::string& text, const std::string& flag = "--omegas");
void check_omegas(const std::vector<double>& omegas, const std::string& flag = "--omegas");

// Prints the JSON object as the last line on stdout.
void print_json(const nlohmann::json& j);

// [SECTION] Command-line manners ----------------------------------------------

// Edits (insert, delete, substitute, swap two neighbours) that turn a into b.
size_t edit_distance(const std::string& a, const std::string& b);

// The name among `names` a mistyped `word` most likely meant; "" when none is close.
std::string closest_name(const std::string& word, const std::vector<std::string>& names);

// Walks the command line through the commands and options CLI11 knows and
// throws InputError for the first unknown command or option, with a
// suggestion ("unknown command 'smaple'; did you mean 'sample'?"). Runs before
// CLI11 parses, so a misspelt name is reported before "--x is required". On the
// way it checks the text of every number flag's value (empty, not a whole
// number, a negative count, beyond 64 bits; --seed, --threads, --ci within
// their ranges), which CLI11 2.1 would read silently as 0 or a wrapped value.
void check_names(const CLI::App& app, const std::vector<std::string>& args);

// CLI11's words for a value it could not read, in ours: "Could not convert: --steps = 99999999999" becomes
// "--steps is out of range (got '99999999999')", "--runs: At Most 1 required but received 2" becomes
// "--runs is given more than once"; other messages as they are.
std::string parse_error_words(const std::string& cli11_message);

// A LibTorch error's first line, in plain words where we know them: an allocation that failed ("DefaultCPUAllocator:
// can't allocate memory: you tried to allocate N bytes") says how much was asked and what to lower; a size that
// overflowed the same.
std::string library_error_words(const std::string& message);

// What an input flag names, for input_path().
enum class InputKind {
  File,     // a file or folder path
  NetSpec,  // PATH[,option=...]: a feature network / classifier spec
  DataSpec, // a built-in data name (nothing to check), FILE.npy, or KIND:PATH[,labels=F,attrs=F,...]
  List,     // PATH1,PATH2,...
};

// Declares `opt` an input: CLI11 checks while parsing, before any required-flag
// or argument-combination error, that every path it names exists and can be
// read ("--model: 'm.ckpt' does not exist"). Returns opt for chaining.
CLI::Option* input_path(CLI::Option* opt, InputKind kind = InputKind::File);

// Declares `opt` (a command's --out) a folder: a trailing slash, as in the README's examples ("--out sweep/"), is
// dropped, so paths built from it read "sweep/sweep.csv", not "sweep//sweep.csv". (A file's --out keeps its slash
// and is refused by prepare_output as naming a folder.) Returns opt for chaining.
CLI::Option* output_folder(CLI::Option* opt);

// Declares `opt` a PNG file the command writes: a name that does not end in .png is refused when the command line
// is read, before anything is loaded or created. Returns opt for chaining.
CLI::Option* png_output(CLI::Option* opt);
// The same for a numpy array (.npy): "'samples.png' is written as a numpy array: give it a name ending in .npy".
CLI::Option* npy_output(CLI::Option* opt);

// What an output flag names, for prepare_output(). (A PNG's name is checked by png_output as the command line is read.)
enum class OutputKind { File, Folder };

// Makes an output path named by `flag` ready to be written: creates a file's
// parent folders (or the folder itself) and checks that it can be written;
// throws IoError naming the flag and path when it cannot (a file in the way,
// no permission). Empty paths (flag not given) are skipped. Call it once the
// inputs are loaded and checked, right before the long work, so that a
// refused command creates nothing. A file already at a file output's path is
// replaced when the command succeeds, and then named by print_end_notes();
// `note_existing` false: the command decides about an existing file itself
// (continues it, or replaces it only with --force).
void prepare_output(const std::string& flag, const std::string& path, OutputKind kind = OutputKind::File,
                    bool note_existing = true);
// A "note: ..." line kept for the end of the command (e.g. flags that did nothing
// in this run): said once the command has succeeded, so that an error stays one line.
void note_at_end(const std::string& text);
// The notes kept by note_at_end, then one "note: replaced ..." line per existing
// file that prepare_output saw; called once the command has finished without an error.
void print_end_notes();

// Terminal tables: the columns a UTF-8 text takes ("±" is two bytes, one column), and a cell padded to `width`
// columns with at least two spaces after it.
size_t text_columns(const std::string& s);
std::string padded(std::string cell, size_t width);
// Rows of cells (rows[0]: the header) as columns as wide as their widest cell, two spaces apart, each line indented.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows, const std::string& indent = "  ");

// Refuses (InputError) the first of `flags` given on `cmd`'s command line:
// "FLAG does nothing WHEN: leave it out" (e.g. when = "with --aux-snapshots
// (nothing is fine-tuned)"). For flags that another choice makes idle.
void refuse_given(const CLI::App* cmd, std::initializer_list<const char*> flags, const std::string& when);
// The same flags, said instead of refused (note_at_end: "FLAGS do(es) nothing WHEN"): for flags that scripts
// pass alike to runs that differ in one choice (a loop's standard and SIMS runs).
void note_given(const CLI::App* cmd, std::initializer_list<const char*> flags, const std::string& when);

// Refuses (InputError) two output flags that name the same file ({flag, path}
// pairs; empty paths skipped): the second write would replace the first.
void distinct_outputs(const std::vector<std::pair<std::string, std::string>>& outputs);
// Refuses (InputError) an output flag that names one of the command's input files (both as {flag, path} pairs;
// empty paths skipped): the write would replace the data being read (`metrics stats --out real.npy real.npy`).
void outputs_not_inputs(const std::vector<std::pair<std::string, std::string>>& outputs,
                        const std::vector<std::pair<std::string, std::string>>& inputs);

// Refuses (InputError) an output of `bytes` that the disk holding `path` has
// no room for, before any of it is made.
void check_disk_room(const std::string& flag, const std::string& path, double bytes);

// Threads for LibTorch (0 = keep LibTorch's default).
void apply_threads(int threads);

}  // namespace sims::cli
