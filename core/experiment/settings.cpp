#include "experiment/settings.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace sims::experiment {

double parse_real(const std::string& text, const std::string& what) {
  {  // inf, Infinity, +INF, -inf … in any case
    std::string t = text;
    for (char& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const bool minus = !t.empty() && t[0] == '-';
    if (!t.empty() && (t[0] == '+' || t[0] == '-')) t.erase(0, 1);
    if (t == "inf" || t == "infinity") return minus ? -INFINITY : INFINITY;
  }
  const char* s = text.c_str();
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s, &end);
  // Decimal as written: strtod would also take hexadecimal ("0x10" = 16) and leading spaces.
  const bool decimal = text.find_first_not_of("0123456789+-.eE") == std::string::npos;
  if (text.empty() || !decimal || end != s + text.size() || errno == ERANGE || std::isnan(v))
    throw InputError(what + " takes a number (got '" + message_text(text, 60) + "')");
  return v;
}

std::string interval_problem(double lo, double hi, const std::string& flag) {
  if (lo >= 0 && hi > lo && std::isfinite(lo)) return std::string();
  return flag + " LO:HI needs 0 <= LO < HI (got " + format_real(lo) + ":" + format_real(hi) + ")";
}

std::pair<double, double> parse_interval(const std::string& text, const std::string& flag) {
  const auto colon = text.find(':');
  if (colon == std::string::npos)
    throw InputError(flag + " takes LO:HI, e.g. 0.3:5 or 0:inf (got '" + message_text(text, 60) + "')");
  const double lo = parse_real(text.substr(0, colon), flag + " (LO)");
  const double hi = parse_real(text.substr(colon + 1), flag + " (HI)");
  const std::string why = interval_problem(lo, hi, flag);
  if (!why.empty()) throw InputError(why);
  return {lo, hi};
}

int64_t parse_integer(const std::string& text, const std::string& what) {
  const char* s = text.c_str();
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s, &end, 10);
  if (text.empty() || end != s + text.size() || errno == ERANGE)
    throw InputError(what + " takes a whole number (got '" + message_text(text, 60) + "')");
  return static_cast<int64_t>(v);
}

std::vector<double> parse_real_list(const std::string& text, const std::string& what) {
  std::vector<double> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item.empty()) throw InputError(what + " takes numbers separated by commas, e.g. 0,0.5,1 (got '" + message_text(text, 60) + "')");
    const double v = parse_real(item, what);
    // Every list here is a set of values to run (weights, budgets, fractions): one given twice is a slip that
    // would cost a second run of the same thing.
    if (std::find(out.begin(), out.end(), v) != out.end())
      throw InputError(what + " lists " + format_real(v) + " twice (got '" + message_text(text, 60) + "')");
    out.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string format_real(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace sims::experiment
