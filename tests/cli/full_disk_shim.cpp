// A full disk for the tests, without root: preloaded (LD_PRELOAD) into a
// command, it makes write() fail with ENOSPC once more than
// SIMS_TEST_FULL_BYTES bytes in all have gone to files under
// SIMS_TEST_FULL_DIR, as a full file system does. Writes elsewhere (the
// terminal, other folders) pass through. Used by tests/cli/test_full_disk.sh.
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>

namespace {

std::atomic<long long> g_written{0};

bool under_full_dir(int fd) {
  const char* dir = getenv("SIMS_TEST_FULL_DIR");
  if (dir == nullptr || *dir == '\0') return false;
  char link[64], target[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, target, sizeof target - 1);
  if (n <= 0) return false;
  target[n] = '\0';
  const size_t len = strlen(dir);
  return strncmp(target, dir, len) == 0 && (target[len] == '/' || target[len] == '\0');
}

// How many of `want` bytes still fit; -1 with errno = ENOSPC when none do.
ssize_t room(int fd, size_t want) {
  if (!under_full_dir(fd)) return static_cast<ssize_t>(want);
  const char* limit = getenv("SIMS_TEST_FULL_BYTES");
  const long long cap = limit != nullptr ? atoll(limit) : 0;
  if (want == 0) return 0;
  long long used = g_written.load();
  for (;;) {  // reserve the bytes that fit, also when threads write at once
    if (used >= cap) {
      errno = ENOSPC;
      return -1;
    }
    const long long fit = cap - used < static_cast<long long>(want) ? cap - used : static_cast<long long>(want);
    if (g_written.compare_exchange_weak(used, used + fit)) return static_cast<ssize_t>(fit);
  }
}

template <class F>
F next(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" ssize_t write(int fd, const void* buf, size_t count) {
  static auto real = next<ssize_t (*)(int, const void*, size_t)>("write");
  const ssize_t fit = room(fd, count);
  if (fit < 0) return -1;
  return real(fd, buf, static_cast<size_t>(fit));
}

extern "C" ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  static auto real = next<ssize_t (*)(int, const struct iovec*, int)>("writev");
  size_t total = 0;
  for (int i = 0; i < iovcnt; ++i) total += iov[i].iov_len;
  const ssize_t fit = room(fd, total);
  if (fit < 0) return -1;
  if (static_cast<size_t>(fit) == total) return real(fd, iov, iovcnt);
  // Part fits: write the first `fit` bytes of the vector only.
  static auto real_write = next<ssize_t (*)(int, const void*, size_t)>("write");
  size_t left = static_cast<size_t>(fit);
  ssize_t done = 0;
  for (int i = 0; i < iovcnt && left > 0; ++i) {
    const size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
    const ssize_t w = real_write(fd, iov[i].iov_base, n);
    if (w < 0) return done > 0 ? done : -1;
    done += w;
    left -= static_cast<size_t>(w);
    if (static_cast<size_t>(w) < n) break;
  }
  return done;
}

extern "C" ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  static auto real = next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite64");
  const ssize_t fit = room(fd, count);
  if (fit < 0) return -1;
  return real(fd, buf, static_cast<size_t>(fit), offset);
}

extern "C" ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  static auto real = next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  const ssize_t fit = room(fd, count);
  if (fit < 0) return -1;
  return real(fd, buf, static_cast<size_t>(fit), offset);
}
