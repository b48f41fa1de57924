#include "engine/compare.hpp"

#include <cmath>
#include <vector>

#include <ATen/ATen.h>

#include "common/error.hpp"

namespace sims::engine {

PairedDifference paired_difference(const at::Tensor& live, const at::Tensor& pinned) {
  if (!live.defined() || !pinned.defined() || live.dim() < 2 || live.sizes() != pinned.sizes() || live.size(0) < 1)
    throw InputError("the two results are not paired: they need the same sample shape and count");
  PairedDifference d;
  d.delta = (live.to(at::kFloat) - pinned.to(at::kFloat)).contiguous();
  const at::Tensor flat = d.delta.reshape({d.delta.size(0), -1}).to(at::kDouble);
  // Points: the Euclidean length of each displacement; images: the mean absolute difference per pixel value.
  const at::Tensor per = live.dim() == 2 ? flat.pow(2).sum(1).sqrt() : flat.abs().mean(1);
  const at::Tensor c = per.contiguous();
  const std::vector<double> v(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  d.mean_abs = metrics::mean_over_runs(v);
  for (double x : v) d.pairs += std::isfinite(x) ? 1 : 0;
  return d;
}

}  // namespace sims::engine
