// NPY round trips and malformed files.
#include <filesystem>
#include <fstream>
#include <utility>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "common/error.hpp"
#include "helpers.hpp"
#include "io/atomic_file.hpp"
#include "io/file_lock.hpp"
#include "io/npy.hpp"

using namespace sims;
using sims::test::TempDir;

namespace {
void write_raw(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}
std::string header_v1(const std::string& dict) {
  std::string h = dict;
  size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(h.size() & 0xff));
  out.push_back(static_cast<char>(h.size() >> 8));
  return out + h;
}
}  // namespace

TEST_CASE("npy round trips in float32 and float64", "[npy]") {
  TempDir d;
  at::Tensor t = at::randn({5, 3, 2}, at::kDouble);
  io::write_npy(d.file("a.npy"), t, true);
  at::Tensor back = io::read_npy(d.file("a.npy"));
  CHECK(back.scalar_type() == at::kDouble);
  CHECK(at::equal(back, t));
  io::write_npy(d.file("b.npy"), t);
  at::Tensor b32 = io::read_npy(d.file("b.npy"));
  CHECK(b32.scalar_type() == at::kFloat);
  CHECK(at::equal(b32, t.to(at::kFloat)));
  io::write_npy(d.file("c.npy"), at::arange(4, at::kFloat));  // 1-D: shape "(4,)"
  CHECK(io::read_npy(d.file("c.npy")).sizes() == at::IntArrayRef({4}));
  CHECK(io::read_npy_header(d.file("c.npy")).descr == "<f4");
}

TEST_CASE("npy: Fortran order and version 2 headers are read", "[npy]") {
  TempDir d;
  // 2x3 array [[0,1,2],[3,4,5]] stored column-major.
  std::string bytes = header_v1("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }");
  for (double v : {0.0, 3.0, 1.0, 4.0, 2.0, 5.0}) bytes.append(reinterpret_cast<const char*>(&v), 8);
  write_raw(d.file("f.npy"), bytes);
  at::Tensor t = io::read_npy(d.file("f.npy"));
  CHECK(at::equal(t, at::arange(6, at::kDouble).reshape({2, 3})));
}

TEST_CASE("npy: malformed files give clear errors", "[npy]") {
  TempDir d;
  write_raw(d.file("magic.npy"), "not numpy at all");
  CHECK_THROWS_WITH(io::read_npy(d.file("magic.npy")), Catch::Contains("magic"));
  std::string trunc = header_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (10, 2), }") + std::string(12, '\0');
  write_raw(d.file("trunc.npy"), trunc);
  CHECK_THROWS_WITH(io::read_npy(d.file("trunc.npy")), Catch::Contains("truncated"));
  write_raw(d.file("int.npy"), header_v1("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }") + std::string(4, '\0'));
  CHECK_THROWS_WITH(io::read_npy(d.file("int.npy")), Catch::Contains("float32 or float64"));
  write_raw(d.file("be.npy"), header_v1("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }") + std::string(4, '\0'));
  CHECK_THROWS_WITH(io::read_npy(d.file("be.npy")), Catch::Contains("big-endian"));
  write_raw(d.file("shape.npy"), header_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (a, 2), }"));
  CHECK_THROWS_AS(io::read_npy(d.file("shape.npy")), InputError);
  CHECK_THROWS_AS(io::read_npy(d.file("missing.npy")), InputError);
  // Found by tests/fuzz/fuzz_npy.cpp: a shape entry beyond int64 (std::stoll threw out_of_range: "error: stoll"), and an
  // empty array whose other sizes overflow LibTorch's size product (c10::Error abort).
  CHECK_THROWS_WITH(io::parse_npy_bytes(header_v1("{'descr': '<f4', 'fortran_order': False, 'shape': "
                                                  "(3444444444444444444444444444412,), }"), "huge"),
                    Catch::Contains("implausibly large"));
  CHECK_THROWS_WITH(io::parse_npy_bytes(header_v1("{'descr': '<f8', 'fortran_order': True, 'shape': (3, 0, 660, 0, 760, "
                                                  "3160, 760, 60, 60, 760, 3160, 760, 312), }"), "empty"),
                    Catch::Contains("2^50"));
  const at::Tensor empty = io::parse_npy_bytes(header_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }"), "e");
  CHECK(empty.numel() == 0);
  CHECK(empty.size(1) == 5);
}

TEST_CASE("npy: NaN/Inf are refused where numbers are needed", "[npy]") {
  TempDir d;
  at::Tensor t = at::zeros({4, 2}, at::kFloat);
  t[2][1] = NAN;
  io::write_npy(d.file("nan.npy"), t);
  CHECK_NOTHROW(io::read_npy(d.file("nan.npy")));
  CHECK_THROWS_WITH(io::read_npy_finite(d.file("nan.npy")), Catch::Contains("row 2"));
}

TEST_CASE("npy: writes are atomic and refuse bad paths", "[npy]") {
  TempDir d;
  CHECK_THROWS_AS(io::write_npy(d.file("no/such/dir/x.npy"), at::zeros({2})), IoError);
  io::write_npy(d.file("x.npy"), at::ones({3}));
  // No temporary files are left behind.
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(d.path)) files += e.is_regular_file();
  CHECK(files == 1);
}

TEST_CASE("atomic writes remove the temporary files of killed writers, and only those", "[npy][files]") {
  namespace fs = std::filesystem;
  TempDir d;
  // The temporary name this machine's writers use, seen while a write is under way: ".w.npy.tmp<pid>-<host>_<n>".
  // (Written into a subfolder: the cleanup runs once per folder and process, and must meet the files below.)
  std::string live;
  fs::create_directory(d.file("probe"));
  io::write_atomically(d.file("probe/w.npy"), [&](std::ostream& out) {
    for (auto& e : fs::directory_iterator(d.file("probe")))
      if (e.path().filename().string().rfind(".w.npy.tmp", 0) == 0) live = e.path().filename().string();
    out << "x";
  });
  REQUIRE(!live.empty());
  const std::string pid = std::to_string(::getpid());
  auto named = [&](const std::string& leaf, const std::string& writer_pid) {
    std::string n = live;
    n.replace(0, std::string(".w.npy").size(), "." + leaf);
    n.replace(n.find(".tmp" + pid) + 4, pid.size(), writer_pid);
    return n;
  };
  const auto old = fs::file_time_type::clock::now() - std::chrono::hours(2);
  auto touch = [&](const std::string& name, bool aged = true) {
    std::ofstream(d.file(name)) << "partial";
    if (aged) fs::last_write_time(d.file(name), old);
  };
  const std::string orphan = named("x.npy", "2147483646");  // no process has this pid: a kill -9's leftover
  const std::string parent = named("y.npy", std::to_string(::getppid()));  // a writer that is alive
  const std::string fresh = named("v.npy", "2147483646");   // dead, but written less than a minute ago
  std::string other_host = orphan;
  other_host[other_host.find('-') + 1] = other_host[other_host.find('-') + 1] == '0' ? '1' : '0';
  touch(orphan);
  touch(parent);
  touch(fresh, false);
  touch(other_host);                 // another machine's writer (a shared folder): its pids mean nothing here
  touch(".notes.tmp");               // not a name the writer makes
  touch("data.tmp2147483646_3");     // not hidden: a user's file
  // The first write into the folder cleans up.
  io::write_npy(d.file("z.npy"), at::ones({2}));
  CHECK_FALSE(fs::exists(d.file(orphan)));
  for (const std::string& kept : {parent, fresh, other_host, std::string(".notes.tmp"), std::string("data.tmp2147483646_3")})
    CHECK(fs::exists(d.file(kept)));
}

TEST_CASE("file lock: one holder at a time - also within one process - freed when released or moved out", "[files]") {
  TempDir d;
  const std::string path = d.file(".x.lock");
  io::FileLock first(path);
  CHECK(first.held());
  CHECK(std::filesystem::exists(path));
  {
    const io::FileLock second(path);  // another open of the same file: excluded as another process would be
    CHECK(second.state() == io::FileLock::State::Busy);
  }
  io::FileLock moved(std::move(first));  // the lock goes with the object
  CHECK(first.state() == io::FileLock::State::NoFile);
  CHECK(moved.held());
  CHECK(io::FileLock(path).state() == io::FileLock::State::Busy);
  moved.release();
  CHECK(moved.state() == io::FileLock::State::NoFile);
  io::FileLock again(path);
  CHECK(again.held());
  CHECK(std::filesystem::exists(path));  // kept: a removed lock file could be locked twice under one name
  CHECK(io::FileLock(d.file("no/such/dir/.y.lock")).state() == io::FileLock::State::NoFile);
  io::FileLock none;
  CHECK_FALSE(none.held());
  none = io::FileLock(d.file(".z.lock"));
  CHECK(none.held());
}
