#include "cli_progress.hpp"

#include <cmath>
#include <csignal>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <unistd.h>

namespace sims::cli {

std::string hms(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  const long t = std::lround(s);
  std::ostringstream o;
  o << std::setfill('0');
  if (t >= 3600) o << t / 3600 << ":";
  o << std::setw(2) << (t / 60) % 60 << ":" << std::setw(2) << t % 60;
  return o.str();
}

std::atomic<bool>& stop_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}

namespace {
extern "C" void on_stop_signal(int) { stop_flag().store(true); }

std::string& quit_line() {
  static std::string line;
  return line;
}
extern "C" void on_quit_signal(int) {
  const std::string& line = quit_line();  // set before the handler was installed, never changed after
  ssize_t ignored = ::write(2, line.data(), line.size());
  (void)ignored;
  ::_exit(130);
}
}  // namespace

void install_quit_handler(const std::string& line) {
  quit_line() = "\n" + line + "\n";
  struct sigaction sa {};
  sa.sa_handler = on_quit_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void install_stop_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

ProgressLine::ProgressLine(std::string header) : tty_(::isatty(2) != 0), header_(std::move(header)) {}

void ProgressLine::clear() {
  if (live_) std::cerr << "\r" << std::string(100, ' ') << "\r" << std::flush;
  live_ = false;
}

void ProgressLine::operator()(const experiment::Progress& p) {
  if (!header_.empty()) {
    std::cerr << header_ << std::endl;
    header_.clear();
  }
  if (!p.row.is_null()) last_row_ = p.row;
  const std::string times = "elapsed " + hms(p.elapsed) + "  ETA " + hms(p.eta);
  if (!p.row.is_null()) {  // a finished row: a line that stays
    clear();
    std::cerr << "  " << p.message << "  (" << times << ")" << std::endl;
    last_stage_.clear();
    return;
  }
  if (tty_) {
    std::ostringstream o;
    o << "  " << p.message;
    if (p.total > 0) o << "  " << static_cast<int>(100 * p.fraction()) << "%";
    o << "  " << times;
    std::string text = o.str();
    if (text.size() > 99) text.resize(99);
    std::cerr << "\r" << text << std::string(99 - text.size(), ' ') << std::flush;
    live_ = true;
  } else if (p.stage != last_stage_) {
    std::cerr << "  [" << hms(p.elapsed) << "] " << p.stage << std::endl;
  }
  last_stage_ = p.stage;
}

}  // namespace sims::cli
