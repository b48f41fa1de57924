// TorchScript's errors span many lines (a traceback of the serialized code, then of the original); a message for a
// person keeps the line that says what went wrong.
#pragma once
#include <sstream>
#include <string>
#include <vector>

#include <new>
#include <utility>

#include <c10/util/Exception.h>

#include "common/error.hpp"
#include "common/json_parse.hpp"

namespace sims {

// The exception raised ("RuntimeError: Kernel size can't be greater than actual input size"), else the first
// non-blank line; at most 300 characters.
inline std::string script_error_line(const std::string& msg) {
  std::vector<std::string> lines;
  std::stringstream ss(msg);
  for (std::string l; std::getline(ss, l);) {
    const size_t start = l.find_first_not_of(" \t");
    if (start == std::string::npos) continue;
    l = l.substr(start);
    // A C++ backtrace follows (TORCH_SHOW_CPP_STACKTRACES=1): its frames name c10::Error::Error(...) too.
    if (l.rfind("Exception raised from", 0) == 0 || l.rfind("frame #", 0) == 0) break;
    lines.push_back(l);
  }
  // "RuntimeError: …": a first word that ends in Error: or Exception: (no "::" of a C++ name before it).
  auto raised = [](const std::string& l) {
    const size_t colon = l.find(": ");
    if (colon == std::string::npos || l.find(' ') < colon || l.find("::") < colon) return false;
    const std::string word = l.substr(0, colon);
    auto ends = [&word](const std::string& e) {
      return word.size() >= e.size() && word.compare(word.size() - e.size(), e.size(), e) == 0;
    };
    return ends("Error") || ends("Exception");
  };
  for (auto it = lines.rbegin(); it != lines.rend(); ++it)
    if (raised(*it)) return message_text(*it, 300);
  return lines.empty() ? std::string("unknown error") : message_text(lines.front(), 300);
}

// The same for any exception from running a TorchScript module: c10::Error without its C++ backtrace, or the
// interpreter's own error (a std::runtime_error holding the traceback).
inline std::string script_error(const std::exception& e) {
  const auto* c = dynamic_cast<const c10::Error*>(&e);
  return script_error_line(c ? c->what_without_backtrace() : e.what());
}

// Runs f (loading or calling a TorchScript module) and returns what it returns. Our own errors and running out of
// memory pass unchanged; any other exception (c10::Error, the interpreter's error with its traceback) becomes one
// ModelError "<where()>: <the line that says what went wrong>". `where` is called only on failure.
template <class Where, class F>
decltype(auto) script_guard(Where&& where, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    throw ModelError(std::string(where()) + ": " + script_error(e));
  }
}

}  // namespace sims
