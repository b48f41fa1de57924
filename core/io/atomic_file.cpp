#include "io/atomic_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>
#include <fcntl.h>

#include "common/error.hpp"

namespace fs = std::filesystem;

namespace sims::io {
namespace {

std::string temp_name_for(const std::string& path) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  fs::path p(path);
  std::string leaf = "." + p.filename().string() + ".tmp" + std::to_string(::getpid()) + "_" +
                     std::to_string(rng() % 1000000000ULL);
  return (p.parent_path() / leaf).string();
}

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
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
  const std::string tmp = temp_name_for(path);
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) throw IoError("cannot write '" + path + "': " + std::strerror(errno));
      write(out);
      out.flush();
      if (!out) throw IoError("cannot write '" + path + "': write failed (disk full?)");
    }
    fsync_path(tmp);
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
