// The settings that several experiments share, declared once for all of them
// (experiment/settings.hpp): the names of the loop kinds, pools and
// algorithms, the loop fields of the diffusion2d and image loops, and the
// image model and scoring fields of the image loop and the scenarios.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "loops/diffusion_loop.hpp"
#include "experiment/common_schemas.hpp"
#include "experiment/settings.hpp"
#include "loops/gaussian_loop.hpp"

namespace sims::loops {

inline std::vector<std::pair<LoopKind, std::string>> loop_kind_names() {
  return {{LoopKind::FullySynthetic, "fully-synthetic"}, {LoopKind::Augment, "augment"}, {LoopKind::Fresh, "fresh"}};
}

// The synthetic pool: the last generation's set (replace) or all of them (accumulate).
inline std::vector<std::pair<bool, std::string>> pool_names() { return {{false, "replace"}, {true, "accumulate"}}; }

inline std::vector<std::pair<LoopAlgorithm, std::string>> algorithm_names() {
  return {{LoopAlgorithm::Standard, "standard"}, {LoopAlgorithm::Sims, "sims"}};
}

// kind, pool, n_real, n_synth, generations (free), seed, algorithm, omega,
// interval: the loop itself, for any config with these members.
template <class C>
void add_loop_fields(experiment::Schema<C>& s, const std::string& unit) {
  s.choice("kind", &C::kind, "--kind", "what generation t >= 2 trains on", loop_kind_names())
      .choice("pool", &C::accumulate, "--pool", "synthetic pool: the last generation's set or all of them", pool_names())
      .integer("n_real", &C::n_real, "--n-real", "real " + unit + " per generation", 2, 10'000'000)
      .integer("n_synth", &C::n_synth, "--n-synth", "|D_s|: synthetic " + unit + " per generation", 0, 10'000'000)
      .integer("generations", &C::generations, "--generations", "generations", 1, 100000)
      .free()
      .seed("seed", &C::seed, "--seed", "random seed")
      .choice("algorithm", &C::algorithm, "--algorithm", "training algorithm", algorithm_names())
      .real("omega", &C::omega, "--omega", "SIMS guidance weight", -1000, 1000)
      .interval("interval", &C::interval_lo, &C::interval_hi, "--interval", "guidance interval LO:HI in sigma")
      .rule([](const C& c) {
        return c.kind == LoopKind::FullySynthetic && c.n_synth < 2
                   ? "--n-synth must be at least 2 for the fully synthetic loop (got " + std::to_string(c.n_synth) + ")"
                   : std::string();
      });
}

// "" or why `net` is not a U-Net that `who` can train.
std::string unet_problem(const NetConfig& net, const std::string& who);

// net (a U-Net), train, sampler, chunk, n_eval, n_ref, features, classifier,
// pr_k: the image models and how their samples are scored.
template <class C>
void add_image_model_fields(experiment::Schema<C>& s, const std::string& who, const std::string& n_eval_help) {
  s.template object<NetConfig>("net", &C::net, "the U-Net", [who](const NetConfig& n) { return unet_problem(n, who); })
      .nested("train", &C::train, experiment::train_schema())
      .nested("sampler", &C::sampler, experiment::sampler_schema())
      .integer("chunk", &C::chunk, "--chunk", "images per sampler call", 1, 1'000'000)
      .integer("n_eval", &C::n_eval, "--n-eval", n_eval_help, 2, 10'000'000)
      .integer("n_ref", &C::n_ref, "--n-ref", "real reference images (0: --n-eval)", 0, 10'000'000)
      .text("features", &C::features, "--features", "feature network for FD", true)
      .text("classifier", &C::classifier, "--classifier", "attribute classifier (\"\": the feature net; none)")
      .integer("pr_k", &C::pr_k, "--pr-k", "k of precision/recall", 1, 1000)
      .rule([](const C& c) { return c.n_ref == 1 ? std::string("--n-ref must be 0 (= --n-eval) or at least 2") : std::string(); });
}

// The defaults the image experiments share: the CPU U-Net, batch 64, lr 1e-3,
// ramp-up 2000 images, the shipped faces CNN for FD.
void set_image_defaults(NetConfig& net, TrainConfig& train, std::string& features);

}  // namespace sims::loops
