// Several processes: the launchers' environment, the shards, and (as two
// threads of this process on 127.0.0.1) the Gloo group's operations and
// data-parallel training equal to one process.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <future>
#include <map>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "data/toy2d.hpp"
#include "dist/env.hpp"
#include "dist/group.hpp"
#include "training/trainer.hpp"

using namespace sims;

namespace {

dist::GetEnv env_of(std::map<std::string, std::string> m) {
  auto held = std::make_shared<std::map<std::string, std::string>>(std::move(m));
  return [held](const char* k) -> const char* {
    const auto it = held->find(k);
    return it == held->end() ? nullptr : it->second.c_str();
  };
}

// A TCP port free on 127.0.0.1 now (the kernel's pick).
int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(s);
  return ntohs(a.sin_port);
}

// Runs f(group) on `world` threads that form one job on 127.0.0.1 (f makes
// no Catch assertion: they are checked on the test's thread afterwards).
template <class F>
void as_job(int world, F f) {
  ::setenv("SIMS_DIST_TIMEOUT", "30", 1);  // a failed rank cannot hold the other for half an hour
  const int port = free_port();
  std::vector<std::future<void>> ranks;
  for (int r = 0; r < world; ++r)
    ranks.push_back(std::async(std::launch::async, [=] {
      dist::DistEnv e;
      e.rank = r, e.world = world, e.master_port = port;
      f(*dist::Group::join(e));
    }));
  for (auto& x : ranks) x.get();
}

}  // namespace

TEST_CASE("dist: the launchers' environment", "[dist]") {
  CHECK_FALSE(dist::read_dist_env(env_of({})).several());
  const dist::DistEnv t = dist::read_dist_env(env_of(
      {{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "1234"}}));
  CHECK(t.source == "torchrun");
  CHECK((t.rank == 3 && t.world == 4 && t.local_rank == 1 && t.master_addr == "node7" && t.master_port == 1234));
  const dist::DistEnv s = dist::read_dist_env(env_of({{"SLURM_PROCID", "5"}, {"SLURM_STEP_NUM_TASKS", "8"}, {"SLURM_LOCALID", "1"},
                                                      {"MASTER_ADDR", "10.0.0.1"}}));
  CHECK((s.source == "slurm" && s.rank == 5 && s.world == 8 && s.local_rank == 1 && s.master_port == 29500));
  // The batch script's shell (outside srun) is one process, whatever the job's task count.
  CHECK_FALSE(dist::read_dist_env(env_of({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "0"}})).several());
  // torchrun's variables win over Slurm's (torchrun inside an allocation).
  CHECK(dist::read_dist_env(env_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"SLURM_PROCID", "1"}, {"SLURM_STEP_NUM_TASKS", "4"}}))
            .world == 2);
  auto refused = [](std::map<std::string, std::string> m, const std::string& what) {
    try {
      (void)dist::read_dist_env(env_of(std::move(m)));
    } catch (const InputError& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(what) != std::string::npos);
      return;
    }
    FAIL("accepted");
  };
  refused({{"RANK", "2"}, {"WORLD_SIZE", "2"}}, "RANK=2 is not below WORLD_SIZE=2");
  refused({{"WORLD_SIZE", "2"}}, "not RANK");
  refused({{"RANK", "x"}, {"WORLD_SIZE", "2"}}, "RANK='x'");
  refused({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}, "MASTER_PORT");
  refused({{"SLURM_PROCID", "0"}, {"SLURM_STEP_NUM_TASKS", "2"}}, "MASTER_ADDR");
  // srun's launch node is not guessed to be rank 0's.
  refused({{"SLURM_PROCID", "0"}, {"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_LAUNCH_NODE_IPADDR", "10.1.2.3"}}, "MASTER_ADDR");
}

TEST_CASE("dist: shards cover the items once, in rank order, sizes within one", "[dist]") {
  for (int64_t n : {0, 1, 5, 7, 100})
    for (int size : {1, 2, 3, 8}) {
      int64_t next = 0, lo = n, hi = 0;
      for (int r = 0; r < size; ++r) {
        const auto [b, e] = dist::shard(n, r, size);
        CHECK(b == next);
        next = e;
        lo = std::min(lo, e - b), hi = std::max(hi, e - b);
      }
      CHECK(next == n);
      CHECK(hi - lo <= 1);
    }
}

TEST_CASE("dist: a Gloo group of two on 127.0.0.1 sums, gathers and broadcasts", "[dist]") {
  if (!dist::has_multiprocess()) {
    WARN("built without Gloo: skipped");
    return;
  }
  struct Seen {
    at::Tensor sum, broadcast;
    std::vector<at::Tensor> gathered;
    std::vector<std::string> bytes;
  };
  std::vector<Seen> seen(2);
  as_job(2, [&](dist::Group& g) {
    Seen& s = seen[static_cast<size_t>(g.rank())];
    s.sum = at::full({3}, static_cast<float>(g.rank() + 1));
    g.allreduce_sum(s.sum);
    s.gathered = g.allgather(at::full({2}, static_cast<double>(g.rank())));
    s.broadcast = g.rank() == 0 ? at::arange(4, at::kLong) : at::zeros({4}, at::kLong);
    g.broadcast(s.broadcast);
    s.bytes = g.allgather_bytes(std::string(static_cast<size_t>(1 + 1000 * g.rank()), static_cast<char>('a' + g.rank())));
  });
  for (const Seen& s : seen) {
    CHECK(at::allclose(s.sum, at::full({3}, 3.0f)));
    REQUIRE(s.gathered.size() == 2);
    CHECK((s.gathered[0][0].item<double>() == 0 && s.gathered[1][1].item<double>() == 1));
    CHECK(s.broadcast[3].item<int64_t>() == 3);
    REQUIRE(s.bytes.size() == 2);
    CHECK((s.bytes[0] == "a" && s.bytes[1] == std::string(1001, 'b')));
  }
}

TEST_CASE("dist: data-parallel training over two ranks equals one process", "[dist][training]") {
  if (!dist::has_multiprocess()) {
    WARN("built without Gloo: skipped");
    return;
  }
  const at::Tensor data = data::sample_toy2d(data::Toy2dSpec::named("mixture8"), 400, 3);
  NetConfig nc;
  nc.width = 32;
  nc.depth = 2;
  TrainConfig tc;
  tc.budget = 3000;
  tc.batch = 128;  // 3000 = 23 batches + 56: the last batch is uneven too
  tc.lr = 2e-3;
  tc.lr_rampup = 500;
  tc.seed = 4;
  TrainState one = TrainState::create(nc, tc);
  REQUIRE(train(one, data) == TrainOutcome::Finished);
  std::vector<TrainState> ranks(2);
  // Rank 1 starts from other weights: the job starts from rank 0's.
  ranks[0] = TrainState::create(nc, tc);
  TrainConfig other = tc;
  other.seed = 99;
  ranks[1] = TrainState::create(nc, other);
  ranks[1].train = tc;
  std::vector<TrainOutcome> outcome(2, TrainOutcome::Cancelled);
  as_job(2, [&](dist::Group& g) {
    TrainOptions o;
    o.group = std::shared_ptr<dist::Group>(&g, [](dist::Group*) {});
    outcome[static_cast<size_t>(g.rank())] = train(ranks[static_cast<size_t>(g.rank())], data, o);
  });
  for (const TrainState& r : ranks) {
    CHECK(outcome[&r - ranks.data()] == TrainOutcome::Finished);
    double d = 0;
    auto pa = one.ema->parameters(), pb = r.ema->parameters();
    for (size_t i = 0; i < pa.size(); ++i) d = std::max(d, (pa[i] - pb[i]).abs().max().item<double>());
    CHECK(d < 1e-4);
    CHECK(r.images_seen == one.images_seen);
    CHECK(r.loss_curve.back().loss == Approx(one.loss_curve.back().loss).epsilon(1e-4));
  }
}
