#include "metrics/frechet.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include <ATen/ATen.h>
#include <zlib.h>

#include "common/error.hpp"
#include "metrics/shape_text.hpp"
#include "io/atomic_file.hpp"
#include "io/npy.hpp"
#include "io/zip.hpp"

namespace sims::metrics {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  return std::equal(suffix.rbegin(), suffix.rend(), s.rbegin(),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

void check_stats(const GaussianStats& s, const std::string& which) {
  if (!s.mu.defined() || !s.sigma.defined())
    throw InputError("statistics " + which + " are empty");
  if (s.mu.dim() != 1) throw InputError("statistics " + which + ": mu must be [D], got " + shape_str(s.mu));
  const int64_t d = s.mu.size(0);
  if (d < 1) throw InputError("statistics " + which + ": mu is empty");
  if (s.sigma.dim() != 2 || s.sigma.size(0) != d || s.sigma.size(1) != d)
    throw InputError("statistics " + which + ": sigma must be [" + std::to_string(d) + ", " + std::to_string(d) +
                     "] to match mu, got " + shape_str(s.sigma));
  if (!s.mu.isfinite().all().item<bool>() || !s.sigma.isfinite().all().item<bool>())
    throw InputError("statistics " + which + " contain NaN or Inf");
}

// ---- little-endian helpers for the zip container --------------------------------------------
void put16(std::string& b, uint32_t v) {
  b.push_back(static_cast<char>(v & 0xff));
  b.push_back(static_cast<char>((v >> 8) & 0xff));
}
void put32(std::string& b, uint32_t v) {
  put16(b, v & 0xffff);
  put16(b, v >> 16);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open '" + path + "': no such file or not readable");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError("cannot read '" + path + "'");
  return ss.str();
}

// A deflated zip member (numpy.savez_compressed), inflated by zlib. The size
// the directory states is checked before anything is allocated: no more than
// deflate can give for the compressed bytes (1032:1) and no more than 2 GiB
// (a 2,048-d float64 covariance is 32 MiB); the stream must end exactly at
// that size.
std::string inflate_member(const char* src, uint64_t csize, uint64_t usize, const std::string& name,
                           const std::function<InputError(const std::string&)>& bad) {
  constexpr uint64_t kMaxMember = uint64_t{2} << 30;
  if (usize > csize * 1032 + 64)
    throw bad("member '" + name + "' claims " + std::to_string(usize) + " bytes from " + std::to_string(csize) +
              " compressed ones, more than deflate can produce");
  if (usize > kMaxMember) throw bad("member '" + name + "' is larger than 2 GiB uncompressed");
  std::string out(usize + 1, '\0');  // one byte more: a stream that goes on is caught
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw bad("zlib could not start inflating '" + name + "'");
  constexpr uint64_t kChunk = uint64_t{1} << 30;  // zlib counts in 32-bit units
  uint64_t in_done = 0, out_done = 0;
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (z.avail_in == 0) {
      const uint64_t n = std::min(csize - in_done, kChunk);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(src + in_done));
      z.avail_in = static_cast<uInt>(n);
      in_done += n;
    }
    if (z.avail_out == 0) {
      const uint64_t n = std::min(usize + 1 - out_done, kChunk);
      z.next_out = reinterpret_cast<Bytef*>(&out[out_done]);
      z.avail_out = static_cast<uInt>(n);
      out_done += n;
    }
    rc = inflate(&z, Z_NO_FLUSH);
  }
  const uint64_t total = z.total_out;
  inflateEnd(&z);
  if (total > usize) throw bad("member '" + name + "' inflates to more than the " + std::to_string(usize) + " bytes stated");
  if (rc != Z_STREAM_END)
    throw bad("member '" + name + "': " + (rc == Z_BUF_ERROR ? "the compressed data end early" : "damaged compressed data"));
  if (total != usize)
    throw bad("member '" + name + "' inflates to " + std::to_string(total) + " bytes, the directory says " +
              std::to_string(usize));
  out.resize(usize);
  return out;
}

}  // namespace

// ---- CRC-32 ---------------------------------------------------------------------------------
// ---- streaming statistics -------------------------------------------------------------------
void StatsAccumulator::add(const at::Tensor& chunk, const std::string& where) {
  if (!chunk.defined() || chunk.dim() != 2)
    throw InputError("'" + where + "': features must be a 2-D array [N, D], got " +
                     (chunk.defined() ? shape_str(chunk) : std::string("nothing")));
  if (!at::isFloatingType(chunk.scalar_type()))
    throw InputError("'" + where + "': features must be float32 or float64");
  const int64_t d = chunk.size(1);
  if (d < 1) throw InputError("'" + where + "': features have zero dimensions");
  if (dim_ >= 0 && d != dim_)
    throw InputError("'" + where + "': feature dimension " + std::to_string(d) + " does not match " +
                     std::to_string(dim_) + " of the earlier chunks");
  dim_ = d;
  const int64_t nb = chunk.size(0);
  if (nb == 0) return;
  at::Tensor x = chunk.to(at::kCPU, at::kDouble).contiguous();
  if (!x.isfinite().all().item<bool>()) {
    const int64_t row = x.isfinite().all(1).logical_not().nonzero()[0][0].item<int64_t>();
    throw InputError("'" + where + "': features contain NaN or Inf (row " + std::to_string(n_ + row) + ")");
  }
  at::Tensor mean_b = x.mean(0);
  at::Tensor xc = x - mean_b;
  at::Tensor m2_b = xc.t().mm(xc);
  if (n_ == 0) {
    mean_ = mean_b;
    m2_ = m2_b;
    n_ = nb;
    return;
  }
  // Chan, Golub & LeVeque pairwise merge.
  const double na = static_cast<double>(n_), nbd = static_cast<double>(nb), n = na + nbd;
  at::Tensor delta = mean_b - mean_;
  mean_ = mean_ + delta * (nbd / n);
  m2_ = m2_ + m2_b + at::outer(delta, delta) * (na * nbd / n);
  n_ += nb;
}

GaussianStats StatsAccumulator::finalize(const std::string& where) const {
  if (n_ < 2)
    throw InputError("'" + where + "': need at least 2 feature vectors for a covariance, got " + std::to_string(n_));
  GaussianStats s;
  s.mu = mean_.clone();
  at::Tensor sigma = m2_ / static_cast<double>(n_ - 1);
  s.sigma = ((sigma + sigma.t()) * 0.5).contiguous();
  s.n = n_;
  return s;
}

GaussianStats stats_of_features(const at::Tensor& features, const std::string& where) {
  if (!features.defined() || features.dim() != 2)
    throw InputError("'" + where + "': features must be a 2-D array [N, D], got " +
                     (features.defined() ? shape_str(features) : std::string("nothing")));
  StatsAccumulator acc;
  const int64_t n = features.size(0);
  const int64_t chunk = 4096;
  if (n == 0) acc.add(features, where);
  for (int64_t i = 0; i < n; i += chunk) acc.add(features.slice(0, i, std::min(n, i + chunk)), where);
  return acc.finalize(where);
}

at::Tensor sqrtm_psd(const at::Tensor& s) {
  at::Tensor sym = (s + s.t()) * 0.5;
  auto [w, v] = at::linalg_eigh(sym);
  return (v * w.clamp_min(0).sqrt().unsqueeze(0)).mm(v.t());
}

FrechetTo::FrechetTo(const GaussianStats& a_in) {
  check_stats(a_in, "A");
  mu_ = a_in.mu.to(at::kCPU, at::kDouble);
  const at::Tensor s1 = a_in.sigma.to(at::kCPU, at::kDouble);
  root_ = sqrtm_psd(s1);
  trace_ = s1.trace().item<double>();
}

double FrechetTo::operator()(const GaussianStats& b_in) const {
  check_stats(b_in, "B");
  if (mu_.size(0) != b_in.mu.size(0))
    throw InputError("feature dimensions differ: " + std::to_string(mu_.size(0)) + " vs " +
                     std::to_string(b_in.mu.size(0)));
  const at::Tensor mu2 = b_in.mu.to(at::kCPU, at::kDouble), s2 = b_in.sigma.to(at::kCPU, at::kDouble);
  // tr sqrt(Σ1 Σ2) = tr sqrt(A Σ2 A) with A = sqrt(Σ1): a symmetric PSD matrix, so its eigenvalues.
  at::Tensor m = root_.mm(s2).mm(root_);
  m = (m + m.t()) * 0.5;
  const double tr_sqrt = at::linalg_eigvalsh(m).clamp_min(0).sqrt().sum().item<double>();
  at::Tensor diff = mu_ - mu2;
  const double fd = diff.dot(diff).item<double>() + trace_ + s2.trace().item<double>() - 2.0 * tr_sqrt;
  return std::max(fd, 0.0);
}

double frechet_distance(const GaussianStats& a, const GaussianStats& b) { return FrechetTo(a)(b); }

double fd_of_features(const at::Tensor& a, const at::Tensor& b) {
  if (a.dim() == 2 && b.dim() == 2 && a.size(1) != b.size(1))
    throw InputError("feature dimensions differ: " + std::to_string(a.size(1)) + " vs " + std::to_string(b.size(1)));
  return frechet_distance(stats_of_features(a, "A"), stats_of_features(b, "B"));
}

GaussianStats stats_from_file(const std::string& path) {
  if (ends_with(path, ".npz")) return load_stats_npz(path);
  at::Tensor f = io::read_npy_finite(path);
  if (f.dim() != 2) throw InputError("'" + path + "': features must be a 2-D array [N, D], got " + shape_str(f));
  return stats_of_features(f, path);
}

// ---- .npz (uncompressed zip) ----------------------------------------------------------------
void write_npz(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& arrays,
               bool as_float64) {
  std::string out, central;
  const uint32_t dos_time = 0, dos_date = (0u << 9) | (1u << 5) | 1u;  // 1980-01-01 00:00
  for (const auto& [name_in, t] : arrays) {
    const std::string name = name_in + ".npy";
    const std::string data = io::npy_bytes(t, as_float64);
    if (data.size() >= 0xffffffffu || out.size() >= 0xffffffffu)
      throw InputError("'" + path + "': array '" + name_in + "' is too large for a non-zip64 .npz");
    const uint32_t crc = crc32(data.data(), data.size());
    const uint32_t offset = static_cast<uint32_t>(out.size());
    // local file header
    put32(out, 0x04034b50);
    put16(out, 20);  // version needed
    put16(out, 0);   // flags
    put16(out, 0);   // method: stored
    put16(out, dos_time);
    put16(out, dos_date);
    put32(out, crc);
    put32(out, static_cast<uint32_t>(data.size()));
    put32(out, static_cast<uint32_t>(data.size()));
    put16(out, static_cast<uint32_t>(name.size()));
    put16(out, 0);  // extra length
    out += name;
    out += data;
    // central directory entry
    put32(central, 0x02014b50);
    put16(central, (3u << 8) | 20);  // made by: UNIX, 2.0
    put16(central, 20);
    put16(central, 0);
    put16(central, 0);
    put16(central, dos_time);
    put16(central, dos_date);
    put32(central, crc);
    put32(central, static_cast<uint32_t>(data.size()));
    put32(central, static_cast<uint32_t>(data.size()));
    put16(central, static_cast<uint32_t>(name.size()));
    put16(central, 0);  // extra
    put16(central, 0);  // comment
    put16(central, 0);  // disk number
    put16(central, 0);  // internal attributes
    put32(central, 0100644u << 16);  // external attributes: regular file, rw-r--r--
    put32(central, offset);
    central += name;
  }
  if (out.size() + central.size() >= 0xffffffffu) throw InputError("'" + path + "': .npz would exceed 4 GiB");
  const uint32_t cd_offset = static_cast<uint32_t>(out.size());
  out += central;
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<uint32_t>(arrays.size()));
  put16(out, static_cast<uint32_t>(arrays.size()));
  put32(out, static_cast<uint32_t>(central.size()));
  put32(out, cd_offset);
  put16(out, 0);  // comment length
  io::write_file_atomically(path, out.data(), out.size());
}

std::map<std::string, at::Tensor> read_npz(const std::string& path) {
  const std::string b = slurp(path);
  const io::ZipBad bad = [&](const std::string& what) {
    return InputError("'" + path + "' is not a valid .npz file: " + what);
  };
  const io::ZipRead read = [&](uint64_t offset, size_t n) { return offset < b.size() ? b.substr(offset, n) : std::string(); };
  std::map<std::string, at::Tensor> result;
  for (const io::ZipMember& m : io::zip_members(b.size(), read, bad)) {
    const std::string& name = m.name;
    if (m.flags & 1u) throw bad("member '" + name + "' is encrypted");
    if (m.method != 0 && m.method != 8)
      throw InputError("'" + path + "': member '" + name + "' uses zip method " + std::to_string(m.method) +
                       "; .npz members are read stored (numpy.savez) or deflated (numpy.savez_compressed)");
    if (m.method == 0 && m.csize != m.usize) throw bad("stored member '" + name + "' has differing sizes");
    const std::string bytes =
        m.method == 0 ? b.substr(m.data, m.usize) : inflate_member(b.data() + m.data, m.csize, m.usize, name, bad);
    if (crc32(bytes.data(), bytes.size()) != m.crc) throw bad("CRC mismatch in member '" + name + "' (corrupt file)");
    std::string key = name;
    if (ends_with(key, ".npy")) key = key.substr(0, key.size() - 4);
    result[key] = io::parse_npy_bytes(bytes, path + ":" + name);
  }
  return result;
}

void save_stats_npz(const std::string& path, const GaussianStats& s) {
  check_stats(s, "to save");
  write_npz(path, {{"mu", s.mu}, {"sigma", s.sigma}}, /*as_float64=*/true);
}

GaussianStats load_stats_npz(const std::string& path) {
  auto arrays = read_npz(path);
  for (const char* key : {"mu", "sigma"})
    if (!arrays.count(key)) throw InputError("'" + path + "': .npz has no '" + key + "' array (expected mu and sigma)");
  GaussianStats s;
  s.mu = arrays["mu"].to(at::kDouble).contiguous();
  s.sigma = arrays["sigma"].to(at::kDouble).contiguous();
  s.n = 0;
  check_stats(s, "in '" + path + "'");
  return s;
}

}  // namespace sims::metrics
