// For harnesses whose reader takes a path: the input written to a file of
// this process (libFuzzer runs one input at a time per process).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include <unistd.h>

// Writes the input to `path` (best effort: a reader then reports the missing or short file).
inline void write_fuzz_input(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return;
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
}

// The path is fixed by the first call's suffix (one harness, one suffix).
inline std::string fuzz_file(const uint8_t* data, size_t size, const char* suffix) {
  static const std::string path = "/tmp/sims-fuzz-" + std::to_string(getpid()) + suffix;
  write_fuzz_input(path, data, size);
  return path;
}
