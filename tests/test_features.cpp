// Feature networks, attribute classifiers and the guidance sweep.
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <catch2/catch.hpp>
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "common/paths.hpp"
#include "common/error.hpp"
#include "data/faces.hpp"
#include "diffusion/denoiser.hpp"
#include "helpers.hpp"
#include "io/zip.hpp"
#include "metrics/features.hpp"
#include "metrics/frechet.hpp"
#include "metrics/sweep.hpp"
#include "metrics/sweep_run.hpp"
#include "metrics/uncertainty.hpp"
#include "sampling/schedule.hpp"
#include "training/checkpoint.hpp"
#include "training/trainer.hpp"

using namespace sims;
using namespace sims::metrics;

namespace {

// One trained network shared by the cases below (training is the slow part).
std::shared_ptr<TrainedCnn> trained_faces(FeatureTrainReport* rep = nullptr) {
  static FeatureTrainReport report;
  static std::shared_ptr<TrainedCnn> net = [] {
    data::FacesSpec spec;
    const auto d = data::render_faces(spec, 0, 4000, 7);
    FeatureTrainConfig cfg;
    cfg.epochs = 3;
    cfg.name = "cnn-test";
    return train_feature_cnn(d, cfg, &report);
  }();
  if (rep) *rep = report;
  return net;
}

}  // namespace

TEST_CASE("feature CNN learns the faces' attributes", "[features]") {
  const auto t0 = std::chrono::steady_clock::now();
  FeatureTrainReport rep;
  auto net = trained_faces(&rep);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO("held-out accuracy " << rep.accuracy << " (group " << rep.attr_accuracy[0] << ", smile " << rep.attr_accuracy[1]
                            << ", glasses " << rep.attr_accuracy[2] << ") in " << secs << " s");
  CHECK(rep.n_heldout == 400);
  REQUIRE(rep.attr_accuracy.size() == 3);
  // group and glasses are learned quickly; smile (a few mouth pixels) needs
  // the full 20k / 4-epoch run of `sims features train` to get high.
  CHECK(rep.attr_accuracy[0] > 0.95);
  CHECK(rep.attr_accuracy[2] > 0.9);
  CHECK(rep.accuracy > 0.8);

  // Fresh faces (another seed): the classifier generalises.
  const auto test = data::render_faces(data::FacesSpec{}, 0, 500, 99);
  std::vector<double> per;
  CHECK(classifier_accuracy(*net, test, &per) > 0.8);
  CHECK(per[0] > 0.95);

  // Features: penultimate layer [N, 128], finite.
  const at::Tensor f = net->features(test.images.narrow(0, 0, 10));
  CHECK(f.sizes() == at::IntArrayRef({10, 128}));
  CHECK(at::isfinite(f).all().item<bool>());
  CHECK(net->name() == "cnn-test");
}

TEST_CASE("an untrained network fails the accuracy bar", "[features]") {
  // One tiny step at a negligible learning rate = untrained weights.
  const auto d = data::render_faces(data::FacesSpec{}, 0, 400, 3);
  FeatureTrainConfig cfg;
  cfg.epochs = 1;
  cfg.lr = 1e-9;
  cfg.batch = 360;
  FeatureTrainReport rep;
  train_feature_cnn(d, cfg, &rep);
  CHECK(rep.attr_accuracy[0] < 0.8);
  CHECK(rep.accuracy < 0.8);
}

TEST_CASE("feature training refuses data beyond the network's limits in the data's words", "[features]") {
  data::ImageBatch d;
  d.attrs = at::zeros({40, 2});
  d.attr_names = {"a", "b"};
  d.images = at::zeros({40, 3, 4, 4});
  CHECK_THROWS_WITH(train_feature_cnn(d, FeatureTrainConfig{}),
                    "the images are 4 pixels wide; a feature network takes 8 to 256 (resize the data set)");
  d.images = at::zeros({40, 3, 16, 16});
  d.attrs = at::zeros({40, 1001});
  d.attr_names.clear();
  CHECK_THROWS_WITH(train_feature_cnn(d, FeatureTrainConfig{}),
                    "the data have 1001 attributes; a feature network learns at most 1000");
}

TEST_CASE("feature CNN round-trips through its checkpoint", "[features]") {
  auto net = trained_faces();
  test::TempDir tmp;
  const std::string path = tmp.file("feat.ckpt");
  save_feature_cnn(path, *net);
  CHECK(std::filesystem::exists(path + ".json"));
  CHECK(is_feature_cnn(path));
  auto back = load_feature_net(path);
  auto clf = load_classifier(path);
  const auto d = data::render_faces(data::FacesSpec{}, 0, 16, 5);
  CHECK(test::max_abs_diff(back->features(d.images), net->features(d.images)) < 1e-5);
  CHECK(clf->attr_names() == data::face_attr_names());
  CHECK(back->name() == "cnn-test");
  CHECK(load_feature_net(path + ",name=other")->name() == "other");
  // Options that describe a TorchScript network would be ignored here: refused, naming the file.
  for (const char* opt : {",size=64", ",range=0:1", ",softmax"}) {
    INFO(opt);
    CHECK_THROWS_WITH(load_feature_net(path + opt), Catch::Contains("is a SIMS feature network"));
    CHECK_THROWS_WITH(load_classifier(path + opt), Catch::Contains("TorchScript networks only"));
  }
  CHECK_THROWS_WITH(load_feature_net(test::fixture("feat_net.pt") + ",size=0x20"), Catch::Contains("bad option"));
  // Metadata that its own checks refuse names the file and the value (the network's configuration named neither;
  // names, labels or a name of the wrong kind were nlohmann's bare words from inside the job).
  auto refused = [&](const char* where, const nlohmann::json& value) {
    // A copy of the network whose metadata is damaged after its checks passed (the copy is not const, so writing
    // through meta()'s reference is defined), saved with its weights as save_feature_cnn writes any network.
    TrainedCnn copy(net->module(), net->meta());
    const_cast<nlohmann::json&>(copy.meta())[nlohmann::json::json_pointer(where)] = value;
    save_feature_cnn(tmp.file("damaged.ckpt"), copy);
    try {
      load_feature_net(tmp.file("damaged.ckpt"));
    } catch (const ModelError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  const std::string named = "'" + tmp.file("damaged.ckpt") + "': feature network metadata is damaged: ";
  CHECK(refused("/net/size", 4) == named + "size is 4, not from 8 to 256");
  CHECK(refused("/net/width", "wide") == named + "width is not a count");
  CHECK(refused("/net/outputs", 2.5) == named + "outputs is not a count");
  CHECK(refused("/net/channels", 2) == named + "channels is 2, not 1 (grey) or 3 (RGB)");
  CHECK(refused("/net/channels", 4) == named + "channels is 4, not 1 (grey) or 3 (RGB)");
  CHECK(refused("/attr_names", 5) == named + "attr_names is not a list");
  CHECK(refused("/attr_names", {"bald", 7}) == named + "attr_names is not text");
  const std::string outputs = std::to_string(data::face_attr_names().size());
  CHECK(refused("/attr_names", {"bald"}) == named + "attr_names has 1 entry for the network's " + outputs + " outputs");
  CHECK(refused("/attr_names", nlohmann::json::array()) ==
        named + "attr_names is missing (the network has " + outputs + " outputs)");
  CHECK(refused("/labels", 3) == named + "labels is not text");
  CHECK(refused("/name", nlohmann::json::object()) == named + "name is not text");
  CHECK(refused("/name", "renamed") == "(accepted)");  // the helper itself loads what is fine
  // Grey and other sizes are converted to the network's input.
  CHECK(net->features(d.images.narrow(1, 0, 1)).size(1) == 128);
  CHECK(net->features(at::zeros({2, 3, 64, 64})).size(0) == 2);
}

namespace {

// Flips one byte in the middle of the archive's largest stored member; returns the member's name.
std::string flip_weight_byte(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const io::ZipRead read = [&](uint64_t o, size_t n) { return o < b.size() ? b.substr(o, n) : std::string(); };
  const auto members = io::zip_members(b.size(), read, [](const std::string& w) { return InputError(w); });
  const io::ZipMember* big = nullptr;
  for (const auto& m : members)
    if (m.method == 0 && (!big || m.usize > big->usize)) big = &m;
  REQUIRE(big);
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekg(static_cast<std::streamoff>(big->data + big->usize / 2));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(big->data + big->usize / 2));
  f.put(static_cast<char>(c ^ 0x10));
  return big->name;
}

}  // namespace

TEST_CASE("a flipped byte in a feature network's weights is refused, not used", "[features]") {
  // torch's and TorchScript's readers do not compare a member's bytes with the CRC-32 of its zip directory: a
  // flipped weight loaded silently. The loaders check them first.
  test::TempDir tmp;
  const std::string ckpt = tmp.file("feat.ckpt");
  save_feature_cnn(ckpt, *trained_faces());
  CHECK(io::zip_crc_mismatch(ckpt).empty());
  REQUIRE_NOTHROW(load_classifier(ckpt));
  const std::string member = flip_weight_byte(ckpt);
  CHECK(io::zip_crc_mismatch(ckpt) == member);
  const std::string words = "'" + ckpt + "' is damaged: its contents do not match their checksum (member '" + member;
  CHECK_THROWS_WITH(load_feature_net(ckpt), Catch::StartsWith(words));
  CHECK_THROWS_WITH(load_classifier(ckpt), Catch::StartsWith(words));
  CHECK_THROWS_AS(load_feature_cnn(ckpt), ModelError);
  // A TorchScript network (written by torch.jit.save in Python) likewise.
  const std::string pt = tmp.file("feat_net.pt");
  std::filesystem::copy_file(test::fixture("feat_net.pt"), pt);
  CHECK(io::zip_crc_mismatch(pt).empty());
  REQUIRE_NOTHROW(load_feature_net(pt));
  const std::string pt_member = flip_weight_byte(pt);
  CHECK_THROWS_WITH(load_feature_net(pt), Catch::Contains("member '" + pt_member + "': flipped or overwritten bytes"));
  // Files that are no zip archive are left to their loaders' own words.
  std::ofstream(tmp.file("short.ckpt")) << "PK";
  CHECK(io::zip_crc_mismatch(tmp.file("short.ckpt")).empty());
  CHECK(io::zip_crc_mismatch(tmp.file("missing.ckpt")).empty());
}

TEST_CASE("attribute ratio of real faces is measured by the classifier", "[features]") {
  auto net = trained_faces();
  for (double ratio : {0.2, 0.8}) {
    data::FacesSpec spec;
    spec.group_ratio = ratio;
    const auto d = data::render_faces(spec, 0, 1000, 1234);
    const double truth = d.attrs.select(1, 0).mean().item<double>();
    const auto r = attribute_ratios(net->predict(d.images));
    INFO("ratio " << ratio << ": true share " << truth << ", measured " << r[0]);
    CHECK(std::abs(r[0] - ratio) < 0.05);
  }
}

TEST_CASE("TorchScript feature networks are validated at load", "[features]") {
  auto net = load_feature_net(test::fixture("feat_net.pt"));
  CHECK(net->name() == "tinyfeat");
  CHECK(net->dim() == 8);
  // Grey 20x20 images: repeated to RGB and resized to the declared 32.
  const at::Tensor f = net->features(at::rand({5, 1, 20, 20}) * 2 - 1);
  CHECK(f.sizes() == at::IntArrayRef({5, 8}));
  CHECK(load_feature_net(test::fixture("feat_net.pt") + ",name=x")->name() == "x");
  auto clf = load_classifier(test::fixture("feat_net.pt"));
  CHECK(clf->attr_names().size() == 8);
  CHECK(clf->predict(at::zeros({3, 3, 32, 32})).sizes() == at::IntArrayRef({3, 8}));

  CHECK_THROWS_AS(load_feature_net(test::fixture("bad_feat_net.pt")), ModelError);
  CHECK_THROWS_WITH(load_feature_net(test::fixture("bad_feat_net.pt")), Catch::Contains("[N,F]"));
  CHECK_THROWS_AS(load_feature_net(test::fixture("no_such_net.pt")), InputError);
  CHECK_THROWS_AS(load_feature_net(test::fixture("not_a_model.pt")), ModelError);
  // sims.json values of the wrong kind or out of range name the file and the value (nlohmann's bare words before).
  CHECK_THROWS_WITH(load_feature_net(test::fixture("feat_net_bad_labels.pt")),
                    "'" + test::fixture("feat_net_bad_labels.pt") + "': bad sims.json metadata: labels is not text");
  CHECK_THROWS_WITH(load_feature_net(test::fixture("feat_net_bad_range.pt")),
                    Catch::EndsWith("feat_net_bad_range.pt': bad sims.json metadata: input_range is not two numbers "
                                    "[lo, hi] with lo < hi"));
  CHECK(load_feature_net(test::fixture("feat_net_bad_range.pt") + ",range=0:1")->dim() == 8);  // replaced, not read
  CHECK(load_feature_net(test::fixture("feat_net_bad_labels.pt") + ",softmax")->dim() == 8);  // the same for labels
  // A network that fails inside the TorchScript interpreter (its linear layer wants 32-pixel images): one line that
  // names the file and the error raised, not the interpreter's 24-line traceback (its own error type, which the
  // load let through whole).
  try {
    load_feature_net(test::fixture("feat_net.pt") + ",size=16");
    FAIL("a 16-pixel dummy batch was accepted");
  } catch (const ModelError& e) {
    const std::string m = e.what();
    CHECK(m.find('\n') == std::string::npos);
    CHECK_THAT(m, Catch::Contains("feat_net.pt' fails on a dummy batch [2,3,16,16]: RuntimeError: mat1 and mat2"));
  }
  CHECK_THROWS_WITH(load_feature_net(test::fixture("feat_net_list_meta.pt")),
                    Catch::EndsWith("feat_net_list_meta.pt': bad sims.json metadata: it is not a JSON object"));
  CHECK_THROWS_AS(load_feature_net(test::fixture("feat_net.pt") + ",bogus=1"), InputError);
  // Wrong inputs are refused clearly.
  CHECK_THROWS_AS(net->features(at::zeros({2, 2, 32, 32})), InputError);
  at::Tensor nan = at::zeros({2, 3, 32, 32});
  nan[1][0][0][0] = NAN;
  CHECK_THROWS_AS(net->features(nan), InputError);
}

TEST_CASE("feature extraction reports progress and can be cancelled", "[features]") {
  auto net = load_feature_net(test::fixture("feat_net.pt"));
  std::vector<int64_t> seen;
  BatchOptions o;
  o.batch = 4;
  o.progress = [&](int64_t done, int64_t total) {
    seen.push_back(done);
    return total == 10;
  };
  CHECK(net->features(at::zeros({10, 3, 32, 32}), o).size(0) == 10);
  CHECK((seen == std::vector<int64_t>{4, 8, 10}));
  std::atomic<bool> cancel{true};
  o.progress = {};
  o.cancel = &cancel;
  CHECK_THROWS_AS(net->features(at::zeros({10, 3, 32, 32}), o), Cancelled);
}

TEST_CASE("sweep over omega on the shipped 2D models", "[features][sweep]") {
  const std::string dir = sims::asset_path("models/");
  DenoiserPtr base = load_denoiser(dir + "gaussian-base.ckpt");
  DenoiserPtr aux = load_denoiser(dir + "gaussian-aux.ckpt");
  SweepConfig cfg;
  cfg.omegas = {0.0, 1.0, 2.0};
  cfg.intervals = {{0.0, INFINITY}, {0.5, 10.0}};
  cfg.sampler.steps = 10;
  cfg.n = 300;
  cfg.seed = 4;
  SweepReference ref;
  ref.real_points = at::randn({300, 2}, at::kDouble);
  size_t calls = 0;
  auto res = run_sweep(base, {{"aux", aux}}, cfg, ref, nullptr, nullptr, [&](size_t, size_t total, const std::string&) {
    ++calls;
    return total == 6;
  });
  REQUIRE(res.rows.size() == 6);
  CHECK(res.metric == "w2");
  CHECK(calls >= 6);
  for (const auto& r : res.rows) {
    INFO("omega " << r.omega << " interval " << r.lo << ":" << r.hi);
    CHECK(std::isfinite(r.value));
    CHECK(r.value > 0);
    CHECK(r.precision >= 0);
    CHECK(r.recall <= 1);
    Guidance g{r.omega, r.lo, r.hi};
    CHECK(r.nfe == nfe_per_sample(cfg.sampler, g, r.omega != 0.0));
  }
  CHECK(res.rows[0].nfe == 19);  // ω = 0: base only, 2·10 − 1
  CHECK(res.rows[1].nfe == 38);  // full interval: base + aux
  // Same seed for every ω: the ω = 0 rows of both intervals are the same samples.
  CHECK(test::max_abs_diff(res.rows[0].kept, res.rows[3].kept) == 0);
  CHECK(res.rows[0].value == res.rows[3].value);
  const std::string csv = res.to_csv();
  // The long-standing columns first; nfe_effective (equal to nfe here: no shared encoder) comes last.
  CHECK(csv.rfind("omega,interval_lo,interval_hi,aux,w2,precision,recall,nfe,seconds,nfe_effective\n", 0) == 0);
  CHECK(res.rows[1].nfe_effective == 38);
  CHECK(res.to_json()["rows"].size() == 6);

  std::atomic<bool> cancel{true};
  CHECK_THROWS_AS(run_sweep(base, {{"aux", aux}}, cfg, ref, nullptr, nullptr, {}, &cancel), Cancelled);
  SweepReference bad;
  bad.real_points = at::zeros({10, 3});
  CHECK_THROWS_AS(run_sweep(base, {{"aux", aux}}, cfg, bad, nullptr, nullptr), InputError);
}

TEST_CASE("sweep on images uses FD of the feature network", "[features][sweep]") {
  DenoiserPtr base = load_denoiser(test::fixture("conv_image.pt"));
  SweepConfig cfg;
  cfg.omegas = {0.0, 1.0};
  cfg.sampler.steps = 4;
  cfg.n = 12;
  cfg.batch = 5;
  cfg.pr_k = 3;
  SweepReference ref;
  ref.real_images = at::rand({20, 3, 32, 32}) * 2 - 1;
  auto feats = load_feature_net(test::fixture("feat_net.pt"));
  auto clf = load_classifier(test::fixture("feat_net.pt"));
  auto res = run_sweep(base, {{"aux", base}}, cfg, ref, feats.get(), clf.get());
  REQUIRE(res.rows.size() == 2);
  CHECK(res.metric == "fd");
  CHECK(res.features == "tinyfeat");
  for (const auto& r : res.rows) {
    CHECK(std::isfinite(r.value));
    CHECK(r.ratios.size() == 8);
    CHECK(r.kept.size(0) == 8);
  }
  CHECK(res.rows[0].nfe == 7);
  CHECK_THROWS_AS(run_sweep(base, {{"aux", base}}, cfg, ref, nullptr, nullptr), InputError);
}

TEST_CASE("image sweeps pair the gain over omega = 0: FD replicates of the same resamples, also after a resume",
          "[features][sweep]") {
  // A base and its auxiliary: a small U-Net trained a few steps, and a copy fine-tuned on other images.
  NetConfig net;
  net.type = "unet", net.channels = 3, net.resolution = 32, net.model_channels = 8, net.channel_mult = {1, 1, 1},
  net.num_blocks = 1, net.attn_resolutions = {};  // the bottleneck's attention at 8x8, not over 32x32 positions: fast
  TrainConfig tc;
  tc.budget = 96, tc.batch = 16, tc.lr = 2e-3, tc.lr_rampup = 0, tc.seed = 5;
  const auto images = [](int64_t n, uint64_t seed) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    return at::randn({n, 3, 32, 32}, gen).mul_(0.5f).clamp_(-1, 1);
  };
  TrainState b = TrainState::create(net, tc);
  REQUIRE(train(b, images(48, 1)) == TrainOutcome::Finished);
  TrainState a = TrainState::fork(b, tc), a2 = TrainState::fork(b, tc);
  REQUIRE(train(a, images(48, 2)) == TrainOutcome::Finished);
  REQUIRE(train(a2, images(48, 3)) == TrainOutcome::Finished);
  const DenoiserPtr base = NetworkDenoiser::from_state(b, "base"), aux = NetworkDenoiser::from_state(a, "aux"),
                    aux2 = NetworkDenoiser::from_state(a2, "aux2");

  auto feats = load_feature_net(test::fixture("feat_net.pt"));
  SweepConfig cfg;
  cfg.omegas = {0.0, 2.0};
  cfg.sampler.steps = 4;
  cfg.n = 24, cfg.batch = 12, cfg.pr_k = 3, cfg.ci = 40, cfg.seed = 3, cfg.kid_subsets = 0;
  std::map<std::pair<std::string, double>, at::Tensor> f;
  cfg.on_images = [&](SweepRow& r, const at::Tensor&, const at::Tensor& features, const at::Tensor&) {
    f[{r.aux, r.omega}] = features.clone();
  };
  SweepReference ref;
  ref.real_images = images(40, 9);
  SweepResult res = run_sweep(base, {{"aux", aux}, {"aux2", aux2}}, cfg, ref, feats.get(), nullptr);
  add_paired_gains(res, cfg, ref);
  REQUIRE(res.rows.size() == 4);
  const SweepRow &z = res.rows[0], &r = res.rows[1];
  REQUIRE(z.replicates.size() == 40);
  REQUIRE(r.replicates.size() == 40);
  REQUIRE(std::isfinite(r.gain_lo));
  CHECK(r.gain == Approx(z.value - r.value));
  CHECK(r.gain_estimate(z, cfg.ci_level).method == "paired bootstrap");

  // The interval is that of the FD difference bootstrapped directly over the same resamples of the noise indices.
  const auto fd = [&](const at::Tensor& x, const std::vector<int64_t>& idx) {
    return frechet_distance(stats_of_features(x.index_select(0, at::tensor(idx, at::kLong)), "f"), ref.real_stats);
  };
  const auto feat = [&](const char* a, double w) { return f.at({a, w}); };
  const Estimate direct = bootstrap(cfg.n, [&](const std::vector<int64_t>& idx) {
    return fd(feat("aux", 0.0), idx) - fd(feat("aux", 2.0), idx);
  }, cfg.ci, cfg.ci_level, cfg.seed, BootstrapInterval::Normal);
  CHECK(r.gain_lo == Approx(direct.lo).epsilon(1e-9));
  CHECK(r.gain_hi == Approx(direct.hi).epsilon(1e-9));
  // The rows start from the same noise, so their FDs move together: the paired interval is the narrower one.
  const Estimate quad = difference(z.value_estimate(cfg.ci_level), r.value_estimate(cfg.ci_level));
  INFO("paired " << r.gain_lo << ".." << r.gain_hi << ", quadrature " << quad.lo << ".." << quad.hi);
  CHECK(r.gain_hi - r.gain_lo < quad.hi - quad.lo);

  // Two auxiliaries: the second one's row against the first's at ω = 2, paired the same way.
  const nlohmann::json between = res.aux_differences();
  REQUIRE(between.size() == 1);
  const SweepRow& r2 = res.rows[3];
  CHECK(between[0]["omega"].get<double>() == 2.0);
  CHECK(between[0]["other"] == "aux2");
  CHECK(between[0]["difference"].get<double>() == Approx(r2.value - r.value));
  const Estimate direct2 = bootstrap(cfg.n, [&](const std::vector<int64_t>& idx) {
    return fd(feat("aux2", 2.0), idx) - fd(feat("aux", 2.0), idx);
  }, cfg.ci, cfg.ci_level, cfg.seed, BootstrapInterval::Normal);
  CHECK(between[0]["difference_lo"].get<double>() == Approx(direct2.lo).epsilon(1e-9));
  CHECK(between[0]["difference_hi"].get<double>() == Approx(direct2.hi).epsilon(1e-9));
  INFO(between[0]["text"].get<std::string>());
  CHECK(between[0]["text"].get<std::string>().find("aux aux2 against aux at omega = 2: fd ") == 0);
  CHECK(between[0]["text"].get<std::string>().find("(paired bootstrap, 95 %)") != std::string::npos);

  // A run folder keeps the replicates: a second run reads every row back and pairs them the same way.
  test::TempDir dir;
  SweepRunOptions so;
  so.out_dir = dir.file("sw");
  cfg.on_images = nullptr;
  const SweepResult first = run_sweep_folder(base, {{"aux", aux}, {"aux2", aux2}}, cfg, ref, feats.get(), nullptr, so);
  const SweepResult again = run_sweep_folder(base, {{"aux", aux}, {"aux2", aux2}}, cfg, ref, feats.get(), nullptr, so);
  REQUIRE(again.rows.size() == 4);
  CHECK(again.aux_differences() == first.aux_differences());
  CHECK(first.aux_differences()[0]["difference_lo"].get<double>() == Approx(direct2.lo).epsilon(1e-9));
  CHECK(again.rows[1].seconds == first.rows[1].seconds);  // read back, not sampled again
  CHECK(first.rows[1].gain_lo == Approx(r.gain_lo).epsilon(1e-9));
  CHECK(again.rows[1].gain_lo == first.rows[1].gain_lo);
  CHECK(again.rows[1].gain_hi == first.rows[1].gain_hi);

  // A row stored without replicates (a folder of an older version): no row is paired, all fall back to quadrature.
  const std::string marker = so.out_dir + "/stages/row_aux2_0-inf_w2.json";
  nlohmann::json m;
  std::ifstream(marker) >> m;
  REQUIRE(m["result"]["replicates"].size() == 40);
  const auto store = [&](const nlohmann::json& j) { std::ofstream(marker) << j.dump(); };
  nlohmann::json old = m;
  old["result"].erase("replicates");
  store(old);
  const SweepResult older = run_sweep_folder(base, {{"aux", aux}, {"aux2", aux2}}, cfg, ref, feats.get(), nullptr, so);
  REQUIRE(older.rows.size() == 4);
  CHECK(std::isnan(older.rows[1].gain_lo));
  CHECK(std::isnan(older.rows[3].gain_lo));
  CHECK(older.rows[1].gain_estimate(older.rows[0], cfg.ci_level).method == "difference");
  // Damaged replicates are refused with the row's name.
  for (const nlohmann::json& bad :
       {nlohmann::json("x"), nlohmann::json::array({1.0, 2.0}), nlohmann::json(std::vector<std::string>(40, "x"))}) {
    nlohmann::json d = m;
    d["result"]["replicates"] = bad;
    store(d);
    try {
      run_sweep_folder(base, {{"aux", aux}, {"aux2", aux2}}, cfg, ref, feats.get(), nullptr, so);
      FAIL("damaged replicates accepted: " << bad.dump().substr(0, 40));
    } catch (const InputError& e) {
      CHECK(std::string(e.what()).find("a stored sweep row is damaged: row_aux2_0-inf_w2") != std::string::npos);
    }
  }
}

TEST_CASE("sweep.csv carries KID beside FD when the rows have it", "[features]") {
  sims::metrics::SweepResult res;
  res.metric = "fd";
  res.rows.resize(2);
  res.rows[0].omega = 0, res.rows[0].value = 12.5;
  res.rows[1].omega = 1, res.rows[1].value = 10.25;
  CHECK(res.to_csv().find("kid") == std::string::npos);  // no KID computed: no columns
  res.rows[0].extra["kid"] = 0.0125, res.rows[0].extra["kid_std"] = 0.002;
  res.rows[1].extra["kid"] = 0.0075, res.rows[1].extra["kid_std"] = 0.001;
  const std::string csv = res.to_csv();
  const std::string header = csv.substr(0, csv.find('\n'));
  CHECK(header.size() > 12);
  // Last, so older readers keep their columns; a row without KID's interval (fewer than 20 samples) leaves it empty.
  CHECK(header.rfind(",kid,kid_std,kid_lo,kid_hi") == header.size() - 26);
  res.rows[1].extra["kid_lo"] = 0.005, res.rows[1].extra["kid_hi"] = 0.01;
  const std::string with_ci = res.to_csv();
  CHECK(with_ci.find(",0.0125,0.002,,\n") != std::string::npos);
  CHECK(with_ci.find(",0.0075,0.001,0.005,0.01\n") != std::string::npos);
}
