// JSON from files users bring, parsed with a bound on nesting: nlohmann's
// parser is iterative, but copying, comparing and dumping a value recurse,
// so a crafted file nested a hundred thousand levels deep would overflow the
// stack later, far from where it was read. Everything the program reads from
// a file goes through parse_json_bounded.
#pragma once
#include <algorithm>
#include <string>

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

}  // namespace sims
