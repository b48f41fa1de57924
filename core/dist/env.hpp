// Where this process stands in a multi-process job, read from the environment
// the field's launchers set: torchrun / `sims launch` (RANK, WORLD_SIZE,
// LOCAL_RANK, MASTER_ADDR, MASTER_PORT) or Slurm's srun (SLURM_PROCID,
// SLURM_STEP_NUM_TASKS, SLURM_LOCALID, with MASTER_ADDR/MASTER_PORT from the
// batch script; the batch script's own shell, outside srun, is one
// process). Nothing set: one process, rank 0 of 1.
#pragma once
#include <functional>
#include <string>

namespace sims::dist {

struct DistEnv {
  int rank = 0, world = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string source = "none";  // "none", "torchrun" or "slurm": which variables were read
  bool several() const { return world > 1; }
};

// Reads the variables through `get` (default: ::getenv). Throws InputError
// naming the variable when one is malformed or the set is inconsistent
// (RANK >= WORLD_SIZE, a port outside 1..65535, MASTER_ADDR missing for a
// Slurm job of several tasks).
using GetEnv = std::function<const char*(const char*)>;
DistEnv read_dist_env(const GetEnv& get = {});

}  // namespace sims::dist
