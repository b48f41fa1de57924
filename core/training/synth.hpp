// Synthetic-set generation (SIMS Algorithm 1, step 2): samples a model in
// chunks straight into a .npy on disk, so memory stays flat however many
// samples are asked for, and resumes after an interruption. Chunk k draws
// its noise from its own seed, so a resumed set equals an uninterrupted one.
#pragma once
#include <atomic>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "sampling/edm_sampler.hpp"

namespace sims {
namespace dist {
class Group;
}

struct SynthConfig {
  int64_t n = 0;
  int64_t chunk = 4096;
  uint64_t seed = 0;
  SamplerConfig sampler;
  Guidance guidance;
};

struct SynthResult {
  int64_t done = 0;          // samples written
  int64_t resumed_from = 0;  // samples found from an earlier, interrupted run
  double seconds = 0;
  bool cancelled = false;
};

// Writes OUT.partial (+ OUT.partial.json with the progress) and renames it
// to OUT when complete, the progress file to OUT.json (what made the set).
// An OUT.partial made with other settings is refused (InputError naming the
// setting). progress(done, total, seconds) after every chunk.
// With a group of several processes (dist/group.hpp) the chunks are shared
// out in rounds (chunk k of a round to rank k) and gathered; rank 0 alone
// writes, in chunk order, so the set equals one process's.
// What a synthetic set depends on: the models by content, n, chunk, seed,
// sampler and guidance. Stored in OUT.json.
nlohmann::json synth_key(const DenoiserPtr& base, const DenoiserPtr& aux, const SynthConfig& cfg);

SynthResult generate_synthetic_set(const DenoiserPtr& base, const DenoiserPtr& aux, const SynthConfig& cfg,
                                   const std::string& out, const std::atomic<bool>* cancel = nullptr,
                                   const std::function<void(int64_t, int64_t, double)>& progress = {},
                                   dist::Group* group = nullptr);

}  // namespace sims
