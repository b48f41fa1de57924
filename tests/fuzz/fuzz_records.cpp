// libFuzzer harness: what the program builds from JSON users bring, past the parser (fuzz_json.cpp covers that):
// sessions, analytic models, network / training / feature-network configurations, data specifications, experiment
// settings, the result records a resume or a comparison reads back, and TorchScript models' sims.json metadata.
// The input's first byte picks the reader, the rest is the JSON text (the file, for a session).
//
// Stricter than "no crash": every refusal must be a sims::Error whose message is one non-empty line of valid
// UTF-8 (what the faces print after "error:" and what JSON records store). Any other exception (nlohmann's
// type_error, std::out_of_range, c10::Error, ...) reached users as library words naming no file or key before;
// here it aborts, and libFuzzer keeps the input.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <typeinfo>

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "data/faces.hpp"
#include "data/image_datasets.hpp"
#include "data/toy2d.hpp"
#include "diffusion/analytic.hpp"
#include "diffusion/network.hpp"
#include "engine/live_policy.hpp"
#include "fuzz_file.hpp"
#include "io/script_meta.hpp"
#include "loops/diffusion_loop.hpp"
#include "loops/image_loop.hpp"
#include "loops/run_caption.hpp"
#include "loops/scenarios.hpp"
#include "loops/shift.hpp"
#include "loops/tune_compare.hpp"
#include "metrics/features.hpp"
#include "metrics/sweep_run.hpp"
#include "metrics/uncertainty.hpp"
#include "training/checkpoint.hpp"

namespace {

[[noreturn]] void finding(const char* kind, const std::string& what) {
  std::fprintf(stderr, "fuzz records: %s: %s\n", kind, what.c_str());
  std::abort();
}

// One line, not empty, valid UTF-8: message_text leaves such text as it is.
void check_message(const std::string& m) {
  if (m.empty()) finding("an empty error message", "");
  if (sims::message_text(m) != m) finding("an error message that is not one line of UTF-8", sims::message_text(m, 400));
}

void read(int kind, const std::string& text) {
  using namespace sims;
  if (kind == 0) {  // a studio / sims-live session file
    (void)engine::read_live_session(fuzz_file(reinterpret_cast<const uint8_t*>(text.data()), text.size(),
                                              ".simsession"),
                                    engine::LiveSession());
    return;
  }
  if (kind == 15 || kind == 18) {  // TorchScript metadata: the readers parse the text themselves
    if (kind == 15) (void)io::read_denoiser_script_meta(text, "fuzz.pt");
    else (void)io::read_feature_script_meta(text, "fuzz.pt");
    return;
  }
  const nlohmann::json j = parse_json_bounded(text, "fuzz input");
  switch (kind) {
    case 1: (void)AnalyticDenoiser::from_json(j, "fuzz.json"); break;
    case 2: (void)NetConfig::from_json(j); break;
    case 3: (void)TrainConfig::from_json(j); break;
    case 4: (void)metrics::FeatureCnnConfig::from_json(j); break;
    case 5: (void)data::Toy2dSpec::from_json(j); break;
    case 6: (void)data::FacesSpec::from_json(j); break;
    case 7: (void)data::ImageDatasetSpec::from_json(j); break;
    case 8: (void)loops::DiffusionLoopConfig::from_json(j); break;
    case 9: (void)loops::ShiftConfig::from_json(j); break;
    case 10: (void)loops::ScenariosConfig::from_json(j); break;
    case 11: (void)loops::ImageLoopConfig::from_json(j); break;
    case 12: (void)loops::ShiftRow::from_json(j); break;
    case 13: (void)metrics::sweep_row_from_json(j, {"smile", "glasses"}); break;
    case 14:
      (void)loops::run_label(j);
      (void)loops::run_settings(j, "run");
      (void)loops::tune_curve(j, "run", "fuzz/result.json");
      break;
    case 16: {  // a checkpoint's provenance: the built-in training points drawn under samples
      std::string name;
      (void)data::training_points(j, 64, &name);
      (void)data::training_points(j, 64, &name, 32);
      break;
    }
    case 17: (void)metrics::Estimate::get(j, "fd"); break;
  }
}

// With SIMS_FUZZ_SEEDS=DIR, the harness first writes a seed per reader from the program's own defaults (the
// formats as this build writes them; tools/fuzz.sh adds the shipped models' records).
void write_seeds(const std::string& dir) {
  using namespace sims;
  auto seed = [&](int kind, const std::string& name, const std::string& text) {
    const std::string body = std::string(1, static_cast<char>(kind)) + text;
    write_fuzz_input(dir + "/" + name, reinterpret_cast<const uint8_t*>(body.data()), body.size());
  };
  engine::LiveSession session;
  session.base = "base.ckpt", session.aux = "aux.ckpt", session.tab = "live";
  seed(0, "session", engine::live_session_text(session));
  seed(1, "gaussian", R"({"kind": "gaussian", "mean": [0, 0], "cov": [[2, 1], [1, 2]]})");
  seed(1, "mixture", R"({"kind": "gaussian_mixture", "components": [
                           {"weight": 0.5, "mean": [-1, 0], "cov": [[0.1, 0], [0, 0.1]]},
                           {"weight": 0.5, "mean": [1, 0], "cov": [[0.1, 0], [0, 0.1]]}]})");
  NetConfig unet;
  unet.type = "unet";
  seed(2, "mlp", NetConfig().to_json().dump());
  seed(2, "unet", unet.to_json().dump());
  seed(3, "train", TrainConfig().to_json().dump());
  seed(4, "feature-cnn", metrics::FeatureCnnConfig().to_json().dump());
  seed(5, "toy2d", data::Toy2dSpec().to_json().dump());
  seed(6, "faces", data::FacesSpec().to_json().dump());
  seed(7, "images", data::ImageDatasetSpec().to_json().dump());
  seed(8, "loop", loops::DiffusionLoopConfig().to_json().dump());
  seed(9, "shift", loops::ShiftConfig().to_json().dump());
  seed(10, "scenarios", loops::ScenariosConfig().to_json().dump());
  seed(11, "image-loop", loops::ImageLoopConfig().to_json().dump());
  seed(12, "shift-row", loops::ShiftRow().to_json(true).dump());
  seed(15, "denoiser-meta", R"({"shape": [3, 32, 32], "sigma_min": 0.002, "sigma_max": 80, "sigma_data": 0.5})");
  seed(18, "feature-meta", R"({"name": "n", "input_size": 32, "input_range": [0, 1], "labels": "classes",
                              "attr_names": ["a", "b"]})");
  seed(17, "estimate", R"({"fd": 1.5, "fd_lo": 1.2, "fd_hi": 1.8})");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("SIMS_FUZZ_SEEDS")) write_seeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int kind = data[0] % 19;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    read(kind, text);
  } catch (const sims::Error& e) {
    check_message(e.what());
  } catch (const std::bad_alloc&) {
    finding("std::bad_alloc", "an allocation beyond what the input describes");
  } catch (const std::exception& e) {
    finding(typeid(e).name(), sims::message_text(e.what(), 400) + " (reader " + std::to_string(kind) + ")");
  }
  return 0;
}
