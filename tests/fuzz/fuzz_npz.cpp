// libFuzzer harness: .npz archives (metrics::read_npz: stored, deflated and
// zip64 members, as numpy and pytorch-fid write them).
#include "common/error.hpp"
#include "fuzz_file.hpp"
#include "metrics/frechet.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    (void)sims::metrics::read_npz(fuzz_file(data, size, ".npz"));
  } catch (const sims::Error&) {
  }
  return 0;
}
