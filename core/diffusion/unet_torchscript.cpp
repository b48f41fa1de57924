// EdmUnet::torchscript_source: the U-Net's forward() as TorchScript source,
// stage by stage as encode() and decode() run it, with every activation in a
// named local (skip0, skip1, ... are the encoder outputs the decoder concatenates).
// Only ATen builtins are used (torch.conv2d, torch.group_norm, ...), so the
// source compiles with Module::define from C++ and the saved module loads in
// Python's torch.jit.load.
#include "diffusion/unet.hpp"

#include "diffusion/export_torchscript.hpp"

#include <cmath>
#include <sstream>

namespace sims {

namespace {

class ScriptWriter {
 public:
  ScriptWriter() { s_.precision(17); }
  std::ostream& line() { return s_ << "    "; }
  std::string str() const { return s_.str(); }

  static std::string param(const std::string& module, const char* what) {
    return "self." + torchscript_name(module + "." + what);
  }
  std::string group_norm(const std::string& module, const torch::nn::GroupNorm& gn, const std::string& x) const {
    std::ostringstream o;
    o.precision(17);
    o << "torch.group_norm(" << x << ", " << gn->options.num_groups() << ", " << param(module, "weight") << ", "
      << param(module, "bias") << ", " << gn->options.eps() << ", False)";
    return o.str();
  }
  static std::string conv(const std::string& module, const torch::nn::Conv2d& c, const std::string& x) {
    std::ostringstream o;
    const int64_t stride = c->options.stride()->at(0);
    const int64_t pad = c->weight.size(2) / 2;  // conv() in unet.cpp pads by k / 2
    o << "torch.conv2d(" << x << ", " << param(module, "weight") << ", " << param(module, "bias") << ", [" << stride
      << ", " << stride << "], [" << pad << ", " << pad << "])";
    return o.str();
  }
  static std::string linear(const std::string& module, const std::string& x) {
    return "torch.linear(" + x + ", " + param(module, "weight") + ", " + param(module, "bias") + ")";
  }

  // h = ResBlock(h, emb), as ResBlockImpl::forward in eval mode (no dropout).
  void res_block(const std::string& name, const unet_detail::ResBlock& r) {
    line() << "t = " << conv(name + ".conv0", r->conv0, "torch.silu(" + group_norm(name + ".norm0", r->norm0, "h") + ")")
           << "\n";
    line() << "t = t + " << linear(name + ".affine", "emb") << ".unsqueeze(-1).unsqueeze(-1)\n";
    line() << "t = " << conv(name + ".conv1", r->conv1, "torch.silu(" + group_norm(name + ".norm1", r->norm1, "t") + ")")
           << "\n";
    const std::string skip = r->skip ? conv(name + ".skip", r->skip, "h") : std::string("h");
    line() << "h = (t + " << skip << ") * " << M_SQRT1_2 << "\n";
  }
  // h = AttnBlock(h), as AttnBlockImpl::forward.
  void attn_block(const std::string& name, const unet_detail::AttnBlock& a) {
    const int64_t ch = a->norm->options.num_channels();
    line() << "q = " << conv(name + ".qkv", a->qkv, group_norm(name + ".norm", a->norm, "h"))
           << ".reshape(h.size(0), 3, " << ch << ", h.size(2) * h.size(3)).unbind(1)\n";
    line() << "w = (torch.bmm(q[0].transpose(1, 2), q[1]) * " << 1.0 / std::sqrt(static_cast<double>(ch))
           << ").softmax(-1)\n";
    line() << "h = (h + " << conv(name + ".proj", a->proj, "torch.bmm(q[2], w.transpose(1, 2)).reshape(h.size())")
           << ") * " << M_SQRT1_2 << "\n";
  }

 private:
  std::ostringstream s_;
};

}  // namespace

std::string EdmUnet::torchscript_source() const {
  ScriptWriter w;
  const double sd = cfg_.sigma_data, sd2 = sd * sd;
  w.line() << "s = sigma.reshape(-1, 1, 1, 1).to(x.dtype)\n";
  w.line() << "s2 = s * s\n";
  w.line() << "denom = (s2 + " << sd2 << ").sqrt()\n";
  w.line() << "c_skip = " << sd2 << " / (s2 + " << sd2 << ")\n";
  w.line() << "c_out = s * " << sd << " / denom\n";
  w.line() << "cn = (s.log() / 4.0).reshape(-1, 1)\n";
  w.line() << "a = cn * self.freqs.to(x.dtype).unsqueeze(0)\n";
  w.line() << "emb = torch.silu(" << ScriptWriter::linear("emb0", "torch.cat([cn, a.sin(), a.cos()], 1)") << ")\n";
  w.line() << "emb = torch.silu(" << ScriptWriter::linear("emb1", "emb") << ")\n";
  w.line() << "h = " << ScriptWriter::conv("conv_in", conv_in, "x * (1.0 / denom)") << "\n";
  int64_t skips = 0;
  w.line() << "skip" << skips++ << " = h\n";
  auto stage = [&](const Stage& st) {
    switch (st.kind) {
      case Stage::Down:
        w.line() << "h = " << ScriptWriter::conv(st.resample_name, st.resample, "h") << "\n";
        return;
      case Stage::Up:
        w.line() << "h = " << ScriptWriter::conv(st.resample_name, st.resample, "torch.upsample_nearest2d(h, None, [2.0, 2.0])")
                 << "\n";
        return;
      case Stage::Res:
        break;
    }
    w.res_block(st.res_name, st.res);
    if (st.attn) w.attn_block(st.attn_name, st.attn);
  };
  for (const auto& st : enc_) {
    stage(st);
    w.line() << "skip" << skips++ << " = h\n";
  }
  for (const auto& st : mid_) stage(st);
  for (const auto& st : dec_) {
    if (st.takes_skip) w.line() << "h = torch.cat([h, skip" << --skips << "], 1)\n";
    stage(st);
  }
  w.line() << "f = "
           << ScriptWriter::conv("conv_out", conv_out, "torch.silu(" + w.group_norm("norm_out", norm_out, "h") + ")")
           << "\n";
  w.line() << "return c_skip * x + c_out * f\n";
  return "def forward(self, x: Tensor, sigma: Tensor) -> Tensor:\n" + w.str();
}

}  // namespace sims
