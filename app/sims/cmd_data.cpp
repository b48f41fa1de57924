// `sims data preview|export`: look at an image data set (built-in faces,
// MNIST, CIFAR-10, an image folder, an .npy array) and export it as arrays.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>

#include <ATen/ATen.h>

#include "cli_common.hpp"
#include "common/error.hpp"
#include "data/image_datasets.hpp"
#include "io/atomic_file.hpp"
#include "io/npy.hpp"
#include "render/canvas.hpp"

namespace sims::cli {
namespace {

struct DataArgs {
  std::string dataset, grid, out, attrs, labels;
  int64_t n = -1;
  int64_t seed = 0;
  int cols = 0, zoom = 0;
  bool json = false;
};

nlohmann::json summary(const data::ImageBatch& b, const std::vector<int64_t>& shape) {
  nlohmann::json j{{"n", shape[0]}, {"shape", shape}, {"attr_names", b.attr_names}};
  std::vector<double> means;
  if (b.attrs.defined() && b.attrs.size(1) > 0 && b.attrs.size(0) > 0) {
    at::Tensor m = b.attrs.to(at::kDouble).mean(0);
    for (int64_t k = 0; k < m.size(0); ++k) means.push_back(m[k].item<double>());
  } else {
    means.assign(b.attr_names.size(), 0.0);
  }
  j["attr_means"] = means;
  if (b.has_labels()) {
    const int64_t k = std::max<int64_t>(static_cast<int64_t>(b.class_names.size()),
                                        b.size() > 0 ? b.labels.max().item<int64_t>() + 1 : 0);
    at::Tensor counts = at::bincount(b.labels, {}, k);
    std::vector<int64_t> c(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + counts.numel());
    j["label_counts"] = c;
    j["class_names"] = b.class_names;
  }
  return j;
}

void print_human(const nlohmann::json& j, const std::string& what) {
  std::cout << what << " " << j["n"].get<int64_t>() << " images, shape [";
  const auto shape = j["shape"].get<std::vector<int64_t>>();
  for (size_t i = 0; i < shape.size(); ++i) std::cout << (i ? "," : "") << shape[i];
  std::cout << "]\n";
  const auto names = j["attr_names"].get<std::vector<std::string>>();
  const auto means = j["attr_means"].get<std::vector<double>>();
  for (size_t k = 0; k < names.size(); ++k)
    std::cout << "  " << std::left << std::setw(12) << names[k] << " mean " << std::fixed << std::setprecision(3) << means[k]
              << "\n";
  if (j.contains("label_counts")) std::cout << "  labels: " << j["label_counts"].dump() << "\n";
}

// Data on disk: its first images, whatever --seed says (said, as scripts pass one flag list to every data set), and
// all of them when --n asks for more (said with the count).
void note_disk_set(const CLI::App* cmd, const data::ImageDatasetSpec& spec, const DataArgs& a, int64_t got) {
  if (spec.kind == "faces") return;
  note_given(cmd, {"--seed"}, "with data on disk (its first images are taken, in their order)");
  if (cmd->get_option("--n")->count() > 0 && a.n > got)
    note_at_end("--n " + std::to_string(a.n) + " is more than the " + std::to_string(got) + " images of '" +
                spec.to_string() + "': all of them were taken");
}

int run_preview(const DataArgs& a, const CLI::App* cmd) {
  const data::ImageDatasetSpec spec = data::ImageDatasetSpec::parse(a.dataset, "--dataset");
  const int64_t n = a.n;
  if (n < 1 || n > 4096) throw InputError("--n must be 1..4096 for a preview, got " + std::to_string(n));
  if (a.seed < 0) throw InputError("--seed must be >= 0");
  if (a.cols < 0 || a.zoom < 0 || a.zoom > 16) throw InputError("--cols must be >= 0 and --zoom 0..16");
  const data::ImageBatch b = data::load_images(spec, n, static_cast<uint64_t>(a.seed));
  if (b.size() == 0) throw InputError("data set '" + a.dataset + "' has no images");
  note_disk_set(cmd, spec, a, b.size());
  prepare_output("--grid", a.grid);
  const int cols = a.cols > 0 ? a.cols : static_cast<int>(std::ceil(std::sqrt(static_cast<double>(b.size()))));
  const int zoom = a.zoom > 0 ? a.zoom : std::max<int>(1, static_cast<int>(64 / b.images.size(3)));
  render::with_caption(render::image_mosaic(b.images, cols, zoom),
                       std::to_string(b.size()) + " images of '" + spec.to_string() + "' (seed " +
                           std::to_string(a.seed) + ")")
      .write_png(a.grid);
  nlohmann::json j = summary(b, b.images.sizes().vec());
  j["dataset"] = spec.to_string();
  j["grid"] = a.grid;
  if (a.json) {
    print_json(j);
  } else {
    print_human(j, "previewed");
    std::cout << "  -> " << a.grid << "\n";
  }
  return 0;
}

// Faces are rendered chunk by chunk straight into the file, so any count fits in memory.
void export_faces(const data::FacesSpec& fs, int64_t n, uint64_t seed, const std::string& path) {
  const int64_t S = fs.size;
  io::write_atomically(path, [&](std::ostream& out) {
    const std::string header = io::npy_header({n, 3, S, S});
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    const int64_t chunk = 4096;
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t m = std::min(chunk, n - start);
      const at::Tensor x = data::render_faces(fs, start, m, seed).images.contiguous();
      out.write(reinterpret_cast<const char*>(x.data_ptr<float>()), static_cast<std::streamsize>(x.numel() * sizeof(float)));
      if (!out) return;
    }
  });
}

int run_export(const DataArgs& a, const CLI::App* cmd) {
  const auto t0 = std::chrono::steady_clock::now();
  const data::ImageDatasetSpec spec = data::ImageDatasetSpec::parse(a.dataset, "--dataset");
  const bool faces = spec.kind == "faces";
  if (faces && a.n <= 0) throw InputError("--n COUNT (> 0) is needed to export the built-in faces");
  if (!faces && a.n != -1 && a.n <= 0) throw InputError("--n must be > 0 (or left out for the whole data set)");
  if (a.seed < 0) throw InputError("--seed must be >= 0");
  const uint64_t seed = static_cast<uint64_t>(a.seed);
  distinct_outputs({{"--out", a.out}, {"--attrs", a.attrs}, {"--labels", a.labels}});
  outputs_not_inputs({{"--out", a.out}, {"--attrs", a.attrs}, {"--labels", a.labels}},
                     {{"--dataset", spec.path}, {"--dataset's labels", spec.labels}});
  // Faces are streamed to disk: the file's size is known before anything is rendered (1e8 faces are 1.1 TiB).
  if (faces) check_disk_room("--out", a.out, static_cast<double>(a.n) * 3.0 * static_cast<double>(spec.faces.size) *
                                                 static_cast<double>(spec.faces.size) * sizeof(float));

  data::ImageBatch b;
  std::vector<int64_t> shape;
  if (faces) {
    // Attributes without rendering; the images are streamed to disk below.
    b.attrs = data::face_attributes(spec.faces, 0, a.n, seed);
    b.attr_names = data::face_attr_names();
    shape = {a.n, 3, spec.faces.size, spec.faces.size};
  } else {
    b = data::load_images(spec, a.n, seed);
    shape = b.images.sizes().vec();
    note_disk_set(cmd, spec, a, shape[0]);
  }
  if (!a.attrs.empty() && b.attr_names.empty())
    throw InputError("data set '" + a.dataset + "' has no attributes (leave out --attrs; a folder takes labels=CSV)");
  if (!a.labels.empty() && !b.has_labels())
    throw InputError("data set '" + a.dataset + "' has no class labels (only mnist and cifar10 have them)");

  prepare_output("--out", a.out);
  prepare_output("--attrs", a.attrs);
  prepare_output("--labels", a.labels);
  if (faces) export_faces(spec.faces, a.n, seed, a.out);
  else io::write_npy(a.out, b.images);
  try {
    if (!a.attrs.empty()) io::write_npy(a.attrs, b.attrs);
    if (!a.labels.empty()) io::write_npy(a.labels, b.labels.to(at::kFloat));
  } catch (...) {  // keep the outputs a consistent set
    std::error_code ec;
    std::filesystem::remove(a.out, ec);
    if (!a.attrs.empty()) std::filesystem::remove(a.attrs, ec);
    throw;
  }
  nlohmann::json j = summary(b, shape);
  j["dataset"] = spec.to_string();
  j["out"] = a.out;
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (a.json) {
    print_json(j);
  } else {
    print_human(j, "exported");
    std::cout << "  -> " << a.out << "\n";
    if (!a.attrs.empty()) std::cout << "  attributes -> " << a.attrs << "\n";
    if (!a.labels.empty()) std::cout << "  labels -> " << a.labels << "\n";
  }
  return 0;
}

const char* kDatasetHelp =
    "faces[:ratio=R,size=S] | mnist:DIR_OR_IDX[,labels=F,split=test] | cifar10:PATH[,split=test] | "
    "folder:DIR[,labels=CSV,size=S,grey] | npy:FILE[,attrs=FILE][,clip]";

}  // namespace

void add_data_command(CLI::App& app, Registry& reg) {
  CLI::App* data = app.add_subcommand("data", "Image data sets: preview and export (built-in faces, MNIST, CIFAR-10, folders, .npy)");
  data->require_subcommand(1);

  auto p = std::make_shared<DataArgs>();
  p->n = 64;  // (export's -1 means the whole data set; a preview shows 64 unless told)
  CLI::App* prev = data->add_subcommand("preview", "Write a grid image of the first images of a data set");
  input_path(prev->add_option("--dataset", p->dataset, kDatasetHelp), InputKind::DataSpec)->required();
  prev->add_option("--n", p->n, "number of images (default 64)");
  prev->add_option("--seed", p->seed, "seed of the built-in faces (default 0; data on disk shows its first images)");
  png_output(prev->add_option("--grid", p->grid, "output PNG"))->required();
  prev->add_option("--cols", p->cols, "images per row (default: a square)");
  prev->add_option("--zoom", p->zoom, "pixel magnification (default: about 64 px per image)");
  prev->add_flag("--json", p->json, "print the result as one JSON object on the last line");
  reg.actions.push_back({prev, [p, prev] { return run_preview(*p, prev); }});

  auto e = std::make_shared<DataArgs>();
  CLI::App* exp = data->add_subcommand("export", "Write images (and attributes/labels) of a data set as .npy arrays");
  input_path(exp->add_option("--dataset", e->dataset, kDatasetHelp), InputKind::DataSpec)->required();
  exp->add_option("--n", e->n, "number of images (required for faces; default: all of a data set on disk)");
  exp->add_option("--seed", e->seed, "seed of the built-in faces (default 0; data on disk: its first images)");
  npy_output(exp->add_option("--out", e->out, "output .npy of images [N,C,H,W] float32 in [-1,1]"))->required();
  npy_output(exp->add_option("--attrs", e->attrs, "output .npy of attributes [N,K] (0/1)"));
  npy_output(exp->add_option("--labels", e->labels, "output .npy of class labels [N] (mnist, cifar10)"));
  exp->add_flag("--json", e->json, "print n, shape, attr_names, attr_means as one JSON object on the last line");
  reg.actions.push_back({exp, [e, exp] { return run_export(*e, exp); }});
}

}  // namespace sims::cli
