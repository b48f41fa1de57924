// The project's own denoiser networks (LibTorch modules) with EDM
// preconditioning: D(x; s) = c_skip x + c_out F(c_in x, c_noise). The
// configuration is data (JSON, see assets/networks/) and travels inside
// every checkpoint, so a checkpoint rebuilds its own network.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>

#include "kernels/dispatch.hpp"

namespace sims {

struct NetConfig {
  std::string type = "mlp";   // mlp | unet
  int64_t dim = 2;            // data dimension (mlp)
  int64_t width = 128;        // hidden units (mlp)
  int64_t depth = 3;          // hidden layers (mlp)
  int64_t emb_freqs = 8;      // Fourier frequencies of the sigma embedding
  double sigma_data = 0.5;
  // U-Net (type "unet"): images [channels, resolution, resolution].
  int64_t channels = 3;                       // image channels (1 grey, 3 RGB)
  int64_t resolution = 32;                    // 32 or 64 (any power of two >= 8)
  int64_t model_channels = 32;                // channels at full resolution
  std::vector<int64_t> channel_mult{1, 2, 2}; // per level; each level after the first halves the resolution
  int64_t num_blocks = 1;                     // residual blocks per level
  std::vector<int64_t> attn_resolutions{8};   // resolutions with self-attention
  double dropout = 0.1;
  nlohmann::json to_json() const;
  static NetConfig from_json(const nlohmann::json& j);  // throws InputError
  std::vector<int64_t> sample_shape() const {
    if (type == "unet") return {channels, resolution, resolution};
    return {dim};
  }
};

// Common base: every project network maps (x, sigma) to D(x; sigma).
struct EdmNetwork : torch::nn::Module {
  virtual torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& sigma) = 0;
  virtual const NetConfig& config() const = 0;
};

// MLP for points: input [c_in x, emb(c_noise)], SiLU hidden layers.
// Sampling (gradients off, one sigma for all rows, which is how the samplers
// call it) takes a faster path with the same weights when the kernel path
// resolves to Fast (kernels/dispatch.hpp, family Mlp): the sigma embedding's
// share of the first layer is folded into its bias once per call, rows go
// through all layers in cache-sized blocks, and (float32, width a multiple
// of 32) each hidden layer is one fused dense+SiLU kernel
// (kernels/dense_silu.hpp). It equals the general path within float rounding
// (tests/test_kernels.cpp); Reference keeps the general path everywhere.
class EdmMlp final : public EdmNetwork {
 public:
  explicit EdmMlp(const NetConfig& cfg);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& sigma) override;
  const NetConfig& config() const override { return cfg_; }
  // The general path (what training differentiates), also with gradients off.
  torch::Tensor forward_general(const torch::Tensor& x, const torch::Tensor& sigma);
  // Which implementation sampling uses (default Auto: fast where the CPU has AVX2/FMA).
  void set_kernel_path(KernelPath path) { kernels_ = path; }
  KernelPath kernel_path() const { return kernels_; }

 private:
  bool one_sigma_applies(const torch::Tensor& x, const torch::Tensor& sigma) const;
  torch::Tensor forward_one_sigma(const torch::Tensor& x, const torch::Tensor& sigma);
  torch::Tensor forward_fused(const torch::Tensor& x, const torch::Tensor& sigma);

  NetConfig cfg_;
  torch::nn::Sequential net_{nullptr};
  std::vector<torch::nn::Linear> linears_;  // the Linear layers of net_ (not registered twice)
  torch::Tensor freqs_;
  KernelPath kernels_ = KernelPath::Auto;
};

// Builds the network a configuration describes.
std::shared_ptr<EdmNetwork> make_network(const NetConfig& cfg);

// EDM preconditioning coefficients for sigma (any shape), as tensors.
struct Precond {
  torch::Tensor c_skip, c_out, c_in, c_noise;
};
Precond edm_precond(const torch::Tensor& sigma, double sigma_data);

}  // namespace sims
