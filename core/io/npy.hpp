// NumPy .npy arrays in and out (format versions 1-3; little-endian float32 /
// float64 read, float32 or float64 written, C order). Arrays are how points,
// noise, samples and features travel between the CLI, scripts and Python.
#pragma once
#include <string>
#include <vector>

#include <ATen/Tensor.h>

namespace sims::io {

struct NpyHeader {
  std::string descr;           // e.g. "<f4"
  bool fortran_order = false;
  std::vector<int64_t> shape;
  size_t data_offset = 0;      // byte offset of the data in the file
};

// Parses only the header; throws InputError on a malformed one.
NpyHeader read_npy_header(const std::string& path);

// Reads a float32 or float64 array (other dtypes are refused with a clear
// error). The result keeps the stored dtype; Fortran-order arrays are
// returned in C order.
at::Tensor read_npy(const std::string& path);

// Same, and additionally refuses NaN/Inf values (says where the first one is).
at::Tensor read_npy_finite(const std::string& path);

// Writes `t` (any floating dtype, any device) as float32 (default) or
// float64, atomically.
void write_npy(const std::string& path, const at::Tensor& t, bool as_float64 = false);

// The header (magic, version, dict, padding) of an array of this shape;
// data of shape.prod() little-endian values follows it. Used to stream large
// arrays to disk chunk by chunk.
std::string npy_header(const std::vector<int64_t>& shape, bool as_float64 = false);

// Serialises to bytes (used by write_npy and by .npz writers).
std::string npy_bytes(const at::Tensor& t, bool as_float64 = false);

// Parses .npy bytes (used by read_npy and by .npz readers); `where` names the
// source in error messages.
at::Tensor parse_npy_bytes(const std::string& bytes, const std::string& where);

}  // namespace sims::io
