#include "io/npy.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "io/atomic_file.hpp"

namespace sims::io {
namespace {

constexpr char kMagic[] = "\x93NUMPY";

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw InputError("'" + where + "' is not a valid .npy file: " + what);
}

// Extracts the value text that follows 'key': in a Python dict literal.
std::string dict_value(const std::string& header, const std::string& key, const std::string& where) {
  const std::string pat = "'" + key + "'";
  size_t k = header.find(pat);
  if (k == std::string::npos) bad(where, "header has no '" + key + "' entry");
  size_t colon = header.find(':', k + pat.size());
  if (colon == std::string::npos) bad(where, "header entry '" + key + "' has no value");
  size_t v = header.find_first_not_of(" ", colon + 1);
  if (v == std::string::npos) bad(where, "header entry '" + key + "' has no value");
  size_t end;
  if (header[v] == '(') {
    end = header.find(')', v);
    if (end == std::string::npos) bad(where, "unterminated shape tuple");
    return header.substr(v, end - v + 1);
  }
  if (header[v] == '\'' || header[v] == '"') {
    end = header.find(header[v], v + 1);
    if (end == std::string::npos) bad(where, "unterminated string in header");
    return header.substr(v + 1, end - v - 1);
  }
  end = header.find_first_of(",}", v);
  if (end == std::string::npos) bad(where, "malformed header");
  std::string s = header.substr(v, end - v);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

NpyHeader parse_header(const std::string& bytes, const std::string& where) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0) bad(where, "missing NUMPY magic");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t hlen, hstart;
  if (major == 1) {
    hlen = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) bad(where, "truncated header");
    hlen = 0;
    for (int i = 0; i < 4; ++i) hlen |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    hstart = 12;
  } else {
    bad(where, "unsupported format version " + std::to_string(major));
  }
  if (hstart + hlen > bytes.size()) bad(where, "truncated header");
  const std::string header = bytes.substr(hstart, hlen);
  NpyHeader h;
  h.descr = dict_value(header, "descr", where);
  const std::string fo = dict_value(header, "fortran_order", where);
  if (fo == "True") h.fortran_order = true;
  else if (fo == "False") h.fortran_order = false;
  else bad(where, "fortran_order is '" + fo + "'");
  std::string shape = dict_value(header, "shape", where);
  if (shape.size() < 2 || shape.front() != '(') bad(where, "shape is not a tuple");
  std::string inner = shape.substr(1, shape.size() - 2);
  std::stringstream ss(inner);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t a = item.find_first_not_of(" ");
    if (a == std::string::npos) continue;
    size_t b = item.find_last_not_of(" L");
    std::string num = item.substr(a, b - a + 1);
    if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos)
      bad(where, "shape entry '" + num + "' is not a non-negative integer");
    if (num.size() > 15) bad(where, "shape entry '" + num.substr(0, 20) + "' is implausibly large");  // found by fuzz_npy
    h.shape.push_back(std::stoll(num));
  }
  h.data_offset = hstart + hlen;
  return h;
}

at::ScalarType dtype_of(const std::string& descr, const std::string& where) {
  if (descr == "<f4" || descr == "=f4" || descr == "f4") return at::kFloat;
  if (descr == "<f8" || descr == "=f8" || descr == "f8") return at::kDouble;
  if (descr == ">f4" || descr == ">f8")
    throw InputError("'" + where + "': big-endian arrays are not supported (dtype " + descr + "); save little-endian");
  throw InputError("'" + where + "': dtype " + descr + " is not supported; use float32 or float64");
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open '" + path + "': no such file or not readable");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

NpyHeader read_npy_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open '" + path + "': no such file or not readable");
  std::string head(70000, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  return parse_header(head, path);
}

at::Tensor parse_npy_bytes(const std::string& bytes, const std::string& where) {
  NpyHeader h = parse_header(bytes, where);
  const at::ScalarType dt = dtype_of(h.descr, where);
  const size_t esize = dt == at::kFloat ? 4 : 8;
  // The product of the non-zero sizes is bounded too: LibTorch multiplies every size, zero or not (found by
  // fuzz_npy: an empty array of sizes whose product overflows aborted in at::empty).
  if (h.shape.size() > 32) bad(where, "it has " + std::to_string(h.shape.size()) + " dimensions (at most 32)");
  size_t count = 1, nonzero = 1;
  for (int64_t d : h.shape) {
    if (d == 0) {
      count = 0;
      continue;
    }
    if (nonzero > (size_t{1} << 50) / static_cast<size_t>(d)) bad(where, "its shape describes more than 2^50 elements");
    nonzero *= static_cast<size_t>(d);
    count *= static_cast<size_t>(d);
  }
  const size_t need = count * esize;
  if (bytes.size() - h.data_offset < need)
    bad(where, "data is truncated (" + std::to_string(bytes.size() - h.data_offset) + " bytes, header promises " +
                   std::to_string(need) + ")");
  std::vector<int64_t> shape = h.shape;
  if (h.fortran_order) std::reverse(shape.begin(), shape.end());
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dt));
  if (need > 0) std::memcpy(t.data_ptr(), bytes.data() + h.data_offset, need);  // an empty array has no data pointer
  if (h.fortran_order && shape.size() > 1) {
    std::vector<int64_t> perm(shape.size());
    for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(perm.size() - 1 - i);
    t = t.permute(perm).contiguous();
  }
  return t;
}

at::Tensor read_npy(const std::string& path) { return parse_npy_bytes(slurp(path), path); }

at::Tensor read_npy_finite(const std::string& path) {
  at::Tensor t = read_npy(path);
  at::Tensor bad_mask = t.isfinite().logical_not();
  if (bad_mask.any().item<bool>()) {
    at::Tensor flat = bad_mask.reshape({-1}).nonzero();
    const int64_t idx = flat[0][0].item<int64_t>();
    const int64_t nbad = bad_mask.sum().item<int64_t>();
    std::string loc = "flat index " + std::to_string(idx);
    if (t.dim() >= 2) {
      const int64_t row_size = t.numel() / t.size(0);
      loc = "row " + std::to_string(idx / row_size);
    }
    throw InputError("'" + path + "' contains " + std::to_string(nbad) + " NaN/Inf value(s), first at " + loc);
  }
  return t;
}

std::string npy_header(const std::vector<int64_t>& dims, bool as_float64) {
  std::string shape = "(";
  for (size_t i = 0; i < dims.size(); ++i) {
    shape += std::to_string(dims[i]);
    if (dims.size() == 1 || i + 1 < dims.size()) shape += ",";
    if (i + 1 < dims.size()) shape += " ";
  }
  shape += ")";
  std::string header = std::string("{'descr': '") + (as_float64 ? "<f8" : "<f4") +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so that magic + len + header + '\n' is a multiple of 64 (NumPy's alignment).
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::string out;
  out.append(kMagic, 6);
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>((header.size() >> 8) & 0xff));
  return out + header;
}

std::string npy_bytes(const at::Tensor& t_in, bool as_float64) {
  at::Tensor t = t_in.detach().to(at::kCPU, as_float64 ? at::kDouble : at::kFloat).contiguous();
  std::string out = npy_header(std::vector<int64_t>(t.sizes().begin(), t.sizes().end()), as_float64);
  out.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  return out;
}

void write_npy(const std::string& path, const at::Tensor& t, bool as_float64) {
  const std::string bytes = npy_bytes(t, as_float64);
  write_file_atomically(path, bytes.data(), bytes.size());
}

}  // namespace sims::io
