// How every long `sims` command shows its progress and stops on Ctrl-C:
// one line per finished row (a generation, an ω value) and, on a terminal, a
// live line with the stage, the percentage, the time so far and the ETA; in a
// log (no terminal) a line whenever the stage changes. SIGINT/SIGTERM set one
// flag that the core checks; the command then says how to continue.
#pragma once
#include <atomic>
#include <iostream>
#include <string>

#include "common/error.hpp"

#include "experiment/progress.hpp"

namespace sims::cli {

// "mm:ss" or "h:mm:ss"; "--:--" when unknown.
std::string hms(double seconds);

// The flag Ctrl-C (SIGINT) and SIGTERM set once install_stop_handler() ran.
std::atomic<bool>& stop_flag();
void install_stop_handler();
// For work that is computed whole and never continued (`sims demo`): Ctrl-C or SIGTERM print `line` on stderr and
// end the process at once with exit code 130. The files already written stay whole (every write is atomic).
void install_quit_handler(const std::string& line);

class ProgressLine {
 public:
  // `header`: printed before the first update (so a command refused before
  // any work prints only its error line).
  explicit ProgressLine(std::string header = {});
  void operator()(const experiment::Progress& p);
  // Clears the live line (before other output).
  void clear();
  // An integer of the last finished row (e.g. "generation"); 0 before any.
  int64_t last(const char* key) const { return last_row_.is_object() ? last_row_.value(key, int64_t(0)) : 0; }

 private:
  bool tty_;
  bool live_ = false;
  std::string header_, last_stage_;
  nlohmann::json last_row_;
};

// Runs the long work f() and clears the live line after it. On Ctrl-C
// (sims::Cancelled) it says what is kept where ("stopped: <kept> in OUT (run
// the same command again to continue)") and rethrows; `kept` may look at the
// line (e.g. the last finished generation).
template <class F, class Kept>
auto keep_on_stop(ProgressLine& line, const std::string& out, Kept kept, F&& f) -> decltype(f()) {
  try {
    auto r = f();
    line.clear();
    return r;
  } catch (const Cancelled&) {
    line.clear();
    std::cerr << "stopped: " << kept() << " in " << out << " (run the same command again to continue)" << std::endl;
    throw;
  }
}

}  // namespace sims::cli
