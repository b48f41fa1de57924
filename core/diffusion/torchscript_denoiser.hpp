// A denoiser from a TorchScript file whose forward(x: Tensor, sigma: Tensor)
// returns D(x; sigma) in the EDM convention (sigma has shape [N]). This is how
// users bring models trained elsewhere, e.g. EDM networks exported from Python.
#pragma once
#include <torch/script.h>

#include "diffusion/denoiser.hpp"

namespace sims {

class TorchScriptDenoiser final : public Denoiser {
 public:
  // Loads, checks the forward signature, finds the sample shape (option >
  // "sims.json" extra file > probing common shapes) and probes one call.
  TorchScriptDenoiser(const std::string& path, const LoadOptions& opts);

  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma) override;
  const ModelInfo& info() const override { return info_; }
  c10::Device device() const override { return device_; }
  std::string identity() const override { return identity_; }

 private:
  // Runs forward and checks the result; throws ModelError.
  at::Tensor call(const at::Tensor& x, const at::Tensor& sigma);

  torch::jit::Module module_;
  c10::Device device_;
  ModelInfo info_;
  std::string identity_;
};

}  // namespace sims
