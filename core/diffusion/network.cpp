#include "diffusion/network.hpp"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/nn/modules/activation.h>

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "diffusion/unet.hpp"
#include "io/script_meta.hpp"
#include "kernels/dense_silu.hpp"
#include "kernels/silu.hpp"

namespace sims {

nlohmann::json NetConfig::to_json() const {
  if (type == "unet")
    return {{"type", type},
            {"channels", channels},
            {"resolution", resolution},
            {"model_channels", model_channels},
            {"channel_mult", channel_mult},
            {"num_blocks", num_blocks},
            {"attn_resolutions", attn_resolutions},
            {"dropout", dropout},
            {"emb_freqs", emb_freqs},
            {"sigma_data", sigma_data}};
  return {{"type", type}, {"dim", dim}, {"width", width}, {"depth", depth}, {"emb_freqs", emb_freqs},
          {"sigma_data", sigma_data}};
}

namespace {

// At most this many weights per network: a training state holds four copies (raw, EMA, two Adam moments), so
// 2^27 floats is 2 GiB, far above the models here (the shipped faces U-Net has 0.28 M), and a damaged or crafted
// file cannot make the program allocate more before it has checked the file's weights.
constexpr double kMaxParameters = double(int64_t{1} << 27);

// An upper bound on the parameter count, in double so that no setting overflows it: exact for the MLP; for the
// U-Net every residual block counted at the widest level's channels ch, with a decoder block's doubled input
// (3x3 convolutions 2ch -> ch and ch -> ch, a 1x1 skip, an attention block, the embedding projection).
double parameter_bound(const NetConfig& c) {
  if (c.type != "unet") {
    const double in = double(c.dim) + 1 + 2 * double(c.emb_freqs), w = double(c.width);
    return (in + 1) * w + double(c.depth - 1) * (w + 1) * w + (w + 1) * double(c.dim);
  }
  double widest = 1;
  for (int64_t m : c.channel_mult) widest = std::max(widest, double(m));
  const double ch = double(c.model_channels) * widest, emb = 4 * double(c.model_channels);
  const double blocks = double(c.channel_mult.size()) * (2 * double(c.num_blocks) + 2) + 2;
  const double block = 33 * ch * ch + emb * ch + 8 * ch;
  return blocks * block + (2 * double(c.emb_freqs) + 2 + emb) * emb + 2 * 9 * double(c.channels) * ch;
}

std::string noise_bound_text() { return io::distinct_number(io::kMaxNoiseLevel, 0); }

void check_size(const NetConfig& c) {
  const double n = parameter_bound(c);
  if (n > kMaxParameters)
    throw InputError("network configuration too large: up to " + std::to_string(static_cast<int64_t>(n / 1e6)) +
                     " M parameters (at most " + std::to_string(static_cast<int64_t>(kMaxParameters / 1e6)) + " M)");
}

}  // namespace

NetConfig NetConfig::from_json(const nlohmann::json& j) {
  NetConfig c;
  try {
    c.type = value_or(j, "type", c.type);
    c.dim = value_or(j, "dim", c.dim);
    c.width = value_or(j, "width", c.width);
    c.depth = value_or(j, "depth", c.depth);
    c.emb_freqs = value_or(j, "emb_freqs", c.emb_freqs);
    c.sigma_data = value_or(j, "sigma_data", c.sigma_data);
    c.channels = value_or(j, "channels", c.channels);
    c.resolution = value_or(j, "resolution", c.resolution);
    c.model_channels = value_or(j, "model_channels", c.model_channels);
    c.channel_mult = value_or(j, "channel_mult", c.channel_mult);
    c.num_blocks = value_or(j, "num_blocks", c.num_blocks);
    c.attn_resolutions = value_or(j, "attn_resolutions", c.attn_resolutions);
    c.dropout = value_or(j, "dropout", c.dropout);
  } catch (const nlohmann::json::exception& e) {
    throw InputError("network configuration: " + json_error_words(e));
  } catch (const InputError& e) {
    throw InputError(std::string("network configuration: ") + e.what());
  }
  if (c.type != "mlp" && c.type != "unet") throw InputError("network type " + json_brief(c.type, 40) + " is not known (mlp, unet)");
  if (c.type == "unet") {
    bool pow2 = c.resolution >= 8 && (c.resolution & (c.resolution - 1)) == 0;
    if (c.channels < 1 || !pow2 || c.model_channels < 4 || c.model_channels % 4 || c.channel_mult.empty() ||
        c.num_blocks < 1 || !(c.dropout >= 0 && c.dropout < 1) || c.emb_freqs < 1 || !(c.sigma_data > 0))
      throw InputError(
          "U-Net configuration: channels >= 1, resolution a power of two >= 8, model_channels a multiple of 4, "
          "channel_mult non-empty, num_blocks >= 1, 0 <= dropout < 1, emb_freqs >= 1, sigma_data > 0");
    if (c.channel_mult.size() > 8) throw InputError("U-Net configuration: at most 8 levels of channel_mult");
    if (c.resolution >> (c.channel_mult.size() - 1) < 4)
      throw InputError("U-Net configuration: " + std::to_string(c.channel_mult.size()) + " levels reduce resolution " +
                       std::to_string(c.resolution) + " below 4 pixels");
    for (int64_t m : c.channel_mult)
      if (m < 1 || m > 16) throw InputError("U-Net configuration: channel_mult entries must be between 1 and 16");
    // Bounds far beyond any model this program trains, checked before anything is allocated: a damaged or
    // crafted file cannot ask for a network that exhausts memory or takes hours to build.
    if (c.channels > 64 || c.resolution > 1024 || c.model_channels > 1024 || c.num_blocks > 16 ||
        c.emb_freqs > 1024 || c.attn_resolutions.size() > 16 || !(c.sigma_data <= io::kMaxNoiseLevel))
      throw InputError("U-Net configuration out of range: channels <= 64, resolution <= 1024, model_channels <= 1024, "
                       "num_blocks <= 16, emb_freqs <= 1024, sigma_data <= " + noise_bound_text());
    check_size(c);
    return c;
  }
  if (c.dim < 1 || c.width < 1 || c.depth < 1 || c.emb_freqs < 0 || !(c.sigma_data > 0))
    throw InputError("network configuration: dim, width, depth must be >= 1, emb_freqs >= 0, sigma_data > 0");
  // sigma_data bounded as TorchScript metadata bounds it (io/script_meta.hpp), so that an exported model loads back.
  if (c.dim > 65536 || c.width > 16384 || c.depth > 64 || c.emb_freqs > 1024 || !(c.sigma_data <= io::kMaxNoiseLevel))
    throw InputError("network configuration out of range: dim <= 65536, width <= 16384, depth <= 64, emb_freqs <= "
                     "1024, sigma_data <= " + noise_bound_text());
  check_size(c);
  return c;
}

Precond edm_precond(const torch::Tensor& sigma, double sd) {
  torch::Tensor s2 = sigma * sigma;
  torch::Tensor denom = (s2 + sd * sd).sqrt();
  return {(sd * sd) / (s2 + sd * sd), sigma * sd / denom, 1.0 / denom, sigma.log() / 4.0};
}

// [SECTION] EdmMlp ---------------------------------------------------------------

EdmMlp::EdmMlp(const NetConfig& cfg) : cfg_(cfg) {
  net_ = torch::nn::Sequential();
  int64_t in = cfg.dim + 1 + 2 * cfg.emb_freqs;
  for (int64_t i = 0; i < cfg.depth; ++i) {
    linears_.emplace_back(torch::nn::Linear(i == 0 ? in : cfg.width, cfg.width));
    net_->push_back(linears_.back());
    net_->push_back(torch::nn::SiLU());
  }
  linears_.emplace_back(torch::nn::Linear(cfg.width, cfg.dim));
  net_->push_back(linears_.back());
  register_module("net", net_);
  // Geometric frequencies 1..2^(k-1) (times pi) over c_noise in about [-1.6, 1.1].
  freqs_ = register_buffer("freqs", torch::pow(2.0, torch::arange(cfg.emb_freqs, torch::kFloat)) * M_PI);
}

torch::Tensor EdmMlp::forward(const torch::Tensor& x, const torch::Tensor& sigma) {
  if (one_sigma_applies(x, sigma) && kernels::use_fast(kernels_, kernels::KernelFamily::Mlp))
    return forward_one_sigma(x, sigma);
  return forward_general(x, sigma);
}

bool EdmMlp::one_sigma_applies(const torch::Tensor& x, const torch::Tensor& sigma) const {
  if (torch::GradMode::is_enabled() || is_training()) return false;
  if (!x.is_cpu() || x.dim() != 2 || x.size(1) != cfg_.dim || x.size(0) < 1) return false;
  const auto dt = x.scalar_type();
  if ((dt != torch::kFloat && dt != torch::kDouble) || linears_[0]->weight.scalar_type() != dt ||
      !linears_[0]->weight.is_cpu())
    return false;
  if (!sigma.is_cpu() || sigma.numel() != x.size(0)) return false;
  // One sigma for every row (what the samplers pass): checked, not assumed.
  const torch::Tensor s = sigma.reshape({-1}).to(dt).contiguous();
  if (dt == torch::kFloat) {
    const float* p = s.data_ptr<float>();
    return std::all_of(p, p + s.numel(), [&](float v) { return v == p[0]; });
  }
  const double* p = s.data_ptr<double>();
  return std::all_of(p, p + s.numel(), [&](double v) { return v == p[0]; });
}

torch::Tensor EdmMlp::forward_one_sigma(const torch::Tensor& x_in, const torch::Tensor& sigma) {
  const torch::Tensor x = x_in.contiguous();
  const auto dt = x.scalar_type();
  const int64_t N = x.size(0), D = cfg_.dim;
  // Only reached on the Fast path, so the CPU has the kernels' features.
  if (dt == torch::kFloat && kernels::dense_silu_fast_fits(cfg_.width) && kernels::dense_out_skip_fast_fits(cfg_.width))
    return forward_fused(x, sigma);
  // The coefficients exactly as the general path computes them, on one row.
  const torch::Tensor s1 = sigma.reshape({-1}).narrow(0, 0, 1).to(dt).reshape({1, 1});
  const Precond p = edm_precond(s1, cfg_.sigma_data);
  std::vector<torch::Tensor> parts{p.c_noise};
  if (cfg_.emb_freqs > 0) {
    torch::Tensor a = p.c_noise * freqs_.to(dt).unsqueeze(0);
    parts.push_back(a.sin());
    parts.push_back(a.cos());
  }
  const torch::Tensor emb = torch::cat(parts, 1);  // [1, 1 + 2k]
  // First layer: W0 [c_in x, emb] + b0 = W0_x (c_in x) + (W0_emb emb + b0).
  const torch::Tensor& w0 = linears_[0]->weight;
  const torch::Tensor bias0 = torch::addmm(linears_[0]->bias.unsqueeze(0), emb, w0.narrow(1, D, w0.size(1) - D).t());
  const torch::Tensor xin = x * p.c_in;
  const torch::Tensor w0x = w0.narrow(1, 0, D).t();
  // Rows in blocks small enough for the hidden activations to stay in cache
  // (and under malloc's mmap threshold).
  const int64_t W = cfg_.width, L = static_cast<int64_t>(linears_.size());
  const int64_t block = std::min<int64_t>(N, std::max<int64_t>(16, (64 << 10) / (W * x.element_size())));
  torch::Tensor f = torch::empty({N, D}, x.options());
  torch::Tensor h1 = torch::empty({block, W}, x.options()), h2 = torch::empty({block, W}, x.options());
  auto silu = [](torch::Tensor& t) {
    if (t.scalar_type() == torch::kFloat) kernels::silu_fast(t);
    else kernels::silu_reference(t);
  };
  for (int64_t r0 = 0; r0 < N; r0 += block) {
    const int64_t m = std::min(block, N - r0);
    torch::Tensor a = h1.narrow(0, 0, m), b = h2.narrow(0, 0, m);
    at::addmm_out(a, bias0, xin.narrow(0, r0, m), w0x);
    for (int64_t l = 1; l < L - 1; ++l) {
      silu(a);
      at::addmm_out(b, linears_[l]->bias, a, linears_[l]->weight.t());
      std::swap(a, b);
    }
    silu(a);
    torch::Tensor out = f.narrow(0, r0, m);
    at::addmm_out(out, linears_[L - 1]->bias, a, linears_[L - 1]->weight.t());
  }
  return p.c_skip * x + p.c_out * f;
}

// float32, width a multiple of 32 (Fast path): the whole network in fused kernels,
// with the per-call scalars (preconditioning, embedding, folded bias) in
// plain float arithmetic, the way the general path computes them, instead
// of two dozen tiny tensor operations.
torch::Tensor EdmMlp::forward_fused(const torch::Tensor& x, const torch::Tensor& sigma) {
  const int64_t N = x.size(0), D = cfg_.dim, W = cfg_.width, L = static_cast<int64_t>(linears_.size());
  const float s = sigma.reshape({-1})[0].item<float>();
  const float sd2 = static_cast<float>(cfg_.sigma_data * cfg_.sigma_data);
  const float s2 = s * s, denom = std::sqrt(s2 + sd2);
  const float c_skip = sd2 / (s2 + sd2), c_out = s * static_cast<float>(cfg_.sigma_data) / denom, c_in = 1.f / denom;
  const float c_noise = std::log(s) / 4.f;
  // Embedding [c_noise, sin(c_noise f), cos(c_noise f)] folded into the first bias.
  std::vector<float> emb{c_noise};
  const float* fr = freqs_.data_ptr<float>();
  for (int64_t k = 0; k < cfg_.emb_freqs; ++k) emb.push_back(std::sin(c_noise * fr[k]));
  for (int64_t k = 0; k < cfg_.emb_freqs; ++k) emb.push_back(std::cos(c_noise * fr[k]));
  const torch::Tensor w0c = linears_[0]->weight.contiguous();
  const float* w0 = w0c.data_ptr<float>();
  const float* b0 = linears_[0]->bias.data_ptr<float>();
  const int64_t in = D + static_cast<int64_t>(emb.size());
  std::vector<float> bias0(W), w0t(D * W);  // w0t: [D, W], c_in folded in
  for (int64_t j = 0; j < W; ++j) {
    float acc = b0[j];
    for (size_t e = 0; e < emb.size(); ++e) acc += w0[j * in + D + static_cast<int64_t>(e)] * emb[e];
    bias0[j] = acc;
    for (int64_t d = 0; d < D; ++d) w0t[d * W + j] = w0[j * in + d] * c_in;
  }
  std::vector<torch::Tensor> wt(L - 1);  // hidden weights transposed [K, N] (made per call: never stale)
  for (int64_t l = 1; l < L - 1; ++l) wt[l] = linears_[l]->weight.t().contiguous();
  const torch::Tensor wl = linears_[L - 1]->weight.contiguous();
  // Rows in blocks whose activations stay in cache.
  const int64_t block = std::min<int64_t>(N, std::max<int64_t>(16, (64 << 10) / (W * 4)));
  std::vector<float> h1(static_cast<size_t>(block * W)), h2(static_cast<size_t>(block * W));
  torch::Tensor out = torch::empty({N, D}, x.options());
  const float* xp = x.data_ptr<float>();
  float* op = out.data_ptr<float>();
  for (int64_t r0 = 0; r0 < N; r0 += block) {
    const int64_t m = std::min(block, N - r0);
    float *a = h1.data(), *b = h2.data();
    kernels::dense_silu_fast(xp + r0 * D, m, D, w0t.data(), bias0.data(), W, a);
    for (int64_t l = 1; l < L - 1; ++l) {
      kernels::dense_silu_fast(a, m, W, wt[l].data_ptr<float>(), linears_[l]->bias.data_ptr<float>(), W, b);
      std::swap(a, b);
    }
    kernels::dense_out_skip_fast(a, m, W, wl.data_ptr<float>(), linears_[L - 1]->bias.data_ptr<float>(), D,
                                 xp + r0 * D, c_skip, c_out, op + r0 * D);
  }
  return out;
}

torch::Tensor EdmMlp::forward_general(const torch::Tensor& x, const torch::Tensor& sigma) {
  torch::Tensor s = sigma.reshape({-1, 1}).to(x.scalar_type());
  Precond p = edm_precond(s, cfg_.sigma_data);
  std::vector<torch::Tensor> parts{x * p.c_in, p.c_noise};
  if (cfg_.emb_freqs > 0) {
    torch::Tensor a = p.c_noise * freqs_.to(x.scalar_type()).unsqueeze(0);
    parts.push_back(a.sin());
    parts.push_back(a.cos());
  }
  torch::Tensor f = net_->forward(torch::cat(parts, 1));
  return p.c_skip * x + p.c_out * f;
}

std::shared_ptr<EdmNetwork> make_network(const NetConfig& cfg) {
  if (cfg.type == "mlp") return std::make_shared<EdmMlp>(cfg);
  if (cfg.type == "unet") return std::make_shared<EdmUnet>(cfg);
  throw InputError("network type '" + cfg.type + "' is not known");
}

}  // namespace sims
