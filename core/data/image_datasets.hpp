// Image data sets: the built-in faces and real data on disk, all delivered as
// an ImageBatch ([N,C,H,W] float32 in [-1,1], attributes, class labels).
//
// Spec strings (what --dataset takes):
//   faces                            built-in faces, 32x32 RGB, group ratio 0.5
//   faces:ratio=0.3,size=64          options: ratio=R, size=S
//   mnist:DIR_OR_IDXFILE             MNIST IDX, plain or as downloaded (.gz): a directory with
//                                    train-images-idx3-ubyte[.gz] (+ train-labels-idx1-ubyte[.gz]),
//                                    or an images file; options labels=FILE, split=train|test
//   cifar10:PATH                     CIFAR-10 binary: a directory with data_batch_*.bin
//                                    (split=test: test_batch.bin), one .bin file, or the archive
//                                    cifar-10-binary.tar.gz (or .tar) as downloaded
//   folder:DIR[,labels=CSV]          PNG/JPEG/BMP/TGA/GIF files directly in DIR (sorted by
//                                    name), centre-cropped to a square and resized; the CSV
//                                    (header "file,attr1,attr2,...", values 0/1) names the
//                                    images and their attributes
//   npy:FILE[,attrs=FILE][,clip]     [N,C,H,W] float array in [-1,1] (C = 1 or 3), attrs [N,K]; clip: values
//                                    beyond [-1,1] (a model's own samples overshoot) clipped instead of refused
// Options size=S (resize to SxS), grey and rgb (channel count) apply to mnist,
// cifar10 and folder; a folder defaults to size=32 RGB, MNIST/CIFAR keep
// their native size. Paths may not contain commas.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "data/faces.hpp"

namespace sims::data {

struct ImageDatasetSpec {
  std::string kind = "faces";  // faces | mnist | cifar10 | folder | npy
  FacesSpec faces;             // kind == faces
  std::string path;            // mnist / cifar10 / folder / npy
  std::string labels;          // mnist: labels IDX file; folder: attribute CSV; npy: attrs .npy
  std::string split = "train"; // mnist / cifar10 directories: train | test
  int size = 0;                // resize to size x size (0 = native; a folder's default is 32)
  int channels = 0;            // 0 = native (folder: 3), 1 = grey, 3 = RGB
  bool clip = false;           // npy: clip values beyond [-1,1] instead of refusing the file

  // Parses a spec string (see above); throws InputError with what was expected.
  // flag: what the text came from (e.g. "--data"), named by every error; an option given twice is refused.
  static ImageDatasetSpec parse(const std::string& text, const std::string& flag = "");
  // The canonical spec string (parse(to_string()) gives the same spec).
  std::string to_string() const;
  nlohmann::json to_json() const;
  static ImageDatasetSpec from_json(const nlohmann::json& j);
  void validate() const;
};

// Loads up to max_n images (-1 = all). For faces, max_n is the number of
// images to render (required, > 0) and `seed` picks the faces (images
// 0..max_n-1 of that seed). Throws InputError on missing or corrupt files.
ImageBatch load_images(const ImageDatasetSpec& spec, int64_t max_n = -1, uint64_t seed = 0);

// Centre-crops images [N,C,H,W] to a square and resizes them to size x size:
// area averaging when shrinking, bilinear when enlarging. Float in, float out.
at::Tensor resize_images(const at::Tensor& images, int size);

// Converts images [N,C,H,W] to `channels` (1: luma of RGB; 3: grey repeated).
at::Tensor convert_channels(const at::Tensor& images, int channels);

}  // namespace sims::data
