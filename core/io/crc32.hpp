// CRC-32 (IEEE 802.3, the zip/PNG polynomial) of a byte buffer.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sims::io {

// Continues from `crc` (0 to start), so a stream can be fed chunk by chunk.
uint32_t crc32(const void* data, size_t size, uint32_t crc = 0);

}  // namespace sims::io
