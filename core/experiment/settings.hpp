// Settings declared once. A configuration struct lists each of its fields
// one time - JSON key, command-line flag, help, default (the struct's own
// initialiser), range or choices, whether it may change when a run continues,
// and the families it applies to - and that one list gives:
//   - JSON round trips (to_json / from_json, one rule for inf/NaN: json_io.hpp;
//     unknown keys are refused, missing keys keep their defaults);
//   - validation with messages that name the flag ("--n-real must be between
//     2 and 10000000 (got 1)");
//   - equality and the list of changed settings (via JSON: run_folder.hpp);
//   - each field's flag name, help and text round trip (find_flag / parse),
//     which the run-folder messages and validation use; the CLI and the
//     studio still bind their flags and forms by hand (not yet generated);
//   - the free keys of the run-folder rule.
//
// Example:
//   const Schema<LoopConfig>& loop_schema() {
//     static const Schema<LoopConfig> s = Schema<LoopConfig>("loop")
//         .integer("n_real", &LoopConfig::n_real, "--n-real", "real samples per generation", 2, 10'000'000)
//         .real("omega", &LoopConfig::omega, "--omega", "guidance weight", -1000, 1000).only_for({"diffusion2d"});
//     return s;
//   }
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "experiment/json_io.hpp"

namespace sims::experiment {

// "1.5" / "inf" / "-inf" -> number; throws InputError naming `what`.
double parse_real(const std::string& text, const std::string& what);
// "12" -> integer (no fraction, no junk); throws InputError naming `what`.
int64_t parse_integer(const std::string& text, const std::string& what);
// "0,0.5,1" -> numbers; throws InputError naming `what` (empty items refused).
std::vector<double> parse_real_list(const std::string& text, const std::string& what);
// Shortest text that reads back to the same double ("0.1", "inf", "1e-05").
std::string format_real(double v);
// The guidance interval "LO:HI" (HI may be inf) -> {lo, hi} with 0 <= lo < hi and lo finite; throws InputError
// naming `flag`. The one reading of it for every face (flags, settings files, the studio's --interval).
std::pair<double, double> parse_interval(const std::string& text, const std::string& flag);
// Empty when {lo, hi} is such an interval, else why not (naming `flag`).
std::string interval_problem(double lo, double hi, const std::string& flag);

template <class T>
struct Field {
  std::string key;                   // JSON key
  std::string flag;                  // "--n-real"; empty: not on the command line
  std::string help;                  // what it is, without the default
  std::string choices;               // "heun|euler" for help texts; empty for numbers
  bool free = false;                 // may change when a run continues (run_folder.hpp)
  std::vector<std::string> only_for; // families it applies to (empty: all)
  bool flag_only = false;            // a nested field's flag (its JSON is the nested object's)
  std::vector<std::string> aliases;  // older JSON keys read as this one
  std::function<nlohmann::json(const T&)> get;
  std::function<void(T&, const nlohmann::json&)> set;      // throws InputError naming the key
  std::function<void(T&, const std::string&)> parse;       // flag text; throws InputError naming the flag
  std::function<std::string(const T&)> text;               // the value as a flag would take it
  std::function<std::string(const T&)> problem;            // "" or why the value is out of range
  // The flag or, for settings without one, the JSON key: how messages name it.
  std::string name() const { return flag.empty() ? key : flag; }
};

template <class T>
class Schema {
 public:
  explicit Schema(std::string name) : name_(std::move(name)) {}
  const std::string& name() const { return name_; }
  const std::vector<Field<T>>& fields() const { return fields_; }

  // [SECTION] declaring fields ---------------------------------------------------------
  // A whole number in [lo, hi], stored as int64_t or int.
  template <class I>
  Schema& integer(std::string key, I T::*m, std::string flag, std::string help, int64_t lo, int64_t hi) {
    static_assert(std::is_same<I, int64_t>::value || std::is_same<I, int>::value, "integer fields are int64_t or int");
    Field<T> f = base(std::move(key), std::move(flag), std::move(help));
    f.get = [m](const T& t) { return nlohmann::json(t.*m); };
    f.set = [m, k = f.key](T& t, const nlohmann::json& j) {
      if (!j.is_number_integer()) throw InputError("setting '" + k + "' must be an integer, got " + json_brief(j));
      t.*m = read_as<I>(j, "setting '" + k + "'");  // 4294967297 for an int: refused, not wrapped to 1
    };
    const std::string nm = f.name();
    auto range = [lo, hi, nm](int64_t v, const std::string& shown) {
      if (v >= lo && v <= hi) return std::string();
      return nm + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) + " (got " +
             message_text(shown, 60) + ")";
    };
    f.parse = [m, nm, range](T& t, const std::string& s) {
      const int64_t v = parse_integer(s, nm);
      if (!std::is_same<I, int64_t>::value && !range(v, s).empty()) throw InputError(range(v, s));
      t.*m = static_cast<I>(v);
    };
    f.text = [m](const T& t) { return std::to_string(t.*m); };
    f.problem = [m, range](const T& t) { return range(static_cast<int64_t>(t.*m), std::to_string(t.*m)); };
    return push(std::move(f));
  }

  Schema& seed(std::string key, uint64_t T::*m, std::string flag, std::string help) {
    Field<T> f = base(std::move(key), std::move(flag), std::move(help));
    f.get = [m](const T& t) { return nlohmann::json(t.*m); };
    f.set = [m, k = f.key](T& t, const nlohmann::json& j) {
      if (!j.is_number_integer() || (j.is_number_integer() && !j.is_number_unsigned() && j.get<int64_t>() < 0))
        throw InputError("setting '" + k + "' must be a non-negative integer, got " + json_brief(j));
      t.*m = j.get<uint64_t>();
    };
    const std::string nm = f.name();
    f.parse = [m, nm](T& t, const std::string& s) {
      const int64_t v = parse_integer(s, nm);
      if (v < 0) throw InputError(nm + " must be a non-negative integer (got " + message_text(s, 60) + ")");
      t.*m = static_cast<uint64_t>(v);
    };
    f.text = [m](const T& t) { return std::to_string(t.*m); };
    f.problem = [](const T&) { return std::string(); };
    return push(std::move(f));
  }

  // A real number in [lo, hi]; infinity only where lo or hi is infinite.
  Schema& real(std::string key, double T::*m, std::string flag, std::string help, double lo, double hi,
               bool lo_open = false) {
    Field<T> f = base(std::move(key), std::move(flag), std::move(help));
    f.get = [m](const T& t) { return setting_number(t.*m); };
    f.set = [m, k = f.key](T& t, const nlohmann::json& j) { t.*m = read_number(j, "setting '" + k + "'"); };
    const std::string nm = f.name();
    f.parse = [m, nm](T& t, const std::string& s) { t.*m = parse_real(s, nm); };
    f.text = [m](const T& t) { return format_real(t.*m); };
    f.problem = [m, lo, hi, lo_open, nm](const T& t) {
      const double v = t.*m;
      const bool ok = !std::isnan(v) && (lo_open ? v > lo : v >= lo) && v <= hi;
      if (ok) return std::string();
      return nm + " must be in " + (lo_open ? "(" : "[") + format_real(lo) + ", " + format_real(hi) + "] (got " +
             format_real(v) + ")";
    };
    return push(std::move(f));
  }

  Schema& boolean(std::string key, bool T::*m, std::string flag, std::string help) {
    Field<T> f = base(std::move(key), std::move(flag), std::move(help));
    f.get = [m](const T& t) { return nlohmann::json(t.*m); };
    f.set = [m, k = f.key](T& t, const nlohmann::json& j) {
      if (!j.is_boolean()) throw InputError("setting '" + k + "' must be true or false, got " + json_brief(j));
      t.*m = j.get<bool>();
    };
    const std::string nm = f.name();
    f.parse = [m, nm](T& t, const std::string& s) {
      if (s == "true" || s == "1" || s == "on" || s == "yes") t.*m = true;
      else if (s == "false" || s == "0" || s == "off" || s == "no") t.*m = false;
      else throw InputError(nm + " takes true or false (got '" + message_text(s, 60) + "')");
    };
    f.text = [m](const T& t) { return std::string(t.*m ? "true" : "false"); };
    f.problem = [](const T&) { return std::string(); };
    return push(std::move(f));
  }

  // Free text (a path, a data spec); `nonempty` refuses "".
  Schema& text(std::string key, std::string T::*m, std::string flag, std::string help, bool nonempty = false) {
    Field<T> f = base(std::move(key), std::move(flag), std::move(help));
    f.get = [m](const T& t) { return nlohmann::json(t.*m); };
    f.set = [m, k = f.key](T& t, const nlohmann::json& j) {
      if (!j.is_string()) throw InputError("setting '" + k + "' must be a string, got " + json_brief(j));
      t.*m = j.get<std::string>();
    };
    f.parse = [m](T& t, const std::string& s) { t.*m = s; };
    f.text = [m](const T& t) { return t.*m; };
    const std::string nm = f.name();
    f.problem = [m, nonempty, nm](const T& t) { return nonempty && (t.*m).empty() ? nm + " is required" : std::string(); };
    return push(std::move(f));
  }

  // An enum (or any value) with names: {{Kind::A, "a"}, {Kind::B, "b"}}. The
  // first name of a value is how it is written; more names are accepted.
  template <class E>
  Schema& choice(std::string key, E T::*m, std::string flag, std::string help,
                 std::vector<std::pair<E, std::string>> names) {
    Field<T> f = base(std::move(key), std::move(flag), std::move(help));
    auto tbl = std::make_shared<std::vector<std::pair<E, std::string>>>(std::move(names));
    std::string list;
    for (const auto& entry : *tbl) list += (list.empty() ? "" : "|") + entry.second;
    f.choices = list;
    auto name_of = [tbl](E v) {
      for (const auto& [e, n] : *tbl)
        if (e == v) return n;
      return std::string("?");
    };
    const std::string nm = f.name();
    auto value_of = [tbl, nm, list](const std::string& s) {
      for (const auto& [e, n] : *tbl)
        if (n == s) return e;
      throw InputError(nm + " must be one of " + list + " (got '" + message_text(s, 60) + "')");
    };
    f.get = [m, name_of](const T& t) { return nlohmann::json(name_of(t.*m)); };
    f.set = [m, value_of, k = f.key](T& t, const nlohmann::json& j) {
      if (!j.is_string()) throw InputError("setting '" + k + "' must be a string, got " + json_brief(j));
      t.*m = value_of(j.get<std::string>());
    };
    f.parse = [m, value_of](T& t, const std::string& s) { t.*m = value_of(s); };
    f.text = [m, name_of](const T& t) { return name_of(t.*m); };
    f.problem = [](const T&) { return std::string(); };
    return push(std::move(f));
  }

  // A list of reals, "0,0.5,1" on the command line; each in [lo, hi]; at least one.
  Schema& reals(std::string key, std::vector<double> T::*m, std::string flag, std::string help, double lo, double hi) {
    Field<T> f = base(std::move(key), std::move(flag), std::move(help));
    f.get = [m](const T& t) {
      nlohmann::json a = nlohmann::json::array();
      for (double v : t.*m) a.push_back(setting_number(v));
      return a;
    };
    f.set = [m, k = f.key](T& t, const nlohmann::json& j) {
      if (!j.is_array()) throw InputError("setting '" + k + "' must be a list of numbers, got " + json_brief(j));
      std::vector<double> v;
      for (const auto& x : j) {
        const double d = read_number(x, "setting '" + k + "'");
        // As on the command line (parse_real_list): each value is a run, and one listed twice is a slip.
        if (std::find(v.begin(), v.end(), d) != v.end())
          throw InputError("setting '" + k + "' lists " + format_real(d) + " twice (got " + json_brief(j) + ")");
        v.push_back(d);
      }
      t.*m = v;
    };
    const std::string nm = f.name();
    f.parse = [m, nm](T& t, const std::string& s) { t.*m = parse_real_list(s, nm); };
    f.text = [m](const T& t) {
      std::string s;
      for (double v : t.*m) s += (s.empty() ? "" : ",") + format_real(v);
      return s;
    };
    f.problem = [m, lo, hi, nm](const T& t) {
      if ((t.*m).empty()) return nm + " needs at least one value";
      for (double v : t.*m)
        if (std::isnan(v) || v < lo || v > hi)
          return nm + " values must be in [" + format_real(lo) + ", " + format_real(hi) + "] (got " + format_real(v) + ")";
      return std::string();
    };
    return push(std::move(f));
  }

  // Two reals as one setting: "LO:HI" on the command line, [lo, hi] in JSON;
  // needs 0 <= lo < hi (hi may be inf). The guidance interval.
  Schema& interval(std::string key, double T::*lo_m, double T::*hi_m, std::string flag, std::string help) {
    Field<T> f = base(std::move(key), std::move(flag), std::move(help));
    f.get = [lo_m, hi_m](const T& t) { return nlohmann::json::array({setting_number(t.*lo_m), setting_number(t.*hi_m)}); };
    f.set = [lo_m, hi_m, k = f.key](T& t, const nlohmann::json& j) {
      if (!j.is_array() || j.size() != 2) throw InputError("setting '" + k + "' must be [lo, hi], got " + json_brief(j));
      t.*lo_m = read_number(j[0], "setting '" + k + "'");
      // null for hi: the older spelling of an open interval
      t.*hi_m = j[1].is_null() ? INFINITY : read_number(j[1], "setting '" + k + "'");
    };
    const std::string nm = f.name();
    f.parse = [lo_m, hi_m, nm](T& t, const std::string& s) { std::tie(t.*lo_m, t.*hi_m) = parse_interval(s, nm); };
    f.text = [lo_m, hi_m](const T& t) { return format_real(t.*lo_m) + ":" + format_real(t.*hi_m); };
    f.problem = [lo_m, hi_m, nm](const T& t) { return interval_problem(t.*lo_m, t.*hi_m, nm); };
    return push(std::move(f));
  }

  // A nested configuration under `key`, with its own schema. Its flags join
  // this schema's flags (prefixed by `flag_prefix`, e.g. "--eval-" for a
  // second sampler); `keys` limits the nested fields taken (empty: all).
  template <class S>
  Schema& nested(std::string key, S T::*m, const Schema<S>& sub, std::string flag_prefix = "",
                 std::vector<std::string> keys = {}) {
    auto keep = [keys](const std::string& k) {
      if (keys.empty()) return true;
      for (const auto& x : keys)
        if (x == k) return true;
      return false;
    };
    // The object as a whole (JSON).
    Field<T> whole = base(key, "", sub.name());
    whole.get = [m, &sub, keys](const T& t) {
      nlohmann::json j = sub.to_json(t.*m);
      if (!keys.empty()) {
        nlohmann::json k = nlohmann::json::object();
        for (const auto& x : keys) k[x] = j.at(x);
        return k;
      }
      return j;
    };
    whole.set = [m, &sub](T& t, const nlohmann::json& j) { t.*m = sub.from_json(j, t.*m, true); };
    whole.parse = nullptr;
    whole.text = nullptr;
    whole.problem = [m, &sub, keep](const T& t) {
      for (const auto& f : sub.fields())
        if (keep(f.key) && f.problem) {
          std::string p = f.problem(t.*m);
          if (!p.empty()) return p;
        }
      for (const auto& rule : sub.rules()) {
        std::string p = rule(t.*m);
        if (!p.empty()) return p;
      }
      return std::string();
    };
    push(std::move(whole));
    // Its flags, one field each (not in JSON: the whole object carries them).
    for (const auto& sf : sub.fields()) {
      if (sf.flag.empty() || !keep(sf.key) || !sf.parse) continue;
      Field<T> f;
      f.key = key + "." + sf.key;
      f.flag = flag_prefix.empty() ? sf.flag : flag_prefix + sf.flag.substr(2);
      f.help = sf.help;
      f.choices = sf.choices;
      f.free = sf.free;
      f.only_for = sf.only_for;
      f.parse = [m, p = sf.parse, f_flag = f.flag](T& t, const std::string& s) { p(t.*m, s); };
      f.text = [m, tx = sf.text](const T& t) { return tx(t.*m); };
      f.flag_only = true;
      fields_.push_back(std::move(f));
    }
    return *this;
  }

  // A field with its own conversions (e.g. a data set spec with a to_json of
  // its own). `parse` may be null for JSON-only settings.
  Schema& custom(std::string key, std::string flag, std::string help, std::function<nlohmann::json(const T&)> get,
                 std::function<void(T&, const nlohmann::json&)> set, std::function<void(T&, const std::string&)> parse,
                 std::function<std::string(const T&)> text, std::function<std::string(const T&)> problem = nullptr) {
    Field<T> f = base(std::move(key), std::move(flag), std::move(help));
    f.get = std::move(get);
    f.set = std::move(set);
    f.parse = std::move(parse);
    f.text = std::move(text);
    f.problem = problem ? std::move(problem) : [](const T&) { return std::string(); };
    return push(std::move(f));
  }

  // A fixed tag in the JSON ("family": "images"): written always, and a
  // configuration carrying another value is refused as not being `what`.
  Schema& constant(std::string key, nlohmann::json value, std::string what) {
    Field<T> f = base(std::move(key), "", what);
    f.get = [value](const T&) { return value; };
    f.set = [value, what](T&, const nlohmann::json& j) {
      if (j != value) throw InputError("configuration is not " + what + " (" + json_brief(j) + ")");
    };
    f.problem = [](const T&) { return std::string(); };
    return push(std::move(f));
  }

  // A value derived from the others, written for people and ignored when read.
  Schema& derived(std::string key, std::function<nlohmann::json(const T&)> get) {
    Field<T> f = base(std::move(key), "", "derived");
    f.get = std::move(get);
    f.set = [](T&, const nlohmann::json&) {};
    f.problem = [](const T&) { return std::string(); };
    return push(std::move(f));
  }

  // A member with its own JSON form (S::to_json, S::from_json) and checks
  // (`check` returns "" or the problem); no flag.
  template <class S>
  Schema& object(std::string key, S T::*m, std::string help, std::function<std::string(const S&)> check = nullptr) {
    Field<T> f = base(std::move(key), "", std::move(help));
    f.get = [m](const T& t) { return (t.*m).to_json(); };
    f.set = [m](T& t, const nlohmann::json& j) { t.*m = S::from_json(j); };
    f.problem = [m, check](const T& t) { return check ? check(t.*m) : std::string(); };
    return push(std::move(f));
  }

  // A spec with a text form (S::parse, S::to_string), a JSON form and its own
  // validate(): data set specs.
  template <class S>
  Schema& spec(std::string key, S T::*m, std::string flag, std::string help) {
    Field<T> f = base(std::move(key), std::move(flag), std::move(help));
    f.get = [m](const T& t) { return (t.*m).to_json(); };
    f.set = [m](T& t, const nlohmann::json& j) { t.*m = S::from_json(j); };
    f.parse = [m](T& t, const std::string& text) { t.*m = S::parse(text); };
    f.text = [m](const T& t) { return (t.*m).to_string(); };
    f.problem = [m](const T& t) {
      try {
        (t.*m).validate();
      } catch (const InputError& e) {
        return std::string(e.what());
      }
      return std::string();
    };
    return push(std::move(f));
  }

  // [SECTION] modifiers of the last field ------------------------------------------------
  // An older JSON key that is read as this field (written under the new key).
  Schema& alias(std::string old_key) {
    fields_.back().aliases.push_back(std::move(old_key));
    return *this;
  }
  // May change when a run continues (finished work stays valid).
  Schema& free() {
    fields_.back().free = true;
    return *this;
  }
  // Applies only to these families (the command refuses the flag elsewhere).
  Schema& only_for(std::vector<std::string> families) {
    fields_.back().only_for = std::move(families);
    return *this;
  }
  // A rule across fields: returns "" or the problem.
  Schema& rule(std::function<std::string(const T&)> r) {
    rules_.push_back(std::move(r));
    return *this;
  }
  const std::vector<std::function<std::string(const T&)>>& rules() const { return rules_; }

  // [SECTION] using the declaration ------------------------------------------------------
  nlohmann::json to_json(const T& t) const {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& f : fields_)
      if (!f.flag_only) j[f.key] = f.get(t);
    return j;
  }

  // Missing keys keep `base`'s values; unknown keys are refused unless `lenient`.
  T from_json(const nlohmann::json& j, T base = T(), bool lenient = false) const {
    if (!j.is_object()) throw InputError(name_ + " settings must be a JSON object, got " + json_brief(j));
    for (auto it = j.begin(); it != j.end(); ++it) {
      const Field<T>* f = find_key(it.key());
      if (!f) {
        if (lenient) continue;
        throw InputError("unknown " + name_ + " setting '" + message_text(it.key(), 60) + "'");
      }
      f->set(base, it.value());
    }
    return base;
  }

  // Throws InputError with the first problem found (fields in order, then rules).
  void validate(const T& t) const {
    for (const auto& f : fields_)
      if (f.problem) {
        const std::string p = f.problem(t);
        if (!p.empty()) throw InputError(p);
      }
    for (const auto& r : rules_) {
      const std::string p = r(t);
      if (!p.empty()) throw InputError(p);
    }
  }

  bool equal(const T& a, const T& b) const { return to_json(a) == to_json(b); }

  // Dotted keys of the fields declared free (for RunFolder).
  std::vector<std::string> free_keys() const {
    std::vector<std::string> out;
    for (const auto& f : fields_)
      if (f.free) out.push_back(f.key);
    return out;
  }

  const Field<T>* find_flag(const std::string& flag) const {
    for (const auto& f : fields_)
      if (f.flag == flag) return &f;
    return nullptr;
  }
  const Field<T>* find_key(const std::string& key) const {
    for (const auto& f : fields_) {
      if (f.flag_only) continue;
      if (f.key == key) return &f;
      for (const auto& a : f.aliases)
        if (a == key) return &f;
    }
    return nullptr;
  }

 private:
  Field<T> base(std::string key, std::string flag, std::string help) {
    Field<T> f;
    f.key = std::move(key);
    f.flag = std::move(flag);
    f.help = std::move(help);
    return f;
  }
  Schema& push(Field<T> f) {
    fields_.push_back(std::move(f));
    return *this;
  }
  std::string name_;
  std::vector<Field<T>> fields_;
  std::vector<std::function<std::string(const T&)>> rules_;
};

// A configuration read from JSON (older files: unknown keys ignored, missing
// keys at their defaults); any error becomes an InputError that says which
// configuration was being read.
template <class T>
T read_settings(const Schema<T>& schema, const nlohmann::json& j) {
  try {
    return schema.from_json(j, T(), true);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(schema.name() + " configuration: " + json_error_words(e));
  }
}

}  // namespace sims::experiment
