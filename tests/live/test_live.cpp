// sims-live: the UI logic driven frame by frame without a display (an ImGui
// context with simulated mouse and keys, a recorder in place of the sampler)
// and - under Xvfb with Mesa - the GL renderer read back: the density map
// lies where the samples are. (The core pieces it uses - sessions, the
// guidance field, any two omegas - are tested in tests/test_live_policy.cpp.)
#include <catch2/catch.hpp>

#define GL_GLEXT_PROTOTYPES 1
#include <GL/gl.h>
#include <GLFW/glfw3.h>
#include <gif_lib.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "common/error.hpp"
#include "common/paths.hpp"
#include "diffusion/analytic.hpp"
#include "live_app.hpp"
#include "live_gl.hpp"

using namespace sims;
namespace fs = std::filesystem;

namespace {

// Records the requests instead of sampling.
struct Recorder final : engine::LiveTarget {
  std::vector<engine::LiveRequest> sent;
  uint64_t stamp = 0;
  int cancels = 0;
  uint64_t submit(engine::LiveRequest r) override {
    r.stamp = ++stamp;
    sent.push_back(r);
    return stamp;
  }
  void cancel() override { ++stamp, ++cancels; }
  uint64_t latest_stamp() const override { return stamp; }
};

// Counts uploads; hands out a fake texture.
struct NullRenderer final : live::Renderer {
  int uploads = 0;
  uint64_t last_stamp = 0;
  void set_reference(const at::Tensor&) override {}
  void upload(const engine::LiveResult& r) override { ++uploads, last_stamp = r.stamp; }
  void set_field(const at::Tensor&, double) override {}
  live::Texture points_panel(int, const live::PointsDraw& d) override { return {reinterpret_cast<ImTextureID>(1), d.width, d.height}; }
  live::Texture images_panel(int, int, bool) override { return {reinterpret_cast<ImTextureID>(1), 10, 10}; }
};

DenoiserPtr gaussian(double mx, double my, double var) {
  GaussianComponent c;
  c.mean = at::tensor({mx, my}, at::kDouble);
  c.cov = at::eye(2, at::kDouble) * var;
  return std::make_shared<AnalyticDenoiser>(std::vector<GaussianComponent>{c});
}

// An ImGui context of its own, 1600 x 1000, no renderer backend.
struct ImGuiContextGuard {
  ImGuiContextGuard() {
    ImGui::CreateContext();
    ImGuiIO& io = ImGui::GetIO();
    io.IniFilename = nullptr;
    io.DisplaySize = ImVec2(1600, 1000);
    io.DeltaTime = 1.f / 60;
    unsigned char* px;
    int w, h;
    io.Fonts->GetTexDataAsRGBA32(&px, &w, &h);
    io.Fonts->SetTexID(reinterpret_cast<ImTextureID>(1));
    for (int k = 0; k < ImGuiKey_COUNT; ++k) io.KeyMap[k] = k + 256 < 512 ? k + 256 : 511;
  }
  ~ImGuiContextGuard() { ImGui::DestroyContext(); }
};

void run_frame(live::LiveApp& app) {
  ImGui::NewFrame();
  app.frame();
  ImGui::Render();
}

// A finished result for `req`: x [n, 2] around (cx, cy), a 3-state trajectory.
engine::LiveResultPtr fake_result(const engine::LiveRequest& req, double cx = 0, double cy = 0) {
  auto r = std::make_shared<engine::LiveResult>();
  r->stamp = req.stamp;
  r->request = req;
  const int64_t n = req.rows();
  r->x = at::randn({n, 2}, at::kDouble) * 0.1 + at::tensor({cx, cy}, at::kDouble);
  r->trajectory.t = {2.0, 1.0, 0.0};
  r->trajectory.states = {r->x * 20, r->x * 5, r->x};
  r->trajectory.denoised = {r->x, r->x};
  if (req.compare_base) {
    r->base_x = r->x + 0.05;
    r->base_trajectory = r->trajectory;
  }
  return r;
}

// The app on a recorder and a null renderer, a 2D analytic pair loaded.
struct AppUnderTest {
  ImGuiContextGuard ctx;
  Recorder rec;
  NullRenderer ren;
  live::Mailbox mb;
  live::LiveApp app{rec, &ren, mb};
  AppUnderTest() { app.set_models(gaussian(0, 0, 1), gaussian(0.5, 0, 1)); }
};

}  // namespace

TEST_CASE("sims-live: dragging the omega slider sends previews with the new omega, the release the full request") {
  AppUnderTest t;
  Recorder& rec = t.rec;
  live::Mailbox& mb = t.mb;
  live::LiveApp& app = t.app;
  app.set_omega(1.0, false);
  run_frame(app);
  REQUIRE(!rec.sent.empty());
  const size_t before = rec.sent.size();
  ImGuiIO& io = ImGui::GetIO();
  const ImVec2 a = app.omega_slider_min(), b = app.omega_slider_max();
  REQUIRE(b.x > a.x + 50);
  const float y = (a.y + b.y) / 2;
  // Press at the slider's middle (omega 1 of [-1, 3]), hold, move right.
  io.MousePos = ImVec2((a.x + b.x) / 2, y);
  run_frame(app);
  io.MouseDown[0] = true;
  run_frame(app);
  io.MousePos = ImVec2(a.x + 0.9f * (b.x - a.x), y);
  run_frame(app);
  run_frame(app);
  REQUIRE(rec.sent.size() > before);
  CHECK(rec.sent.back().preview);
  CHECK(app.settings().omega > 2.0);
  // One preview in flight at a time (the policy's rule): when it is shown,
  // the next preview goes out with where the slider is now.
  mb.post_result(fake_result(rec.sent.back()));
  run_frame(app);
  const engine::LiveRequest drag = rec.sent.back();
  CHECK(drag.preview);
  CHECK(drag.guidance.omega > 2.0);
  CHECK(drag.guidance.omega == Approx(app.settings().omega));
  // Release: the full request at the new omega.
  io.MouseDown[0] = false;
  run_frame(app);
  run_frame(app);
  bool full = false;
  for (size_t i = before; i < rec.sent.size(); ++i)
    if (!rec.sent[i].preview && rec.sent[i].guidance.omega == Approx(app.settings().omega)) full = true;
  CHECK(full);
  CHECK(app.settings().omega > 2.0);
}

TEST_CASE("sims-live: a result is uploaded once, a stale one never") {
  AppUnderTest t;
  Recorder& rec = t.rec;
  NullRenderer& ren = t.ren;
  live::Mailbox& mb = t.mb;
  live::LiveApp& app = t.app;
  app.set_omega(0.5, false);
  const engine::LiveRequest first = rec.sent.back();
  app.set_omega(1.5, false);
  const engine::LiveRequest second = rec.sent.back();
  REQUIRE(second.stamp > first.stamp);
  mb.post_result(fake_result(second));
  run_frame(app);
  CHECK(ren.uploads == 1);
  CHECK(ren.last_stamp == second.stamp);
  run_frame(app);  // drawn again: not uploaded again
  CHECK(ren.uploads == 1);
  mb.post_result(fake_result(first));  // older than the one shown
  run_frame(app);
  CHECK(ren.uploads == 1);
  CHECK(app.uploaded_stamp() == second.stamp);
  CHECK(app.steps_shown() == 2);
}

TEST_CASE("sims-live: an auxiliary that is not the base's fine-tune is loaded and said") {
  AppUnderTest t;
  const std::string base = sims::asset_path("models/gaussian-base.ckpt"), own = sims::asset_path("models/gaussian-aux.ckpt"),
                    other = sims::asset_path("models/grid25-aux.ckpt");
  std::string err;
  REQUIRE(t.app.open_pair(base, other, &err));
  CHECK(t.app.pair_warning().rfind("the auxiliary 'grid25-aux.ckpt' is another network than the base 'gaussian-base.ckpt'", 0) == 0);
  REQUIRE(t.app.open_pair(base, own, &err));
  CHECK(t.app.pair_warning().empty());
}

TEST_CASE("sims-live: the session box names the session opened or saved; a refused one changes nothing") {
  AppUnderTest t;
  const fs::path dir = fs::temp_directory_path() / ("sims-live-session-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "b.json") << R"({"kind": "gaussian", "mean": [0, 0], "cov": [[1, 0], [0, 1]]})";
  std::ofstream(dir / "a.json") << R"({"kind": "gaussian", "mean": [0.5, 0], "cov": [[1, 0], [0, 1]]})";
  std::string err;
  REQUIRE(t.app.open_pair((dir / "b.json").string(), (dir / "a.json").string(), &err));
  CHECK(t.app.session_path() == "session.simsession");  // the default name until one is used
  const std::string saved = (dir / "saved.simsession").string();
  t.app.set_omega(1.5, false);
  REQUIRE(t.app.save_session(saved, &err));
  CHECK(t.app.session_path() == saved);
  CHECK_FALSE(t.app.save_session(saved, &err));  // the box now names an existing file: Save refuses it
  CHECK(err.find("the file exists") != std::string::npos);
  // Opened from elsewhere (as `sims-live --session FILE` does): the box shows that file, the settings are its.
  const std::string other = (dir / "other.simsession").string();
  fs::copy_file(saved, other);
  t.app.set_omega(0.25, false);
  REQUIRE(t.app.open_session(other, &err));
  CHECK(t.app.session_path() == other);
  CHECK(t.app.settings().omega == 1.5);
  // A session that cannot be opened leaves the box (and everything else) as it was.
  std::ofstream(dir / "bad.simsession") << R"({"format": "sims-studio-session", "version": 1, "models": {"base": "nowhere.json"}})";
  CHECK_FALSE(t.app.open_session((dir / "bad.simsession").string(), &err));
  CHECK(t.app.session_path() == other);
  CHECK(t.app.settings().omega == 1.5);
  fs::remove_all(dir);
}

TEST_CASE("sims-live: Save GIF writes the shown result's steps, both panels; a preview is refused") {
  AppUnderTest t;
  t.app.set_omega(1.0, false);
  engine::LiveRequest req = t.rec.sent.back();
  req.compare_base = true;
  const fs::path dir = fs::temp_directory_path() / ("sims-live-gif-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string err;
  CHECK_FALSE(t.app.save_animation((dir / "none.gif").string(), &err));  // nothing shown yet
  CHECK(err.find("nothing") != std::string::npos);
  engine::LiveRequest preview = req;
  preview.preview = true;
  t.mb.post_result(fake_result(preview));
  run_frame(t.app);
  CHECK_FALSE(t.app.save_animation((dir / "preview.gif").string(), &err));
  CHECK(err.find("full-quality") != std::string::npos);
  t.mb.post_result(fake_result(req));
  run_frame(t.app);
  const fs::path gif = dir / "a.gif";
  REQUIRE(t.app.save_animation(gif.string(), &err));
  // Read back by giflib: two panels wide, three frames (x at sigma = 2, 1, and the final samples).
  int gerr = 0;
  GifFileType* g = DGifOpenFileName(gif.c_str(), &gerr);
  REQUIRE(g != nullptr);
  REQUIRE(DGifSlurp(g) == GIF_OK);
  CHECK(g->SWidth > 700);
  CHECK(g->ImageCount == 3);
  DGifCloseFile(g, &gerr);
  CHECK_FALSE(fs::exists(dir / "none.gif"));
  CHECK_FALSE(fs::exists(dir / "preview.gif"));
  const std::string name = live::LiveApp::new_output_name("gif");
  CHECK(name.rfind("sims-live-", 0) == 0);
  CHECK(name.size() > 8);
  CHECK_FALSE(fs::exists(name));
  fs::remove_all(dir);
}

TEST_CASE("sims-live: keys move omega, play and step") {
  AppUnderTest t;
  Recorder& rec = t.rec;
  live::Mailbox& mb = t.mb;
  live::LiveApp& app = t.app;
  app.set_omega(1.0, false);
  mb.post_result(fake_result(rec.sent.back()));
  run_frame(app);
  ImGuiIO& io = ImGui::GetIO();
  io.AddInputCharacter(']');
  run_frame(app);
  CHECK(app.settings().omega == Approx(1.1));
  CHECK(rec.sent.back().guidance.omega == Approx(1.1));
  CHECK_FALSE(rec.sent.back().preview);
  io.AddInputCharacter('[');
  io.AddInputCharacter('[');
  run_frame(app);
  CHECK(app.settings().omega == Approx(0.9));
  // The result of the newest request, then the arrows step through it.
  mb.post_result(fake_result(rec.sent.back()));
  run_frame(app);
  REQUIRE(app.steps_shown() == 2);
  CHECK(app.step() == 2);  // the final samples
  const int left = ImGui::GetKeyIndex(ImGuiKey_LeftArrow), space = ImGui::GetKeyIndex(ImGuiKey_Space);
  io.KeysDown[left] = true;
  run_frame(app);
  io.KeysDown[left] = false;
  run_frame(app);
  CHECK(app.step() == 1);
  io.KeysDown[space] = true;
  run_frame(app);
  io.KeysDown[space] = false;
  CHECK(app.playing());
}

TEST_CASE("sims-live: the GL density map lies where the samples are (Xvfb + Mesa)") {
  if (!glfwInit()) FAIL("no display: run under xvfb-run");
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
  glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
  glfwWindowHint(GLFW_OPENGL_FORWARD_COMPAT, GLFW_TRUE);
  glfwWindowHint(GLFW_VISIBLE, GLFW_FALSE);
  GLFWwindow* win = glfwCreateWindow(320, 240, "test", nullptr, nullptr);
  REQUIRE(win != nullptr);
  glfwMakeContextCurrent(win);
  {
    live::GlRenderer ren;
    engine::LiveRequest req;
    req.n = 3000;
    req.stamp = 1;
    // All samples in a tight cluster at (0.5, 0.5) of the box [-1, 1]^2.
    auto r = fake_result(req, 0.5, 0.5);
    ren.upload(*r);
    live::PointsDraw d;
    d.box = {-1, 1, -1, 1};
    d.width = 200, d.height = 200;
    d.step = 2;
    d.points = false, d.data = false;
    ren.points_panel(1, d);
    int w = 0, h = 0;
    const std::vector<float> dens = ren.read_density(1, &w, &h);
    REQUIRE(w == 50);  // a quarter of the panel's resolution
    REQUIRE(h == 50);
    // (0.5, 0.5) is pixel (37, 37) (rows bottom-up); (-0.5, -0.5) is (12, 12).
    const float at_samples = dens[37 * 50 + 37], far = dens[12 * 50 + 12];
    CHECK(at_samples > 10.f);
    CHECK(far == 0.f);
    // The coloured image: tinted at the cluster, white (the background) far away.
    const std::vector<uint8_t> px = ren.read_panel(1, &w, &h);
    const uint8_t* c = &px[(150 * 200 + 150) * 4];
    const uint8_t* e = &px[(20 * 200 + 20) * 4];
    CHECK(int(c[0]) + c[1] + c[2] < 600);
    CHECK(int(e[0]) + e[1] + e[2] == 765);
    // Same view again: served from the panel's texture, not redrawn.
    const uint64_t n = ren.redraws();
    ren.points_panel(1, d);
    CHECK(ren.redraws() == n);
    d.step = 0;  // x_t at sigma 2: spread 20x wider, the density moves out
    ren.points_panel(1, d);
    CHECK(ren.redraws() == n + 1);
  }
  glfwDestroyWindow(win);
  glfwTerminate();
}


TEST_CASE("sims-live: the image grid fills its panel at the largest whole zoom") {
  // 36 faces (32 px + 2 px mount) in a tall panel: 5 wide at 3x (172 x 274 atlas pixels), not 6 wide at 2x.
  const live::ImageGrid tall = live::fit_image_grid(36, 34, 34, 2, 590, 860);
  CHECK(tall.cols == 5);
  CHECK(tall.rows == 8);
  CHECK(tall.zoom == 3.f);
  // A wide, low panel: as many per row as 2x allows, every row used.
  const live::ImageGrid wide = live::fit_image_grid(36, 34, 34, 2, 1200, 300);
  CHECK(wide.zoom == 2.f);
  CHECK(wide.cols * wide.rows == 36);
  // Too many for the panel at 1x: scaled down, still inside it.
  const live::ImageGrid small = live::fit_image_grid(100, 34, 34, 2, 200, 200);
  CHECK(small.zoom < 1.f);
  CHECK(small.cols == 10);
  // Every grid fits its panel and holds every image.
  const struct { live::ImageGrid g; int n; float w, h; } cases[] = {{tall, 36, 590, 860}, {wide, 36, 1200, 300}, {small, 100, 200, 200}};
  for (const auto& c : cases) {
    CHECK((c.g.cols * 34 + 2) * c.g.zoom <= c.w + 1e-3f);
    CHECK((c.g.rows * 34 + 2) * c.g.zoom <= c.h + 1e-3f);
    CHECK(c.g.cols * c.g.rows >= c.n);
  }
  CHECK(live::fit_image_grid(1, 34, 34, 2, 590, 860).cols == 1);
}
