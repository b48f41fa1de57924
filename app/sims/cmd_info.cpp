// `sims info MODEL`: what a model file is (kind, shapes, sigma range,
// parameters, training provenance when known).
#include <cmath>

#include "cli_common.hpp"
#include "sampling/schedule.hpp"

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
}

}  // namespace sims::cli
