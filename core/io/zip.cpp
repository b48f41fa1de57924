#include "io/zip.hpp"

#include <algorithm>
#include <fstream>
#include <new>

#include "io/crc32.hpp"

namespace sims::io {

namespace {

uint64_t le(const std::string& b, size_t off, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(b[off + i])) << (8 * i);
  return v;
}

}  // namespace

std::vector<ZipMember> zip_members(uint64_t size, const ZipRead& read, const ZipBad& bad) {
  if (size < 22) throw bad("too short for a zip archive");
  // End of central directory: scan back over a possible archive comment.
  const uint64_t tail_start = size - std::min<uint64_t>(size, 22 + 65535);
  const std::string tail = read(tail_start, static_cast<size_t>(size - tail_start));
  if (tail.size() != size - tail_start) throw bad("its end could not be read");
  size_t eocd = std::string::npos;
  for (size_t p = tail.size() - 22 + 1; p-- > 0;) {
    if (le(tail, p, 4) == 0x06054b50) {
      eocd = p;
      break;
    }
  }
  if (eocd == std::string::npos) throw bad("no zip end-of-central-directory record");
  uint64_t entries = le(tail, eocd + 10, 2);
  uint64_t cd_size = le(tail, eocd + 12, 4);
  uint64_t cd_offset = le(tail, eocd + 16, 4);
  if (entries == 0xffff || cd_size == 0xffffffffu || cd_offset == 0xffffffffu) {
    // zip64: a locator just before the EOCD points at the zip64 EOCD record.
    const uint64_t at = tail_start + eocd;
    const std::string loc = at >= 20 ? read(at - 20, 20) : std::string();
    if (loc.size() != 20 || le(loc, 0, 4) != 0x07064b50) throw bad("zip64 locator missing");
    const uint64_t z64 = le(loc, 8, 8);
    const std::string rec = z64 <= size && size - z64 >= 56 ? read(z64, 56) : std::string();
    if (rec.size() != 56 || le(rec, 0, 4) != 0x06064b50) throw bad("zip64 end record missing");
    entries = le(rec, 32, 8);
    cd_size = le(rec, 40, 8);
    cd_offset = le(rec, 48, 8);
  }
  if (cd_offset > size || cd_size > size - cd_offset) throw bad("central directory out of bounds");
  // Each entry takes 46 bytes and at most three 64 KiB fields; a directory beyond that (or beyond 64 MiB, a
  // million members) is not read into memory.
  if (cd_size > std::min<uint64_t>(entries, uint64_t{1} << 32) * (46 + 3 * 65535) || cd_size > (uint64_t{64} << 20))
    throw bad("central directory implausibly large");
  const std::string cd = read(cd_offset, static_cast<size_t>(cd_size));
  if (cd.size() != cd_size) throw bad("central directory out of bounds");
  std::vector<ZipMember> out;
  uint64_t spans = 0;  // bytes the members take (headers and data): members that share bytes exceed the file
  size_t p = 0;
  for (uint64_t e = 0; e < entries; ++e) {
    if (p + 46 > cd.size() || le(cd, p, 4) != 0x02014b50) throw bad("corrupt central directory");
    ZipMember m;
    m.flags = static_cast<uint32_t>(le(cd, p + 8, 2));
    m.method = static_cast<uint32_t>(le(cd, p + 10, 2));
    m.crc = static_cast<uint32_t>(le(cd, p + 16, 4));
    m.csize = le(cd, p + 20, 4);
    m.usize = le(cd, p + 24, 4);
    const size_t name_len = le(cd, p + 28, 2), extra_len = le(cd, p + 30, 2), comment_len = le(cd, p + 32, 2);
    uint64_t local = le(cd, p + 42, 4);
    if (p + 46 + name_len + extra_len + comment_len > cd.size()) throw bad("corrupt central directory");
    m.name = cd.substr(p + 46, name_len);
    // zip64 extended information: the fields that overflowed, in the order usize, csize, offset.
    size_t x = p + 46 + name_len;
    const size_t xend = x + extra_len;
    while (x + 4 <= xend) {
      const uint32_t id = static_cast<uint32_t>(le(cd, x, 2));
      const size_t len = le(cd, x + 2, 2);
      if (x + 4 + len > xend) break;
      if (id == 0x0001) {
        size_t q = x + 4;
        auto take = [&](uint64_t& field) {
          if (field == 0xffffffffu) {
            if (q + 8 > x + 4 + len) throw bad("truncated zip64 field for '" + m.name + "'");
            field = le(cd, q, 8);
            q += 8;
          }
        };
        take(m.usize);
        take(m.csize);
        take(local);
      }
      x += 4 + len;
    }
    p += 46 + name_len + extra_len + comment_len;
    const std::string head = local <= size && size - local >= 30 ? read(local, 30) : std::string();
    if (head.size() != 30 || le(head, 0, 4) != 0x04034b50) throw bad("corrupt local header of '" + m.name + "'");
    m.data = local + 30 + le(head, 26, 2) + le(head, 28, 2);
    if (m.data > size || m.csize > size - m.data) throw bad("member '" + m.name + "' is truncated");
    // Entries that point at the same bytes would make a small file cost its readers (and the CRC check) without
    // bound: the members' spans together must fit in the file.
    spans += (m.data - local) + m.csize;
    if (spans > size) throw bad("its members overlap (together they are larger than the file)");
    out.push_back(std::move(m));
  }
  return out;
}

std::string zip_crc_mismatch(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  const std::streamoff end = in.tellg();
  if (end <= 0) return {};
  const ZipRead read = [&](uint64_t offset, size_t n) {
    std::string s(n, '\0');
    in.clear();
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(&s[0], static_cast<std::streamsize>(n));
    s.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
    return s;
  };
  std::vector<ZipMember> members;
  try {
    members = zip_members(static_cast<uint64_t>(end), read, [](const std::string& what) { return InputError(what); });
  } catch (const InputError&) {
    return {};  // not a zip archive that this reader follows: the file's own loader says what is wrong
  } catch (const std::bad_alloc&) {
    return {};
  }
  std::string chunk(size_t{1} << 20, '\0');
  for (const ZipMember& m : members) {
    if (m.method != 0 || m.crc == 0 || m.csize != m.usize) continue;
    in.clear();
    in.seekg(static_cast<std::streamoff>(m.data));
    uint32_t crc = 0;
    for (uint64_t left = m.usize; left > 0;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk.size()));
      in.read(&chunk[0], static_cast<std::streamsize>(n));
      if (in.gcount() != static_cast<std::streamsize>(n)) return m.name;  // shorter than its directory says
      crc = crc32(chunk.data(), n, crc);
      left -= n;
    }
    if (crc != m.crc) return m.name;
  }
  return {};
}

void require_zip_crcs(const std::string& path) {
  const std::string member = zip_crc_mismatch(path);
  if (!member.empty())
    throw ModelError("'" + path + "' is damaged: its contents do not match their checksum (member '" + member +
                     "': flipped or overwritten bytes)");
}

}  // namespace sims::io
