// `sims`: the headless face of SIMS Studio (scripts, clusters, automated
// checks). Parses the command line, runs one subcommand, and is the one place
// where errors become "error: ..." on stderr with a non-zero exit status.
#include <malloc.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include <c10/util/Exception.h>

#include "cli_common.hpp"
#include "common/error.hpp"
#include "common/error_line.hpp"
#include "dist/env.hpp"
#include "version.hpp"

int main(int argc, char** argv) {
  using namespace sims;
  // Training and sampling free and re-allocate the same activation buffers
  // every step; glibc would hand blocks above 128 KiB back to the kernel each
  // time, and the page faults that follow cost up to 20 % of a small
  // network's step (perf). Keep them in the heap instead.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  CLI::App app{"sims: self-improving diffusion models (SIMS) and self-consuming loops, headless"};
  app.set_version_flag("--version", "sims " + sims_version_text());
  app.require_subcommand(1);
  cli::Registry reg;
  for (cli::AddCommand* add : {cli::add_sample_command, cli::add_grid_command, cli::add_info_command,
                               cli::add_metrics_command, cli::add_loop_command, cli::add_train_commands,
                               cli::add_demo_command, cli::add_data_command, cli::add_sweep_command,
                               cli::add_features_command, cli::add_shift_command, cli::add_tune_command,
                               cli::add_atlas_command, cli::add_launch_command})
    add(app, reg);

  // Every error is one line (common/error_line.hpp). In a job of several processes (sims launch, torchrun, srun)
  // each error names its rank.
  std::string rank_prefix;
  auto say = [&rank_prefix](const std::string& msg) {
    print_error_line(msg, msg.rfind("rank ", 0) == 0 ? std::string() : rank_prefix);
  };
  try {
    // Unknown commands and options first, each named with a suggestion; CLI11
    // would report them only after its "--x is required" checks.
    cli::check_names(app, std::vector<std::string>(argv + 1, argv + argc));
  } catch (const InputError& e) {
    say(e.what());
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ValidationError& e) {
    // An input file named by a flag is missing or unreadable (cli::input_path).
    say(e.what());
    return 1;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // The help of the command given ("sims sample --help"), where its flags are.
    std::string help = "sims";
    for (const CLI::App* sub = &app; !sub->get_subcommands().empty();) {
      sub = sub->get_subcommands().front();
      help += " " + sub->get_name();
    }
    say(cli::parse_error_words(e.what()) + " (see '" + help + " --help')");
    return 2;
  }

  static const std::set<std::string> shared = {"train", "finetune", "synth", "loop", "sweep", "tune", "launch"};
  bool sharing = false;  // the command given is one that reads the job's environment
  for (auto& [cmd, action] : reg.actions)
    if (cmd->parsed() && shared.count(cmd->get_name()) > 0) sharing = true;
  dist::DistEnv env;
  try {
    try {
      env = dist::read_dist_env();
    } catch (const InputError&) {
      if (sharing) throw;  // a command that shares its work needs a sound environment; the others run alone
    }
    if (env.several()) rank_prefix = "rank " + std::to_string(env.rank) + ": ";
    for (auto& [cmd, action] : reg.actions)
      if (cmd->parsed() && env.several() && shared.count(cmd->get_name()) == 0)
        throw InputError("'sims " + cmd->get_name() +
                         "' runs in one process; 'sims train', 'finetune', 'synth', 'sweep', 'tune' and 'loop --family diffusion2d' "
                         "share their work over several processes so far");
  } catch (const InputError& e) {
    say(e.what());
    return 2;
  }
  try {
    for (auto& [cmd, action] : reg.actions)
      if (cmd->parsed()) {
        const int rc = action();
        // Said once the files are written, not before an error; by one process of a job (they all saw the same flags).
        if (rc == 0 && (!env.several() || env.rank == 0)) cli::print_end_notes();
        return rc;
      }
    say("no command given (see 'sims --help')");
    return 2;
  } catch (const Cancelled&) {
    say("cancelled");
    return 130;
  } catch (const Error& e) {
    say(e.what());
    return 1;
  } catch (const c10::Error& e) {
    say(cli::library_error_words(e.what_without_backtrace()));
    return 1;
  } catch (const std::bad_alloc&) {
    say("out of memory");
    return 1;
  } catch (const nlohmann::json::exception& e) {  // a reader that let one through: plain words, not nlohmann's tag
    say("a stored value is damaged: " + json_error_words(e));
    return 1;
  } catch (const std::exception& e) {
    say(e.what());
    return 1;
  }
}
