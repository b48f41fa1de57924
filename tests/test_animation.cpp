// The denoising animation (render/animation): frames, captions, and the two
// writers read back by independent decoders (giflib's DGifSlurp; a PNG/APNG
// chunk reader with zlib written here from the specification).
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <ATen/ATen.h>
#include <gif_lib.h>
#include <zlib.h>

#include "common/error.hpp"
#include "diffusion/analytic.hpp"
#include "helpers.hpp"
#include "render/animation.hpp"
#include "sampling/edm_sampler.hpp"

using namespace sims;
using sims::test::TempDir;
using namespace sims::render;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint32_t be32(const std::string& s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) | (uint32_t(uint8_t(s[at + 2])) << 8) |
         uint32_t(uint8_t(s[at + 3]));
}

// Frames that differ in a moving square and a changing label, like the real ones.
std::vector<Canvas> toy_frames(int n, int w, int h) {
  std::vector<Canvas> out;
  for (int i = 0; i < n; ++i) {
    Canvas c(w, h, {255, 255, 255});
    c.fill_rect(10 + 7 * i, 20, 30, 30, {214, 82, 48});
    c.fill_rect(w - 60, h - 40 - 5 * i, 25, 25, {60, 100, 170});
    c.draw_text("step " + std::to_string(i), 5, 2, 14);
    out.push_back(std::move(c));
  }
  return out;
}

// A minimal APNG decoder: checks every chunk's CRC, inflates each frame's rectangle, undoes the PNG filters and
// composites it (dispose none, blend source). Returns the composited frames.
std::vector<std::vector<uint8_t>> decode_apng(const std::string& png, int* W, int* H, uint32_t* declared_frames) {
  REQUIRE(png.compare(0, 8, std::string("\x89PNG\r\n\x1a\n", 8)) == 0);
  size_t at = 8;
  std::vector<std::vector<uint8_t>> frames;
  std::vector<uint8_t> canvas;
  struct Pending {
    uint32_t w = 0, h = 0, x = 0, y = 0;
    std::string z;
  } cur;
  bool have = false;
  uint32_t expect_seq = 0;
  auto flush = [&] {
    if (!have) return;
    const size_t stride = size_t(cur.w) * 3 + 1;
    std::vector<uint8_t> raw(stride * cur.h);
    uLongf len = raw.size();
    REQUIRE(uncompress(raw.data(), &len, reinterpret_cast<const Bytef*>(cur.z.data()), cur.z.size()) == Z_OK);
    REQUIRE(len == raw.size());
    std::vector<uint8_t> rows(size_t(cur.w) * 3 * cur.h);
    for (uint32_t y = 0; y < cur.h; ++y) {
      const int type = raw[y * stride];
      REQUIRE(type <= 4);
      for (size_t i = 0; i < size_t(cur.w) * 3; ++i) {
        const int a = i >= 3 ? rows[y * cur.w * 3 + i - 3] : 0;
        const int b = y > 0 ? rows[(y - 1) * cur.w * 3 + i] : 0;
        const int c = (y > 0 && i >= 3) ? rows[(y - 1) * cur.w * 3 + i - 3] : 0;
        int pred = 0;
        if (type == 1) pred = a;
        if (type == 2) pred = b;
        if (type == 3) pred = (a + b) / 2;
        if (type == 4) {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
        }
        rows[y * cur.w * 3 + i] = uint8_t(raw[y * stride + 1 + i] + pred);
      }
    }
    for (uint32_t y = 0; y < cur.h; ++y)
      std::memcpy(&canvas[((cur.y + y) * size_t(*W) + cur.x) * 3], &rows[y * cur.w * 3], size_t(cur.w) * 3);
    frames.push_back(canvas);
    have = false;
  };
  while (at + 12 <= png.size()) {
    const uint32_t len = be32(png, at);
    const std::string type = png.substr(at + 4, 4);
    REQUIRE(at + 12 + len <= png.size());
    const std::string data = png.substr(at + 8, len);
    const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(png.data() + at + 4), len + 4);
    REQUIRE(be32(png, at + 8 + len) == uint32_t(crc));
    if (type == "IHDR") {
      *W = int(be32(data, 0));
      *H = int(be32(data, 4));
      REQUIRE(data[8] == 8);
      REQUIRE(data[9] == 2);
      canvas.assign(size_t(*W) * *H * 3, 0);
    } else if (type == "acTL") {
      *declared_frames = be32(data, 0);
    } else if (type == "fcTL") {
      flush();
      REQUIRE(be32(data, 0) == expect_seq++);
      cur = {be32(data, 4), be32(data, 8), be32(data, 12), be32(data, 16), {}};
      REQUIRE(cur.x + cur.w <= uint32_t(*W));
      REQUIRE(cur.y + cur.h <= uint32_t(*H));
      have = true;
    } else if (type == "IDAT") {
      cur.z += data;
    } else if (type == "fdAT") {
      REQUIRE(be32(data, 0) == expect_seq++);
      cur.z += data.substr(4);
    } else if (type == "IEND") {
      flush();
    }
    at += 12 + len;
  }
  REQUIRE(at == png.size());
  return frames;
}

}  // namespace

TEST_CASE("animation: APNG frames decode losslessly, sub-rectangles composited", "[animation]") {
  TempDir dir;
  const std::vector<Canvas> frames = toy_frames(6, 220, 140);
  const std::string path = dir.file("a.png");
  write_animation(path, frames, 8.0);
  int W = 0, H = 0;
  uint32_t declared = 0;
  const auto decoded = decode_apng(slurp(path), &W, &H, &declared);
  CHECK(W == 220);
  CHECK(H == 140);
  CHECK(declared == 6);
  REQUIRE(decoded.size() == 6);
  for (size_t i = 0; i < frames.size(); ++i) CHECK(decoded[i] == frames[i].pixels());
  // Only the changed rectangle is stored after the first frame: six frames that differ in a small label cost
  // far less than six full frames.
  std::vector<Canvas> small_change;
  for (int i = 0; i < 6; ++i) {
    Canvas c = frames[0];
    c.fill_rect(150, 100, 30, 20, {255, 255, 255});
    c.draw_text(std::to_string(i), 150, 100, 14);
    small_change.push_back(std::move(c));
  }
  write_animation(dir.file("small.png"), small_change, 8.0);
  write_animation(dir.file("one.png"), {small_change[0]}, 8.0);
  CHECK(fs::file_size(dir.file("small.png")) < 2 * fs::file_size(dir.file("one.png")));
  int w2 = 0, h2 = 0;
  uint32_t n2 = 0;
  const auto small_decoded = decode_apng(slurp(dir.file("small.png")), &w2, &h2, &n2);
  REQUIRE(small_decoded.size() == 6);
  CHECK(small_decoded[5] == small_change[5].pixels());
}

TEST_CASE("animation: GIF read back by giflib with the frame count, size, delays and near-exact colours",
          "[animation]") {
  TempDir dir;
  const std::vector<Canvas> frames = toy_frames(5, 200, 120);
  const std::string path = dir.file("a.gif");
  write_animation(path, frames, 5.0, 2.0);
  int err = 0;
  GifFileType* gif = DGifOpenFileName(path.c_str(), &err);
  REQUIRE(gif != nullptr);
  REQUIRE(DGifSlurp(gif) == GIF_OK);
  CHECK(gif->SWidth == 200);
  CHECK(gif->SHeight == 120);
  REQUIRE(gif->ImageCount == 5);
  // Composite the frames (dispose: none) and compare with the originals.
  const ColorMapObject* map = gif->SColorMap;
  REQUIRE(map != nullptr);
  std::vector<uint8_t> screen(200 * 120 * 3, 0);
  for (int f = 0; f < gif->ImageCount; ++f) {
    const SavedImage& im = gif->SavedImages[f];
    GraphicsControlBlock gcb;
    REQUIRE(DGifSavedExtensionToGCB(gif, f, &gcb) == GIF_OK);
    CHECK(gcb.DelayTime == (f == 4 ? 200 : 20));
    const GifImageDesc& d = im.ImageDesc;
    for (int y = 0; y < d.Height; ++y)
      for (int x = 0; x < d.Width; ++x) {
        const GifColorType c = map->Colors[im.RasterBits[y * d.Width + x]];
        uint8_t* p = &screen[((d.Top + y) * 200 + d.Left + x) * 3];
        p[0] = c.Red;
        p[1] = c.Green;
        p[2] = c.Blue;
      }
    double err_sum = 0;
    int worst = 0;
    for (size_t i = 0; i < screen.size(); ++i) {
      const int e = std::abs(int(screen[i]) - int(frames[f].pixels()[i]));
      err_sum += e;
      worst = std::max(worst, e);
    }
    CHECK(err_sum / screen.size() < 1.0);  // the flat colours are exact; anti-aliased text edges are close
    CHECK(worst < 40);
    if (f > 0) CHECK(d.Width * d.Height < 200 * 120);  // changed rectangles only
  }
  DGifCloseFile(gif, &err);
}

TEST_CASE("animation: formats by name, refusals leave nothing behind", "[animation]") {
  CHECK(animation_format("x.gif") == AnimationFormat::Gif);
  CHECK(animation_format("X.GIF") == AnimationFormat::Gif);
  CHECK(animation_format("x.png") == AnimationFormat::Apng);
  CHECK(animation_format("x.apng") == AnimationFormat::Apng);
  CHECK_THROWS_AS(animation_format("x.mp4"), InputError);
  TempDir dir;
  const auto frames = toy_frames(2, 50, 40);
  CHECK_THROWS_AS(write_animation(dir.file("a.gif"), frames, 0.0), InputError);
  std::vector<Canvas> mixed = frames;
  mixed.push_back(Canvas(51, 40));
  CHECK_THROWS_AS(write_animation(dir.file("b.gif"), mixed, 5.0), InputError);
  CHECK(fs::is_empty(dir.path));
}

TEST_CASE("animation: a sampled trajectory gives one labelled frame per step, panels side by side", "[animation]") {
  // An exact Gaussian denoiser: x_0 is the noise at sigma_max, the final frame the samples.
  const auto dbl = at::TensorOptions().dtype(at::kDouble);
  GaussianComponent g{at::tensor({0.5, -1.0}, dbl), at::diag(at::tensor({1.0, 0.25}, dbl)), 1.0};
  auto model = std::make_shared<AnalyticDenoiser>(std::vector<GaussianComponent>{g});
  SamplerConfig cfg;
  cfg.steps = 5;
  EdmSampler sampler(model, nullptr, cfg, Guidance{});
  SampleOptions so;
  so.record_trajectory = true;
  at::manual_seed(3);
  const at::Tensor noise = at::randn({300, 2}, at::TensorOptions().dtype(at::kDouble));
  const SampleResult r = sampler.sample(noise, so);
  const auto frames = trajectory_frames(r.trajectory, r.x, false);
  REQUIRE(frames.size() == 6);
  CHECK(at::allclose(frames[0], noise * cfg.sigma_max));
  CHECK(at::equal(frames.back(), r.x));
  const auto den = trajectory_frames(r.trajectory, r.x, true);
  REQUIRE(den.size() == 6);
  CHECK(at::equal(den[2], r.trajectory.denoised[2]));
  const auto labels = step_labels(r.trajectory.t, false);
  REQUIRE(labels.size() == 6);
  CHECK(labels[0].find("step 0 of 5") != std::string::npos);
  CHECK(labels[0].find("80") != std::string::npos);
  CHECK(labels[5].find("final samples") != std::string::npos);
  CHECK(labels[5].find("after 5 steps") != std::string::npos);
  const auto den_labels = step_labels(r.trajectory.t, true);
  CHECK(den_labels[4].find("step 5 of 5") != std::string::npos);
  CHECK(den_labels[5].rfind("step", 0) == std::string::npos);  // the final frame is not "step N" again

  AnimationSpec spec;
  spec.panels = {{"base alone", {60, 100, 170}, frames}, {"SIMS", {214, 82, 48}, frames}};
  spec.frame_labels = labels;
  SamplingProvenance prov;
  prov.base = "/some/where/grid25-base.ckpt";
  prov.aux = "grid25-aux.ckpt";
  prov.omega = 0.5;
  prov.lo = 0.3;
  prov.hi = std::numeric_limits<double>::infinity();
  prov.steps = 5;
  prov.sampler = "heun";
  prov.seed = 7;
  prov.n = 300;
  spec.caption = prov.caption();
  CHECK(spec.caption.find("grid25-base.ckpt") != std::string::npos);
  CHECK(spec.caption.find("/some/where") == std::string::npos);
  CHECK(spec.caption.find("(0.3, \u221e]") != std::string::npos);
  CHECK(spec.caption.find("seed\u00a07") != std::string::npos);
  spec.panel_px = 200;
  const auto canv = render_animation(spec);
  REQUIRE(canv.size() == 6);
  for (const Canvas& c : canv) {
    CHECK(c.width() == canv[0].width());
    CHECK(c.height() == canv[0].height());
  }
  CHECK(canv[0].width() >= 2 * 200);
  CHECK(canv[0].pixels() != canv[5].pixels());
  // A label per frame is required when labels are given.
  spec.frame_labels.pop_back();
  CHECK_THROWS_AS(render_animation(spec), InputError);
}
