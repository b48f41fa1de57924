// libFuzzer harness: the image data-set readers behind --dataset (data::load_images). The input's first byte
// picks the reader, the rest is the file it reads:
//   0 cifar10: the archive as downloaded (.tar.gz, libarchive: gzip + tar)
//   1 cifar10: a plain .tar
//   2 cifar10: one binary batch (.bin)
//   3 mnist: an IDX images file
//   4 mnist: a gzip-compressed IDX file (zlib)
//   5 folder: one image file (stb_image: PNG, JPEG, BMP, TGA, GIF by content)
//   6 folder: the attribute CSV, beside a valid 2x2 PNG named a.png
//   7 npy: an [N,C,H,W] array
// Every file lives in this process's own folder (libFuzzer runs one input at a time per process).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "common/error.hpp"
#include "data/image_datasets.hpp"
#include "fuzz_file.hpp"

namespace {

namespace fs = std::filesystem;

// A 2x2 RGB PNG (red, green / blue, white), made for this harness with Python's zlib.
const uint8_t kPng[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a, 0x73, 0x00, 0x00, 0x00, 0x12, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xc0, 0x00, 0xc2, 0x0c, 0xff, 0x81, 0x00, 0x00, 0x1f, 0xee,
    0x05, 0xfb, 0x0b, 0xd9, 0x68, 0x8b, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int kind = data[0] % 8;
  ++data, --size;
  static const std::string dir = "/tmp/sims-fuzz-images-" + std::to_string(getpid());
  static const bool cleanup = [] {
    return std::atexit([] {
             std::error_code e;
             fs::remove_all(dir, e);
           }) == 0;
  }();
  (void)cleanup;
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir + "/folder", ec);
  std::string spec;
  switch (kind) {
    case 0: write_fuzz_input(dir + "/c.tar.gz", data, size), spec = "cifar10:" + dir + "/c.tar.gz"; break;
    case 1: write_fuzz_input(dir + "/c.tar", data, size), spec = "cifar10:" + dir + "/c.tar"; break;
    case 2: write_fuzz_input(dir + "/data_batch_1.bin", data, size), spec = "cifar10:" + dir + "/data_batch_1.bin"; break;
    case 3: write_fuzz_input(dir + "/train-images-idx3-ubyte", data, size), spec = "mnist:" + dir + "/train-images-idx3-ubyte"; break;
    case 4: write_fuzz_input(dir + "/train-images-idx3-ubyte.gz", data, size), spec = "mnist:" + dir; break;
    case 5: write_fuzz_input(dir + "/folder/a.png", data, size), spec = "folder:" + dir + "/folder"; break;
    case 6:
      write_fuzz_input(dir + "/folder/a.png", kPng, sizeof kPng);
      write_fuzz_input(dir + "/labels.csv", data, size);
      spec = "folder:" + dir + "/folder,labels=" + dir + "/labels.csv";
      break;
    default: write_fuzz_input(dir + "/x.npy", data, size), spec = "npy:" + dir + "/x.npy"; break;
  }
  try {
    (void)sims::data::load_images(sims::data::ImageDatasetSpec::parse(spec), 64);
  } catch (const sims::Error&) {
  }
  return 0;
}
