#include "diffusion/denoiser.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "io/safetensors.hpp"
#include "diffusion/analytic.hpp"
#include "diffusion/torchscript_denoiser.hpp"
#include "training/checkpoint.hpp"

namespace sims {

nlohmann::json ModelInfo::to_json() const {
  auto num = [](double v) -> nlohmann::json { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  return {{"kind", kind},           {"path", path},           {"shape", sample_shape},
          {"sigma_min", num(sigma_min)}, {"sigma_max", num(sigma_max)}, {"sigma_data", sigma_data},
          {"parameters", parameters}, {"provenance", provenance}};
}

std::vector<int64_t> parse_shape(const std::string& text, const std::string& flag) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string item;
  const std::string what = flag + " '" + message_text(text, 40) + "'";
  const std::string form = what + " is not of the form 2 or 3x32x32";
  // ("2x" would read as 2: getline gives no empty last item)
  if (text.empty() || text.back() == 'x') throw InputError(form);
  while (std::getline(ss, item, 'x')) {
    if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos) throw InputError(form);
    if (item.size() > 1 && item[0] == '0') throw InputError(what + " has an entry with a leading zero");
    if (item.size() > 9) throw InputError(what + " has an entry out of range");  // (before stoll)
    const long long v = std::stoll(item);
    if (v <= 0 || v > 1 << 20) throw InputError(what + " has an entry out of range");
    out.push_back(v);
  }
  if (out.empty()) throw InputError(form);
  return out;
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
  return s;
}

DenoiserPtr load_denoiser(const std::string& path, const LoadOptions& opts) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError("model file '" + path + "' does not exist");
  if (std::filesystem::is_directory(path, ec)) throw InputError("model '" + path + "' is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open model file '" + path + "'");
  char head[4] = {0, 0, 0, 0};
  in.read(head, 4);
  if (in.gcount() < 4) throw ModelError("'" + path + "' is too short to be a model file");

  // Weights-only checkpoints (safetensors layout): straight to the checked reader, whose message names the damage.
  if (io::looks_like_safetensors(path)) return NetworkDenoiser::from_checkpoint(path, opts);

  // JSON: an analytic model description.
  size_t first = 0;
  while (first < 4 && std::isspace(static_cast<unsigned char>(head[first]))) ++first;
  if (first < 4 && head[first] == '{') {
    in.seekg(0);
    std::stringstream ss;
    ss << in.rdbuf();
    nlohmann::json j;
    try {
      j = parse_json_bounded(ss.str(), "'" + path + "'");
    } catch (const InputError& e) {
      throw ModelError(e.what());
    }
    auto m = AnalyticDenoiser::from_json(j, path);
    if (!opts.sample_shape.empty() && opts.sample_shape != m->info().sample_shape)
      throw ModelError("'" + path + "' models " + shape_to_string(m->info().sample_shape) + " samples, not " +
                       shape_to_string(opts.sample_shape));
    return m;
  }
  // Zip archives: TorchScript (and, with a sims marker, project checkpoints).
  if (head[0] == 'P' && head[1] == 'K') {
    if (is_checkpoint(path)) return NetworkDenoiser::from_checkpoint(path, opts);
    return std::make_shared<TorchScriptDenoiser>(path, opts);
  }
  throw ModelError("'" + path + "' is neither a TorchScript file, a SIMS checkpoint nor an analytic model (.json)");
}

}  // namespace sims
