// TorchScript's errors span many lines (a traceback of the serialized code, then of the original); a message for a
// person keeps the line that says what went wrong.
#pragma once
#include <sstream>
#include <string>
#include <vector>

#include <c10/util/Exception.h>

namespace sims {

// The exception raised ("RuntimeError: Kernel size can't be greater than actual input size"), else the first
// non-blank line; at most 300 characters.
inline std::string script_error_line(const std::string& msg) {
  std::vector<std::string> lines;
  std::stringstream ss(msg);
  for (std::string l; std::getline(ss, l);)
    if (l.find_first_not_of(" \t") != std::string::npos) lines.push_back(l.substr(l.find_first_not_of(" \t")));
  for (auto it = lines.rbegin(); it != lines.rend(); ++it)
    if (it->find("Error:") != std::string::npos || it->find("Exception:") != std::string::npos) return it->substr(0, 300);
  return lines.empty() ? std::string("unknown error") : lines.front().substr(0, 300);
}

// The same for any exception from running a TorchScript module: c10::Error without its C++ backtrace, or the
// interpreter's own error (a std::runtime_error holding the traceback).
inline std::string script_error(const std::exception& e) {
  const auto* c = dynamic_cast<const c10::Error*>(&e);
  return script_error_line(c ? c->what_without_backtrace() : e.what());
}

}  // namespace sims
