// Where the shipped data (assets/: models, networks, fonts; docs/: examples)
// is found at run time. Nothing of the source tree is compiled in:
//   1. $SIMS_DATA_DIR, when set (a folder holding assets/);
//   2. <folder of the executable>/../share/sims: the installed layout, and
//      the build tree, where CMake links share/sims/{assets,docs} to the
//      checkout's folders.
// Throws InputError naming the places looked at when none holds assets/.
#pragma once
#include <string>

namespace sims {

// The folder that holds assets/ (and docs/ in a build tree).
std::string data_dir();

// data_dir() + "/assets/" + rel; `rel` like "models/grid25-base.ckpt".
std::string asset_path(const std::string& rel);

// data_dir() + "/" + rel, for anything beside assets/ (e.g. "docs/repro/shift").
std::string data_path(const std::string& rel);

}  // namespace sims
