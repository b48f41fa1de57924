// Weights-only tensor files in the safetensors layout (the field's format for
// weights that load without executing anything): an 8-byte little-endian
// header length N, N bytes of JSON ({"name": {"dtype", "shape",
// "data_offsets": [begin, end]}, ..., "__metadata__": {string: string}}),
// then the raw little-endian tensor bytes. The reader checks every size and
// offset against the file before it allocates or copies anything, and
// refuses overlapping or gapped data, unknown dtypes and absurd headers, so a
// damaged or crafted file gives an error, never a crash.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

namespace sims::io {

struct TensorFile {
  std::map<std::string, std::string> metadata;
  std::map<std::string, at::Tensor> tensors;  // contiguous CPU tensors
};

// The metadata key under which the writer stores a CRC-32 of the rest of the header (names, dtypes, shapes,
// offsets, metadata) and of the data section (8 hex digits); the reader refuses a file that no longer matches it (flipped or overwritten
// bytes). Files without it (written elsewhere) are read unchecked.
constexpr const char* kCrcKey = "sims.crc32";

// Writes `tensors` (any device; stored as their dtype: float32/64, int64/32, uint8, float16, bfloat16, bool)
// in this order, atomically, with kCrcKey added to the metadata. Throws InputError for a name used twice or
// "__metadata__".
void write_safetensors(const std::string& path, const std::map<std::string, std::string>& metadata,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors);

// Throws ModelError naming the file and what is wrong with it.
TensorFile read_safetensors(const std::string& path);

// Cheap check of the first bytes: an 8-byte length below 16 MiB followed by '{'.
bool looks_like_safetensors(const std::string& path);

}  // namespace sims::io
