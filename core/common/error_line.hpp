// The one form in which every program here (sims, sims-studio, sims-live) reports an error: "error: " and the
// message on one line of UTF-8 on stderr, whatever the message quotes (a file name may hold a line break, a tab or
// bytes that are not UTF-8; message_text makes them spaces and '?', as ls shows such names).
#pragma once
#include <cstdio>
#include <string>

#include "common/json_parse.hpp"

namespace sims {

// `prefix` goes before the message unchanged (e.g. "rank 1 of 2: " in a job of several processes).
inline void print_error_line(const std::string& msg, const std::string& prefix = std::string()) {
  std::fprintf(stderr, "error: %s%s\n", prefix.c_str(), message_text(msg).c_str());
  std::fflush(stderr);
}

}  // namespace sims
