#include "diffusion/export_torchscript.hpp"

#include <sstream>

#include "common/error.hpp"
#include "diffusion/unet.hpp"

namespace sims {

namespace {

// The TorchScript source of an MLP's D(x; sigma): the EDM preconditioning and
// the layers exactly as EdmMlp::forward_general computes them, over parameters
// w0, b0, w1, ... (the Linear layers in order) and the buffer freqs.
std::string mlp_torchscript_source(const NetConfig& c) {
  std::ostringstream s;
  s.precision(17);
  const double sd = c.sigma_data;
  s << "def forward(self, x: Tensor, sigma: Tensor) -> Tensor:\n"
    << "    s = sigma.reshape(-1, 1).to(x.dtype)\n"
    << "    s2 = s * s\n"
    << "    denom = (s2 + " << sd * sd << ").sqrt()\n"
    << "    c_skip = " << sd * sd << " / (s2 + " << sd * sd << ")\n"
    << "    c_out = s * " << sd << " / denom\n"
    << "    c_in = 1.0 / denom\n"
    << "    c_noise = s.log() / 4.0\n";
  if (c.emb_freqs > 0)
    s << "    a = c_noise * self.freqs.to(x.dtype).unsqueeze(0)\n"
      << "    h = torch.cat([x * c_in, c_noise, a.sin(), a.cos()], 1)\n";
  else
    s << "    h = torch.cat([x * c_in, c_noise], 1)\n";
  for (int64_t i = 0; i < c.depth; ++i)
    s << "    h = torch.silu(torch.linear(h, self.w" << i << ", self.b" << i << "))\n";
  s << "    f = torch.linear(h, self.w" << c.depth << ", self.b" << c.depth << ")\n"
    << "    return c_skip * x + c_out * f\n";
  return s.str();
}

void export_mlp(EdmNetwork& net, torch::jit::Module& m) {
  const NetConfig& c = net.config();
  int64_t layer = 0;
  for (const auto& p : net.named_parameters(/*recurse=*/true)) {
    const std::string& name = p.key();  // "net.<k>.weight" / "net.<k>.bias", in layer order
    const bool weight = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
    m.register_parameter((weight ? "w" : "b") + std::to_string(layer), p.value().detach().clone(), false);
    if (!weight) ++layer;
  }
  if (layer != c.depth + 1) throw InputError("the network does not hold the layers its settings describe");
  if (c.emb_freqs > 0) m.register_buffer("freqs", net.named_buffers(true)["freqs"].detach().clone());
  m.define(mlp_torchscript_source(c));
}

void export_unet(EdmUnet& net, torch::jit::Module& m) {
  for (const auto& p : net.named_parameters(true))
    m.register_parameter(torchscript_name(p.key()), p.value().detach().clone(), false);
  for (const auto& b : net.named_buffers(true)) m.register_buffer(torchscript_name(b.key()), b.value().detach().clone());
  m.define(net.torchscript_source());
}

}  // namespace

std::string torchscript_name(std::string path) {
  for (char& ch : path)
    if (ch == '.') ch = '_';
  return path;
}

torch::jit::Module network_to_torchscript(EdmNetwork& net) {
  torch::NoGradGuard ng;
  const std::string& type = net.config().type;
  if (type == "mlp") {
    torch::jit::Module m("SimsMlpDenoiser");
    export_mlp(net, m);
    m.eval();
    return m;
  }
  if (auto* unet = dynamic_cast<EdmUnet*>(&net)) {
    torch::jit::Module m("SimsUnetDenoiser");
    export_unet(*unet, m);
    m.eval();
    return m;
  }
  throw InputError("networks of type '" + type + "' cannot be exported to TorchScript");
}

}  // namespace sims
