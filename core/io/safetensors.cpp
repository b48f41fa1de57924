#include "io/safetensors.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "io/atomic_file.hpp"
#include "io/crc32.hpp"

namespace sims::io {

namespace {

// A header larger than this is not one this program wrote (tens of bytes per tensor).
constexpr uint64_t kMaxHeader = 16ull << 20;
constexpr size_t kMaxRank = 8;

struct DtypeName {
  const char* name;
  at::ScalarType type;
};
constexpr DtypeName kDtypes[] = {{"F32", at::kFloat}, {"F64", at::kDouble}, {"I64", at::kLong},  {"I32", at::kInt},
                                 {"U8", at::kByte},   {"F16", at::kHalf},   {"BF16", at::kBFloat16}, {"BOOL", at::kBool}};

const char* dtype_name(at::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  throw InputError(std::string("tensors of type ") + c10::toString(t) + " cannot be stored in a safetensors file");
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

// The checksum covers the header without its checksum entry, as dumped canonically (keys sorted), then the
// data: names, dtypes, shapes, offsets, metadata and weights.
uint32_t checksum(nlohmann::json header, const void* data, size_t size) {
  if (header.contains("__metadata__")) header["__metadata__"].erase(kCrcKey);
  const std::string text = header.dump();
  return crc32(data, size, crc32(text.data(), text.size()));
}

void put_u64_le(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_u64_le(const unsigned char* b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

}  // namespace

void write_safetensors(const std::string& path, const std::map<std::string, std::string>& metadata,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::vector<at::Tensor> cpu;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__" || !names.insert(name).second)
      throw InputError("tensor name '" + name + "' is reserved or used twice");
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    header[name] = {{"dtype", dtype_name(c.scalar_type())}, {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    cpu.push_back(c);
  }
  header["__metadata__"] = nlohmann::json(metadata);
  uint32_t crc = 0;
  {
    const std::string text = header.dump();
    crc = crc32(text.data(), text.size());
    for (const at::Tensor& c : cpu) crc = crc32(c.data_ptr(), c.numel() * c.element_size(), crc);
  }
  header["__metadata__"][kCrcKey] = hex32(crc);
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned
  std::string prefix;
  put_u64_le(prefix, text.size());
  write_atomically(path, [&](std::ostream& out) {
    out.write(prefix.data(), static_cast<std::streamsize>(prefix.size()));
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const at::Tensor& c : cpu)
      out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * c.element_size()));
  });
}

bool looks_like_safetensors(const std::string& path) {
  // A header length below 16 MiB has zero high bytes, which no JSON or zip file starts with.
  std::ifstream in(path, std::ios::binary);
  unsigned char b[9];
  if (!in.read(reinterpret_cast<char*>(b), 9)) return false;
  return b[3] == 0 && b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0 && b[8] == '{';
}

TensorFile read_safetensors(const std::string& path) {
  auto bad = [&](const std::string& why) { return ModelError("'" + path + "' is damaged: " + why); };
  std::ifstream in(path, std::ios::binary | std::ios::ate);  // the size of the file opened, not of the path later
  if (!in) throw ModelError("cannot open '" + path + "'");
  const auto end = in.tellg();
  if (end < 0) throw ModelError("cannot read '" + path + "'");
  const uint64_t size = static_cast<uint64_t>(end);
  in.seekg(0);
  unsigned char lenbuf[8];
  if (size < 8 || !in.read(reinterpret_cast<char*>(lenbuf), 8)) throw bad("shorter than its 8-byte header length");
  const uint64_t n = get_u64_le(lenbuf);
  if (n < 2 || n > kMaxHeader || n > size - 8)
    throw bad("its header length (" + std::to_string(n) + " bytes) does not fit the file (" + std::to_string(size) +
              " bytes)");
  std::string text(n, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(n))) throw bad("the header cannot be read");
  nlohmann::json header;
  try {
    header = parse_json_bounded(text, "its header");
  } catch (const InputError& e) {
    throw bad(e.what());
  }
  if (!header.is_object()) throw bad("the header is not a JSON object");

  TensorFile file;
  const uint64_t data_size = size - 8 - n;
  struct Entry {
    std::string name;
    at::ScalarType type;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) throw bad("__metadata__ is not an object");
      for (const auto& [k, s] : v.items()) {
        if (!s.is_string()) throw bad("metadata '" + k + "' is not a string");
        file.metadata[k] = s.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets") ||
        !v["dtype"].is_string() || !v["shape"].is_array() || !v["data_offsets"].is_array() ||
        v["data_offsets"].size() != 2 || !v["data_offsets"][0].is_number_unsigned() ||
        !v["data_offsets"][1].is_number_unsigned())
      throw bad(where + " lacks dtype, shape or two data_offsets");
    Entry e{name, at::kFloat, {}, v["data_offsets"][0].get<uint64_t>(), v["data_offsets"][1].get<uint64_t>()};
    const std::string dt = v["dtype"].get<std::string>();
    const auto* d = std::find_if(std::begin(kDtypes), std::end(kDtypes), [&](const DtypeName& x) { return dt == x.name; });
    if (d == std::end(kDtypes)) throw bad(where + " has an unknown dtype '" + dt + "'");
    e.type = d->type;
    if (v["shape"].size() > kMaxRank) throw bad(where + " has more than 8 dimensions");
    uint64_t numel = 1, span = 1;  // span: the product of max(dim, 1), which LibTorch's strides reach
    for (const auto& s : v["shape"]) {
      if (!s.is_number_unsigned()) throw bad(where + " has a shape entry that is not a count");
      const uint64_t dim = s.get<uint64_t>(), d1 = std::max<uint64_t>(dim, 1);
      // Every element takes at least one byte of the data section, so no count beyond it can be right; checking
      // before multiplying keeps the products from overflowing.
      if (d1 > std::max<uint64_t>(data_size, 1) || span > std::max<uint64_t>(data_size, 1) / d1)
        throw bad(where + " is larger than the file");
      span *= d1;
      numel *= dim;
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    const uint64_t bytes = numel * c10::elementSize(e.type);
    if (e.begin > e.end || e.end > data_size || e.end - e.begin != bytes)
      throw bad(where + " has data offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                ") that do not match its shape or the file's " + std::to_string(data_size) + " data bytes");
    entries.push_back(std::move(e));
  }
  // The data must be covered exactly once, in some order: no overlap, no gap, nothing after.
  std::vector<const Entry*> order;
  for (const Entry& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(),
            [](const Entry* a, const Entry* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
  uint64_t at = 0;
  for (const Entry* e : order) {
    if (e->begin != at) throw bad("tensor '" + e->name + "' overlaps another or leaves a gap before it");
    at = e->end;
  }
  if (at != data_size) throw bad("its data section has " + std::to_string(data_size - at) + " bytes no tensor uses");

  std::vector<char> data(data_size);
  if (data_size && !in.read(data.data(), static_cast<std::streamsize>(data_size))) throw bad("the data cannot be read");
  auto crc = file.metadata.find(kCrcKey);
  if (crc != file.metadata.end() && crc->second != hex32(checksum(header, data.data(), data.size())))
    throw bad("its contents do not match their checksum (flipped or overwritten bytes)");
  for (const Entry& e : entries) {
    at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(e.type));
    if (e.end > e.begin) std::memcpy(t.data_ptr(), data.data() + e.begin, e.end - e.begin);
    file.tensors.emplace(e.name, t);
  }
  return file;
}

}  // namespace sims::io
