// Placeholders replaced as the metrics and loop commands land.
#include "cli_common.hpp"
namespace sims::cli {
void add_metrics_command(CLI::App&, Registry&) {}
void add_loop_command(CLI::App&, Registry&) {}
}  // namespace sims::cli
