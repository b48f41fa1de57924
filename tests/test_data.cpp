// Image data: the built-in faces (determinism, attribute ratios, attributes
// visible in the pixels) and the loaders (MNIST IDX, CIFAR-10 binary, image
// folders with attribute CSVs, NPY) including their corrupt-file errors.
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <catch2/catch.hpp>
#include <zlib.h>

#include <ATen/ATen.h>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "common/error.hpp"
#include "data/faces.hpp"
#include "data/image_datasets.hpp"
#include "helpers.hpp"
#include "io/npy.hpp"

using namespace sims;
using namespace sims::data;
using sims::test::TempDir;

namespace {

void write_raw(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

std::string be32(uint32_t v) {
  std::string s(4, '\0');
  s[0] = static_cast<char>(v >> 24);
  s[1] = static_cast<char>(v >> 16);
  s[2] = static_cast<char>(v >> 8);
  s[3] = static_cast<char>(v);
  return s;
}

// IDX images: pixel (i, y, x) = (i*50 + y*cols + x) % 256.
std::string idx_images(uint32_t n, uint32_t rows, uint32_t cols) {
  std::string s = be32(0x803) + be32(n) + be32(rows) + be32(cols);
  for (uint32_t i = 0; i < n * rows * cols; ++i) s.push_back(static_cast<char>(((i / (rows * cols)) * 50 + i % (rows * cols)) % 256));
  return s;
}
std::string idx_labels(uint32_t n) {
  std::string s = be32(0x801) + be32(n);
  for (uint32_t i = 0; i < n; ++i) s.push_back(static_cast<char>(i % 10));
  return s;
}

// CIFAR-10 records: label = (first+i) % 10, R plane = 10*i, G = 128, B = 255.
std::string cifar_records(int n, int first = 0) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    s.push_back(static_cast<char>((first + i) % 10));
    s.append(1024, static_cast<char>(10 * i));
    s.append(1024, static_cast<char>(128));
    s.append(1024, static_cast<char>(255));
  }
  return s;
}

// A w x h RGB PNG of one colour.
void write_png(const std::string& path, int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < px.size(); i += 3) {
    px[i] = r;
    px[i + 1] = g;
    px[i + 2] = b;
  }
  REQUIRE(stbi_write_png(path.c_str(), w, h, 3, px.data(), w * 3));
}

double u8_to_unit(int v) { return v / 127.5 - 1.0; }

// Sum of |a-b| over channels per pixel -> [H,W].
at::Tensor pixel_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().sum(0); }

// Share of the difference mass within `radius` pixels of (cx, cy).
double mass_near(const at::Tensor& d, double cx, double cy, double radius) {
  const int64_t H = d.size(0), W = d.size(1);
  double near = 0, total = 0;
  auto acc = d.accessor<float, 2>();
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      const double v = acc[y][x];
      total += v;
      if (std::hypot(x + 0.5 - cx, y + 0.5 - cy) <= radius) near += v;
    }
  return total > 0 ? near / total : 0.0;
}

}  // namespace

// [SECTION] Faces ----------------------------------------------------------------

TEST_CASE("faces are deterministic per (seed, index), in chunks too", "[data]") {
  FacesSpec spec;
  const ImageBatch a = render_faces(spec, 0, 40, 7);
  const ImageBatch b = render_faces(spec, 0, 40, 7);
  CHECK(at::equal(a.images, b.images));
  CHECK(at::equal(a.attrs, b.attrs));
  // Chunked == one call, and any index range works.
  const ImageBatch c1 = render_faces(spec, 0, 13, 7), c2 = render_faces(spec, 13, 27, 7);
  CHECK(at::equal(at::cat({c1.images, c2.images}), a.images));
  CHECK(at::equal(at::cat({c1.attrs, c2.attrs}), a.attrs));
  const ImageBatch far = render_faces(spec, 5000000000LL, 2, 7);
  CHECK(far.images.sizes() == at::IntArrayRef({2, 3, 32, 32}));
  // Another seed gives other faces.
  CHECK_FALSE(at::equal(render_faces(spec, 0, 40, 8).images, a.images));
  CHECK(a.attr_names == std::vector<std::string>{"group", "smile", "glasses"});
  CHECK(a.images.scalar_type() == at::kFloat);
  CHECK_FALSE(a.has_labels());
}

TEST_CASE("faces: values in [-1,1], images not constant, sizes 32 and 64", "[data]") {
  for (int size : {32, 64}) {
    FacesSpec spec;
    spec.size = size;
    const ImageBatch b = render_faces(spec, 0, 64, 1);
    CHECK(b.images.sizes() == at::IntArrayRef({64, 3, size, size}));
    CHECK(b.images.min().item<float>() >= -1.0f);
    CHECK(b.images.max().item<float>() <= 1.0f);
    const at::Tensor per_image_std = b.images.reshape({64, -1}).std(1);
    CHECK(per_image_std.min().item<float>() > 0.1f);
    // Different faces differ from one another.
    CHECK(pixel_diff(b.images[0], b.images[1]).mean().item<float>() > 0.05f);
  }
  FacesSpec bad;
  bad.size = 8;
  CHECK_THROWS_AS(render_faces(bad, 0, 1, 0), InputError);
  bad.size = 32;
  bad.group_ratio = 1.5;
  CHECK_THROWS_AS(render_faces(bad, 0, 1, 0), InputError);
}

TEST_CASE("faces: the group ratio is honoured, other attributes have fixed rates", "[data]") {
  const int64_t n = 20000;
  for (double ratio : {0.2, 0.5}) {
    FacesSpec spec;
    spec.group_ratio = ratio;
    const at::Tensor a = face_attributes(spec, 0, n, 3);
    const double tol = 4.0 * std::sqrt(ratio * (1 - ratio) / n);
    CHECK(std::abs(a.select(1, 0).mean().item<double>() - ratio) < tol);
    CHECK(std::abs(a.select(1, 1).mean().item<double>() - 0.5) < 4.0 * std::sqrt(0.25 / n));
    CHECK(std::abs(a.select(1, 2).mean().item<double>() - 0.25) < 4.0 * std::sqrt(0.1875 / n));
  }
  // Changing the ratio flips only `group`, and the attributes match the rendered batch.
  FacesSpec s2, s5;
  s2.group_ratio = 0.2;
  const at::Tensor a2 = face_attributes(s2, 0, 500, 3), a5 = face_attributes(s5, 0, 500, 3);
  CHECK(at::equal(a2.narrow(1, 1, 2), a5.narrow(1, 1, 2)));
  CHECK(at::equal(render_faces(s5, 100, 50, 3).attrs, a5.narrow(0, 100, 50)));
  // The extremes.
  s2.group_ratio = 0.0;
  CHECK(face_attributes(s2, 0, 300, 1).select(1, 0).sum().item<double>() == 0.0);
  s2.group_ratio = 1.0;
  CHECK(face_attributes(s2, 0, 300, 1).select(1, 0).sum().item<double>() == 300.0);
}

TEST_CASE("faces: each attribute changes the pixels where it should", "[data]") {
  FacesSpec spec;
  const int S = spec.size;
  for (int64_t i = 0; i < 24; ++i) {
    INFO("face " << i);
    const FaceParams p = face_params(spec, i, 11);
    const double unit = p.scale * S / 2;  // one face unit in pixels

    // Glasses: the change sits around the eyes; the mouth is untouched.
    FaceOverrides on, off;
    on.glasses = 1;
    off.glasses = 0;
    const ImageBatch g1 = render_faces(spec, i, 1, 11, on), g0 = render_faces(spec, i, 1, 11, off);
    CHECK(g1.attrs[0][2].item<float>() == 1.0f);
    CHECK(g0.attrs[0][2].item<float>() == 0.0f);
    at::Tensor d = pixel_diff(g1.images[0], g0.images[0]);
    CHECK(d.sum().item<double>() > 3.0);
    const auto el = face_to_pixel(p, S, face_eye_center(p, -1)[0], face_eye_center(p, -1)[1]);
    const auto er = face_to_pixel(p, S, face_eye_center(p, +1)[0], face_eye_center(p, +1)[1]);
    const auto mc = face_to_pixel(p, S, face_mouth_center(p)[0], face_mouth_center(p)[1]);
    const double between_eyes_x = 0.5 * (el[0] + er[0]), between_eyes_y = 0.5 * (el[1] + er[1]);
    // Lenses, bridge and temples: all within the eye band (1.3 face units of the point between the eyes).
    CHECK(mass_near(d, between_eyes_x, between_eyes_y, 1.3 * unit) > 0.97);
    CHECK(mass_near(d, el[0], el[1], 0.45 * unit) + mass_near(d, er[0], er[1], 0.45 * unit) > 0.5);
    CHECK(mass_near(d, mc[0], mc[1], 0.25 * unit) < 0.02);

    // Smile: the change sits at the mouth; the eyes are untouched.
    FaceOverrides sm, ne;
    sm.smile = 1;
    ne.smile = 0;
    d = pixel_diff(render_faces(spec, i, 1, 11, sm).images[0], render_faces(spec, i, 1, 11, ne).images[0]);
    CHECK(d.sum().item<double>() > 1.0);
    CHECK(mass_near(d, mc[0], mc[1], 0.6 * unit) > 0.9);
    CHECK(mass_near(d, el[0], el[1], 0.3 * unit) + mass_near(d, er[0], er[1], 0.3 * unit) < 0.02);

    // Group: hair and lips change, a large visible area.
    FaceOverrides g_1, g_0;
    g_1.group = 1;
    g_0.group = 0;
    d = pixel_diff(render_faces(spec, i, 1, 11, g_1).images[0], render_faces(spec, i, 1, 11, g_0).images[0]);
    CHECK((d > 0.1).sum().item<int64_t>() > S * S / 20);
  }
}

TEST_CASE("faces: group 1 has longer hair on average (visible, not trivial)", "[data]") {
  FacesSpec spec;
  int64_t long0 = 0, long1 = 0, n0 = 0, n1 = 0;
  for (int64_t i = 0; i < 2000; ++i) {
    const FaceParams p = face_params(spec, i, 5);
    (p.group ? n1 : n0)++;
    if (p.hair_length > 0.3) (p.group ? long1 : long0)++;
  }
  CHECK(double(long1) / n1 > 0.95);  // group 1: long hair or a bob
  CHECK(double(long0) / n0 < 0.2);   // group 0: mostly short, some medium
  CHECK(long0 > 0);                  // overlap: hair alone does not decide
}

// [SECTION] Spec strings ---------------------------------------------------------------

TEST_CASE("data set spec strings parse, print and round-trip", "[data]") {
  ImageDatasetSpec s = ImageDatasetSpec::parse("faces");
  CHECK(s.kind == "faces");
  CHECK(s.faces.size == 32);
  CHECK(s.faces.group_ratio == 0.5);
  s = ImageDatasetSpec::parse("faces:ratio=0.3");
  CHECK(s.faces.group_ratio == Approx(0.3));
  s = ImageDatasetSpec::parse("faces:size=64,ratio=0.25");
  CHECK(s.faces.size == 64);
  CHECK(ImageDatasetSpec::parse(s.to_string()).to_json() == s.to_json());
  CHECK(ImageDatasetSpec::from_json(s.to_json()).faces.group_ratio == Approx(0.25));

  s = ImageDatasetSpec::parse("mnist:/data/mnist,split=test,size=32,rgb");
  CHECK(s.kind == "mnist");
  CHECK(s.path == "/data/mnist");
  CHECK(s.split == "test");
  CHECK(s.size == 32);
  CHECK(s.channels == 3);
  CHECK(ImageDatasetSpec::parse(s.to_string()).to_json() == s.to_json());
  s = ImageDatasetSpec::parse("folder:/imgs,labels=/imgs/a.csv,size=64,grey");
  CHECK(s.labels == "/imgs/a.csv");
  CHECK(s.channels == 1);
  CHECK(ImageDatasetSpec::from_json(s.to_json()).to_string() == s.to_string());
  s = ImageDatasetSpec::parse("npy:x.npy,attrs=a.npy");
  CHECK(s.path == "x.npy");
  CHECK(s.labels == "a.npy");
  CHECK(ImageDatasetSpec::parse(s.to_string()).to_json() == s.to_json());
  s = ImageDatasetSpec::parse("cifar10:/c");
  CHECK(s.kind == "cifar10");

  CHECK_THROWS_WITH(ImageDatasetSpec::parse("celeba:/x"), Catch::Contains("unknown data set"));
  CHECK_THROWS_WITH(ImageDatasetSpec::parse("mnist"), Catch::Contains("needs a path"));
  CHECK_THROWS_WITH(ImageDatasetSpec::parse("faces:ratio=2"), Catch::Contains("ratio"));
  CHECK_THROWS_WITH(ImageDatasetSpec::parse("faces:ratio=abc"), Catch::Contains("not a number"));
  CHECK_THROWS_WITH(ImageDatasetSpec::parse("faces:size=7"), Catch::Contains("size"));
  CHECK_THROWS_WITH(ImageDatasetSpec::parse("faces:grey"), Catch::Contains("unknown option"));
  CHECK_THROWS_WITH(ImageDatasetSpec::parse("npy:x.npy,labels=y.npy"), Catch::Contains("attrs=FILE"));
  CHECK_THROWS_WITH(ImageDatasetSpec::parse("mnist:/m,split=val"), Catch::Contains("split"));
  // Read as written: an option once, numbers in decimal, whole numbers within range, the flag named.
  CHECK_THROWS_WITH(ImageDatasetSpec::parse("faces:ratio=0.5,ratio=0.6"), Catch::Contains("ratio is given twice"));
  CHECK_THROWS_WITH(ImageDatasetSpec::parse("faces:ratio=0.5,group_ratio=0.6"), Catch::Contains("given twice"));
  CHECK_THROWS_WITH(ImageDatasetSpec::parse("folder:/f,grey,rgb"), Catch::Contains("grey/rgb is given twice"));
  CHECK_THROWS_WITH(ImageDatasetSpec::parse("faces:ratio=0x0.8"), Catch::Contains("not a number"));
  CHECK_THROWS_WITH(ImageDatasetSpec::parse("faces:size=0x20"), Catch::Contains("not a whole number"));
  CHECK_THROWS_WITH(ImageDatasetSpec::parse("faces:size=4294967328"), Catch::Contains("not a whole number"));  // 2^32 + 32
  CHECK_THROWS_WITH(ImageDatasetSpec::parse("faces:size=abc", "--data"),
                    Catch::Contains("--data 'faces:size=abc': size 'abc' is not a whole number"));
  CHECK_THROWS_WITH(ImageDatasetSpec::parse("celeba", "--real-data"), Catch::StartsWith("--real-data 'celeba'"));
  CHECK(ImageDatasetSpec::parse("faces:ratio=5e-1").faces.group_ratio == 0.5);
  CHECK(ImageDatasetSpec::parse("faces:size=+32").faces.size == 32);
  CHECK_THROWS_AS(load_images(ImageDatasetSpec::parse("faces"), -1), InputError);  // faces need a count
  CHECK(load_images(ImageDatasetSpec::parse("faces:size=64"), 3, 1).images.sizes() == at::IntArrayRef({3, 3, 64, 64}));
}

// [SECTION] MNIST ------------------------------------------------------------------------

TEST_CASE("mnist: IDX files and directories load", "[data]") {
  TempDir d;
  write_raw(d.file("imgs"), idx_images(5, 4, 3));
  write_raw(d.file("labs"), idx_labels(5));
  ImageBatch b = load_images(ImageDatasetSpec::parse("mnist:" + d.file("imgs") + ",labels=" + d.file("labs")));
  CHECK(b.images.sizes() == at::IntArrayRef({5, 1, 4, 3}));
  CHECK(b.images[1][0][0][0].item<float>() == Approx(u8_to_unit(50)));
  CHECK(b.images[0][0][3][2].item<float>() == Approx(u8_to_unit(11)));
  CHECK(b.has_labels());
  CHECK(b.labels[3].item<int64_t>() == 3);
  CHECK(b.class_names.size() == 10);
  CHECK(b.attrs.sizes() == at::IntArrayRef({5, 0}));

  // Without labels; max_n; resizing and channels.
  b = load_images(ImageDatasetSpec::parse("mnist:" + d.file("imgs")), 2);
  CHECK(b.size() == 2);
  CHECK_FALSE(b.has_labels());
  b = load_images(ImageDatasetSpec::parse("mnist:" + d.file("imgs") + ",size=8,rgb"));
  CHECK(b.images.sizes() == at::IntArrayRef({5, 3, 8, 8}));
  CHECK(b.images.min().item<float>() >= -1.0f);
  CHECK(b.images.max().item<float>() <= 1.0f);

  // A directory with the standard names (train and test split).
  std::filesystem::create_directory(d.file("mnist"));
  write_raw(d.file("mnist/train-images-idx3-ubyte"), idx_images(6, 28, 28));
  write_raw(d.file("mnist/train-labels-idx1-ubyte"), idx_labels(6));
  write_raw(d.file("mnist/t10k-images-idx3-ubyte"), idx_images(2, 28, 28));
  b = load_images(ImageDatasetSpec::parse("mnist:" + d.file("mnist")));
  CHECK(b.images.sizes() == at::IntArrayRef({6, 1, 28, 28}));
  CHECK(b.labels.sizes() == at::IntArrayRef({6}));
  b = load_images(ImageDatasetSpec::parse("mnist:" + d.file("mnist") + ",split=test"));
  CHECK(b.size() == 2);
}

TEST_CASE("mnist: bad files give clear errors", "[data]") {
  TempDir d;
  auto load = [&](const std::string& spec) { return load_images(ImageDatasetSpec::parse(spec)); };
  CHECK_THROWS_WITH(load("mnist:" + d.file("nope")), Catch::Contains(d.file("nope")) && Catch::Contains("does not exist"));
  write_raw(d.file("gz"), std::string("\x1f\x8b\x08\x00rest of a gzip stream", 24));
  CHECK_THROWS_WITH(load("mnist:" + d.file("gz")), Catch::Contains("gzip"));
  write_raw(d.file("bad"), be32(0x12345678) + be32(1) + be32(2) + be32(2) + "abcd");
  CHECK_THROWS_WITH(load("mnist:" + d.file("bad")), Catch::Contains("magic"));
  write_raw(d.file("labs"), idx_labels(5));
  CHECK_THROWS_WITH(load("mnist:" + d.file("labs")), Catch::Contains("labels file, not images"));
  std::string trunc = idx_images(5, 4, 3);
  trunc.resize(trunc.size() - 7);
  write_raw(d.file("trunc"), trunc);
  CHECK_THROWS_WITH(load("mnist:" + d.file("trunc")), Catch::Contains("truncated"));
  write_raw(d.file("imgs"), idx_images(5, 4, 3));
  write_raw(d.file("labs4"), idx_labels(4));
  CHECK_THROWS_WITH(load("mnist:" + d.file("imgs") + ",labels=" + d.file("labs4")),
                    Catch::Contains("5 images") && Catch::Contains("4 labels"));
  std::string ltrunc = idx_labels(5);
  ltrunc.resize(ltrunc.size() - 2);
  write_raw(d.file("ltrunc"), ltrunc);
  CHECK_THROWS_WITH(load("mnist:" + d.file("imgs") + ",labels=" + d.file("ltrunc")), Catch::Contains("truncated"));
  CHECK_THROWS_WITH(load("mnist:" + d.file("imgs") + ",labels=" + d.file("missing")), Catch::Contains(d.file("missing")));
  // A directory holding only a damaged .gz download, and an empty directory.
  std::filesystem::create_directory(d.file("gzdir"));
  write_raw(d.file("gzdir/train-images-idx3-ubyte.gz"), "\x1f\x8b");
  CHECK_THROWS_WITH(load("mnist:" + d.file("gzdir")), Catch::Contains("damaged gzip"));
  std::filesystem::create_directory(d.file("empty"));
  CHECK_THROWS_WITH(load("mnist:" + d.file("empty")), Catch::Contains("train-images-idx3-ubyte"));
}

// [SECTION] CIFAR-10 ----------------------------------------------------------------------

TEST_CASE("cifar10: binary batches load from a file or a directory", "[data]") {
  TempDir d;
  write_raw(d.file("one.bin"), cifar_records(3));
  ImageBatch b = load_images(ImageDatasetSpec::parse("cifar10:" + d.file("one.bin")));
  CHECK(b.images.sizes() == at::IntArrayRef({3, 3, 32, 32}));
  CHECK(b.images[2][0][5][7].item<float>() == Approx(u8_to_unit(20)));
  CHECK(b.images[2][1][5][7].item<float>() == Approx(u8_to_unit(128)).margin(1e-6));
  CHECK(b.images[2][2][31][31].item<float>() == Approx(1.0));
  CHECK(b.labels[2].item<int64_t>() == 2);
  CHECK(b.class_names[0] == "airplane");

  std::filesystem::create_directories(d.file("c/cifar-10-batches-bin"));
  write_raw(d.file("c/cifar-10-batches-bin/data_batch_1.bin"), cifar_records(4, 0));
  write_raw(d.file("c/cifar-10-batches-bin/data_batch_2.bin"), cifar_records(4, 5));
  write_raw(d.file("c/cifar-10-batches-bin/test_batch.bin"), cifar_records(2, 9));
  b = load_images(ImageDatasetSpec::parse("cifar10:" + d.file("c")));
  CHECK(b.size() == 8);
  CHECK(b.labels[4].item<int64_t>() == 5);
  b = load_images(ImageDatasetSpec::parse("cifar10:" + d.file("c")), 6);
  CHECK(b.size() == 6);
  b = load_images(ImageDatasetSpec::parse("cifar10:" + d.file("c") + ",split=test,grey,size=16"));
  CHECK(b.images.sizes() == at::IntArrayRef({2, 1, 16, 16}));
  CHECK(b.labels[0].item<int64_t>() == 9);
}

TEST_CASE("cifar10: bad files give clear errors", "[data]") {
  TempDir d;
  auto load = [&](const std::string& spec) { return load_images(ImageDatasetSpec::parse(spec)); };
  CHECK_THROWS_WITH(load("cifar10:" + d.file("none")), Catch::Contains(d.file("none")));
  std::string t = cifar_records(2);
  t.resize(t.size() - 100);
  write_raw(d.file("t.bin"), t);
  CHECK_THROWS_WITH(load("cifar10:" + d.file("t.bin")), Catch::Contains("3073") && Catch::Contains("truncated"));
  std::string l = cifar_records(2);
  l[3073] = 42;
  write_raw(d.file("l.bin"), l);
  CHECK_THROWS_WITH(load("cifar10:" + d.file("l.bin")), Catch::Contains("label 42"));
  write_raw(d.file("z.bin"), std::string("\x1f\x8b\x08\x00", 4));
  CHECK_THROWS_WITH(load("cifar10:" + d.file("z.bin")), Catch::Contains("gzip"));
  std::filesystem::create_directory(d.file("empty"));
  CHECK_THROWS_WITH(load("cifar10:" + d.file("empty")), Catch::Contains("data_batch"));
}

TEST_CASE("cifar10: the archive as downloaded (cifar-10-binary.tar.gz) loads without extracting", "[data]") {
  TempDir d;
  namespace fs = std::filesystem;
  fs::create_directories(d.file("c/cifar-10-batches-bin"));
  write_raw(d.file("c/cifar-10-batches-bin/data_batch_1.bin"), cifar_records(4, 0));
  write_raw(d.file("c/cifar-10-batches-bin/data_batch_2.bin"), cifar_records(3, 5));
  write_raw(d.file("c/cifar-10-batches-bin/test_batch.bin"), cifar_records(2, 9));
  write_raw(d.file("c/cifar-10-batches-bin/batches.meta.txt"), "airplane\n");
  // Packed by GNU tar, as the download is (an independent writer), gzip-compressed and plain.
  REQUIRE(std::system(("tar czf '" + d.file("c.tar.gz") + "' -C '" + d.file("c") + "' cifar-10-batches-bin").c_str()) == 0);
  REQUIRE(std::system(("tar cf '" + d.file("c.tar") + "' -C '" + d.file("c") + "' cifar-10-batches-bin").c_str()) == 0);
  const ImageBatch dir = load_images(ImageDatasetSpec::parse("cifar10:" + d.file("c")));
  for (const char* name : {"c.tar.gz", "c.tar"}) {
    INFO(name);
    const ImageBatch b = load_images(ImageDatasetSpec::parse("cifar10:" + d.file(name)));
    REQUIRE(b.size() == 7);
    CHECK(at::equal(b.images, dir.images));
    CHECK(at::equal(b.labels, dir.labels));
  }
  CHECK(load_images(ImageDatasetSpec::parse("cifar10:" + d.file("c.tar.gz")), 5).size() == 5);
  const ImageBatch t = load_images(ImageDatasetSpec::parse("cifar10:" + d.file("c.tar.gz") + ",split=test"));
  REQUIRE(t.size() == 2);
  CHECK(t.labels[0].item<int64_t>() == 9);

  auto load = [&](const std::string& f) { return load_images(ImageDatasetSpec::parse("cifar10:" + d.file(f))); };
  // Cut short: one error naming the file, not a crash or a silently shorter set.
  std::string bytes;
  {
    std::ifstream in(d.file("c.tar.gz"), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  write_raw(d.file("cut.tar.gz"), bytes.substr(0, bytes.size() / 2));
  CHECK_THROWS_WITH(load("cut.tar.gz"), Catch::Contains(d.file("cut.tar.gz")) && Catch::Contains("cut short"));
  // An archive without the batches, and a gzip file that is no tar.
  fs::create_directories(d.file("o/other"));
  write_raw(d.file("o/other/readme.txt"), "not CIFAR");
  REQUIRE(std::system(("tar czf '" + d.file("o.tar.gz") + "' -C '" + d.file("o") + "' other").c_str()) == 0);
  CHECK_THROWS_WITH(load("o.tar.gz"), Catch::Contains("holds no data_batch"));
  REQUIRE(std::system(("gzip -c '" + d.file("c/cifar-10-batches-bin/test_batch.bin") + "' > '" + d.file("b.gz") + "'").c_str()) == 0);
  CHECK_THROWS_WITH(load("b.gz"), Catch::Contains("gzip-compressed but not a tar archive"));
}

// [SECTION] Image folders ------------------------------------------------------------------

TEST_CASE("folder: PNG and JPEG files are decoded, cropped and resized", "[data]") {
  TempDir d;
  std::filesystem::create_directory(d.file("img"));
  write_png(d.file("img/b.png"), 40, 40, 255, 0, 0);
  write_png(d.file("img/a.png"), 60, 40, 0, 255, 0);  // not square: centre-cropped
  write_png(d.file("img/c.PNG"), 8, 8, 0, 0, 255);    // enlarged
  {
    std::vector<uint8_t> px(16 * 16 * 3, 200);
    REQUIRE(stbi_write_jpg(d.file("img/d.jpg").c_str(), 16, 16, 3, px.data(), 95));
  }
  write_raw(d.file("img/notes.txt"), "not an image");
  ImageBatch b = load_images(ImageDatasetSpec::parse("folder:" + d.file("img") + ",size=16"));
  REQUIRE(b.images.sizes() == at::IntArrayRef({4, 3, 16, 16}));
  // Sorted by name: a (green), b (red), c (blue), d (grey 200).
  CHECK(b.images[0][1].mean().item<float>() == Approx(1.0).margin(1e-4));
  CHECK(b.images[0][0].mean().item<float>() == Approx(-1.0).margin(1e-4));
  CHECK(b.images[1][0].mean().item<float>() == Approx(1.0).margin(1e-4));
  CHECK(b.images[2][2].mean().item<float>() == Approx(1.0).margin(1e-4));
  CHECK(b.images[3].mean().item<float>() == Approx(u8_to_unit(200)).margin(0.03));
  CHECK(b.attrs.sizes() == at::IntArrayRef({4, 0}));
  CHECK_FALSE(b.has_labels());
  // Defaults: 32x32 RGB; grey gives one channel.
  CHECK(load_images(ImageDatasetSpec::parse("folder:" + d.file("img"))).images.sizes() == at::IntArrayRef({4, 3, 32, 32}));
  b = load_images(ImageDatasetSpec::parse("folder:" + d.file("img") + ",grey,size=8"), 2);
  CHECK(b.images.sizes() == at::IntArrayRef({2, 1, 8, 8}));
}

TEST_CASE("folder: an attribute CSV names the images and their attributes", "[data]") {
  TempDir d;
  std::filesystem::create_directory(d.file("img"));
  write_png(d.file("img/x.png"), 32, 32, 10, 20, 30);
  write_png(d.file("img/y.png"), 32, 32, 200, 100, 0);
  write_png(d.file("img/z.png"), 32, 32, 0, 0, 0);
  write_raw(d.file("a.csv"), "file,smile,glasses\r\ny.png,1,0\r\nx.png, 0 ,1\r\n\r\n");
  ImageBatch b = load_images(ImageDatasetSpec::parse("folder:" + d.file("img") + ",labels=" + d.file("a.csv")));
  REQUIRE(b.size() == 2);  // the CSV's images, in its order
  CHECK(b.attr_names == std::vector<std::string>{"smile", "glasses"});
  CHECK(at::equal(b.attrs, at::tensor({1.f, 0.f, 0.f, 1.f}).reshape({2, 2})));
  CHECK(b.images[0][0][0][0].item<float>() == Approx(u8_to_unit(200)));

  auto load = [&](const std::string& csv) {
    return load_images(ImageDatasetSpec::parse("folder:" + d.file("img") + ",labels=" + d.file(csv)));
  };
  write_raw(d.file("missing.csv"), "file,smile\nx.png,1\nw.png,0\n");
  CHECK_THROWS_WITH(load("missing.csv"), Catch::Contains("missing.csv:3") && Catch::Contains("'w.png' not found"));
  write_raw(d.file("value.csv"), "file,smile\nx.png,yes\n");
  CHECK_THROWS_WITH(load("value.csv"), Catch::Contains("value.csv:2") && Catch::Contains("not 0 or 1"));
  write_raw(d.file("fields.csv"), "file,smile,glasses\nx.png,1\n");
  CHECK_THROWS_WITH(load("fields.csv"), Catch::Contains("expected 3 fields"));
  write_raw(d.file("empty.csv"), "");
  CHECK_THROWS_WITH(load("empty.csv"), Catch::Contains("empty"));
  CHECK_THROWS_WITH(load("absent.csv"), Catch::Contains(d.file("absent.csv")));
}

// A w x h PNG of bit depth 1, every pixel black, compressed as hard as zlib can.
std::string one_bit_png(uint32_t w, uint32_t h) {
  auto be = [](std::string& s, uint32_t v) {
    for (int k = 3; k >= 0; --k) s += static_cast<char>((v >> (8 * k)) & 0xff);
  };
  auto chunk = [&](std::string& png, const char* type, const std::string& body) {
    be(png, static_cast<uint32_t>(body.size()));
    const std::string tb = std::string(type, 4) + body;
    png += tb;
    be(png, static_cast<uint32_t>(::crc32(0, reinterpret_cast<const Bytef*>(tb.data()), static_cast<uInt>(tb.size()))));
  };
  std::string ihdr;
  be(ihdr, w), be(ihdr, h);
  ihdr += std::string("\x01\x00\x00\x00\x00", 5);  // bit depth 1, greyscale, deflate, no filter, no interlace
  const std::string raw(static_cast<size_t>(h) * (1 + (w + 7) / 8), '\0');  // filter byte 0 + zero bits per row
  uLongf n = compressBound(static_cast<uLong>(raw.size()));
  std::string z(n, '\0');
  REQUIRE(compress2(reinterpret_cast<Bytef*>(z.data()), &n, reinterpret_cast<const Bytef*>(raw.data()),
                    static_cast<uLong>(raw.size()), 9) == Z_OK);
  z.resize(n);
  std::string png("\x89PNG\r\n\x1a\n", 8);
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", "");
  return png;
}

TEST_CASE("folder: corrupt images, empty and missing folders give clear errors", "[data]") {
  TempDir d;
  auto load = [&](const std::string& spec) { return load_images(ImageDatasetSpec::parse(spec)); };
  std::filesystem::create_directory(d.file("empty"));
  write_raw(d.file("empty/readme.txt"), "no images here");
  CHECK_THROWS_WITH(load("folder:" + d.file("empty")), Catch::Contains("has no images"));
  CHECK_THROWS_WITH(load("folder:" + d.file("nowhere")), Catch::Contains(d.file("nowhere")) && Catch::Contains("does not exist"));
  std::filesystem::create_directory(d.file("bad"));
  write_png(d.file("bad/a.png"), 8, 8, 1, 2, 3);
  write_raw(d.file("bad/b.png"), "\x89PNG\r\n\x1a\n but then garbage");
  CHECK_THROWS_WITH(load("folder:" + d.file("bad")), Catch::Contains("damaged or cut short") && Catch::Contains("b.png"));
  write_raw(d.file("bad/b.png"), "hello, not an image");
  CHECK_THROWS_WITH(load("folder:" + d.file("bad")), Catch::Contains("cannot decode") && Catch::Contains("b.png"));
  write_raw(d.file("bad/b.png"), "");
  CHECK_THROWS_AS(load("folder:" + d.file("bad")), InputError);
  // Found by the fuzz harness: 40 bytes of TGA claiming 437 million pixels made the loader allocate 5 GB. The
  // header's size is checked before decoding (an 18-byte header claiming 65,535 x 65,535 here), quickly.
  std::filesystem::create_directory(d.file("huge"));
  const unsigned char tga[18] = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 24, 0};
  write_raw(d.file("huge/a.tga"), std::string(reinterpret_cast<const char*>(tga), sizeof tga));
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(load("folder:" + d.file("huge")),
                    Catch::Contains("a.tga") && Catch::Contains("65535 x 65535 pixels") && Catch::Contains("40 megapixels"));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  // Under the limit, a header that claims more pixels than the file's bytes can hold (7,451 x 3,855 in 18 bytes;
  // the fuzzer's 82-byte case took 10-24 s) is a damaged file; with its pixels the same kind of file decodes.
  const unsigned char mid[18] = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x1b, 0x1d, 0x0f, 0x0f, 24, 0};
  write_raw(d.file("huge/a.tga"), std::string(reinterpret_cast<const char*>(mid), sizeof mid));
  CHECK_THROWS_WITH(load("folder:" + d.file("huge")),
                    Catch::Contains("claims 7451 x 3855 pixels, more than its 18 bytes can hold: damaged or cut short"));
  const unsigned char small[18] = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 48, 0, 24, 0};
  write_raw(d.file("huge/a.tga"), std::string(reinterpret_cast<const char*>(small), sizeof small));
  CHECK_THROWS_WITH(load("folder:" + d.file("huge")), Catch::Contains("claims 64 x 48 pixels"));
  write_raw(d.file("huge/a.tga"), std::string(reinterpret_cast<const char*>(small), sizeof small) +
                                      std::string(64 * 48 * 3, '\x40'));  // with its pixels
  CHECK(load("folder:" + d.file("huge")).images.size(0) == 1);
  // Found by the fuzz harness: a 121-byte PNG whose data chunk declares 2 GB made stb_image allocate them first.
  std::string cut = one_bit_png(4, 4);
  const size_t idat = cut.find("IDAT") - 4;
  cut.replace(idat, 4, std::string("\x7a\x00\x00\x3f", 4));
  write_raw(d.file("huge/a.tga"), cut);  // the name does not matter: stb_image goes by content
  CHECK_THROWS_WITH(load("folder:" + d.file("huge")), Catch::Contains("a PNG chunk runs past the end of the file"));
  // A blank 1-bit PNG packs far more pixels per byte than other formats (a mask or a scanned page, 2480 x 3508 at
  // 300 dpi in about 1.1 kB): it loads.
  std::filesystem::remove(d.file("huge/a.tga"));
  const std::string page = one_bit_png(2480, 3508);
  CHECK(page.size() < 2000);
  write_raw(d.file("huge/page.png"), page);
  const ImageBatch b = load("folder:" + d.file("huge") + ",size=8");
  CHECK(b.images.size(0) == 1);
  CHECK(b.images.min().item<float>() == -1.0f);  // black
}

// [SECTION] NPY -------------------------------------------------------------------------------

TEST_CASE("npy: image arrays with optional attributes", "[data]") {
  TempDir d;
  const at::Tensor x = at::rand({4, 3, 8, 8}) * 2 - 1;
  io::write_npy(d.file("x.npy"), x);
  io::write_npy(d.file("a.npy"), at::tensor({1.f, 0.f, 1.f, 1.f}));
  ImageBatch b = load_images(ImageDatasetSpec::parse("npy:" + d.file("x.npy") + ",attrs=" + d.file("a.npy")));
  CHECK(at::equal(b.images, x));
  CHECK(b.attrs.sizes() == at::IntArrayRef({4, 1}));
  CHECK(b.attr_names == std::vector<std::string>{"attr0"});
  b = load_images(ImageDatasetSpec::parse("npy:" + d.file("x.npy")), 3);
  CHECK(b.size() == 3);
  CHECK(load_images(ImageDatasetSpec::parse("npy:" + d.file("x.npy") + "")).attrs.sizes() == at::IntArrayRef({4, 0}));

  auto load = [&](const std::string& spec) { return load_images(ImageDatasetSpec::parse(spec)); };
  io::write_npy(d.file("a3.npy"), at::zeros({3, 2}));
  CHECK_THROWS_WITH(load("npy:" + d.file("x.npy") + ",attrs=" + d.file("a3.npy")),
                    Catch::Contains("4 images") && Catch::Contains("3 attribute rows"));
  io::write_npy(d.file("big.npy"), x * 200);
  CHECK_THROWS_WITH(load("npy:" + d.file("big.npy")), Catch::Contains("[-1,1]") && Catch::Contains(",clip"));
  // A model's own samples overshoot [-1,1]: ',clip' takes them, clipped, and the option survives text and JSON.
  const ImageDatasetSpec clip = ImageDatasetSpec::parse("npy:" + d.file("big.npy") + ",clip");
  const ImageBatch clipped = load_images(clip);
  CHECK(clipped.images.max().item<float>() <= 1.0f);
  CHECK(clipped.images.min().item<float>() >= -1.0f);
  CHECK(at::equal(clipped.images, (x * 200).clamp(-1, 1)));
  CHECK(ImageDatasetSpec::parse(clip.to_string()).clip);
  CHECK(ImageDatasetSpec::from_json(clip.to_json()).clip);
  CHECK_FALSE(ImageDatasetSpec::from_json(ImageDatasetSpec::parse("npy:" + d.file("x.npy")).to_json()).clip);
  CHECK_THROWS_WITH(ImageDatasetSpec::parse("faces:clip"), Catch::Contains("unknown option"));
  io::write_npy(d.file("flat.npy"), at::zeros({4, 10}));
  CHECK_THROWS_WITH(load("npy:" + d.file("flat.npy")), Catch::Contains("[N,C,H,W]"));
  CHECK_THROWS_WITH(load("npy:" + d.file("gone.npy")), Catch::Contains(d.file("gone.npy")));
}

TEST_CASE("resize and channel conversion", "[data]") {
  // A 2x2 checkerboard of 4x4 blocks averages to its mean when shrunk to 2x2 and 1x1.
  at::Tensor x = at::zeros({1, 1, 8, 8});
  x.narrow(2, 0, 4).narrow(3, 0, 4).fill_(1.0);
  x.narrow(2, 4, 4).narrow(3, 4, 4).fill_(-1.0);
  at::Tensor r = resize_images(x, 2);
  CHECK(r[0][0][0][0].item<float>() == Approx(1.0));
  CHECK(r[0][0][1][1].item<float>() == Approx(-1.0));
  CHECK(resize_images(x, 1).item<float>() == Approx(0.0).margin(1e-6));
  CHECK(resize_images(x, 16).sizes() == at::IntArrayRef({1, 1, 16, 16}));
  // Non-square: the centre square is kept.
  at::Tensor wide = at::zeros({1, 1, 4, 8});
  wide.narrow(3, 2, 4).fill_(0.5);
  CHECK(resize_images(wide, 4).min().item<float>() == Approx(0.5));
  CHECK(convert_channels(x, 3).sizes() == at::IntArrayRef({1, 3, 8, 8}));
  CHECK(at::allclose(convert_channels(convert_channels(x, 3), 1), x));
}
