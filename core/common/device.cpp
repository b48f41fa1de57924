#include "common/device.hpp"

#include <algorithm>
#include <limits>
#include <mutex>

#include <c10/util/Exception.h>
#include <torch/cuda.h>

#include "common/error.hpp"
#include "dist/env.hpp"

namespace sims {

c10::Device device_from_name(const std::string& text) {
  if (text == "cpu") return c10::Device(c10::kCPU);
  if (text == "cuda") return c10::Device(c10::kCUDA);
  if (text.rfind("cuda", 0) != 0) throw InputError("must be cpu or cuda[:i] (got '" + text + "')");
  const std::string index = text.rfind("cuda:", 0) == 0 ? text.substr(5) : std::string();
  if (index.empty() || !std::all_of(index.begin(), index.end(), [](char c) { return c >= '0' && c <= '9'; }))
    throw InputError("cannot parse '" + text + "' (cpu, cuda, cuda:1, ...)");
  const size_t first = std::min(index.find_first_not_of('0'), index.size() - 1);  // "cuda:007" is cuda:7
  const int most = std::numeric_limits<c10::DeviceIndex>::max();
  if (index.size() - first > std::to_string(most).size() || std::stoi(index.substr(first)) > most)
    throw InputError(text + ": a GPU index is at most " + std::to_string(most));
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(std::stoi(index.substr(first))));
}

c10::Device parse_device(const std::string& text) {
  c10::Device d(c10::kCPU);
  try {
    d = device_from_name(text);
  } catch (const InputError& e) {
    throw InputError(std::string("--device ") + e.what());
  }
  if (d.is_cpu()) return d;
  if (!torch::cuda::is_available())
    throw InputError("--device " + text + ": CUDA is not available (this build's LibTorch or this machine has no GPU)");
  const int count = static_cast<int>(torch::cuda::device_count());
  if (d.has_index() && d.index() >= count)
    throw InputError("--device " + text + ": this machine has " + std::to_string(count) + " GPU(s) (cuda:0.." +
                     "cuda:" + std::to_string(count - 1) + ")");
  // In a job of several processes plain "cuda" is one GPU per process of a machine, as torchrun does.
  const dist::DistEnv env = dist::read_dist_env();
  if (env.several() && !d.has_index())
    d = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank % std::max(1, count)));
  return d;
}

std::vector<std::string> available_devices() {
  std::vector<std::string> out{"cpu"};
  if (torch::cuda::is_available())
    for (size_t i = 0; i < torch::cuda::device_count(); ++i) out.push_back("cuda:" + std::to_string(i));
  return out;
}

std::string device_name(const c10::Device& d) { return d.str(); }

namespace {
std::mutex face_mutex;
c10::Device face{c10::kCPU};
}  // namespace

c10::Device face_device() {
  std::lock_guard<std::mutex> lock(face_mutex);
  return face;
}

void set_face_device(const c10::Device& d) {
  std::lock_guard<std::mutex> lock(face_mutex);
  // A face names GPUs by index (its menu lists cuda:0 ..): plain "cuda" is the first.
  face = d.is_cuda() && !d.has_index() ? c10::Device(c10::kCUDA, 0) : d;
}

}  // namespace sims
