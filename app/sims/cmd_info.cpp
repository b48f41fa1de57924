// `sims info MODEL`: what a model file is (kind, shapes, sigma range,
// parameters, training provenance when known, file format).
// `sims convert IN OUT`: a checkpoint of any version rewritten in the
// weights-only format.
// `sims export --torchscript MODEL OUT.pt`: a checkpoint as TorchScript with
// forward(x, sigma) -> D(x; sigma), for Python (torch.jit.load) and back.
#include <cmath>
#include <filesystem>
#include <sstream>

#include <torch/script.h>

#include "cli_common.hpp"
#include "common/error.hpp"
#include "diffusion/export_torchscript.hpp"
#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "sampling/schedule.hpp"
#include "training/checkpoint.hpp"
#include "training/pairing.hpp"

namespace sims::cli {
namespace {

struct InfoArgs {
  std::string model, shape;
  bool json = false;
};

int run_info(const InfoArgs& a) {
  LoadOptions lo;
  if (!a.shape.empty()) lo.sample_shape = parse_shape(a.shape, "--shape");
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
  prepare_output("OUT", a.out, OutputKind::File, false);
  TrainState st = load_checkpoint(a.in);
  save_checkpoint(a.out, st);  // atomically: a failed write leaves OUT as it was
  load_checkpoint(a.out);      // read back through the checked reader before saying so
  std::cout << "converted " << a.in << " -> " << a.out << " (weights only, " << fs::file_size(a.out) << " bytes)\n";
  return 0;
}

struct ExportArgs {
  std::string in, out;
  bool torchscript = false, force = false;
};

int run_export(const ExportArgs& a) {
  namespace fs = std::filesystem;
  if (!a.torchscript) throw InputError("export: name the format, --torchscript (the only one so far)");
  std::error_code ec;
  if (fs::exists(a.out, ec) && !a.force) throw InputError("'" + a.out + "' exists; pass --force to replace it");
  if (!is_checkpoint(a.in))
    throw InputError("export: '" + a.in + "' is not a sims checkpoint (TorchScript and analytic models need no export)");
  const TrainState st = load_checkpoint(a.in);
  const NetConfig& c = st.net;
  // The EMA weights, as sampling uses them.
  torch::jit::Module m = [&] {
    try {
      return network_to_torchscript(*st.ema);
    } catch (const InputError& e) {
      throw InputError("export: '" + a.in + "': " + e.what());
    }
  }();
  nlohmann::json meta = {{"shape", c.sample_shape()}, {"sigma_data", c.sigma_data}, {"exported_from", a.in},
                         {"network", c.to_json()}, {"images_seen", st.images_seen},
                         {"weights_crc32", weights_crc32(*st.ema)}};
  if (!st.provenance.empty()) meta["provenance"] = st.provenance;
  prepare_output("OUT", a.out, OutputKind::File, false);  // as every command: a missing folder is created, a file in the way named
  std::ostringstream bytes;
  m.save(bytes, {{"sims.json", meta.dump()}});
  const std::string data = bytes.str();
  io::write_file_atomically(a.out, data.data(), data.size());
  // Read back through the TorchScript loader (signature, shape, a probe call) before saying so.
  load_denoiser(a.out, LoadOptions{});
  std::cout << "exported " << a.in << " -> " << a.out << " (TorchScript, forward(x, sigma) -> D(x; sigma), "
            << data.size() << " bytes)\n";
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

  auto e = std::make_shared<ExportArgs>();
  CLI::App* exp = app.add_subcommand(
      "export", "Write a checkpoint as TorchScript: forward(x, sigma) -> D(x; sigma), loadable by torch.jit.load");
  exp->add_flag("--torchscript", e->torchscript, "TorchScript (.pt) with the sample shape in its sims.json extra file");
  input_path(exp->add_option("model", e->in, "checkpoint to export (MLP or U-Net)"))->required();
  exp->add_option("out", e->out, "TorchScript file to write")->required();
  exp->add_flag("--force", e->force, "replace OUT when it exists");
  reg.actions.push_back({exp, [e] { return run_export(*e); }});
}

}  // namespace sims::cli
