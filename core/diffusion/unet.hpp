// A U-Net image denoiser with EDM preconditioning, in the spirit of the
// DDPM++ networks EDM trains (residual blocks with a noise embedding added per
// channel, self-attention at low resolutions, dropout, skip connections
// between encoder and decoder), scaled by its configuration: the default in
// assets/networks/unet32.json trains on a CPU in minutes; channels 128 with
// multipliers [2,2,2] and 4 blocks per level is EDM's CIFAR-10 size.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "diffusion/network.hpp"

namespace sims {

// While one is alive on this thread, the U-Net's dropout draws its masks
// from `gen` for a batch of `global` samples and applies the rows [offset,
// offset + batch): the masks then depend on the training step alone, so a
// resumed run repeats them, and a data-parallel rank holding a slice of the
// global batch applies the same masks as one process holding all of it.
// Without one, dropout uses LibTorch's default generator.
class DropoutScope {
 public:
  DropoutScope(at::Generator gen, int64_t global, int64_t offset);
  ~DropoutScope();
  DropoutScope(const DropoutScope&) = delete;
  DropoutScope& operator=(const DropoutScope&) = delete;

 private:
  void* outer_;  // the scope this one hides, restored at its end
};

namespace unet_detail {

// GroupNorm -> SiLU -> conv3x3 (+ embedding) -> GroupNorm -> SiLU -> dropout
// -> conv3x3, plus a 1x1 skip when the channel count changes; the sum is
// scaled by 1/sqrt(2) to keep activations at unit scale.
struct ResBlockImpl : torch::nn::Module {
  ResBlockImpl(int64_t in, int64_t out, int64_t emb_ch, double dropout);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& emb);
  torch::nn::GroupNorm norm0{nullptr}, norm1{nullptr};
  torch::nn::Conv2d conv0{nullptr}, conv1{nullptr}, skip{nullptr};
  torch::nn::Linear affine{nullptr};
  double dropout;
};
TORCH_MODULE(ResBlock);

// Single-head self-attention over all pixels, residual, scaled by 1/sqrt(2).
struct AttnBlockImpl : torch::nn::Module {
  explicit AttnBlockImpl(int64_t ch);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::GroupNorm norm{nullptr};
  torch::nn::Conv2d qkv{nullptr}, proj{nullptr};
};
TORCH_MODULE(AttnBlock);

}  // namespace unet_detail

// What the encoder half of the U-Net hands to the decoder: the input and its
// preconditioning, the noise embedding and every skip activation.
struct UnetEncoding {
  torch::Tensor x, c_skip, c_out;   // the input and its EDM output coefficients
  torch::Tensor emb;                // noise embedding [N, 4 * model_channels]
  std::vector<torch::Tensor> skips; // conv_in's and every encoder stage's output; the last is the bottleneck input
};

class EdmUnet final : public EdmNetwork {
 public:
  explicit EdmUnet(const NetConfig& cfg);
  // decode(encode(x, sigma)).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& sigma) override;
  const NetConfig& config() const override { return cfg_; }

  // The two halves EDM's U-Net is split into (SIMS App. A, "decoder-only
  // auxiliary"): the encoder is the noise embedding, the input convolution and
  // the down path; the decoder is everything after it (the bottleneck blocks
  // with attention, the up path and the output layers), as in EDM's SongUNet,
  // whose bottleneck blocks belong to its decoder. Two networks with equal
  // encoder weights can share one encode() per step.
  UnetEncoding encode(const torch::Tensor& x, const torch::Tensor& sigma);
  torch::Tensor decode(const UnetEncoding& e);
  // Top-level modules of the encoder ("emb0", "conv_in", "res0", ...): a
  // parameter belongs to the encoder when its name starts with one and a dot.
  const std::vector<std::string>& encoder_modules() const { return encoder_modules_; }
  bool is_encoder_parameter(const std::string& name) const;

  // forward() written as TorchScript source over the network's own parameters
  // and its "freqs" buffer, each named by its path with '.' replaced by '_'
  // (self.res3_conv0_weight): what `sims export --torchscript` compiles.
  std::string torchscript_source() const;

 private:
  // One stage of the network: a residual block, optionally followed by
  // attention, or a resampling step (down/up).
  struct Stage {
    unet_detail::ResBlock res{nullptr};
    unet_detail::AttnBlock attn{nullptr};
    torch::nn::Conv2d resample{nullptr};  // down: stride-2 conv; up: conv after nearest upsampling
    enum Kind { Res, Down, Up } kind = Res;
    bool takes_skip = false;  // decoder blocks concatenate an encoder activation
    std::string res_name, attn_name, resample_name;  // the registered module names
  };
  torch::Tensor run_stage(Stage& s, torch::Tensor h, const torch::Tensor& emb);

  NetConfig cfg_;
  torch::Tensor freqs_;
  torch::nn::Linear emb0{nullptr}, emb1{nullptr};
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::GroupNorm norm_out{nullptr};
  std::vector<Stage> enc_, mid_, dec_;
  std::vector<std::string> encoder_modules_;
};

// The parameters of `net` a fine-tune with trainable = "decoder" leaves
// frozen: the encoder's (U-Nets only; throws InputError for other networks).
std::vector<bool> frozen_for_decoder_training(EdmNetwork& net);

// True when a and b are U-Nets of the same configuration whose encoder
// parameters and buffers are equal element for element.
bool encoders_equal(EdmNetwork& a, EdmNetwork& b);

}  // namespace sims
