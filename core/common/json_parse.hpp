// JSON from files users bring, parsed with a bound on nesting: nlohmann's
// parser is iterative, but copying, comparing and dumping a value recurse,
// so a crafted file nested a hundred thousand levels deep would overflow the
// stack later, far from where it was read. Everything the program reads from
// a file goes through parse_json_bounded.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace sims {

// Text for a message, from bytes a damaged file or a name can hold: each byte that does not start a valid UTF-8
// sequence becomes '?', control bytes (line breaks, tabs, NUL) spaces, and past `max` bytes the text is cut before a whole character
// with "..." (a byte cut could split one, and a message is also stored in JSON records, which must be UTF-8).
inline std::string message_text(const std::string& s, size_t max = std::string::npos) {
  // The length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF),
  // or 0 where none starts.
  auto sequence = [&s](size_t i) -> size_t {
    const auto at = [&s](size_t k) { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0u; };
    const unsigned b = at(i);
    if (b < 0x80) return 1;
    const size_t n = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
    if (n == 0) return 0;
    const unsigned lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80, hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
    if (at(i + 1) < lo || at(i + 1) > hi) return 0;
    for (size_t k = 2; k < n; ++k)
      if ((at(i + k) & 0xC0) != 0x80) return 0;
    return n;
  };
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const size_t n = sequence(i);
    if (out.size() + std::max<size_t>(n, 1) > max) return out + "...";
    if (n == 0 || static_cast<unsigned char>(s[i]) < 0x20 || s[i] == 0x7F) {  // control bytes: one line, no NUL
      out += n == 0 ? '?' : ' ';
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

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
    // Said in plain words: "parse error at line 1, column 1: syntax error while parsing value - unexpected end of
    // input; expected '[', '{', or a literal" becomes "line 1, column 1: unexpected end of input".
    const std::string msg = e.what();
    std::string words = msg.substr(std::min(msg.size(), msg.find(']') + 2));  // without nlohmann's tag
    const auto drop = [&words](const std::string& start, const std::string& until) {
      const size_t a = words.find(start);
      if (a == std::string::npos) return;
      const size_t b = until.empty() ? std::string::npos : words.find(until, a + start.size());
      words.erase(a, b == std::string::npos ? std::string::npos : b + until.size() - a);
    };
    const std::string at = "parse error at ";
    if (words.rfind(at, 0) == 0) words.erase(0, at.size());
    drop("syntax error while parsing ", " - ");
    drop("; expected ", "");
    drop("; last read: ", "");
    throw InputError(what + " is not valid JSON (" + message_text(words, 160) + ")");
  }
}

// nlohmann's message for a value of the wrong kind or a missing key, in plain words and without its
// "[json.exception.type_error.302] " tag: "type must be number, but is string" -> "a number was expected, found
// text"; "key 'x' not found" -> "'x' is missing". Other messages lose only the tag. At most 200 characters, one line.
inline std::string json_error_words(const nlohmann::json::exception& e) {
  std::string msg = e.what();
  const size_t tag = msg.rfind("[json.exception.", 0) == 0 ? msg.find("] ") : std::string::npos;
  if (tag != std::string::npos) msg = msg.substr(tag + 2);
  auto kind = [](const std::string& k) -> std::string {
    if (k == "number") return "a number";
    if (k == "string") return "text";
    if (k == "boolean") return "true or false";
    if (k == "array") return "a list";
    if (k == "object") return "an object";
    if (k == "null") return "null";
    return k;
  };
  const std::string must = "type must be ", but = ", but is ";
  const size_t b = msg.find(but);
  if (msg.rfind(must, 0) == 0 && b != std::string::npos) {
    msg = kind(msg.substr(must.size(), b - must.size())) + " was expected, found " + kind(msg.substr(b + but.size()));
  } else if (msg.rfind("key '", 0) == 0 && msg.size() >= 16 && msg.compare(msg.size() - 11, 11, "' not found") == 0) {
    msg = msg.substr(4, msg.size() - 14) + " is missing";
  } else if (msg.rfind("invalid UTF-8 byte", 0) == 0) {  // a name typed or stored that is not UTF-8, on writing
    msg = "a name or path is not valid UTF-8";
  } else if (msg.rfind("cannot use ", 0) == 0) {
    msg = "a value of the wrong kind (" + msg + ")";
  }
  return message_text(msg, 200);
}

// What a face shows for an exception it caught: nlohmann's in plain words (json_error_words), others as they are.
inline std::string error_words(const std::exception& e) {
  if (const auto* j = dynamic_cast<const nlohmann::json::exception*>(&e)) return json_error_words(*j);
  return e.what();
}

// A value as a message quotes it: its JSON text, cut to `max` characters (a damaged file's string can be megabytes).
inline std::string json_brief(const nlohmann::json& j, size_t max = 60) {
  return message_text(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), max);
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
// whole number", with "from MIN to MAX" for a whole number outside the range: a float such as 1e300 converted to
// an integer is undefined behaviour), a
// floating-point type a number, bool true or false, std::string text (InputError "WHAT is not a number" etc.), a
// list of them a list; any other type as nlohmann reads it (a json::exception where the kind is wrong).
template <class T>
T read_as(const nlohmann::json& v, const std::string& what) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using L = std::numeric_limits<T>;
    if (v.is_number_unsigned()) {
      if (v.get<uint64_t>() <= static_cast<uint64_t>(L::max())) return static_cast<T>(v.get<uint64_t>());
    } else if (v.is_number_integer()) {  // signed: negative when parsed from text, any sign when built in code
      const int64_t x = v.get<int64_t>();
      if (x >= 0 ? static_cast<uint64_t>(x) <= static_cast<uint64_t>(L::max())
                 : (std::is_signed_v<T> && x >= static_cast<int64_t>(L::min())))
        return static_cast<T>(x);
    }
    // The range only where it is the reason (a whole number outside it, also one written as 1e300 or 100.0), not
    // for text or a fraction.
    const bool whole = v.is_number_integer() || (v.is_number_float() && std::trunc(v.get<double>()) == v.get<double>());
    throw InputError(what + " is not a whole number" +
                     (whole ? " from " + std::to_string(L::min()) + " to " + std::to_string(L::max()) : std::string()));
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) throw InputError(what + " is not a number");
    return v.get<T>();
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) throw InputError(what + " is not true or false");
    return v.get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) throw InputError(what + " is not text");
    return v.get<std::string>();
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
