#include "io/atomic_file.hpp"

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <signal.h>
#include <unistd.h>
#include <fcntl.h>

#include "common/error.hpp"

namespace fs = std::filesystem;

namespace sims::io {
namespace {

// This machine, as 8 hex digits of its host name: a temporary file names the machine and the process that
// writes it, so only this machine's dead writers' files are ever cleaned up (a shared folder may be written
// from several machines, whose process ids mean nothing here).
const std::string& host_tag() {
  static const std::string tag = [] {
    char name[256] = {0};
    ::gethostname(name, sizeof name - 1);
    uint32_t h = 2166136261u;  // FNV-1a
    for (const char* c = name; *c; ++c) h = (h ^ static_cast<unsigned char>(*c)) * 16777619u;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", h);
    return std::string(buf);
  }();
  return tag;
}

std::string temp_name_for(const std::string& path) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  fs::path p(path);
  std::string leaf = "." + p.filename().string() + ".tmp" + std::to_string(::getpid()) + "-" + host_tag() + "_" +
                     std::to_string(rng() % 1000000000ULL);
  return (p.parent_path() / leaf).string();
}

bool digits(const std::string& s) { return !s.empty() && s.size() <= 10 && s.find_first_not_of("0123456789") == std::string::npos; }

// Temporary files of writers that were killed (kill -9, power loss) stay behind as
// ".<name>.tmp<pid>-<host>_<n>"; the first write into a folder removes those of this
// machine whose process is gone and that have not changed for a minute, so an
// interrupted run does not keep the disk full. Once per folder and process: folders
// of thousands of samples are not listed again on every write.
void remove_orphans(const fs::path& dir) {
  static std::mutex mu;
  static std::set<std::string> done;
  std::error_code ec;
  {
    std::lock_guard<std::mutex> lock(mu);
    const fs::path abs = fs::absolute(dir, ec);
    if (ec || !done.insert(abs.string()).second) return;
  }
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const size_t tmp = name.rfind(".tmp"), dash = name.rfind('-'), us = name.rfind('_');
    if (name.size() < 2 || name[0] != '.' || tmp == std::string::npos || dash == std::string::npos ||
        us == std::string::npos || !(tmp < dash && dash < us))
      continue;
    const std::string pid_text = name.substr(tmp + 4, dash - tmp - 4);
    if (!digits(pid_text) || !digits(name.substr(us + 1)) || name.substr(dash + 1, us - dash - 1) != host_tag())
      continue;
    const long long pid = std::stoll(pid_text);
    if (pid == ::getpid() || pid <= 0 || pid > 0x7fffffff) continue;
    std::error_code t;
    const auto mtime = fs::last_write_time(it->path(), t);
    if (t || now - mtime < std::chrono::minutes(1)) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove(it->path(), t);
  }
}

// 0, or the errno of a failed fsync (a full disk can show only here, e.g. on NFS).
int fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return 0;
  const int rc = ::fsync(fd), err = errno;
  ::close(fd);
  return rc == 0 || err == EINVAL ? 0 : err;  // EINVAL: the file system does not sync (e.g. some FUSE)
}

std::string write_failure(const std::string& path, int err) {
  return "cannot write '" + path + "': " + (err != 0 ? std::string(std::strerror(err)) : "write failed") +
         (err == ENOSPC || err == EDQUOT ? "; nothing was written" : "");
}

}  // namespace

void check_writable(const std::string& path) {
  if (path.empty()) throw IoError("empty output path");
  fs::path p(path);
  fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw IoError("cannot write '" + path + "': directory '" + dir.string() + "' does not exist");
  if (fs::is_directory(p, ec)) throw IoError("cannot write '" + path + "': it is a directory");
  if (::access(dir.c_str(), W_OK) != 0)
    throw IoError("cannot write '" + path + "': directory '" + dir.string() + "' is not writable");
}

void write_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  check_writable(path);
  remove_orphans(fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path());
  const std::string tmp = temp_name_for(path);
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) throw IoError("cannot write '" + path + "': " + std::strerror(errno));
      errno = 0;
      write(out);
      out.flush();
      if (!out) throw IoError(write_failure(path, errno));
      out.close();
      if (!out) throw IoError(write_failure(path, errno));
    }
    if (const int err = fsync_path(tmp)) throw IoError(write_failure(path, err));
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) throw IoError("cannot write '" + path + "': " + ec.message());
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

void write_file_atomically(const std::string& path, const void* data, size_t size) {
  write_atomically(path, [&](std::ostream& out) {
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  });
}

}  // namespace sims::io
