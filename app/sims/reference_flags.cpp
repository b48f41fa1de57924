#include "reference_flags.hpp"

#include <ATen/ATen.h>

#include "cli_common.hpp"
#include "common/error.hpp"
#include "data/image_datasets.hpp"
#include "data/toy2d.hpp"
#include "experiment/json_io.hpp"
#include "io/npy.hpp"
#include "metrics/frechet.hpp"

namespace sims::cli {

namespace {

at::Tensor read_images(const std::string& path, const char* what) {
  at::Tensor t = io::read_npy_finite(path);
  if (t.dim() != 4 || (t.size(1) != 1 && t.size(1) != 3))
    throw InputError(std::string(what) + " '" + path + "' must be images [N,C,H,W] with C = 1 or 3, got " +
                     c10::str(t.sizes()));
  return t.to(at::kFloat);
}

void load_images_reference(const ReferenceFlags& f, const std::vector<int64_t>& shape, int64_t n_real, int64_t n,
                           Reference& r) {
  if (f.features.empty()) throw InputError("image models need a feature network: --features NET");
  r.features = metrics::load_feature_net(f.features);
  if (!f.classifier.empty()) r.classifier = metrics::load_classifier(f.classifier);
  if (!f.real.empty()) {
    r.ref.real_images = read_images(f.real, "--real");
  } else if (!f.ref.empty()) {
    r.ref.real_stats = metrics::load_stats_npz(f.ref);
  } else {
    auto spec = data::ImageDatasetSpec::parse(f.real_data, "--real-data");
    r.ref.real_images = data::load_images(spec, n_real, static_cast<uint64_t>(f.real_seed)).images;
    if (spec.kind == "faces")  // generated: another draw is independent of the reference
      r.ref.floor_samples = data::load_images(spec, n, metrics::floor_seed(static_cast<uint64_t>(f.real_seed))).images;
  }
  if (r.ref.real_images.defined()) {
    const auto s = r.ref.real_images.sizes();
    if (s[1] != shape[0] || s[2] != shape[1] || s[3] != shape[2])
      throw InputError("the real images are " + c10::str(s.slice(1)) + " but the model samples " + shape_to_string(shape));
  }
}

void load_points_reference(const ReferenceFlags& f, const std::vector<int64_t>& shape, int64_t n_real, int64_t n,
                           Reference& r) {
  if (!f.features.empty() || !f.classifier.empty())
    throw InputError("--features / --classifier apply to image models; this model samples points " + shape_to_string(shape));
  if (!f.ref.empty()) throw InputError("--ref statistics apply to image models; give --real or --real-data for points");
  if (!f.real.empty()) {
    r.ref.real_points = io::read_npy_finite(f.real);
    if (r.ref.real_points.dim() != 2 || (shape.size() == 1 && r.ref.real_points.size(1) != shape[0]))
      throw InputError("--real '" + f.real + "' must be points [M," + (shape.empty() ? "D" : std::to_string(shape[0])) +
                       "], got " + c10::str(r.ref.real_points.sizes()));
  } else {
    if (shape.size() != 1 || shape[0] != 2)
      throw InputError("--real-data names built-in 2D data; this model samples " + shape_to_string(shape));
    const auto spec = data::Toy2dSpec::named(f.real_data);
    r.ref.real_points = data::sample_toy2d(spec, n_real, static_cast<uint64_t>(f.real_seed));
    r.ref.floor_samples = data::sample_toy2d(spec, n, metrics::floor_seed(static_cast<uint64_t>(f.real_seed)));
  }
}

}  // namespace

void ReferenceFlags::bind(CLI::App* c, bool held_out) {
  const std::string note = held_out ? " (held out: data the base never saw)" : "";
  input_path(c->add_option("--real", real, "real samples .npy (points [M,D] or images [M,C,H,W])" + note));
  input_path(c->add_option("--ref", ref, "reference feature statistics .npz (mu, sigma; images only; no precision/recall)"));
  input_path(c->add_option("--real-data", real_data, "built-in data: a 2D name (gaussian, grid25, ...) or an image data set spec (faces, faces:ratio=0.3, mnist:DIR, ...)" + note), InputKind::DataSpec);
  c->add_option("--n-real", n_real, "real samples drawn with --real-data (default --n)");
  c->add_option("--real-seed", real_seed, "seed of the --real-data samples (default 12345)");
  c->add_option("--metric", metric, "points: w2 (exact W2, default) or energy (energy distance: unbiased, 0 for the "
                                    "data itself; W2 reported beside it)")
      ->check(CLI::IsMember({"w2", "energy"}));
  input_path(c->add_option("--features", features, "feature network for images (see 'sims features --help')"), InputKind::NetSpec);
  input_path(c->add_option("--classifier", classifier, "attribute classifier for images (ratio per attribute)"), InputKind::NetSpec);
}

std::string ReferenceFlags::source() const { return !real.empty() ? real : !ref.empty() ? ref : real_data; }

nlohmann::json file_identity(const std::string& path) {
  return path.empty() ? nlohmann::json(nullptr)
                      : nlohmann::json{{"path", path}, {"content", experiment::file_fingerprint(path)}};
}

Reference load_reference(const ReferenceFlags& f, const std::vector<int64_t>& shape, int64_t n) {
  const int sources = !f.real.empty() + !f.ref.empty() + !f.real_data.empty();
  if (sources != 1) throw InputError("give exactly one of --real REAL.npy, --ref REF.npz, --real-data SPEC");
  if (f.n_real < 0 || f.n_real == 1 || f.n_real > 10'000'000)
    throw InputError("--n-real must be from 2 to 10000000 real samples (0 or not given: --n); got " + std::to_string(f.n_real));
  const int64_t n_real = f.n_real > 0 ? f.n_real : n;
  Reference r;
  if (shape.size() == 3)
    load_images_reference(f, shape, n_real, n, r);
  else
    load_points_reference(f, shape, n_real, n, r);
  r.inputs = {{"real", file_identity(f.real)}, {"ref", file_identity(f.ref)}, {"real_data", f.real_data},
              {"n_real", n_real}, {"real_seed", f.real_seed}, {"features", f.features},
              {"classifier", f.classifier}};
  return r;
}

std::string reference_caption(const Reference& r, const ReferenceFlags& f) {
  const at::Tensor& real = r.ref.real_points.defined() ? r.ref.real_points : r.ref.real_images;
  if (real.defined() && real.dim() > 0)
    return "scored against " + std::to_string(real.size(0)) + " real samples (" + f.source() + ")";
  return "scored against the reference statistics " + f.source();
}

}  // namespace sims::cli
