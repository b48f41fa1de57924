// The one interface every sampler, metric and face uses for "a denoiser
// D(x; sigma)" in the EDM convention, whatever is behind it: a TorchScript
// file, the project's own networks, or an analytic (closed-form) model.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <ATen/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

namespace sims {

struct EdmNetwork;

// What a model is, for `sims info` and the GUI's model panel.
struct ModelInfo {
  std::string kind;                  // "torchscript", "analytic-gaussian", "checkpoint", ...
  std::string path;
  std::vector<int64_t> sample_shape; // per-sample shape, e.g. {2} or {3,32,32}; empty if unknown
  double sigma_min = 0.002;          // σ range the model was trained for (EDM defaults when unknown)
  double sigma_max = 80.0;
  double sigma_data = 0.5;
  int64_t parameters = 0;            // trainable parameters (0 for analytic models)
  nlohmann::json provenance = nlohmann::json::object();  // training history when known
  nlohmann::json to_json() const;
};

class Denoiser {
 public:
  virtual ~Denoiser() = default;

  // x: [N, ...sample_shape] in the model's dtype on its device; sigma: [N].
  // Returns D(x; sigma) with the shape of x. Must be callable from any thread
  // (InferenceMode is set by the caller).
  virtual at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma) = 0;

  virtual const ModelInfo& info() const = 0;

  // The dtype the network wants its input in (the sampler keeps its own
  // state in float64 and casts at the call).
  virtual at::ScalarType input_dtype() const { return at::kFloat; }
  virtual c10::Device device() const { return c10::Device(c10::kCPU); }

  // Identity of the underlying weights: two denoisers with the same non-empty
  // key compute the same function (used to skip redundant evaluations).
  virtual std::string identity() const { return {}; }

  // The project network behind it, when there is one (checkpoints): lets a
  // base and a decoder-only auxiliary share their encoder (pair_evaluator.hpp).
  virtual EdmNetwork* network() { return nullptr; }
};

using DenoiserPtr = std::shared_ptr<Denoiser>;

struct LoadOptions {
  c10::Device device = c10::Device(c10::kCPU);
  // Per-sample shape to expect; empty = take it from the model's metadata
  // or probe for it.
  std::vector<int64_t> sample_shape;
  // Freeze + optimise TorchScript graphs for inference.
  bool optimize = true;
};

// Loads any supported model file: TorchScript (forward(x, sigma) -> D),
// an analytic model description (.json), or a project checkpoint. The model
// is validated at load time (signature, output shape, finiteness): a model
// that does not fit is refused here with a ModelError, never mid-sampling.
DenoiserPtr load_denoiser(const std::string& path, const LoadOptions& opts = {});

// "3x32x32" / "2" -> {3,32,32} / {2}; throws InputError naming `flag` (e.g. "--shape") and the text.
std::vector<int64_t> parse_shape(const std::string& text, const std::string& flag = "shape");
std::string shape_to_string(const std::vector<int64_t>& shape);

}  // namespace sims
