#include "render/canvas.hpp"
#include "common/error.hpp"
#include "common/paths.hpp"
#include "render/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include <ATen/ATen.h>

// Static: the stb_truetype of libstb (which Dear ImGui links) keeps its own symbols.
#define STBTT_STATIC
#define STB_TRUETYPE_IMPLEMENTATION
#include <stb_truetype.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb_image_write.h>

#include "common/error.hpp"
#include "io/atomic_file.hpp"

namespace sims::render {
namespace {

// [SECTION] Fonts ------------------------------------------------------------

struct Font {
  std::string data;
  stbtt_fontinfo info{};
};

std::string find_font(bool bold) {
  const char* env = std::getenv(bold ? "SIMS_FONT_BOLD" : "SIMS_FONT");
  if (env && *env) return env;
  const std::string name = bold ? "DejaVuSans-Bold.ttf" : "DejaVuSans.ttf";
  {
    std::ifstream f("/usr/share/fonts/truetype/dejavu/" + name);
    if (f) return "/usr/share/fonts/truetype/dejavu/" + name;
  }
  try {
    const std::string shipped = asset_path("fonts/" + name);
    if (std::ifstream(shipped)) return shipped;
  } catch (const Error&) {
    // no shipped data found: text is then left out, as with no font at all
  }
  return {};
}

const Font& font(bool bold) {
  static std::once_flag once[2];
  static std::unique_ptr<Font> fonts[2];
  std::call_once(once[bold], [bold] {
    const std::string path = find_font(bold);
    if (path.empty()) return;
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    auto f = std::make_unique<Font>();
    f->data = ss.str();
    const auto* bytes = reinterpret_cast<const unsigned char*>(f->data.data());
    if (stbtt_InitFont(&f->info, bytes, stbtt_GetFontOffsetForIndex(bytes, 0))) fonts[bold] = std::move(f);
  });
  if (!fonts[bold])
    throw IoError("no usable TrueType font for figure labels: install fonts-dejavu-core or set SIMS_FONT to a .ttf");
  return *fonts[bold];
}

// Renders text into an 8-bit coverage bitmap; returns width/height.
std::vector<uint8_t> rasterize(const std::string& text, float px, bool bold, int& w, int& h) {
  const Font& f = font(bold);
  const float scale = stbtt_ScaleForPixelHeight(&f.info, px);
  int ascent, descent, gap;
  stbtt_GetFontVMetrics(&f.info, &ascent, &descent, &gap);
  const int base = static_cast<int>(std::ceil(ascent * scale));
  h = static_cast<int>(std::ceil((ascent - descent) * scale)) + 1;
  // Decode UTF-8 into code points (labels use ω, σ, ∞).
  std::vector<int> cps;
  for (size_t i = 0; i < text.size();) {
    unsigned char c = text[i];
    int cp, len;
    if (c < 0x80) { cp = c; len = 1; }
    else if ((c >> 5) == 6) { cp = c & 0x1f; len = 2; }
    else if ((c >> 4) == 14) { cp = c & 0x0f; len = 3; }
    else { cp = c & 0x07; len = 4; }
    for (int k = 1; k < len && i + k < text.size(); ++k) cp = (cp << 6) | (text[i + k] & 0x3f);
    cps.push_back(cp);
    i += len;
  }
  float xpos = 0;
  for (size_t i = 0; i < cps.size(); ++i) {
    int adv, lsb;
    stbtt_GetCodepointHMetrics(&f.info, cps[i], &adv, &lsb);
    xpos += adv * scale;
    if (i + 1 < cps.size()) xpos += scale * stbtt_GetCodepointKernAdvance(&f.info, cps[i], cps[i + 1]);
  }
  w = static_cast<int>(std::ceil(xpos)) + 2;
  std::vector<uint8_t> bmp(static_cast<size_t>(w) * h, 0);
  xpos = 0;
  for (size_t i = 0; i < cps.size(); ++i) {
    int adv, lsb, x0, y0, x1, y1;
    stbtt_GetCodepointHMetrics(&f.info, cps[i], &adv, &lsb);
    const float shift = xpos - std::floor(xpos);
    stbtt_GetCodepointBitmapBoxSubpixel(&f.info, cps[i], scale, scale, shift, 0, &x0, &y0, &x1, &y1);
    const int gx = static_cast<int>(std::floor(xpos)) + x0, gy = base + y0;
    const int gw = x1 - x0, gh = y1 - y0;
    if (gw > 0 && gh > 0 && gx >= 0 && gy >= 0 && gx + gw <= w && gy + gh <= h) {
      std::vector<uint8_t> glyph(static_cast<size_t>(gw) * gh);
      stbtt_MakeCodepointBitmapSubpixel(&f.info, glyph.data(), gw, gh, gw, scale, scale, shift, 0, cps[i]);
      for (int yy = 0; yy < gh; ++yy)
        for (int xx = 0; xx < gw; ++xx) {
          uint8_t& d = bmp[static_cast<size_t>(gy + yy) * w + gx + xx];
          d = std::max(d, glyph[static_cast<size_t>(yy) * gw + xx]);
        }
    }
    xpos += adv * scale;
    if (i + 1 < cps.size()) xpos += scale * stbtt_GetCodepointKernAdvance(&f.info, cps[i], cps[i + 1]);
  }
  return bmp;
}

}  // namespace

// [SECTION] Canvas -----------------------------------------------------------

Canvas::Canvas(int w, int h, Rgb bg) : w_(w), h_(h), px_(static_cast<size_t>(w) * h * 3) {
  for (size_t i = 0; i < px_.size(); i += 3) {
    px_[i] = bg.r;
    px_[i + 1] = bg.g;
    px_[i + 2] = bg.b;
  }
}

void Canvas::fill_rect(int x, int y, int w, int h, Rgb c) {
  for (int yy = std::max(0, y); yy < std::min(h_, y + h); ++yy)
    for (int xx = std::max(0, x); xx < std::min(w_, x + w); ++xx) {
      uint8_t* p = &px_[(static_cast<size_t>(yy) * w_ + xx) * 3];
      p[0] = c.r;
      p[1] = c.g;
      p[2] = c.b;
    }
}

void Canvas::stroke_rect(int x, int y, int w, int h, Rgb c) {
  fill_rect(x, y, w, 1, c);
  fill_rect(x, y + h - 1, w, 1, c);
  fill_rect(x, y, 1, h, c);
  fill_rect(x + w - 1, y, 1, h, c);
}

void Canvas::blend(int x, int y, Rgb c, float a) {
  if (x < 0 || y < 0 || x >= w_ || y >= h_ || a <= 0) return;
  a = std::min(a, 1.0f);
  uint8_t* p = &px_[(static_cast<size_t>(y) * w_ + x) * 3];
  p[0] = static_cast<uint8_t>(std::lround(p[0] + (c.r - p[0]) * a));
  p[1] = static_cast<uint8_t>(std::lround(p[1] + (c.g - p[1]) * a));
  p[2] = static_cast<uint8_t>(std::lround(p[2] + (c.b - p[2]) * a));
}

void Canvas::blit(const Canvas& src, int x, int y) {
  for (int yy = 0; yy < src.h_; ++yy) {
    if (y + yy < 0 || y + yy >= h_) continue;
    for (int xx = 0; xx < src.w_; ++xx) {
      if (x + xx < 0 || x + xx >= w_) continue;
      const uint8_t* s = &src.px_[(static_cast<size_t>(yy) * src.w_ + xx) * 3];
      uint8_t* d = &px_[(static_cast<size_t>(y + yy) * w_ + x + xx) * 3];
      d[0] = s[0];
      d[1] = s[1];
      d[2] = s[2];
    }
  }
}

int Canvas::text_width(const std::string& text, float px, bool bold) {
  int w, h;
  rasterize(text, px, bold, w, h);
  return w;
}

int Canvas::draw_text(const std::string& text, int x, int y, float px, Rgb c, bool bold) {
  int w, h;
  auto bmp = rasterize(text, px, bold, w, h);
  for (int yy = 0; yy < h; ++yy)
    for (int xx = 0; xx < w; ++xx) blend(x + xx, y + yy, c, bmp[static_cast<size_t>(yy) * w + xx] / 255.0f);
  return w;
}

void Canvas::draw_text_vertical(const std::string& text, int cx, int cy, float px, Rgb c, bool bold) {
  int w, h;
  auto bmp = rasterize(text, px, bold, w, h);
  // Rotate 90 degrees counter-clockwise: text reads bottom-to-top.
  const int x0 = cx - h / 2, y0 = cy - w / 2;
  for (int yy = 0; yy < h; ++yy)
    for (int xx = 0; xx < w; ++xx) blend(x0 + yy, y0 + (w - 1 - xx), c, bmp[static_cast<size_t>(yy) * w + xx] / 255.0f);
}

void Canvas::write_png(const std::string& path) const {
  if (w_ <= 0 || h_ <= 0) throw IoError("refusing to write an empty image to '" + path + "'");
  std::string buf;
  auto sink = [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size); };
  if (!stbi_write_png_to_func(sink, &buf, w_, h_, 3, px_.data(), w_ * 3))
    throw IoError("PNG encoding failed for '" + path + "'");
  io::write_file_atomically(path, buf.data(), buf.size());
}

// [SECTION] Images and plots --------------------------------------------------

Canvas image_to_canvas(const at::Tensor& img_in, int zoom) {
  if (img_in.dim() != 3 || (img_in.size(0) != 1 && img_in.size(0) != 3))
    throw InputError("an image must be [C,H,W] with C = 1 or 3, got " + c10::str(img_in.sizes()));
  // [-1,1] -> uint8 as the EDM reference does: clip(x*127.5 + 128, 0, 255).
  at::Tensor u8 = (img_in.to(at::kCPU, at::kDouble) * 127.5 + 128).clamp(0, 255).to(at::kByte).contiguous();
  const int C = static_cast<int>(u8.size(0)), H = static_cast<int>(u8.size(1)), W = static_cast<int>(u8.size(2));
  const uint8_t* p = u8.data_ptr<uint8_t>();
  Canvas c(W * zoom, H * zoom);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      Rgb v;
      v.r = p[(0 * H + y) * W + x];
      v.g = p[((C == 3 ? 1 : 0) * H + y) * W + x];
      v.b = p[((C == 3 ? 2 : 0) * H + y) * W + x];
      c.fill_rect(x * zoom, y * zoom, zoom, zoom, v);
    }
  return c;
}

Canvas image_mosaic(const at::Tensor& imgs, int cols, int zoom, int pad) {
  if (imgs.dim() != 4) throw InputError("images must be [N,C,H,W], got " + c10::str(imgs.sizes()));
  const int n = static_cast<int>(imgs.size(0));
  cols = std::max(1, std::min(cols, n));
  const int rows = (n + cols - 1) / cols;
  const int cw = static_cast<int>(imgs.size(3)) * zoom, ch = static_cast<int>(imgs.size(2)) * zoom;
  Canvas out(cols * cw + (cols + 1) * pad, rows * ch + (rows + 1) * pad, {255, 255, 255});
  for (int i = 0; i < n; ++i)
    out.blit(image_to_canvas(imgs[i], zoom), pad + (i % cols) * (cw + pad), pad + (i / cols) * (ch + pad));
  return out;
}

PlotRange robust_range(const std::vector<at::Tensor>& sets) {
  std::vector<at::Tensor> xs;
  for (const auto& s : sets) xs.push_back(s.to(at::kCPU, at::kDouble).reshape({s.size(0), -1}).narrow(1, 0, 2));
  at::Tensor all = at::cat(xs, 0);
  all = all.index({all.isfinite().all(1)});
  PlotRange r;
  if (all.size(0) == 0) return r;
  // 0.5% / 99.5% quantiles per axis, then a common square box with a margin.
  at::Tensor q = at::quantile(all, at::tensor({0.005, 0.995}, at::kDouble), 0);
  const double cx = 0.5 * (q[0][0].item<double>() + q[1][0].item<double>());
  const double cy = 0.5 * (q[0][1].item<double>() + q[1][1].item<double>());
  double half = 0.5 * std::max(q[1][0].item<double>() - q[0][0].item<double>(), q[1][1].item<double>() - q[0][1].item<double>());
  half = std::max(half * 1.1, 1e-6);
  return {cx - half, cx + half, cy - half, cy + half};
}

void draw_points(Canvas& c, int x0, int y0, int size, const at::Tensor& points, const PlotRange& r, Rgb colour,
                 float alpha_scale) {
  auto to_px = [&](double v, double a, double b) { return (v - a) / (b - a) * (size - 1); };
  at::Tensor p = points.to(at::kCPU, at::kDouble).reshape({points.size(0), -1}).contiguous();
  const int64_t n = p.size(0), d = p.size(1);
  const double* v = p.data_ptr<double>();
  // Dots with alpha that adapts to the count, so dense regions read as density.
  const float alpha = alpha_scale * static_cast<float>(std::clamp(600.0 / std::max<int64_t>(n, 1), 0.08, 0.8));
  for (int64_t i = 0; i < n; ++i) {
    const double x = v[i * d], y = v[i * d + 1];
    if (!std::isfinite(x) || !std::isfinite(y)) continue;
    const double px = to_px(x, r.x0, r.x1), py = size - 1 - to_px(y, r.y0, r.y1);
    // A point beyond the range is not drawn; a dot at the edge stays inside the frame (pixels 0 and size - 1).
    if (px < 0 || py < 0 || px > size - 1 || py > size - 1) continue;
    const int ix = std::clamp(static_cast<int>(std::lround(px)), 1, size - 2),
              iy = std::clamp(static_cast<int>(std::lround(py)), 1, size - 2);
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx) {
        if (ix + dx < 1 || iy + dy < 1 || ix + dx >= size - 1 || iy + dy >= size - 1) continue;
        const float w = (dx == 0 && dy == 0) ? 1.0f : 0.45f;
        c.blend(x0 + ix + dx, y0 + iy + dy, colour, alpha * w);
      }
  }
}

Canvas scatter(const at::Tensor& points, int size, const PlotRange& r, Rgb colour) {
  Canvas c(size, size, {252, 252, 250});
  // Light grid at the axes' zero lines when they are in view.
  auto to_px = [&](double v, double a, double b) { return (v - a) / (b - a) * (size - 1); };
  // (rounded as the dots and the grid's ticks are)
  if (r.x0 < 0 && r.x1 > 0) c.fill_rect(static_cast<int>(std::lround(to_px(0, r.x0, r.x1))), 0, 1, size, {225, 225, 225});
  if (r.y0 < 0 && r.y1 > 0)
    c.fill_rect(0, size - 1 - static_cast<int>(std::lround(to_px(0, r.y0, r.y1))), size, 1, {225, 225, 225});
  draw_points(c, 0, 0, size, points, r, colour);
  c.stroke_rect(0, 0, size, size, {150, 150, 150});
  return c;
}

std::vector<std::string> wrap_text(const std::string& text, int width, float px) {
  std::vector<std::string> words;
  std::string cur;
  for (size_t i = 0; i < text.size(); ++i) {
    cur += text[i];
    if (text[i] == ' ') {
      words.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(cur);
  std::vector<std::string> lines;
  std::string line;
  for (const std::string& w : words) {
    const std::string trial = line + w;
    if (!line.empty() && Canvas::text_width(trial, px) > width) {
      while (!line.empty() && line.back() == ' ') line.pop_back();
      // Do not start a line with the separator dot.
      lines.push_back(line);
      line = (w.rfind("\u00b7", 0) == 0) ? std::string() : w;
    } else {
      line = trial;
    }
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  if (!line.empty()) lines.push_back(line);
  // A line ending in the separator loses it.
  for (std::string& l : lines) {
    const std::string dot = " \u00b7";
    if (l.size() >= dot.size() && l.compare(l.size() - dot.size(), dot.size(), dot) == 0) l.resize(l.size() - dot.size());
  }
  return lines;
}

Canvas with_caption(const Canvas& fig, const std::string& caption, float px) {
  if (caption.empty()) return fig;
  const int pad = 10;
  const int W = std::max(fig.width(), 360);
  const std::vector<std::string> lines = wrap_text(caption, W - 2 * pad - 8, px);  // a margin for rounding
  const int line_h = static_cast<int>(px * 1.4f);
  Canvas out(W, fig.height() + pad / 2 + static_cast<int>(lines.size()) * line_h + pad, {255, 255, 255});
  out.blit(fig, (W - fig.width()) / 2, 0);
  int y = fig.height() + pad / 2;
  for (const std::string& l : lines) {
    out.draw_text(l, pad, y, px, {70, 70, 70});
    y += line_h;
  }
  return out;
}

Canvas compose_grid(const GridFigure& fig) {
  const int rows = static_cast<int>(fig.cells.size());
  if (rows == 0 || fig.cells[0].empty()) throw InputError("a grid needs at least one cell");
  const int cols = static_cast<int>(fig.cells[0].size());
  int cw = 0, ch = 0;
  for (const auto& row : fig.cells)
    for (const auto& c : row) {
      cw = std::max(cw, c.width());
      ch = std::max(ch, c.height());
    }
  const float label_px = std::clamp(ch / 7.0f, 13.0f, 22.0f);
  const float title_px = label_px * 1.25f;
  int ylab_w = 0;
  for (const auto& s : fig.y_labels) ylab_w = std::max(ylab_w, Canvas::text_width(s, label_px));
  const int pad = 6;
  // Shared scatter axes: tick values left of the first column (y) and under the last row (x).
  const float tick_px = 12.0f;
  const int tick_len = 4;
  std::vector<double> xt, yt;
  double xstep = 1, ystep = 1;
  int tick_w = 0, tick_h = 0;
  if (fig.scatter_ticks) {
    const PlotRange& r = fig.range;
    // About one tick per 50 px of cell, and at least two inside the range (a scale needs two values); values that
    // would run into each other are left out below.
    const auto ticks = [](double lo, double hi, int px) {
      std::vector<double> t;
      for (int target = std::max(2, px / 50); target <= 12; ++target) {
        t = nice_ticks(lo, hi, target);
        if (std::count_if(t.begin(), t.end(), [&](double v) { return v > lo && v < hi; }) >= 2) break;
      }
      return t;
    };
    xt = ticks(r.x0, r.x1, cw), yt = ticks(r.y0, r.y1, ch);
    xstep = xt.size() > 1 ? xt[1] - xt[0] : 1, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
    for (double v : yt) tick_w = std::max(tick_w, Canvas::text_width(tick_label(v, ystep), tick_px));
    tick_w += tick_len + 3;
    tick_h = tick_len + static_cast<int>(tick_px * 1.4f);
  }
  int left = (fig.y_title.empty() ? 0 : static_cast<int>(title_px * 1.6f)) + ylab_w + 2 * pad + tick_w;
  const int top = (fig.title.empty() ? 0 : static_cast<int>(title_px * 1.8f)) +
                  (fig.x_title.empty() ? 0 : static_cast<int>(title_px * 1.5f)) +
                  (fig.x_labels.empty() ? pad : static_cast<int>(label_px * 1.5f));
  // The figure is at least as wide as its titles (a grid of one or two columns would cut them); the grid is
  // centred in the extra width, its labels with it.
  const int grid_W = left + cols * (cw + pad) + pad;
  const int title_W = fig.title.empty() ? 0 : Canvas::text_width(fig.title, title_px, true) + 4 * pad;
  const int xtitle_W = fig.x_title.empty() ? 0 : 2 * left + Canvas::text_width(fig.x_title, title_px, true) + 4 * pad;
  // The rows' title reads along the grid's height: in a short grid (small cells, few rows) it gets a smaller font,
  // down to 10 px, and beyond that more height (it ran off the figure's top and bottom).
  float ytitle_px = title_px;
  int ytitle_len = 0;
  if (!fig.y_title.empty()) {
    ytitle_len = Canvas::text_width(fig.y_title, ytitle_px, true);
    if (ytitle_len > rows * (ch + pad)) {
      ytitle_px = std::max(10.0f, title_px * static_cast<float>(rows * (ch + pad)) / static_cast<float>(ytitle_len));
      ytitle_len = Canvas::text_width(fig.y_title, ytitle_px, true);
    }
  }
  const int body_h = std::max(rows * (ch + pad) + tick_h, ytitle_len);
  const int W = std::max({grid_W, title_W, xtitle_W}), H = top + body_h + pad;
  const int shift = (W - grid_W) / 2;
  left += shift;
  Canvas out(W, H, {255, 255, 255});
  int y = pad;
  if (!fig.title.empty()) {
    out.draw_text(fig.title, (W - Canvas::text_width(fig.title, title_px, true)) / 2, y, title_px, {10, 10, 10}, true);
    y += static_cast<int>(title_px * 1.8f);
  }
  const int grid_w = cols * (cw + pad) - pad;
  if (!fig.x_title.empty()) {
    out.draw_text(fig.x_title, left + (grid_w - Canvas::text_width(fig.x_title, title_px, true)) / 2, y, title_px,
                  {10, 10, 10}, true);
    y += static_cast<int>(title_px * 1.5f);
  }
  for (int c = 0; c < cols && c < static_cast<int>(fig.x_labels.size()); ++c) {
    const int tw = Canvas::text_width(fig.x_labels[c], label_px);
    out.draw_text(fig.x_labels[c], left + c * (cw + pad) + (cw - tw) / 2, y, label_px);
  }
  if (!fig.y_title.empty())
    out.draw_text_vertical(fig.y_title, shift + pad + static_cast<int>(title_px * 0.7f),
                           top + std::max(rows * (ch + pad), ytitle_len) / 2, ytitle_px, {10, 10, 10}, true);
  for (int r = 0; r < rows; ++r) {
    const int cy = top + r * (ch + pad);
    if (r < static_cast<int>(fig.y_labels.size())) {
      const int tw = Canvas::text_width(fig.y_labels[r], label_px);
      out.draw_text(fig.y_labels[r], left - pad - tick_w - tw, cy + ch / 2 - static_cast<int>(label_px * 0.6f),
                    label_px);
    }
    for (int c = 0; c < cols && c < static_cast<int>(fig.cells[r].size()); ++c)
      out.blit(fig.cells[r][c], left + c * (cw + pad), cy);
  }
  if (fig.scatter_ticks) {  // the cells are squares of side ch mapping the range onto pixels 0 … ch - 1
    const PlotRange& r = fig.range;
    const Rgb tick_c{120, 120, 120}, text_c{60, 60, 60};
    for (int row = 0; row < rows; ++row) {
      const int cy = top + row * (ch + pad);
      int last_top = 1000000;  // the previous value's top edge (ticks run upwards)
      for (double v : yt) {
        const int y = cy + ch - 1 - static_cast<int>(std::lround((v - r.y0) / (r.y1 - r.y0) * (ch - 1)));
        // Only ticks whose value stays beside its own row (rows are pad apart).
        const int half_h = static_cast<int>(tick_px * 0.6f);
        if (y < cy || y >= cy + ch || y - half_h < cy - pad / 2 || y + half_h > cy + ch + pad / 2) continue;
        out.fill_rect(left - tick_len, y, tick_len, 1, tick_c);
        if (y + half_h > last_top - 2) continue;  // the mark without its value (values listed bottom to top)
        last_top = y - half_h;
        const std::string t = tick_label(v, ystep);
        out.draw_text(t, left - tick_len - 2 - Canvas::text_width(t, tick_px), y - static_cast<int>(tick_px * 0.6f),
                      tick_px, text_c);
      }
    }
    const int by = top + rows * (ch + pad) - pad;
    for (int c = 0; c < cols; ++c) {
      const int cx = left + c * (cw + pad);
      int last_right = -1000000;  // the previous value's right edge: values 3 px apart at least
      for (double v : xt) {
        const int x = cx + static_cast<int>(std::lround((v - r.x0) / (r.x1 - r.x0) * (cw - 1)));
        const std::string t = tick_label(v, xstep);
        // Only ticks whose value stays under its own cell (cells are pad apart).
        const int half_w = Canvas::text_width(t, tick_px) / 2;
        if (x < cx || x >= cx + cw || x - half_w < cx - pad / 2 || x + half_w > cx + cw + pad / 2) continue;
        out.fill_rect(x, by, 1, tick_len, tick_c);
        if (x - half_w < last_right + 3) continue;  // the mark without its value
        last_right = x + half_w;
        out.draw_text(t, x - Canvas::text_width(t, tick_px) / 2, by + tick_len + 1, tick_px, text_c);
      }
    }
  }
  return out;
}

}  // namespace sims::render
