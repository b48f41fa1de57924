// Zip archives as their central directory lists them (zip64 included): the .npz reader and the check of a torch
// archive's (feature checkpoint, TorchScript file) stored members against the CRC-32 its directory records.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace sims::io {

struct ZipMember {
  std::string name;
  uint32_t flags = 0, method = 0, crc = 0;  // method 0: stored, 8: deflated
  uint64_t csize = 0, usize = 0;            // compressed and uncompressed sizes
  uint64_t data = 0;                        // offset of its (compressed) bytes in the archive
};

// `read(offset, n)`: n bytes of the archive from `offset` (fewer only past its end); `size`: its length.
using ZipRead = std::function<std::string(uint64_t offset, size_t n)>;
using ZipBad = std::function<InputError(const std::string& what)>;

// Every member, each offset and size checked against `size` before anything is read there; the first
// inconsistency is thrown as `bad(what)`.
std::vector<ZipMember> zip_members(uint64_t size, const ZipRead& read, const ZipBad& bad);

// The name of the first stored member of the zip file at `path` whose bytes do not match the CRC-32 that its
// directory records, or "" when all do. The loaders of torch archives (which do not compare them) call it first,
// so that flipped or overwritten weights are refused instead of used. Members recorded with CRC 0 (a writer that
// skips it) and compressed ones are left to their reader, as is a file that is no readable zip archive.
std::string zip_crc_mismatch(const std::string& path);

// Throws ModelError "'PATH' is damaged: its contents do not match their checksum (member 'M': flipped or overwritten
// bytes)" when zip_crc_mismatch names a member; the words of a damaged weights-only checkpoint.
void require_zip_crcs(const std::string& path);

}  // namespace sims::io
