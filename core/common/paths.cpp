#include "common/paths.hpp"

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <system_error>

#include "common/error.hpp"

namespace sims {
namespace fs = std::filesystem;

namespace {

bool holds_assets(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir / "assets", ec);
}

std::string find_data_dir() {
  std::string looked, hint;
  if (const char* env = std::getenv("SIMS_DATA_DIR"); env && *env) {
    if (holds_assets(env)) return fs::path(env).lexically_normal().string();
    looked += std::string(" $SIMS_DATA_DIR=") + env;
    // A common slip, said in the final message (the installed data below may still be found).
    const fs::path given = fs::path(env).lexically_normal();
    const fs::path named = given.filename().empty() ? given.parent_path() : given;
    if (named.filename() == "assets") {
      const std::string above = named.parent_path().empty() ? "." : named.parent_path().string();
      hint = " ($SIMS_DATA_DIR names the assets folder itself: set it to the folder above, " + above + ")";
    }
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path share = (exe.parent_path() / ".." / "share" / "sims").lexically_normal();
    if (holds_assets(share)) return share.string();
    looked += " " + share.string();
  }
  throw InputError("the shipped data (assets/) was not found; looked in" + looked +
                   (hint.empty() ? " (set SIMS_DATA_DIR to the folder that holds assets/)" : hint));
}

}  // namespace

std::string data_dir() {
  static std::once_flag once;
  static std::string dir;
  static std::string failure;
  std::call_once(once, [] {
    try {
      dir = find_data_dir();
    } catch (const Error& e) {
      failure = e.what();
    }
  });
  if (dir.empty()) throw InputError(failure);
  return dir;
}

std::string asset_path(const std::string& rel) { return data_dir() + "/assets/" + rel; }

std::string data_path(const std::string& rel) { return data_dir() + "/" + rel; }

}  // namespace sims
