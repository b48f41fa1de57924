#include "helpers.hpp"

#include <cstdlib>
#include <filesystem>

namespace sims::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sims_test_XXXXXX").string();
  char* p = ::mkdtemp(tmpl.data());
  path = p ? p : "/tmp";
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

}  // namespace sims::test
