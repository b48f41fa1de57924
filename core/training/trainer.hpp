// EDM training (Karras et al. 2022): ln sigma ~ N(P_mean, P_std), loss
// weight (s^2+sd^2)/(s sd)^2, Adam with a linear learning-rate ramp-up, EMA
// of the weights with EDM's growing half-life, and a guard that zeroes
// non-finite gradients. Budgets count images (samples) seen. Every batch is
// drawn from a generator seeded by (seed, step), so a run stopped and
// resumed from its checkpoint ends with the same weights as one run straight
// through.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <ATen/Tensor.h>
#include <c10/core/Device.h>

#include "training/checkpoint.hpp"

namespace sims {
namespace dist {
class Group;
}

struct TrainEvent {
  int64_t images_seen;
  int64_t budget;
  double loss;        // mean loss since the previous event
  double seconds;     // wall time of this run so far
  double eta;         // seconds left, estimated from this run's speed
  double images_per_second;
};

struct TrainOptions {
  // Where the networks and batches live. Batches and noise are drawn on the
  // CPU from the per-step seed and moved, so a run is the same on any device
  // up to floating-point differences. The state stays on this device after
  // training (checkpoints still load on a CPU).
  c10::Device device = c10::Device(c10::kCPU);
  std::function<void(const TrainEvent&)> on_progress;  // called about every progress_every images
  int64_t progress_every = 0;                          // 0: about 200 events per run
  const std::atomic<bool>* cancel = nullptr;           // checked every batch
  std::string checkpoint_path;                         // written at checkpoint_every, on cancel and at the end
  std::string snapshot_pattern;                        // e.g. "aux-%08lld.ckpt" (images seen); empty: none
  // Data-parallel training over a job of several processes (dist/group.hpp;
  // null: this process alone). Every rank draws the same global batch from
  // the step's seed and takes its slice (dist::shard); the gradients, summed
  // in buckets of at most 25 MB by one all-reduce each, equal the global
  // batch's, so every rank takes the same Adam step and the model equals one
  // process's to float rounding (U-Net dropout on the CPU included: its masks
  // come from the step's seed). Rank 0 starts everyone from its weights and alone
  // writes checkpoints and snapshots; a Ctrl-C on any rank stops all of them
  // at the same step.
  std::shared_ptr<dist::Group> group;
};

// Options for a training stage of a longer run: progress comes as one line,
// "<what> SEEN/BUDGET images, loss L, R img/s", through report(seen, budget, line).
TrainOptions stage_train_options(c10::Device device, const std::atomic<bool>* cancel, const std::string& checkpoint_path,
                                 const std::string& what,
                                 std::function<void(int64_t seen, int64_t budget, const std::string& line)> report);

enum class TrainOutcome { Finished, Cancelled };

// Trains st on `data` ([N, ...sample_shape], float32, the full training set)
// until st.images_seen reaches st.train.budget.
TrainOutcome train(TrainState& st, const at::Tensor& data, const TrainOptions& opts = {});

// Moves networks and optimizer state to `device`.
void move_to(TrainState& st, c10::Device device);

// The EDM loss of a batch (exposed for tests and benchmarks).
at::Tensor edm_loss(EdmNetwork& net, const at::Tensor& y, const at::Tensor& sigma, const at::Tensor& noise);

}  // namespace sims
