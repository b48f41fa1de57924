// Feature networks and attribute classifiers for image metrics.
//
// A FeatureNet maps images [N,C,H,W] in [-1,1] to features [N,F]; the Fréchet
// distance of two feature sets is then "FD_<name>" (FID when the network is
// Inception-v3's 2048-d pool layer). An AttributeClassifier maps images to
// logits [N,K] and predicted 0/1 labels; the share of samples with an
// attribute is the mean of its predicted labels. Both work in batches with a
// progress callback and a cancel flag.
//
// Two kinds of network:
//  (a) A TorchScript file supplied by the user (spec "PATH[,size=S][,range=LO:HI][,name=NAME][,softmax]").
//      Input convention: the images are converted to 3 channels (grey
//      repeated), resized to S x S with bilinear interpolation (default
//      S = 299, the Inception-v3 size; size=0 keeps the native size), and
//      mapped linearly from [-1,1] to [LO,HI] (default range -1:1, i.e. passed
//      unchanged; range=0:255 for NVIDIA's inception-2015-12-05 TorchScript,
//      range=0:1 for pytorch-fid style nets), as float32 [N,3,S,S].
//      forward(x) must return a Tensor [N,F] (trailing singleton dims, e.g.
//      [N,F,1,1] pool outputs, are flattened). The same keys may come from a
//      "sims.json" extra file in the archive: {"name": ..., "input_size": S,
//      "input_range": [LO,HI], "attr_names": [...], "labels": "multi"|"classes"}.
//      The file is validated at load time with a dummy batch of 2: anything
//      other than a finite float [2,F] output is refused with a ModelError.
//      As a classifier, the output is read as logits [N,K]: multi-label
//      (sigmoid > 0.5 per attribute, default) or classes ("softmax" option or
//      "labels": "classes": one-hot argmax).
//  (b) The project's own compact CNN (FeatureCnn, ~0.2M parameters) trained
//      on a labelled data set by train_feature_cnn: three strided conv+BN+ReLU
//      blocks, a 128-d penultimate layer (the features) and a linear head (the
//      classifier: multi-label BCE on attributes such as the faces'
//      group/smile/glasses, or cross-entropy on class labels for MNIST/CIFAR).
//      Saved as a torch::serialize archive with a JSON record (name, input
//      size and channels, attribute names, label kind, held-out accuracy) and
//      a JSON side-car OUT.json with the same record.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/Tensor.h>
#include <nlohmann/json.hpp>

namespace sims::data {
struct ImageBatch;
}

namespace sims::metrics {

// Batching, progress and cancellation of feature / logit computation.
struct BatchOptions {
  int64_t batch = 256;
  // Called after every batch with (images done, total); return false to cancel.
  std::function<bool(int64_t, int64_t)> progress;
  const std::atomic<bool>* cancel = nullptr;  // set to true to cancel (throws sims::Cancelled)
};

class FeatureNet {
 public:
  virtual ~FeatureNet() = default;
  // Name used in every result ("FD_<name>").
  virtual std::string name() const = 0;
  virtual int64_t dim() const = 0;
  // images [N,C,H,W] float in [-1,1] (C = 1 or 3, any device) → [N,F] float32 CPU.
  // Throws InputError on a wrong shape or non-finite input.
  at::Tensor features(const at::Tensor& images, const BatchOptions& opts = {});
  // One batch, already checked (no progress/cancel).
  virtual at::Tensor batch_features(const at::Tensor& images) = 0;
};

class AttributeClassifier {
 public:
  virtual ~AttributeClassifier() = default;
  virtual std::string name() const = 0;
  virtual const std::vector<std::string>& attr_names() const = 0;
  // true: K independent binary attributes; false: K mutually exclusive classes.
  virtual bool multi_label() const = 0;
  at::Tensor logits(const at::Tensor& images, const BatchOptions& opts = {});
  // Predicted labels [N,K] float32 0/1 (one-hot for classes).
  at::Tensor predict(const at::Tensor& images, const BatchOptions& opts = {});
  at::Tensor labels_from_logits(const at::Tensor& logits) const;
  virtual at::Tensor batch_logits(const at::Tensor& images) = 0;
};

using FeatureNetPtr = std::shared_ptr<FeatureNet>;
using ClassifierPtr = std::shared_ptr<AttributeClassifier>;

// Share of rows with each label: mean over rows of labels [N,K] (K values).
std::vector<double> attribute_ratios(const at::Tensor& labels);

// Loads a feature network from a spec: a FeatureCnn checkpoint written by
// save_feature_cnn, or a TorchScript file (options above). Throws ModelError /
// InputError with the path on anything unusable.
FeatureNetPtr load_feature_net(const std::string& spec);
ClassifierPtr load_classifier(const std::string& spec);

// --- the project's own feature CNN ------------------------------------------

struct FeatureCnnConfig {
  int64_t channels = 3;  // input channels
  int64_t size = 32;     // input side (images are resized to it)
  int64_t width = 24;    // channels of the first conv block (then 2x, ~2.7x)
  int64_t feature_dim = 128;
  int64_t outputs = 3;   // K attributes or classes
  nlohmann::json to_json() const;
  static FeatureCnnConfig from_json(const nlohmann::json& j);
};

struct FeatureTrainConfig {
  int64_t epochs = 4;
  int64_t batch = 64;
  double lr = 2e-3;
  double holdout = 0.1;  // share of the data held out for the accuracy report
  uint64_t seed = 0;
  std::string name;      // default: "cnn-<dataset kind>"
};

struct FeatureTrainReport {
  double accuracy = 0;                 // held-out: mean over attributes (multi-label) or top-1 (classes)
  std::vector<double> attr_accuracy;   // per attribute (multi-label); empty for classes
  int64_t n_train = 0, n_heldout = 0;
  double seconds = 0;
  nlohmann::json meta;                 // the record saved with the network
};

class FeatureCnn;  // defined in features.cpp (a torch::nn::Module)

// A trained network: features (penultimate layer) and classifier (head).
class TrainedCnn final : public FeatureNet, public AttributeClassifier {
 public:
  TrainedCnn(std::shared_ptr<FeatureCnn> net, nlohmann::json meta);
  std::string name() const override;
  int64_t dim() const override;
  at::Tensor batch_features(const at::Tensor& images) override;
  const std::vector<std::string>& attr_names() const override { return attrs_; }
  bool multi_label() const override { return multi_; }
  at::Tensor batch_logits(const at::Tensor& images) override;
  const nlohmann::json& meta() const { return meta_; }
  std::shared_ptr<FeatureCnn> module() const { return net_; }

 private:
  at::Tensor prepare(const at::Tensor& images) const;
  std::shared_ptr<FeatureCnn> net_;
  nlohmann::json meta_;
  std::vector<std::string> attrs_;
  bool multi_ = true;
};

// Trains on `data` (attributes → multi-label BCE when data.attrs has columns,
// else class labels → cross-entropy); the last `holdout` share is held out.
// progress(epoch, epochs, running loss) may return false to cancel.
std::shared_ptr<TrainedCnn> train_feature_cnn(const data::ImageBatch& data, const FeatureTrainConfig& cfg,
                                              FeatureTrainReport* report = nullptr,
                                              const std::function<bool(int64_t, int64_t, double)>& progress = {},
                                              const std::atomic<bool>* cancel = nullptr);

// Accuracy of a classifier on labelled data (same definition as the report).
double classifier_accuracy(AttributeClassifier& clf, const data::ImageBatch& data,
                           std::vector<double>* per_attr = nullptr);

// Archive + JSON side-car (path + ".json"), both atomic.
void save_feature_cnn(const std::string& path, const TrainedCnn& net);
std::shared_ptr<TrainedCnn> load_feature_cnn(const std::string& path);
bool is_feature_cnn(const std::string& path);

}  // namespace sims::metrics
