#pragma once
// The product's version and the git revision it was built from (the latter
// written at build time by packaging/revision.cmake into the build folder).
#include <string>

const char* sims_revision();

// "0.1.0 (git 3150996)": what --version prints after the program's name.
inline std::string sims_version_text() { return std::string(SIMS_VERSION) + " (git " + sims_revision() + ")"; }
