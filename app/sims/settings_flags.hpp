// Command-line flags made from settings declared once (core/experiment/
// settings.hpp). A command registers the schemas of its families; every flag
// is a text option whose help shows the default of each family it applies
// to; after CLI11 has parsed the line, apply() converts the flags the user
// gave with the schema's own rules (one message style, one rule for inf) and
// refuses those that do not apply to the chosen family.
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/error.hpp"
#include "experiment/settings.hpp"

namespace sims::cli {

class SettingsFlags {
 public:
  explicit SettingsFlags(CLI::App* cmd) : cmd_(cmd) {}

  // Adds the flags of `schema` for `family` (a flag already added by another
  // family gains this family and its default in the help). `skip`: flags the
  // command binds itself.
  template <class T>
  void add(const experiment::Schema<T>& schema, const std::string& family, const std::set<std::string>& skip = {}) {
    const T defaults;
    for (const auto& f : schema.fields()) {
      if (f.flag.empty() || !f.parse || skip.count(f.flag)) continue;
      Flag& fl = flags_[f.flag];
      fl.families.insert(family);
      const std::string def = f.text ? f.text(defaults) : std::string();
      fl.defaults.push_back(family + ": " + (def.empty() ? "none" : def));
      if (!fl.option) {
        fl.text = std::make_shared<std::string>();
        fl.option = cmd_->add_option(f.flag, *fl.text);
        fl.help = f.help + (f.choices.empty() ? "" : " (" + f.choices + ")");
      }
      std::string defaults_text;
      for (const auto& d : fl.defaults) defaults_text += (defaults_text.empty() ? "" : "; ") + d;
      fl.option->description(fl.help + " [default " + defaults_text + "]");
    }
  }

  // True when the user gave `flag`.
  bool given(const std::string& flag) const {
    auto it = flags_.find(flag);
    return it != flags_.end() && it->second.option->count() > 0;
  }

  // Converts the given flags of `schema` into `target`; a given flag that
  // `family` does not have is refused, naming the families that have it.
  template <class T>
  void apply(const experiment::Schema<T>& schema, T& target, const std::string& family) const {
    for (const auto& [name, fl] : flags_) {
      if (!fl.option->count()) continue;
      const auto* f = schema.find_flag(name);
      if (!f || !fl.families.count(family)) {
        std::string has;
        for (const auto& fam : fl.families) has += (has.empty() ? "" : ", ") + fam;
        throw InputError(name + " does not apply to --family " + family + " (it is for " + has + ")");
      }
      f->parse(target, *fl.text);
    }
  }

 private:
  struct Flag {
    CLI::Option* option = nullptr;
    std::shared_ptr<std::string> text;
    std::string help;
    std::set<std::string> families;
    std::vector<std::string> defaults;
  };
  CLI::App* cmd_;
  std::map<std::string, Flag> flags_;
};

}  // namespace sims::cli
