// Image self-consuming loops and the four scenarios (core/loops/image_loop,
// core/loops/scenarios) at toy sizes: a tiny U-Net on 16x16 faces, budgets
// of a few batches, scored with the shipped faces CNN.
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "helpers.hpp"
#include "io/npy.hpp"
#include "loops/image_loop.hpp"
#include "loops/run_caption.hpp"
#include "loops/scenarios.hpp"
#include "metrics/features.hpp"
#include "metrics/frechet.hpp"
#include "metrics/uncertainty.hpp"

using namespace sims;
using namespace sims::loops;
namespace fs = std::filesystem;

namespace {

NetConfig tiny_net() {
  NetConfig n = default_image_net();
  n.resolution = 16;
  n.model_channels = 8;
  n.channel_mult = {1, 2};
  n.attn_resolutions = {8};
  n.dropout = 0.1;  // exercises the seeded dropout of every training stage
  return n;
}

ImageLoopConfig tiny_loop() {
  ImageLoopConfig c;
  c.data = data::ImageDatasetSpec::parse("faces:size=16");
  c.kind = LoopKind::Augment;
  c.n_real = 24;
  c.n_synth = 12;
  c.generations = 2;
  c.seed = 7;
  c.algorithm = LoopAlgorithm::Sims;
  c.omega = 1.5;
  c.n_aux = 8;
  c.base_images = 32;
  c.aux_images = 16;
  c.net = tiny_net();
  c.train.batch = 8;
  c.train.lr = 2e-3;
  c.train.lr_rampup = 0;
  c.sampler.steps = 3;
  c.chunk = 5;  // several chunks per sampling stage
  c.n_eval = 12;
  c.pr_k = 3;
  c.save_images = 4;
  return c;
}

// The shipped faces CNN, loaded once for all cases.
metrics::FeatureNetPtr faces_cnn() {
  static metrics::FeatureNetPtr net = metrics::load_feature_net(default_image_features());
  return net;
}

ImageLoopRunOptions options(const std::string& dir) {
  ImageLoopRunOptions o;
  o.out_dir = dir;
  o.features = faces_cnn();
  return o;
}

}  // namespace

TEST_CASE("image loop: two SIMS generations write the run folder", "[imageloop]") {
  test::TempDir tmp;
  const std::string d = tmp.file("run");
  ImageLoopConfig cfg = tiny_loop();
  cfg.keep_models = true;
  std::vector<std::string> phases;
  std::vector<nlohmann::json> rows;
  ImageLoopRunOptions o = options(d);
  o.on_progress = [&](const experiment::Progress& p) {
    const std::string phase = p.stage.substr(p.stage.find(": ") + 2);  // "generation t/G: PHASE"
    if (phases.empty() || phases.back() != phase) phases.push_back(phase);
    CHECK(p.fraction() >= 0.0);
    CHECK(p.fraction() <= 1.0);
    if (!p.row.is_null()) rows.push_back(p.row);
  };
  const ImageLoopResult r = run_image_loop(cfg, o);
  // Each finished generation's progress row carries the ratio with its interval, as the result does.
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].at("ratio_lo").get<double>() == 1.0);
  CHECK(rows[1].at("ratio_hi").get<double>() == Approx(r.ratio_hi[1]));
  REQUIRE(r.fd.size() == 2);
  CHECK(r.metric == "FD_cnn-faces");
  CHECK(std::isfinite(r.fd[0]));
  CHECK(r.fd[0] > 0);
  CHECK(r.ratio[0] == 1.0);
  CHECK(r.ratio[1] == Approx(r.fd[1] / r.fd[0]));
  REQUIRE(r.fd_base.size() == 2);
  CHECK(std::isfinite(r.fd_base[1]));
  REQUIRE(r.fd_base_lo.size() == 2);  // with its bootstrap interval
  CHECK(r.fd_base_lo[1] < r.fd_base[1]);
  CHECK(r.fd_base[1] < r.fd_base_hi[1]);
  CHECK(r.precision[0] >= 0.0);
  CHECK(r.recall[1] <= 1.0);
  REQUIRE(r.attr_names == std::vector<std::string>{"group", "smile", "glasses"});
  REQUIRE(r.attr_ratio.size() == 2);
  CHECK(r.attr_ratio[1].size() == 3);
  CHECK(r.real_ratio.size() == 3);
  // The reference's shares with their Wilson intervals over its 12 images (as many as the samples scored).
  CHECK(r.n_real == 12);
  const nlohmann::json rj = r.to_json();
  CHECK(rj.at("n_real_images").get<int64_t>() == 12);
  for (size_t k = 0; k < 3; ++k) {
    const metrics::Estimate w = metrics::share_interval(r.real_ratio[k], 12);
    CHECK(rj.at("real_ratio_lo")[k].get<double>() == Approx(w.lo));
    CHECK(rj.at("real_ratio_hi")[k].get<double>() == Approx(w.hi));
    CHECK(w.hi - w.lo > 0.2);  // 12 images: a share known to within tens of points
  }
  CHECK(r.train_images == std::vector<double>{32, 32});
  CHECK(std::count(phases.begin(), phases.end(), "done") == 2);
  CHECK(std::find(phases.begin(), phases.end(), "train aux") != phases.end());

  for (const char* f : {"run.json", "stages/generation-0002.json", "metrics.json", "metrics.csv", "samples/gen-0001.png",
                        "samples/overview.png", "samples/gen-0002.npy", "models/gen-0002-base.ckpt", "models/gen-0002-aux.ckpt",
                        "state/pool-0002.npy"})
    CHECK(fs::exists(d + "/" + f));
  // The sample figures carry a caption with the run's settings: taller than the mosaic (one row of 4 images,
  // 16 px at zoom 2), the overview than its title and two rows.
  const auto png_height = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    unsigned char h[24] = {};
    in.read(reinterpret_cast<char*>(h), 24);
    return (h[20] << 24) | (h[21] << 16) | (h[22] << 8) | h[23];
  };
  CHECK(png_height(d + "/samples/gen-0001.png") > 32 + 20);
  CHECK(png_height(d + "/samples/overview.png") > 2 * 32 + 60);
  CHECK_FALSE(fs::exists(d + "/state/pool-0001.npy"));
  CHECK_FALSE(fs::exists(d + "/state/gen-0002"));
  const at::Tensor s = io::read_npy(d + "/samples/gen-0002.npy");
  CHECK(s.sizes() == at::IntArrayRef({4, 3, 16, 16}));
  CHECK(s.abs().max().item<double>() <= 1.0);
  CHECK(io::read_npy(d + "/state/pool-0002.npy").size(0) == 12);
  std::ifstream csv(d + "/metrics.csv");
  std::string header;
  std::getline(csv, header);
  CHECK(header.rfind("generation,FD_cnn-faces,FD_cnn-faces_lo,FD_cnn-faces_hi,kid,kid_std,ratio,precision,recall,ratio_group", 0) == 0);
  // Every generation's FD carries its bootstrap interval and KID; the verdict compares the last with the first.
  REQUIRE(r.fd_lo.size() == 2);
  for (size_t t = 0; t < 2; ++t) {
    CHECK(r.fd_lo[t] <= r.fd[t]);
    CHECK(r.fd_hi[t] > r.fd[t]);
    CHECK(std::isfinite(r.kid[t]));
    // This loop scores as many samples as its reference holds: every KID subset is both sets whole, all alike, and
    // no spread is reported (it read 1e-13; with a larger reference the reference's subsets vary and one is).
    CHECK(std::isnan(r.kid_std[t]));
    // 12 samples: fewer than 10 disjoint subsets of 2 rows, so KID has no interval (NaN, null in the JSON).
    CHECK(std::isnan(r.kid_lo[t]));
    // Precision and recall with their bootstrap intervals over the points, inside [0, 1].
    CHECK(0 <= r.precision_lo[t]);
    CHECK(r.precision_lo[t] <= r.precision[t]);
    CHECK(r.precision[t] <= r.precision_hi[t]);
    CHECK(r.precision_hi[t] <= 1);
    CHECK(0 <= r.recall_lo[t]);
    CHECK(r.recall_lo[t] <= r.recall[t]);
    CHECK(r.recall[t] <= r.recall_hi[t]);
    CHECK(r.recall_hi[t] <= 1);
  }
  CHECK(header.find(",precision_lo,precision_hi,recall_lo,recall_hi") != std::string::npos);
  CHECK(r.verdict().rfind("FD_cnn-faces at generation 2: ", 0) == 0);
  // Every score keeps its resampled FDs; the drift verdict stays in quadrature (each generation samples from its
  // own noise: nothing to pair).
  REQUIRE(r.fd_replicates.size() == 2);
  CHECK(r.fd_replicates[1].size() == 100);
  CHECK(r.verdict().find("half-widths in quadrature") != std::string::npos);
  CHECK(r.verdict().find("paired") == std::string::npos);
  // The two scores could be paired by index (as many images), but their noise differs: the verdict's change is
  // the quadrature one, not fd_change's.
  const metrics::Estimate quad = metrics::difference(r.fd_score(1).fd_estimate(), r.fd_score(0).fd_estimate());
  CHECK(fd_change(r.fd_score(0), r.fd_score(1)).method == "paired bootstrap");
  std::ostringstream half;
  half << " ± " << std::setprecision(2) << quad.half_width() << "; 95 % bootstrap intervals";
  CHECK(r.verdict().find(half.str()) != std::string::npos);
  CHECK(r.to_json().at("fd_hi").size() == 2);
  // The ratio to generation 1 with Fieller's interval, [1, 1] for generation 1: at its ends r, FD_2 - r FD_1 is just
  // at its noise (the half-widths h in quadrature), and it holds 1 exactly when the verdict's change holds 0. Every
  // share with Wilson's interval over the 12 scored samples, in the JSON and the CSV.
  CHECK(r.ratio_lo[0] == 1.0);
  CHECK(r.ratio_hi[0] == 1.0);
  const double h1 = (r.fd_hi[0] - r.fd_lo[0]) / 2, h2 = (r.fd_hi[1] - r.fd_lo[1]) / 2;
  for (double end : {r.ratio_lo[1], r.ratio_hi[1]})
    CHECK(std::pow(r.fd[1] - end * r.fd[0], 2) == Approx(h2 * h2 + end * end * h1 * h1).epsilon(1e-9));
  CHECK(r.ratio_lo[1] < r.ratio[1]);
  CHECK(r.ratio[1] < r.ratio_hi[1]);
  CHECK((r.ratio_lo[1] <= 1 && 1 <= r.ratio_hi[1]) == !metrics::significant(quad));
  REQUIRE(r.attr_names.size() == 3);
  const metrics::Estimate share = metrics::share_interval(r.attr_ratio[1][0], 12);
  CHECK(r.share(1, 0).lo == Approx(share.lo));
  CHECK(r.share(1, 0).hi == Approx(share.hi));
  CHECK(r.to_json().at("attr_ratio_hi").at(r.attr_names[0]).at(1).get<double>() == Approx(share.hi));
  CHECK(header.find(",kid_lo,kid_hi,ratio_lo,ratio_hi,ratio_" + r.attr_names[0] + "_lo,ratio_" + r.attr_names[0] + "_hi") !=
        std::string::npos);
  const ImageLoopConfig back = load_image_loop_config(d);
  CHECK(back.to_json() == cfg.to_json());

  // Standard training with an accumulating pool: the pool grows by n_synth.
  ImageLoopConfig st = tiny_loop();
  st.algorithm = LoopAlgorithm::Standard;
  st.accumulate = true;
  st.kind = LoopKind::FullySynthetic;
  st.generations = 3;
  st.save_images = 0;
  const ImageLoopResult rs = run_image_loop(st, options(tmp.file("standard")));
  CHECK(rs.fd.size() == 3);
  CHECK(rs.fd_base.empty());
  CHECK(io::read_npy(tmp.file("standard") + "/state/pool-0003.npy").size(0) == 36);
  CHECK_FALSE(fs::exists(tmp.file("standard") + "/samples/gen-0001.png"));
}

TEST_CASE("image loop: the figures' caption names every setting it shows", "[imageloop]") {
  const std::string s = run_settings(tiny_loop().to_json());
  INFO(s);
  CHECK(s.find('?') == std::string::npos);
  CHECK(s.find("U-Nets on 'faces") != std::string::npos);
  CHECK(s.find("2\u00a0generations") != std::string::npos);
}

TEST_CASE("image loop: a stopped and resumed run equals an uninterrupted one", "[imageloop]") {
  test::TempDir tmp;
  ImageLoopConfig cfg = tiny_loop();
  cfg.warm_start = WarmStart::Previous;  // generation 2 starts from generation 1's stored base
  const ImageLoopResult full = run_image_loop(cfg, options(tmp.file("a")));

  const std::string b = tmp.file("b");
  std::atomic<bool> stop{false};
  // 1. Stopped inside generation 1's sampling, after its first chunks.
  ImageLoopRunOptions o = options(b);
  o.cancel = &stop;
  o.on_progress = [&](const experiment::Progress& p) {
    if (p.stage == "generation 1/2: sample" && p.message.find("samples 5/") != std::string::npos) stop = true;
  };
  CHECK_THROWS_AS(run_image_loop(cfg, o), Cancelled);
  CHECK(fs::exists(b + "/state/gen-0001/aux.ckpt"));
  CHECK(fs::exists(b + "/state/gen-0001/out.npy.partial"));
  CHECK_FALSE(fs::exists(b + "/stages/generation-0001.json"));

  // Other settings on the same folder: refused, naming the setting.
  ImageLoopConfig other = cfg;
  other.omega = 0.5;
  ImageLoopRunOptions ro = options(b);
  CHECK_THROWS_WITH(run_image_loop(other, ro), Catch::Contains("omega = "));

  // 2. The same settings continue; stopped again while generation 2 trains its auxiliary.
  stop = false;
  o.on_progress = [&](const experiment::Progress& p) {
    if (p.stage == "generation 2/2: train aux") stop = true;
  };
  CHECK_THROWS_AS(run_image_loop(cfg, o), Cancelled);
  CHECK(fs::exists(b + "/state/gen-0002/base.ckpt"));
  CHECK(fs::exists(b + "/state/base-0001.ckpt"));

  // 3. Resumed to the end.
  stop = false;
  o.on_progress = nullptr;
  const ImageLoopResult resumed = run_image_loop(load_image_loop_config(b), o);
  CHECK(resumed.resumed_from == 1);
  REQUIRE(resumed.fd.size() == 2);
  for (size_t t = 0; t < 2; ++t) {
    CHECK(resumed.fd[t] == full.fd[t]);
    CHECK(resumed.fd_lo[t] == Approx(full.fd_lo[t]));  // generation 1's read back from its record
    CHECK(resumed.kid[t] == Approx(full.kid[t]));
    CHECK(resumed.fd_base[t] == full.fd_base[t]);
    CHECK(resumed.fd_base_hi[t] == Approx(full.fd_base_hi[t]));
    CHECK(resumed.precision[t] == full.precision[t]);
    CHECK(resumed.precision_lo[t] == Approx(full.precision_lo[t]));
    CHECK(resumed.recall_hi[t] == Approx(full.recall_hi[t]));
    CHECK(resumed.attr_ratio[t] == full.attr_ratio[t]);
    CHECK(resumed.fd_replicates[t] == full.fd_replicates[t]);  // generation 1's from its record
  }
  CHECK(resumed.verdict() == full.verdict());
  for (const char* f : {"/samples/gen-0001.npy", "/samples/gen-0002.npy", "/state/pool-0002.npy"})
    CHECK(test::max_abs_diff(io::read_npy(tmp.file("a") + f), io::read_npy(b + f)) == 0.0);
  CHECK_FALSE(fs::exists(b + "/state/base-0001.ckpt"));

  // More generations later: only the new one runs.
  ImageLoopConfig more = cfg;
  more.generations = 3;
  const ImageLoopResult r3 = run_image_loop(more, ro);
  CHECK(r3.resumed_from == 2);
  CHECK(r3.fd.size() == 3);
  CHECK(r3.fd[1] == full.fd[1]);
}

TEST_CASE("image loop: bad settings are refused with a clear message", "[imageloop]") {
  test::TempDir tmp;
  auto refuses = [&](const std::function<void(ImageLoopConfig&)>& edit, const std::string& text) {
    ImageLoopConfig c = tiny_loop();
    edit(c);
    CHECK_THROWS_WITH(validate(c), Catch::Contains(text));
  };
  refuses([](ImageLoopConfig& c) { c.n_real = 1; }, "--n-real");
  refuses([](ImageLoopConfig& c) { c.kind = LoopKind::FullySynthetic, c.n_synth = 0; }, "--n-synth");
  refuses([](ImageLoopConfig& c) { c.generations = 0; }, "--generations");
  refuses([](ImageLoopConfig& c) { c.first_images = 0; }, "--init");
  refuses([](ImageLoopConfig& c) { c.net.type = "mlp"; }, "U-Net");
  refuses([](ImageLoopConfig& c) { c.net.model_channels = 6; }, "model_channels");
  refuses([](ImageLoopConfig& c) { c.n_eval = 1; }, "--n-eval");
  refuses([](ImageLoopConfig& c) { c.interval_lo = 2, c.interval_hi = 1; }, "--interval");
  refuses([](ImageLoopConfig& c) { c.sampler.steps = 0; }, "--steps");
  refuses([](ImageLoopConfig& c) { c.features.clear(); }, "--features");
  CHECK_THROWS_AS(parse_warm_start("sometimes"), InputError);
  CHECK_THROWS_WITH(ImageLoopConfig::from_json({{"family", "diffusion2d"}}), Catch::Contains("not an image loop"));

  // Found when the loop starts: the data do not fit the network, no folder.
  ImageLoopConfig c = tiny_loop();
  c.data = data::ImageDatasetSpec::parse("faces:size=32");
  CHECK_THROWS_WITH(run_image_loop(c, options(tmp.file("x"))), Catch::Contains("network models 3x16x16"));
  CHECK_THROWS_WITH(run_image_loop(tiny_loop(), ImageLoopRunOptions{}), Catch::Contains("run folder"));
  c = tiny_loop();
  c.init = tmp.file("missing.ckpt");
  CHECK_THROWS_AS(run_image_loop(c, options(tmp.file("y"))), Error);
}

TEST_CASE("four scenarios: four curves over |D_p|, stages reused on a re-run", "[imageloop]") {
  test::TempDir tmp;
  ScenariosConfig c;
  c.data = data::ImageDatasetSpec::parse("faces:size=16");
  c.n_real = 16;
  c.pollution = {0.0, 0.5, 1.0};
  c.seed = 3;
  c.base_images = 32;
  c.polluted_images = 24;
  c.polluted_from_st_i = true;
  c.n_aux = 8;
  c.aux_images = 16;
  c.omegas = {1.0, 2.0};
  c.net = tiny_net();
  c.train.batch = 8;
  c.train.lr_rampup = 0;
  c.sampler.steps = 3;
  c.chunk = 6;
  c.n_eval = 10;
  c.pr_k = 3;
  c.keep = 4;
  ScenariosRunOptions o;
  o.out_dir = tmp.file("sc");
  o.features = faces_cnn();
  const ScenariosResult r = run_scenarios(c, o);
  REQUIRE(r.curves.size() == 4);
  const std::vector<std::string> names{"ST-I", "SIMS-I", "ST-P", "SIMS-P"};
  for (size_t i = 0; i < 4; ++i) {
    CHECK(r.curves[i].name == names[i]);
    CHECK(r.curves[i].n_p == std::vector<double>{0, 8, 16});
    REQUIRE(r.curves[i].fd.size() == 3);
    for (double v : r.curves[i].fd) CHECK(std::isfinite(v));
    REQUIRE(r.curves[i].fd_lo.size() == 3);
    for (size_t k = 0; k < 3; ++k) {
      CHECK(r.curves[i].fd_lo[k] <= r.curves[i].fd[k]);
      CHECK(r.curves[i].fd_hi[k] > r.curves[i].fd[k]);
      CHECK(std::isfinite(r.curves[i].kid[k]));
      CHECK(r.curves[i].precision_lo[k] <= r.curves[i].precision[k]);
      CHECK(r.curves[i].precision[k] <= r.curves[i].precision_hi[k]);
      CHECK(r.curves[i].recall_lo[k] <= r.curves[i].recall[k]);
      CHECK(r.curves[i].recall[k] <= r.curves[i].recall_hi[k]);
    }
  }
  // One verdict per comparison: SIMS-I vs ST-I, pollution (ST-P vs ST-I), SIMS-P vs ST-P.
  const std::vector<std::string> v = r.verdicts();
  REQUIRE(v.size() == 3);
  CHECK(v[0].rfind("SIMS-I against ST-I: ", 0) == 0);
  CHECK(v[1].find("|D_p| = 16") != std::string::npos);
  CHECK(v[2].rfind("SIMS-P against ST-P: ", 0) == 0);
  // No pollution: ST-P is ST-I and SIMS-P is SIMS-I.
  CHECK(r.curves[2].fd[0] == r.curves[0].fd[0]);
  CHECK(r.curves[3].fd[0] == r.curves[1].fd[0]);
  CHECK(r.curves[0].fd[1] == r.curves[0].fd[0]);  // one ST-I model, a flat line
  CHECK((r.curves[1].omega[0] == 1.0 || r.curves[1].omega[0] == 2.0));
  // Evaluations: ST-I, SIMS-I x 2 omegas, and per |D_p| > 0 ST-P + SIMS-P x 2.
  CHECK(r.evals.size() == 3 + 2 * 3);
  for (const char* f : {"results.json", "results.csv", "evaluations.csv", "scenarios.png", "samples.png",
                        "st-i/model.ckpt", "sims-i/aux.ckpt", "pollution/pool.npy", "p-0000016/st-p/model.ckpt",
                        "p-0000008/sims-p/aux.ckpt"})
    CHECK(fs::exists(o.out_dir + "/" + f));
  CHECK_FALSE(fs::exists(o.out_dir + "/sims-i/S.npy"));  // discarded once the auxiliary is trained
  std::ifstream csv(o.out_dir + "/results.csv");
  std::string line;
  int lines = 0;
  while (std::getline(csv, line)) ++lines;
  CHECK(lines == 4);

  // Re-run: nothing is trained or sampled again, the numbers are the same.
  const ScenariosResult again = run_scenarios(c, o);
  CHECK(again.stages_run == 0);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(again.curves[i].fd == r.curves[i].fd);
    CHECK(again.curves[i].fd_hi == r.curves[i].fd_hi);  // the intervals are kept with the scores
    CHECK(again.curves[i].fd_replicates == r.curves[i].fd_replicates);  // and their resamples
  }
  // Every model samples from the same noise: the verdicts' differences are paired, also when read back.
  CHECK(r.differences_paired());
  CHECK(again.verdicts() == r.verdicts());
  CHECK(again.to_json().at("ci").at("method").get<std::string>().find("paired bootstrap") != std::string::npos);
  // One more pollution size: only its stages run (ST-P, aux, 1 + 2 evaluations).
  c.pollution = {0.0, 0.25, 0.5, 1.0};
  const ScenariosResult more = run_scenarios(c, o);
  CHECK(more.stages_run == 5);
  CHECK(more.curves[2].fd.size() == 4);
  CHECK(more.curves[2].fd[3] == r.curves[2].fd[2]);

  ScenariosConfig bad = c;
  bad.pollution = {0.5, 0.5};
  CHECK_THROWS_WITH(validate(bad), Catch::Contains("twice"));
  bad = c;
  bad.omegas = {0.0};
  CHECK_THROWS_WITH(validate(bad), Catch::Contains("--omegas"));
  bad = c;
  bad.pollution = {-1};
  CHECK_THROWS_WITH(validate(bad), Catch::Contains("--pollution"));
}

TEST_CASE("image scores pair their FD differences over the same resamples, and keep them in a record", "[imageloop]") {
  at::manual_seed(5);
  const at::Tensor real = at::rand({40, 3, 16, 16}) * 2 - 1;
  const at::Tensor a = at::rand({24, 3, 16, 16}) * 2 - 1;
  const at::Tensor b = (0.8 * a + 0.3 * at::randn({24, 3, 16, 16})).clamp(-1, 1);  // moves with a, image by image
  const ImageScorer scorer(faces_cnn(), nullptr, real, 3);
  const ImageScore sa = scorer.score(a), sb = scorer.score(b);
  REQUIRE(sa.fd_replicates.size() == 100);
  REQUIRE(sb.fd_replicates.size() == 100);
  const metrics::Estimate d = fd_change(sa, sb);
  CHECK(d.method == "paired bootstrap");
  CHECK(d.value == Approx(sb.fd - sa.fd));
  // The interval is that of the FD difference bootstrapped directly over the same resampled indices.
  const auto net = faces_cnn();
  const auto ref = metrics::stats_of_features(net->features(real), "real");
  const at::Tensor fa = net->features(a), fb = net->features(b);
  const auto fd = [&](const at::Tensor& f, const std::vector<int64_t>& idx) {
    return metrics::frechet_distance(metrics::stats_of_features(f.index_select(0, at::tensor(idx, at::kLong)), "f"), ref);
  };
  const metrics::Estimate direct = metrics::bootstrap(24, [&](const std::vector<int64_t>& idx) {
    return fd(fb, idx) - fd(fa, idx);
  }, 100, 0.95, 0, metrics::BootstrapInterval::Normal);
  CHECK(d.lo == Approx(direct.lo).epsilon(1e-6));
  CHECK(d.hi == Approx(direct.hi).epsilon(1e-6));
  // Without the resamples (a score of an older folder): the two half-widths in quadrature.
  ImageScore old = sb;
  old.fd_replicates.clear();
  const metrics::Estimate q = fd_change(sa, old);
  CHECK(q.method != "paired bootstrap");
  CHECK(q.value == Approx(d.value));
  CHECK(q.has_interval());
  INFO("paired " << d.lo << ".." << d.hi << ", quadrature " << q.lo << ".." << q.hi);
  CHECK(d.hi - d.lo < q.hi - q.lo);  // the sets move together: pairing is the narrower
  CHECK(sa.fd_n == 24);
  ImageScore fewer = sb;  // resample k of another number of images draws other indices: not paired
  fewer.fd_n = 23;
  CHECK(fd_change(sa, fewer).method != "paired bootstrap");

  // A stage record keeps them; an older record has none; a damaged one is refused.
  nlohmann::json j;
  sa.put_uncertainty(j);
  ImageScore back;
  back.get_uncertainty(j);
  CHECK(back.fd_replicates == sa.fd_replicates);
  CHECK(back.fd_n == 24);
  CHECK(back.fd_lo == sa.fd_lo);
  // KID's interval from 12 disjoint subsets of 2 of the 24 images (kid ± the half-width of their t interval), kept
  // in the record.
  CHECK(sa.kid_lo < sa.kid);
  CHECK(sa.kid_hi - sa.kid == Approx(sa.kid - sa.kid_lo));
  // The scorer's KID: 100 random subsets with seed 0; its interval's width that of kid_block_size's disjoint subsets.
  const at::Tensor fr = net->features(real);
  CHECK(sa.kid == Approx(metrics::kid(fr, fa, 100, 1000, 0).mean).epsilon(1e-9));
  const metrics::KidBlocks kb = metrics::kid_blocks(fr, fa, metrics::kid_block_size(fr.size(0), 24), 0);
  CHECK(sa.kid_hi - sa.kid_lo == Approx(kb.hi - kb.lo).epsilon(1e-9));
  CHECK(back.kid_lo == sa.kid_lo);
  CHECK(back.kid_hi == sa.kid_hi);
  back.fd = sa.fd;  // the record's own "fd" is read by its caller
  CHECK(fd_change(back, sb).method == "paired bootstrap");
  j.erase("fd_replicates");
  back.get_uncertainty(j);
  CHECK(back.fd_replicates.empty());
  j["fd_replicates"] = "many";
  CHECK_THROWS_AS(back.get_uncertainty(j), InputError);
  j["fd_replicates"] = nlohmann::json::array({1.0, "x"});
  CHECK_THROWS_AS(back.get_uncertainty(j), InputError);
  j["fd_replicates"] = nlohmann::json::array({1.0, 2.0});
  j["fd_n"] = -3;
  CHECK_THROWS_AS(back.get_uncertainty(j), InputError);
  for (const char* bad : {"1e300", "2.5", "\"24\""}) {  // never converted to an integer out of range
    j["fd_n"] = nlohmann::json::parse(bad);
    CHECK_THROWS_WITH(back.get_uncertainty(j), "fd_n is not a count");
  }

  // Structured damage to every field of the record (2,000 copies; under the sanitizers in CI): read, then compared
  // with a good score, or refused with an InputError; nothing else.
  nlohmann::json good;
  sa.put_uncertainty(good);
  const test::DamageCount n = test::damage_fields(good, 2000, 11, [&](const nlohmann::json& damaged) {
    ImageScore s;
    s.get_uncertainty(damaged);
    s.fd = sa.fd;
    CHECK(s.fd_n >= 0);
    CHECK(s.fd_replicates.size() <= 100000);
    // Paired exactly where the record still says 24 images and holds a finite interval's worth of resamples.
    const metrics::Estimate c = fd_change(s, sb);
    if (c.method == "paired bootstrap") {
      CHECK(s.fd_n == 24);
      CHECK(s.fd_replicates.size() == 100);
    } else if (s.fd_n == 24 && s.fd_replicates == sa.fd_replicates) {
      FAIL("an intact pair of resample lists was not paired");
    }
  });
  INFO(n.read << " read, " << n.refused << " refused");
  CHECK(n.read + n.refused == 2000);
  CHECK(n.read > 200);
  CHECK(n.refused > 200);
}

TEST_CASE("the image loop's ratio interval agrees with its verdict", "[imageloop]") {
  // Generation 1 at 3139.4 ± 1363.2, generation 2 at 1898.1 ± 373.7 (a tiny loop's scores): the change, -1241 ±
  // 1413.5 in quadrature, is within the noise. Fieller's interval, worked by hand from (b - r a)² = hb² + r² ha²:
  // [0.39561, 1.09458], holding 1 as the verdict says (a log-scale interval gave [0.38, 0.97]).
  ImageLoopResult r;
  r.fd = {3139.4, 1898.1};
  r.fd_lo = {3139.4 - 1363.2, 1898.1 - 373.7};
  r.fd_hi = {3139.4 + 1363.2, 1898.1 + 373.7};
  r.set_ratios();
  CHECK(r.ratio[1] == Approx(0.604606).epsilon(1e-5));
  CHECK(r.ratio_lo[1] == Approx(0.395611).epsilon(1e-5));
  CHECK(r.ratio_hi[1] == Approx(1.094575).epsilon(1e-5));
  // 100 ± 10 against 130 ± 12: a change of 30 ± 15.6, beyond the noise; the interval [1.13484, 1.49142] excludes 1.
  r.fd = {100, 130};
  r.fd_lo = {90, 118};
  r.fd_hi = {110, 142};
  r.set_ratios();
  CHECK(r.ratio_lo[1] == Approx(1.134838).epsilon(1e-5));
  CHECK(r.ratio_hi[1] == Approx(1.491425).epsilon(1e-5));
  // Generation 2's interval cut at 0 (130 in [0, 300]: half-width 150): the lower end stays at 0, not below.
  r.fd_lo = {90, 0};
  r.fd_hi = {110, 300};
  r.set_ratios();
  CHECK(r.ratio_lo[1] == 0.0);
  CHECK(r.ratio_hi[1] > 1.3);
  // Generation 1's interval reaching 0 (100 ± 120): the set of ratios is unbounded, no interval.
  r.fd_lo = {-20, 118};
  r.fd_hi = {220, 142};
  r.set_ratios();
  CHECK(std::isnan(r.ratio_lo[1]));
  CHECK(std::isnan(r.ratio_hi[1]));
  CHECK(r.ratio_lo[0] == 1.0);
}
