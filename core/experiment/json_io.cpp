#include "experiment/json_io.hpp"

#include <cmath>
#include <fstream>
#include <vector>

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "io/atomic_file.hpp"
#include "io/crc32.hpp"

namespace sims::experiment {

json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError("cannot read '" + path + "'");
  return parse_json_bounded(in, "'" + path + "'");
}

json read_json_or_null(const std::string& path) {
  std::ifstream in(path);
  if (!in) return nullptr;
  try {
    return parse_json_bounded(in, path);
  } catch (const InputError&) {
    return nullptr;
  }
}

void write_text_file(const std::string& path, const std::string& text) {
  io::write_file_atomically(path, text.data(), text.size());
}

void write_json_file(const std::string& path, const json& j) { write_text_file(path, j.dump(2) + "\n"); }

json setting_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

json result_number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

double read_number(const json& j, const std::string& what) {
  if (j.is_number()) return j.get<double>();
  if (j.is_null()) return NAN;
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (s == "inf" || s == "+inf" || s == "Infinity") return INFINITY;
    if (s == "-inf" || s == "-Infinity") return -INFINITY;
    if (s == "nan" || s == "NaN") return NAN;
  }
  throw InputError(what + ": expected a number, got " + json_brief(j));
}

std::vector<double> read_numbers(const json& j, const std::string& what, size_t max_count) {
  if (!j.is_array() || j.size() > max_count) throw InputError(what + " is not a list of numbers");
  std::vector<double> v;
  v.reserve(j.size());
  for (const auto& x : j) v.push_back(read_number(x, what));
  return v;
}

json file_fingerprint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read '" + path + "'");
  std::vector<char> buf(1 << 20);
  uint32_t crc = 0;
  int64_t bytes = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto got = static_cast<size_t>(in.gcount());
    if (!got) break;
    crc = io::crc32(buf.data(), got, crc);
    bytes += static_cast<int64_t>(got);
  }
  return {{"bytes", bytes}, {"crc32", crc}};
}

}  // namespace sims::experiment
