// libFuzzer harness: JSON from files (common/json_parse.hpp: bounded depth),
// behind settings, sessions, analytic models, checkpoint metadata and results.
#include <string>

#include "common/error.hpp"
#include "common/json_parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const nlohmann::json j = sims::parse_json_bounded(std::string(reinterpret_cast<const char*>(data), size), "fuzz input");
    (void)j.dump();  // copies and dumps recurse: the depth bound must hold for them too
  } catch (const sims::Error&) {
  }
  return 0;
}
