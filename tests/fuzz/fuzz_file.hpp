// For harnesses whose reader takes a path: the input written to a file of
// this process (libFuzzer runs one input at a time per process).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include <unistd.h>

inline std::string fuzz_file(const uint8_t* data, size_t size, const char* suffix) {
  static const std::string path = "/tmp/sims-fuzz-" + std::to_string(getpid()) + suffix;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return path;
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  return path;
}
