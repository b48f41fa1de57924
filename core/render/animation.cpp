#include "render/animation.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <sstream>

#include <ATen/ATen.h>
#include <gif_lib.h>
#include <zlib.h>

#include "common/error.hpp"
#include "data/toy2d.hpp"
#include "io/atomic_file.hpp"
#include "render/plot.hpp"

namespace sims::render {
namespace {

std::string file_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string num(double v, int precision = 3) {
  std::ostringstream o;
  o << std::setprecision(precision) << v;
  return o.str();
}

std::string gif_error(int code) {
  const char* s = GifErrorString(code);
  return s ? s : "error " + std::to_string(code);
}

bool is_images(const at::Tensor& t) { return t.defined() && t.dim() == 4; }
bool is_points(const at::Tensor& t) { return t.defined() && t.dim() == 2 && t.size(1) >= 2; }

// [SECTION] Palette (GIF) -----------------------------------------------------------------------

// A 256-colour palette by median cut over a 5-bit-per-channel histogram of every frame, and the map from
// each 15-bit colour to its nearest palette entry.
struct Palette {
  std::vector<std::array<uint8_t, 3>> colours;
  std::vector<uint8_t> index_of;  // 32768 entries
};

inline int bin_of(const uint8_t* p) { return ((p[0] >> 3) << 10) | ((p[1] >> 3) << 5) | (p[2] >> 3); }

Palette median_cut(const std::vector<Canvas>& frames) {
  // Per bin: the pixel count and the sums of the exact colours (a palette entry is their mean, so flat
  // colours such as the white background stay exact).
  std::vector<uint64_t> hist(32768, 0), sums(3 * 32768, 0);
  for (const Canvas& f : frames) {
    const uint8_t* p = f.pixels().data();
    const size_t n = f.pixels().size() / 3;
    for (size_t i = 0; i < n; ++i) {
      const int b = bin_of(p + 3 * i);
      ++hist[b];
      for (int c = 0; c < 3; ++c) sums[3 * b + c] += p[3 * i + c];
    }
  }
  std::vector<int> bins;
  for (int b = 0; b < 32768; ++b)
    if (hist[b]) bins.push_back(b);
  auto chan = [](int b, int c) { return (b >> (10 - 5 * c)) & 31; };
  struct Box {
    size_t begin, end;  // into bins
  };
  std::vector<Box> boxes{{0, bins.size()}};
  auto spread = [&](const Box& bx, int* axis) {
    int best = -1;
    for (int c = 0; c < 3; ++c) {
      int lo = 31, hi = 0;
      for (size_t i = bx.begin; i < bx.end; ++i) {
        lo = std::min(lo, chan(bins[i], c));
        hi = std::max(hi, chan(bins[i], c));
      }
      if (hi - lo > best) {
        best = hi - lo;
        *axis = c;
      }
    }
    return best;
  };
  while (boxes.size() < 256) {
    // Split the box with the largest spread weighted by its pixel count's square root.
    double best_score = 0;
    size_t pick = boxes.size();
    int pick_axis = 0;
    for (size_t k = 0; k < boxes.size(); ++k) {
      if (boxes[k].end - boxes[k].begin < 2) continue;
      int axis = 0;
      const int s = spread(boxes[k], &axis);
      uint64_t count = 0;
      for (size_t i = boxes[k].begin; i < boxes[k].end; ++i) count += hist[bins[i]];
      const double score = s * std::sqrt(static_cast<double>(count));
      if (s > 0 && score > best_score) {
        best_score = score;
        pick = k;
        pick_axis = axis;
      }
    }
    if (pick == boxes.size()) break;
    Box bx = boxes[pick];
    std::sort(bins.begin() + bx.begin, bins.begin() + bx.end,
              [&](int a, int b) { return chan(a, pick_axis) < chan(b, pick_axis); });
    uint64_t total = 0, acc = 0;
    for (size_t i = bx.begin; i < bx.end; ++i) total += hist[bins[i]];
    size_t cut = bx.begin + 1;
    for (size_t i = bx.begin; i < bx.end - 1; ++i) {
      acc += hist[bins[i]];
      cut = i + 1;
      if (acc * 2 >= total) break;
    }
    boxes[pick] = {bx.begin, cut};
    boxes.push_back({cut, bx.end});
  }
  Palette pal;
  for (const Box& bx : boxes) {
    double s[3] = {0, 0, 0}, w = 0;
    for (size_t i = bx.begin; i < bx.end; ++i)
      for (int c = 0; c < 3; ++c) s[c] += static_cast<double>(sums[3 * bins[i] + c]);
    for (size_t i = bx.begin; i < bx.end; ++i) w += hist[bins[i]];
    std::array<uint8_t, 3> col{};
    for (int c = 0; c < 3; ++c) col[c] = static_cast<uint8_t>(std::clamp(std::lround(s[c] / std::max(w, 1.0)), 0L, 255L));
    pal.colours.push_back(col);
  }
  while (pal.colours.size() < 256) pal.colours.push_back({0, 0, 0});
  // Nearest entry for every colour that occurs (others are never looked up).
  pal.index_of.assign(32768, 0);
  for (int b : bins) {
    const double cnt = static_cast<double>(hist[b]);
    const long r = std::lround(sums[3 * b] / cnt), g = std::lround(sums[3 * b + 1] / cnt), bl = std::lround(sums[3 * b + 2] / cnt);
    int best = 0;
    long best_d = -1;
    for (size_t k = 0; k < boxes.size(); ++k) {
      const long dr = r - pal.colours[k][0], dg = g - pal.colours[k][1], db = bl - pal.colours[k][2];
      const long d = 3 * dr * dr + 4 * dg * dg + 2 * db * db;
      if (best_d < 0 || d < best_d) {
        best_d = d;
        best = static_cast<int>(k);
      }
    }
    pal.index_of[b] = static_cast<uint8_t>(best);
  }
  return pal;
}

// The rectangle where two equally sized frames differ (w = 0 when they are equal).
struct Rect {
  int x = 0, y = 0, w = 0, h = 0;
};
template <typename T>
Rect changed_rect(const std::vector<T>& a, const std::vector<T>& b, int W, int H, int ch) {
  int x0 = W, y0 = H, x1 = -1, y1 = -1;
  for (int y = 0; y < H; ++y) {
    const T* pa = a.data() + static_cast<size_t>(y) * W * ch;
    const T* pb = b.data() + static_cast<size_t>(y) * W * ch;
    if (std::memcmp(pa, pb, static_cast<size_t>(W) * ch * sizeof(T)) == 0) continue;
    y0 = std::min(y0, y);
    y1 = y;
    for (int x = 0; x < W; ++x)
      if (std::memcmp(pa + x * ch, pb + x * ch, ch * sizeof(T)) != 0) {
        x0 = std::min(x0, x);
        x1 = std::max(x1, x);
      }
  }
  if (x1 < 0) return {};
  return {x0, y0, x1 - x0 + 1, y1 - y0 + 1};
}

// Frame delays in 1/100 s (GIF's unit), the last one held longer.
std::vector<int> delays_cs(size_t n, double fps, double hold_last_s) {
  const int d = std::max(2, static_cast<int>(std::lround(100.0 / fps)));
  std::vector<int> out(n, d);
  if (!out.empty()) out.back() = std::max(d, static_cast<int>(std::lround(hold_last_s * 100)));
  return out;
}

std::string encode_gif(const std::vector<Canvas>& frames, double fps, double hold_last_s) {
  const int W = frames[0].width(), H = frames[0].height();
  const Palette pal = median_cut(frames);
  std::string out;
  auto sink = [](GifFileType* g, const GifByteType* data, int len) -> int {
    static_cast<std::string*>(g->UserData)->append(reinterpret_cast<const char*>(data), len);
    return len;
  };
  int err = 0;
  GifFileType* gif = EGifOpen(&out, sink, &err);
  if (!gif) throw IoError("GIF encoder: " + gif_error(err));
  struct Closer {
    GifFileType* g;
    ColorMapObject* m = nullptr;
    ~Closer() {
      int e = 0;
      if (g) EGifCloseFile(g, &e);
      if (m) GifFreeMapObject(m);
    }
  } closer{gif};
  std::vector<GifColorType> cols(256);
  for (int k = 0; k < 256; ++k) cols[k] = {pal.colours[k][0], pal.colours[k][1], pal.colours[k][2]};
  closer.m = GifMakeMapObject(256, cols.data());
  if (!closer.m) throw IoError("GIF encoder: out of memory");
  auto check = [&](int rc, const char* what) {
    if (rc != GIF_OK) throw IoError(std::string("GIF encoder: ") + what + ": " + gif_error(gif->Error));
  };
  EGifSetGifVersion(gif, true);
  check(EGifPutScreenDesc(gif, W, H, 8, 0, closer.m), "screen");
  // Loop forever (the NETSCAPE2.0 application extension).
  check(EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE), "loop");
  check(EGifPutExtensionBlock(gif, 11, "NETSCAPE2.0"), "loop");
  const unsigned char loop[3] = {1, 0, 0};
  check(EGifPutExtensionBlock(gif, 3, loop), "loop");
  check(EGifPutExtensionTrailer(gif), "loop");
  const std::vector<int> delay = delays_cs(frames.size(), fps, hold_last_s);
  std::vector<uint8_t> prev, cur(static_cast<size_t>(W) * H);
  for (size_t f = 0; f < frames.size(); ++f) {
    const uint8_t* p = frames[f].pixels().data();
    for (size_t i = 0; i < cur.size(); ++i) cur[i] = pal.index_of[bin_of(p + 3 * i)];
    Rect r{0, 0, W, H};
    if (!prev.empty()) {
      r = changed_rect(prev, cur, W, H, 1);
      if (r.w == 0) r = {0, 0, 1, 1};  // an unchanged frame still needs its delay
    }
    GraphicsControlBlock gcb{};
    gcb.DisposalMode = DISPOSE_DO_NOT;
    gcb.UserInputFlag = false;
    gcb.DelayTime = delay[f];
    gcb.TransparentColor = NO_TRANSPARENT_COLOR;
    GifByteType ext[4];
    EGifGCBToExtension(&gcb, ext);
    check(EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, 4, ext), "frame delay");
    check(EGifPutImageDesc(gif, r.x, r.y, r.w, r.h, false, nullptr), "frame");
    for (int y = r.y; y < r.y + r.h; ++y)
      check(EGifPutLine(gif, cur.data() + static_cast<size_t>(y) * W + r.x, r.w), "pixels");
    prev.swap(cur);
    cur.resize(prev.size());
  }
  int e = 0;
  const int rc = EGifCloseFile(gif, &e);
  closer.g = nullptr;
  if (rc != GIF_OK) throw IoError("GIF encoder: " + gif_error(e));
  return out;
}

// [SECTION] APNG ---------------------------------------------------------------------------------

void put_u32(std::string& s, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
  s.append(b, 4);
}
void put_u16(std::string& s, uint16_t v) {
  const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  s.append(b, 2);
}

void put_chunk(std::string& out, const char type[4], const std::string& data) {
  put_u32(out, static_cast<uint32_t>(data.size()));
  const size_t start = out.size();
  out.append(type, 4);
  out += data;
  const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(out.data() + start), static_cast<uInt>(out.size() - start));
  put_u32(out, static_cast<uint32_t>(crc));
}

// zlib stream of the filtered scanlines of a w x h rectangle at (x, y) of an RGB frame (per row the PNG
// filter with the smallest sum of absolute values, the usual heuristic).
std::string deflate_rect(const Canvas& f, const Rect& r) {
  const int W = f.width();
  const uint8_t* px = f.pixels().data();
  const size_t row_bytes = static_cast<size_t>(r.w) * 3;
  std::string raw;
  raw.reserve((row_bytes + 1) * r.h);
  std::vector<uint8_t> cand(row_bytes), best(row_bytes);
  for (int y = 0; y < r.h; ++y) {
    const uint8_t* row = px + (static_cast<size_t>(r.y + y) * W + r.x) * 3;
    const uint8_t* up = y > 0 ? px + (static_cast<size_t>(r.y + y - 1) * W + r.x) * 3 : nullptr;
    long best_sum = -1;
    int best_type = 0;
    for (int type = 0; type < 5; ++type) {
      long sum = 0;
      for (size_t i = 0; i < row_bytes; ++i) {
        const int a = i >= 3 ? row[i - 3] : 0, b = up ? up[i] : 0, c = (up && i >= 3) ? up[i - 3] : 0;
        int pred = 0;
        if (type == 1) pred = a;
        else if (type == 2) pred = b;
        else if (type == 3) pred = (a + b) / 2;
        else if (type == 4) {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
        }
        cand[i] = static_cast<uint8_t>(row[i] - pred);
        sum += std::min<int>(cand[i], 256 - cand[i]);
      }
      if (best_sum < 0 || sum < best_sum) {
        best_sum = sum;
        best_type = type;
        best.swap(cand);
      }
    }
    raw += static_cast<char>(best_type);
    raw.append(reinterpret_cast<const char*>(best.data()), row_bytes);
  }
  uLongf len = compressBound(static_cast<uLong>(raw.size()));
  std::string z(len, '\0');
  if (compress2(reinterpret_cast<Bytef*>(&z[0]), &len, reinterpret_cast<const Bytef*>(raw.data()),
                static_cast<uLong>(raw.size()), 6) != Z_OK)
    throw IoError("APNG encoder: zlib compression failed");
  z.resize(len);
  return z;
}

std::string encode_apng(const std::vector<Canvas>& frames, double fps, double hold_last_s) {
  const int W = frames[0].width(), H = frames[0].height();
  std::string out("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  put_u32(ihdr, W);
  put_u32(ihdr, H);
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8 bit, RGB, deflate, adaptive filters, no interlace
  put_chunk(out, "IHDR", ihdr);
  std::string actl;
  put_u32(actl, static_cast<uint32_t>(frames.size()));
  put_u32(actl, 0);  // loop forever
  put_chunk(out, "acTL", actl);
  const std::vector<int> delay = delays_cs(frames.size(), fps, hold_last_s);
  uint32_t seq = 0;
  for (size_t f = 0; f < frames.size(); ++f) {
    Rect r{0, 0, W, H};
    if (f > 0) {
      r = changed_rect(frames[f - 1].pixels(), frames[f].pixels(), W, H, 3);
      if (r.w == 0) r = {0, 0, 1, 1};
    }
    std::string fctl;
    put_u32(fctl, seq++);
    put_u32(fctl, r.w);
    put_u32(fctl, r.h);
    put_u32(fctl, r.x);
    put_u32(fctl, r.y);
    put_u16(fctl, static_cast<uint16_t>(delay[f]));
    put_u16(fctl, 100);
    fctl += std::string("\x00\x00", 2);  // dispose: none; blend: source (the rectangle replaces what was there)
    put_chunk(out, "fcTL", fctl);
    const std::string z = deflate_rect(frames[f], r);
    if (f == 0) {
      put_chunk(out, "IDAT", z);
    } else {
      std::string fdat;
      put_u32(fdat, seq++);
      fdat += z;
      put_chunk(out, "fdAT", fdat);
    }
  }
  put_chunk(out, "IEND", std::string());
  return out;
}

// [SECTION] Frames -------------------------------------------------------------------------------

constexpr float kLabelPx = 13, kTitlePx = 16, kHeaderPx = 19, kCaptionPx = 13;
const Rgb kReference{150, 150, 150};

}  // namespace

std::string SamplingProvenance::caption() const {
  std::ostringstream o;
  auto varies = [&](const std::string& name) { return std::find(varied.begin(), varied.end(), name) != varied.end(); };
  o << "base " << (base.empty() ? "?" : file_name(base));
  if (!aux.empty()) {
    o << " \u00b7 aux " << file_name(aux);
    if (!varies("omega")) o << " \u00b7 \u03c9\u00a0=\u00a0" << num(omega, 4);
    if (!varies("interval"))
      o << (varies("omega") ? " \u00b7 guided" : "") << " for \u03c3 in (" << num(lo, 3) << ", "
        << (std::isinf(hi) ? std::string("\u221e") : num(hi, 3)) << "]";
  }
  o << " \u00b7 " << (varies("sampler") ? std::string("EDM sampler") : sampler.empty() ? std::string("heun") : sampler);
  if (!varies("steps")) o << ", " << steps << "\u00a0steps";
  if (seed >= 0 && !varies("seed")) o << " \u00b7 seed\u00a0" << seed;
  const bool per_omega = varied.size() == 1 && varied[0] == "omega";
  if (n > 0)
    o << " \u00b7 " << n
      << (!per_cell ? "\u00a0samples" : per_omega ? "\u00a0samples per\u00a0\u03c9" : "\u00a0samples per cell");
  if (!varied.empty()) {
    o << " \u00b7 on the axes:";
    for (size_t i = 0; i < varied.size(); ++i) o << (i ? ", " : " ") << (varied[i] == "omega" ? std::string("\u03c9") : varied[i]);
  }
  return o.str();
}

SamplingProvenance SamplingProvenance::of(const std::string& base, const std::string& aux, const Guidance& g,
                                          const SamplerConfig& cfg, long long seed, long long n) {
  SamplingProvenance p;
  p.base = base;
  p.aux = aux;
  p.omega = g.omega;
  p.lo = g.lo;
  p.hi = g.hi;
  p.steps = cfg.steps;
  p.sampler = to_string(cfg.kind);
  p.seed = seed;
  p.n = n;
  return p;
}

std::vector<at::Tensor> trajectory_frames(const Trajectory& tr, const at::Tensor& final_x, bool denoised) {
  const size_t N = tr.states.empty() ? 0 : tr.states.size() - 1;
  std::vector<at::Tensor> out;
  for (size_t k = 0; k < N; ++k)
    out.push_back(denoised && k < tr.denoised.size() ? tr.denoised[k] : tr.states[k]);
  out.push_back(final_x);
  return out;
}

std::vector<std::string> step_labels(const std::vector<double>& t, bool denoised) {
  const size_t N = t.empty() ? 0 : t.size() - 1;
  std::vector<std::string> out;
  for (size_t k = 0; k < N; ++k) {
    std::ostringstream o;
    if (denoised)
      o << "step " << k + 1 << " of " << N << " \u00b7 D(x; \u03c3) at \u03c3 = " << num(t[k], 3);
    else
      o << "step " << k << " of " << N << " \u00b7 x at \u03c3 = " << num(t[k], 3) << (k == 0 ? " (the starting noise)" : "");
    out.push_back(o.str());
  }
  out.push_back("final samples (\u03c3 = 0) after " + std::to_string(N) + " steps");
  return out;
}

AnimationSpec denoising_animation(const std::vector<AnimationRun>& runs, bool denoised, const SamplingProvenance& prov,
                                  const nlohmann::json& provenance) {
  AnimationSpec spec;
  for (const AnimationRun& r : runs) {
    if (!r.trajectory || r.trajectory->states.empty())
      throw InputError("'" + r.title + "' has no recorded steps to animate");
    spec.panels.push_back({r.title, r.colour, trajectory_frames(*r.trajectory, r.final_x, denoised)});
  }
  if (runs.empty()) throw InputError("an animation needs at least one run");
  // The headers follow the last run (the live / SIMS one; a pinned run on the left may have another schedule).
  spec.frame_labels = step_labels(runs.back().trajectory->t, denoised);
  if (runs[0].final_x.dim() == 2 && provenance.is_object()) {
    std::string name;
    spec.reference = data::training_points(provenance, 4000, &name);
    if (spec.reference.defined()) spec.reference_label = "grey: training data (" + name + ")";
  }
  spec.caption = prov.caption();
  return spec;
}

std::vector<Canvas> render_animation(const AnimationSpec& spec) {
  if (spec.panels.empty()) throw InputError("an animation needs at least one panel");
  const size_t F = spec.panels[0].frames.size();
  if (F == 0) throw InputError("an animation needs at least one frame");
  for (const AnimationPanel& p : spec.panels)
    if (p.frames.size() != F) throw InputError("the panels of an animation must have the same number of frames");
  if (!spec.frame_labels.empty() && spec.frame_labels.size() != F)
    throw InputError("an animation needs one label per frame");
  const at::Tensor& first = spec.panels[0].frames[0];
  const bool images = is_images(first);
  if (!images && !is_points(first))
    throw InputError("animations show 2D points [N, >=2] or images [N, C, H, W]; got " + c10::str(first.sizes()));
  const int P = std::max(120, spec.panel_px);

  // Axes: one range for all panels of a frame (so they compare), per frame or the final frame's.
  std::vector<PlotRange> ranges(F);
  at::Tensor reference;
  if (!images) {
    if (spec.reference.defined() && is_points(spec.reference))
      reference = spec.reference.narrow(0, 0, std::min<int64_t>(spec.reference.size(0), 20000));
    auto range_of = [&](size_t f) {
      std::vector<at::Tensor> sets;
      for (const AnimationPanel& p : spec.panels) {
        if (!is_points(p.frames[f])) throw InputError("every frame of a 2D animation must be points [N, >=2]");
        sets.push_back(p.frames[f].narrow(0, 0, std::min<int64_t>(p.frames[f].size(0), spec.max_points)));
      }
      return robust_range(sets);
    };
    const PlotRange last = range_of(F - 1);
    for (size_t f = 0; f < F; ++f) ranges[f] = spec.follow_axes ? range_of(f) : last;
  }

  // One panel's picture of frame f.
  auto panel_canvas = [&](const AnimationPanel& p, size_t f) {
    const at::Tensor& x = p.frames[f];
    if (images) {
      if (!is_images(x)) throw InputError("every frame of an image animation must be [N, C, H, W]");
      const int n = static_cast<int>(std::min<int64_t>(x.size(0), std::max(1, spec.max_images)));
      const int cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))));
      const int zoom = std::max(1, static_cast<int>(std::lround(static_cast<double>(P) / (cols * x.size(3)))));
      return image_mosaic(x.narrow(0, 0, n), cols, zoom);
    }
    std::vector<ScatterLayer> layers;
    if (reference.defined()) layers.push_back({reference, kReference, 1.0f});
    layers.push_back({x.narrow(0, 0, std::min<int64_t>(x.size(0), spec.max_points)), p.colour, 1.0f});
    return scatter_axes(layers, P, ranges[f], kLabelPx);
  };

  // Every panel of every frame first: the layout holds the widest (tick labels differ from frame to frame).
  const int n_panels = static_cast<int>(spec.panels.size());
  std::vector<std::vector<Canvas>> panels(F);
  const int pad = 14;
  int pw = 0, ph = 0;
  for (size_t f = 0; f < F; ++f)
    for (const AnimationPanel& p : spec.panels) {
      panels[f].push_back(panel_canvas(p, f));
      pw = std::max(pw, panels[f].back().width());
      ph = std::max(ph, panels[f].back().height());
    }
  for (const AnimationPanel& p : spec.panels) pw = std::max(pw, Canvas::text_width(p.title, kTitlePx, true));
  int W = pad + n_panels * (pw + pad);
  int header_w = 0;
  for (const std::string& s : spec.frame_labels) header_w = std::max(header_w, Canvas::text_width(s, kHeaderPx, true));
  W = std::max(W, header_w + 2 * pad);
  const std::vector<std::string> caption = wrap_text(spec.caption, W - 2 * pad, kCaptionPx);
  const bool legend = !images && reference.defined() && !spec.reference_label.empty();
  const int header_h = static_cast<int>(kHeaderPx * 1.7f);
  const int title_h = static_cast<int>(kTitlePx * 1.6f);
  const int legend_h = legend ? static_cast<int>(kCaptionPx * 1.6f) : 0;
  const int caption_h = static_cast<int>(caption.size() * kCaptionPx * 1.4f) + (caption.empty() ? 0 : pad / 2);
  const int H = pad / 2 + header_h + title_h + ph + legend_h + caption_h + pad / 2;
  const int x_start = (W - (n_panels * (pw + pad) - pad)) / 2;

  std::vector<Canvas> frames;
  frames.reserve(F);
  for (size_t f = 0; f < F; ++f) {
    Canvas c(W, H, {255, 255, 255});
    int y = pad / 2;
    if (!spec.frame_labels.empty()) {
      const std::string& s = spec.frame_labels[f];
      c.draw_text(s, (W - Canvas::text_width(s, kHeaderPx, true)) / 2, y + 2, kHeaderPx, {10, 10, 10}, true);
    }
    y += header_h;
    for (int k = 0; k < n_panels; ++k) {
      const AnimationPanel& p = spec.panels[k];
      const int x = x_start + k * (pw + pad);
      const Rgb tc = images ? Rgb{20, 20, 20} : p.colour;
      c.draw_text(p.title, x + (pw - Canvas::text_width(p.title, kTitlePx, true)) / 2, y, kTitlePx, tc, true);
      // Right-aligned: a plot's right margin is fixed, so its square stays in place when the tick labels on its
      // left change width; image mosaics are centred.
      const Canvas& pc = panels[f][k];
      c.blit(pc, images ? x + (pw - pc.width()) / 2 : x + pw - pc.width(), y + title_h);
    }
    y += title_h + ph;
    if (legend) {
      const int sw = 10, tw = Canvas::text_width(spec.reference_label, kCaptionPx);
      const int lx = (W - sw - 6 - tw) / 2;
      c.fill_rect(lx, y + 5, sw, sw, kReference);
      c.draw_text(spec.reference_label, lx + sw + 6, y + 2, kCaptionPx, {90, 90, 90});
      y += legend_h;
    }
    y += caption.empty() ? 0 : pad / 2;
    for (const std::string& line : caption) {
      c.draw_text(line, pad, y, kCaptionPx, {70, 70, 70});
      y += static_cast<int>(kCaptionPx * 1.4f);
    }
    frames.push_back(std::move(c));
  }
  return frames;
}

AnimationFormat animation_format(const std::string& path) {
  auto ends = [&](const std::string& ext) {
    if (path.size() < ext.size()) return false;
    std::string tail = path.substr(path.size() - ext.size());
    std::transform(tail.begin(), tail.end(), tail.begin(), [](unsigned char ch) { return std::tolower(ch); });
    return tail == ext;
  };
  if (ends(".gif")) return AnimationFormat::Gif;
  if (ends(".png") || ends(".apng")) return AnimationFormat::Apng;
  throw InputError("'" + path + "': an animation is written as .gif, or as .png / .apng (animated PNG)");
}

void write_animation(const std::string& path, const std::vector<Canvas>& frames, double fps, double hold_last_s) {
  const AnimationFormat fmt = animation_format(path);
  if (frames.empty()) throw InputError("an animation needs at least one frame");
  if (!(fps >= 0.1 && fps <= 50)) throw InputError("frames per second must be 0.1 to 50, got " + num(fps));
  if (!(hold_last_s >= 0 && hold_last_s <= 600)) throw InputError("the last frame is held 0 to 600 s");
  for (const Canvas& f : frames)
    if (f.width() != frames[0].width() || f.height() != frames[0].height() || f.width() <= 0)
      throw InputError("the frames of an animation must all have the same, non-empty size");
  if (frames[0].width() > 65535 || frames[0].height() > 65535) throw InputError("an animation frame is at most 65535 pixels wide and high");
  const std::string bytes = fmt == AnimationFormat::Gif ? encode_gif(frames, fps, hold_last_s) : encode_apng(frames, fps, hold_last_s);
  io::write_file_atomically(path, bytes.data(), bytes.size());
}

}  // namespace sims::render
