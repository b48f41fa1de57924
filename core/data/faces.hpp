// Built-in procedural image data: small cartoon faces (32x32 or 64x64 RGB)
// that stand in for the "real" images of the SIMS paper (CelebA, FFHQ). Each
// face has a pose, skin tone, hair, eyes, brows, mouth, clothes and
// background, and known binary attributes:
//   group    the paper's gender stand-in: long hair, lighter/redder hair and
//            red lips (1) vs short, darker hair and muted lips (0); share set
//            by FacesSpec::group_ratio (the distribution-shift experiment)
//   smile    a smiling (arc or open) mouth vs a neutral one, p = 0.5
//   glasses  round/square frames around the eyes, p = 0.25
// Deterministic and unlimited: image i depends only on (seed, i, spec), so
// rendering in chunks gives the same images as one call, for any index.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/Tensor.h>
#include <nlohmann/json.hpp>

namespace sims::data {

// A set of images with what is known about them; the common currency of the
// built-in faces and the loaders in image_datasets.hpp.
struct ImageBatch {
  at::Tensor images;                    // [N,C,H,W] float32 in [-1,1], C = 1 or 3
  at::Tensor attrs;                     // [N,K] float32 0/1 (K may be 0)
  std::vector<std::string> attr_names;  // K names
  at::Tensor labels;                    // [N] int64 class ids, or undefined when the data has no classes
  std::vector<std::string> class_names; // names of the classes (may be empty when labels are plain numbers)

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  bool has_labels() const { return labels.defined(); }
  // Rows [start, start+n) of everything (views, no copies).
  ImageBatch narrow(int64_t start, int64_t n) const;
};

struct FacesSpec {
  int size = 32;             // image side in pixels (16..256; 32 and 64 are the intended sizes)
  double group_ratio = 0.5;  // P(group = 1)
  nlohmann::json to_json() const;
  // Missing keys keep their defaults; throws InputError on invalid values.
  static FacesSpec from_json(const nlohmann::json& j);
  void validate() const;
};

// Attribute names of the faces, in column order of ImageBatch::attrs.
std::vector<std::string> face_attr_names();

// Forces attributes of a face; -1 leaves the drawn value. Every other
// property of face i (pose, colours, shapes) stays the same, so renders of
// one index with and without an override differ only by that attribute.
struct FaceOverrides {
  int group = -1, smile = -1, glasses = -1;
};

// Everything that describes one face. Face-local coordinates: origin at the
// face centre, the face half-width is about 1, y grows downwards.
struct FaceParams {
  bool group = false, smile = false, glasses = false;
  // Pose: centre in normalised image coordinates [-1,1]^2, scale (face
  // half-width in normalised units), in-plane rotation (radians), yaw (shifts
  // features sideways, -1..1).
  double cx = 0, cy = 0, scale = 0.4, angle = 0, yaw = 0;
  using Rgb = std::array<float, 3>;  // in [0,1]
  Rgb bg_top{}, bg_bottom{}, skin{}, hair{}, lips{}, iris{}, shirt{}, frame{}, blush{};
  double face_rx = 1, face_ry = 1.3, jaw = 0.1;
  double hair_volume = 0.15, hairline = -0.6, parting = 0, hair_sides = 0.4;
  double hair_length = 0;  // > 0: hair hanging down behind the face to this depth (long hair)
  double eye_sep = 0.4, eye_y = -0.08, eye_size = 1, gaze = 0;
  double brow_raise = 0.25, brow_tilt = 0, brow_thick = 0.05;
  double mouth_y = 0.62, mouth_w = 0.3, lip_thick = 0.05, smile_curve = 0.6;
  bool open_mouth = false, square_frames = false;
  double light = 0, light_angle = 0, blush_alpha = 0;
};

// Parameters of face `index` for this seed (any index >= 0).
FaceParams face_params(const FacesSpec& spec, int64_t index, uint64_t seed, const FaceOverrides& over = {});

// Renders one face into `chw`: 3*size*size floats, channel-major, in [-1,1].
void render_face(const FaceParams& p, int size, float* chw);

// Pixel coordinates (x, y; pixel centres at +0.5) of a face-local point, e.g.
// face_to_pixel(p, 32, ±p.eye_sep + p.yaw*0.25, p.eye_y) for the eyes.
std::array<double, 2> face_to_pixel(const FaceParams& p, int size, double fx, double fy);
// Face-local position of the eye centres and of the mouth centre (yaw shift included).
std::array<double, 2> face_eye_center(const FaceParams& p, int side /* -1 left, +1 right */);
std::array<double, 2> face_mouth_center(const FaceParams& p);

// Images first_index .. first_index+n-1: images [n,3,size,size], attrs
// [n,3] (face_attr_names()), no labels. Parallel over images; the result
// does not depend on the thread count.
ImageBatch render_faces(const FacesSpec& spec, int64_t first_index, int64_t n, uint64_t seed,
                        const FaceOverrides& over = {});

// Only the attributes (cheap: no rendering), [n,3] float32.
at::Tensor face_attributes(const FacesSpec& spec, int64_t first_index, int64_t n, uint64_t seed,
                           const FaceOverrides& over = {});

}  // namespace sims::data
