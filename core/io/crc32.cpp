#include "io/crc32.hpp"

#include <zlib.h>

namespace sims::io {

// zlib's (already linked for .npz; it works a word at a time where the old byte table went byte by byte; not
// benchmarked here). Every LibTorch archive is checked whole before it is loaded (io/zip.hpp).
uint32_t crc32(const void* data, size_t size, uint32_t crc) {
  // zlib answers a null buffer with its initial value (0), which would restart a running CRC at an empty tensor.
  if (size == 0) return crc;
  return static_cast<uint32_t>(::crc32_z(crc, static_cast<const Bytef*>(data), static_cast<z_size_t>(size)));
}

}  // namespace sims::io
