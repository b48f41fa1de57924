// Which implementation of a hand-written kernel runs: the plain reference
// (a loop or LibTorch ops, the definition) or the fast one (AVX2/FMA or AVX).
// Options structs carry a KernelPath to the call sites; this file holds the
// one rule that turns it into a decision.
//
// Environment variables (read once, here, and only as the default that
// KernelPath::Auto follows; an explicit Reference or Fast in the options wins):
//   SIMS_KERNELS=auto|reference|fast  every kernel family (unset: auto)
//   SIMS_MLP_FAST=0                   EdmMlp's one-sigma sampling path -> reference
//   SIMS_ENSEMBLE_FAST=0              the loop ensemble's training and sampling kernels -> reference
// The per-family switches are the older names, kept for before/after
// benchmarks; "fast" makes Auto behave like Fast (an error where the CPU
// cannot run the kernels).
#pragma once
#include <cstdint>
#include <string_view>

namespace sims::kernels {

enum class KernelPath {
  Auto,       // Fast when the CPU has the features (and the environment does not say otherwise)
  Reference,  // the plain implementation, on every machine
  Fast,       // the hand-written kernel; an error on a CPU without its features
};

// Groups of kernels switched together, each needing one set of CPU features.
enum class KernelFamily {
  Mlp,        // EdmMlp sampling: fused dense+SiLU layers, SiLU (AVX2+FMA)
  Ensemble,   // loop ensemble: fused loss+gradient, one-sigma forward (AVX2+FMA)
  Transport,  // exact OT pricing scan (AVX)
};

// Reference or Fast (never Auto) for a request:
//   Reference -> Reference
//   Fast      -> Fast; sims::Error if the CPU lacks the family's features
//   Auto      -> the environment's default for the family; if that is Auto
//                too, Fast when the CPU has the features, else Reference.
// Each call is counted (dispatch_count) so tests can see what was chosen.
KernelPath resolve(KernelPath requested, KernelFamily family);
inline bool use_fast(KernelPath requested, KernelFamily family) {
  return resolve(requested, family) == KernelPath::Fast;
}

// The rule alone: env_default is what the environment asks for, cpu_ok
// whether the CPU has the family's features. Throws like resolve.
KernelPath resolve_rule(KernelPath requested, KernelPath env_default, bool cpu_ok, KernelFamily family);

// What the environment asks of a family (Auto when it says nothing). Read
// once; throws sims::InputError on a value it does not understand.
KernelPath env_default(KernelFamily family);

// Whether this CPU has the features the family's fast kernels need.
bool cpu_supports(KernelFamily family);

// How often resolve() returned `path` for the family (since start).
uint64_t dispatch_count(KernelFamily family, KernelPath path);

const char* kernel_path_name(KernelPath path);  // "auto", "reference", "fast"
const char* kernel_family_name(KernelFamily family);
KernelPath parse_kernel_path(std::string_view s);  // throws sims::InputError

}  // namespace sims::kernels

namespace sims {
using kernels::KernelPath;
}
