// `sims loop --family images` (core/loops/image_loop.hpp) and `sims
// scenarios` (core/loops/scenarios.hpp). The loop family shares the `loop`
// subcommand's flags (read from it by name) and adds its own; cmd_loop.cpp
// binds them and dispatches here, and registers `scenarios` beside `loop`.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"

namespace sims::cli {

// Flags of `sims loop` that only the images family has.
struct ImageLoopFlags {
  std::string net, warm_start = "scratch", init, features, classifier, device = "cpu";
  int64_t base_images = 20000, first_images = -1, aux_images = 5000, chunk = 250, n_ref = 0, pr_k = 5, save_images = 64;
  uint64_t data_seed = 0;
  bool keep_models = false;
};

// Binds them and returns them (they apply to the images family only).
std::vector<CLI::Option*> bind_image_loop_flags(CLI::App* loop, ImageLoopFlags& f);

// Runs `sims loop --family images`; the shared flags are read from `loop`.
// plot(j) draws --plot from the result (cmd_loop.cpp's plotting).
int run_image_loop_family(CLI::App* loop, const ImageLoopFlags& f, const std::function<void(const nlohmann::json&)>& plot);

void add_scenarios_command(CLI::App& app, Registry& reg);

// A loop's run folder that holds more finished generations (stages/generation-NNNN.json) than the run just shown
// (a rerun with fewer --generations shows the first ones; the others are kept): said at the end (note_at_end), so
// that the shorter table is not read as the whole run.
void note_more_generations(const std::string& out, int64_t shown);
// The same note for a folder known to hold `kept` generations (the gaussian loop's metrics.json).
void note_kept_generations(const std::string& out, int64_t kept, int64_t shown);

}  // namespace sims::cli
