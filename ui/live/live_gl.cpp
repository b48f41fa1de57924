#include "live_gl.hpp"

#define GL_GLEXT_PROTOTYPES 1
#include <GL/gl.h>
#include <GL/glext.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <ATen/ATen.h>

#include "live_shaders.hpp"
#include "render/animation.hpp"
#include "render/plot.hpp"

namespace sims::live {
namespace {

GLuint compile(GLenum kind, const char* src, const char* name) {
  const GLuint s = glCreateShader(kind);
  glShaderSource(s, 1, &src, nullptr);
  glCompileShader(s);
  GLint ok = 0;
  glGetShaderiv(s, GL_COMPILE_STATUS, &ok);
  if (!ok) {
    char log[2048] = {};
    glGetShaderInfoLog(s, sizeof log, nullptr, log);
    glDeleteShader(s);
    throw std::runtime_error(std::string("shader ") + name + " does not compile: " + log);
  }
  return s;
}

GLuint program(const char* vs, const char* fs, const char* name) {
  const GLuint v = compile(GL_VERTEX_SHADER, vs, name), f = compile(GL_FRAGMENT_SHADER, fs, name);
  const GLuint p = glCreateProgram();
  glAttachShader(p, v);
  glAttachShader(p, f);
  glLinkProgram(p);
  glDeleteShader(v);
  glDeleteShader(f);
  GLint ok = 0;
  glGetProgramiv(p, GL_LINK_STATUS, &ok);
  if (!ok) {
    char log[2048] = {};
    glGetProgramInfoLog(p, sizeof log, nullptr, log);
    glDeleteProgram(p);
    throw std::runtime_error(std::string("shader program ") + name + " does not link: " + log);
  }
  return p;
}

// [steps, n, 2] float32 rows of a list of [n, >=2] tensors.
std::vector<float> flatten_xy(const std::vector<at::Tensor>& list) {
  std::vector<float> out;
  for (const at::Tensor& t : list) {
    const at::Tensor c = t.slice(1, 0, 2).to(at::kFloat).contiguous();
    out.insert(out.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  return out;
}

struct Colour {
  float r, g, b, a;
};

constexpr int kDensityDiv = 4;  // the density map's resolution: 1/4 of the panel's in x and y

}  // namespace

struct GlRenderer::Impl {
  GLuint points_prog = 0, lines_prog = 0, splat_prog = 0, cmap_prog = 0;
  GLuint vao = 0, scratch = 0, reference = 0;
  int reference_n = 0;
  std::vector<float> field;  // arrow segments (x, y) pairs
  bool field_set = false;
  struct Panel {
    GLuint fbo = 0, tex = 0, dfbo = 0, dtex = 0;
    int w = 0, h = 0, dw = 0, dh = 0;  // the panel; its density map
    PointsDraw last;
    bool dirty = true;
    // Points: every step's x_t and D(x_t), and trails.
    GLuint states = 0, denoised = 0, trails = 0;
    int n = 0, steps = 0, trail_n = 0, denoised_steps = 0;
    std::vector<float> cpu_states, cpu_denoised;
    // Images.
    std::vector<at::Tensor> img_states, img_denoised;
    GLuint atlas = 0;
    std::string atlas_key;
    int atlas_w = 0, atlas_h = 0;
  } panels[2];
  uint64_t stamp = 0;

  void ensure_target(Panel& p, int w, int h) {
    if (p.fbo && p.w == w && p.h == h) return;
    if (!p.fbo) {
      glGenFramebuffers(1, &p.fbo);
      glGenTextures(1, &p.tex);
      glGenFramebuffers(1, &p.dfbo);
      glGenTextures(1, &p.dtex);
    }
    p.w = w, p.h = h;
    glBindTexture(GL_TEXTURE_2D, p.tex);
    glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA8, w, h, 0, GL_RGBA, GL_UNSIGNED_BYTE, nullptr);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_LINEAR);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_LINEAR);
    glBindFramebuffer(GL_FRAMEBUFFER, p.fbo);
    glFramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, p.tex, 0);
    // The density at a quarter of the resolution in each direction: the
    // kernel is many pixels wide, so the map loses nothing visible, and the
    // splats cost 16x fewer fragments (a CPU rasteriser such as llvmpipe
    // draws 100,000 of them at interactive rates); bilinear filtering
    // smooths it back to the panel's size.
    p.dw = std::max(1, (w + kDensityDiv - 1) / kDensityDiv), p.dh = std::max(1, (h + kDensityDiv - 1) / kDensityDiv);
    glBindTexture(GL_TEXTURE_2D, p.dtex);
    glTexImage2D(GL_TEXTURE_2D, 0, GL_R32F, p.dw, p.dh, 0, GL_RED, GL_FLOAT, nullptr);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_LINEAR);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_LINEAR);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
    glBindFramebuffer(GL_FRAMEBUFFER, p.dfbo);
    glFramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, p.dtex, 0);
    if (glCheckFramebufferStatus(GL_FRAMEBUFFER) != GL_FRAMEBUFFER_COMPLETE)
      throw std::runtime_error("the float framebuffer of the density map is not supported by this GL");
    glBindFramebuffer(GL_FRAMEBUFFER, 0);
    p.dirty = true;
  }

  void set_xform(GLuint prog, const Box& b) {
    const float sx = float(2.0 / (b.x1 - b.x0)), sy = float(2.0 / (b.y1 - b.y0));
    glUniform4f(glGetUniformLocation(prog, "u_xform"), sx, float(-1.0 - b.x0 * sx), sy, float(-1.0 - b.y0 * sy));
  }

  void draw_array(GLuint buffer, GLintptr first_vertex, GLsizei count, GLenum mode) {
    if (count <= 0) return;
    glBindBuffer(GL_ARRAY_BUFFER, buffer);
    glEnableVertexAttribArray(0);
    glVertexAttribPointer(0, 2, GL_FLOAT, GL_FALSE, 0, reinterpret_cast<const void*>(first_vertex * 2 * sizeof(float)));
    glDrawArrays(mode, 0, count);
  }

  void lines(const std::vector<float>& xy, const Box& b, Colour c) {
    if (xy.empty()) return;
    glBindBuffer(GL_ARRAY_BUFFER, scratch);
    glBufferData(GL_ARRAY_BUFFER, static_cast<GLsizeiptr>(xy.size() * sizeof(float)), xy.data(), GL_STREAM_DRAW);
    glUseProgram(lines_prog);
    set_xform(lines_prog, b);
    glUniform4f(glGetUniformLocation(lines_prog, "u_color"), c.r, c.g, c.b, c.a);
    draw_array(scratch, 0, static_cast<GLsizei>(xy.size() / 2), GL_LINES);
  }

  void points(GLuint buffer, GLintptr first, GLsizei n, const Box& b, Colour c, float size) {
    glUseProgram(points_prog);
    set_xform(points_prog, b);
    glUniform4f(glGetUniformLocation(points_prog, "u_color"), c.r, c.g, c.b, c.a);
    glUniform1f(glGetUniformLocation(points_prog, "u_size"), size);
    draw_array(buffer, first, n, GL_POINTS);
  }
};

GlRenderer::GlRenderer() : d_(std::make_unique<Impl>()) {
  d_->points_prog = program(kShader_live_points_vert, kShader_live_points_frag, "points");
  d_->lines_prog = program(kShader_live_points_vert, kShader_live_lines_frag, "lines");
  d_->splat_prog = program(kShader_live_points_vert, kShader_live_splat_frag, "splat");
  d_->cmap_prog = program(kShader_live_colormap_vert, kShader_live_colormap_frag, "colormap");
  glGenVertexArrays(1, &d_->vao);
  glGenBuffers(1, &d_->scratch);
  glGenBuffers(1, &d_->reference);
  // The density map needs a float framebuffer: checked here, not mid-frame.
  Impl::Panel probe;
  d_->ensure_target(probe, 8, 8);
  GLuint fbos[] = {probe.fbo, probe.dfbo}, texs[] = {probe.tex, probe.dtex};
  glDeleteFramebuffers(2, fbos);
  glDeleteTextures(2, texs);
}

GlRenderer::~GlRenderer() {
  for (auto& p : d_->panels) {
    GLuint fbos[] = {p.fbo, p.dfbo};
    GLuint texs[] = {p.tex, p.dtex, p.atlas};
    GLuint bufs[] = {p.states, p.denoised, p.trails};
    glDeleteFramebuffers(2, fbos);
    glDeleteTextures(3, texs);
    glDeleteBuffers(3, bufs);
  }
  glDeleteBuffers(1, &d_->scratch);
  glDeleteBuffers(1, &d_->reference);
  glDeleteVertexArrays(1, &d_->vao);
  for (GLuint p : {d_->points_prog, d_->lines_prog, d_->splat_prog, d_->cmap_prog}) glDeleteProgram(p);
}

void GlRenderer::set_reference(const at::Tensor& points) {
  d_->reference_n = 0;
  if (points.defined() && points.dim() == 2 && points.size(1) >= 2) {
    const std::vector<float> xy = flatten_xy({points});
    glBindBuffer(GL_ARRAY_BUFFER, d_->reference);
    glBufferData(GL_ARRAY_BUFFER, static_cast<GLsizeiptr>(xy.size() * sizeof(float)), xy.data(), GL_STATIC_DRAW);
    d_->reference_n = static_cast<int>(points.size(0));
  }
  for (auto& p : d_->panels) p.dirty = true;
}

void GlRenderer::upload(const engine::LiveResult& r) {
  d_->stamp = r.stamp;
  for (int i = 0; i < 2; ++i) {
    Impl::Panel& p = d_->panels[i];
    const Trajectory& t = i == 0 ? r.base_trajectory : r.trajectory;
    const at::Tensor& final_x = i == 0 ? r.base_x : r.x;
    p.dirty = true;
    p.n = p.steps = p.trail_n = p.denoised_steps = 0;
    p.img_states.clear();
    p.img_denoised.clear();
    p.atlas_key.clear();
    if (!final_x.defined()) continue;
    std::vector<at::Tensor> states = t.states;
    if (states.empty()) states.push_back(final_x);
    if (final_x.dim() != 2) {  // images: kept on the CPU, an atlas made per step shown
      p.img_states = states;
      p.img_denoised = t.denoised;
      p.steps = static_cast<int>(states.size()) - 1;
      continue;
    }
    p.n = static_cast<int>(final_x.size(0));
    p.steps = static_cast<int>(states.size()) - 1;
    p.cpu_states = flatten_xy(states);
    p.cpu_denoised = flatten_xy(t.denoised);
    p.denoised_steps = static_cast<int>(t.denoised.size());
    if (!p.states) glGenBuffers(1, &p.states), glGenBuffers(1, &p.denoised), glGenBuffers(1, &p.trails);
    glBindBuffer(GL_ARRAY_BUFFER, p.states);
    glBufferData(GL_ARRAY_BUFFER, static_cast<GLsizeiptr>(p.cpu_states.size() * sizeof(float)), p.cpu_states.data(), GL_STATIC_DRAW);
    glBindBuffer(GL_ARRAY_BUFFER, p.denoised);
    glBufferData(GL_ARRAY_BUFFER, static_cast<GLsizeiptr>(p.cpu_denoised.size() * sizeof(float)), p.cpu_denoised.data(),
                 GL_STATIC_DRAW);
    // Trails of the first 400 points: segment (x_j, x_j+1) of each, step by step.
    p.trail_n = std::min(p.n, 400);
    std::vector<float> seg;
    seg.reserve(static_cast<size_t>(p.steps) * p.trail_n * 4);
    for (int j = 0; j < p.steps; ++j)
      for (int k = 0; k < p.trail_n; ++k) {
        const float* a = &p.cpu_states[(static_cast<size_t>(j) * p.n + k) * 2];
        const float* b = &p.cpu_states[(static_cast<size_t>(j + 1) * p.n + k) * 2];
        seg.insert(seg.end(), {a[0], a[1], b[0], b[1]});
      }
    glBindBuffer(GL_ARRAY_BUFFER, p.trails);
    glBufferData(GL_ARRAY_BUFFER, static_cast<GLsizeiptr>(seg.size() * sizeof(float)), seg.data(), GL_STATIC_DRAW);
  }
}

void GlRenderer::set_field(const at::Tensor& field, double length) {
  d_->field.clear();
  d_->field_set = field.defined() && length > 0;
  if (d_->field_set) {
    const at::Tensor f = field.to(at::kDouble).contiguous();
    const double* v = f.data_ptr<double>();
    for (int64_t i = 0; i < f.size(0); ++i, v += 4) {
      const double x = v[0], y = v[1], dx = v[2] * length, dy = v[3] * length;
      const double len = std::hypot(dx, dy);
      if (len < 1e-12) continue;
      const double ex = x + dx, ey = y + dy, ux = dx / len, uy = dy / len, head = 0.35 * len;
      d_->field.insert(d_->field.end(), {float(x), float(y), float(ex), float(ey)});
      for (const double s : {1.0, -1.0})
        d_->field.insert(d_->field.end(), {float(ex), float(ey), float(ex - head * (ux * 0.87 - s * uy * 0.5)),
                                           float(ey - head * (uy * 0.87 + s * ux * 0.5))});
    }
  }
  d_->panels[1].dirty = true;
}

Texture GlRenderer::points_panel(int panel, const PointsDraw& d) {
  Impl::Panel& p = d_->panels[panel];
  const int w = std::max(d.width, 8), h = std::max(d.height, 8);
  d_->ensure_target(p, w, h);
  if (!p.dirty && p.last == d) return {reinterpret_cast<ImTextureID>(static_cast<intptr_t>(p.tex)), w, h};
  ++redraws_;
  p.last = d;
  p.dirty = false;
  GLint viewport[4];
  glGetIntegerv(GL_VIEWPORT, viewport);
  glBindVertexArray(d_->vao);
  glDisable(GL_DEPTH_TEST);
  glDisable(GL_SCISSOR_TEST);
  glEnable(GL_PROGRAM_POINT_SIZE);
  glViewport(0, 0, w, h);
  const Box& b = d.box;
  const int step = std::clamp(d.step, 0, p.steps);
  const bool den = d.denoised && step < p.denoised_steps;
  const GLuint buf = den ? p.denoised : p.states;
  const GLintptr first = static_cast<GLintptr>(step) * p.n;

  // Pass 1: the density, Gaussian splats summed in the float framebuffer. The
  // kernel's width follows Scott's rule in two dimensions for these points
  // (s n^-1/6, s the mean per-axis standard deviation), so the map is a
  // smooth estimate at every step; the splat's radius holds 2.8 kernel
  // widths (exp(-4 r^2)).
  float splat = 6.f;
  if (p.n > 1) {
    const float* xy = (den ? p.cpu_denoised.data() : p.cpu_states.data()) + first * 2;
    double sx = 0, sy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < p.n; ++i) sx += xy[2 * i], sy += xy[2 * i + 1], sxx += double(xy[2 * i]) * xy[2 * i], syy += double(xy[2 * i + 1]) * xy[2 * i + 1];
    const double n = p.n, vx = std::max(0.0, sxx / n - (sx / n) * (sx / n)), vy = std::max(0.0, syy / n - (sy / n) * (sy / n));
    const double bw = (std::sqrt(vx) + std::sqrt(vy)) / 2 * std::pow(n, -1.0 / 6);
    splat = float(std::clamp(2 * 2.83 * bw * w / (b.x1 - b.x0), 6.0, 0.5 * std::min(w, h)));
  }
  const float splat_low = std::max(2.f, splat / kDensityDiv);  // in density-map pixels
  if (d.density && p.n > 0) {
    glBindFramebuffer(GL_FRAMEBUFFER, p.dfbo);
    glViewport(0, 0, p.dw, p.dh);
    glClearColor(0, 0, 0, 0);
    glClear(GL_COLOR_BUFFER_BIT);
    glEnable(GL_BLEND);
    glBlendFunc(GL_ONE, GL_ONE);
    glUseProgram(d_->splat_prog);
    d_->set_xform(d_->splat_prog, b);
    glUniform1f(glGetUniformLocation(d_->splat_prog, "u_size"), splat_low);
    // At most ~1M splat fragments: the first m samples (independent draws, so
    // a random subsample), each weighted n / m. The kernel is wide enough
    // that the estimate stays smooth; drawing cost stays flat in n.
    const int m = std::clamp(static_cast<int>(1.0e6 / (splat_low * splat_low)), std::min(p.n, 500), p.n);
    glUniform1f(glGetUniformLocation(d_->splat_prog, "u_weight"), float(double(p.n) / m));
    d_->draw_array(buf, first, m, GL_POINTS);
  }

  glBindFramebuffer(GL_FRAMEBUFFER, p.fbo);
  glViewport(0, 0, w, h);
  glClearColor(1, 1, 1, 1);
  glClear(GL_COLOR_BUFFER_BIT);
  glEnable(GL_BLEND);
  glBlendFunc(GL_SRC_ALPHA, GL_ONE_MINUS_SRC_ALPHA);
  // Grid lines at the tick positions.
  std::vector<float> grid;
  for (double v : render::nice_ticks(b.x0, b.x1, 6)) grid.insert(grid.end(), {float(v), float(b.y0), float(v), float(b.y1)});
  for (double v : render::nice_ticks(b.y0, b.y1, 6)) grid.insert(grid.end(), {float(b.x0), float(v), float(b.x1), float(v)});
  d_->lines(grid, b, {0.88f, 0.88f, 0.88f, 1.f});
  if (d.density && p.n > 0) {
    // Scale: the densest 64x64 cell of these points, converted to the splat
    // sum it gives per pixel (a splat adds about 0.77 r^2 over its pixels, r its radius).
    std::vector<int> bins(64 * 64, 0);
    const float* xy = (den ? p.cpu_denoised.data() : p.cpu_states.data()) + first * 2;
    int most = 0;
    for (int i = 0; i < p.n; ++i) {
      const double fx = (xy[2 * i] - b.x0) / (b.x1 - b.x0), fy = (xy[2 * i + 1] - b.y0) / (b.y1 - b.y0);
      if (fx < 0 || fx >= 1 || fy < 0 || fy >= 1) continue;
      most = std::max(most, ++bins[static_cast<int>(fy * 64) * 64 + static_cast<int>(fx * 64)]);
    }
    const double bin_px = (double(p.dw) / 64) * (double(p.dh) / 64), r = splat_low / 2.0;
    const double peak = std::max(1, most) / bin_px * 0.77 * r * r;
    glUseProgram(d_->cmap_prog);
    glActiveTexture(GL_TEXTURE0);
    glBindTexture(GL_TEXTURE_2D, p.dtex);
    glUniform1i(glGetUniformLocation(d_->cmap_prog, "u_density"), 0);
    glUniform1f(glGetUniformLocation(d_->cmap_prog, "u_scale"), float(1.0 / std::max(peak, 1e-6)));
    glUniform1f(glGetUniformLocation(d_->cmap_prog, "u_warm"), d.guided ? 1.f : 0.f);  // the panel's hue
    glDrawArrays(GL_TRIANGLES, 0, 3);
  }
  // The real data over the density (which would hide it), under the samples.
  if (d.data && d_->reference_n > 0) d_->points(d_->reference, 0, d_->reference_n, b, {0.45f, 0.45f, 0.45f, 0.45f}, 3.f);
  const render::Rgb rgb = d.guided ? render::kSimsColour : render::kBaseColour;  // as the Studio draws them
  const Colour colour{rgb.r / 255.f, rgb.g / 255.f, rgb.b / 255.f, 0.85f};
  if (d.trails && p.trail_n > 0 && step > 0) {
    glUseProgram(d_->lines_prog);
    d_->set_xform(d_->lines_prog, b);
    glUniform4f(glGetUniformLocation(d_->lines_prog, "u_color"), colour.r, colour.g, colour.b, 0.22f);
    d_->draw_array(p.trails, 0, static_cast<GLsizei>(step) * p.trail_n * 2, GL_LINES);
  }
  // Smaller sprites for many points (they would only pile up): full size up to 5,000, 0.4x at 30,000 and more.
  const float shrink = float(std::clamp(std::sqrt(5000.0 / std::max(p.n, 1)), 0.4, 1.0));
  if (d.points && p.n > 0) d_->points(buf, first, p.n, b, colour, std::max(1.5f, d.point_size * 1.6f * shrink));
  // (Lines are 1 pixel wide: wider ones are not part of the core profile.)
  if (d.field && panel == 1 && d_->field_set) d_->lines(d_->field, b, {0.12f, 0.12f, 0.12f, 0.9f});  // ink, as the Studio's

  glBindFramebuffer(GL_FRAMEBUFFER, 0);
  glBindVertexArray(0);
  glUseProgram(0);
  glViewport(viewport[0], viewport[1], viewport[2], viewport[3]);
  return {reinterpret_cast<ImTextureID>(static_cast<intptr_t>(p.tex)), w, h};
}

Texture GlRenderer::images_panel(int panel, int step, bool denoised) {
  Impl::Panel& p = d_->panels[panel];
  if (p.img_states.empty()) return {};
  step = std::clamp(step, 0, p.steps);
  const bool den = denoised && step < static_cast<int>(p.img_denoised.size());
  const std::string key = std::to_string(step) + (den ? "d" : "x");
  if (p.atlas && p.atlas_key == key) return {reinterpret_cast<ImTextureID>(static_cast<intptr_t>(p.atlas)), p.atlas_w, p.atlas_h};
  const at::Tensor imgs = (den ? p.img_denoised[step] : p.img_states[step]).to(at::kFloat);
  const int n = static_cast<int>(imgs.size(0)), c = static_cast<int>(imgs.size(1));
  const int ih = static_cast<int>(imgs.size(2)), iw = static_cast<int>(imgs.size(3));
  const AtlasLayout a = atlas_layout(n, ih, iw);
  // [-1, 1] -> 0..255, channels last; grey for one channel.
  const at::Tensor u8 = ((imgs.clamp(-1, 1) + 1) * 127.5).round().to(at::kByte).permute({0, 2, 3, 1}).contiguous();
  const uint8_t* src = u8.data_ptr<uint8_t>();
  std::vector<uint8_t> rgba(static_cast<size_t>(a.width) * a.height * 4, 255);
  for (int i = 0; i < n; ++i) {
    const int ox = a.pad + (i % a.cols) * a.cell_w, oy = a.pad + (i / a.cols) * a.cell_h;
    for (int y = 0; y < ih; ++y)
      for (int x = 0; x < iw; ++x) {
        const uint8_t* s = src + ((static_cast<size_t>(i) * ih + y) * iw + x) * c;
        uint8_t* o = &rgba[((static_cast<size_t>(oy + y)) * a.width + ox + x) * 4];
        o[0] = s[0], o[1] = s[c > 1 ? 1 : 0], o[2] = s[c > 2 ? 2 : 0], o[3] = 255;
      }
  }
  if (!p.atlas) glGenTextures(1, &p.atlas);
  glBindTexture(GL_TEXTURE_2D, p.atlas);
  glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
  glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA8, a.width, a.height, 0, GL_RGBA, GL_UNSIGNED_BYTE, rgba.data());
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_LINEAR);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
  p.atlas_key = key;
  p.atlas_w = a.width, p.atlas_h = a.height;
  ++redraws_;
  return {reinterpret_cast<ImTextureID>(static_cast<intptr_t>(p.atlas)), a.width, a.height};
}

std::vector<uint8_t> GlRenderer::read_panel(int panel, int* w, int* h) const {
  const Impl::Panel& p = d_->panels[panel];
  *w = p.w, *h = p.h;
  std::vector<uint8_t> out(static_cast<size_t>(p.w) * p.h * 4);
  if (!p.fbo) return {};
  glBindFramebuffer(GL_FRAMEBUFFER, p.fbo);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glReadPixels(0, 0, p.w, p.h, GL_RGBA, GL_UNSIGNED_BYTE, out.data());
  glBindFramebuffer(GL_FRAMEBUFFER, 0);
  return out;
}

std::vector<float> GlRenderer::read_density(int panel, int* w, int* h) const {
  const Impl::Panel& p = d_->panels[panel];
  *w = p.dw, *h = p.dh;
  std::vector<float> out(static_cast<size_t>(p.dw) * p.dh);
  if (!p.dfbo) return {};
  glBindFramebuffer(GL_FRAMEBUFFER, p.dfbo);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glReadPixels(0, 0, p.dw, p.dh, GL_RED, GL_FLOAT, out.data());
  glBindFramebuffer(GL_FRAMEBUFFER, 0);
  return out;
}

}  // namespace sims::live
