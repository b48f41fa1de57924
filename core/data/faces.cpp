#include "data/faces.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "common/error.hpp"
#include "common/json_parse.hpp"

namespace sims::data {

// [SECTION] ImageBatch and spec ----------------------------------------------

ImageBatch ImageBatch::narrow(int64_t start, int64_t n) const {
  ImageBatch b;
  b.images = images.narrow(0, start, n);
  if (attrs.defined()) b.attrs = attrs.narrow(0, start, n);
  b.attr_names = attr_names;
  if (labels.defined()) b.labels = labels.narrow(0, start, n);
  b.class_names = class_names;
  return b;
}

nlohmann::json FacesSpec::to_json() const { return {{"size", size}, {"group_ratio", group_ratio}}; }

FacesSpec FacesSpec::from_json(const nlohmann::json& j) {
  FacesSpec s;
  try {
    s.size = static_cast<int>(count_or(j, "size", s.size, std::numeric_limits<int>::max(), "faces spec: "));
    if (j.contains("group_ratio")) s.group_ratio = j.at("group_ratio").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError("faces spec: " + json_error_words(e));
  }
  s.validate();
  return s;
}

void FacesSpec::validate() const {
  if (size < 16 || size > 256) throw InputError("faces: size must be 16..256 pixels (32 or 64 intended), got " + std::to_string(size));
  if (!(group_ratio >= 0.0 && group_ratio <= 1.0))
    throw InputError("faces: group ratio must be in [0, 1], got " + c10::str(group_ratio));
}

std::vector<std::string> face_attr_names() { return {"group", "smile", "glasses"}; }

namespace {

// [SECTION] Random numbers: a counter-based stream per (seed, index) ----------

inline uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

struct Stream {
  uint64_t s;
  Stream(uint64_t seed, int64_t index) : s(mix64(mix64(seed ^ 0x51D5F00DULL) + static_cast<uint64_t>(index))) {}
  double uni() {
    s += 0x9E3779B97F4A7C15ULL;
    uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-53;
  }
  double range(double a, double b) { return a + (b - a) * uni(); }
};

using Rgb = FaceParams::Rgb;

Rgb rgb(double r, double g, double b) { return {float(r), float(g), float(b)}; }
Rgb scale_rgb(const Rgb& c, double k) {
  return rgb(std::clamp(c[0] * k, 0.0, 1.0), std::clamp(c[1] * k, 0.0, 1.0), std::clamp(c[2] * k, 0.0, 1.0));
}
Rgb lerp_rgb(const Rgb& a, const Rgb& b, double t) {
  return rgb(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t);
}
Rgb hsv(double h, double s, double v) {
  h = std::fmod(h, 1.0) * 6.0;
  const int i = static_cast<int>(h) % 6;
  const double f = h - std::floor(h), p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  switch (i) {
    case 0: return rgb(v, t, p);
    case 1: return rgb(q, v, p);
    case 2: return rgb(p, v, t);
    case 3: return rgb(p, q, v);
    case 4: return rgb(t, p, v);
    default: return rgb(v, p, q);
  }
}
// Picks from `n` choices with weights w using one uniform u.
int pick(double u, const double* w, int n) {
  double total = 0;
  for (int i = 0; i < n; ++i) total += w[i];
  double acc = 0;
  for (int i = 0; i < n; ++i) {
    acc += w[i] / total;
    if (u < acc) return i;
  }
  return n - 1;
}

}  // namespace

// [SECTION] Parameters --------------------------------------------------------

FaceParams face_params(const FacesSpec& spec, int64_t index, uint64_t seed, const FaceOverrides& over) {
  if (index < 0) throw InputError("face index must be >= 0");
  Stream r(seed, index);
  FaceParams p;
  // Attributes first, each from its own uniform: changing the ratio flips only `group`.
  const double u_group = r.uni(), u_smile = r.uni(), u_glasses = r.uni();
  p.group = over.group >= 0 ? over.group != 0 : u_group < spec.group_ratio;
  p.smile = over.smile >= 0 ? over.smile != 0 : u_smile < 0.5;
  p.glasses = over.glasses >= 0 ? over.glasses != 0 : u_glasses < 0.25;

  // Every other draw happens unconditionally and in a fixed order, so an
  // override changes nothing but what depends on that attribute.
  p.cx = r.range(-0.07, 0.07);
  p.cy = r.range(-0.1, 0.02);
  p.scale = r.range(0.40, 0.48);
  p.angle = r.range(-0.2, 0.2);
  p.yaw = r.range(-0.6, 0.6);

  const double bg_h = r.uni(), bg_s = r.range(0.12, 0.55), bg_v = r.range(0.45, 0.92), bg_dv = r.range(0.75, 1.0);
  p.bg_top = hsv(bg_h, bg_s, bg_v);
  p.bg_bottom = hsv(bg_h + r.range(-0.06, 0.06), bg_s, bg_v * bg_dv);

  static const Rgb skins[] = {rgb(0.97, 0.86, 0.77), rgb(0.93, 0.77, 0.64), rgb(0.84, 0.65, 0.50),
                              rgb(0.71, 0.52, 0.37), rgb(0.56, 0.39, 0.27), rgb(0.40, 0.27, 0.18)};
  {
    const double t = r.uni() * 5.0;
    const int k = std::min(4, static_cast<int>(t));
    Rgb s = lerp_rgb(skins[k], skins[k + 1], t - k);
    const double j0 = r.range(-0.025, 0.025), j1 = r.range(-0.025, 0.025);
    p.skin = rgb(std::clamp(s[0] + j0, 0.0, 1.0), std::clamp(s[1] + j1, 0.0, 1.0), s[2]);
  }

  // Hair colour: black, dark brown, brown, blonde, auburn, grey.
  static const Rgb hairs[] = {rgb(0.09, 0.07, 0.06), rgb(0.25, 0.15, 0.09), rgb(0.45, 0.30, 0.17),
                              rgb(0.86, 0.70, 0.42), rgb(0.62, 0.27, 0.12), rgb(0.62, 0.61, 0.60)};
  static const double w_hair[2][6] = {{0.36, 0.30, 0.18, 0.05, 0.04, 0.07}, {0.14, 0.20, 0.20, 0.30, 0.16, 0.0}};
  {
    const double u = r.uni(), k = r.range(0.85, 1.12);
    p.hair = scale_rgb(hairs[pick(u, w_hair[p.group], 6)], k);
  }
  {  // lips: red/pink for group 1, close to the skin for group 0
    const double h = r.range(-0.03, 0.02), s = r.range(0.5, 0.8), v = r.range(0.62, 0.85), k = r.range(0.92, 1.05);
    p.lips = p.group ? hsv(h + 1.0, s, v) : rgb(p.skin[0] * 0.80 * k, p.skin[1] * 0.58 * k, p.skin[2] * 0.56 * k);
  }
  {
    static const Rgb irises[] = {rgb(0.22, 0.13, 0.07), rgb(0.40, 0.25, 0.12), rgb(0.25, 0.42, 0.62), rgb(0.30, 0.46, 0.30)};
    static const double w[] = {0.45, 0.25, 0.2, 0.1};
    p.iris = irises[pick(r.uni(), w, 4)];
  }
  {
    const double h = r.uni(), s = r.range(0.25, 0.8), v = r.range(0.25, 0.85);
    p.shirt = hsv(h, s, v);
  }
  {
    static const Rgb frames[] = {rgb(0.06, 0.06, 0.07), rgb(0.30, 0.18, 0.10), rgb(0.10, 0.15, 0.38), rgb(0.62, 0.10, 0.12)};
    static const double w[] = {0.5, 0.25, 0.15, 0.1};
    p.frame = frames[pick(r.uni(), w, 4)];
    p.square_frames = r.uni() < 0.4;
  }
  p.blush = rgb(0.93, 0.45, 0.45);
  {
    const double u = r.uni();
    p.blush_alpha = p.group ? 0.10 + 0.25 * u : 0.10 * u;
  }

  p.face_rx = r.range(0.92, 1.04);
  p.face_ry = r.range(1.22, 1.36);
  p.jaw = r.range(0.0, 0.22);

  // Hair: group 1 mostly long (a few bobs), group 0 mostly short (a few medium).
  {
    const double u_len = r.uni(), len = r.uni(), vol = r.uni(), sides = r.uni();
    if (p.group) {
      p.hair_length = u_len < 0.9 ? 1.35 + 1.1 * len : 0.5 + 0.4 * len;
      p.hair_volume = 0.12 + 0.18 * vol;
      p.hair_sides = 0.8 + 0.6 * sides;
    } else {
      p.hair_length = u_len < 0.9 ? 0.0 : 0.4 + 0.4 * len;
      p.hair_volume = 0.04 + 0.16 * vol;
      p.hair_sides = 0.25 + 0.3 * sides;
    }
  }
  p.hairline = r.range(-0.78, -0.5);
  p.parting = r.range(-0.25, 0.25);

  p.eye_sep = r.range(0.36, 0.44);
  p.eye_y = r.range(-0.15, -0.02);
  p.eye_size = r.range(0.88, 1.12);
  p.gaze = r.range(-1.0, 1.0);
  p.brow_raise = r.range(0.24, 0.32);
  p.brow_tilt = r.range(-0.04, 0.025);
  {
    const double u = r.uni();
    p.brow_thick = p.group ? 0.035 + 0.02 * u : 0.05 + 0.025 * u;
  }
  p.mouth_y = r.range(0.55, 0.7);
  p.mouth_w = r.range(0.24, 0.34);
  {
    const double u = r.uni();
    p.lip_thick = p.group ? 0.06 + 0.025 * u : 0.045 + 0.02 * u;
  }
  p.smile_curve = r.uni();
  p.open_mouth = r.uni() < 0.45;
  p.light = r.range(0.0, 1.0);
  p.light_angle = r.range(0.0, 2 * M_PI);
  return p;
}

std::array<double, 2> face_eye_center(const FaceParams& p, int side) {
  return {side * p.eye_sep + 0.25 * p.yaw, p.eye_y};
}

std::array<double, 2> face_mouth_center(const FaceParams& p) { return {0.25 * p.yaw, p.mouth_y}; }

std::array<double, 2> face_to_pixel(const FaceParams& p, int size, double fx, double fy) {
  const double c = std::cos(p.angle), s = std::sin(p.angle);
  const double nx = p.cx + p.scale * (c * fx - s * fy), ny = p.cy + p.scale * (s * fx + c * fy);
  return {(nx + 1) * 0.5 * size, (ny + 1) * 0.5 * size};
}

// [SECTION] Rendering ---------------------------------------------------------

namespace {

inline float clamp01(float v) { return v < 0 ? 0 : (v > 1 ? 1 : v); }
inline float len2(float x, float y) { return std::sqrt(x * x + y * y); }

// Signed distances (negative inside) in face units.
inline float sd_circle(float x, float y, float r) { return len2(x, y) - r; }
inline float sd_ellipse(float x, float y, float rx, float ry) {
  const float k0 = len2(x / rx, y / ry), k1 = len2(x / (rx * rx), y / (ry * ry));
  return k1 > 1e-6f ? k0 * (k0 - 1.0f) / k1 : -std::min(rx, ry);
}
inline float sd_segment(float x, float y, float ax, float ay, float bx, float by, float r) {
  const float px = x - ax, py = y - ay, dx = bx - ax, dy = by - ay;
  const float h = clamp01((px * dx + py * dy) / (dx * dx + dy * dy + 1e-12f));
  return len2(px - dx * h, py - dy * h) - r;
}
inline float sd_round_box(float x, float y, float hx, float hy, float r) {
  const float qx = std::abs(x) - hx + r, qy = std::abs(y) - hy + r;
  return len2(std::max(qx, 0.f), std::max(qy, 0.f)) + std::min(std::max(qx, qy), 0.f) - r;
}
// Arc of radius ra and half-thickness rb around the +y axis (downwards), half-aperture with sin/cos (sa, ca).
inline float sd_arc(float x, float y, float sa, float ca, float ra, float rb) {
  x = std::abs(x);
  return (ca * x > sa * y ? len2(x - sa * ra, y - ca * ra) : std::abs(len2(x, y) - ra)) - rb;
}

struct Pixel {
  float c[3];
  // Paints colour k with coverage a.
  inline void paint(const Rgb& k, float a) {
    if (a <= 0) return;
    c[0] += (k[0] - c[0]) * a;
    c[1] += (k[1] - c[1]) * a;
    c[2] += (k[2] - c[2]) * a;
  }
};

}  // namespace

namespace {

// What every pixel of one face needs: the parameters in float, the derived
// colours and the mouth's geometry.
struct FaceGeom {
  const FaceParams& p;
  float px;  // one pixel in face units
  float yaw, rx, ry, jaw, vol, L, hl0, part, sides, ey, es, esz, fshift, lx, ly;
  Rgb hair_back, neck, ear, brow, nose, white, pupil, mouth_in, teeth, lens;
  float mx, my, mw, lip, arc_sa, arc_ca, arc_r, arc_cy, gr;

  FaceGeom(const FaceParams& fp, float pixel) : p(fp), px(pixel) {
    yaw = static_cast<float>(p.yaw);
    rx = static_cast<float>(p.face_rx), ry = static_cast<float>(p.face_ry), jaw = static_cast<float>(p.jaw);
    vol = static_cast<float>(p.hair_volume), L = static_cast<float>(p.hair_length);
    hl0 = static_cast<float>(p.hairline), part = static_cast<float>(p.parting), sides = static_cast<float>(p.hair_sides);
    ey = static_cast<float>(p.eye_y), es = static_cast<float>(p.eye_sep), esz = static_cast<float>(p.eye_size);
    fshift = 0.25f * yaw;  // features follow the head's yaw
    lx = static_cast<float>(std::cos(p.light_angle) * p.light * 0.12);
    ly = static_cast<float>(std::sin(p.light_angle) * p.light * 0.12);
    hair_back = scale_rgb(p.hair, 0.78), neck = scale_rgb(p.skin, 0.8), ear = scale_rgb(p.skin, 0.9);
    brow = scale_rgb(p.hair, p.hair[0] > 0.5f ? 0.62 : 0.75);
    nose = scale_rgb(p.skin, 0.78), white = rgb(0.96, 0.96, 0.94), pupil = rgb(0.03, 0.03, 0.04);
    mouth_in = rgb(0.36, 0.08, 0.10), teeth = rgb(0.95, 0.94, 0.90), lens = rgb(0.85, 0.92, 1.0);
    mx = fshift, my = static_cast<float>(p.mouth_y), mw = static_cast<float>(p.mouth_w);
    lip = static_cast<float>(p.lip_thick);
    // Smile arc: half-aperture 0.55..1.0 rad, bottom of the arc a little below mouth_y.
    const float ap = 0.55f + 0.45f * static_cast<float>(p.smile_curve);
    arc_sa = std::sin(ap), arc_ca = std::cos(ap), arc_r = mw / arc_sa, arc_cy = my + 0.04f - arc_r;
    gr = 0.29f * esz;  // glasses lens radius
  }
  float cov(float d) const { return clamp01(0.5f - d / px); }
  float soft(float d, float w) const { return clamp01(0.5f - d / (px * w)); }

  // Shoulders, long hair behind the head, neck, ears, the face, hair on the head, cheeks.
  void head(Pixel& P, float fx, float fy) const {
    // (Each shape is skipped where a cheap bound shows it cannot cover the pixel.)
    if (fy > 1.55f - px) P.paint(p.shirt, cov(sd_ellipse(fx, fy - 2.6f, 2.0f, 1.05f)));
    if (L > 0 && std::abs(fx) < rx + 0.6f + 0.1f * std::max(fy, 0.f) + px && fy < std::max(L, ry + vol - 0.12f) + px) {
      const float top = sd_ellipse(fx, fy + 0.12f, rx + 0.2f + vol * 0.5f, ry + vol);
      const float hang = sd_round_box(fx, fy - (L - 0.1f) * 0.5f, rx + 0.22f + 0.1f * std::max(fy, 0.f), (L + 0.1f) * 0.5f, 0.35f);
      P.paint(hair_back, cov(std::min(top, hang)));
    }
    if (std::abs(fx) < 0.36f + px && fy > 0.8f - px && fy < 1.8f + px)
      P.paint(neck, cov(sd_round_box(fx, fy - 1.3f, 0.36f, 0.5f, 0.1f)));
    if (L < 0.6f && std::abs(fy - ey - 0.14f) < 0.22f + px && std::abs(fx) > rx * 0.96f - 0.16f - px) {  // ears
      const float eary = ey + 0.14f;
      P.paint(ear, cov(std::min(sd_ellipse(fx - rx * 0.96f, fy - eary, 0.16f, 0.22f),
                                sd_ellipse(fx + rx * 0.96f, fy - eary, 0.16f, 0.22f))));
    }
    {  // the face: an egg, narrower towards the chin, lit from one side
      const float narrow = 1.0f - jaw * std::max(fy, 0.f) / ry;
      const float d = sd_ellipse(fx / narrow, fy, rx, ry) * (0.5f + 0.5f * narrow);
      const float a = cov(d);
      if (a > 0) {
        const float shade = std::clamp(1.0f - (fx * lx + fy * ly), 0.85f, 1.15f);
        P.paint(rgb(std::min(1.f, p.skin[0] * shade), std::min(1.f, p.skin[1] * shade), std::min(1.f, p.skin[2] * shade)), a);
      }
    }
    // Hair on the head: a cap above a hairline curve; longer hair comes further down the sides.
    if (const float line = hl0 + sides * fx * fx + part * fx; (fy - line) * 0.8f < 0.5f * px) {
      const float d_cap = sd_ellipse(fx, fy + 0.12f, rx + 0.07f + vol * 0.5f, ry + vol - 0.02f);
      const float a = cov(std::max(d_cap, (fy - line) * 0.8f));
      if (a > 0) P.paint(scale_rgb(p.hair, 1.0 + 0.18 * std::clamp(-fy - 0.9f, 0.f, 0.6f)), a);
    }
    if (p.blush_alpha > 0 && std::abs(fy - my + 0.28f) < 0.16f + 2 * px) {  // cheeks
      const float cy0 = my - 0.28f;
      const float d = std::min(sd_circle(fx - fshift - 0.56f, fy - cy0, 0.16f), sd_circle(fx - fshift + 0.56f, fy - cy0, 0.16f));
      P.paint(p.blush, soft(d, 3.0f) * static_cast<float>(p.blush_alpha));
    }
  }

  // Brows, eyes, nose, mouth (callers skip pixels more than ~0.9 units from the face centre).
  void features(Pixel& P, float fx, float fy) const {
    const float by = ey - static_cast<float>(p.brow_raise), bt = static_cast<float>(p.brow_tilt);
    const float bth = static_cast<float>(p.brow_thick);
    for (int side = -1; side <= 1; side += 2) {
      const float ex = side * es + fshift;
      if (std::abs(fy - by) < 0.12f + bth + px)
        P.paint(brow, cov(sd_segment(fx, fy, ex - side * 0.16f, by + bt, ex + side * 0.17f, by - bt + 0.02f, bth)));
      if (std::abs(fy - ey) > 0.15f * esz + px || std::abs(fx - ex) > 0.23f * esz + px) continue;
      const float d_white = sd_ellipse(fx - ex, fy - ey, 0.2f * esz, 0.13f * esz);
      if (d_white < px) {
        P.paint(white, cov(d_white));
        const float ix = ex + 0.06f * static_cast<float>(p.gaze);
        P.paint(p.iris, cov(std::max(sd_circle(fx - ix, fy - ey, 0.11f * esz), d_white)));
        P.paint(pupil, cov(std::max(sd_circle(fx - ix, fy - ey, 0.05f * esz), d_white)));
        // Upper lid: a dark line along the top of the eye.
        P.paint(pupil, 0.6f * cov(std::max(std::abs(d_white) - 0.025f, fy - ey + 0.02f)));
      }
    }
    if (std::abs(fy - ey - 0.4f) < 0.1f + 2 * px)
      P.paint(nose, 0.7f * soft(sd_ellipse(fx - 1.2f * fshift, fy - ey - 0.4f, 0.07f, 0.1f), 1.5f));
    if (std::abs(fy - my) > 0.45f + px) return;  // far from the mouth
    if (!p.smile) {
      P.paint(p.lips, cov(sd_segment(fx, fy, mx - 0.8f * mw, my, mx + 0.8f * mw, my, lip)));
    } else if (!p.open_mouth) {
      P.paint(p.lips, cov(sd_arc(fx - mx, fy - arc_cy, arc_sa, arc_ca, arc_r, lip)));
    } else {
      // Open smile: a "D" with teeth at the top, outlined by the lips.
      const float top = my - 0.04f;
      const float d = std::max(sd_ellipse(fx - mx, fy - top, mw, mw * 0.75f), top - fy);
      P.paint(p.lips, cov(d - lip * 0.7f));
      P.paint(mouth_in, cov(d));
      P.paint(teeth, cov(std::max(d, fy - top - 0.07f)));
    }
  }

  // Glasses: two lenses (round or square) with a bridge and temples.
  void glasses(Pixel& P, float fx, float fy) const {
    const float t = 0.055f;
    float d = 1e9f, inside = 1e9f;
    for (int side = -1; side <= 1; side += 2) {
      const float ex = side * es + fshift;
      const float dl = p.square_frames ? sd_round_box(fx - ex, fy - ey, gr * 1.05f, gr * 0.8f, 0.08f)
                                       : sd_circle(fx - ex, fy - ey, gr);
      inside = std::min(inside, dl);
      d = std::min(d, std::abs(dl) - t);
      d = std::min(d, sd_segment(fx, fy, ex + side * gr, ey - 0.04f, side * rx * 0.98f + 0.1f * yaw, ey - 0.08f, t * 0.8f));
    }
    d = std::min(d, sd_segment(fx, fy, fshift - es + gr, ey - 0.03f, fshift + es - gr, ey - 0.03f, t * 0.9f));
    P.paint(lens, 0.15f * cov(inside));
    P.paint(p.frame, cov(d));
  }
};

}  // namespace

void render_face(const FaceParams& p, int size, float* chw) {
  const float ca = static_cast<float>(std::cos(p.angle)), sa = static_cast<float>(std::sin(p.angle));
  const float inv_s = static_cast<float>(1.0 / p.scale);
  const FaceGeom g(p, 2.0f / size * inv_s);
  const size_t plane = static_cast<size_t>(size) * size;
  for (int y = 0; y < size; ++y) {
    const float ny = (y + 0.5f) * 2.0f / size - 1.0f;
    const Rgb bg = lerp_rgb(p.bg_top, p.bg_bottom, 0.5 * (ny + 1));
    for (int x = 0; x < size; ++x) {
      const float nx = (x + 0.5f) * 2.0f / size - 1.0f;
      const float qx = nx - static_cast<float>(p.cx), qy = ny - static_cast<float>(p.cy);
      const float fx = (ca * qx + sa * qy) * inv_s, fy = (-sa * qx + ca * qy) * inv_s;
      Pixel P{{bg[0], bg[1], bg[2]}};
      g.head(P, fx, fy);
      if (std::abs(fy) < 1.0f && std::abs(fx - g.fshift) < 1.0f) g.features(P, fx, fy);
      if (p.glasses && std::abs(fy - g.ey) < 0.6f) g.glasses(P, fx, fy);
      const size_t o = static_cast<size_t>(y) * size + x;
      for (int c = 0; c < 3; ++c) chw[c * plane + o] = std::clamp(P.c[c], 0.f, 1.f) * 2.0f - 1.0f;
    }
  }
}

// [SECTION] Batches -----------------------------------------------------------

ImageBatch render_faces(const FacesSpec& spec, int64_t first_index, int64_t n, uint64_t seed, const FaceOverrides& over) {
  spec.validate();
  if (n < 0) throw InputError("faces: image count must be >= 0");
  if (first_index < 0) throw InputError("faces: first index must be >= 0");
  const int S = spec.size;
  ImageBatch b;
  b.images = at::empty({n, 3, S, S}, at::kFloat);
  b.attrs = at::empty({n, 3}, at::kFloat);
  b.attr_names = face_attr_names();
  float* img = b.images.data_ptr<float>();
  float* att = b.attrs.data_ptr<float>();
  const size_t per = static_cast<size_t>(3) * S * S;
  at::parallel_for(0, n, 8, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const FaceParams p = face_params(spec, first_index + i, seed, over);
      render_face(p, S, img + per * i);
      att[i * 3 + 0] = p.group;
      att[i * 3 + 1] = p.smile;
      att[i * 3 + 2] = p.glasses;
    }
  });
  return b;
}

at::Tensor face_attributes(const FacesSpec& spec, int64_t first_index, int64_t n, uint64_t seed, const FaceOverrides& over) {
  spec.validate();
  if (n < 0 || first_index < 0) throw InputError("faces: index and count must be >= 0");
  at::Tensor a = at::empty({n, 3}, at::kFloat);
  float* att = a.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    const FaceParams p = face_params(spec, first_index + i, seed, over);
    att[i * 3 + 0] = p.group;
    att[i * 3 + 1] = p.smile;
    att[i * 3 + 2] = p.glasses;
  }
  return a;
}

}  // namespace sims::data
