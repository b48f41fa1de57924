// One multi-process job's communication, on PyTorch's own engine
// (torch.distributed's C++ core, c10d): a TCPStore on rank 0's MASTER_ADDR:
// MASTER_PORT for the rendezvous and a Gloo process group for the collective
// operations, the same pair `torchrun` + `init_process_group("gloo")` set up in
// Python. Every rank calls the collective operations in the same order.
//
// Failures become sims::Error naming this rank and the operation: a process
// that stopped (its peers see the connection close at once), a rendezvous
// that timed out, a port already taken. SIMS_DIST_TIMEOUT (seconds, default
// 1800) bounds every wait, so a hung peer cannot hang the others for ever.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "dist/env.hpp"

namespace sims::dist {

class Group {
 public:
  // Joins the job `env` describes; nullptr for a job of one process. Throws
  // sims::Error when the rendezvous fails and when this build has no Gloo.
  static std::shared_ptr<Group> join(const DistEnv& env);
  static std::shared_ptr<Group> join_from_environment() { return join(read_dist_env()); }
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

  void allreduce_sum(at::Tensor& t);                      // in place; CPU, contiguous
  std::vector<at::Tensor> allgather(const at::Tensor& t);  // the same shape and type on every rank
  void broadcast(at::Tensor& t, int root = 0);            // t's shape and type agreed beforehand
  void barrier();
  // Every rank's bytes on every rank, in rank order (sizes may differ).
  std::vector<std::string> allgather_bytes(const std::string& mine);

  // Seconds this rank spent in collective operations so far: sending,
  // receiving and waiting for slower ranks.
  double seconds_communicating() const { return comm_seconds_; }

  // The timeout of every collective wait (SIMS_DIST_TIMEOUT, default 1800 s).
  static std::chrono::milliseconds timeout();

 private:
  struct Impl;
  Group(int rank, int size, std::unique_ptr<Impl> impl);
  int rank_, size_;
  double comm_seconds_ = 0;
  std::unique_ptr<Impl> impl_;
};

// The items [begin, end) of n that rank `rank` of `size` takes: contiguous,
// in rank order, sizes differing by at most one.
std::pair<int64_t, int64_t> shard(int64_t n, int rank, int size);

// Whether this process writes and reports: rank 0 of a job, or a process alone (g null).
inline bool leads(const Group* g) { return g == nullptr || g->rank() == 0; }

// Whether this build can join a job of several processes (Gloo was found).
bool has_multiprocess();

}  // namespace sims::dist
