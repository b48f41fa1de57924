// Distribution shifting (loops/shift.hpp): the auxiliary set has the
// complement share with exact counts, bad inputs are refused with
// InputError, and a run folder's stages are reused, continued or redone.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <catch2/catch.hpp>
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "helpers.hpp"
#include "io/npy.hpp"
#include "loops/shift.hpp"
#include "training/checkpoint.hpp"

using namespace sims;
namespace fs = std::filesystem;

namespace {

// A tiny U-Net on 16x16 RGB images, untrained: its samples are structured
// noise, which is all the recipe needs.
std::string tiny_base(const test::TempDir& tmp) {
  NetConfig c;
  c.type = "unet";
  c.channels = 3;
  c.resolution = 16;
  c.model_channels = 8;
  c.channel_mult = {1, 2};
  c.num_blocks = 1;
  c.attn_resolutions = {};
  c.dropout = 0.0;
  TrainConfig t;
  t.budget = 16;
  t.seed = 5;
  TrainState st = TrainState::create(c, t);
  st.data = {{"source", "images"}, {"spec_string", "faces:ratio=0.5,size=16"}};
  const std::string path = tmp.file("base.ckpt");
  save_checkpoint(path, st);
  return path;
}

// An analytic stand-in for the classifier and the feature network: "group"
// is whether one pixel of the red channel is brighter than another (about
// half of noise-like images either way), features are per-channel means and
// standard deviations.
class StandIn final : public metrics::FeatureNet, public metrics::AttributeClassifier {
 public:
  std::string name() const override { return "stand-in"; }
  int64_t dim() const override { return 6; }
  at::Tensor batch_features(const at::Tensor& x) override {
    const at::Tensor flat = x.flatten(2);
    const at::Tensor mean = flat.mean(2);
    const at::Tensor sd = (flat - mean.unsqueeze(2)).pow(2).mean(2).sqrt();
    return at::cat({mean, sd}, 1).to(at::kFloat);
  }
  const std::vector<std::string>& attr_names() const override { return names_; }
  bool multi_label() const override { return true; }
  at::Tensor batch_logits(const at::Tensor& x) override {
    const at::Tensor g = x.select(1, 0).select(1, 4).select(1, 4) - x.select(1, 0).select(1, 11).select(1, 11);
    return at::stack({g, x.mean({1, 2, 3})}, 1).to(at::kFloat) * 10;
  }

 private:
  std::vector<std::string> names_{"bright", "group"};
};

loops::ShiftConfig small_config(const std::string& base) {
  loops::ShiftConfig c;
  c.base = base;
  c.classifier = "stand-in";
  c.attribute = "group";
  c.target = 0.7;
  c.n_aux = 30;    // 9 with group = 1, 21 with group = 0
  c.n_sample = 20; // too few for 21 of group 0: a second round must follow
  c.chunk = 16;
  c.sampler.steps = 3;
  c.eval_sampler.steps = 3;
  c.finetune.budget = 32;
  c.finetune.batch = 16;
  c.finetune.lr_rampup = 0;
  c.omegas = {0.0, 1.0};
  c.n_eval = 16;
  c.batch = 8;
  c.keep = 4;
  c.n_real = 64;
  return c;
}

loops::ShiftRunOptions options(const std::string& dir, const std::shared_ptr<StandIn>& net) {
  loops::ShiftRunOptions o;
  o.out_dir = dir;
  o.classifier = net;
  o.features = net;
  return o;
}

fs::file_time_type mtime(const std::string& p) { return fs::last_write_time(p); }

}  // namespace

TEST_CASE("shift: the auxiliary set has the complement share with exact counts", "[shift]") {
  test::TempDir tmp;
  auto net = std::make_shared<StandIn>();
  const loops::ShiftConfig cfg = small_config(tiny_base(tmp));
  const std::string dir = tmp.file("run");
  const loops::ShiftResult r = loops::run_shift(cfg, options(dir, net));
  INFO("pool " << r.n_pool << " samples in " << r.rounds << " rounds, " << r.pool1 << " with group=1");

  CHECK(r.aux1 == 9);
  CHECK(r.aux0 == 21);
  CHECK(r.rounds >= 2);  // the first 20 samples cannot hold 21 of group 0
  CHECK(r.n_pool > 20);
  CHECK(r.n_pool <= 20 * 30);
  // The set on disk (raw samples; the classifier sees them clamped to
  // [-1,1]), labelled again: exactly 9 of 30 with group = 1.
  const at::Tensor set = io::read_npy(dir + "/aux_set.npy");
  REQUIRE(set.sizes() == at::IntArrayRef({30, 3, 16, 16}));
  CHECK(net->predict(set.clamp(-1, 1)).select(1, 1).sum().item<double>() == 9.0);
  // The pool counts are those of the stored labels.
  int64_t pooled = 0, ones = 0;
  for (int k = 0; k < r.rounds; ++k) {
    char name[64];
    std::snprintf(name, sizeof name, "/synth/round-%03d-labels.npy", k);
    const at::Tensor lab = io::read_npy(dir + name);
    pooled += lab.size(0);
    ones += lab.select(1, 1).gt(0.5).sum().item<int64_t>();
  }
  CHECK(pooled == r.n_pool);
  CHECK(ones == r.pool1);

  // The auxiliary model: fine-tuned from the base for the budget, provenance says so.
  TrainState aux = load_checkpoint(dir + "/aux.ckpt");
  CHECK(aux.images_seen == 32);
  CHECK(aux.provenance["role"] == "auxiliary");
  CHECK(aux.provenance["shift"]["aux_share"].get<double>() == Approx(0.3));

  // The sweep: one row per omega, the same 16 starting points, base alone at omega = 0.
  REQUIRE(r.rows.size() == 2);
  CHECK(r.rows[0].nfe == 5);   // 3 Heun steps, base only
  CHECK(r.rows[1].nfe == 10);  // base and aux
  for (const auto& row : r.rows) {
    CHECK(row.n1 + row.n0 == 16);
    CHECK(row.share == Approx(row.n1 / 16.0));
    CHECK(std::isfinite(row.fd));
    CHECK(std::isfinite(row.fd_target));
    if (row.n1 >= 2) CHECK(std::isfinite(row.fd1));
    if (row.n0 >= 2) CHECK(std::isfinite(row.fd0));
    CHECK(row.kept.size(0) == 4);
    // Every FD with its bootstrap interval (per group when the group has >= 3 samples), KID beside it; all kept
    // through the row's JSON.
    const metrics::Estimate e = row.estimate("fd"), t = row.estimate("fd_target");
    CHECK(e.lo <= e.value);
    CHECK(e.hi > e.value);
    CHECK(t.hi > t.value);
    if (row.n1 >= 3) CHECK(row.estimate("fd1").has_interval());
    CHECK(std::isfinite(row.kid));
    // KID's interval from at least 10 disjoint subsets (none below 20 samples), kept through the JSON with the others.
    const metrics::Estimate kid = row.estimate("kid");
    CHECK(kid.has_interval() == (row.n1 + row.n0 >= 20));
    if (kid.has_interval()) CHECK(kid.lo < kid.hi);
    const metrics::Estimate p = row.estimate("precision"), rc = row.estimate("recall");
    REQUIRE(p.has_interval());
    REQUIRE(rc.has_interval());
    CHECK(p.lo <= p.value);
    CHECK(p.value <= p.hi);
    CHECK(rc.lo <= rc.value);
    CHECK(rc.value <= rc.hi);
    const loops::ShiftRow back = loops::ShiftRow::from_json(row.to_json());
    CHECK(back.ci == row.ci);
    CHECK(back.kid == Approx(row.kid));
    // Every sample's group, in sample order, for the paired share change; kept in the stage record.
    CHECK(static_cast<int64_t>(row.groups.size()) == row.n1 + row.n0);
    CHECK(std::count(row.groups.begin(), row.groups.end(), '1') == row.n1);
    CHECK(back.groups.empty());  // not in progress updates
    CHECK(loops::ShiftRow::from_json(row.to_json(true)).groups == row.groups);
  }
  CHECK(r.real_labels == "data");  // the built-in faces know their group
  CHECK(r.n_real1 + r.n_real0 == 64);
  for (const char* f : {"/results.csv", "/results.json", "/shift.png", "/samples.png", "/run.json"})
    CHECK(fs::file_size(dir + f) > 100);
  std::ifstream csv(dir + "/results.csv");
  std::string header;
  std::getline(csv, header);
  CHECK(header.rfind("omega,share,n_attr1,n_attr0,fd,fd_target,fd_attr1,fd_attr0", 0) == 0);
  CHECK(header.find(",fd_lo,fd_hi,fd_target_lo,fd_target_hi,") != std::string::npos);
  CHECK(header.find(",precision_lo,precision_hi,recall_lo,recall_hi") != std::string::npos);
}

TEST_CASE("shift: a run folder's stages are reused or continued after a cancel, other settings are refused", "[shift]") {
  test::TempDir tmp;
  auto net = std::make_shared<StandIn>();
  loops::ShiftConfig cfg = small_config(tiny_base(tmp));
  const std::string dir = tmp.file("run");

  // Cancelled while fine-tuning: the samples and a checkpoint stay.
  std::atomic<bool> stop{false};
  auto o = options(dir, net);
  o.cancel = &stop;
  o.on_progress = [&](const experiment::Progress& p) {
    if (p.stage == "finetune") stop = true;
  };
  CHECK_THROWS_AS(loops::run_shift(cfg, o), Cancelled);
  REQUIRE(fs::exists(dir + "/aux_set.npy"));
  REQUIRE(fs::exists(dir + "/aux.ckpt"));
  CHECK(load_checkpoint(dir + "/aux.ckpt").images_seen < 32);
  CHECK_FALSE(fs::exists(dir + "/results.json"));
  const auto t_round = mtime(dir + "/synth/round-000.npy"), t_set = mtime(dir + "/aux_set.npy");

  // The same call continues: samples reused, fine-tuning continued, sweep run.
  std::vector<std::string> notes;
  auto o2 = options(dir, net);
  o2.on_note = [&](const std::string& m) { notes.push_back(m); };
  const loops::ShiftResult a = loops::run_shift(cfg, o2);
  CHECK(a.synth_reused);
  CHECK_FALSE(a.aux_reused);
  REQUIRE(notes.size() == 1);
  CHECK(notes[0].find("continuing the fine-tuning") != std::string::npos);
  CHECK(mtime(dir + "/synth/round-000.npy") == t_round);
  CHECK(mtime(dir + "/aux_set.npy") == t_set);
  CHECK(load_checkpoint(dir + "/aux.ckpt").images_seen == 32);

  // Again: everything reused, nothing rewritten but the results.
  const auto t_aux = mtime(dir + "/aux.ckpt"), t_row = mtime(dir + "/eval/omega_1.json");
  const loops::ShiftResult b = loops::run_shift(cfg, options(dir, net));
  CHECK(b.synth_reused);
  CHECK(b.aux_reused);
  REQUIRE(b.rows.size() == 2);
  for (size_t k = 0; k < 2; ++k) {
    CHECK(b.rows[k].reused);
    CHECK(b.rows[k].share == a.rows[k].share);
    CHECK(b.rows[k].fd == a.rows[k].fd);
    CHECK(b.rows[k].groups == a.rows[k].groups);  // from the stage record
    CHECK_FALSE(a.rows[k].groups.empty());
    // Both FDs over all samples keep their resamples, read back the same; so their changes pair.
    CHECK(a.rows[k].fd_target_replicates.size() == 100);
    CHECK(b.rows[k].fd_target_replicates == a.rows[k].fd_target_replicates);
    CHECK(b.rows[k].fd_replicates == a.rows[k].fd_replicates);
  }
  for (const std::string key : {"fd", "fd_target"})
    CHECK(loops::shift_fd_change(b.rows[0], b.rows[1], key).method == "paired bootstrap");
  CHECK(loops::shift_verdict(b) == loops::shift_verdict(a));
  // The finished folder read back (the studio's Load results) pairs the same way.
  const loops::ShiftFolder folder = loops::read_shift_folder(dir);
  REQUIRE(folder.result.rows.size() == 2);
  CHECK(folder.result.rows[1].groups == a.rows[1].groups);
  CHECK(loops::shift_verdict(folder.result) == loops::shift_verdict(a));
  CHECK(mtime(dir + "/aux.ckpt") == t_aux);
  CHECK(mtime(dir + "/eval/omega_1.json") == t_row);

  // One more omega: only its row is computed.
  cfg.omegas = {0.0, 1.0, 2.0};
  const loops::ShiftResult c = loops::run_shift(cfg, options(dir, net));
  REQUIRE(c.rows.size() == 3);
  CHECK(c.rows[0].reused);
  CHECK(c.rows[1].reused);
  CHECK_FALSE(c.rows[2].reused);
  CHECK(c.aux_reused);

  // Other settings on the same folder: refused, naming the setting; nothing is touched.
  const auto t_aux2 = mtime(dir + "/aux.ckpt");
  loops::ShiftConfig longer = cfg;
  longer.finetune.budget = 48;
  CHECK_THROWS_WITH(loops::run_shift(longer, o2), Catch::Contains("finetune.budget = 32 (now 48)"));
  loops::ShiftConfig reseeded = cfg;
  reseeded.seed = 9;
  CHECK_THROWS_WITH(loops::run_shift(reseeded, options(dir, net)), Catch::Contains("another --out"));
  CHECK(mtime(dir + "/aux.ckpt") == t_aux2);
  CHECK(load_checkpoint(dir + "/aux.ckpt").images_seen == 32);

  // In a new folder, the other settings run from the start.
  const loops::ShiftResult e = loops::run_shift(reseeded, options(tmp.file("run2"), net));
  CHECK_FALSE(e.synth_reused);
  CHECK_FALSE(e.aux_reused);
  CHECK(e.aux1 == 9);
}

TEST_CASE("shift: bad inputs are refused with InputError before any work", "[shift]") {
  test::TempDir tmp;
  auto net = std::make_shared<StandIn>();
  const std::string base = tiny_base(tmp);
  const std::string dir = tmp.file("run");
  auto refused = [&](const loops::ShiftConfig& c) {
    CHECK_THROWS_AS(loops::run_shift(c, options(dir, net)), InputError);
    CHECK_FALSE(fs::exists(dir));
  };
  for (double t : {0.0, 1.0, 1.5, -0.2, std::nan("")}) {
    loops::ShiftConfig c = small_config(base);
    c.target = t;
    CHECK_THROWS_AS(loops::validate(c), InputError);
    refused(c);
  }
  {
    loops::ShiftConfig c = small_config(base);
    c.attribute = "hair";  // not one of the classifier's attributes
    try {
      loops::run_shift(c, options(dir, net));
      FAIL("no error");
    } catch (const InputError& e) {
      CHECK(std::string(e.what()).find("has no attribute 'hair' (it has: bright, group)") != std::string::npos);
    }
    CHECK_FALSE(fs::exists(dir));
  }
  {
    // Not a checkpoint: an analytic model cannot be fine-tuned.
    const std::string g = tmp.file("gauss.json");
    std::ofstream(g) << R"({"kind": "gaussian", "mean": [0, 0], "cov": [[1, 0], [0, 1]]})";
    loops::ShiftConfig c = small_config(g);
    refused(c);
    c.base = tmp.file("missing.ckpt");
    refused(c);
  }
  {
    // A checkpoint of a 2D model: the wrong shape.
    NetConfig m;
    m.width = 8;
    m.depth = 1;
    TrainConfig t;
    save_checkpoint(tmp.file("points.ckpt"), TrainState::create(m, t));
    refused(small_config(tmp.file("points.ckpt")));
  }
  {
    loops::ShiftConfig c = small_config(base);
    c.real_data = "faces";  // 32x32 real images for a 16x16 model
    refused(c);
  }
  {
    loops::ShiftConfig c = small_config(base);
    c.n_aux = 2;
    c.target = 0.9;  // round(2 x 0.1) = 0 images of group 1
    refused(c);
    c = small_config(base);
    c.omegas = {0.0, 1.0, 0.0};
    refused(c);
  }
  {
    // A folder with other things in it is not taken over.
    fs::create_directories(dir);
    std::ofstream(dir + "/notes.txt") << "mine";
    CHECK_THROWS_AS(loops::run_shift(small_config(base), options(dir, net)), InputError);
    CHECK(fs::exists(dir + "/notes.txt"));
    CHECK_FALSE(fs::exists(dir + "/run.json"));
  }
}

TEST_CASE("shift: the share's change is paired sample by sample (Bonett-Price), and the verdict uses it", "[shift]") {
  // 100 samples: 40 in group 1 at omega = 0; at omega = 1, 25 of the others joined it and 5 of its own left.
  loops::ShiftRow zero, one;
  zero.omega = 0, one.omega = 1;
  zero.groups = std::string(40, '1') + std::string(60, '0');
  one.groups = std::string(35, '1') + std::string(5, '0') + std::string(25, '1') + std::string(35, '0');
  const auto counts = [](loops::ShiftRow& r) {
    r.n1 = std::count(r.groups.begin(), r.groups.end(), '1'), r.n0 = static_cast<int64_t>(r.groups.size()) - r.n1;
    r.share = static_cast<double>(r.n1) / static_cast<double>(r.groups.size());
  };
  counts(zero), counts(one);
  const metrics::Estimate c = loops::shift_change(zero, one);
  // By hand: p_in = 26/102, p_out = 6/102, d = 20/102, se = sqrt((p_in + p_out - d^2) / 102).
  CHECK(c.value == Approx(0.20));
  CHECK(c.lo == Approx(0.0942581389));
  CHECK(c.hi == Approx(0.2978987238));
  CHECK(loops::shift_change(one, zero).value == Approx(-0.20));
  loops::ShiftRow other = one;
  other.groups.pop_back();
  CHECK_FALSE(loops::shift_change(zero, other).has_interval());  // other sample counts do not pair

  // Its level holds, also where few samples change group: there the plain Wald interval (no added counts) covers
  // the truth in 78 % of such draws (0.5 % leaving, 1 % joining; 46 % with none leaving), Bonett-Price in more
  // than 95 %. 2,000 simulated pairs of 200 samples per case (40 % in group 1 at first).
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  const auto coverage = [&](double p_join, double p_leave) {
    int covered = 0;
    for (int t = 0; t < 2000; ++t) {
      loops::ShiftRow a, b;
      for (int i = 0; i < 200; ++i) {
        const bool in = u(rng) < 0.4;
        const double x = u(rng);
        a.groups += in ? '1' : '0';
        b.groups += (in ? x >= p_leave : x < p_join) ? '1' : '0';
      }
      const metrics::Estimate e = loops::shift_change(a, b);
      const double truth = 0.6 * p_join - 0.4 * p_leave;
      covered += e.lo <= truth && truth <= e.hi;
    }
    return covered / 2000.0;
  };
  const double many = coverage(0.3, 0.1), few = coverage(0.01, 0.005), none = coverage(0.005, 0.0);
  INFO("coverage " << many << " (many change), " << few << " (few), " << none << " (none leave)");
  CHECK(many >= 0.93);
  CHECK(many <= 0.97);
  CHECK(few >= 0.95);
  CHECK(none >= 0.95);

  // The verdict: paired where the rows kept their groups, by overlap where not.
  loops::ShiftResult r;
  r.attribute = "group", r.target = 0.7;
  r.rows = {zero, one};
  const std::string v = loops::shift_verdict(r);
  INFO(v);
  CHECK(v.rfind("SIMS at omega = 1 moves the share of group=1 from 40", 0) == 0);
  CHECK(v.find("change +20.0 points [+9.4, +29.8], 95 % paired interval over the same noise per sample") !=
        std::string::npos);
  // The rows compared (the studio's summary uses the same): ω = 0 and the guided ω closest to the target, never
  // ω = 0 itself (also when the base is closest) nor a row without a share.
  loops::ShiftRow nan_row = one;
  nan_row.omega = 2, nan_row.share = std::nan("");
  r.rows = {nan_row, zero, one};
  r.target = 0.4;  // the base's own share
  REQUIRE(loops::shift_closest_row(r) != nullptr);
  CHECK(loops::shift_closest_row(r)->omega == 1);
  CHECK(loops::shift_base_row(r)->omega == 0);
  r.target = 0.7;
  r.rows = {zero, one};
  r.rows[1].groups.clear();
  const std::string w = loops::shift_verdict(r);
  INFO(w);
  CHECK(w.find("compared by overlap") != std::string::npos);
  CHECK(w.find("paired") == std::string::npos);

  // A stage record with groups that are not 0/1 or do not match its counts is refused.
  nlohmann::json j = one.to_json(true);
  CHECK(loops::ShiftRow::from_json(j).groups == one.groups);
  j["groups"] = std::string(100, '2');
  CHECK_THROWS_AS(loops::ShiftRow::from_json(j), InputError);
  j["groups"] = zero.groups;  // 40 in group 1, the record says 60
  CHECK_THROWS_WITH(loops::ShiftRow::from_json(j), Catch::Contains("damaged"));
  j["groups"] = 7;
  CHECK_THROWS_AS(loops::ShiftRow::from_json(j), InputError);
  // Counts that are not whole numbers >= 0 are damage too (an InputError naming the field, not a JSON exception).
  j["groups"] = one.groups;
  for (const char* k : {"n1", "n0", "nfe"}) {
    nlohmann::json bad = j;
    for (const nlohmann::json& v : {nlohmann::json("60"), nlohmann::json(-1), nlohmann::json(2.5), nlohmann::json::array()}) {
      bad[k] = v;
      CHECK_THROWS_WITH(loops::ShiftRow::from_json(bad), Catch::Contains(std::string(k) + " is not a count"));
    }
  }
  // A row without groups (an older folder's) writes none and reads back without them.
  loops::ShiftRow old = one;
  old.groups.clear();
  CHECK_FALSE(old.to_json(true).contains("groups"));
  j["groups"] = "";
  CHECK(loops::ShiftRow::from_json(j).groups.empty());
}

TEST_CASE("shift: FD's change between two omegas is paired over the same resamples, in quadrature without them",
          "[shift]") {
  // Two rows of 100 samples; FD 50 at omega = 0 and 45 at omega = 1, each ± 4 on its own. Their resamples move
  // together (the same noise, the same sample indices): they differ by -5 ± 0.5 per resample.
  loops::ShiftRow zero, one;
  zero.omega = 0, one.omega = 1;
  zero.n1 = one.n1 = 40, zero.n0 = one.n0 = 60;
  zero.share = one.share = 0.4;
  zero.fd = 50, one.fd = 45;
  zero.ci["fd"] = {46, 54}, one.ci["fd"] = {41, 49};
  std::vector<double> diffs;
  for (int k = 0; k < 100; ++k) {
    const double common = 3.0 * std::sin(0.7 * k), delta = (k % 2 ? 0.5 : -0.5);
    zero.fd_replicates.push_back(50 + common);
    one.fd_replicates.push_back(45 + common + delta);
    diffs.push_back(-5 + delta);
  }
  double mean = 0, ss = 0;
  for (double d : diffs) mean += d / diffs.size();
  for (double d : diffs) ss += (d - mean) * (d - mean);
  const double sd = std::sqrt(ss / (diffs.size() - 1));
  const metrics::Estimate p = loops::shift_fd_change(zero, one);
  CHECK(p.method == "paired bootstrap");
  CHECK(p.value == Approx(-5));
  CHECK(p.half_width() == Approx(1.959964 * sd).epsilon(1e-3));
  CHECK(metrics::significant(p));
  // Without replicates on one side, or rows of other sample counts: half-widths in quadrature (4 * sqrt 2).
  loops::ShiftRow bare = one;
  bare.fd_replicates.clear();
  const metrics::Estimate q = loops::shift_fd_change(zero, bare);
  CHECK(q.method == "difference");
  CHECK(q.value == Approx(-5));
  CHECK(q.half_width() == Approx(4 * std::sqrt(2.0)));
  CHECK_FALSE(metrics::significant(q));
  loops::ShiftRow more = one;
  more.n0 += 1;
  CHECK(loops::shift_fd_change(zero, more).method == "difference");

  // The verdict says what the move does to FD, paired where it can.
  loops::ShiftResult r;
  r.attribute = "group", r.target = 0.7;
  r.rows = {zero, one};
  std::string v = loops::shift_verdict(r);
  INFO(v);
  CHECK(v.find("FD at omega = 1: 50.0 ± 4.0 -> 45.0 ± 4.0 (-5.00 ± 0.98, paired)") != std::string::npos);
  CHECK(v.find(", paired): better (lower is better)") != std::string::npos);
  r.rows = {zero, bare};
  v = loops::shift_verdict(r);
  CHECK(v.find("(-5.0 ± 5.7, in quadrature): no change beyond the noise (lower is better)") != std::string::npos);
  CHECK(v.find("target mix") == std::string::npos);  // no FD against the target mix in these rows

  // FD against the real set at the target mix pairs the same way, with its own replicates; the verdict adds it.
  zero.fd_target = 80, one.fd_target = 60;
  zero.ci["fd_target"] = {70, 90}, one.ci["fd_target"] = {52, 68};
  for (int k = 0; k < 100; ++k) {
    const double common = 8.0 * std::cos(0.3 * k);
    zero.fd_target_replicates.push_back(80 + common);
    one.fd_target_replicates.push_back(60 + 0.5 * common + (k % 2 ? 1.0 : -1.0));
  }
  const metrics::Estimate t = loops::shift_fd_change(zero, one, "fd_target");
  CHECK(t.method == "paired bootstrap");
  CHECK(t.value == Approx(-20));
  CHECK(t.half_width() < std::hypot(10.0, 8.0));
  loops::ShiftRow no_reps = one;  // an older row: quadrature
  no_reps.fd_target_replicates.clear();
  CHECK(loops::shift_fd_change(zero, no_reps, "fd_target").method == "difference");
  CHECK(loops::shift_fd_change(zero, no_reps, "fd_target").half_width() == Approx(std::hypot(10.0, 8.0)));
  CHECK_THROWS_AS(loops::shift_fd_change(zero, one, "fd1"), InputError);  // per group: other samples per omega
  r.rows = {zero, one};
  v = loops::shift_verdict(r);
  INFO(v);
  CHECK(v.find("(-5.00 ± 0.98, paired): better (lower is better); FD against the target mix at omega = 1: "
               "80 ± 10 -> 60.0 ± 8.0 (-20") != std::string::npos);  // each to its interval's precision
  CHECK(v.find(", paired): better (lower is better)", v.find("target mix")) != std::string::npos);

  // The stage record keeps the replicates (null for a resample whose FD was not finite); damage is refused.
  one.fd_replicates[3] = std::numeric_limits<double>::quiet_NaN();
  nlohmann::json j = one.to_json(true);
  CHECK_FALSE(one.to_json().contains("fd_replicates"));  // not in progress updates
  const loops::ShiftRow back = loops::ShiftRow::from_json(j);
  REQUIRE(back.fd_replicates.size() == 100);
  CHECK(std::isnan(back.fd_replicates[3]));
  CHECK(back.fd_replicates[4] == one.fd_replicates[4]);
  REQUIRE(back.fd_target_replicates == one.fd_target_replicates);
  nlohmann::json bad_target = j;
  bad_target["fd_target_replicates"] = "many";
  CHECK_THROWS_WITH(loops::ShiftRow::from_json(bad_target),
                    Catch::Contains("a stored shift row is damaged: fd_target_replicates is not a list of numbers"));
  j["fd_replicates"][5] = "x";
  CHECK_THROWS_WITH(loops::ShiftRow::from_json(j),
                    Catch::Contains("a stored shift row is damaged: fd_replicates: expected a number, got \"x\""));
  j["fd_replicates"] = 7;
  CHECK_THROWS_WITH(loops::ShiftRow::from_json(j), Catch::Contains("fd_replicates is not a list of numbers"));
  // Counts so large that their sum would overflow, and rows that are not objects, are damage.
  nlohmann::json huge = j;
  huge["n1"] = std::numeric_limits<int64_t>::max();
  CHECK_THROWS_WITH(loops::ShiftRow::from_json(huge), Catch::Contains("n1 is not a count"));
  huge["n1"] = 1e300;  // a float: refused, never converted to an integer (undefined out of range)
  CHECK_THROWS_WITH(loops::ShiftRow::from_json(huge), Catch::Contains("n1 is not a count"));
  huge["n1"] = 40.0;
  CHECK_THROWS_WITH(loops::ShiftRow::from_json(huge), Catch::Contains("n1 is not a count"));
  CHECK_THROWS_WITH(loops::ShiftRow::from_json(nlohmann::json::array()), Catch::Contains("not a JSON object"));
  j.erase("fd_replicates"), j.erase("fd_target_replicates");  // an older folder's row
  CHECK(loops::ShiftRow::from_json(j).fd_replicates.empty());
  CHECK(loops::ShiftRow::from_json(j).fd_target_replicates.empty());
}

TEST_CASE("shift: stored rows with damaged fields are read or refused with an InputError, never anything worse",
          "[shift][fuzz]") {
  // A complete row as a run folder keeps it: counts, groups, intervals, both FDs' resamples.
  loops::ShiftRow good;
  good.omega = 1, good.share = 0.4, good.n1 = 4, good.n0 = 6, good.groups = "1010100100";
  good.fd = 50, good.fd_target = 80, good.fd1 = 60, good.fd0 = 55, good.precision = 0.9, good.recall = 0.7;
  good.kid = 0.1, good.kid_std = 0.01, good.nfe = 35, good.seconds = 2;
  for (const auto& k : loops::ShiftRow::interval_keys()) good.ci[k] = {0.5, 90};
  for (int k = 0; k < 100; ++k) good.fd_replicates.push_back(50 + k % 7), good.fd_target_replicates.push_back(80 - k % 5);
  const nlohmann::json record = good.to_json(true);
  REQUIRE(loops::ShiftRow::from_json(record).groups == good.groups);
  loops::ShiftRow zero = good;
  zero.omega = 0;
  // Each copy read back is compared with a good row and judged by the verdict, as a resumed run and the studio do.
  const test::DamageCount n = test::damage_fields(record, 3000, 5, [&](const nlohmann::json& damaged) {
    const loops::ShiftRow r = loops::ShiftRow::from_json(damaged);
    CHECK(r.n1 >= 0);
    CHECK(r.n0 >= 0);
    CHECK(r.n1 + r.n0 <= (int64_t{1} << 41));
    CHECK((r.groups.empty() || static_cast<int64_t>(r.groups.size()) == r.n1 + r.n0));
    CHECK(r.fd_replicates.size() <= 100000);
    CHECK(r.fd_target_replicates.size() <= 100000);
    for (const std::string key : {"fd", "fd_target"}) (void)loops::shift_fd_change(zero, r, key);
    (void)loops::shift_change(zero, r);
    loops::ShiftResult res;
    res.attribute = "group", res.target = 0.7, res.rows = {zero, r};
    CHECK_FALSE(loops::shift_verdict(res).empty());
    (void)r.to_json(true).dump();
    (void)res.to_csv();
  });
  INFO(n.read << " read, " << n.refused << " refused");
  CHECK(n.read + n.refused == 3000);
  CHECK(n.read > 300);
  CHECK(n.refused > 300);
}
