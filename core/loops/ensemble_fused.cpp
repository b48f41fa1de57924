#include "loops/ensemble_fused.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "common/error.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include "common/avx2_math.hpp"
#define SIMS_ENSEMBLE_AVX2 1
#endif

namespace sims::loops::detail {

bool fused_training_applies(const EnsembleWeights& w, const NetConfig& net) {
  static const bool enabled = [] {
    const char* e = std::getenv("SIMS_ENSEMBLE_FAST");
    return !(e && std::string(e) == "0");
  }();
#ifdef SIMS_ENSEMBLE_AVX2
  if (!enabled || !simd::cpu_has_avx2_fma()) return false;
  if (net.width != 32 && net.width != 64 && net.width != 128) return false;
  if (w.w.size() < 2 || w.b.size() != w.w.size()) return false;
  const size_t L = w.w.size();
  for (size_t l = 0; l < L; ++l) {
    const at::Tensor& t = w.w[l];
    if (t.scalar_type() != at::kFloat || !t.is_cpu() || t.dim() != 3) return false;
    if (w.b[l].scalar_type() != at::kFloat || !w.b[l].is_cpu()) return false;
    const int64_t out = l + 1 == L ? net.dim : net.width;
    if (t.size(2) != out || (l > 0 && t.size(1) != net.width)) return false;
  }
  return true;
#else
  (void)w;
  (void)net;
  return false;
#endif
}

#ifdef SIMS_ENSEMBLE_AVX2
namespace {

constexpr int kRows = 4;  // rows per backward block: each gradient row load/store serves 4 FMAs

struct Scratch {
  std::vector<float> act, sig;  // [hidden layers][B, W]: SiLU outputs and their sigmoids
  std::vector<float> wt;        // transposed hidden weights [hidden layers - 1][W, W] (out x in)
  std::vector<float> wlt, glt;  // output layer weights / gradient transposed [D, W]
  std::vector<float> da, dz;    // [kRows, W]
};

// One member: loss and gradients. W = 8 NB hidden units, H hidden layers
// (H + 1 Linear layers), K0 inputs, D outputs.
template <int NB>
__attribute__((target("avx2,fma"))) double member_step(int64_t B, int64_t K0, int64_t D, int64_t H,
                                                       const float* const* wl, const float* const* bl,
                                                       const float* h0, const float* base, const float* cout,
                                                       const float* wgt, float* const* gwl, float* const* gbl,
                                                       Scratch& s) {
  constexpr int64_t W = 8 * NB;
  s.act.resize(static_cast<size_t>(H * B * W));
  s.sig.resize(static_cast<size_t>(H * B * W));
  s.wt.resize(static_cast<size_t>(std::max<int64_t>(H - 1, 1) * W * W));
  s.wlt.resize(static_cast<size_t>(D * W));
  s.glt.assign(static_cast<size_t>(D * W), 0.f);
  s.da.resize(static_cast<size_t>(kRows * W));
  s.dz.resize(static_cast<size_t>(kRows * W));
  for (int64_t l = 1; l < H; ++l)  // hidden layer l: [W in, W out] -> [W out, W in]
    for (int64_t k = 0; k < W; ++k)
      for (int64_t j = 0; j < W; ++j) s.wt[(l - 1) * W * W + j * W + k] = wl[l][k * W + j];
  for (int64_t k = 0; k < W; ++k)
    for (int64_t d = 0; d < D; ++d) s.wlt[d * W + k] = wl[H][k * D + d];
  for (int64_t l = 0; l <= H; ++l) {
    const int64_t in = l == 0 ? K0 : W, out = l == H ? D : W;
    std::memset(gwl[l], 0, sizeof(float) * static_cast<size_t>(in * out));
    std::memset(gbl[l], 0, sizeof(float) * static_cast<size_t>(out));
  }

  // Forward through the hidden layers: act = silu(z), sig = sigmoid(z).
  for (int64_t l = 0; l < H; ++l) {
    const int64_t K = l == 0 ? K0 : W;
    const float* in = l == 0 ? h0 : s.act.data() + (l - 1) * B * W;
    float* a_out = s.act.data() + l * B * W;
    float* s_out = s.sig.data() + l * B * W;
    const float* w = wl[l];
    __m256 bias[NB];
    for (int j = 0; j < NB; ++j) bias[j] = _mm256_loadu_ps(bl[l] + 8 * j);
    for (int64_t i = 0; i < B; ++i) {
      __m256 acc[NB];
      for (int j = 0; j < NB; ++j) acc[j] = bias[j];
      const float* x = in + i * K;
      for (int64_t k = 0; k < K; ++k) {
        const __m256 xk = _mm256_broadcast_ss(x + k);
        const float* wk = w + k * W;
        for (int j = 0; j < NB; ++j) acc[j] = _mm256_fmadd_ps(xk, _mm256_loadu_ps(wk + 8 * j), acc[j]);
      }
      for (int j = 0; j < NB; ++j) {
        const __m256 sg = simd::sigmoid8(acc[j]);
        _mm256_storeu_ps(s_out + i * W + 8 * j, sg);
        _mm256_storeu_ps(a_out + i * W + 8 * j, _mm256_mul_ps(acc[j], sg));
      }
    }
  }

  // Output layer, loss, and the backward pass, kRows rows at a time.
  const float* top = s.act.data() + (H - 1) * B * W;
  const float inv_b2 = 2.f / static_cast<float>(B);
  double loss = 0;
  const __m256 one = _mm256_set1_ps(1.f);
  for (int64_t i0 = 0; i0 < B; i0 += kRows) {
    const int64_t rb = std::min<int64_t>(kRows, B - i0);
    // dL/df for each row, and dL/d(top activations).
    for (int64_t r = 0; r < rb; ++r) {
      const int64_t i = i0 + r;
      const float* a = top + i * W;
      __m256 da[NB];
      for (int j = 0; j < NB; ++j) da[j] = _mm256_setzero_ps();
      for (int64_t d = 0; d < D; ++d) {
        const float* wd = s.wlt.data() + d * W;
        __m256 acc = _mm256_setzero_ps();
        for (int j = 0; j < NB; ++j) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + 8 * j), _mm256_loadu_ps(wd + 8 * j), acc);
        const float f = bl[H][d] + simd::hsum8(acc);
        const float e = base[i * D + d] + cout[i] * f;
        loss += static_cast<double>(wgt[i]) * static_cast<double>(e) * static_cast<double>(e);
        const float g = inv_b2 * wgt[i] * cout[i] * e;
        gbl[H][d] += g;
        const __m256 gv = _mm256_set1_ps(g);
        float* gd = s.glt.data() + d * W;
        for (int j = 0; j < NB; ++j) {
          _mm256_storeu_ps(gd + 8 * j, _mm256_fmadd_ps(gv, _mm256_loadu_ps(a + 8 * j), _mm256_loadu_ps(gd + 8 * j)));
          da[j] = _mm256_fmadd_ps(gv, _mm256_loadu_ps(wd + 8 * j), da[j]);
        }
      }
      for (int j = 0; j < NB; ++j) _mm256_storeu_ps(s.da.data() + r * W + 8 * j, da[j]);
    }
    // Hidden layers, top down: dz = da silu'(z) with silu'(z) = sig + a (1 - sig).
    for (int64_t l = H - 1; l >= 0; --l) {
      const float* act = s.act.data() + l * B * W;
      const float* sig = s.sig.data() + l * B * W;
      for (int64_t r = 0; r < rb; ++r) {
        const int64_t i = i0 + r;
        for (int j = 0; j < NB; ++j) {
          const __m256 sg = _mm256_loadu_ps(sig + i * W + 8 * j), av = _mm256_loadu_ps(act + i * W + 8 * j);
          const __m256 deriv = _mm256_fmadd_ps(av, _mm256_sub_ps(one, sg), sg);
          _mm256_storeu_ps(s.dz.data() + r * W + 8 * j, _mm256_mul_ps(_mm256_loadu_ps(s.da.data() + r * W + 8 * j), deriv));
        }
      }
      // Bias and weight gradients: gw[k, :] += in[i, k] dz[i, :] over the block's rows.
      const int64_t K = l == 0 ? K0 : W;
      const float* in = l == 0 ? h0 : s.act.data() + (l - 1) * B * W;
      float* gb = gbl[l];
      for (int j = 0; j < NB; ++j) {
        __m256 acc = _mm256_loadu_ps(gb + 8 * j);
        for (int64_t r = 0; r < rb; ++r) acc = _mm256_add_ps(acc, _mm256_loadu_ps(s.dz.data() + r * W + 8 * j));
        _mm256_storeu_ps(gb + 8 * j, acc);
      }
      float* gw = gwl[l];
      if (rb == kRows) {
        const float *x0 = in + i0 * K, *x1 = x0 + K, *x2 = x1 + K, *x3 = x2 + K;
        const float* dz = s.dz.data();
        for (int64_t k = 0; k < K; ++k) {
          const __m256 a0 = _mm256_broadcast_ss(x0 + k), a1 = _mm256_broadcast_ss(x1 + k),
                       a2 = _mm256_broadcast_ss(x2 + k), a3 = _mm256_broadcast_ss(x3 + k);
          float* gk = gw + k * W;
          for (int j = 0; j < NB; ++j) {
            __m256 acc = _mm256_loadu_ps(gk + 8 * j);
            acc = _mm256_fmadd_ps(a0, _mm256_loadu_ps(dz + 8 * j), acc);
            acc = _mm256_fmadd_ps(a1, _mm256_loadu_ps(dz + W + 8 * j), acc);
            acc = _mm256_fmadd_ps(a2, _mm256_loadu_ps(dz + 2 * W + 8 * j), acc);
            acc = _mm256_fmadd_ps(a3, _mm256_loadu_ps(dz + 3 * W + 8 * j), acc);
            _mm256_storeu_ps(gk + 8 * j, acc);
          }
        }
      } else {
        for (int64_t r = 0; r < rb; ++r) {
          const float* x = in + (i0 + r) * K;
          const float* dz = s.dz.data() + r * W;
          for (int64_t k = 0; k < K; ++k) {
            const __m256 a = _mm256_broadcast_ss(x + k);
            float* gk = gw + k * W;
            for (int j = 0; j < NB; ++j)
              _mm256_storeu_ps(gk + 8 * j, _mm256_fmadd_ps(a, _mm256_loadu_ps(dz + 8 * j), _mm256_loadu_ps(gk + 8 * j)));
          }
        }
      }
      // da for the layer below: da[k] = sum_j dz[j] w[k, j] (rows of the transposed weights).
      if (l > 0) {
        const float* wt = s.wt.data() + (l - 1) * W * W;
        for (int64_t r = 0; r < rb; ++r) {
          const float* dz = s.dz.data() + r * W;
          __m256 acc[NB];
          for (int j = 0; j < NB; ++j) acc[j] = _mm256_setzero_ps();
          for (int64_t jj = 0; jj < W; ++jj) {
            const __m256 g = _mm256_broadcast_ss(dz + jj);
            const float* row = wt + jj * W;
            for (int j = 0; j < NB; ++j) acc[j] = _mm256_fmadd_ps(g, _mm256_loadu_ps(row + 8 * j), acc[j]);
          }
          for (int j = 0; j < NB; ++j) _mm256_storeu_ps(s.da.data() + r * W + 8 * j, acc[j]);
        }
      }
    }
  }
  // The output layer's weight gradient back to its [W, D] layout.
  for (int64_t k = 0; k < W; ++k)
    for (int64_t d = 0; d < D; ++d) gwl[H][k * D + d] = s.glt[d * W + k];
  return loss / static_cast<double>(B);
}

// Denoiser forward at one sigma for one member, row by row with the
// activations in registers: first layer on x with c_in folded into w0x
// [D, W] and the noise embedding folded into bias0 [W], SiLU hidden layers,
// output layer (transposed [D, W]) with the EDM skip.
template <int NB>
__attribute__((target("avx2,fma"))) void member_forward_at(int64_t n, int64_t D, int64_t H, const float* x,
                                                           const float* w0x, const float* bias0,
                                                           const float* const* wl, const float* const* bl,
                                                           const float* wlt, float c_skip, float c_out, float* out) {
  constexpr int64_t W = 8 * NB;
  alignas(32) float act[W];
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * D;
    __m256 acc[NB];
    for (int j = 0; j < NB; ++j) acc[j] = _mm256_loadu_ps(bias0 + 8 * j);
    for (int64_t d = 0; d < D; ++d) {
      const __m256 xd = _mm256_broadcast_ss(xi + d);
      for (int j = 0; j < NB; ++j) acc[j] = _mm256_fmadd_ps(xd, _mm256_loadu_ps(w0x + d * W + 8 * j), acc[j]);
    }
    for (int j = 0; j < NB; ++j) _mm256_store_ps(act + 8 * j, _mm256_mul_ps(acc[j], simd::sigmoid8(acc[j])));
    for (int64_t l = 1; l < H; ++l) {
      const float* w = wl[l];
      for (int j = 0; j < NB; ++j) acc[j] = _mm256_loadu_ps(bl[l] + 8 * j);
      for (int64_t k = 0; k < W; ++k) {
        const __m256 ak = _mm256_broadcast_ss(act + k);
        for (int j = 0; j < NB; ++j) acc[j] = _mm256_fmadd_ps(ak, _mm256_loadu_ps(w + k * W + 8 * j), acc[j]);
      }
      for (int j = 0; j < NB; ++j) _mm256_store_ps(act + 8 * j, _mm256_mul_ps(acc[j], simd::sigmoid8(acc[j])));
    }
    for (int64_t d = 0; d < D; ++d) {
      __m256 dot = _mm256_setzero_ps();
      for (int j = 0; j < NB; ++j) dot = _mm256_fmadd_ps(_mm256_load_ps(act + 8 * j), _mm256_loadu_ps(wlt + d * W + 8 * j), dot);
      out[i * D + d] = c_skip * xi[d] + c_out * (bl[H][d] + simd::hsum8(dot));
    }
  }
}

}  // namespace
#endif

void fused_loss_and_grad(const EnsembleWeights& w, const at::Tensor& h0, const at::Tensor& base,
                         const at::Tensor& c_out, const at::Tensor& wgt, const std::vector<at::Tensor>& gw,
                         const std::vector<at::Tensor>& gb, const at::Tensor& losses) {
#ifdef SIMS_ENSEMBLE_AVX2
  const int64_t L = static_cast<int64_t>(w.w.size()), H = L - 1;
  const int64_t R = h0.size(0), B = h0.size(1), K0 = h0.size(2), D = base.size(2), W = w.w[0].size(2);
  for (const at::Tensor* t : {&h0, &base, &c_out, &wgt, &losses})
    if (!t->is_contiguous() || t->scalar_type() != at::kFloat) throw Error("fused_loss_and_grad: float32 contiguous inputs expected");
  at::parallel_for(0, R, 1, [&](int64_t r0, int64_t r1) {
    thread_local Scratch s;
    std::vector<const float*> wl(static_cast<size_t>(L)), bl(static_cast<size_t>(L));
    std::vector<float*> gwl(static_cast<size_t>(L)), gbl(static_cast<size_t>(L));
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t l = 0; l < L; ++l) {
        const int64_t in = w.w[l].size(1), out = w.w[l].size(2);
        wl[l] = w.w[l].data_ptr<float>() + r * in * out;
        bl[l] = w.b[l].data_ptr<float>() + r * out;
        gwl[l] = gw[l].data_ptr<float>() + r * in * out;
        gbl[l] = gb[l].data_ptr<float>() + r * out;
      }
      const float* h = h0.data_ptr<float>() + r * B * K0;
      const float* bs = base.data_ptr<float>() + r * B * D;
      const float* co = c_out.data_ptr<float>() + r * B;
      const float* wg = wgt.data_ptr<float>() + r * B;
      double loss = 0;
      switch (W) {
        case 32: loss = member_step<4>(B, K0, D, H, wl.data(), bl.data(), h, bs, co, wg, gwl.data(), gbl.data(), s); break;
        case 64: loss = member_step<8>(B, K0, D, H, wl.data(), bl.data(), h, bs, co, wg, gwl.data(), gbl.data(), s); break;
        case 128: loss = member_step<16>(B, K0, D, H, wl.data(), bl.data(), h, bs, co, wg, gwl.data(), gbl.data(), s); break;
        default: throw Error("fused_loss_and_grad: unsupported width");
      }
      losses.data_ptr<float>()[r] = static_cast<float>(loss);
    }
  });
#else
  (void)w, (void)h0, (void)base, (void)c_out, (void)wgt, (void)gw, (void)gb, (void)losses;
  throw Error("fused_loss_and_grad: not available on this CPU/compiler");
#endif
}

at::Tensor fused_denoise_at(const EnsembleWeights& w, const at::Tensor& x, const at::Tensor& w0x, const at::Tensor& bias0,
                            double c_skip, double c_out) {
#ifdef SIMS_ENSEMBLE_AVX2
  const int64_t L = static_cast<int64_t>(w.w.size()), H = L - 1;
  const int64_t R = x.size(0), n = x.size(1), D = x.size(2), W = w.w[0].size(2);
  for (const at::Tensor* t : {&x, &w0x, &bias0})
    if (!t->is_contiguous() || t->scalar_type() != at::kFloat) throw Error("fused_denoise_at: float32 contiguous inputs expected");
  at::Tensor out = at::empty({R, n, D}, x.options());
  const at::Tensor wlt = w.w[H].transpose(1, 2).contiguous();  // [R, D, W]
  at::parallel_for(0, R, 1, [&](int64_t r0, int64_t r1) {
    std::vector<const float*> wl(static_cast<size_t>(L)), bl(static_cast<size_t>(L));
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t l = 0; l < L; ++l) {
        wl[l] = w.w[l].data_ptr<float>() + r * w.w[l].size(1) * w.w[l].size(2);
        bl[l] = w.b[l].data_ptr<float>() + r * w.b[l].size(2);
      }
      const float* xr = x.data_ptr<float>() + r * n * D;
      const float* w0 = w0x.data_ptr<float>() + r * D * W;
      const float* b0 = bias0.data_ptr<float>() + r * W;
      const float* lt = wlt.data_ptr<float>() + r * D * W;
      float* o = out.data_ptr<float>() + r * n * D;
      const float cs = static_cast<float>(c_skip), co = static_cast<float>(c_out);
      switch (W) {
        case 32: member_forward_at<4>(n, D, H, xr, w0, b0, wl.data(), bl.data(), lt, cs, co, o); break;
        case 64: member_forward_at<8>(n, D, H, xr, w0, b0, wl.data(), bl.data(), lt, cs, co, o); break;
        case 128: member_forward_at<16>(n, D, H, xr, w0, b0, wl.data(), bl.data(), lt, cs, co, o); break;
        default: throw Error("fused_denoise_at: unsupported width");
      }
    }
  });
  return out;
#else
  (void)w, (void)x, (void)w0x, (void)bias0, (void)c_skip, (void)c_out;
  throw Error("fused_denoise_at: not available on this CPU/compiler");
#endif
}

}  // namespace sims::loops::detail
