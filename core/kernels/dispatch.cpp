#include "kernels/dispatch.hpp"

#include <array>
#include <atomic>
#include <cstdlib>
#include <string>

#include "common/error.hpp"
#include "kernels/cpu_features.hpp"

namespace sims::kernels {

namespace {

constexpr int kFamilies = 3;

int index(KernelFamily f) { return static_cast<int>(f); }

// [family][0 = Reference, 1 = Fast]
std::array<std::array<std::atomic<uint64_t>, 2>, kFamilies> g_counts{};

const char* env_or_null(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

std::array<KernelPath, kFamilies> read_environment() {
  std::array<KernelPath, kFamilies> d{};
  d.fill(KernelPath::Auto);
  if (const char* all = env_or_null("SIMS_KERNELS")) {
    try {
      d.fill(parse_kernel_path(all));
    } catch (const InputError&) {
      throw InputError(std::string("SIMS_KERNELS must be auto, reference or fast (got '") + all + "')");
    }
  }
  if (const char* e = env_or_null("SIMS_MLP_FAST"); e && std::string(e) == "0")
    d[index(KernelFamily::Mlp)] = KernelPath::Reference;
  if (const char* e = env_or_null("SIMS_ENSEMBLE_FAST"); e && std::string(e) == "0")
    d[index(KernelFamily::Ensemble)] = KernelPath::Reference;
  return d;
}

}  // namespace

KernelPath env_default(KernelFamily family) {
  static const std::array<KernelPath, kFamilies> d = read_environment();  // a throw retries on the next call
  return d[index(family)];
}

bool cpu_supports(KernelFamily family) {
  const CpuFeatures& f = cpu_features();
  switch (family) {
    case KernelFamily::Mlp:
    case KernelFamily::Ensemble: return f.avx2_fma();
    case KernelFamily::Transport: return f.avx;
  }
  return false;
}

KernelPath resolve_rule(KernelPath requested, KernelPath env, bool cpu_ok, KernelFamily family) {
  const KernelPath want = requested == KernelPath::Auto ? env : requested;
  if (want == KernelPath::Reference) return KernelPath::Reference;
  if (want == KernelPath::Fast && !cpu_ok)
    throw Error(std::string("the fast ") + kernel_family_name(family) + " kernels were asked for, but this CPU lacks " +
                (family == KernelFamily::Transport ? "AVX" : "AVX2/FMA") + " (use the reference path)");
  return cpu_ok ? KernelPath::Fast : KernelPath::Reference;
}

KernelPath resolve(KernelPath requested, KernelFamily family) {
  const KernelPath env = requested == KernelPath::Auto ? env_default(family) : KernelPath::Auto;
  const KernelPath r = resolve_rule(requested, env, cpu_supports(family), family);
  g_counts[static_cast<size_t>(index(family))][r == KernelPath::Fast ? 1 : 0].fetch_add(1, std::memory_order_relaxed);
  return r;
}

uint64_t dispatch_count(KernelFamily family, KernelPath path) {
  if (path == KernelPath::Auto) return 0;
  return g_counts[static_cast<size_t>(index(family))][path == KernelPath::Fast ? 1 : 0].load(std::memory_order_relaxed);
}

const char* kernel_path_name(KernelPath path) {
  switch (path) {
    case KernelPath::Auto: return "auto";
    case KernelPath::Reference: return "reference";
    case KernelPath::Fast: return "fast";
  }
  return "?";
}

const char* kernel_family_name(KernelFamily family) {
  switch (family) {
    case KernelFamily::Mlp: return "MLP";
    case KernelFamily::Ensemble: return "ensemble";
    case KernelFamily::Transport: return "transport";
  }
  return "?";
}

KernelPath parse_kernel_path(std::string_view s) {
  if (s == "auto") return KernelPath::Auto;
  if (s == "reference") return KernelPath::Reference;
  if (s == "fast") return KernelPath::Fast;
  throw InputError("kernel path must be auto, reference or fast (got '" + std::string(s) + "')");
}

}  // namespace sims::kernels
