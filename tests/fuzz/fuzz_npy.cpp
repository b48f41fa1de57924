// libFuzzer harness: .npy bytes (io::parse_npy_bytes, behind every .npy and
// .npz reader). Any input must give a tensor or a sims::Error, never a crash,
// a sanitizer report or an allocation beyond what the bytes describe.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.hpp"
#include "io/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    (void)sims::io::parse_npy_bytes(std::string(reinterpret_cast<const char*>(data), size), "fuzz input");
  } catch (const sims::Error&) {
  }
  return 0;
}
