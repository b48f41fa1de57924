#include "dist/env.hpp"

#include <cstdlib>

#include "common/error.hpp"

namespace sims::dist {
namespace {

// A whole non-negative decimal number below `limit`, or InputError naming the variable.
int read_int(const char* name, const char* text, long long limit) {
  const std::string s = text;
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos)
    throw InputError("the environment variable " + std::string(name) + "='" + s.substr(0, 40) +
                     "' is not a whole number >= 0");
  const long long v = std::stoll(s);
  if (v >= limit)
    throw InputError("the environment variable " + std::string(name) + "=" + s + " must be below " +
                     std::to_string(limit));
  return static_cast<int>(v);
}

}  // namespace

DistEnv read_dist_env(const GetEnv& get_in) {
  const GetEnv get = get_in ? get_in : GetEnv([](const char* k) { return std::getenv(k); });
  auto has = [&](const char* k) {
    const char* v = get(k);
    return v != nullptr && *v != '\0';
  };
  DistEnv e;
  const char *rank_var = nullptr, *world_var = nullptr, *local_var = nullptr;
  if (has("WORLD_SIZE") || has("RANK")) {
    e.source = "torchrun";
    rank_var = "RANK", world_var = "WORLD_SIZE", local_var = "LOCAL_RANK";
  } else if (has("SLURM_STEP_NUM_TASKS") && has("SLURM_PROCID")) {
    // A task of an srun step (the batch script's own shell has SLURM_PROCID and SLURM_NTASKS too, but is one
    // process: only srun sets the step's task count).
    e.source = "slurm";
    rank_var = "SLURM_PROCID", world_var = "SLURM_STEP_NUM_TASKS", local_var = "SLURM_LOCALID";
  } else {
    return e;
  }
  for (const char* k : {rank_var, world_var})
    if (!has(k))
      throw InputError(std::string("the environment sets ") + (k == rank_var ? world_var : rank_var) + " but not " + k +
                       " (a launcher sets both)");
  constexpr long long kMaxWorld = 65536;
  e.world = read_int(world_var, get(world_var), kMaxWorld + 1);
  if (e.world < 1) throw InputError(std::string("the environment variable ") + world_var + " must be at least 1");
  e.rank = read_int(rank_var, get(rank_var), kMaxWorld);
  if (e.rank >= e.world)
    throw InputError(std::string(rank_var) + "=" + std::to_string(e.rank) + " is not below " + world_var + "=" +
                     std::to_string(e.world));
  e.local_rank = has(local_var) ? read_int(local_var, get(local_var), kMaxWorld) : 0;
  if (has("MASTER_ADDR")) {
    e.master_addr = get("MASTER_ADDR");
  } else if (e.source == "slurm" && e.world > 1) {
    // Not guessed (srun's launch node is rank 0's only when srun runs on the first node of the job).
    throw InputError("a Slurm job of several tasks needs MASTER_ADDR (the first node's address, e.g. from scontrol "
                     "show hostnames; see the README's 'Several processes and machines')");
  }
  if (has("MASTER_PORT")) {
    e.master_port = read_int("MASTER_PORT", get("MASTER_PORT"), 65536);
    if (e.master_port < 1) throw InputError("the environment variable MASTER_PORT must be 1..65535");
  }
  return e;
}

}  // namespace sims::dist
