// The real data a sweep or a tune is scored against, and the networks that
// score images: one set of flags (--real | --ref | --real-data, --n-real,
// --real-seed, --features, --classifier) and one loader for both commands.
#pragma once
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "metrics/features.hpp"
#include "metrics/sweep.hpp"

namespace sims::cli {

struct ReferenceFlags {
  std::string real, ref, real_data, features, classifier;
  std::string metric = "w2";  // points: w2 | energy (metrics::SweepConfig::point_metric)
  int64_t n_real = 0, real_seed = 12345;
  // `held_out`: the help says the data must be data the base never saw.
  void bind(CLI::App* c, bool held_out = false);
  // What was given, for reports: the file or the data spec.
  std::string source() const;
};

struct Reference {
  metrics::SweepReference ref;
  metrics::FeatureNetPtr features;
  metrics::ClassifierPtr classifier;
  nlohmann::json inputs;  // what the results depend on, by content (for run folders)
};

// Loads the reference for a model sampling `shape`; n_real defaults to `n`.
// Throws InputError naming the flag for a missing/unfit source.
Reference load_reference(const ReferenceFlags& f, const std::vector<int64_t>& shape, int64_t n);

// For figure captions: "scored against 20000 real samples (grid25)", or the statistics file it was scored against.
std::string reference_caption(const Reference& r, const ReferenceFlags& f);

// {"path", "content"} of a file (null for ""), as run folders compare inputs.
nlohmann::json file_identity(const std::string& path);

}  // namespace sims::cli
