// TorchScript denoisers: loading, validation at load time, agreement with the
// analytic model, batched vs one-at-a-time, concurrent vs sequential pairs.
#include <catch2/catch.hpp>

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include "common/error.hpp"
#include "helpers.hpp"
#include "io/script_meta.hpp"
#include "sampling/edm_sampler.hpp"

using namespace sims;
using sims::test::fixture;
using sims::test::max_abs_diff;

TEST_CASE("TorchScript models load with their declared or probed shape", "[torchscript]") {
  auto m = load_denoiser(fixture("mlp_base.pt"));
  CHECK(m->info().kind == "torchscript");
  CHECK(m->info().sample_shape == std::vector<int64_t>{2});
  CHECK(m->info().parameters > 0);
  CHECK(load_denoiser(fixture("mlp_nometa.pt"))->info().sample_shape == std::vector<int64_t>{2});
  CHECK(load_denoiser(fixture("conv_image.pt"))->info().sample_shape == std::vector<int64_t>{3, 32, 32});
  LoadOptions o;
  o.sample_shape = {3, 32, 32};
  CHECK(load_denoiser(fixture("conv_image.pt"), o)->info().sample_shape == std::vector<int64_t>{3, 32, 32});
}

TEST_CASE("models that do not fit are refused at load time", "[torchscript]") {
  CHECK_THROWS_AS(load_denoiser(fixture("does_not_exist.pt")), InputError);
  CHECK_THROWS_WITH(load_denoiser(fixture("bad_signature.pt")), Catch::Contains("forward(x: Tensor, sigma: Tensor)"));
  CHECK_THROWS_WITH(load_denoiser(fixture("bad_shape.pt")), Catch::Contains("shape of x"));
  CHECK_THROWS_WITH(load_denoiser(fixture("nan_model.pt")), Catch::Contains("NaN"));
  CHECK_THROWS_AS(load_denoiser(fixture("not_a_model.pt")), ModelError);
  LoadOptions o;
  o.sample_shape = {3, 32, 32};
  CHECK_THROWS_AS(load_denoiser(fixture("mlp_base.pt"), o), ModelError);
  CHECK_THROWS_AS(load_denoiser(SIMS_FIXTURE_DIR), InputError);  // a directory
}

TEST_CASE("sims.json metadata is checked before anything is built from it", "[torchscript]") {
  using io::read_denoiser_script_meta;
  const auto m = read_denoiser_script_meta(R"({"shape": [3, 32, 32], "sigma_min": 0.002, "sigma_max": 80,
                                               "sigma_data": 0.5, "source": "x"})",
                                           "m.pt");
  CHECK(m.shape == std::vector<int64_t>{3, 32, 32});
  CHECK(m.sigma_min == 0.002);
  CHECK(m.sigma_max == 80);
  CHECK(*m.sigma_data == 0.5);
  CHECK(m.provenance.at("source") == "x");
  CHECK(read_denoiser_script_meta("{}", "m.pt").shape.empty());
  CHECK(read_denoiser_script_meta("{}", "m.pt").sigma_min == 0.002);  // EDM's range where not given
  CHECK(read_denoiser_script_meta("{}", "m.pt", 0.01, 20).sigma_max == 20);
  CHECK_FALSE(read_denoiser_script_meta("{}", "m.pt").sigma_data.has_value());
  const std::string bad = "'m.pt': bad sims.json metadata: ";
  CHECK_THROWS_WITH(read_denoiser_script_meta(R"({"sigma_min": "0.002"})", "m.pt"), bad + "sigma_min is not a number");
  CHECK_THROWS_WITH(read_denoiser_script_meta(R"({"sigma_max": -3})", "m.pt"),
                    bad + "sigma_max is -3, not a positive noise level up to 1e6");
  CHECK_THROWS_WITH(read_denoiser_script_meta(R"({"sigma_data": 1e308})", "m.pt"),
                    Catch::StartsWith(bad + "sigma_data is 1"));
  CHECK_THROWS_WITH(read_denoiser_script_meta(R"({"sigma_min": 5, "sigma_max": 1})", "m.pt"),
                    bad + "sigma_min 5 is not below sigma_max 1");
  // Values equal to six digits are written with as many digits as tell them apart.
  CHECK_THROWS_WITH(read_denoiser_script_meta(R"({"sigma_min": 80.0000001, "sigma_max": 80})", "m.pt"),
                    bad + "sigma_min 80.0000001 is not below sigma_max 80");
  CHECK_THROWS_WITH(read_denoiser_script_meta(R"({"sigma_min": 80, "sigma_max": 80})", "m.pt"),
                    bad + "sigma_min 80 is not below sigma_max 80");
  CHECK(io::distinct_number(1e6, 0) == "1e6");
  CHECK(io::distinct_number(1.5e-5, 0) == "1.5e-5");
  CHECK(io::distinct_number(0.1 + 0.2, 0.3) == "0.30000000000000004");
  // One given: compared with the other's default, and the message says what was assumed.
  CHECK_THROWS_WITH(read_denoiser_script_meta(R"({"sigma_min": 100})", "m.pt"),
                    bad + "sigma_min 100 is not below sigma_max 80 (where not given, sigma_min is 0.002 and sigma_max 80)");
  CHECK(read_denoiser_script_meta(R"({"sigma_min": 100})", "m.pt", 0.002, 200).sigma_min == 100);
  CHECK_THROWS_WITH(read_denoiser_script_meta(R"({"sigma_max": 0.001})", "m.pt"),
                    Catch::StartsWith(bad + "sigma_min 0.002 is not below sigma_max 0.001 (where not given"));
  CHECK_THROWS_WITH(read_denoiser_script_meta(R"({"sigma_min": 0})", "m.pt"),
                    bad + "sigma_min is 0, not a positive noise level up to 1e6");
  CHECK_THROWS_WITH(read_denoiser_script_meta(R"({"shape": [2, -2]})", "m.pt"),
                    bad + "shape is [2,-2]: each size must be from 1 to 65536");
  CHECK_THROWS_WITH(read_denoiser_script_meta(R"({"shape": [100000000000]})", "m.pt"),
                    bad + "shape is [100000000000]: each size must be from 1 to 65536");
  CHECK(read_denoiser_script_meta(R"({"shape": [64, 1024, 1024]})", "m.pt").shape[0] == 64);  // the largest U-Net
  CHECK_THROWS_WITH(read_denoiser_script_meta(R"({"shape": [8192, 8192, 3]})", "m.pt"),
                    bad + "shape is [8192,8192,3]: more than 67108864 values per sample");
  CHECK_THROWS_WITH(read_denoiser_script_meta(R"({"shape": []})", "m.pt"), bad + "shape is [], not 1 to 4 sizes");
  CHECK_THROWS_WITH(read_denoiser_script_meta(R"({"shape": [2, "a"]})", "m.pt"),
                    bad + "shape is not a whole number");
  CHECK_THROWS_WITH(read_denoiser_script_meta("[1]", "m.pt"), bad + "it is not a JSON object");
  CHECK_THROWS_WITH(read_denoiser_script_meta("{", "m.pt"), Catch::StartsWith("'m.pt': its sims.json metadata"));

  using io::read_feature_script_meta;
  const auto f = read_feature_script_meta(
      R"({"name": "n", "input_size": 32, "input_range": [0, 1], "labels": "classes", "attr_names": ["a", "b"]})",
      "f.pt");
  CHECK(*f.name == "n");
  CHECK(*f.input_size == 32);
  CHECK(f.input_range->first == 0);
  CHECK(f.input_range->second == 1);
  CHECK_FALSE(f.multi_label);
  CHECK(f.attr_names == std::vector<std::string>{"a", "b"});
  io::FeatureMetaGiven given;  // what the user's spec gives is left unread
  given.name = given.size = given.range = given.softmax = true;
  const auto unread = read_feature_script_meta(R"({"name": 5, "input_size": -1, "input_range": 7, "labels": 3})",
                                               "f.pt", given);
  CHECK_FALSE(unread.name.has_value());
  CHECK_FALSE(unread.input_size.has_value());
  CHECK_FALSE(unread.input_range.has_value());
  const std::string fbad = "'f.pt': bad sims.json metadata: ";
  CHECK_THROWS_WITH(read_feature_script_meta(R"({"labels": "multiple"})", "f.pt"),
                    fbad + "labels is \"multiple\", not \"multi\" or \"classes\"");
  CHECK_THROWS_WITH(read_feature_script_meta(R"({"input_size": 1e300})", "f.pt"),
                    fbad + "input_size is not a count");
  CHECK_THROWS_WITH(read_feature_script_meta(R"({"input_range": [0, 1e999]})", "f.pt"),
                    Catch::StartsWith("'f.pt': its sims.json metadata"));  // beyond a double: not JSON we read
  CHECK_THROWS_WITH(read_feature_script_meta(R"({"attr_names": [1]})", "f.pt"),
                    fbad + "attr_names is not text");

  // Through the loader: refused before torch sees the shape, naming the file.
  CHECK_THROWS_WITH(load_denoiser(fixture("mlp_meta_negative_shape.pt")),
                    "'" + fixture("mlp_meta_negative_shape.pt") +
                        "': bad sims.json metadata: shape is [2,-2]: each size must be from 1 to 65536");
  CHECK_THROWS_WITH(load_denoiser(fixture("mlp_meta_text_sigma.pt")),
                    "'" + fixture("mlp_meta_text_sigma.pt") + "': bad sims.json metadata: sigma_min is not a number");
  CHECK_THROWS_WITH(load_denoiser(fixture("mlp_meta_sigma_min_only.pt")),
                    "'" + fixture("mlp_meta_sigma_min_only.pt") + "': bad sims.json metadata: sigma_min 100 is not below " +
                        "sigma_max 80 (where not given, sigma_min is 0.002 and sigma_max 80)");
}

TEST_CASE("a TorchScript exact Gaussian samples like the analytic one", "[torchscript]") {
  auto ts = load_denoiser(fixture("gauss_exact.pt"));
  auto an = load_denoiser(fixture("gauss.json"));
  at::Tensor noise = seeded_noise(500, {2}, 3);
  SamplerConfig c;
  at::Tensor a = EdmSampler(ts, nullptr, c, {}).sample(noise).x;
  at::Tensor b = EdmSampler(an, nullptr, c, {}).sample(noise).x;
  // The TorchScript model works in float32 at its interface.
  CHECK(max_abs_diff(a, b) < 1e-3);
}

TEST_CASE("batched sampling equals one-at-a-time", "[torchscript]") {
  auto base = load_denoiser(fixture("mlp_base.pt"));
  auto aux = load_denoiser(fixture("mlp_aux.pt"));
  SamplerConfig c;
  c.steps = 12;
  EdmSampler s(base, aux, c, Guidance{1.5, 0.0, INFINITY});
  at::Tensor noise = seeded_noise(8, {2}, 21);
  at::Tensor batched = s.sample(noise).x;
  for (int64_t i = 0; i < 8; ++i) {
    at::Tensor one = s.sample(noise.narrow(0, i, 1)).x;
    CHECK(max_abs_diff(one[0], batched[i]) < 1e-4);
  }
}

TEST_CASE("base == aux (separate files) gives the base for any omega", "[torchscript]") {
  auto base = load_denoiser(fixture("mlp_base.pt"));
  auto copy = load_denoiser(fixture("mlp_base_copy.pt"));
  at::Tensor noise = seeded_noise(64, {2}, 2);
  SamplerConfig c;
  at::Tensor plain = EdmSampler(base, nullptr, c, {}).sample(noise).x;
  for (double w : {0.5, 3.0}) {
    SampleResult r = EdmSampler(base, copy, c, Guidance{w, 0.0, INFINITY}).sample(noise);
    CHECK(r.aux_evals == 35);
    CHECK(max_abs_diff(r.x, plain) < 1e-9);
  }
}

TEST_CASE("concurrent base/aux evaluation equals sequential", "[torchscript]") {
  auto base = load_denoiser(fixture("mlp_base.pt"));
  auto aux = load_denoiser(fixture("mlp_aux.pt"));
  const int saved = at::get_num_threads();
  at::set_num_threads(2);
  SamplerConfig c;
  c.steps = 8;
  EdmSampler s(base, aux, c, Guidance{1.0, 0.0, INFINITY});
  at::Tensor noise = seeded_noise(300, {2}, 8);
  SampleOptions seq, con;
  seq.pair_mode = PairMode::Sequential;
  con.pair_mode = PairMode::Concurrent;
  SampleResult a = s.sample(noise, seq), b = s.sample(noise, con);
  at::set_num_threads(saved);
  CHECK_FALSE(a.concurrent_pair);
  CHECK(b.concurrent_pair);
  CHECK(max_abs_diff(a.x, b.x) < 1e-5);
  CHECK(a.nfe == b.nfe);
}

TEST_CASE("an image model samples images", "[torchscript]") {
  auto m = load_denoiser(fixture("conv_image.pt"));
  SamplerConfig c;
  c.steps = 4;
  SampleOptions o;
  o.record_trajectory = true;
  SampleResult r = EdmSampler(m, nullptr, c, {}).sample(seeded_noise(2, {3, 32, 32}, 1), o);
  CHECK(r.x.sizes() == at::IntArrayRef({2, 3, 32, 32}));
  CHECK(r.trajectory.stacked_states().sizes() == at::IntArrayRef({5, 2, 3, 32, 32}));
}
