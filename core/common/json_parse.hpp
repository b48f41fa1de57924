// JSON from files users bring, parsed with a bound on nesting: nlohmann's
// parser is iterative, but copying, comparing and dumping a value recurse,
// so a crafted file nested a hundred thousand levels deep would overflow the
// stack later, far from where it was read. Everything the program reads from
// a file goes through parse_json_bounded.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace sims {

// No settings file, checkpoint header or session of this program nests deeper than a few levels.
constexpr int kMaxJsonDepth = 64;

// Parses `text` (a string or an input stream); throws InputError naming `what` when the text is not JSON, holds a
// number beyond a double, or nests deeper than kMaxJsonDepth levels.
template <class Input>
nlohmann::json parse_json_bounded(Input&& text, const std::string& what) {
  // nlohmann passes the depth of the value being built: 0 for the top level.
  struct TooDeep {};
  nlohmann::json::parser_callback_t cb = [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth >= kMaxJsonDepth) throw TooDeep{};  // stop at once: the rest is not read
    return true;
  };
  try {
    return nlohmann::json::parse(std::forward<Input>(text), cb);
  } catch (const TooDeep&) {
    throw InputError(what + " nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  } catch (const nlohmann::json::exception& e) {
    // A syntax error, or a number too large for a double (out_of_range, found by tests/fuzz/fuzz_json.cpp).
    // nlohmann's message quotes the last token read, which in a damaged file can be megabytes long.
    std::string msg = e.what();
    msg = msg.substr(std::min(msg.size(), msg.find(']') + 2));
    if (msg.size() > 160) msg = msg.substr(0, 160) + "...";
    for (char& c : msg)
      if (c == '\n' || c == '\r') c = ' ';
    throw InputError(what + " is not valid JSON (" + msg + ")");
  }
}

// A stored count: a whole number from 0 to `max`; throws InputError "WHAT is not a count" for anything else (a
// fraction, 1e300, a string, a negative), so no number out of range ever reaches a conversion to an integer
// (nlohmann's get<int>() of a float out of range is undefined behaviour).
inline int64_t read_count(const nlohmann::json& j, const std::string& what, int64_t max = int64_t{1} << 40) {
  // Positive integers parse as unsigned, negative ones as signed, anything with a fraction or exponent as float.
  if (j.is_number_unsigned() && j.get<uint64_t>() <= static_cast<uint64_t>(std::max<int64_t>(max, 0)))
    return static_cast<int64_t>(j.get<uint64_t>());
  if (j.is_number_integer() && !j.is_number_unsigned() && j.get<int64_t>() >= 0 && j.get<int64_t>() <= max)
    return j.get<int64_t>();
  throw InputError(what + " is not a count");
}

// j[key] read by read_count where present, `fallback` where absent (j not an object: absent); its error names
// `context` + key ("'run/metrics.json': generations is not a count").
inline int64_t count_or(const nlohmann::json& j, const std::string& key, int64_t fallback,
                        int64_t max = int64_t{1} << 40, const std::string& context = "") {
  return j.is_object() && j.contains(key) ? read_count(j.at(key), context + key, max) : fallback;
}

namespace detail {
template <class T>
struct IsVector : std::false_type {};
template <class E>
struct IsVector<std::vector<E>> : std::true_type {};
}  // namespace detail

// A stored value read as T: an integer type takes only a whole number that fits it (InputError "WHAT is not a
// whole number from MIN to MAX" else: a float such as 1e300 converted to an integer is undefined behaviour), a list
// of them a list; any other type as nlohmann reads it (a json::exception where the kind is wrong).
template <class T>
T read_as(const nlohmann::json& v, const std::string& what) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using L = std::numeric_limits<T>;
    if (v.is_number_unsigned()) {
      if (v.get<uint64_t>() <= static_cast<uint64_t>(L::max())) return static_cast<T>(v.get<uint64_t>());
    } else if (v.is_number_integer()) {  // negative
      if (std::is_signed_v<T> && v.get<int64_t>() >= static_cast<int64_t>(L::min())) return static_cast<T>(v.get<int64_t>());
    }
    throw InputError(what + " is not a whole number from " + std::to_string(L::min()) + " to " + std::to_string(L::max()));
  } else if constexpr (detail::IsVector<T>::value) {
    if (!v.is_array()) throw InputError(what + " is not a list");
    T out;
    for (const auto& e : v) out.push_back(read_as<typename T::value_type>(e, what));
    return out;
  } else {
    return v.get<T>();
  }
}

// j.value(key, fallback) read by read_as: `fallback` where j has no such key.
template <class T>
T value_or(const nlohmann::json& j, const std::string& key, const T& fallback) {
  return j.is_object() && j.contains(key) ? read_as<T>(j.at(key), key) : fallback;
}

}  // namespace sims
