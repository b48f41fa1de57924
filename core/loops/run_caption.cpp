#include "loops/run_caption.hpp"

#include <sstream>

namespace sims::loops {
namespace {

using nlohmann::json;

// A number of `o` as written (integers without a decimal point), "?" when missing or not a number.
std::string num(const json& o, const char* k) {
  if (!o.is_object() || !o.contains(k) || !o[k].is_number()) return "?";
  if (o[k].is_number_unsigned()) return std::to_string(o[k].get<uint64_t>());
  if (o[k].is_number_integer()) return std::to_string(o[k].get<int64_t>());
  std::ostringstream t;
  t << o[k].get<double>();
  return t.str();
}

// A number of `o`, `fallback` when missing or not a number (captions never fail on a damaged file).
double number(const json& o, const char* k, double fallback) {
  return o.is_object() && o.contains(k) && o[k].is_number() ? o[k].get<double>() : fallback;
}

std::string str(const json& o, const char* k, const std::string& fallback) {
  return o.is_object() && o.contains(k) && o[k].is_string() ? o[k].get<std::string>() : fallback;
}

const json& field(const json& o, const char* k) {
  static const json none;
  return o.is_object() && o.contains(k) ? o[k] : none;
}

}  // namespace

std::string run_label(const json& j) {
  std::ostringstream o;
  const std::string fam = str(j, "family", "gaussian");
  if (fam == "diffusion2d" || fam == "images") {
    if (str(j, "algorithm", "standard") == "sims")
      o << "SIMS \u03c9=" << num(j, "omega");
    else
      o << "standard";
  } else {
    o << (fam == "mixture" ? "mixture " : "gaussian ") << str(j, "kind", "") << " \u03bb=" << num(j, "bias");
    if (number(j, "memory", 1) > 1) o << " K=" << num(j, "memory");
  }
  o << " |Ds|=" << num(j, "n_synth");
  if (str(j, "pool", "replace") == "accumulate") o << " accumulated";
  // The DDPM model's batch sets its number of Adam steps per epoch: runs that differ only in it need telling apart.
  if (str(j, "model", "edm") == "ddpm") o << " batch " << num(j, "ddpm_batch");
  if (str(j, "warm_start", "scratch") == "previous") o << " warm";
  return o.str();
}

std::string run_settings(const json& j, const std::string& label) {
  const std::string fam = str(j, "family", "gaussian");
  std::ostringstream o;
  o << (label.empty() ? run_label(j) : label) << ": ";
  if (fam == "gaussian") {
    o << "Gaussian fits, D\u00a0=\u00a0" << num(j, "dim") << ", \u03bb\u00a0=\u00a0" << num(j, "bias");
    if (number(j, "memory", 1) > 1) o << ", synthetic from the last " << num(j, "memory") << " models";
  } else if (fam == "mixture") {
    o << "Gaussian-mixture fits (EM) to " << num(j, "grid") << "\u00d7" << num(j, "grid") << " modes of std "
      << num(j, "mode_std") << ", \u03bb\u00a0=\u00a0" << num(j, "bias");
  } else {
    const json& d = field(j, "data");
    const bool ddpm = str(j, "model", "edm") == "ddpm";
    o << (fam == "images" ? "U-Nets on '" : ddpm ? "2D DDPM \u03b5-MLPs on '" : "2D diffusion MLPs on '")
      << (d.is_string() ? d.get<std::string>() : str(d, "name", str(j, "data_string", "?"))) << "'";
  }
  o << ", " << str(j, "kind", "?") << " loop";
  if (str(j, "pool", "replace") == "accumulate") o << " (all previous synthetic sets)";
  o << ", |D_r|\u00a0=\u00a0" << num(j, "n_real") << ", |D_s|\u00a0=\u00a0" << num(j, "n_synth") << ", ";
  // A first generation of another size (MAD Fig. 9: the loop forgets its initial model).
  if (number(j, "n_init", 0) > 0) o << "generation\u00a01 fitted on " << num(j, "n_init") << " real samples, ";
  if (j.is_object() && j.contains("runs")) o << num(j, "runs") << "\u00a0runs \u00d7 ";
  o << num(j, "generations") << "\u00a0generations";
  if (fam == "diffusion2d" && number(j, "base_images", 0) > 0)
    o << ", " << num(j, "base_images") << "\u00a0images per generation";
  if (str(j, "warm_start", "scratch") == "previous") o << ", each base trained on from the previous generation's";
  if (str(j, "model", "edm") == "ddpm") {
    o << ", batch\u00a0" << num(j, "ddpm_batch") << ", " << num(j, "base_epochs") << "\u00a0epochs";
    if (str(j, "algorithm", "standard") == "sims") o << " (auxiliary " << num(j, "aux_epochs") << ")";
    o << ", ancestral, " << num(j, "ddpm_steps") << "\u00a0steps";
  } else if (fam != "gaussian" && fam != "mixture") {
    const json& sc = field(j, "sampler");
    if (sc.is_object()) o << ", " << str(sc, "sampler", "heun") << ", " << num(sc, "steps") << "\u00a0steps";
  }
  o << ", seed\u00a0" << num(j, "seed");
  return o.str();
}

}  // namespace sims::loops
