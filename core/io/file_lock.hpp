// One process at a time: an exclusive advisory lock (flock) on a lock file, held while the FileLock lives. A run
// folder's ".lock" and a checkpoint's ".NAME.lock" beside it are taken this way. The lock file is created where
// absent and kept afterwards: removing it could let a second process lock a new file of the same name while the
// first one still holds the old one. Two FileLocks on one file in one process exclude each other too (the lock
// belongs to the open file, not the process), so the Studio's jobs are kept apart as separate processes are.
#pragma once
#include <string>

namespace sims::io {

class FileLock {
 public:
  enum class State {
    Held,    // this object holds the lock
    Busy,    // another FileLock (of this or another process) holds it
    NoFile,  // no lock held: the file cannot be created, opened or locked (a missing or read-only folder, a file
             // system without locks: the caller decides what that means), or it was released or never asked for
  };
  FileLock() = default;
  // Takes the lock on `path` without waiting; state() says how that went.
  explicit FileLock(const std::string& path);
  ~FileLock();
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  State state() const { return state_; }
  bool held() const { return state_ == State::Held; }
  // Frees the lock now (as the destructor does).
  void release();

 private:
  int fd_ = -1;
  State state_ = State::NoFile;
};

}  // namespace sims::io
