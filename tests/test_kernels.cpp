// The hand-written kernels (core/kernels/) against their reference
// implementations on random inputs of several shapes, and the dispatch rule
// that picks between them. Where the CPU lacks a fast kernel's features the
// comparison is skipped with a warning (the reference is all that runs there).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include "common/error.hpp"
#include "data/toy2d.hpp"
#include "diffusion/network.hpp"
#include "helpers.hpp"
#include "kernels/cpu_features.hpp"
#include "kernels/dense_silu.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/ensemble_mlp.hpp"
#include "kernels/min_plus.hpp"
#include "kernels/silu.hpp"
#include "loops/ensemble.hpp"
#include "metrics/wasserstein.hpp"

using namespace sims;
using namespace sims::kernels;

namespace {

// |a - b| relative to the size of b's entries.
double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return test::max_abs_diff(a, b) / std::max(1e-12, b.abs().max().item<double>());
}

bool have(KernelFamily f) {
  if (cpu_supports(f)) return true;
  WARN("this CPU lacks the features of the " << kernel_family_name(f) << " kernels: only the reference runs here");
  return false;
}

NetConfig mlp(int64_t width, int64_t depth, int64_t freqs) {
  NetConfig c;
  c.dim = 2;
  c.width = width;
  c.depth = depth;
  c.emb_freqs = freqs;
  return c;
}

}  // namespace

// [SECTION] Dispatch ----------------------------------------------------------------

TEST_CASE("kernels: the dispatch rule", "[kernels]") {
  using P = KernelPath;
  const auto F = KernelFamily::Mlp;
  // An explicit request wins over the environment.
  for (P env : {P::Auto, P::Reference, P::Fast}) {
    CHECK(resolve_rule(P::Reference, env, true, F) == P::Reference);
    CHECK(resolve_rule(P::Reference, env, false, F) == P::Reference);
    CHECK(resolve_rule(P::Fast, env, true, F) == P::Fast);
    CHECK_THROWS_AS(resolve_rule(P::Fast, env, false, F), Error);
  }
  // Auto follows the environment, then the CPU.
  CHECK(resolve_rule(P::Auto, P::Auto, true, F) == P::Fast);
  CHECK(resolve_rule(P::Auto, P::Auto, false, F) == P::Reference);
  CHECK(resolve_rule(P::Auto, P::Reference, true, F) == P::Reference);
  CHECK(resolve_rule(P::Auto, P::Fast, true, F) == P::Fast);
  CHECK_THROWS_AS(resolve_rule(P::Auto, P::Fast, false, F), Error);

  for (P p : {P::Auto, P::Reference, P::Fast}) CHECK(parse_kernel_path(kernel_path_name(p)) == p);
  CHECK_THROWS_AS(parse_kernel_path("avx2"), InputError);

  // The probe and the families agree.
  const CpuFeatures& f = cpu_features();
  CHECK(cpu_supports(KernelFamily::Mlp) == f.avx2_fma());
  CHECK(cpu_supports(KernelFamily::Ensemble) == f.avx2_fma());
  CHECK(cpu_supports(KernelFamily::Transport) == f.avx);
  CHECK(&cpu_features() == &f);  // probed once
  // Auto on this machine, with the environment saying nothing: Fast exactly where the CPU can.
  for (KernelFamily fam : {KernelFamily::Mlp, KernelFamily::Ensemble, KernelFamily::Transport})
    if (env_default(fam) == P::Auto) CHECK((resolve(P::Auto, fam) == P::Fast) == cpu_supports(fam));
}

TEST_CASE("kernels: Reference is used when asked, even where the CPU has the fast kernels", "[kernels]") {
  torch::manual_seed(21);
  const auto count = [](KernelFamily f, KernelPath p) { return dispatch_count(f, p); };

  // EdmMlp sampling: the general path bit for bit, and no fast dispatch.
  EdmMlp net(mlp(64, 3, 4));
  net.eval();
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({300, 2});
  const at::Tensor sig = at::full({300}, 0.9, at::kFloat);
  net.set_kernel_path(KernelPath::Reference);
  uint64_t fast0 = count(KernelFamily::Mlp, KernelPath::Fast), ref0 = count(KernelFamily::Mlp, KernelPath::Reference);
  CHECK(at::equal(net.forward(x, sig), net.forward_general(x, sig)));
  CHECK(count(KernelFamily::Mlp, KernelPath::Fast) == fast0);
  CHECK(count(KernelFamily::Mlp, KernelPath::Reference) == ref0 + 1);

  // The ensemble's one-sigma forward and its training.
  NetConfig en = mlp(32, 2, 4);
  const std::vector<uint64_t> seeds{1, 2};
  loops::EnsembleState st = loops::create_ensemble(en, seeds);
  const at::Tensor xe = at::randn({2, 40, 2});
  fast0 = count(KernelFamily::Ensemble, KernelPath::Fast);
  ref0 = count(KernelFamily::Ensemble, KernelPath::Reference);
  const at::Tensor a = loops::ensemble_denoise_at(en, st.ema, xe, 0.5, KernelPath::Reference);
  CHECK(count(KernelFamily::Ensemble, KernelPath::Fast) == fast0);
  CHECK(count(KernelFamily::Ensemble, KernelPath::Reference) == ref0 + 1);
  CHECK(test::max_abs_diff(a, loops::ensemble_denoise(en, st.ema, xe, at::full({2, 40}, 0.5, at::kFloat))) < 1e-5);

  if (cpu_supports(KernelFamily::Mlp) && env_default(KernelFamily::Mlp) == KernelPath::Auto) {
    // And Auto does take the fast path here (so the checks above are not vacuous).
    net.set_kernel_path(KernelPath::Auto);
    fast0 = count(KernelFamily::Mlp, KernelPath::Fast);
    net.forward(x, sig);
    CHECK(count(KernelFamily::Mlp, KernelPath::Fast) == fast0 + 1);
  }
}

TEST_CASE("kernels: ensemble training with Reference dispatches no fast kernel", "[kernels][loop2d]") {
  NetConfig en = mlp(32, 2, 4);
  const std::vector<uint64_t> seeds{3, 4};
  loops::EnsembleState st = loops::create_ensemble(en, seeds);
  const at::Tensor data = at::stack({data::sample_toy2d(data::Toy2dSpec::named("grid25"), 50, 1),
                                     data::sample_toy2d(data::Toy2dSpec::named("grid25"), 50, 2)});
  TrainConfig tc;
  tc.budget = 128;
  tc.batch = 64;
  loops::EnsembleTrainOptions opts;
  opts.kernels = KernelPath::Reference;
  const uint64_t fast0 = dispatch_count(KernelFamily::Ensemble, KernelPath::Fast);
  loops::train_ensemble(st, tc, data, seeds, opts);
  CHECK(dispatch_count(KernelFamily::Ensemble, KernelPath::Fast) == fast0);
  CHECK(st.images_seen == 128);
}

// [SECTION] SiLU --------------------------------------------------------------------

TEST_CASE("kernels: silu fast equals at::silu with extremes and NaN", "[kernels]") {
  if (!have(KernelFamily::Mlp)) return;
  at::Tensor x = at::linspace(-120.0, 120.0, 200001, at::kFloat);
  at::Tensor ref = x.clone();
  silu_reference(ref);
  at::Tensor y = x.clone();
  silu_fast(y);
  CHECK(test::max_abs_diff(y, ref) < 2e-6);
  const at::Tensor big = ref.abs() > 1e-20;
  CHECK(((y - ref).abs() / ref.abs()).masked_select(big).max().item<double>() < 1e-6);
  // Lengths around the vector width (the scalar tail).
  for (int64_t n : {1, 7, 8, 9, 15, 16, 17, 1000}) {
    INFO("n " << n);
    const at::Tensor r = at::randn({n}) * 6.0;
    at::Tensor f = r.clone(), g = r.clone();
    silu_fast(f);
    silu_reference(g);
    CHECK(rel_diff(f, g) < 1e-6);
  }
  at::Tensor odd = at::tensor({std::numeric_limits<float>::quiet_NaN(), 0.f, 1.f, -1.f, 5.f}, at::kFloat);
  silu_fast(odd);
  CHECK(std::isnan(odd[0].item<float>()));
  CHECK(odd[1].item<float>() == 0.f);
  CHECK(odd[2].item<float>() == Approx(0.7310586).epsilon(1e-6));
  // The dispatching entry leaves what the fast kernel cannot take to LibTorch.
  at::Tensor d = at::randn({33}, at::kDouble), d2 = d.clone();
  silu_(d, KernelPath::Fast);
  CHECK(at::equal(d, at::silu(d2)));
}

// [SECTION] Dense layers --------------------------------------------------------------

TEST_CASE("kernels: dense_silu and dense_out_skip fast equal their references", "[kernels]") {
  if (!have(KernelFamily::Mlp)) return;
  torch::manual_seed(5);
  for (int64_t N : {32, 64, 96, 128})
    for (int64_t K : {1, 2, 7, 32, 128})
      for (int64_t m : {1, 2, 3, 17, 64}) {
        INFO("m " << m << " K " << K << " N " << N);
        const at::Tensor a = at::randn({m, K}), wt = at::randn({K, N}) / std::sqrt(double(K)), b = at::randn({N}) * 0.3;
        at::Tensor f = at::full({m, N}, NAN), r = at::full({m, N}, NAN);
        dense_silu_fast(a.data_ptr<float>(), m, K, wt.data_ptr<float>(), b.data_ptr<float>(), N, f.data_ptr<float>());
        dense_silu_reference(a.data_ptr<float>(), m, K, wt.data_ptr<float>(), b.data_ptr<float>(), N,
                             r.data_ptr<float>());
        REQUIRE(f.isfinite().all().item<bool>());
        CHECK(rel_diff(f, r) < 2e-6);
        // The reference is the layer itself: LibTorch agrees.
        CHECK(rel_diff(r, at::silu(at::addmm(b, a, wt))) < 2e-6);
      }
  for (int64_t K : {8, 32, 64, 128})
    for (int64_t D : {1, 2, 3})
      for (int64_t m : {1, 5, 200}) {
        INFO("m " << m << " K " << K << " D " << D);
        const at::Tensor a = at::randn({m, K}), w = at::randn({D, K}) / std::sqrt(double(K)), b = at::randn({D});
        const at::Tensor x = at::randn({m, D});
        const float cs = 0.3f, co = 0.7f;
        at::Tensor f = at::full({m, D}, NAN), r = at::full({m, D}, NAN);
        dense_out_skip_fast(a.data_ptr<float>(), m, K, w.data_ptr<float>(), b.data_ptr<float>(), D, x.data_ptr<float>(),
                            cs, co, f.data_ptr<float>());
        dense_out_skip_reference(a.data_ptr<float>(), m, K, w.data_ptr<float>(), b.data_ptr<float>(), D,
                                 x.data_ptr<float>(), cs, co, r.data_ptr<float>());
        CHECK(rel_diff(f, r) < 2e-6);
        CHECK(rel_diff(r, cs * x + co * at::addmm(b, a, w.t())) < 2e-6);
      }
  CHECK_THROWS_AS(dense_silu_fast(nullptr, 0, 1, nullptr, nullptr, 48, nullptr), Error);
}

TEST_CASE("kernels: EdmMlp's one-sigma sampling path equals the general path", "[kernels][network]") {
  if (!have(KernelFamily::Mlp)) return;
  torch::manual_seed(3);
  // Widths 32/64/128 run the fused dense kernels, 48 the blocked LibTorch path with the fast SiLU.
  for (const auto& cfg : {mlp(64, 4, 8), mlp(32, 2, 0), mlp(128, 3, 4), mlp(48, 2, 3)}) {
    EdmMlp net(cfg);
    net.eval();
    net.set_kernel_path(KernelPath::Fast);
    c10::InferenceMode guard;
    for (int64_t n : {1, 7, 255, 256, 257, 2000}) {
      const at::Tensor x = at::randn({n, 2}) * 3.0;
      for (double s : {0.002, 0.07, 0.5, 1.3, 12.0, 80.0}) {
        INFO("width " << cfg.width << " depth " << cfg.depth << " n " << n << " sigma " << s);
        const at::Tensor sig = at::full({n}, s, at::kFloat);
        const at::Tensor fast = net.forward(x, sig), ref = net.forward_general(x, sig);
        REQUIRE(fast.sizes() == ref.sizes());
        CHECK(rel_diff(fast, ref) < 2e-6);  // float32 sums in another order (measured up to 4.4e-7)
      }
    }
    // Rows at different sigmas take the general path (bit for bit).
    const at::Tensor x = at::randn({50, 2});
    const at::Tensor sig = at::linspace(0.01, 10.0, 50, at::kFloat);
    CHECK(at::equal(net.forward(x, sig), net.forward_general(x, sig)));
  }
}

// [SECTION] Ensemble ------------------------------------------------------------------

namespace {

struct EnsembleShape {
  int64_t R, B, K0, W, H, D;
};

// Stacked weights like an ensemble's: w[l] [R, in, out], b[l] [R, 1, out].
void random_ensemble(const EnsembleShape& s, std::vector<at::Tensor>& w, std::vector<at::Tensor>& b) {
  w.clear();
  b.clear();
  for (int64_t l = 0; l <= s.H; ++l) {
    const int64_t in = l == 0 ? s.K0 : s.W, out = l == s.H ? s.D : s.W;
    w.push_back(at::randn({s.R, in, out}) / std::sqrt(double(in)));
    b.push_back(at::randn({s.R, 1, out}) * 0.2);
  }
}

}  // namespace

TEST_CASE("kernels: ensemble loss+gradient fast equals the autograd reference", "[kernels][loop2d]") {
  if (!have(KernelFamily::Ensemble)) return;
  torch::manual_seed(9);
  // B covers full and partial 4-row blocks; H = 1 has no hidden-to-hidden layer.
  for (const EnsembleShape s : {EnsembleShape{3, 64, 11, 32, 2, 2}, EnsembleShape{2, 5, 19, 64, 3, 2},
                                EnsembleShape{1, 1, 3, 128, 1, 1}, EnsembleShape{4, 22, 7, 32, 1, 3},
                                EnsembleShape{2, 37, 5, 128, 2, 2}}) {
    INFO("R " << s.R << " B " << s.B << " K0 " << s.K0 << " W " << s.W << " H " << s.H << " D " << s.D);
    std::vector<at::Tensor> w, b;
    random_ensemble(s, w, b);
    REQUIRE(ensemble_fast_fits(w, b, s.W, s.D));
    const at::Tensor h0 = at::randn({s.R, s.B, s.K0});
    const at::Tensor base = at::randn({s.R, s.B, s.D});
    const at::Tensor c_out = at::rand({s.R, s.B}) + 0.1;
    const at::Tensor wgt = at::rand({s.R, s.B}) * 4.0 + 0.5;
    std::vector<at::Tensor> gwf, gbf, gwr, gbr;
    for (size_t l = 0; l < w.size(); ++l) {
      gwf.push_back(at::full_like(w[l], NAN));
      gbf.push_back(at::full_like(b[l], NAN));
      gwr.push_back(at::full_like(w[l], NAN));
      gbr.push_back(at::full_like(b[l], NAN));
    }
    at::Tensor lf = at::full({s.R}, NAN), lr = at::full({s.R}, NAN);
    ensemble_loss_and_grad_fast(w, b, h0, base, c_out, wgt, gwf, gbf, lf);
    ensemble_loss_and_grad_reference(w, b, h0, base, c_out, wgt, gwr, gbr, lr);
    CHECK(rel_diff(lf, lr) < 1e-5);
    for (size_t l = 0; l < w.size(); ++l) {
      INFO("layer " << l);
      REQUIRE(gwf[l].isfinite().all().item<bool>());
      CHECK(gwr[l].abs().max().item<double>() > 1e-3);  // gradients that say something
      CHECK(test::max_abs_diff(gwf[l], gwr[l]) < 2e-5 * std::max(1.0, gwr[l].abs().max().item<double>()));
      CHECK(test::max_abs_diff(gbf[l], gbr[l]) < 2e-5 * std::max(1.0, gbr[l].abs().max().item<double>()));
    }
  }
}

TEST_CASE("kernels: ensemble one-sigma forward fast equals its reference", "[kernels][loop2d]") {
  if (!have(KernelFamily::Ensemble)) return;
  torch::manual_seed(10);
  for (const EnsembleShape s : {EnsembleShape{3, 37, 11, 32, 2, 2}, EnsembleShape{2, 1, 19, 64, 3, 2},
                                EnsembleShape{1, 100, 3, 128, 1, 1}, EnsembleShape{5, 8, 7, 32, 1, 3}}) {
    INFO("R " << s.R << " n " << s.B << " W " << s.W << " H " << s.H << " D " << s.D);
    std::vector<at::Tensor> w, b;
    random_ensemble(s, w, b);
    const at::Tensor x = at::randn({s.R, s.B, s.D}) * 2.0;
    const at::Tensor bias0 = at::randn({s.R, 1, s.W});
    for (const double c_in : {0.01, 0.8, 2.0}) {
      const double c_skip = 0.25, c_out = 0.6;
      const at::Tensor f = ensemble_forward_at_fast(w, b, x, bias0, c_in, c_skip, c_out);
      const at::Tensor r = ensemble_forward_at_reference(w, b, x, bias0, c_in, c_skip, c_out);
      REQUIRE(f.sizes() == r.sizes());
      CHECK(rel_diff(f, r) < 2e-6);
    }
  }
}

TEST_CASE("kernels: ensemble training with the fast kernel equals the autograd path", "[kernels][loop2d]") {
  if (!have(KernelFamily::Ensemble)) return;
  const std::vector<uint64_t> seeds{4, 5, 6};
  const int64_t R = 3, N = 90;
  std::vector<at::Tensor> sets;
  for (int64_t r = 0; r < R; ++r) sets.push_back(data::sample_toy2d(data::Toy2dSpec::named("grid25"), N, 40 + r));
  const at::Tensor data = at::stack(sets);
  struct Shape {
    int64_t width, depth, freqs;
  };
  for (const Shape sh : {Shape{32, 2, 4}, Shape{64, 3, 8}, Shape{128, 1, 0}}) {
    NetConfig net = mlp(sh.width, sh.depth, sh.freqs);
    INFO("width " << sh.width << " depth " << sh.depth << " freqs " << sh.freqs);
    loops::EnsembleState fused = loops::create_ensemble(net, seeds), general = loops::create_ensemble(net, seeds);
    // 650 = 10 x 64 + 10: a short last batch too.
    TrainConfig tc;
    tc.budget = 650;
    tc.batch = 64;
    tc.lr = 2e-3;
    tc.lr_rampup = 500;
    loops::EnsembleTrainOptions fast, ref;
    fast.kernels = KernelPath::Fast;
    ref.kernels = KernelPath::Reference;
    const double lf = loops::train_ensemble(fused, tc, data, seeds, fast);
    const double lg = loops::train_ensemble(general, tc, data, seeds, ref);
    CHECK(lf == Approx(lg).epsilon(1e-4));
    CHECK(fused.images_seen == general.images_seen);
    double dr = 0, de = 0, scale = 0;
    for (size_t l = 0; l < fused.raw.w.size(); ++l) {
      dr = std::max({dr, test::max_abs_diff(fused.raw.w[l], general.raw.w[l]),
                     test::max_abs_diff(fused.raw.b[l], general.raw.b[l])});
      de = std::max({de, test::max_abs_diff(fused.ema.w[l], general.ema.w[l]),
                     test::max_abs_diff(fused.ema.b[l], general.ema.b[l])});
      scale = std::max(scale, general.raw.w[l].abs().max().item<double>());
    }
    CHECK(scale > 0.05);  // the weights are not trivially small
    CHECK(dr < 1e-5);
    CHECK(de < 1e-5);
    // The fast one-sigma forward (sampling) equals the general denoiser.
    const at::Tensor xs = at::randn({R, 37, 2}) * 2.0;
    for (double sigma : {0.01, 0.7, 20.0}) {
      const at::Tensor a = loops::ensemble_denoise_at(net, general.ema, xs, sigma, KernelPath::Fast);
      const at::Tensor b = loops::ensemble_denoise(net, general.ema, xs, at::full({R, 37}, sigma, at::kFloat));
      CHECK(test::max_abs_diff(a, b) < 1e-5);
    }
    // And the training moved the weights (an untrained comparison would pass trivially).
    const loops::EnsembleState init = loops::create_ensemble(net, seeds);
    CHECK(test::max_abs_diff(init.raw.w[0], general.raw.w[0]) > 1e-3);
  }
}

// [SECTION] Exact OT pricing --------------------------------------------------------------

TEST_CASE("kernels: min_plus fast equals its reference exactly", "[kernels][metrics]") {
  if (!have(KernelFamily::Transport)) return;
  torch::manual_seed(12);
  for (int64_t len = 0; len <= 70; ++len) {
    INFO("len " << len);
    const at::Tensor c = at::randn({len}, at::kDouble) * 5.0, p = at::randn({len}, at::kDouble) * 5.0;
    const double f = min_plus_fast(c.data_ptr<double>(), p.data_ptr<double>(), len);
    const double r = min_plus_reference(c.data_ptr<double>(), p.data_ptr<double>(), len);
    CHECK(f == r);
    if (len > 0) CHECK(r == (c + p).min().item<double>());
    else CHECK(r == std::numeric_limits<double>::infinity());
  }
  // The minimum in the scalar tail and in each vector lane.
  std::vector<double> c(29, 1.0), p(29, 0.0);
  for (size_t at_k = 0; at_k < c.size(); ++at_k) {
    c.assign(c.size(), 1.0);
    c[at_k] = -3.0;
    CHECK(min_plus_fast(c.data(), p.data(), 29) == -3.0);
  }
  // exact_ot's plan does not depend on the path.
  const at::Tensor a = at::randn({60, 2}, at::kDouble), b = at::randn({45, 2}, at::kDouble);
  const at::Tensor cost = metrics::squared_distances(a, b);
  const metrics::TransportPlan pf = metrics::exact_ot(cost, KernelPath::Fast);
  const metrics::TransportPlan pr = metrics::exact_ot(cost, KernelPath::Reference);
  CHECK(pf.cost == pr.cost);
  CHECK(pf.pivots == pr.pivots);
  REQUIRE(pf.flow.size() == pr.flow.size());
  for (size_t k = 0; k < pf.flow.size(); ++k) CHECK((pf.flow[k].i == pr.flow[k].i && pf.flow[k].j == pr.flow[k].j));
}
