#include "training/synth.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "dist/group.hpp"
#include "experiment/json_io.hpp"
#include "experiment/run_folder.hpp"
#include "io/atomic_file.hpp"
#include "io/npy.hpp"

namespace fs = std::filesystem;

namespace sims {
namespace {

uint64_t chunk_seed(uint64_t seed, int64_t k) {
  uint64_t z = seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(k) + 0x5851f42d4c957f2dULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A model by content where it is a file (a model replaced under the same
// name is another model), by name otherwise.
nlohmann::json model_identity(const DenoiserPtr& m) {
  if (!m) return "";
  const std::string& path = m->info().path;
  std::error_code ec;
  if (!path.empty() && fs::is_regular_file(path, ec)) return {{"path", path}, {"content", experiment::file_fingerprint(path)}};
  return path;
}

}  // namespace

nlohmann::json synth_key(const DenoiserPtr& base, const DenoiserPtr& aux, const SynthConfig& c) {
  const auto& s = c.sampler;
  return {{"base", model_identity(base)}, {"aux", model_identity(aux)}, {"n", c.n}, {"chunk", c.chunk},
          {"seed", c.seed}, {"shape", base->info().sample_shape}, {"steps", s.steps},
          {"sampler", to_string(s.kind)}, {"sigma", {s.sigma_min, s.sigma_max, s.rho}},
          {"churn", {s.churn, s.s_min, experiment::setting_number(s.s_max), s.s_noise}},
          {"omega", c.guidance.omega}, {"interval", {c.guidance.lo, experiment::setting_number(c.guidance.hi)}}};
}

SynthResult generate_synthetic_set(const DenoiserPtr& base, const DenoiserPtr& aux, const SynthConfig& cfg,
                                   const std::string& out, const std::atomic<bool>* cancel,
                                   const std::function<void(int64_t, int64_t, double)>& progress,
                                   dist::Group* group) {
  if (cfg.n <= 0) throw InputError("the synthetic set needs n > 0 samples");
  if (cfg.chunk <= 0) throw InputError("--chunk must be positive");
  const int rank = group ? group->rank() : 0, world = group ? group->size() : 1;
  const bool writer = dist::leads(group);  // of several processes rank 0 alone writes
  if (writer) io::check_writable(out);
  const std::string partial = out + ".partial", state_path = out + ".partial.json";
  const auto& shape = base->info().sample_shape;
  std::vector<int64_t> full{cfg.n};
  full.insert(full.end(), shape.begin(), shape.end());
  int64_t row_floats = 1;
  for (int64_t d : shape) row_floats *= d;
  const std::string header = io::npy_header(full);
  const nlohmann::json fp = synth_key(base, aux, cfg);

  SynthResult res;
  // Resume when an interrupted run with the same settings left its partial file.
  std::error_code ec;
  if (writer && fs::exists(partial, ec) && fs::exists(state_path, ec)) {
    struct DamagedState {};
    try {
      const nlohmann::json st = experiment::read_json_or_null(state_path);  // damaged: null, start over below
      // A count that is not a whole number up to the set's size is damage too (never converted out of range).
      const nlohmann::json& stored = st.at("done");
      if (!stored.is_number_unsigned() || stored.get<uint64_t>() > static_cast<uint64_t>(std::max<int64_t>(cfg.n, 0)))
        throw DamagedState{};
      const int64_t done = stored.get<int64_t>();
      const auto need = static_cast<uintmax_t>(header.size() + done * row_floats * 4);
      if (st.at("config") != fp) {
        const auto changes = experiment::diff_settings(st.at("config"), fp);
        throw InputError("'" + partial + "' holds " + std::to_string(done) + " samples made with " +
                         (changes.empty() ? std::string("other settings") : changes.front().describe()) +
                         ": continue with the same settings, or delete '" + partial + "' to start over");
      }
      if (fs::file_size(partial) >= need) {
        fs::resize_file(partial, need);
        res.resumed_from = res.done = done;
      }
    } catch (const nlohmann::json::exception&) {
      // A damaged progress file of our own: start over.
    } catch (const DamagedState&) {
    } catch (const fs::filesystem_error&) {
    }
  }
  std::ofstream f;
  if (writer) {
    if (res.done == 0) {
      std::ofstream h(partial, std::ios::binary | std::ios::trunc);
      h << header;
      if (!h) throw IoError("cannot write '" + partial + "'");
    }
    f.open(partial, std::ios::binary | std::ios::app);
    if (!f) throw IoError("cannot append to '" + partial + "'");
  }
  if (group) {  // where rank 0's file stands
    at::Tensor head = at::tensor({res.done, res.resumed_from}, at::kLong);
    group->broadcast(head);
    res.done = head[0].item<int64_t>(), res.resumed_from = head[1].item<int64_t>();
  }

  EdmSampler sampler(base, aux, cfg.sampler, cfg.guidance);
  const auto t0 = std::chrono::steady_clock::now();
  // Rounds of `world` chunks (one chunk per round for one process).
  for (int64_t k0 = res.done / cfg.chunk; res.done < cfg.n && !res.cancelled; k0 += world) {
    const int64_t k = k0 + rank;  // this process's chunk
    const int64_t rows = std::max<int64_t>(0, std::min(cfg.chunk, cfg.n - k * cfg.chunk));
    at::Tensor x;
    bool stopped = rows > 0 && cancel && cancel->load();  // a process without a chunk has nothing to stop
    if (!stopped && rows > 0) {
      SampleOptions so;
      so.seed = chunk_seed(cfg.seed, k);
      so.cancel = cancel;
      try {
        x = sampler.sample(seeded_noise(rows, shape, so.seed), so).x.to(at::kCPU, at::kFloat).contiguous();
      } catch (const Cancelled&) {
        stopped = true;
      }
    }
    // The round's chunks in chunk order; a stopped process's chunk ends the round (and the run).
    std::vector<std::string> chunks;
    if (!group) {
      if (stopped) res.cancelled = true;
      else chunks.emplace_back(static_cast<const char*>(x.data_ptr()), x.nbytes());
    } else {
      std::string mine(1, stopped ? 'S' : 'D');
      if (x.defined()) mine.append(static_cast<const char*>(x.data_ptr()), x.nbytes());
      for (std::string& m : group->allgather_bytes(mine)) {
        if (m[0] == 'S') res.cancelled = true;
        if (!res.cancelled && m.size() > 1) chunks.push_back(m.substr(1));
      }
    }
    for (const std::string& c : chunks) {
      if (writer) {
        f.write(c.data(), static_cast<std::streamsize>(c.size()));
        f.flush();
        if (!f) throw IoError("writing '" + partial + "' failed (disk full?)");
      }
      res.done += static_cast<int64_t>(c.size() / (4 * static_cast<size_t>(row_floats)));
      if (writer) {
        const std::string st = nlohmann::json{{"config", fp}, {"done", res.done}}.dump();
        io::write_file_atomically(state_path, st.data(), st.size());
      }
    }
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (progress && !chunks.empty()) progress(res.done, cfg.n, res.seconds);
  }
  if (writer) f.close();
  if (res.cancelled || !writer) return res;
  fs::rename(partial, out, ec);
  if (ec) throw IoError("cannot move '" + partial + "' to '" + out + "': " + ec.message());
  // The finished set keeps what made it (OUT.json), so the same command later
  // knows there is nothing to do and another one is refused.
  fs::rename(state_path, out + ".json", ec);
  return res;
}

}  // namespace sims
