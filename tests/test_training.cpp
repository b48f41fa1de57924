// Training, checkpoints, exact resume, synthetic-set generation, 2D data.
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "data/toy2d.hpp"
#include "experiment/json_io.hpp"
#include "helpers.hpp"
#include "io/npy.hpp"
#include "io/safetensors.hpp"
#include "metrics/wasserstein.hpp"
#include "training/continue_rule.hpp"
#include "training/pairing.hpp"
#include "training/synth.hpp"
#include "training/trainer.hpp"

using namespace sims;
using sims::test::TempDir;

namespace {

NetConfig small_mlp() {
  NetConfig c;
  c.width = 64;
  c.depth = 3;
  return c;
}

TrainConfig quick(int64_t budget, uint64_t seed = 1) {
  TrainConfig t;
  t.budget = budget;
  t.batch = 256;
  t.lr = 2e-3;
  t.lr_rampup = 5000;
  t.seed = seed;
  return t;
}

// W2 between Gaussians fitted to two point sets (closed form).
double fitted_w2(const at::Tensor& a, const at::Tensor& b) {
  auto stats = [](const at::Tensor& x) {
    at::Tensor d = x.to(at::kDouble);
    at::Tensor m = d.mean(0), c = d - m;
    return std::make_pair(m, at::matmul(c.t(), c) / (d.size(0) - 1));
  };
  auto [m1, s1] = stats(a);
  auto [m2, s2] = stats(b);
  return metrics::w2_gaussian(m1, s1, m2, s2);
}

double max_param_diff(EdmNetwork& a, EdmNetwork& b) {
  double m = 0;
  auto pb = b.named_parameters(true);
  for (auto& p : a.named_parameters(true)) m = std::max(m, (p.value() - pb[p.key()]).abs().max().item<double>());
  return m;
}

at::Tensor sample_model(const TrainState& st, int64_t n, uint64_t seed) {
  auto d = NetworkDenoiser::from_state(st, "test");
  SamplerConfig c;
  return EdmSampler(d, nullptr, c, {}).sample(seeded_noise(n, {2}, seed)).x;
}

}  // namespace

TEST_CASE("built-in 2D data: deterministic, right moments, all shapes", "[data]") {
  auto g = data::Toy2dSpec::named("gaussian");
  at::Tensor a = data::sample_toy2d(g, 20000, 3), b = data::sample_toy2d(g, 20000, 3);
  CHECK(at::equal(a, b));
  CHECK_FALSE(at::equal(a, data::sample_toy2d(g, 20000, 4)));
  at::Tensor d = a.to(at::kDouble), c = d - d.mean(0);
  at::Tensor cov = at::matmul(c.t(), c) / 19999;
  CHECK(cov[0][0].item<double>() == Approx(2.0).margin(0.08));
  CHECK(cov[0][1].item<double>() == Approx(1.0).margin(0.06));
  CHECK(d.mean(0).abs().max().item<double>() < 0.05);
  for (const auto& name : data::toy2d_names()) {
    at::Tensor x = data::sample_toy2d(data::Toy2dSpec::named(name), 500, 1);
    CHECK(x.sizes() == at::IntArrayRef({500, 2}));
    CHECK(x.isfinite().all().item<bool>());
    CHECK(x.std().item<double>() > 0.3);
  }
  // grid25 really has 25 modes: every point is near one of the grid nodes.
  at::Tensor grid = data::sample_toy2d(data::Toy2dSpec::named("grid25"), 2000, 2).to(at::kDouble) / 0.7;
  CHECK(((grid - grid.round()).abs() < 0.4).all().item<bool>());
  CHECK(std::get<0>(at::_unique(grid.round().select(1, 0) * 10 + grid.round().select(1, 1))).size(0) == 25);
  CHECK_THROWS_AS(data::Toy2dSpec::named("moons2"), InputError);
}

TEST_CASE("training lowers the loss and the samples approach the data", "[training]") {
  at::Tensor data = data::sample_toy2d(data::Toy2dSpec::named("gaussian"), 1000, 0);
  TrainState st = TrainState::create(small_mlp(), quick(200000));
  at::Tensor before = sample_model(st, 1000, 5);
  REQUIRE(train(st, data) == TrainOutcome::Finished);
  CHECK(st.images_seen == 200000);
  REQUIRE(st.loss_curve.size() > 20);
  double first = 0, last = 0;
  const size_t k = st.loss_curve.size() / 10;
  for (size_t i = 0; i < k; ++i) {
    first += st.loss_curve[i].loss;
    last += st.loss_curve[st.loss_curve.size() - 1 - i].loss;
  }
  CHECK(last < 0.8 * first);
  at::Tensor after = sample_model(st, 1000, 5);
  at::Tensor fresh = data::sample_toy2d(data::Toy2dSpec::named("gaussian"), 1000, 99);
  const double w_after = fitted_w2(after, fresh), w_before = fitted_w2(before, fresh);
  INFO("W2 untrained " << w_before << ", trained " << w_after);
  CHECK(w_after < 0.35);
  CHECK(w_before > 1.0);
  // Exact empirical W2 tells the same story.
  CHECK(metrics::wasserstein2(after.narrow(0, 0, 500), fresh.narrow(0, 0, 500)) < 0.5);
}

TEST_CASE("checkpoints round-trip and training resumes exactly", "[training]") {
  TempDir dir;
  at::Tensor data = data::sample_toy2d(data::Toy2dSpec::named("rings"), 600, 0);
  TrainState straight = TrainState::create(small_mlp(), quick(20480, 7));
  train(straight, data);

  TrainState first = TrainState::create(small_mlp(), quick(10240, 7));
  first.provenance = {{"role", "base"}};
  train(first, data);
  save_checkpoint(dir.file("half.ckpt"), first);
  TrainState resumed = load_checkpoint(dir.file("half.ckpt"));
  CHECK(resumed.images_seen == 10240);
  CHECK(resumed.provenance["role"] == "base");
  CHECK(resumed.loss_curve.size() == first.loss_curve.size());
  CHECK(max_param_diff(*resumed.raw, *first.raw) == 0.0);
  CHECK(max_param_diff(*resumed.ema, *first.ema) == 0.0);
  resumed.train.budget = 20480;
  train(resumed, data);
  CHECK(max_param_diff(*resumed.raw, *straight.raw) == 0.0);
  CHECK(max_param_diff(*resumed.ema, *straight.ema) == 0.0);
  // And a different seed really trains differently (the check can fail).
  TrainState other = TrainState::create(small_mlp(), quick(20480, 8));
  train(other, data);
  CHECK(max_param_diff(*other.raw, *straight.raw) > 1e-3);
}

TEST_CASE("cancelling training leaves a resumable checkpoint", "[training]") {
  TempDir dir;
  at::Tensor data = data::sample_toy2d(data::Toy2dSpec::named("gaussian"), 500, 0);
  TrainState st = TrainState::create(small_mlp(), quick(50000, 3));
  std::atomic<bool> cancel{false};
  TrainOptions o;
  o.cancel = &cancel;
  o.checkpoint_path = dir.file("c.ckpt");
  o.progress_every = 2560;
  o.on_progress = [&](const TrainEvent& e) {
    if (e.images_seen >= 10000) cancel = true;
  };
  CHECK(train(st, data, o) == TrainOutcome::Cancelled);
  TrainState back = load_checkpoint(dir.file("c.ckpt"));
  CHECK(back.images_seen == st.images_seen);
  CHECK(back.images_seen < 50000);
  CHECK(train(back, data) == TrainOutcome::Finished);
  CHECK(back.images_seen == 50000);
}

TEST_CASE("a checkpoint is a model: load_denoiser, info, fork for the auxiliary", "[training]") {
  TempDir dir;
  TrainState st = TrainState::create(small_mlp(), quick(2560));
  st.data = {{"source", "builtin"}};
  train(st, data::sample_toy2d(data::Toy2dSpec::named("gaussian"), 300, 0));
  save_checkpoint(dir.file("b.ckpt"), st);
  auto d = load_denoiser(dir.file("b.ckpt"));
  CHECK(d->info().kind == "checkpoint");
  CHECK(d->info().sample_shape == std::vector<int64_t>{2});
  CHECK(d->info().provenance["images_seen"] == 2560);
  TrainState aux = TrainState::fork(st, quick(1000));
  CHECK(max_param_diff(*aux.raw, *st.ema) == 0.0);
  CHECK(aux.images_seen == 0);
  // Corrupt checkpoints are refused with a clear error.
  {
    std::ofstream f(dir.file("bad.ckpt"), std::ios::binary);
    f << "PK\x03\x04garbage";
  }
  CHECK_THROWS_AS(load_checkpoint(dir.file("bad.ckpt")), ModelError);
}

TEST_CASE("an auxiliary paired with another base is said and its own base is not", "[training][pairing]") {
  TempDir dir;
  const at::Tensor data = data::sample_toy2d(data::Toy2dSpec::named("gaussian"), 300, 0);
  TrainState a = TrainState::create(small_mlp(), quick(512, 1)), b = TrainState::create(small_mlp(), quick(512, 2));
  a.provenance = b.provenance = {{"role", "base"}};
  train(a, data);
  train(b, data);  // the same network and images seen as a: only the weights tell them apart
  save_checkpoint(dir.file("a.ckpt"), a);
  save_checkpoint(dir.file("b.ckpt"), b);
  TrainState aux = TrainState::fork(a, quick(256));
  aux.provenance.update(nlohmann::json{{"role", "auxiliary"}});
  train(aux, data);
  save_checkpoint(dir.file("aux.ckpt"), aux);
  auto info = [&](const std::string& name) { return load_denoiser(dir.file(name))->info(); };
  CHECK(pairing_doubt(info("a.ckpt"), info("aux.ckpt")).empty());
  CHECK_THAT(pairing_doubt(info("b.ckpt"), info("aux.ckpt")), Catch::Contains("fine-tuned from other weights"));
  CHECK_THAT(pairing_doubt(info("a.ckpt"), info("b.ckpt")), Catch::Contains("trained from scratch"));
  CHECK_THAT(pairing_doubt(info("a.ckpt"), info("a.ckpt")), Catch::Contains("same weights"));
  // The base trained further after the auxiliary was made from it.
  a.train.budget = 768;
  train(a, data);
  save_checkpoint(dir.file("a2.ckpt"), a);
  CHECK_THAT(pairing_doubt(info("a2.ckpt"), info("aux.ckpt")), Catch::Contains("other weights"));
  // An older auxiliary that recorded only its base's images seen is compared by those.
  ModelInfo old = info("aux.ckpt");
  old.provenance["history"].erase("base_weights_crc32");
  CHECK(pairing_doubt(info("b.ckpt"), old).empty());  // what it records cannot tell b from a
  CHECK_THAT(pairing_doubt(info("a2.ckpt"), old), Catch::Contains("had seen 512 training images"));
  // Another network altogether.
  NetConfig narrow = small_mlp();
  narrow.width = 32;
  save_checkpoint(dir.file("n.ckpt"), TrainState::create(narrow, quick(512)));
  CHECK_THAT(pairing_doubt(info("n.ckpt"), info("aux.ckpt")), Catch::Contains("another network"));
  // Models that record nothing about their making (analytic, foreign TorchScript) are not doubted.
  ModelInfo bare;
  bare.path = "x.pt";
  CHECK(pairing_doubt(info("a.ckpt"), bare).empty());
  CHECK(pairing_doubt(bare, info("aux.ckpt")).empty());
  // A crafted record (fields of other types) says nothing rather than throwing: the pair still loads.
  ModelInfo odd = info("aux.ckpt");
  odd.provenance["history"] = {{"role", 5}, {"base_weights_crc32", "x"}, {"base_images_seen", nlohmann::json::array()}};
  odd.provenance["net"] = "mlp";
  CHECK_NOTHROW(pairing_doubt(info("a.ckpt"), odd));
  CHECK(pairing_doubt(info("a.ckpt"), odd).empty());
}

TEST_CASE("synthetic sets stream to disk in chunks and resume identically", "[training]") {
  TempDir dir;
  auto model = sims::test::gaussian2d(0.0, 0.0, 2.0, 1.0, 2.0);
  SynthConfig c;
  c.n = 2500;
  c.chunk = 400;
  c.seed = 4;
  c.sampler.steps = 8;
  // Uninterrupted, checking the file grows chunk by chunk (memory stays one chunk).
  const size_t header = io::npy_header({2500, 2}).size();
  int calls = 0;
  SynthResult r = generate_synthetic_set(model, nullptr, c, dir.file("full.npy"), nullptr, [&](int64_t done, int64_t, double) {
    ++calls;
    CHECK(std::filesystem::file_size(dir.file("full.npy.partial")) == header + static_cast<size_t>(done) * 8);
  });
  CHECK(calls == 7);
  CHECK(r.done == 2500);
  CHECK_FALSE(r.cancelled);
  CHECK_FALSE(std::filesystem::exists(dir.file("full.npy.partial")));
  at::Tensor full = io::read_npy(dir.file("full.npy"));
  CHECK(full.sizes() == at::IntArrayRef({2500, 2}));
  // Interrupted after 3 chunks, then resumed.
  std::atomic<bool> stop{false};
  SynthResult a = generate_synthetic_set(model, nullptr, c, dir.file("res.npy"), &stop, [&](int64_t done, int64_t, double) {
    if (done >= 1200) stop = true;
  });
  CHECK(a.cancelled);
  CHECK_FALSE(std::filesystem::exists(dir.file("res.npy")));
  SynthResult b = generate_synthetic_set(model, nullptr, c, dir.file("res.npy"));
  CHECK(b.resumed_from == 1200);
  CHECK(at::equal(io::read_npy(dir.file("res.npy")), full));
  // A progress file whose count is damaged (a float far out of range): started over, the same set.
  stop = false;
  generate_synthetic_set(model, nullptr, c, dir.file("dmg.npy"), &stop, [&](int64_t done, int64_t, double) {
    if (done >= 800) stop = true;
  });
  nlohmann::json st = experiment::read_json_file(dir.file("dmg.npy.partial.json"));
  REQUIRE(st["done"] == 800);
  st["done"] = 1e300;
  experiment::write_json_file(dir.file("dmg.npy.partial.json"), st);
  SynthResult d = generate_synthetic_set(model, nullptr, c, dir.file("dmg.npy"));
  CHECK(d.resumed_from == 0);
  CHECK(at::equal(io::read_npy(dir.file("dmg.npy")), full));
}

TEST_CASE("a synthetic set half made with other settings is refused, a finished one records what made it", "[training][resume]") {
  TempDir dir;
  auto model = sims::test::gaussian2d(0.0, 0.0, 2.0, 1.0, 2.0);
  SynthConfig c;
  c.n = 1000;
  c.chunk = 250;
  c.seed = 4;
  c.sampler.steps = 6;
  std::atomic<bool> stop{false};
  generate_synthetic_set(model, nullptr, c, dir.file("s.npy"), &stop, [&](int64_t done, int64_t, double) {
    if (done >= 500) stop = true;
  });
  SynthConfig other = c;
  other.seed = 5;
  try {
    generate_synthetic_set(model, nullptr, other, dir.file("s.npy"));
    FAIL("a partial set of other settings was taken over");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::Contains("seed = 4 (now 5)"));
  }
  CHECK(std::filesystem::exists(dir.file("s.npy.partial")));  // nothing lost
  const SynthResult r = generate_synthetic_set(model, nullptr, c, dir.file("s.npy"));
  CHECK(r.resumed_from == 500);
  const auto made = nlohmann::json::parse(std::ifstream(dir.file("s.npy.json")));
  CHECK(made.at("config") == synth_key(model, nullptr, c));
  CHECK(made.at("done") == 1000);
}

TEST_CASE("a checkpoint continues only under the settings it was trained with", "[training][resume]") {
  NetConfig net;
  net.width = 16;
  net.depth = 1;
  TrainConfig tc;
  tc.budget = 1000;
  tc.batch = 64;
  TrainState st = TrainState::create(net, tc);
  st.data = {{"source", "builtin"}, {"spec", {{"name", "grid25"}}}, {"n", 500}, {"seed", 0}};
  st.images_seen = 600;
  const nlohmann::json spec = st.data;
  CHECK(check_continues("m.ckpt", st, spec, net.to_json(), tc) == TrainStart::Continue);
  TrainConfig more = tc;
  more.budget = 600;
  CHECK(check_continues("m.ckpt", st, spec, net.to_json(), more) == TrainStart::Finished);
  more.checkpoint_every = 100;  // free: how often it is saved
  CHECK(check_continues("m.ckpt", st, spec, net.to_json(), more) == TrainStart::Finished);
  auto refused = [&](const nlohmann::json& d, const nlohmann::json& n, const TrainConfig& t) -> std::string {
    try {
      check_continues("m.ckpt", st, d, n, t);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  nlohmann::json other_data = spec;
  other_data["spec"]["name"] = "gaussian";
  CHECK_THAT(refused(other_data, net.to_json(), tc), Catch::Contains("data.spec.name = \"grid25\" (now \"gaussian\")"));
  NetConfig wide = net;
  wide.width = 64;
  CHECK_THAT(refused(spec, wide.to_json(), tc), Catch::Contains("net.width = 16 (now 64)"));
  TrainConfig lr = tc;
  lr.lr = 2e-3;
  CHECK_THAT(refused(spec, net.to_json(), lr), Catch::Contains("train.lr"));
  CHECK_THAT(refused(spec, net.to_json(), lr), Catch::Contains("another --out"));
  // Settings an older checkpoint did not record are not held against it.
  nlohmann::json richer = spec;
  richer["content"] = {{"bytes", 10}};
  CHECK(refused(richer, net.to_json(), tc).empty());
}

TEST_CASE("checkpoints are weights-only files: damaged and crafted ones give an error, never a crash", "[training][files]") {
  TempDir dir;
  NetConfig net;
  net.width = 8;
  net.depth = 2;
  net.emb_freqs = 2;
  TrainState st = TrainState::create(net, quick(512));
  st.provenance = {{"role", "base"}};
  train(st, data::sample_toy2d(data::Toy2dSpec::named("gaussian"), 128, 0));
  const std::string good = dir.file("good.ckpt");
  save_checkpoint(good, st);
  REQUIRE(io::looks_like_safetensors(good));
  REQUIRE(is_checkpoint(good));
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto write = [&](const std::string& name, const std::string& content) {
    std::ofstream(dir.file(name), std::ios::binary) << content;
    return dir.file(name);
  };
  auto same_as_good = [&](const TrainState& back) {
    return back.images_seen == st.images_seen && max_param_diff(*back.raw, *st.raw) == 0.0 &&
           max_param_diff(*back.ema, *st.ema) == 0.0 && back.provenance == st.provenance;
  };

  SECTION("one flipped bit anywhere is refused with a sims error (or changes nothing)") {
    int refused = 0, unchanged = 0;
    for (size_t off = 0; off < bytes.size(); off += 7) {
      std::string m = bytes;
      m[off] = static_cast<char>(m[off] ^ (1 << (off % 8)));
      const std::string p = write("flip.ckpt", m);
      try {
        unchanged += same_as_good(load_checkpoint(p));
      } catch (const sims::Error&) {
        ++refused;
      }
    }
    const int tried = static_cast<int>((bytes.size() + 6) / 7);
    CHECK(refused + unchanged == tried);  // every other outcome (a different model loaded) fails here
    CHECK(refused > tried * 9 / 10);
  }
  SECTION("cut short at any length") {
    for (size_t len : {size_t{0}, size_t{5}, size_t{8}, size_t{20}, bytes.size() / 2, bytes.size() - 1})
      CHECK_THROWS_AS(load_checkpoint(write("short.ckpt", bytes.substr(0, len))), sims::Error);
  }
  SECTION("a crafted header: nesting, a huge network, offsets outside the file") {
    auto craft = [&](const std::string& meta_text) {
      io::write_safetensors(dir.file("crafted.ckpt"),
                            {{"format", "sims-checkpoint"}, {"version", "2"}, {"sims_checkpoint", meta_text}}, {});
      return dir.file("crafted.ckpt");
    };
    const std::string deep = "{\"net\":{},\"train\":{},\"provenance\":" + std::string(100000, '[') +
                             std::string(100000, ']') + "}";
    CHECK_THROWS_WITH(load_checkpoint(craft(deep)), Catch::Contains("deeper than 64"));
    // Networks that would take hours to build or all memory: refused from their settings, before any allocation.
    CHECK_THROWS_WITH(load_checkpoint(craft(R"({"net":{"type":"mlp","depth":100000},"train":{}})")),
                      Catch::Contains("out of range"));
    CHECK_THROWS_WITH(load_checkpoint(craft(R"({"net":{"type":"mlp","width":16000,"depth":64},"train":{}})")),
                      Catch::Contains("too large"));
    CHECK_THROWS_WITH(
        load_checkpoint(craft(R"({"net":{"type":"unet","model_channels":1024,"channel_mult":[16,16],"num_blocks":16},"train":{}})")),
        Catch::Contains("too large"));
    CHECK_THROWS_WITH(load_checkpoint(craft(R"({"net":{"type":"mlp"},"train":{"batch":"x"}})")),
                      Catch::Contains("batch is not a whole number"));
    CHECK_THROWS_WITH(load_checkpoint(craft(R"({"net":{"type":"mlp"},"train":{"lr":"x"}})")),
                      Catch::Contains("is damaged: lr is not a number"));
    // Counts that are not whole numbers from 0 up: refused, never converted (1e300 to an integer is undefined).
    for (const std::string bad : {"1e300", "2.5", "-1", "\"7\"", "18446744073709551615"})
      CHECK_THROWS_WITH(load_checkpoint(craft(R"({"net":{"type":"mlp"},"train":{},"images_seen":)" + bad + "}")),
                        Catch::Contains("images_seen is not a count"));
    // The same in the network's and the training's settings.
    CHECK_THROWS_WITH(load_checkpoint(craft(R"({"net":{"type":"mlp","width":1e300},"train":{}})")),
                      Catch::Contains("network configuration: width is not a whole number"));
    CHECK_THROWS_WITH(load_checkpoint(craft(R"({"net":{"type":"unet","channel_mult":[1,2.5]},"train":{}})")),
                      Catch::Contains("channel_mult is not a whole number"));
    CHECK_THROWS_WITH(load_checkpoint(craft(R"({"net":{"type":"mlp"},"train":{"batch":1e300}})")),
                      Catch::Contains("batch is not a whole number"));
    CHECK_THROWS_WITH(load_checkpoint(craft(R"({"net":{"type":"mlp"},"train":{"seed":-3}})")),
                      Catch::Contains("seed is not a whole number"));
    // A header length beyond the file, and a tensor whose offsets run past the data.
    std::string m = bytes;
    m[0] = m[1] = m[2] = '\xff';  // 16 MiB - 1
    CHECK_THROWS_WITH(load_checkpoint(write("len.ckpt", m)), Catch::Contains("does not fit the file"));
    const std::string h = "{\"raw/x\":{\"dtype\":\"F32\",\"shape\":[1000000000,1000000000],\"data_offsets\":[0,4]}}";
    std::string f(8, '\0');
    f[0] = static_cast<char>(h.size());
    CHECK_THROWS_WITH(load_checkpoint(write("big.ckpt", f + h + "abcd")), Catch::Contains("larger than the file"));
  }
  SECTION("a network with an empty buffer (no frequency embedding) round-trips") {
    NetConfig bare = net;
    bare.emb_freqs = 0;  // its "freqs" buffer has no elements: offsets [x, x] beside the next tensor's [x, y]
    TrainState b = TrainState::create(bare, quick(256));
    save_checkpoint(dir.file("bare.ckpt"), b);
    CHECK(max_param_diff(*load_checkpoint(dir.file("bare.ckpt")).ema, *b.ema) == 0.0);
  }
  SECTION("a long chain of fine-tunes stays loadable: its oldest history is trimmed") {
    nlohmann::json history = {{"role", "base"}};
    for (int i = 0; i < 100; ++i) history = {{"role", "auxiliary"}, {"base_history", history}};
    st.provenance = history;
    save_checkpoint(dir.file("chain.ckpt"), st);
    TrainState back = load_checkpoint(dir.file("chain.ckpt"));
    int depth = 0;
    for (const nlohmann::json* h = &back.provenance; h->is_object() && h->contains("base_history"); h = &(*h)["base_history"])
      ++depth;
    CHECK(depth > 20);
    CHECK(depth < 40);
  }
  SECTION("a loss that was not finite keeps the checkpoint usable") {
    st.loss_curve.push_back({st.images_seen, NAN});
    save_checkpoint(dir.file("nan.ckpt"), st);
    TrainState back = load_checkpoint(dir.file("nan.ckpt"));
    REQUIRE(!back.loss_curve.empty());
    CHECK(std::isnan(back.loss_curve.back().loss));
  }
}

TEST_CASE("a diverged training stops with an error and writes no broken checkpoint", "[training][files]") {
  TempDir dir;
  NetConfig net;
  net.width = 8;
  net.depth = 2;
  TrainConfig tc = quick(8 * 200);
  tc.batch = 8;
  TrainState st = TrainState::create(net, tc);
  TrainOptions o;
  o.checkpoint_path = dir.file("d.ckpt");
  // Finite data whose squared errors overflow float: every loss is infinite.
  at::Tensor huge = data::sample_toy2d(data::Toy2dSpec::named("gaussian"), 64, 0) * 1e25;
  CHECK_THROWS_WITH(train(st, huge, o), Catch::Contains("diverged") && Catch::Contains("nothing was written"));
  CHECK_FALSE(std::filesystem::exists(dir.file("d.ckpt")));
  tc.lr = 9.2e18;
  CHECK_THROWS_WITH(TrainState::create(net, tc), Catch::Contains("(0, 1]"));
}
