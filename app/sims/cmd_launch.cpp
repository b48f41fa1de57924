// `sims launch`: starts N processes of one command on this machine with the
// environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT), for one machine or, with --nnodes/--node-rank/
// --master, one node of several. It watches them: when one fails, the others
// are stopped (SIGTERM, then SIGKILL after 10 s) and one error line says
// which rank failed and why; Ctrl-C reaches every process, which keep what
// they finished.
//
// Output: rank 0's standard output passes through (a command's result);
// the other ranks' is discarded. Standard error passes through line by line,
// except "error:" lines, held until the end so that only the cause is shown
// (not the other ranks' "lost contact" that follows it).
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "cli_common.hpp"
#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "dist/env.hpp"
#include "dist/group.hpp"

namespace sims::cli {
namespace {

struct LaunchArgs {
  int nproc = 1, nnodes = 1, node_rank = 0, threads = 0;
  std::string master;
  std::vector<std::string> command;
};

volatile std::sig_atomic_t g_signal = 0, g_signals = 0;
extern "C" void on_launch_signal(int sig) { g_signal = sig, g_signals = g_signals + 1; }

struct Child {
  int rank = 0;
  pid_t pid = -1;
  int err_fd = -1;
  std::string pending;             // stderr text not yet ending in a newline
  std::vector<std::string> errors;  // held "error:" lines
  bool running = true, stopped_by_us = false;
  int status = 0;
  int order = 0;  // 1 + how many children ended before it
};

// A TCP port free on 127.0.0.1 right now (the kernel's pick).
int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) throw IoError("cannot open a socket to find a free port: " + std::string(std::strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  const bool ok = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(s);
  if (!ok) throw IoError("cannot find a free port on 127.0.0.1");
  return ntohs(a.sin_port);
}

// HOST:PORT of --master.
std::pair<std::string, int> parse_master(const std::string& m) {
  const size_t colon = m.rfind(':');
  const std::string port = colon == std::string::npos ? "" : m.substr(colon + 1);
  if (colon == 0 || colon == std::string::npos || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 || std::stoi(port) > 65535)
    throw InputError("--master '" + m + "' must be HOST:PORT with a port in 1..65535");
  return {m.substr(0, colon), std::stoi(port)};
}

std::string this_executable() {
  std::vector<char> buf(4096);
  const ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0) throw IoError("cannot find this program's path (/proc/self/exe)");
  return std::string(buf.data(), static_cast<size_t>(n));
}

// Forwards whole lines of `c`'s standard error; holds "error:" lines. With
// `flush`, the rest too.
void forward(Child& c, bool flush) {
  size_t start = 0;
  for (size_t i = 0; i < c.pending.size(); ++i) {
    if (c.pending[i] != '\n' && c.pending[i] != '\r') continue;
    const std::string piece = c.pending.substr(start, i + 1 - start);
    if (piece.rfind("error:", 0) == 0) c.errors.push_back(piece.substr(0, piece.size() - 1));
    else std::cerr << piece << std::flush;
    start = i + 1;
  }
  c.pending.erase(0, start);
  if (flush && !c.pending.empty()) {
    if (c.pending.rfind("error:", 0) == 0) c.errors.push_back(c.pending);
    else std::cerr << c.pending << std::endl;
    c.pending.clear();
  }
}

void drain(Child& c) {
  if (c.err_fd < 0) return;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(c.err_fd, buf, sizeof buf);
    if (n > 0) {
      c.pending.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      ::close(c.err_fd);
      c.err_fd = -1;
    }
    break;  // EAGAIN: nothing more now
  }
  forward(c, c.err_fd < 0);
}

pid_t start_rank(const LaunchArgs& a, const std::string& exe, int local, int world, const std::string& addr, int port,
                 int err_fd_write, int threads) {
  const int rank = a.node_rank * a.nproc + local;
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  // The child: it goes when the launcher goes (even killed with SIGKILL), then its environment, its output, the command.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) ::_exit(1);
  ::setenv("RANK", std::to_string(rank).c_str(), 1);
  ::setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
  ::setenv("LOCAL_RANK", std::to_string(local).c_str(), 1);
  ::setenv("LOCAL_WORLD_SIZE", std::to_string(a.nproc).c_str(), 1);
  ::setenv("GROUP_RANK", std::to_string(a.node_rank).c_str(), 1);
  ::setenv("MASTER_ADDR", addr.c_str(), 1);
  ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  ::setenv("OMP_NUM_THREADS", std::to_string(threads).c_str(), 1);
  ::dup2(err_fd_write, STDERR_FILENO);
  ::close(err_fd_write);
  if (rank != 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, STDOUT_FILENO);
  }
  std::vector<char*> argv;
  const std::string& prog = a.command[0] == "sims" ? exe : a.command[0];
  argv.push_back(const_cast<char*>(prog.c_str()));
  for (size_t i = 1; i < a.command.size(); ++i) argv.push_back(const_cast<char*>(a.command[i].c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  const std::string msg = "error: rank " + std::to_string(rank) + ": cannot run '" + message_text(a.command[0], 200) + "': " + std::strerror(errno) + "\n";
  (void)!::write(STDERR_FILENO, msg.data(), msg.size());
  ::_exit(127);
}

std::string describe_end(const Child& c) {
  if (WIFSIGNALED(c.status)) {
    const int sig = WTERMSIG(c.status);
    return "rank " + std::to_string(c.rank) + " was killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "rank " + std::to_string(c.rank) + " exited with status " + std::to_string(WEXITSTATUS(c.status));
}

bool failed(const Child& c) { return !c.running && !(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0); }

int run_launch(const LaunchArgs& a) {
  if (dist::read_dist_env().several())
    throw InputError("'sims launch' is already running inside a job of several processes (RANK/WORLD_SIZE are set)");
  if (a.nproc < 1 || a.nproc > 256) throw InputError("--nproc must be in 1..256");
  if (a.nnodes < 1 || a.nnodes > 4096) throw InputError("--nnodes must be in 1..4096");
  if (a.node_rank < 0 || a.node_rank >= a.nnodes)
    throw InputError("--node-rank must be in 0.." + std::to_string(a.nnodes - 1) + " (one per machine, 0 on the --master machine)");
  if (a.threads < 0) throw InputError("--threads must be >= 0");
  if (a.command.empty()) throw InputError("no command given: sims launch --nproc N -- sims COMMAND ...");
  if (a.nnodes > 1 && a.master.empty())
    throw InputError("--nnodes " + std::to_string(a.nnodes) + " needs --master HOST:PORT (the address of node 0, the same on every node)");
  if (a.command[0] == "sims" && a.command.size() > 1 && a.command[1] == "launch")
    throw InputError("the launched command cannot itself be 'sims launch'");
  if (static_cast<long long>(a.nproc) * a.nnodes > 65536) throw InputError("--nproc x --nnodes must be at most 65536");
  if (a.nproc * a.nnodes > 1 && !dist::has_multiprocess())
    throw InputError("this build of sims runs one process only (built without Debian's libgloo-dev)");
  // The program is found before any process starts (each rank's exec failing gave exit 127 and N lines).
  if (a.command[0] != "sims") {
    const std::string& prog = a.command[0];
    bool found = false;
    if (prog.find('/') != std::string::npos) {
      found = ::access(prog.c_str(), X_OK) == 0 && !std::filesystem::is_directory(prog);
    } else if (const char* path = std::getenv("PATH")) {
      std::stringstream dirs(path);
      for (std::string d; !found && std::getline(dirs, d, ':');) {
        const std::string f = (d.empty() ? "." : d) + "/" + prog;
        found = ::access(f.c_str(), X_OK) == 0 && !std::filesystem::is_directory(f);
      }
    }
    if (!found) throw InputError("cannot run '" + prog + "': no such program, or it may not be run");
  }
  std::string addr = "127.0.0.1";
  int port = 0;
  if (!a.master.empty()) std::tie(addr, port) = parse_master(a.master);
  else port = free_port();
  const int world = a.nproc * a.nnodes;
  // The cores this process may use (Slurm's or a container's CPU set, not the machine's).
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  const unsigned cores = ::sched_getaffinity(0, sizeof allowed, &allowed) == 0
                             ? std::max(1u, static_cast<unsigned>(CPU_COUNT(&allowed)))
                             : std::max(1u, std::thread::hardware_concurrency());
  const int threads = a.threads > 0 ? a.threads : static_cast<int>(std::max(1u, cores / static_cast<unsigned>(a.nproc)));
  const std::string exe = this_executable();

  struct sigaction sa {};
  sa.sa_handler = on_launch_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);

  std::vector<Child> kids(static_cast<size_t>(a.nproc));
  auto give_up = [&](const std::string& what) {  // the ones already started go too
    const std::string why = what + ": " + std::strerror(errno);
    for (Child& c : kids)
      if (c.pid > 0) ::kill(c.pid, SIGKILL), ::waitpid(c.pid, nullptr, 0);
    return IoError(why);
  };
  for (int i = 0; i < a.nproc; ++i) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw give_up("cannot create a pipe");
    Child& c = kids[static_cast<size_t>(i)];
    c.rank = a.node_rank * a.nproc + i;
    c.pid = start_rank(a, exe, i, world, addr, port, fds[1], threads);
    ::close(fds[1]);
    if (c.pid < 0) {
      ::close(fds[0]);
      throw give_up("cannot start a process");
    }
    c.err_fd = fds[0];
    ::fcntl(c.err_fd, F_SETFL, ::fcntl(c.err_fd, F_GETFL) | O_NONBLOCK);
  }

  using clock = std::chrono::steady_clock;
  bool stopping = false, killed_on_request = false;
  clock::time_point kill_at{};
  int ended = 0;
  auto stop_others = [&](int sig) {
    for (Child& c : kids)
      if (c.running) {
        ::kill(c.pid, sig);
        c.stopped_by_us = true;
      }
  };
  for (;;) {
    std::vector<pollfd> fds;
    for (Child& c : kids)
      if (c.err_fd >= 0) fds.push_back({c.err_fd, POLLIN, 0});
    if (!fds.empty()) ::poll(fds.data(), fds.size(), 100);
    else std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (Child& c : kids) drain(c);
    for (Child& c : kids) {
      if (!c.running) continue;
      int st = 0;
      if (::waitpid(c.pid, &st, WNOHANG) == c.pid) {
        c.running = false, c.status = st, c.order = ++ended;
        if (failed(c) && !stopping) {
          stopping = true;  // one failed: stop the others
          stop_others(SIGTERM);
          kill_at = clock::now() + std::chrono::seconds(10);
        }
      }
    }
    if (g_signal != 0 && stopping && g_signals > 1 && !killed_on_request) {
      stop_others(SIGKILL);  // asked twice: now
      killed_on_request = true;
    }
    if (g_signal != 0 && !stopping) {
      // Passed on (a Ctrl-C from a terminal reached them already; a second
      // request only sets their stop flag again): they stop cleanly, keeping
      // what they finished, or are killed 30 s later.
      stop_others(g_signal == SIGINT ? SIGINT : SIGTERM);
      stopping = true;
      kill_at = clock::now() + std::chrono::seconds(30);
    }
    if (stopping && clock::now() > kill_at) stop_others(SIGKILL);
    bool any_running = false, any_open = false;
    for (const Child& c : kids) any_running |= c.running, any_open |= c.err_fd >= 0;
    if (!any_running && !any_open) break;
    if (!any_running && any_open) {
      for (Child& c : kids) {
        drain(c);
        if (c.err_fd >= 0) ::close(c.err_fd), c.err_fd = -1, forward(c, true);
      }
      break;
    }
  }

  // The cause: a rank killed by a signal we did not send; else the first rank
  // that failed with an error of its own (not a lost contact with the others).
  const Child* cause = nullptr;
  for (const Child& c : kids)
    if (failed(c) && WIFSIGNALED(c.status) && !c.stopped_by_us && (!cause || c.order < cause->order)) cause = &c;
  auto own_error = [](const Child& c) {
    for (const auto& e : c.errors)
      if (e.find("lost contact with the other processes") == std::string::npos) return true;
    return false;
  };
  if (!cause)
    for (const Child& c : kids)
      if (failed(c) && own_error(c) && (!cause || c.order < cause->order)) cause = &c;
  if (!cause)
    for (const Child& c : kids)
      if (failed(c) && (!cause || c.order < cause->order)) cause = &c;
  if (!cause) return 0;
  // Stopped on request: the processes said what they kept; no error to add.
  if (g_signal != 0 && WIFEXITED(cause->status) && WEXITSTATUS(cause->status) == 130 && cause->errors.empty()) return 130;
  const int others = a.nproc - 1;  // on this machine; those on other machines stop when they lose contact
  const std::string rest = others > 0 ? "; the other " + (others == 1 ? std::string("process was") : std::to_string(others) + " processes were") + " stopped" : "";
  if (WIFSIGNALED(cause->status) || cause->errors.empty()) {
    std::cerr << "error: " << describe_end(*cause) << rest << std::endl;
  } else {
    std::cerr << cause->errors.front() << std::endl;
  }
  if (WIFEXITED(cause->status) && WEXITSTATUS(cause->status) != 0) return WEXITSTATUS(cause->status);
  return g_signal == SIGINT ? 130 : 1;
}

}  // namespace

void add_launch_command(CLI::App& app, Registry& reg) {
  auto a = std::make_shared<LaunchArgs>();
  CLI::App* c = app.add_subcommand(
      "launch", "Run a command as several processes, like torchrun (train, finetune, synth, sweep, tune and loop "
                "--family diffusion2d share their work): sims launch --nproc N -- sims COMMAND ...");
  c->add_option("--nproc", a->nproc, "processes on this machine (default 1)");
  c->add_option("--nnodes", a->nnodes, "machines taking part (default 1)");
  c->add_option("--node-rank", a->node_rank, "this machine's index, 0 on the --master machine (default 0)");
  c->add_option("--master", a->master, "HOST:PORT of node 0's rendezvous (default: 127.0.0.1 and a free port)");
  c->add_option("--threads", a->threads, "LibTorch threads per process (default: cores / nproc)");
  c->add_option("command", a->command, "the command after '--', e.g. -- sims loop --family diffusion2d ...");
  reg.actions.push_back({c, [a] { return run_launch(*a); }});
}

}  // namespace sims::cli
