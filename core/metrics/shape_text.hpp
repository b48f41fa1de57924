// A tensor's shape as messages show it: "[N, D]".
#pragma once
#include <string>

#include <ATen/core/Tensor.h>

namespace sims::metrics {

inline std::string shape_str(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace sims::metrics
