// A trained network as a TorchScript module with forward(x, sigma) -> D(x; sigma):
// the EDM preconditioning and the layers written out as TorchScript source over
// copies of the network's parameters, so the module runs without sims (Python's
// torch.jit.load) and gives the same D(x; sigma) within float rounding.
#pragma once
#include <string>

#include <torch/script.h>

#include "diffusion/network.hpp"

namespace sims {

// MLP and U-Net networks; throws InputError for other types and when the
// network's parameters do not match its configuration.
torch::jit::Module network_to_torchscript(EdmNetwork& net);

// The name a parameter or buffer path ("res3.conv0.weight") has in the exported module ("res3_conv0_weight").
std::string torchscript_name(std::string path);

}  // namespace sims
