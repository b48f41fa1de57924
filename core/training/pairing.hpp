// Whether an auxiliary model is the fine-tune of the base it is paired with, as far as their files say.
// SIMS guides away from the base's own synthetic manifold; an auxiliary fine-tuned from another base (or from
// this base before it was trained further) steers away from another model's samples instead. The faces say so
// with a note; they do not refuse, since pairing other models on purpose (a weaker model as the guide) is a
// legitimate experiment.
#pragma once
#include <cstdint>
#include <string>

#include "diffusion/denoiser.hpp"

namespace sims {

class EdmNetwork;

// CRC-32 of a network's parameters (each name, then its float bytes, in the network's order): which weights a
// model holds. Checkpoints record it for their EMA weights when loaded ("weights_crc32" in ModelInfo's
// provenance) and an auxiliary records its base's when it is forked from it ("base_weights_crc32").
uint32_t weights_crc32(const EdmNetwork& net);

// Why `aux` is not the fine-tune of `base`, in one sentence naming both files; "" when its record matches, or
// when the files record too little to tell (TorchScript from elsewhere, analytic models, older checkpoints
// without the base's weights are compared by the base's images seen and network only).
std::string pairing_doubt(const ModelInfo& base, const ModelInfo& aux);

}  // namespace sims
