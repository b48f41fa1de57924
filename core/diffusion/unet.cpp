#include "diffusion/unet.hpp"

#include "common/error.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <ATen/ATen.h>

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/dropout.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/nn/init.h>

namespace sims {

namespace F = torch::nn::functional;

namespace {

// Groups for GroupNorm: at most 32, at least 4 channels per group.
int64_t norm_groups(int64_t ch) {
  int64_t g = std::min<int64_t>(32, std::max<int64_t>(1, ch / 4));
  while (ch % g) --g;
  return g;
}

torch::nn::GroupNorm group_norm(int64_t ch) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(norm_groups(ch), ch).eps(1e-6));
}

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2));
}

// Output layers start at zero so each residual branch starts as identity
// (as DDPM++ does with init_weight=0 on the last conv of a block).
void zero_init(torch::nn::Conv2d& c) {
  torch::NoGradGuard g;
  c->weight.zero_();
  if (c->bias.defined()) c->bias.zero_();
}

}  // namespace

namespace {
struct DropoutDraw {
  at::Generator gen;
  int64_t global = 0, offset = 0;
};
thread_local DropoutDraw* t_dropout = nullptr;
}  // namespace

DropoutScope::DropoutScope(at::Generator gen, int64_t global, int64_t offset)
    : outer_(t_dropout) {
  t_dropout = new DropoutDraw{std::move(gen), global, offset};
}
DropoutScope::~DropoutScope() {
  delete static_cast<DropoutDraw*>(t_dropout);
  t_dropout = static_cast<DropoutDraw*>(outer_);
}

namespace unet_detail {

ResBlockImpl::ResBlockImpl(int64_t in, int64_t out, int64_t emb_ch, double dropout_p) : dropout(dropout_p) {
  norm0 = register_module("norm0", group_norm(in));
  conv0 = register_module("conv0", conv(in, out, 3));
  affine = register_module("affine", torch::nn::Linear(emb_ch, out));
  norm1 = register_module("norm1", group_norm(out));
  conv1 = register_module("conv1", conv(out, out, 3));
  zero_init(conv1);
  if (in != out) skip = register_module("skip", conv(in, out, 1));
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& emb) {
  torch::Tensor h = conv0(F::silu(norm0(x)));
  h = h + affine(emb).unsqueeze(-1).unsqueeze(-1);
  h = F::silu(norm1(h));
  if (dropout > 0 && is_training()) {
    if (t_dropout != nullptr) {  // the global batch's masks, this slice's rows
      std::vector<int64_t> shape = h.sizes().vec();
      shape[0] = t_dropout->global;
      // Drawn on the CPU (the generator's device), so any device gets the same masks.
      torch::Tensor keep = at::empty(shape, at::kFloat).bernoulli_(1.0 - dropout, t_dropout->gen);
      keep = keep.slice(0, t_dropout->offset, t_dropout->offset + h.size(0)).to(h.device(), h.scalar_type());
      h = h * keep * (1.0 / (1.0 - dropout));
    } else {
      h = F::dropout(h, F::DropoutFuncOptions().p(dropout).training(true));
    }
  }
  h = conv1(h);
  torch::Tensor s = skip ? skip(x) : x;
  return (h + s) * M_SQRT1_2;
}

AttnBlockImpl::AttnBlockImpl(int64_t ch) {
  norm = register_module("norm", group_norm(ch));
  qkv = register_module("qkv", conv(ch, 3 * ch, 1));
  proj = register_module("proj", conv(ch, ch, 1));
  zero_init(proj);
}

torch::Tensor AttnBlockImpl::forward(const torch::Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  auto parts = qkv(norm(x)).reshape({n, 3, c, hw}).unbind(1);  // each [n, c, hw]
  torch::Tensor w = torch::bmm(parts[0].transpose(1, 2), parts[1]) * (1.0 / std::sqrt(double(c)));  // [n, hw, hw]
  w = w.softmax(-1);
  torch::Tensor a = torch::bmm(parts[2], w.transpose(1, 2)).reshape(x.sizes());  // [n, c, hw]
  return (x + proj(a)) * M_SQRT1_2;
}

}  // namespace unet_detail

EdmUnet::EdmUnet(const NetConfig& cfg) : cfg_(cfg) {
  using namespace unet_detail;
  const int64_t mc = cfg.model_channels, emb_ch = 4 * mc;
  const auto has_attn = [&](int64_t res) {
    return std::find(cfg.attn_resolutions.begin(), cfg.attn_resolutions.end(), res) != cfg.attn_resolutions.end();
  };
  // Noise embedding: sin/cos of c_noise at geometric frequencies, then an MLP.
  freqs_ = register_buffer("freqs", torch::pow(2.0, torch::arange(cfg.emb_freqs, torch::kFloat)) * M_PI);
  emb0 = register_module("emb0", torch::nn::Linear(2 * cfg.emb_freqs + 1, emb_ch));
  emb1 = register_module("emb1", torch::nn::Linear(emb_ch, emb_ch));
  conv_in = register_module("conv_in", conv(cfg.channels, mc, 3));

  encoder_modules_ = {"emb0", "emb1", "conv_in"};
  int idx = 0;
  auto name = [&](const char* what) { return std::string(what) + std::to_string(idx++); };
  auto add_res = [&](std::vector<Stage>& v, int64_t in, int64_t out, int64_t res, bool takes_skip) {
    Stage s;
    s.res_name = name("res");
    s.res = register_module(s.res_name, ResBlock(in, out, emb_ch, cfg.dropout));
    if (has_attn(res)) {
      s.attn_name = name("attn");
      s.attn = register_module(s.attn_name, AttnBlock(out));
    }
    s.takes_skip = takes_skip;
    v.push_back(s);
  };

  // Encoder: remember the channel count of every activation handed to the decoder.
  std::vector<int64_t> skip_ch{mc};
  int64_t ch = mc, res = cfg.resolution;
  const size_t levels = cfg.channel_mult.size();
  for (size_t l = 0; l < levels; ++l) {
    const int64_t out = mc * cfg.channel_mult[l];
    for (int64_t b = 0; b < cfg.num_blocks; ++b) {
      add_res(enc_, ch, out, res, false);
      ch = out;
      skip_ch.push_back(ch);
    }
    if (l + 1 < levels) {
      Stage s;
      s.kind = Stage::Down;
      s.resample_name = name("down");
      s.resample = register_module(s.resample_name, conv(ch, ch, 3, 2));
      enc_.push_back(s);
      res /= 2;
      skip_ch.push_back(ch);
    }
  }
  for (const auto& child : named_children()) {
    if (std::find(encoder_modules_.begin(), encoder_modules_.end(), child.key()) == encoder_modules_.end())
      encoder_modules_.push_back(child.key());  // every module registered so far is the encoder's
  }
  // Middle (the decoder's first blocks): residual block with attention, then a plain one.
  {
    Stage s;
    s.res_name = name("mid");
    s.res = register_module(s.res_name, ResBlock(ch, ch, emb_ch, cfg.dropout));
    s.attn_name = name("midattn");
    s.attn = register_module(s.attn_name, AttnBlock(ch));
    mid_.push_back(s);
    Stage t;
    t.res_name = name("mid");
    t.res = register_module(t.res_name, ResBlock(ch, ch, emb_ch, cfg.dropout));
    mid_.push_back(t);
  }
  // Decoder: num_blocks + 1 blocks per level, each taking one encoder activation.
  for (size_t li = levels; li-- > 0;) {
    const int64_t out = mc * cfg.channel_mult[li];
    for (int64_t b = 0; b <= cfg.num_blocks; ++b) {
      const int64_t sc = skip_ch.back();
      skip_ch.pop_back();
      add_res(dec_, ch + sc, out, res, true);
      ch = out;
    }
    if (li > 0) {
      Stage s;
      s.kind = Stage::Up;
      s.resample_name = name("up");
      s.resample = register_module(s.resample_name, conv(ch, ch, 3));
      dec_.push_back(s);
      res *= 2;
    }
  }
  norm_out = register_module("norm_out", group_norm(ch));
  conv_out = register_module("conv_out", conv(ch, cfg.channels, 3));
  zero_init(conv_out);
}

torch::Tensor EdmUnet::run_stage(Stage& s, torch::Tensor h, const torch::Tensor& emb) {
  switch (s.kind) {
    case Stage::Down:
      return s.resample(h);
    case Stage::Up:
      return s.resample(F::interpolate(
          h, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest)));
    case Stage::Res:
      break;
  }
  h = s.res(h, emb);
  if (s.attn) h = s.attn(h);
  return h;
}

UnetEncoding EdmUnet::encode(const torch::Tensor& x, const torch::Tensor& sigma) {
  const auto dt = x.scalar_type();
  torch::Tensor s = sigma.reshape({-1, 1, 1, 1}).to(dt);
  Precond p = edm_precond(s, cfg_.sigma_data);

  torch::Tensor cn = p.c_noise.reshape({-1, 1});
  torch::Tensor a = cn * freqs_.to(dt).unsqueeze(0);
  torch::Tensor emb = torch::cat({cn, a.sin(), a.cos()}, 1);
  emb = F::silu(emb1(F::silu(emb0(emb))));

  UnetEncoding e;
  e.x = x;
  e.c_skip = p.c_skip;
  e.c_out = p.c_out;
  torch::Tensor h = conv_in(x * p.c_in);
  e.skips.reserve(enc_.size() + 1);
  e.skips.push_back(h);
  for (auto& st : enc_) {
    h = run_stage(st, h, emb);
    e.skips.push_back(h);
  }
  e.emb = std::move(emb);
  return e;
}

torch::Tensor EdmUnet::decode(const UnetEncoding& e) {
  size_t next = e.skips.size();  // skips are taken from the end
  torch::Tensor h = e.skips.back();
  for (auto& st : mid_) h = run_stage(st, h, e.emb);
  for (auto& st : dec_) {
    if (st.takes_skip) h = torch::cat({h, e.skips[--next]}, 1);
    h = run_stage(st, h, e.emb);
  }
  torch::Tensor f = conv_out(F::silu(norm_out(h)));
  return e.c_skip * e.x + e.c_out * f;
}

torch::Tensor EdmUnet::forward(const torch::Tensor& x, const torch::Tensor& sigma) { return decode(encode(x, sigma)); }

bool EdmUnet::is_encoder_parameter(const std::string& name) const {
  const auto dot = name.find('.');
  const std::string top = dot == std::string::npos ? name : name.substr(0, dot);
  return std::find(encoder_modules_.begin(), encoder_modules_.end(), top) != encoder_modules_.end();
}

std::vector<bool> frozen_for_decoder_training(EdmNetwork& net) {
  auto* unet = dynamic_cast<EdmUnet*>(&net);
  if (unet == nullptr)
    throw InputError("training only the decoder needs a U-Net (this network is a '" + net.config().type +
                     "'): use --train all");
  std::vector<bool> frozen;
  for (const auto& p : net.named_parameters(true)) frozen.push_back(unet->is_encoder_parameter(p.key()));
  return frozen;
}

bool encoders_equal(EdmNetwork& a, EdmNetwork& b) {
  auto* ua = dynamic_cast<EdmUnet*>(&a);
  auto* ub = dynamic_cast<EdmUnet*>(&b);
  if (ua == nullptr || ub == nullptr || ua->config().to_json() != ub->config().to_json()) return false;
  torch::NoGradGuard ng;
  auto pa = ua->named_parameters(true), pb = ub->named_parameters(true);
  for (const auto& p : pa) {
    if (!ua->is_encoder_parameter(p.key())) continue;
    const torch::Tensor* q = pb.find(p.key());
    if (q == nullptr || q->sizes() != p.value().sizes() || !torch::equal(p.value(), q->to(p.value().device())))
      return false;
  }
  auto ba = ua->named_buffers(true), bb = ub->named_buffers(true);
  for (const auto& p : ba) {
    const torch::Tensor* q = bb.find(p.key());
    if (q == nullptr || q->sizes() != p.value().sizes() || !torch::equal(p.value(), q->to(p.value().device())))
      return false;
  }
  return true;
}

}  // namespace sims
