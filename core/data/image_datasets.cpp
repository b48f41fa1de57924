#include "data/image_datasets.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <zlib.h>

#ifdef SIMS_HAVE_LIBARCHIVE
#include <archive.h>
#include <archive_entry.h>
#endif

// stb_image, private to this file (static functions: no clash with any other copy).
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_NO_PSD
#define STBI_NO_PIC
#define STBI_NO_PNM
#include <stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "io/npy.hpp"

namespace fs = std::filesystem;

namespace sims::data {
namespace {

// [SECTION] Small helpers ------------------------------------------------------

const std::vector<std::string>& kinds() {
  static const std::vector<std::string> k{"faces", "mnist", "cifar10", "folder", "npy"};
  return k;
}

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

std::vector<std::string> split_on(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(cur);
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Numbers as written in decimal: no sign-less hex ("0x10"), no spaces, no "nan"; integers within int's range.
int parse_int(const std::string& v, const std::string& what) {
  const size_t sign = !v.empty() && (v[0] == '-' || v[0] == '+') ? 1 : 0;
  const bool digits = v.size() > sign && v.find_first_not_of("0123456789", sign) == std::string::npos;
  try {
    size_t used = 0;
    const long long x = digits ? std::stoll(v, &used) : 0;
    if (!digits || used != v.size() || x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max())
      throw std::invalid_argument(v);
    return static_cast<int>(x);
  } catch (const std::exception&) {
    throw InputError(what + " '" + message_text(v, 40) + "' is not a whole number");
  }
}

double parse_double(const std::string& v, const std::string& what) {
  try {
    size_t used = 0;
    if (v.empty() || v.find_first_not_of("0123456789+-.eE") != std::string::npos) throw std::invalid_argument(v);
    const double x = std::stod(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
    return x;
  } catch (const std::exception&) {
    throw InputError(what + " '" + message_text(v, 40) + "' is not a number");
  }
}

bool is_gzip(const std::string& bytes) {
  return bytes.size() >= 2 && static_cast<uint8_t>(bytes[0]) == 0x1f && static_cast<uint8_t>(bytes[1]) == 0x8b;
}

// Whole file as bytes; InputError naming the path when it is missing or unreadable.
std::string read_bytes(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(what + " '" + path + "' does not exist");
  if (fs::is_directory(path, ec)) throw InputError(what + " '" + path + "' is a directory, expected a file");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError("cannot read " + what + " '" + path + "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (!f.good() && !f.eof()) throw InputError("cannot read " + what + " '" + path + "'");
  return ss.str();
}

// The contents of a gzip file (MNIST's own downloads are gzipped IDX files),
// inflated by zlib into a buffer that grows as output comes, up to 1 GiB
// (MNIST's largest file is 47 MB).
std::string gunzip(const std::string& gz, const std::string& path) {
  constexpr size_t kLimit = size_t{1} << 30;
  if (gz.size() > std::numeric_limits<uInt>::max()) throw InputError("'" + path + "': gzip files above 4 GiB are not read");
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) throw InputError("zlib could not start reading '" + path + "'");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  std::string out;
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (out.size() >= kLimit) {
      inflateEnd(&z);
      throw InputError("'" + path + "' inflates to more than 1 GiB");
    }
    const size_t old = out.size(), grow = std::min(std::max<size_t>(old, size_t{1} << 20), kLimit - old);
    out.resize(old + grow);
    z.next_out = reinterpret_cast<Bytef*>(&out[old]);
    z.avail_out = static_cast<uInt>(grow);
    rc = inflate(&z, Z_NO_FLUSH);
    out.resize(old + grow - z.avail_out);
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END)
    throw InputError("'" + path + "' is a damaged gzip file (" +
                     (rc == Z_BUF_ERROR ? std::string("it ends early") : std::string("bad compressed data")) + ")");
  return out;
}

// read_bytes, inflated when the file is gzip-compressed.
std::string read_maybe_gzip(const std::string& path, const std::string& what) {
  std::string b = read_bytes(path, what);
  return is_gzip(b) ? gunzip(b, path) : b;
}

uint32_t be32(const std::string& b, size_t at) {
  return (uint32_t(uint8_t(b[at])) << 24) | (uint32_t(uint8_t(b[at + 1])) << 16) | (uint32_t(uint8_t(b[at + 2])) << 8) |
         uint32_t(uint8_t(b[at + 3]));
}

// uint8 pixels [N,C,H,W] -> float32 in [-1,1] (x/127.5 - 1).
at::Tensor bytes_to_images(const uint8_t* data, int64_t n, int64_t c, int64_t h, int64_t w) {
  at::Tensor u8 = at::from_blob(const_cast<uint8_t*>(data), {n, c, h, w}, at::kByte);
  return u8.to(at::kFloat).div_(127.5).sub_(1.0);
}

// [SECTION] MNIST (IDX) ---------------------------------------------------------

std::string find_in_dir(const fs::path& dir, const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (fs::is_regular_file(dir / n)) return (dir / n).string();
  for (const auto& n : names)  // the downloads as they come (read_maybe_gzip inflates them)
    if (fs::is_regular_file(dir / (n + ".gz"))) return (dir / (n + ".gz")).string();
  return {};
}

ImageBatch load_mnist(const ImageDatasetSpec& s, int64_t max_n) {
  std::string images_path = s.path, labels_path = s.labels;
  std::error_code ec;
  if (!fs::exists(s.path, ec)) throw InputError("mnist: '" + s.path + "' does not exist");
  if (fs::is_directory(s.path, ec)) {
    const std::string pre = s.split == "test" ? "t10k" : "train";
    images_path = find_in_dir(s.path, {pre + "-images-idx3-ubyte", pre + "-images.idx3-ubyte"});
    if (images_path.empty())
      throw InputError("mnist: no '" + pre + "-images-idx3-ubyte' in directory '" + s.path + "'");
    if (labels_path.empty())
      labels_path = find_in_dir(s.path, {pre + "-labels-idx1-ubyte", pre + "-labels.idx1-ubyte"});
  }

  const std::string img = read_maybe_gzip(images_path, "MNIST images file");
  if (img.size() < 16 || be32(img, 0) != 0x00000803) {
    if (img.size() >= 4 && be32(img, 0) == 0x00000801)
      throw InputError("mnist: '" + images_path + "' is an IDX labels file, not images (magic 0x00000801)");
    throw InputError("mnist: '" + images_path + "' is not an IDX images file (wrong magic; expected 0x00000803)");
  }
  const int64_t n = be32(img, 4), rows = be32(img, 8), cols = be32(img, 12);
  if (rows < 1 || cols < 1 || rows > 4096 || cols > 4096)
    throw InputError("mnist: '" + images_path + "' has an implausible image size " + std::to_string(rows) + "x" +
                     std::to_string(cols));
  const int64_t need = 16 + n * rows * cols;
  if (static_cast<int64_t>(img.size()) < need)
    throw InputError("mnist: '" + images_path + "' is truncated: the header says " + std::to_string(n) + " images of " +
                     std::to_string(rows) + "x" + std::to_string(cols) + " (" + std::to_string(need) +
                     " bytes) but the file has " + std::to_string(img.size()) + " bytes");

  ImageBatch b;
  at::Tensor labels;
  if (!labels_path.empty()) {
    const std::string lab = read_maybe_gzip(labels_path, "MNIST labels file");
    if (lab.size() < 8 || be32(lab, 0) != 0x00000801)
      throw InputError("mnist: '" + labels_path + "' is not an IDX labels file (wrong magic; expected 0x00000801)");
    const int64_t nl = be32(lab, 4);
    if (static_cast<int64_t>(lab.size()) < 8 + nl)
      throw InputError("mnist: '" + labels_path + "' is truncated: the header says " + std::to_string(nl) +
                       " labels but the file has " + std::to_string(lab.size() - 8) + " bytes of them");
    if (nl != n)
      throw InputError("mnist: " + std::to_string(n) + " images in '" + images_path + "' but " + std::to_string(nl) +
                       " labels in '" + labels_path + "'");
    labels = at::empty({n}, at::kLong);
    int64_t* lp = labels.data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) lp[i] = static_cast<uint8_t>(lab[8 + i]);
  }
  const int64_t take = max_n >= 0 ? std::min(max_n, n) : n;
  b.images = bytes_to_images(reinterpret_cast<const uint8_t*>(img.data()) + 16, take, 1, rows, cols);
  b.attrs = at::zeros({take, 0}, at::kFloat);
  if (labels.defined()) {
    b.labels = labels.narrow(0, 0, take).clone();
    for (int k = 0; k < 10; ++k) b.class_names.push_back(std::to_string(k));
  }
  return b;
}

// [SECTION] CIFAR-10 (binary version) --------------------------------------------

// The first bytes of a file (fewer when it is shorter).
std::string file_head(const std::string& path, size_t n) {
  std::ifstream f(path, std::ios::binary);
  std::string b(n, '\0');
  f.read(b.data(), static_cast<std::streamsize>(n));
  b.resize(static_cast<size_t>(std::max<std::streamsize>(0, f.gcount())));
  return b;
}

bool is_tar_head(const std::string& head) { return head.size() >= 262 && head.compare(257, 5, "ustar") == 0; }

// The batches of the split from the archive as it is downloaded (cifar-10-binary.tar.gz: gzip-compressed tar with
// cifar-10-batches-bin/data_batch_1..5.bin and test_batch.bin), read with libarchive straight from the file: each
// wanted member's declared size is checked before anything is allocated, and a damaged archive is one error.
#ifdef SIMS_HAVE_LIBARCHIVE
std::vector<std::pair<std::string, std::string>> cifar_batches_from_archive(const std::string& path, bool test) {
  constexpr int64_t kMaxBatch = 64 << 20;  // a real batch holds 30,730,000 bytes
  struct Reader {
    archive* a = archive_read_new();
    ~Reader() { archive_read_free(a); }
  } r;
  archive_read_support_filter_gzip(r.a);
  archive_read_support_format_tar(r.a);
  const auto fail = [&](const std::string& what) {
    const char* e = archive_error_string(r.a);
    return InputError("cifar10: '" + path + "' " + what + (e != nullptr ? std::string(": ") + e : std::string()));
  };
  // libarchive reads ahead when it opens: a short file can fail here already ("truncated gzip input").
  const auto unreadable = [&] {
    const char* e = archive_error_string(r.a);
    return fail(e != nullptr && std::string(e).find("runcated") != std::string::npos
                    ? "is damaged or cut short"
                    : "is not a readable tar archive (expected cifar-10-binary.tar.gz)");
  };
  if (archive_read_open_filename(r.a, path.c_str(), 1 << 16) != ARCHIVE_OK) throw unreadable();
  std::map<std::string, std::string> found;
  archive_entry* entry = nullptr;
  for (int64_t headers = 0;; ++headers) {
    const int rc = archive_read_next_header(r.a, &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN)
      throw headers == 0 ? unreadable() : fail("is damaged or cut short");
    const char* p = archive_entry_pathname(entry);
    const std::string name = p != nullptr ? fs::path(p).filename().string() : std::string();
    const bool wanted = test ? name == "test_batch.bin"
                             : name.size() == 16 && name.compare(0, 11, "data_batch_") == 0 && name[11] >= '1' &&
                                   name[11] <= '5' && name.compare(12, 4, ".bin") == 0;
    if (!wanted || archive_entry_filetype(entry) != AE_IFREG) continue;
    if (!archive_entry_size_is_set(entry) || archive_entry_size(entry) > kMaxBatch)
      throw InputError("cifar10: '" + path + "' member '" + p + "' is larger than a CIFAR-10 batch");
    std::string data(static_cast<size_t>(archive_entry_size(entry)), '\0');
    size_t got = 0;
    while (got < data.size()) {
      const la_ssize_t n = archive_read_data(r.a, data.data() + got, data.size() - got);
      if (n < 0) throw fail("is damaged or cut short (member '" + std::string(p) + "')");
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    if (got != data.size()) throw fail("is damaged or cut short (member '" + std::string(p) + "')");
    found[name] = std::move(data);
  }
  if (found.empty())
    throw InputError("cifar10: the archive '" + path + "' holds no " +
                     std::string(test ? "test_batch.bin" : "data_batch_*.bin") +
                     " (expected the binary version of CIFAR-10, cifar-10-binary.tar.gz)");
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [name, data] : found) out.emplace_back(path + ":" + name, std::move(data));  // data_batch_1 .. 5 in order
  return out;
}
#else
std::vector<std::pair<std::string, std::string>> cifar_batches_from_archive(const std::string& path, bool) {
  throw InputError("cifar10: '" + path + "' is an archive and this build has no libarchive: extract it first "
                   "(tar xzf cifar-10-binary.tar.gz) and give the folder");
}
#endif

ImageBatch load_cifar10(const ImageDatasetSpec& s, int64_t max_n) {
  constexpr int64_t rec = 3073;
  std::error_code ec;
  if (!fs::exists(s.path, ec)) throw InputError("cifar10: '" + s.path + "' does not exist");
  // (name, bytes) of each batch, in order; read lazily from a directory, at once from an archive.
  std::vector<std::pair<std::string, std::string>> batches;
  std::vector<std::string> files;
  if (fs::is_directory(s.path, ec)) {
    fs::path dir = s.path;
    if (fs::is_directory(dir / "cifar-10-batches-bin", ec)) dir /= "cifar-10-batches-bin";
    if (s.split == "test") {
      if (fs::is_regular_file(dir / "test_batch.bin", ec)) files.push_back((dir / "test_batch.bin").string());
    } else {
      for (int k = 1; k <= 5; ++k) {
        const fs::path f = dir / ("data_batch_" + std::to_string(k) + ".bin");
        if (fs::is_regular_file(f, ec)) files.push_back(f.string());
      }
    }
    if (files.empty())
      throw InputError("cifar10: no " + std::string(s.split == "test" ? "test_batch.bin" : "data_batch_*.bin") +
                       " in directory '" + s.path + "' (the binary version of CIFAR-10, extracted or as cifar-10-binary.tar.gz)");
  } else {
    const std::string head = file_head(s.path, 512);
    if (is_gzip(head) || is_tar_head(head)) {
      try {
        batches = cifar_batches_from_archive(s.path, s.split == "test");
      } catch (const InputError& e) {
        if (is_gzip(head) && std::string(e.what()).find("not a readable tar archive") != std::string::npos)
          throw InputError("cifar10: '" + s.path + "' is gzip-compressed but not a tar archive: give the binary batch "
                           "itself, or the archive cifar-10-binary.tar.gz as downloaded");
        throw;
      }
    } else {
      files.push_back(s.path);
    }
  }

  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  const size_t count = batches.empty() ? files.size() : batches.size();
  for (size_t bi = 0; bi < count; ++bi) {
    if (max_n >= 0 && static_cast<int64_t>(labels.size()) >= max_n) break;
    const std::string f = batches.empty() ? files[bi] : batches[bi].first;
    const std::string bytes = batches.empty() ? read_bytes(f, "CIFAR-10 batch") : std::move(batches[bi].second);
    if (is_gzip(bytes))
      throw InputError("cifar10: '" + f + "' is gzip-compressed; extract the archive first (tar xzf cifar-10-binary.tar.gz)");
    if (bytes.empty()) throw InputError("cifar10: '" + f + "' is empty");
    if (bytes.size() % rec != 0)
      throw InputError("cifar10: '" + f + "' is truncated or not a CIFAR-10 binary batch: " + std::to_string(bytes.size()) +
                       " bytes is not a whole number of 3073-byte records");
    const int64_t n = static_cast<int64_t>(bytes.size()) / rec;
    for (int64_t i = 0; i < n; ++i) {
      if (max_n >= 0 && static_cast<int64_t>(labels.size()) >= max_n) break;
      const uint8_t label = static_cast<uint8_t>(bytes[i * rec]);
      if (label > 9)
        throw InputError("cifar10: '" + f + "' record " + std::to_string(i) + " has label " + std::to_string(label) +
                         " (> 9): not a CIFAR-10 binary batch");
      labels.push_back(label);
      pixels.insert(pixels.end(), bytes.begin() + i * rec + 1, bytes.begin() + (i + 1) * rec);
    }
  }
  const int64_t n = static_cast<int64_t>(labels.size());
  ImageBatch b;
  b.images = bytes_to_images(pixels.data(), n, 3, 32, 32);
  b.attrs = at::zeros({n, 0}, at::kFloat);
  b.labels = at::tensor(labels, at::kLong);
  b.class_names = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  return b;
}

// [SECTION] Image folder (+ attribute CSV) ---------------------------------------

bool is_image_name(const fs::path& p) {
  const std::string e = lower(p.extension().string());
  return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp" || e == ".tga" || e == ".gif";
}

// The most pixels one image of a folder may have: 40 megapixels (a 7,300 x 5,500 photo) decode to 480 MB of
// floats before they are shrunk to the data set's size.
constexpr int64_t kMaxImagePixels = 40'000'000;
// The most pixels per file byte a real file of the format can hold, or 0 where the header's size need not match
// the data: a header claiming more belongs to a damaged file, whose missing pixels stb_image would fill, slowly
// (TGA: 18 bytes can claim 28 megapixels). PNG: deflate's 1,032 bytes per byte of 1-bit pixels (8 each), twice
// over; JPEG: a 64-pixel block costs at least a few bits; BMP (stb reads no RLE) and TGA (RLE: 128 pixels per
// packet of at least 2 bytes) far fewer. GIF: none (its size is the canvas, not the frame).
int64_t max_pixels_per_byte(const std::string& file) {
  const auto starts = [&](const char* magic, size_t n) { return file.size() >= n && file.compare(0, n, magic, n) == 0; };
  if (starts("\x89PNG", 4)) return 16384;
  if (starts("\xff\xd8", 2)) return 2048;
  if (starts("GIF8", 4)) return 0;
  return 128;  // BMP, TGA
}

// A PNG's chunks must each fit in the file: stb_image allocates a data chunk's declared length (up to 2 GB from a
// 121-byte file) before finding the bytes missing.
bool png_chunks_fit(const std::string& f) {
  if (f.size() < 8 || f.compare(0, 4, "\x89PNG", 4) != 0) return true;
  for (size_t at = 8; at + 8 <= f.size();) {
    const uint64_t len = be32(f, at);
    if (len + 12 > f.size() - at) return false;
    if (f.compare(at + 4, 4, "IEND") == 0) return true;
    at += static_cast<size_t>(len) + 12;
  }
  return true;  // cut between chunks: stb_image reports it
}

ImageBatch load_folder(const ImageDatasetSpec& s, int64_t max_n) {
  std::error_code ec;
  if (!fs::exists(s.path, ec)) throw InputError("folder: '" + s.path + "' does not exist");
  if (!fs::is_directory(s.path, ec)) throw InputError("folder: '" + s.path + "' is not a directory");
  const fs::path dir = s.path;

  std::vector<std::string> files;
  std::vector<std::string> names;
  std::vector<float> attr_values;
  if (!s.labels.empty()) {
    const std::string csv = read_bytes(s.labels, "attribute CSV");
    std::istringstream in(csv);
    std::string line;
    int line_no = 0;
    bool header = true;
    while (std::getline(in, line)) {
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (trim(line).empty()) continue;
      std::vector<std::string> f = split_on(line, ',');
      for (auto& x : f) x = trim(x);
      const std::string where = s.labels + ":" + std::to_string(line_no);
      if (header) {
        if (f.size() < 2) throw InputError(where + ": the header must be 'file,attr1,attr2,...' (at least one attribute)");
        for (size_t k = 1; k < f.size(); ++k) {
          if (f[k].empty()) throw InputError(where + ": attribute " + std::to_string(k) + " has no name");
          names.push_back(f[k]);
        }
        header = false;
        continue;
      }
      if (f.size() != names.size() + 1)
        throw InputError(where + ": expected " + std::to_string(names.size() + 1) + " fields, found " + std::to_string(f.size()));
      if (f[0].empty()) throw InputError(where + ": empty file name");
      if (!fs::is_regular_file(dir / f[0], ec))
        throw InputError(where + ": image '" + f[0] + "' not found in '" + s.path + "'");
      for (size_t k = 1; k < f.size(); ++k) {
        if (f[k] != "0" && f[k] != "1")
          throw InputError(where + ": value '" + f[k] + "' of attribute '" + names[k - 1] + "' is not 0 or 1");
        attr_values.push_back(f[k] == "1" ? 1.0f : 0.0f);
      }
      files.push_back((dir / f[0]).string());
    }
    if (header) throw InputError("attribute CSV '" + s.labels + "' is empty (expected a header 'file,attr1,...')");
    if (files.empty()) throw InputError("attribute CSV '" + s.labels + "' names no images");
  } else {
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file() && is_image_name(e.path())) files.push_back(e.path().string());
    if (ec) throw InputError("folder: cannot list '" + s.path + "': " + ec.message());
    std::sort(files.begin(), files.end());
    if (files.empty())
      throw InputError("folder: '" + s.path + "' has no images (.png, .jpg, .jpeg, .bmp, .tga, .gif)");
  }

  const int64_t n = max_n >= 0 ? std::min<int64_t>(max_n, files.size()) : static_cast<int64_t>(files.size());
  const int C = s.channels == 1 ? 1 : 3;
  const int S = s.size > 0 ? s.size : 32;
  at::Tensor images = at::empty({n, C, S, S}, at::kFloat);
  std::vector<std::string> errors(n);
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      try {
        const std::string bytes = read_bytes(files[i], "image");
        int w = 0, h = 0, comp = 0;
        if (!png_chunks_fit(bytes)) {
          errors[i] = "image '" + files[i] + "' is damaged or cut short (a PNG chunk runs past the end of the file)";
          continue;
        }
        // The size a header claims is checked before decoding: a few bytes of TGA or GIF can claim billions of
        // pixels (stb_image fills what the file lacks), and a small PNG can inflate to one.
        if (stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()), &w, &h,
                                  &comp) != 0) {
          const int64_t pixels = static_cast<int64_t>(w) * h;
          const std::string size = std::to_string(w) + " x " + std::to_string(h) + " pixels";
          if (pixels > kMaxImagePixels) {
            errors[i] = "image '" + files[i] + "' is " + size + ", more than a data-set image may have (" +
                        std::to_string(kMaxImagePixels / 1000000) + " megapixels)";
            continue;
          }
          const int64_t per_byte = max_pixels_per_byte(bytes);
          if (per_byte > 0 && pixels > per_byte * static_cast<int64_t>(bytes.size())) {
            errors[i] = "image '" + files[i] + "' claims " + size + ", more than its " + std::to_string(bytes.size()) +
                        " bytes can hold: damaged or cut short";
            continue;
          }
        }
        uint8_t* px = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()), &w,
                                            &h, &comp, C);
        if (!px) {
          errors[i] = "cannot decode image '" + files[i] + "': " + stbi_failure_reason();
          continue;
        }
        at::Tensor img;
        try {
          img = bytes_to_images(px, 1, h, w, C).permute({0, 3, 1, 2});  // HWC -> CHW
        } catch (...) {
          stbi_image_free(px);
          throw;
        }
        stbi_image_free(px);
        images[i].copy_(resize_images(img, S)[0]);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    }
  });
  for (const auto& e : errors)
    if (!e.empty()) throw InputError(e);

  ImageBatch b;
  b.images = images;
  b.attr_names = names;
  if (names.empty()) {
    b.attrs = at::zeros({n, 0}, at::kFloat);
  } else {
    b.attrs = at::tensor(attr_values, at::kFloat).reshape({-1, static_cast<int64_t>(names.size())}).narrow(0, 0, n).clone();
  }
  return b;
}

// [SECTION] NPY arrays -------------------------------------------------------------

ImageBatch load_npy(const ImageDatasetSpec& s, int64_t max_n) {
  std::error_code ec;
  if (!fs::exists(s.path, ec)) throw InputError("npy: '" + s.path + "' does not exist");
  at::Tensor x = io::read_npy_finite(s.path);
  if (x.dim() != 4 || (x.size(1) != 1 && x.size(1) != 3))
    throw InputError("npy: '" + s.path + "' must hold images [N,C,H,W] with C = 1 or 3, got " + c10::str(x.sizes()));
  if (x.numel() > 0) {
    const double lo = x.min().item<double>(), hi = x.max().item<double>();
    if ((lo < -1.001 || hi > 1.001) && !s.clip)
      throw InputError("npy: '" + s.path + "' has values in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                       "]; images must be in [-1,1] (8-bit pixels: x/127.5 - 1; a model's own samples overshoot a "
                       "little: 'npy:" + s.path + ",clip' clips them)");
  }
  x = x.to(at::kFloat).clamp(-1.0, 1.0);
  const int64_t n = x.size(0);
  ImageBatch b;
  if (!s.labels.empty()) {
    if (!fs::exists(s.labels, ec)) throw InputError("npy: attributes file '" + s.labels + "' does not exist");
    at::Tensor a = io::read_npy_finite(s.labels);
    if (a.dim() == 1) a = a.unsqueeze(1);
    if (a.dim() != 2)
      throw InputError("npy: attributes '" + s.labels + "' must be [N] or [N,K], got " + c10::str(a.sizes()));
    if (a.size(0) != n)
      throw InputError("npy: " + std::to_string(n) + " images in '" + s.path + "' but " + std::to_string(a.size(0)) +
                       " attribute rows in '" + s.labels + "'");
    b.attrs = a.to(at::kFloat);
    for (int64_t k = 0; k < a.size(1); ++k) b.attr_names.push_back("attr" + std::to_string(k));
  } else {
    b.attrs = at::zeros({n, 0}, at::kFloat);
  }
  b.images = x;
  const int64_t take = max_n >= 0 ? std::min(max_n, n) : n;
  return take == n ? b : b.narrow(0, take);
}

}  // namespace

// [SECTION] Spec ---------------------------------------------------------------------

ImageDatasetSpec ImageDatasetSpec::parse(const std::string& text_in, const std::string& flag_name) {
  const std::string text = trim(text_in);
  // Every message names the flag (when known) and the text as given.
  const std::string where = (flag_name.empty() ? "data set" : flag_name) + " '" + message_text(text, 80) + "': ";
  const size_t colon = text.find(':');
  ImageDatasetSpec s;
  s.kind = lower(trim(text.substr(0, colon)));
  const std::string usage =
      "expected faces[:ratio=R,size=S], mnist:PATH, cifar10:PATH, folder:DIR[,labels=CSV][,size=S][,grey] or "
      "npy:FILE[,attrs=FILE][,clip]";
  if (std::find(kinds().begin(), kinds().end(), s.kind) == kinds().end())
    throw InputError(where + "unknown data set; " + usage);
  std::vector<std::string> parts;
  if (colon != std::string::npos) parts = split_on(text.substr(colon + 1), ',');
  size_t first_opt = 0;
  if (s.kind != "faces") {
    if (parts.empty() || trim(parts[0]).empty())
      throw InputError(where + "needs a path: " + s.kind + ":PATH");
    s.path = trim(parts[0]);
    first_opt = 1;
  }
  std::vector<std::string> seen;  // options given, by meaning (ratio = group_ratio; grey, gray and rgb one setting)
  for (size_t i = first_opt; i < parts.size(); ++i) {
    const std::string part = trim(parts[i]);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    const std::string key = lower(trim(part.substr(0, eq)));
    const std::string val = eq == std::string::npos ? "" : trim(part.substr(eq + 1));
    const bool flag = eq == std::string::npos;
    auto need_value = [&] {
      if (flag || val.empty()) throw InputError(where + "option '" + key + "' needs a value (" + key + "=...)");
    };
    if (s.kind == "faces" && (key == "ratio" || key == "group_ratio")) {
      need_value();
      s.faces.group_ratio = parse_double(val, where + "ratio");
    } else if (key == "size" && s.kind != "npy") {
      need_value();
      const int v = parse_int(val, where + "size");
      if (s.kind == "faces") s.faces.size = v;
      else s.size = v;
    } else if ((key == "grey" || key == "gray") && flag && s.kind != "faces" && s.kind != "npy") {
      s.channels = 1;
    } else if (key == "rgb" && flag && s.kind != "faces" && s.kind != "npy") {
      s.channels = 3;
    } else if (key == "labels" && (s.kind == "mnist" || s.kind == "folder")) {
      need_value();
      s.labels = val;
    } else if (key == "attrs" && s.kind == "npy") {
      need_value();
      s.labels = val;
    } else if (key == "clip" && flag && s.kind == "npy") {
      s.clip = true;
    } else if (key == "split" && (s.kind == "mnist" || s.kind == "cifar10")) {
      need_value();
      s.split = lower(val);
    } else {
      std::string allowed = s.kind == "faces"    ? "ratio=R, size=S"
                            : s.kind == "mnist"  ? "labels=FILE, split=train|test, size=S, grey, rgb"
                            : s.kind == "cifar10" ? "split=train|test, size=S, grey, rgb"
                            : s.kind == "folder" ? "labels=CSV, size=S, grey, rgb"
                                                 : "attrs=FILE, clip";
      throw InputError(where + "unknown option '" + part + "' (" + s.kind + " takes " + allowed + ")");
    }
    // A known option, once (the second would silently win).
    const std::string meaning = key == "group_ratio" ? "ratio" : (key == "gray" || key == "grey" || key == "rgb") ? "channels" : key;
    if (std::find(seen.begin(), seen.end(), meaning) != seen.end())
      throw InputError(where + (meaning == "channels" ? "grey/rgb" : meaning) + " is given twice (say it once)");
    seen.push_back(meaning);
  }
  s.validate();
  return s;
}

void ImageDatasetSpec::validate() const {
  if (std::find(kinds().begin(), kinds().end(), kind) == kinds().end())
    throw InputError("unknown data set kind '" + message_text(kind, 60) + "' (faces, mnist, cifar10, folder, npy)");
  if (kind == "faces") {
    faces.validate();
    return;
  }
  if (path.empty()) throw InputError(kind + " data set needs a path");
  if (size != 0 && (size < 4 || size > 1024)) throw InputError("data set size must be 4..1024 pixels, got " + std::to_string(size));
  if (channels != 0 && channels != 1 && channels != 3) throw InputError("data set channels must be 1 or 3");
  if (split != "train" && split != "test")
    throw InputError("data set split must be train or test, got '" + message_text(split, 60) + "'");
}

std::string ImageDatasetSpec::to_string() const {
  std::ostringstream o;
  if (kind == "faces") {
    o << "faces:ratio=" << faces.group_ratio << ",size=" << faces.size;
    return o.str();
  }
  o << kind << ":" << path;
  if (!labels.empty()) o << (kind == "npy" ? ",attrs=" : ",labels=") << labels;
  if (split != "train") o << ",split=" << split;
  if (size > 0) o << ",size=" << size;
  if (channels == 1) o << ",grey";
  if (channels == 3) o << ",rgb";
  if (clip) o << ",clip";
  return o.str();
}

nlohmann::json ImageDatasetSpec::to_json() const {
  nlohmann::json j{{"kind", kind}};
  if (kind == "faces") {
    j["size"] = faces.size;
    j["group_ratio"] = faces.group_ratio;
    return j;
  }
  j["path"] = path;
  if (!labels.empty()) j[kind == "npy" ? "attrs" : "labels"] = labels;
  j["split"] = split;
  j["size"] = size;
  j["channels"] = channels;
  if (clip) j["clip"] = true;
  return j;
}

ImageDatasetSpec ImageDatasetSpec::from_json(const nlohmann::json& j) {
  ImageDatasetSpec s;
  try {
    s.kind = j.value("kind", std::string("faces"));
    if (s.kind == "faces") {
      s.faces = FacesSpec::from_json(j);
    } else {
      s.path = j.value("path", std::string());
      s.labels = j.value(s.kind == "npy" ? "attrs" : "labels", std::string());
      s.split = j.value("split", std::string("train"));
      constexpr int kMax = std::numeric_limits<int>::max();
      s.size = static_cast<int>(count_or(j, "size", 0, kMax, "data set spec: "));
      s.channels = static_cast<int>(count_or(j, "channels", 0, kMax, "data set spec: "));
      s.clip = s.kind == "npy" && j.contains("clip") && j["clip"].is_boolean() && j["clip"].get<bool>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError("data set spec: " + json_error_words(e));
  }
  s.validate();
  return s;
}

// [SECTION] Loading ------------------------------------------------------------------

at::Tensor resize_images(const at::Tensor& images, int size) {
  if (images.dim() != 4) throw InputError("resize: images must be [N,C,H,W], got " + c10::str(images.sizes()));
  if (size < 1) throw InputError("resize: size must be >= 1");
  at::Tensor x = images.to(at::kFloat);
  const int64_t h = x.size(2), w = x.size(3), side = std::min(h, w);
  if (h != w) x = x.narrow(2, (h - side) / 2, side).narrow(3, (w - side) / 2, side);
  if (side == size) return x.contiguous();
  if (side > size) return at::adaptive_avg_pool2d(x, {size, size}).clamp(-1.0, 1.0).contiguous();
  return at::upsample_bilinear2d(x.contiguous(), {size, size}, false).clamp(-1.0, 1.0).contiguous();
}

at::Tensor convert_channels(const at::Tensor& images, int channels) {
  if (images.dim() != 4) throw InputError("images must be [N,C,H,W], got " + c10::str(images.sizes()));
  const int64_t c = images.size(1);
  if (c == channels) return images;
  if (c == 1 && channels == 3) return images.expand({-1, 3, -1, -1}).contiguous();
  if (c == 3 && channels == 1)
    return (images.select(1, 0) * 0.299 + images.select(1, 1) * 0.587 + images.select(1, 2) * 0.114).unsqueeze(1).contiguous();
  throw InputError("cannot convert " + std::to_string(c) + "-channel images to " + std::to_string(channels) + " channels");
}

ImageBatch load_images(const ImageDatasetSpec& spec, int64_t max_n, uint64_t seed) {
  spec.validate();
  if (spec.kind == "faces") {
    if (max_n <= 0) throw InputError("faces: say how many images to render (a count > 0)");
    return render_faces(spec.faces, 0, max_n, seed);
  }
  ImageBatch b;
  if (spec.kind == "mnist") b = load_mnist(spec, max_n);
  else if (spec.kind == "cifar10") b = load_cifar10(spec, max_n);
  else if (spec.kind == "folder") b = load_folder(spec, max_n);
  else b = load_npy(spec, max_n);
  if (spec.kind != "folder") {  // the folder loader decodes at the right size and channels already
    if (spec.size > 0 && (b.images.size(2) != spec.size || b.images.size(3) != spec.size))
      b.images = resize_images(b.images, spec.size);
    if (spec.channels > 0) b.images = convert_channels(b.images, spec.channels);
  }
  return b;
}

}  // namespace sims::data
