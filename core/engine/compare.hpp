// Two results on the same starting noise, sample by sample: the studio's
// difference view of a pinned result against the live one.
#pragma once
#include <ATen/Tensor.h>

#include "metrics/uncertainty.hpp"

namespace sims::engine {

struct PairedDifference {
  at::Tensor delta;  // live − pinned, per sample, the inputs' shape (float)
  // Points [N, D]: the mean displacement length ||live_i − pinned_i||; images [N, C, H, W]: the mean over images of
  // each image's mean |Δ| per pixel value. With its 95 % Student-t interval over the samples (lower: closer).
  metrics::Estimate mean_abs;
  int64_t pairs = 0;  // the pairs it is computed from (pairs with a non-finite value are left out)
};

// Throws InputError when the shapes differ (the samples are not paired) or there are no samples.
PairedDifference paired_difference(const at::Tensor& live, const at::Tensor& pinned);

}  // namespace sims::engine
