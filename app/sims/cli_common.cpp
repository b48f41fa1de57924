#include "cli_common.hpp"

#include <torch/cuda.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <sstream>
#include <thread>

#include <ATen/Parallel.h>

#include "common/device.hpp"
#include "common/error.hpp"
#include "common/paths.hpp"
#include "common/json_parse.hpp"
#include "dist/env.hpp"
#include "experiment/settings.hpp"
#include "training/pairing.hpp"

namespace sims::cli {

double parse_number(const std::string& text, const std::string& flag) { return experiment::parse_real(text, flag); }

void check_omegas(const std::vector<double>& omegas, const std::string& flag) {
  if (omegas.empty()) throw InputError(flag + " needs at least one value");
  for (double w : omegas) {
    Guidance g;  // the range --omega has (Guidance::validate), named by this flag
    g.omega = w;
    try {
      g.validate();
    } catch (const InputError&) {
      std::ostringstream got;  // (format_real's shortest form writes 2000 as 2e+03)
      got << std::setprecision(10) << w;
      throw InputError(flag + " values must be numbers between -1000 and 1000 (got " + got.str() + ")");
    }
  }
}

std::vector<double> parse_omegas(const std::string& text, const std::string& flag) {
  std::vector<double> out = experiment::parse_real_list(text, flag);
  check_omegas(out, flag);
  return out;
}

std::pair<double, double> parse_interval(const std::string& text) { return experiment::parse_interval(text, "--interval"); }

void SamplingFlags::bind(CLI::App* cmd) {
  cmd->add_option("--sampler", sampler, "heun | euler (default heun)");
  cmd->add_option("--steps", steps, "number of sampling steps N (default 18)");
  cmd->add_option("--sigma-min", sigma_min, "smallest noise level (default 0.002)");
  cmd->add_option("--sigma-max", sigma_max, "largest noise level (default 80)");
  cmd->add_option("--rho", rho, "time-step exponent rho (default 7)");
  cmd->add_option("--churn", churn, "S_churn: stochasticity (default 0 = deterministic)");
  cmd->add_option("--s-min", s_min, "S_min: churn only for sigma >= S_min (default 0)");
  cmd->add_option("--s-max", s_max_text, "S_max: churn only for sigma <= S_max (default inf)");
  cmd->add_option("--s-noise", s_noise, "S_noise: churn noise scale (default 1)");
}

void SamplingFlags::bind_guidance(CLI::App* cmd, const std::string& note) {
  const std::string when = note.empty() ? "" : note + "; ";
  cmd->add_option("--omega", omega, "guidance weight: D = (1+omega) D_base - omega D_aux (" + when + "default 0)");
  cmd->add_option("--interval", interval, "guidance interval LO:HI, guided when LO < sigma <= HI (" + when + "default 0:inf)");
}

SamplerConfig SamplingFlags::config() const {
  SamplerConfig c;
  c.kind = parse_sampler_kind(sampler);
  c.steps = steps;
  c.sigma_min = sigma_min;
  c.sigma_max = sigma_max;
  c.rho = rho;
  c.churn = churn;
  c.s_min = s_min;
  c.s_max = s_max_text.empty() ? s_max : parse_number(s_max_text, "--s-max");
  c.s_noise = s_noise;
  c.validate();
  // S_min, S_max and S_noise shape the churn only: without it they change nothing, which is said.
  if (c.churn == 0 && (c.s_min != 0 || !std::isinf(c.s_max) || c.s_noise != 1))
    note_at_end("--s-min, --s-max and --s-noise apply only with --churn above 0: this run is deterministic");
  // EDM's γ_i = min(S_churn / N, √2 − 1): beyond N·(√2 − 1) more churn adds no noise, which is said.
  const double cap = c.steps * (std::sqrt(2.0) - 1.0);
  if (c.churn > cap) {
    std::ostringstream t;
    t << std::setprecision(4) << "--churn " << c.churn << " is more than " << c.steps << " steps can use: EDM caps each "
      << "step's churn at gamma = sqrt(2) - 1 (the noise added at most doubles the variance), reached at --churn " << cap;
    note_at_end(t.str());
  }
  return c;
}

Guidance SamplingFlags::guidance() const {
  Guidance g;
  g.omega = omega;
  std::tie(g.lo, g.hi) = parse_interval(interval);
  g.validate();
  return g;
}

void SamplingFlags::check_needs_aux(const std::string& aux) const {
  if (!aux.empty()) return;
  if (omega != 0.0) throw InputError("--omega needs an auxiliary model (--aux)");
  const Guidance g = guidance();
  if (g.lo != 0.0 || !std::isinf(g.hi))
    throw InputError("--interval needs an auxiliary model (--aux): without one nothing is guided");
}

void ModelFlags::bind(CLI::App* cmd, bool aux_allowed) {
  input_path(cmd->add_option("--model", model, "base model: a sims checkpoint, a TorchScript file or an analytic .json"))->required();
  if (aux_allowed) input_path(cmd->add_option("--aux", aux, "auxiliary model for SIMS guidance"));
  cmd->add_option("--shape", shape, "per-sample shape when the model does not declare it, e.g. 2 or 3x32x32");
  cmd->add_option("--device", device, "cpu | cuda (default cpu)");
  cmd->add_flag("--no-optimize", no_optimize, "run TorchScript graphs as loaded (no freezing)");
}

LoadOptions ModelFlags::load_options() const {
  LoadOptions o;
  if (!shape.empty()) o.sample_shape = parse_shape(shape, "--shape");
  o.device = parse_device(device);
  o.optimize = !no_optimize;
  return o;
}

void ModelFlags::note_loaded(const Denoiser& base, const std::vector<const Denoiser*>& auxes) const {
  bool script = base.info().kind == "torchscript";
  for (const Denoiser* aux : auxes) {
    if (const std::string d = pairing_doubt(base.info(), aux->info()); !d.empty()) note_at_end(d);
    script = script || aux->info().kind == "torchscript";
  }
  if (no_optimize && !script)
    note_at_end(std::string("--no-optimize does nothing here: it changes how a TorchScript graph is run, and ") +
                (auxes.empty() ? "the model is not one" : "none of the models is one"));
}

// [SECTION] Command-line manners ----------------------------------------------

size_t edit_distance(const std::string& a, const std::string& b) {
  // Optimal string alignment: like Levenshtein, plus a swap of two neighbouring
  // characters costing one edit, the commonest typo ('smaple' -> 'sample').
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1, 0));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

namespace {

std::string strip_dashes(const std::string& s) {
  const size_t k = s.find_first_not_of('-');
  return k == std::string::npos ? std::string() : s.substr(k);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string parse_error_words(const std::string& m) {
  const std::string convert = "Could not convert: ";
  if (m.rfind(convert, 0) == 0) {
    const size_t eq = m.find(" = ", convert.size());
    if (eq != std::string::npos) {
      // A number's text was checked before (check_names): a whole number CLI11 cannot read is too large for its type.
      const std::string v = m.substr(eq + 3);
      const bool number = !v.empty() && v.find_first_not_of("+-0123456789") == std::string::npos;
      const std::string flag = m.substr(convert.size(), eq - convert.size()), quoted = "'" + message_text(v, 60) + "'";
      return number ? flag + " is out of range (got " + quoted + ")" : flag + " cannot take " + quoted;
    }
  }
  const size_t most = m.find(": At Most 1 required but received ");
  if (most != std::string::npos) return m.substr(0, most) + " is given more than once";
  return m;
}

std::string library_error_words(const std::string& message) {
  const std::string first = message.substr(0, message.find('\n'));
  const std::string lower_counts = " (lower the sample counts or sizes, e.g. --n)";
  const std::string asked = "you tried to allocate ";
  const size_t at = first.find(asked);
  if (first.find("can't allocate memory") != std::string::npos && at != std::string::npos) {
    const double bytes = std::strtod(first.c_str() + at + asked.size(), nullptr);
    std::ostringstream gib;
    const double g = bytes / double(1 << 30);
    gib << std::fixed << std::setprecision(g < 10 ? 2 : 0) << g;
    return "not enough memory: this needs " + gib.str() + " GiB at once" + lower_counts;
  }
  if (first.find("Storage size calculation overflowed") != std::string::npos)
    return "a requested size is too large to allocate" + lower_counts;
  return first;
}

std::string closest_name(const std::string& word, const std::vector<std::string>& names) {
  // Compared without leading dashes, so the allowance grows with the name itself:
  // one edit for up to five characters, two up to eight, at most three.
  const std::string w = lower(strip_dashes(word));
  if (w.empty()) return "";
  const size_t allowed = std::min<size_t>(3, std::max<size_t>(1, w.size() / 3));
  std::string best;
  size_t best_d = allowed + 1;
  for (const auto& name : names) {
    const size_t d = edit_distance(w, lower(strip_dashes(name)));
    if (d < best_d) best = name, best_d = d;
  }
  if (!best.empty()) return best;
  // A cut-short name ('--gen' for '--generations'), when only one name fits.
  std::string prefix_of;
  if (w.size() >= 3)
    for (const auto& name : names)
      if (lower(strip_dashes(name)).rfind(w, 0) == 0) {
        if (!prefix_of.empty()) return "";
        prefix_of = name;
      }
  return prefix_of;
}

namespace {

// "sims metrics" for the metrics command.
std::string command_path(const CLI::App& app) {
  std::string path;
  for (const CLI::App* a = &app; a; a = a->get_parent())
    path = (a->get_parent() ? a->get_name() : std::string("sims")) + (path.empty() ? "" : " " + path);
  return path;
}

// An option as CLI11 tells them apart: "--name[=value]" or "-x..." (but not
// a negative number such as -1 or -0.5, which is a value).
bool looks_like_option(const std::string& a) {
  if (a.size() > 2 && a[0] == '-' && a[1] == '-') return true;
  return a.size() > 1 && a[0] == '-' && a[1] != '-' && !std::isdigit(static_cast<unsigned char>(a[1])) && a[1] != '.';
}

const CLI::App* find_subcommand(const CLI::App& app, const std::string& word) {
  const std::function<bool(const CLI::App*)> named = [&](const CLI::App* s) { return s->check_name(word); };
  const auto found = app.get_subcommands(named);
  return found.empty() ? nullptr : found.front();
}

// Flags that mean the same in every command, and so have the same range everywhere: a seed is any whole number
// from 0 (one that wrapped or saturated, -1 or 1e20, is refused, not read as 2^64 - 1); threads and bootstrap
// resamples are bounded so that a slip of the finger cannot start a job that never ends.
struct FlagRange {
  const char* name;
  long double lo, hi;
  const char* what;
};
constexpr FlagRange kFlagRanges[] = {
    {"--seed", 0, 9223372036854775807.0L, "a whole number from 0 to 9223372036854775807"},
    {"--data-seed", 0, 9223372036854775807.0L, "a whole number from 0 to 9223372036854775807"},
    {"--threads", 0, 1024, "from 0 (LibTorch's default) to 1024"},
    {"--ci", 0, 100000, "from 0 (no interval) to 100000 resamples"},
};

// The text of a number flag's value, checked before CLI11 reads it: CLI11 2.1 reads '' as 0, wraps '-1' into an
// unsigned 2^64 - 1, saturates 1e20 at 2^63 - 1 without a word, and reads '010' as octal 8.
void check_number_text(const CLI::Option& opt, const std::string& name, const std::string& text) {
  const std::string type = opt.get_type_name();
  const bool whole = type == "INT" || type == "UINT";
  if (!whole && type != "FLOAT") return;
  // A list flag that also takes commas (demo --omegas 0,0.5): each piece is a number of its own.
  const char delimiter = opt.get_delimiter();
  if (delimiter != '\0' && text.find(delimiter) != std::string::npos) {
    std::stringstream pieces(text);
    std::string piece;
    while (std::getline(pieces, piece, delimiter)) check_number_text(opt, name, piece);
    if (text.back() == delimiter) check_number_text(opt, name, "");  // "0,": an empty last value
    return;
  }
  const std::string got = " (got '" + message_text(text, 60) + "')";
  const std::string kind = opt.get_items_expected_max() > 1
                               ? (whole ? "whole numbers" : "numbers") +
                                     std::string(delimiter == ',' ? " separated by commas or spaces" : " separated by spaces")
                               : (whole ? "a whole number" : "a number");
  // Leading blanks are skipped (as CLI11 does: a count pasted from `wc -l`), trailing ones are not (CLI11 refuses).
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string::npos) throw InputError(name + " takes " + kind + got);
  const std::string v = text.substr(first);
  long double value = 0;
  if (whole) {
    const size_t k = v[0] == '+' || v[0] == '-' ? 1 : 0;
    if (k == v.size() || v.find_first_not_of("0123456789", k) != std::string::npos)
      throw InputError(name + " takes " + kind + got);
    if (v.size() > k + 1 && v[k] == '0') throw InputError(name + " takes a whole number without leading zeros" + got);
    if (type == "UINT" && v[0] == '-') throw InputError(name + " must not be negative" + got);
    errno = 0;
    value = type == "UINT" ? static_cast<long double>(std::strtoull(v.c_str(), nullptr, 10))
                           : static_cast<long double>(std::strtoll(v.c_str(), nullptr, 10));
    if (errno == ERANGE) throw InputError(name + " is out of range" + got);
  } else {
    char* end = nullptr;
    value = std::strtold(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0') throw InputError(name + " takes " + kind + got);
    // strtold (and CLI11 after it) would read hexadecimal: "0x10" as 16.
    if (v.find_first_of("xX") != std::string::npos) throw InputError(name + " takes " + kind + " in decimal" + got);
  }
  for (const FlagRange& r : kFlagRanges)
    if (name == r.name && !(value >= r.lo && value <= r.hi)) throw InputError(name + " must be " + r.what + got);
}

}  // namespace

void check_names(const CLI::App& root, const std::vector<std::string>& args) {
  const CLI::App* cur = &root;
  for (size_t i = 0; i < args.size();) {
    const std::string& a = args[i++];
    if (a == "--") return;  // the rest are values
    if (looks_like_option(a)) {
      const bool is_long = a[1] == '-';
      const std::string name = is_long ? a.substr(0, a.find('=')) : a.substr(0, 2);
      const CLI::Option* opt = nullptr;
      for (const CLI::Option* o : cur->get_options())
        if (o->nonpositional() && o->check_name(name)) opt = o;
      if (!opt) {
        std::vector<std::string> names;
        for (const CLI::Option* o : cur->get_options()) {
          for (const auto& l : o->get_lnames()) names.push_back("--" + l);
          for (const auto& s : o->get_snames()) names.push_back("-" + s);
        }
        const std::string guess = closest_name(name, names);
        if (!guess.empty()) throw InputError("unknown option '" + name + "'; did you mean '" + guess + "'?");
        throw InputError("unknown option '" + name + "' (see '" + command_path(*cur) + " --help')");
      }
      // Skip its values the way CLI11 takes them: the required ones whatever
      // they look like, further ones while they are not options. A number's text is checked on the way.
      const bool inline_value = is_long ? a.find('=') != std::string::npos : a.size() > 2;
      const int most = opt->get_items_expected_max();
      if (inline_value) {
        if (most > 0) check_number_text(*opt, name, is_long ? a.substr(a.find('=') + 1) : a.substr(2));
        continue;
      }
      if (most <= 0) continue;
      int taken = 0;
      for (; taken < std::max(1, opt->get_items_expected_min()) && i < args.size(); ++taken)
        check_number_text(*opt, name, args[i++]);
      for (; taken < most && i < args.size() && args[i] != "--" && !looks_like_option(args[i]); ++taken)
        check_number_text(*opt, name, args[i++]);
      continue;
    }
    if (const CLI::App* sub = find_subcommand(*cur, a)) {
      cur = sub;
      continue;
    }
    // A word where only a command can stand: a command with subcommands and no positional arguments.
    const bool takes_words = !cur->get_options([](const CLI::Option* o) { return o->get_positional(); }).empty();
    const auto subs = cur->get_subcommands(std::function<bool(const CLI::App*)>{});
    if (takes_words || subs.empty()) continue;  // positional, or an extra CLI11 reports
    std::vector<std::string> names;
    for (const CLI::App* s : subs) names.push_back(s->get_name());
    const std::string what = cur->get_parent() ? "unknown " + cur->get_name() + " command '" : "unknown command '";
    const std::string guess = closest_name(a, names);
    if (!guess.empty()) throw InputError(what + a + "'; did you mean '" + guess + "'?");
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw InputError(what + a + "' (commands: " + list + ")");
  }
}

namespace {

// The paths an input flag's value names.
std::vector<std::string> input_paths(const std::string& value, InputKind kind) {
  auto split = [](const std::string& text, char sep) {
    std::vector<std::string> parts;
    std::stringstream ss(text);
    std::string part;
    while (std::getline(ss, part, sep)) parts.push_back(part);
    return parts;
  };
  switch (kind) {
    case InputKind::File:
      return {value};
    case InputKind::NetSpec:
      return {value.substr(0, value.find(','))};
    case InputKind::List: {
      std::vector<std::string> out;
      for (const auto& p : split(value, ','))
        if (!p.empty()) out.push_back(p);
      return out;
    }
    case InputKind::DataSpec: {
      const size_t colon = value.find(':');
      const std::string kind_name = colon == std::string::npos ? "" : lower(value.substr(0, colon));
      if (kind_name == "mnist" || kind_name == "cifar10" || kind_name == "folder" || kind_name == "npy") {
        const auto parts = split(value.substr(colon + 1), ',');
        std::vector<std::string> out;
        if (!parts.empty() && !parts[0].empty()) out.push_back(parts[0]);
        for (size_t k = 1; k < parts.size(); ++k)
          for (const char* key : {"labels=", "attrs="})
            if (parts[k].rfind(key, 0) == 0) out.push_back(parts[k].substr(std::string(key).size()));
        return out;
      }
      if (value.size() > 4 && value.compare(value.size() - 4, 4, ".npy") == 0) return {value};
      return {};  // a built-in data set
    }
  }
  return {};
}

}  // namespace

CLI::Option* input_path(CLI::Option* opt, InputKind kind) {
  opt->check(
      [kind](const std::string& value) -> std::string {
        for (const auto& p : input_paths(value, kind)) {
          if (p.empty()) continue;  // "--aux ''": none given
          std::error_code ec;
          if (!std::filesystem::exists(p, ec)) {
            // A shipped file named as the README does ('assets/models/...') from another folder: where it is.
            std::string shipped;
            if (p.rfind("assets/", 0) == 0) try {
                const std::string there = sims::data_path(p);
                if (std::filesystem::exists(there, ec)) shipped = there;
              } catch (const Error&) {  // no data folder found: nothing to point at
              }
            return "'" + p + "' does not exist" +
                   (shipped.empty() ? std::string()
                                    : " here (paths are read from the working folder; the shipped file is '" + shipped + "')");
          }
          const bool dir = std::filesystem::is_directory(p, ec);
          if (::access(p.c_str(), dir ? (R_OK | X_OK) : R_OK) != 0) return "'" + p + "' is not readable";
        }
        return "";
      },
      "");
  return opt;
}

CLI::Option* output_folder(CLI::Option* opt) {
  return opt->transform([](std::string p) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return p;
  });
}

namespace {

bool has_extension(const std::string& path, const char* wanted) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == wanted;
}

bool png_name(const std::string& path) { return has_extension(path, ".png"); }

}  // namespace

CLI::Option* png_output(CLI::Option* opt) {
  opt->check(
      [](const std::string& value) -> std::string {
        // A 'grid.jpg' holding PNG bytes would mislead every viewer that trusts the name.
        return png_name(value) ? "" : "'" + value + "' is written as a PNG image: give it a name ending in .png";
      },
      "");
  return opt;
}

CLI::Option* npy_output(CLI::Option* opt) {
  opt->check(
      [](const std::string& value) -> std::string {
        // 'samples.png' holding an array would replace a picture with bytes no viewer reads. A name without a file
        // ('dir/') is prepare_output's to refuse as a folder.
        return has_extension(value, ".npy") || !std::filesystem::path(value).has_filename() ? ""
                                            : "'" + value + "' is written as a numpy array: give it a name ending in .npy";
      },
      "");
  return opt;
}

namespace {
std::vector<std::string>& end_notes() {
  static std::vector<std::string> n;
  return n;
}
}  // namespace

size_t text_columns(const std::string& s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string padded(std::string cell, size_t width) {
  const size_t n = text_columns(cell);
  cell.append(n + 2 < width ? width - n : 2, ' ');
  return cell;
}

void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows, const std::string& indent) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) {
      if (c >= width.size()) width.push_back(0);
      width[c] = std::max(width[c], text_columns(r[c]) + 2);
    }
  for (const auto& r : rows) {
    std::string line = indent;
    for (size_t c = 0; c < r.size(); ++c) line += c + 1 < r.size() ? padded(r[c], width[c]) : r[c];
    out << line << "\n";
  }
}

void note_at_end(const std::string& text) {
  if (std::find(end_notes().begin(), end_notes().end(), text) == end_notes().end()) end_notes().push_back(text);
}

void print_end_notes() {
  for (const std::string& n : end_notes()) std::cerr << "note: " << n << std::endl;
  end_notes().clear();
}

void refuse_given(const CLI::App* cmd, std::initializer_list<const char*> flags, const std::string& when) {
  for (const char* f : flags)
    if (cmd->get_option(f)->count() > 0) throw InputError(std::string(f) + " does nothing " + when + ": leave it out");
}

void note_given(const CLI::App* cmd, std::initializer_list<const char*> flags, const std::string& when) {
  std::string given;
  int count = 0;
  for (const char* f : flags)
    if (cmd->get_option(f)->count() > 0) given += std::string(count++ ? ", " : "") + f;
  if (count > 0) note_at_end(given + (count > 1 ? " do" : " does") + " nothing " + when);
}

void prepare_output(const std::string& flag, const std::string& path, OutputKind kind, bool note_existing) {
  namespace fs = std::filesystem;
  if (path.empty()) return;
  const fs::path p(path);
  std::error_code ec;
  if (note_existing && kind != OutputKind::Folder && fs::is_regular_file(p, ec))
    note_at_end(flag + " '" + path + "' existed and was replaced");
  std::string what;
  fs::path dir;
  if (kind == OutputKind::Folder) {
    what = "cannot create " + flag + " folder '" + path + "'";
    if (fs::exists(p, ec) && !fs::is_directory(p, ec)) throw IoError(what + ": it is a file");
    dir = p.has_filename() ? p : p.parent_path();
  } else {
    what = "cannot write " + flag + " '" + path + "'";
    if (fs::is_directory(p, ec)) throw IoError(what + ": it is a folder");
    if (!p.has_filename()) throw IoError(what + ": it names a folder, not a file");
    dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  }
  // The nearest part of the path that exists must be a folder we may write in.
  fs::path have = dir;
  while (!have.empty() && !fs::exists(have, ec)) have = have.parent_path();
  if (have.empty()) have = ".";
  if (!fs::is_directory(have, ec)) throw IoError(what + ": '" + have.string() + "' is a file, not a folder");
  if (::access(have.c_str(), W_OK | X_OK) != 0) throw IoError(what + ": folder '" + have.string() + "' is not writable");
  if (have != dir) {
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir)) throw IoError(what + ": cannot create folder '" + dir.string() + "'" + (ec ? ": " + ec.message() : ""));
  }
}

namespace {

// Whether two paths name one file (also through '.', '..' and links; neither need exist).
bool same_file(const std::string& x, const std::string& y) {
  namespace fs = std::filesystem;
  if (x.empty() || y.empty()) return false;
  std::error_code e1, e2;
  // Absolute first: weakly_canonical leaves a relative path whose folder does not exist as written, so 'same.npy'
  // and './same.npy' would not compare equal.
  const fs::path a = fs::weakly_canonical(fs::absolute(x, e1), e1), b = fs::weakly_canonical(fs::absolute(y, e2), e2);
  return (!e1 && !e2 && a == b) || x == y;
}

}  // namespace

void distinct_outputs(const std::vector<std::pair<std::string, std::string>>& outputs) {
  for (size_t i = 0; i < outputs.size(); ++i)
    for (size_t k = i + 1; k < outputs.size(); ++k)
      if (same_file(outputs[i].second, outputs[k].second))
        throw InputError(outputs[i].first + " and " + outputs[k].first + " name the same file '" +
                         message_text(outputs[k].second, 200) + "' (the second would replace the first)");
}

void outputs_not_inputs(const std::vector<std::pair<std::string, std::string>>& outputs,
                        const std::vector<std::pair<std::string, std::string>>& inputs) {
  for (const auto& [out_flag, out] : outputs)
    for (const auto& [in_flag, in] : inputs)
      if (same_file(out, in))
        throw InputError(out_flag + " names the input " + in_flag + " '" + message_text(in, 200) +
                         "': writing it would replace what is read; choose another name");
}

void check_disk_room(const std::string& flag, const std::string& path, double bytes) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  while (!dir.empty() && !fs::exists(dir, ec)) dir = dir.parent_path();
  const fs::space_info room = fs::space(dir.empty() ? fs::path(".") : dir, ec);
  if (ec || bytes <= static_cast<double>(room.available)) return;
  const auto gib = [](double b) {
    std::ostringstream s;
    s << std::setprecision(3) << b / (1024.0 * 1024.0 * 1024.0);
    return s.str();
  };
  throw InputError(flag + " '" + path + "' would need " + gib(bytes) + " GiB; its disk has " +
                   gib(static_cast<double>(room.available)) + " GiB free");
}

void print_json(const nlohmann::json& j) { std::cout << j.dump() << std::endl; }

void apply_threads(int threads) {
  if (threads < 0) throw InputError("--threads must be >= 0");
  // 0 keeps LibTorch's default. The sampler runs base and aux side by side on
  // separate cores anyway; more intra-op threads pay off only for large
  // networks, and cost a lot when the machine is busy (OpenMP spinning).
  if (threads > 0) at::set_num_threads(threads);
}

}  // namespace sims::cli
