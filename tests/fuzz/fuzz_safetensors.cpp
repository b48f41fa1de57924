// libFuzzer harness: weights-only checkpoints (io::read_safetensors: header
// length, JSON header, shapes, offsets, checksum), the untrusted part of
// loading a model file.
#include "common/error.hpp"
#include "fuzz_file.hpp"
#include "io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    (void)sims::io::read_safetensors(fuzz_file(data, size, ".ckpt"));
  } catch (const sims::Error&) {
  }
  return 0;
}
