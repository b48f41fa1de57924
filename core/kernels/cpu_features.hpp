// What the CPU can run, probed once at run time. The hand-written kernels
// are compiled with per-function target attributes (no -mavx2 for the rest of
// the build), so whether they may run is a property of the machine, not of
// the binary: this is the one place that asks.
#pragma once

namespace sims::kernels {

struct CpuFeatures {
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool avx2_fma() const { return avx2 && fma; }
};

// The running CPU's features (all false where the build has no x86 kernels).
// Probed on the first call; thread-safe.
const CpuFeatures& cpu_features();

}  // namespace sims::kernels
