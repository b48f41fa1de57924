// KID (Bińkowski et al. 2018, "Demystifying MMD GANs"): the unbiased MMD²
// between real and generated features with the cubic polynomial kernel
// k(x, y) = (x·y / d + 1)³, d the feature dimension, averaged over `subsets`
// random subsets of m = min(subset_size, N_real, N_fake) points drawn without
// replacement from each set; the mean and the standard deviation over the
// subsets are reported, as the field's KID code does. With one subset the
// first m rows of each set are used, so the value is deterministic. Unlike FD it has no bias
// from the sample size: its expected value is the population MMD² whatever m.

#pragma once
#include <cstdint>

#include <ATen/Tensor.h>

namespace sims::metrics {

struct Kid {
  double mean = 0;   // mean of the per-subset MMD² estimates
  double std = 0;    // their standard deviation (0 with one subset)
  int64_t subset_size = 0;
  int64_t subsets = 0;
};

// real [Nr, D], fake [Nf, D], float32/float64, finite, Nr, Nf >= 2. Computed
// in float64. Throws InputError on bad shapes, subsets < 1 or subset_size < 2.
Kid kid(const at::Tensor& real, const at::Tensor& fake, int64_t subsets = 100, int64_t subset_size = 1000,
        uint64_t seed = 0);

}  // namespace sims::metrics
