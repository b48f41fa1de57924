// Fréchet distance between Gaussians fitted to two feature sets (FID when the
// features are Inception-v3 pool features; "FD_<net>" for any other network).
//
//   FD = ‖μ1−μ2‖² + tr Σ1 + tr Σ2 − 2 tr (Σ1Σ2)^{1/2}
//
// All statistics are float64 with the unbiased covariance. tr (Σ1Σ2)^{1/2} is
// computed as Σ √max(λ_i, 0) over the eigenvalues λ_i of A Σ2 A with
// A = Σ1^{1/2} (symmetric eigendecomposition), which is symmetric PSD and so
// avoids the complex sqrtm of the non-symmetric product.
//
// Statistics travel as .npz files compatible with pytorch-fid / EDM reference
// statistics: members `mu` [D] and `sigma` [D, D], float64.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/Tensor.h>

#include "io/crc32.hpp"

namespace sims::metrics {

struct GaussianStats {
  at::Tensor mu;     // [D] float64, CPU
  at::Tensor sigma;  // [D, D] float64, CPU, unbiased covariance
  int64_t n = 0;     // number of samples behind the statistics; 0 = unknown (e.g. loaded from .npz)
};

// Streaming mean / covariance in float64. Chunks are merged with Chan et al.'s
// pairwise update (each chunk is centred on its own mean first), which is
// numerically sound even when the mean is large compared to the spread.
class StatsAccumulator {
 public:
  StatsAccumulator() = default;
  // chunk: [n, D] float32/float64 (any device; copied to CPU float64). The
  // first chunk fixes D; later chunks with another D, and chunks with NaN/Inf,
  // throw InputError. `where` names the source in error messages. Empty
  // chunks ([0, D]) are allowed and change nothing.
  void add(const at::Tensor& chunk, const std::string& where = "features");
  int64_t count() const { return n_; }
  int64_t dim() const { return dim_; }
  // Unbiased covariance; throws InputError when fewer than 2 samples were added.
  GaussianStats finalize(const std::string& where = "features") const;

 private:
  int64_t n_ = 0;
  int64_t dim_ = -1;
  at::Tensor mean_;  // [D] f64
  at::Tensor m2_;    // [D, D] f64, sum of outer products of deviations from mean_
};

// One-shot statistics of a feature matrix [N, D] (N ≥ 2, finite), computed in
// row chunks through StatsAccumulator.
GaussianStats stats_of_features(const at::Tensor& features, const std::string& where = "features");

// FD between two Gaussians. Throws InputError on mismatched / malformed
// shapes or non-finite entries. Tiny negative results from rounding are
// clamped to 0.
double frechet_distance(const GaussianStats& a, const GaussianStats& b);

// FD against one fixed side, evaluated many times (a bootstrap over the other set's rows): the fixed side's matrix
// square root is computed once. frechet_distance(a, b) is FrechetTo(a)(b).
class FrechetTo {
 public:
  explicit FrechetTo(const GaussianStats& fixed);
  double operator()(const GaussianStats& other) const;

 private:
  at::Tensor mu_, root_;  // the fixed side's mean and sqrt(Σ), float64
  double trace_ = 0;      // tr Σ of the fixed side
};

// FD of two feature sets [Na, D] and [Nb, D].
double fd_of_features(const at::Tensor& a, const at::Tensor& b);

// Statistics of a file: `.npz` → load_stats_npz; anything else is read as a
// `.npy` feature matrix [N, D] (float32/float64, finite) and reduced.
GaussianStats stats_from_file(const std::string& path);

// .npz statistics (pytorch-fid / EDM layout: `mu`, `sigma`, float64),
// written atomically as an uncompressed zip.
void save_stats_npz(const std::string& path, const GaussianStats& s);
// Reads `mu` and `sigma` (float32 or float64; returned as float64) from a
// .npz as numpy writes it: stored (numpy.savez) or deflated
// (numpy.savez_compressed, pytorch-fid's --save-stats), zip64 included; other
// members are ignored.
GaussianStats load_stats_npz(const std::string& path);

// Generic .npz I/O used by the two functions above (writes stored members,
// reads stored and deflated ones). Names are given without the ".npy" suffix. Arrays are written as float64 when
// as_float64, else float32.
void write_npz(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& arrays,
               bool as_float64 = true);
std::map<std::string, at::Tensor> read_npz(const std::string& path);

// CRC-32 (IEEE 802.3, as used by zip/zlib): io/crc32.hpp.
using io::crc32;

// Symmetric PSD square root via eigendecomposition (negative eigenvalues
// clamped to 0). Input [D, D] float64, symmetrised first.
at::Tensor sqrtm_psd(const at::Tensor& s);

}  // namespace sims::metrics
