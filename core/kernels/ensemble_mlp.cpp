#include "kernels/ensemble_mlp.hpp"

#include <algorithm>
#include <cstring>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include "common/error.hpp"
#include "kernels/simd_math.hpp"

namespace sims::kernels {

bool ensemble_fast_fits(const std::vector<at::Tensor>& w, const std::vector<at::Tensor>& b, int64_t width, int64_t dim) {
  if (width != 32 && width != 64 && width != 128) return false;
  if (w.size() < 2 || b.size() != w.size()) return false;
  const size_t L = w.size();
  for (size_t l = 0; l < L; ++l) {
    const at::Tensor& t = w[l];
    if (t.scalar_type() != at::kFloat || !t.is_cpu() || t.dim() != 3 || !t.is_contiguous()) return false;
    if (b[l].scalar_type() != at::kFloat || !b[l].is_cpu() || !b[l].is_contiguous()) return false;
    const int64_t out = l + 1 == L ? dim : width;
    if (t.size(2) != out || (l > 0 && t.size(1) != width)) return false;
  }
  return true;
}

// [SECTION] Reference --------------------------------------------------------------

namespace {

// The stacked MLP on [R, B, in] rows: SiLU hidden layers, linear output.
at::Tensor mlp_forward(const std::vector<at::Tensor>& w, const std::vector<at::Tensor>& b, at::Tensor h) {
  const size_t L = w.size();
  for (size_t l = 0; l + 1 < L; ++l) h = at::silu(at::baddbmm(b[l], h, w[l]));
  return at::baddbmm(b[L - 1], h, w[L - 1]);
}

}  // namespace

void ensemble_loss_and_grad_reference(const std::vector<at::Tensor>& w, const std::vector<at::Tensor>& b,
                                      const at::Tensor& h0, const at::Tensor& base, const at::Tensor& c_out,
                                      const at::Tensor& wgt, const std::vector<at::Tensor>& gw,
                                      const std::vector<at::Tensor>& gb, const at::Tensor& losses) {
  // Autograd on detached copies: the definition the fast kernel's backward pass is written out from.
  c10::AutoGradMode grad_on(true);
  std::vector<at::Tensor> wr, br;
  for (size_t l = 0; l < w.size(); ++l) {
    wr.push_back(w[l].detach().clone());
    br.push_back(b[l].detach().clone());
    wr.back().set_requires_grad(true);
    br.back().set_requires_grad(true);
  }
  const at::Tensor f = mlp_forward(wr, br, h0);
  const at::Tensor e = base + c_out.unsqueeze(2) * f;
  const at::Tensor loss = (wgt * e.square().sum(2)).mean(1);  // [R]
  loss.sum().backward();  // members share no weights: each gets its own loss's gradient
  c10::NoGradGuard no_grad;
  for (size_t l = 0; l < w.size(); ++l) {
    gw[l].copy_(wr[l].grad());
    gb[l].copy_(br[l].grad());
  }
  losses.copy_(loss.detach());
}

at::Tensor ensemble_forward_at_reference(const std::vector<at::Tensor>& w, const std::vector<at::Tensor>& b,
                                         const at::Tensor& x, const at::Tensor& bias0, double c_in, double c_skip,
                                         double c_out) {
  const int64_t D = x.size(2);
  at::Tensor h = at::baddbmm(bias0, x * c_in, w[0].narrow(1, 0, D));
  const size_t L = w.size();
  for (size_t l = 1; l < L; ++l) {
    h = at::silu(h);
    h = at::baddbmm(b[l], h, w[l]);
  }
  return c_skip * x + c_out * h;
}

// [SECTION] AVX2 ------------------------------------------------------------------

#if SIMS_KERNELS_X86
namespace {

void check_fast_args(const std::vector<at::Tensor>& w, const std::vector<at::Tensor>& b) {
  if (w.size() < 2 || b.size() != w.size()) throw Error("ensemble fast kernels: at least one hidden layer expected");
  for (size_t l = 0; l < w.size(); ++l)
    for (const at::Tensor* t : {&w[l], &b[l]})
      if (!t->is_cpu() || !t->is_contiguous() || t->scalar_type() != at::kFloat)
        throw Error("ensemble fast kernels: float32 contiguous CPU weights expected");
}

constexpr int kRows = 4;  // rows per backward block: each gradient row load/store serves 4 FMAs

struct Scratch {
  std::vector<float> act, sig;  // [hidden layers][B, W]: SiLU outputs and their sigmoids
  std::vector<float> wt;        // transposed hidden weights [hidden layers - 1][W, W] (out x in)
  std::vector<float> wlt, glt;  // output layer weights / gradient transposed [D, W]
  std::vector<float> da, dz;    // [kRows, W]
};

// Sizes the scratch, transposes the weights the backward pass reads by rows
// and zeroes the gradients. W = 8 NB hidden units, H hidden layers.
template <int NB>
void prepare_step(int64_t B, int64_t K0, int64_t D, int64_t H, const float* const* wl, float* const* gwl,
                  float* const* gbl, Scratch& s) {
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
}

// Forward through the hidden layers: act = silu(z), sig = sigmoid(z).
template <int NB>
__attribute__((target("avx2,fma"))) void forward_hidden(int64_t B, int64_t K0, int64_t H, const float* const* wl,
                                                        const float* const* bl, const float* h0, Scratch& s) {
  constexpr int64_t W = 8 * NB;
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
}

// The output layer for rows i0 .. i0 + rb: adds their weighted squared error
// to `loss`, the output layer's gradients to gbl[H] and s.glt, and leaves
// dL/d(top activations) in s.da.
template <int NB>
__attribute__((target("avx2,fma"))) void output_block(int64_t i0, int64_t rb, int64_t B, int64_t D, int64_t H,
                                                      const float* const* bl, const float* base, const float* cout,
                                                      const float* wgt, float* const* gbl, Scratch& s, double& loss) {
  constexpr int64_t W = 8 * NB;
  const float* top = s.act.data() + (H - 1) * B * W;
  const float inv_b2 = 2.f / static_cast<float>(B);
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
}

// gw[k, :] += in[i, k] dz[i, :] over the block's rb rows (four at a time when the block is full).
template <int NB>
__attribute__((target("avx2,fma"))) void weight_grad_block(int64_t rb, int64_t K, const float* in_rows,
                                                           const float* dz_rows, float* gw) {
  constexpr int64_t W = 8 * NB;
  if (rb == kRows) {
    const float *x0 = in_rows, *x1 = x0 + K, *x2 = x1 + K, *x3 = x2 + K;
    for (int64_t k = 0; k < K; ++k) {
      const __m256 a0 = _mm256_broadcast_ss(x0 + k), a1 = _mm256_broadcast_ss(x1 + k),
                   a2 = _mm256_broadcast_ss(x2 + k), a3 = _mm256_broadcast_ss(x3 + k);
      float* gk = gw + k * W;
      for (int j = 0; j < NB; ++j) {
        __m256 acc = _mm256_loadu_ps(gk + 8 * j);
        acc = _mm256_fmadd_ps(a0, _mm256_loadu_ps(dz_rows + 8 * j), acc);
        acc = _mm256_fmadd_ps(a1, _mm256_loadu_ps(dz_rows + W + 8 * j), acc);
        acc = _mm256_fmadd_ps(a2, _mm256_loadu_ps(dz_rows + 2 * W + 8 * j), acc);
        acc = _mm256_fmadd_ps(a3, _mm256_loadu_ps(dz_rows + 3 * W + 8 * j), acc);
        _mm256_storeu_ps(gk + 8 * j, acc);
      }
    }
    return;
  }
  for (int64_t r = 0; r < rb; ++r) {
    const float* x = in_rows + r * K;
    const float* dz = dz_rows + r * W;
    for (int64_t k = 0; k < K; ++k) {
      const __m256 a = _mm256_broadcast_ss(x + k);
      float* gk = gw + k * W;
      for (int j = 0; j < NB; ++j)
        _mm256_storeu_ps(gk + 8 * j, _mm256_fmadd_ps(a, _mm256_loadu_ps(dz + 8 * j), _mm256_loadu_ps(gk + 8 * j)));
    }
  }
}

// Hidden layer l's backward pass for rows i0 .. i0 + rb, from s.da (dL/d its
// activations): dz = da silu'(z) with silu'(z) = sig + a (1 - sig), its bias
// and weight gradients, and s.da for the layer below.
template <int NB>
__attribute__((target("avx2,fma"))) void hidden_block_backward(int64_t l, int64_t i0, int64_t rb, int64_t B, int64_t K0,
                                                               const float* h0, float* const* gwl,
                                                               float* const* gbl, Scratch& s) {
  constexpr int64_t W = 8 * NB;
  const __m256 one = _mm256_set1_ps(1.f);
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
  const int64_t K = l == 0 ? K0 : W;
  const float* in = l == 0 ? h0 : s.act.data() + (l - 1) * B * W;
  float* gb = gbl[l];
  for (int j = 0; j < NB; ++j) {
    __m256 acc = _mm256_loadu_ps(gb + 8 * j);
    for (int64_t r = 0; r < rb; ++r) acc = _mm256_add_ps(acc, _mm256_loadu_ps(s.dz.data() + r * W + 8 * j));
    _mm256_storeu_ps(gb + 8 * j, acc);
  }
  weight_grad_block<NB>(rb, K, in + i0 * K, s.dz.data(), gwl[l]);
  if (l == 0) return;
  // da for the layer below: da[k] = sum_j dz[j] w[k, j] (rows of the transposed weights).
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

// One member: loss and gradients. W = 8 NB hidden units, H hidden layers
// (H + 1 Linear layers), K0 inputs, D outputs. The backward pass runs kRows
// rows at a time through the output layer and down the hidden layers.
template <int NB>
__attribute__((target("avx2,fma"))) double member_step(int64_t B, int64_t K0, int64_t D, int64_t H,
                                                       const float* const* wl, const float* const* bl,
                                                       const float* h0, const float* base, const float* cout,
                                                       const float* wgt, float* const* gwl, float* const* gbl,
                                                       Scratch& s) {
  constexpr int64_t W = 8 * NB;
  prepare_step<NB>(B, K0, D, H, wl, gwl, gbl, s);
  forward_hidden<NB>(B, K0, H, wl, bl, h0, s);
  double loss = 0;
  for (int64_t i0 = 0; i0 < B; i0 += kRows) {
    const int64_t rb = std::min<int64_t>(kRows, B - i0);
    output_block<NB>(i0, rb, B, D, H, bl, base, cout, wgt, gbl, s, loss);
    for (int64_t l = H - 1; l >= 0; --l) hidden_block_backward<NB>(l, i0, rb, B, K0, h0, gwl, gbl, s);
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

void ensemble_loss_and_grad_fast(const std::vector<at::Tensor>& w, const std::vector<at::Tensor>& b,
                                 const at::Tensor& h0, const at::Tensor& base, const at::Tensor& c_out,
                                 const at::Tensor& wgt, const std::vector<at::Tensor>& gw,
                                 const std::vector<at::Tensor>& gb, const at::Tensor& losses) {
#if SIMS_KERNELS_X86
  check_fast_args(w, b);
  const int64_t L = static_cast<int64_t>(w.size()), H = L - 1;
  const int64_t R = h0.size(0), B = h0.size(1), K0 = h0.size(2), D = base.size(2), W = w[0].size(2);
  for (const at::Tensor* t : {&h0, &base, &c_out, &wgt, &losses})
    if (!t->is_contiguous() || t->scalar_type() != at::kFloat) throw Error("ensemble_loss_and_grad_fast: float32 contiguous inputs expected");
  at::parallel_for(0, R, 1, [&](int64_t r0, int64_t r1) {
    thread_local Scratch s;
    std::vector<const float*> wl(static_cast<size_t>(L)), bl(static_cast<size_t>(L));
    std::vector<float*> gwl(static_cast<size_t>(L)), gbl(static_cast<size_t>(L));
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t l = 0; l < L; ++l) {
        const int64_t in = w[l].size(1), out = w[l].size(2);
        wl[l] = w[l].data_ptr<float>() + r * in * out;
        bl[l] = b[l].data_ptr<float>() + r * out;
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
        default: throw Error("ensemble_loss_and_grad_fast: unsupported width");
      }
      losses.data_ptr<float>()[r] = static_cast<float>(loss);
    }
  });
#else
  (void)w, (void)b, (void)h0, (void)base, (void)c_out, (void)wgt, (void)gw, (void)gb, (void)losses;
  throw Error("ensemble_loss_and_grad_fast: not available on this CPU/compiler");
#endif
}

at::Tensor ensemble_forward_at_fast(const std::vector<at::Tensor>& w, const std::vector<at::Tensor>& b,
                                    const at::Tensor& x_in, const at::Tensor& bias0_in, double c_in, double c_skip,
                                    double c_out) {
#if SIMS_KERNELS_X86
  check_fast_args(w, b);
  const at::Tensor x = x_in.contiguous(), bias0 = bias0_in.contiguous();
  const at::Tensor w0x = (w[0].narrow(1, 0, x.size(2)) * c_in).contiguous();  // c_in folded in: [R, D, W]
  const int64_t L = static_cast<int64_t>(w.size()), H = L - 1;
  const int64_t R = x.size(0), n = x.size(1), D = x.size(2), W = w[0].size(2);
  for (const at::Tensor* t : {&x, &w0x, &bias0})
    if (!t->is_contiguous() || t->scalar_type() != at::kFloat) throw Error("ensemble_forward_at_fast: float32 contiguous inputs expected");
  at::Tensor out = at::empty({R, n, D}, x.options());
  const at::Tensor wlt = w[H].transpose(1, 2).contiguous();  // [R, D, W]
  at::parallel_for(0, R, 1, [&](int64_t r0, int64_t r1) {
    std::vector<const float*> wl(static_cast<size_t>(L)), bl(static_cast<size_t>(L));
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t l = 0; l < L; ++l) {
        wl[l] = w[l].data_ptr<float>() + r * w[l].size(1) * w[l].size(2);
        bl[l] = b[l].data_ptr<float>() + r * b[l].size(2);
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
        default: throw Error("ensemble_forward_at_fast: unsupported width");
      }
    }
  });
  return out;
#else
  (void)w, (void)b, (void)x_in, (void)bias0_in, (void)c_in, (void)c_skip, (void)c_out;
  throw Error("ensemble_forward_at_fast: not available on this CPU/compiler");
#endif
}

}  // namespace sims::kernels
