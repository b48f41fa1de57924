// Built without the precompiled header: USE_C10D_GLOO must be defined before
// any c10d header (see core/CMakeLists.txt).
#if __has_include(<gloo/allreduce.h>)
#define SIMS_HAVE_GLOO 1
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <c10/util/Logging.h>
#endif

#include "dist/group.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>

#include "common/error.hpp"

namespace sims::dist {

std::pair<int64_t, int64_t> shard(int64_t n, int rank, int size) {
  const int64_t base = n / size, extra = n % size;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

std::chrono::milliseconds Group::timeout() {
  const char* v = std::getenv("SIMS_DIST_TIMEOUT");
  if (v == nullptr || *v == '\0') return std::chrono::seconds(1800);
  char* end = nullptr;
  const double s = std::strtod(v, &end);
  if (end == v || *end != '\0' || !(s >= 1 && s <= 7 * 24 * 3600))
    throw InputError("the environment variable SIMS_DIST_TIMEOUT='" + std::string(v).substr(0, 40) +
                     "' must be a number of seconds in 1..604800");
  return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
}

namespace {

// The first line of a library message, without gloo's "[file.cc:123] " prefix or a closing full stop.
std::string first_line(const std::string& what) {
  std::string s = what.substr(0, what.find('\n'));
  if (!s.empty() && s[0] == '[') {
    const size_t close = s.find("] ");
    if (close != std::string::npos) s = s.substr(close + 2);
  }
  while (!s.empty() && (s.back() == '.' || s.back() == ' ')) s.pop_back();  // it goes inside our parentheses
  return s;
}

}  // namespace

#ifdef SIMS_HAVE_GLOO

namespace {

// This machine's IPv4 address on the route to host:port ("" if none): a UDP
// socket "connected" there sends nothing but is given the outgoing address.
std::string address_towards(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || found == nullptr) return "";
  std::string out;
  const int s = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (s >= 0 && ::connect(s, found->ai_addr, found->ai_addrlen) == 0) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    char buf[INET_ADDRSTRLEN] = {};
    if (::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0 && ::inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf))
      out = buf;
  }
  if (s >= 0) ::close(s);
  ::freeaddrinfo(found);
  return out;
}

// The interface this rank's Gloo connections use, reachable by the others:
// GLOO_SOCKET_IFNAME when set (as torch.distributed reads it), the loopback
// for a job on this machine alone, else the address on the route to
// MASTER_ADDR - not the host name's, which Debian maps to 127.0.1.1 - or,
// on the master itself, the address of the default route.
std::shared_ptr<::gloo::transport::Device> gloo_device(const DistEnv& env) {
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  if (ifname != nullptr && *ifname != '\0') return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (env.master_addr == "127.0.0.1" || env.master_addr == "localhost")
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  for (const std::string& host : {env.master_addr, std::string("192.0.2.1")}) {  // the second: any routed address
    const std::string a = address_towards(host, env.master_port);
    if (!a.empty() && a.rfind("127.", 0) != 0) return c10d::ProcessGroupGloo::createDeviceForHostname(a);
  }
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

struct Group::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};

bool has_multiprocess() { return true; }

std::shared_ptr<Group> Group::join(const DistEnv& env) {
  if (!env.several()) return nullptr;
  // c10d logs through glog to stderr ("[c10d] The client socket has timed out ...", after "WARNING: Logging before
  // InitGoogleLogging()") when a process of the job does not answer; each such event also ends in our own one-line
  // error naming the rank, so in a job glog keeps quiet unless GLOG_minloglevel asks.
#ifdef C10_USE_GLOG  // a LibTorch built without glog logs through c10's own, quieter logger
  if (std::getenv("GLOG_minloglevel") == nullptr) FLAGS_minloglevel = google::GLOG_FATAL;
#endif
  const auto wait = timeout();
  const auto rendezvous = std::min<std::chrono::milliseconds>(wait, std::chrono::minutes(5));
  auto impl = std::make_unique<Impl>();
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  const std::string who = "rank " + std::to_string(env.rank) + " of " + std::to_string(env.world);
  // Under torchrun's static rendezvous its agent already serves the store on MASTER_PORT: every rank is
  // a client there, under the prefix of this restart (as torch.distributed does in Python).
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  const bool agent_store = agent != nullptr && std::string(agent) == "True";
  try {
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(env.master_port);
    o.isServer = env.rank == 0 && !agent_store;
    o.numWorkers = static_cast<std::size_t>(env.world);
    o.waitWorkers = false;  // counted below, with a deadline (LibTorch 1.13's own wait gives up silently)
    o.timeout = rendezvous;
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
    if (agent_store) {
      const char* restart = std::getenv("TORCHELASTIC_RESTART_COUNT");
      store = c10::make_intrusive<c10d::PrefixStore>(
          "/worker/attempt_" + std::string(restart != nullptr && *restart != '\0' ? restart : "0"), store);
    }
    impl->store = store;
  } catch (const std::exception& e) {
    throw Error(who + ": the rendezvous at " + where + " failed (" + first_line(e.what()) +
                (env.rank == 0 ? "; is the port already taken?)" : "; did rank 0 start, and is the address right?)"));
  }
  // Every process counts itself in and waits for the rest, at most `rendezvous`: a node that was never started (or
  // was given another --nnodes) is named here, not after the process group's own, longer timeout. The last to
  // count itself in sets "sims/all", which the others wait for.
  int64_t joined = 0;
  try {
    joined = impl->store->add("sims/joined", 1);
    if (joined == env.world) impl->store->set("sims/all", std::vector<uint8_t>{1});
    else {
      try {
        impl->store->wait({"sims/all"}, rendezvous);
      } catch (const std::exception&) {  // the deadline passed: how many came is said below
      }
      joined = impl->store->add("sims/joined", 0);
    }
  } catch (const std::exception& e) {
    throw Error(who + ": the rendezvous at " + where + " failed (" + first_line(e.what()) + ")");
  }
  if (joined < env.world) {
    std::ostringstream waited;
    waited << std::chrono::duration<double>(rendezvous).count();
    throw Error(who + ": only " + std::to_string(joined) + " of the " + std::to_string(env.world) + " processes joined at " + where +
                " within " + waited.str() + " s; start every node with the same --nnodes and --master "
                "(SIMS_DIST_TIMEOUT sets the wait, at most 300 s for this step)");
  }
  try {
    auto opts = c10d::ProcessGroupGloo::Options::create(wait);
    opts->devices.push_back(gloo_device(env));
    impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, env.rank, env.world, opts);
  } catch (const std::exception& e) {
    throw Error(who + ": could not connect to the other processes at " + where + " (" + first_line(e.what()) + ")");
  }
  return std::shared_ptr<Group>(new Group(env.rank, env.world, std::move(impl)));
}

namespace {
template <class F>
void guarded(int rank, double& seconds, const char* op, F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    f();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(rank) + ": lost contact with the other processes during " + op +
                " (one of them stopped, or the network failed: " + first_line(e.what()) + ")");
  }
}
at::Tensor checked(const at::Tensor& t, const char* op) {
  if (!t.defined() || t.device().type() != at::kCPU) throw Error(std::string(op) + ": needs a CPU tensor");
  return t.contiguous();
}
}  // namespace

void Group::allreduce_sum(at::Tensor& t) {
  std::vector<at::Tensor> ts{checked(t, "allreduce")};
  guarded(rank_, comm_seconds_, "an all-reduce", [&] { impl_->pg->allreduce(ts)->wait(); });
  if (!ts[0].is_same(t)) t.copy_(ts[0]);
}

std::vector<at::Tensor> Group::allgather(const at::Tensor& t) {
  std::vector<at::Tensor> in{checked(t, "allgather")};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < size_; ++r) out[0].push_back(at::empty_like(in[0]));
  guarded(rank_, comm_seconds_, "a gather", [&] { impl_->pg->allgather(out, in)->wait(); });
  return out[0];
}

void Group::broadcast(at::Tensor& t, int root) {
  std::vector<at::Tensor> ts{checked(t, "broadcast")};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  guarded(rank_, comm_seconds_, "a broadcast", [&] { impl_->pg->broadcast(ts, o)->wait(); });
  if (!ts[0].is_same(t)) t.copy_(ts[0]);
}

void Group::barrier() {
  guarded(rank_, comm_seconds_, "a barrier", [&] { impl_->pg->barrier()->wait(); });
}

#else  // no Gloo headers at build time

struct Group::Impl {};

bool has_multiprocess() { return false; }

std::shared_ptr<Group> Group::join(const DistEnv& env) {
  if (!env.several()) return nullptr;
  throw Error("this build of sims runs one process only (the Gloo headers, Debian's libgloo-dev, were missing when "
              "it was built)");
}
void Group::allreduce_sum(at::Tensor&) {}
std::vector<at::Tensor> Group::allgather(const at::Tensor& t) { return {t}; }
void Group::broadcast(at::Tensor&, int) {}
void Group::barrier() {}

#endif

std::vector<std::string> Group::allgather_bytes(const std::string& mine) {
  const std::vector<at::Tensor> sizes = allgather(at::tensor({static_cast<int64_t>(mine.size())}, at::kLong));
  int64_t longest = 1;
  for (const at::Tensor& n : sizes) longest = std::max(longest, n.item<int64_t>());
  at::Tensor buf = at::zeros({longest}, at::kByte);
  std::memcpy(buf.data_ptr<uint8_t>(), mine.data(), mine.size());
  const std::vector<at::Tensor> all = allgather(buf);
  std::vector<std::string> out;
  for (size_t r = 0; r < all.size(); ++r)
    out.emplace_back(reinterpret_cast<const char*>(all[r].data_ptr<uint8_t>()),
                     static_cast<size_t>(sizes[r].item<int64_t>()));
  return out;
}

Group::Group(int rank, int size, std::unique_ptr<Impl> impl) : rank_(rank), size_(size), impl_(std::move(impl)) {}
Group::~Group() = default;

}  // namespace sims::dist
