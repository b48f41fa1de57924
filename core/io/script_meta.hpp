// The "sims.json" extra file of a TorchScript model, read and checked without torch, so that what a file brings is
// refused with its name and the key before anything is built from it, and so that a fuzz harness can reach it:
//   a denoiser's:       {"shape": [..], "sigma_min": s, "sigma_max": s, "sigma_data": s, anything else kept}
//   a feature network's: {"name": text, "input_size": S, "input_range": [lo, hi], "labels": "multi"|"classes",
//                         "attr_names": [text, ..]}
// Errors are ModelError "'FILE': bad sims.json metadata: REASON" (one line; the reason names the key).
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "common/json_parse.hpp"

namespace sims::io {

// A declared sample shape: 1 to 4 sizes, each from 1 to 65536, at most 2^26 values per sample (the probe and
// every batch allocate from it; the largest U-Net a configuration allows, 64 channels at 1024 pixels, fits).
constexpr size_t kMaxScriptShapeDims = 4;
constexpr int64_t kMaxScriptShapeSize = 65536;
constexpr int64_t kMaxScriptShapeValues = int64_t{1} << 26;

// The largest noise level (sigma_min, sigma_max, sigma_data) a model may state: in TorchScript metadata here, and
// sigma_data in a network configuration (diffusion/network.cpp), so that every model exported loads back.
constexpr double kMaxNoiseLevel = 1e6;

// A number with as few digits as tell it apart from `other` (6 to 17), exponent written short: "80.0000001 is not
// below 80", where six digits would print "80 is not below 80"; 1e6, not 1e+06.
inline std::string distinct_number(double v, double other) {
  auto text = [](double x, int digits) {
    std::ostringstream o;
    o.precision(digits);
    o << x;
    std::string s = o.str();
    const size_t e = s.find('e');
    if (e == std::string::npos) return s;
    std::string exponent = s.substr(e + 1);
    const bool negative = exponent[0] == '-';
    exponent.erase(0, exponent.find_first_not_of("+-0"));
    return s.substr(0, e + 1) + (negative ? "-" : "") + (exponent.empty() ? "0" : exponent);
  };
  std::string s;
  for (int digits = 6; digits <= 17; ++digits) {
    s = text(v, digits);
    if (v == other || s != text(other, digits)) break;
  }
  return s;
}

struct DenoiserScriptMeta {
  nlohmann::json provenance;                          // the object as read (null: no sims.json)
  double sigma_min = 0.0, sigma_max = 0.0;            // as given, else the defaults passed to the reader
  std::optional<double> sigma_data;
  std::vector<int64_t> shape;                         // empty: none declared
};

// What the user's network spec gives (",name=", ",size=", ",range=", ",softmax"): those keys are left unread, as
// the user's value replaces them.
struct FeatureMetaGiven {
  bool name = false, size = false, range = false, softmax = false;
};

struct FeatureScriptMeta {
  std::optional<std::string> name;
  std::optional<int64_t> input_size;                  // 0: any size
  std::optional<std::pair<double, double>> input_range;
  bool multi_label = true;                            // "labels": "classes" -> false
  std::vector<std::string> attr_names;
};

namespace detail {

// Parses the text as a JSON object; ModelError naming the file otherwise.
inline nlohmann::json script_meta_object(const std::string& text, const std::string& path) {
  nlohmann::json meta;
  try {
    meta = parse_json_bounded(text, "its sims.json metadata");
  } catch (const InputError& e) {
    throw ModelError("'" + message_text(path, 300) + "': " + e.what());
  }
  // Not an object (a list, or the metadata encoded twice as a string) would read as "no keys".
  if (!meta.is_object())
    throw ModelError("'" + message_text(path, 300) + "': bad sims.json metadata: it is not a JSON object");
  return meta;
}

// Runs `read`, turning a wrong kind or value into one ModelError naming the file.
template <class F>
void read_script_meta(const std::string& path, F&& read) {
  try {
    read();
  } catch (const nlohmann::json::exception& e) {
    throw ModelError("'" + message_text(path, 300) + "': bad sims.json metadata: " + json_error_words(e));
  } catch (const InputError& e) {
    throw ModelError("'" + message_text(path, 300) + "': bad sims.json metadata: " + e.what());
  }
}

}  // namespace detail

// A TorchScript denoiser's metadata. Noise levels are positive numbers up to 1e6; sigma_min and sigma_max, each
// the default given here where the file does not say, must be in order (a file giving only sigma_min = 100 is
// refused against the default sigma_max of 80); the shape is within the limits above.
inline DenoiserScriptMeta read_denoiser_script_meta(const std::string& text, const std::string& path,
                                                    double default_sigma_min = 0.002,
                                                    double default_sigma_max = 80.0) {
  DenoiserScriptMeta m;
  m.provenance = detail::script_meta_object(text, path);
  const nlohmann::json& j = m.provenance;
  detail::read_script_meta(path, [&] {
    auto sigma = [&](const char* key) -> std::optional<double> {
      if (!j.contains(key)) return std::nullopt;
      const double v = read_as<double>(j.at(key), key);
      if (!(std::isfinite(v) && v > 0 && v <= kMaxNoiseLevel))
        throw InputError(std::string(key) + " is " + json_brief(j.at(key)) + ", not a positive noise level up to " +
                         distinct_number(kMaxNoiseLevel, 0));
      return v;
    };
    const std::optional<double> lo = sigma("sigma_min"), hi = sigma("sigma_max");
    m.sigma_min = lo.value_or(default_sigma_min);
    m.sigma_max = hi.value_or(default_sigma_max);
    m.sigma_data = sigma("sigma_data");
    if (!(m.sigma_min < m.sigma_max)) {
      std::ostringstream why;
      why << "sigma_min " << distinct_number(m.sigma_min, m.sigma_max) << " is not below sigma_max "
          << distinct_number(m.sigma_max, m.sigma_min);
      if (!lo || !hi)
        why << " (where not given, sigma_min is " << default_sigma_min << " and sigma_max " << default_sigma_max << ")";
      throw InputError(why.str());
    }
    if (j.contains("shape")) {
      m.shape = read_as<std::vector<int64_t>>(j.at("shape"), "shape");
      if (m.shape.empty() || m.shape.size() > kMaxScriptShapeDims)
        throw InputError("shape is " + json_brief(j.at("shape")) + ", not 1 to " +
                         std::to_string(kMaxScriptShapeDims) + " sizes");
      int64_t values = 1;
      for (int64_t s : m.shape) {
        if (s < 1 || s > kMaxScriptShapeSize)
          throw InputError("shape is " + json_brief(j.at("shape")) + ": each size must be from 1 to " +
                           std::to_string(kMaxScriptShapeSize));
        values *= s;  // at most 2^26 * 2^16 before the check: no overflow
        if (values > kMaxScriptShapeValues)
          throw InputError("shape is " + json_brief(j.at("shape")) + ": more than " +
                           std::to_string(kMaxScriptShapeValues) + " values per sample");
      }
    }
  });
  return m;
}

// A TorchScript feature network's metadata, less the keys `given` replaces. input_size is a whole number from 0
// (any size) to 65536.
inline FeatureScriptMeta read_feature_script_meta(const std::string& text, const std::string& path,
                                                  const FeatureMetaGiven& given = {}) {
  FeatureScriptMeta m;
  const nlohmann::json j = detail::script_meta_object(text, path);
  detail::read_script_meta(path, [&] {
    // Each value read as its kind, so a wrong one is named ("labels is not text"), not nlohmann's bare words.
    if (!given.name && j.contains("name")) m.name = read_as<std::string>(j.at("name"), "name");
    if (!given.size && j.contains("input_size"))
      m.input_size = read_count(j.at("input_size"), "input_size", kMaxScriptShapeSize);
    if (!given.range && j.contains("input_range")) {
      const auto r = read_as<std::vector<double>>(j.at("input_range"), "input_range");
      if (r.size() != 2 || !(r[0] < r[1]) || !std::isfinite(r[0]) || !std::isfinite(r[1]))
        throw InputError("input_range is not two numbers [lo, hi] with lo < hi");
      m.input_range = std::make_pair(r[0], r[1]);
    }
    if (!given.softmax) {
      const std::string labels = value_or<std::string>(j, "labels", "multi");
      if (labels != "multi" && labels != "classes")
        throw InputError("labels is " + json_brief(j.at("labels")) + ", not \"multi\" or \"classes\"");
      m.multi_label = labels == "multi";
    }
    m.attr_names = value_or<std::vector<std::string>>(j, "attr_names", {});
  });
  return m;
}

}  // namespace sims::io
