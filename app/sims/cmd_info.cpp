// `sims info MODEL`: what a model file is (kind, shapes, sigma range,
// parameters, training provenance when known, file format).
// `sims convert IN OUT`: a checkpoint of any version rewritten in the
// weights-only format.
#include <cmath>
#include <filesystem>

#include "cli_common.hpp"
#include "common/error.hpp"
#include "io/safetensors.hpp"
#include "sampling/schedule.hpp"
#include "training/checkpoint.hpp"

namespace sims::cli {
namespace {

struct InfoArgs {
  std::string model, shape;
  bool json = false;
};

int run_info(const InfoArgs& a) {
  LoadOptions lo;
  if (!a.shape.empty()) lo.sample_shape = parse_shape(a.shape);
  lo.optimize = false;
  DenoiserPtr m = load_denoiser(a.model, lo);
  const ModelInfo& info = m->info();
  if (a.json) {
    print_json(info.to_json());
    return 0;
  }
  std::cout << a.model << "\n"
            << "  kind:        " << info.kind << "\n"
            << "  sample:      " << shape_to_string(info.sample_shape) << " per sample (input [N, "
            << shape_to_string(info.sample_shape) << "], sigma [N])\n"
            << "  sigma range: " << info.sigma_min << " .. " << info.sigma_max << " (sigma_data " << info.sigma_data << ")\n";
  if (info.parameters > 0) std::cout << "  parameters:  " << info.parameters << "\n";
  if (!info.provenance.empty()) std::cout << "  provenance:  " << info.provenance.dump() << "\n";
  if (info.kind == "checkpoint")
    std::cout << "  format:      "
              << (io::looks_like_safetensors(a.model)
                      ? "weights only (safetensors layout, checksummed)"
                      : "LibTorch archive of an older version: loading it runs LibTorch's TorchScript reader, so "
                        "load only files you trust; 'sims convert' rewrites it weights-only")
              << "\n";
  return 0;
}

struct ConvertArgs {
  std::string in, out;
  bool force = false;
};

int run_convert(const ConvertArgs& a) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(a.out, ec) && !a.force)
    throw InputError("'" + a.out + "' exists; pass --force to replace it");
  prepare_output("OUT", a.out);
  TrainState st = load_checkpoint(a.in);
  save_checkpoint(a.out, st);  // atomically: a failed write leaves OUT as it was
  load_checkpoint(a.out);      // read back through the checked reader before saying so
  std::cout << "converted " << a.in << " -> " << a.out << " (weights only, " << fs::file_size(a.out) << " bytes)\n";
  return 0;
}

}  // namespace

void add_info_command(CLI::App& app, Registry& reg) {
  auto a = std::make_shared<InfoArgs>();
  CLI::App* cmd = app.add_subcommand("info", "Describe a model file");
  input_path(cmd->add_option("model", a->model, "checkpoint, TorchScript file or analytic .json"))->required();
  cmd->add_option("--shape", a->shape, "per-sample shape to check the model against, e.g. 3x32x32");
  cmd->add_flag("--json", a->json, "print the result as one JSON object");
  reg.actions.push_back({cmd, [a] { return run_info(*a); }});

  auto c = std::make_shared<ConvertArgs>();
  CLI::App* conv = app.add_subcommand("convert", "Rewrite a checkpoint (any version) in the weights-only format");
  input_path(conv->add_option("in", c->in, "checkpoint to read"))->required();
  conv->add_option("out", c->out, "checkpoint to write (may equal IN with --force)")->required();
  conv->add_flag("--force", c->force, "replace OUT when it exists");
  reg.actions.push_back({conv, [c] { return run_convert(*c); }});
}

}  // namespace sims::cli
