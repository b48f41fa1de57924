#include "helpers.hpp"

#include <cstdlib>
#include <filesystem>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "common/error.hpp"

namespace sims::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sims_test_XXXXXX").string();
  char* p = ::mkdtemp(tmpl.data());
  // Never a shared folder instead: the destructor removes what it names, and tests run side by side.
  if (!p) throw std::runtime_error("cannot make a temporary folder from " + tmpl);
  path = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

DamageCount damage_fields(const nlohmann::json& good, int trials, uint64_t seed,
                          const std::function<void(const nlohmann::json&)>& read) {
  using nlohmann::json;
  const std::vector<json> palette{1e300, -1e300, -1, 2.5, 3.0, std::numeric_limits<int64_t>::max(),
                                  std::numeric_limits<uint64_t>::max(), int64_t{1} << 41, "x", "nan", nullptr, true,
                                  json::array(), json::object(), json::array({"a", "b"}), json(std::vector<int>(200001, 1))};
  std::vector<std::string> keys;
  for (auto it = good.begin(); it != good.end(); ++it) keys.push_back(it.key());
  std::mt19937_64 rng(seed);
  DamageCount n;
  if (keys.empty()) return n;
  for (int t = 0; t < trials; ++t) {
    json j = good;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const std::string& k = keys[rng() % keys.size()];
      if (!j.contains(k)) continue;
      json& v = j[k];
      const json& with = palette[rng() % palette.size()];
      switch (rng() % 4) {
        case 0: j.erase(k); break;                                            // removed
        case 1:                                                                // one entry of a list
          if (v.is_array() && !v.empty()) { v[rng() % v.size()] = with; break; }
          [[fallthrough]];
        default: v = with; break;                                              // the whole value
      }
    }
    try {
      read(j);
      ++n.read;
    } catch (const InputError&) {
      ++n.refused;
    }
  }
  return n;
}

}  // namespace sims::test
