// What a loop run was, in words, from its result or configuration JSON (metrics.json, the --json line,
// ImageLoopConfig::to_json()): a short label for a legend and a line of settings for a figure's caption.
// Any field may be missing or of the wrong type (a result file from elsewhere): it reads as "?" then.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace sims::loops {

// "standard", "SIMS ω=1.5" (diffusion and image loops), "gaussian fresh λ=1", then " |Ds|=N".
std::string run_label(const nlohmann::json& j);

// "<label>: U-Nets on 'faces', augment loop, |D_r| = 2000, |D_s| = 1000, 5 generations, heun, 18 steps,
// seed 0" (label: run_label(j) when empty).
std::string run_settings(const nlohmann::json& j, const std::string& label = "");

}  // namespace sims::loops
