// NPY round trips and malformed files.
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "common/error.hpp"
#include "helpers.hpp"
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
