// Atomic file writing: data goes to a temporary file beside the target, is
// flushed, and is renamed over the target only when complete, so a crash or
// an error never leaves a half-written output at the target path.
#pragma once
#include <functional>
#include <ostream>
#include <string>

namespace sims::io {

// Calls write(stream) on a temporary file in the target's directory and
// renames it onto `path` when write returns normally and the stream is good.
// On any failure the temporary is removed and sims::IoError is thrown.
void write_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

// Same for a ready byte buffer.
void write_file_atomically(const std::string& path, const void* data, size_t size);

// Throws IoError early when `path` cannot be created (missing directory,
// no permission), before long work starts.
void check_writable(const std::string& path);

}  // namespace sims::io
