#include "diffusion/torchscript_denoiser.hpp"

#include <fstream>
#include <functional>
#include <sstream>

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/passes/frozen_graph_optimizations.h>

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "common/script_error.hpp"
#include "io/script_meta.hpp"
#include "io/zip.hpp"

namespace sims {
namespace {

// File content hash: identifies the weights for "same model" checks.
std::string file_digest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str();
  return "ts:" + std::to_string(s.size()) + ":" + std::to_string(std::hash<std::string>{}(s));
}

// A feature network (sims-feature-net: its description in PATH.json beside it) is no denoiser: said as what it is.
bool is_feature_network(const std::string& path) {
  std::ifstream f(path + ".json", std::ios::binary);
  std::string head(4096, '\0');
  f.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(f.gcount()));
  return head.find("\"sims-feature-net\"") != std::string::npos;
}

}  // namespace

TorchScriptDenoiser::TorchScriptDenoiser(const std::string& path, const LoadOptions& opts) : device_(opts.device) {
  io::require_zip_crcs(path);  // TorchScript's reader does not compare them: flipped weights would be used
  torch::jit::ExtraFilesMap extra{{"sims.json", ""}};
  module_ = script_guard([&] { return "cannot load '" + path + "' as TorchScript"; },
                         [&] { return torch::jit::load(path, opts.device, extra); });
  module_.eval();
  // Sampling never needs gradients; parameters that require them would make
  // the graph executor build differentiable graphs (and fail on inference tensors).
  for (auto p : module_.parameters()) p.set_requires_grad(false);

  // Signature: forward(self, x: Tensor, sigma: Tensor) -> Tensor
  auto method = module_.find_method("forward");
  if (!method && is_feature_network(path))
    throw ModelError("'" + path + "' is a feature network (described in '" + path + ".json'), not a diffusion model: "
                     "give it to --features (sims metrics fid, loop, shift) or --classifier");
  if (!method) {  // e.g. a feature network copied without its side-car: say what it has
    std::string names;
    size_t listed = 0;
    for (const auto& m : module_.get_methods())
      if (listed++ < 6) names += (names.empty() ? "" : ", ") + m.name();
    throw ModelError("'" + path + "': TorchScript module has no forward method, so it is not a diffusion model" +
                     (names.empty() ? std::string() : " (its methods: " + names + (listed > 6 ? ", …" : "") + ")") +
                     "; a feature network of sims is used with its description '" + path + ".json' beside it");
  }
  const auto& schema = method->function().getSchema();
  const auto& args = schema.arguments();
  auto is_tensor = [](const c10::TypePtr& t) { return t->kind() == c10::TypeKind::TensorType; };
  size_t required = 0;
  for (size_t i = 1; i < args.size(); ++i)
    if (!args[i].default_value()) ++required;
  if (args.size() < 3 || required != 2 || !is_tensor(args[1].type()) || !is_tensor(args[2].type()))
    throw ModelError("'" + path + "': forward must be forward(x: Tensor, sigma: Tensor) -> Tensor, found " +
                     schema.name() + "(" + std::to_string(args.size() - 1) + " argument(s))");
  if (schema.returns().size() != 1 || !is_tensor(schema.returns()[0].type()))
    throw ModelError("'" + path + "': forward must return one Tensor (the denoised D(x; sigma))");

  info_.kind = "torchscript";
  info_.path = path;
  int64_t params = 0;
  for (const auto& p : module_.parameters()) params += p.numel();
  info_.parameters = params;

  // The metadata checked as a whole first (io/script_meta.hpp): noise levels, and a shape within limits.
  std::vector<int64_t> shape = opts.sample_shape;
  if (!extra["sims.json"].empty()) {
    const io::DenoiserScriptMeta meta =
        io::read_denoiser_script_meta(extra["sims.json"], path, info_.sigma_min, info_.sigma_max);
    info_.provenance = meta.provenance;
    info_.sigma_min = meta.sigma_min;
    info_.sigma_max = meta.sigma_max;
    if (meta.sigma_data) info_.sigma_data = *meta.sigma_data;
    if (!meta.shape.empty()) {
      if (!shape.empty() && shape != meta.shape)
        throw ModelError("'" + path + "' declares samples of shape " + shape_to_string(meta.shape) + ", not " +
                         shape_to_string(shape) + " (as the noise or --shape ask)");
      shape = meta.shape;
    }
  }

  if (opts.optimize) {
    try {
      module_ = torch::jit::freeze(module_);
    } catch (const c10::Error&) {
      // Not every scripted module can be frozen (e.g. mutated attributes); run it as is.
    }
  }

  auto probe = [&](const std::vector<int64_t>& s) {
    std::vector<int64_t> full{2};
    full.insert(full.end(), s.begin(), s.end());
    at::Tensor x = at::randn(full, at::TensorOptions().device(device_).dtype(at::kFloat)) * 0.5;
    at::Tensor sigma = at::tensor({1.0f, 0.1f}, at::TensorOptions().device(device_));
    at::Tensor d = call(x, sigma);
    if (!d.isfinite().all().item<bool>())
      throw ModelError("'" + path + "': forward returns NaN/Inf on a probe input of shape " + c10::str(x.sizes()));
    return d;
  };

  if (!shape.empty()) {
    probe(shape);  // throws ModelError with the reason
  } else {
    // No declared shape: probe the shapes diffusion models usually have.
    const std::vector<std::vector<int64_t>> candidates = {{2}, {1, 28, 28}, {3, 32, 32}, {1, 32, 32},
                                                          {3, 64, 64}, {1}, {3}, {4}, {8}};
    for (const auto& c : candidates) {
      try {
        probe(c);
        shape = c;
        break;
      } catch (const ModelError&) {
      }
    }
    if (shape.empty())
      throw ModelError("'" + path +
                       "': cannot tell the sample shape (no sims.json metadata and no common shape works); "
                       "pass --shape, e.g. --shape 3x32x32");
  }
  info_.sample_shape = shape;
  identity_ = file_digest(path);
}

at::Tensor TorchScriptDenoiser::call(const at::Tensor& x, const at::Tensor& sigma) {
  const c10::IValue out =
      script_guard([&] { return "'" + info_.path + "': forward(x of shape " + c10::str(x.sizes()) + ", sigma) failed"; },
                   [&] { return module_.forward({x, sigma}); });
  if (!out.isTensor()) throw ModelError("'" + info_.path + "': forward did not return a Tensor");
  at::Tensor d = out.toTensor();
  if (d.sizes() != x.sizes())
    throw ModelError("'" + info_.path + "': forward returned shape " + c10::str(d.sizes()) + " for input " +
                     c10::str(x.sizes()) + "; a denoiser must return D(x; sigma) with the shape of x");
  return d;
}

at::Tensor TorchScriptDenoiser::denoise(const at::Tensor& x, const at::Tensor& sigma) { return call(x, sigma); }

}  // namespace sims
