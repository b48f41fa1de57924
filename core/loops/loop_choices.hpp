// The names of the loop settings that every loop family shares, for their
// settings declarations (experiment/settings.hpp): one spelling everywhere.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "loops/diffusion_loop.hpp"
#include "loops/gaussian_loop.hpp"

namespace sims::loops {

inline std::vector<std::pair<LoopKind, std::string>> loop_kind_names() {
  return {{LoopKind::FullySynthetic, "fully-synthetic"}, {LoopKind::Augment, "augment"}, {LoopKind::Fresh, "fresh"}};
}

// The synthetic pool: the last generation's set (replace) or all of them (accumulate).
inline std::vector<std::pair<bool, std::string>> pool_names() { return {{false, "replace"}, {true, "accumulate"}}; }

inline std::vector<std::pair<LoopAlgorithm, std::string>> algorithm_names() {
  return {{LoopAlgorithm::Standard, "standard"}, {LoopAlgorithm::Sims, "sims"}};
}

}  // namespace sims::loops
