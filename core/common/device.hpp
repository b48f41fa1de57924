// The compute device of a command or a GUI: "cpu" or "cuda[:i]", as the CLI's --device, sims-studio's and
// sims-live's --device and the studio's Compute menu spell it.
#pragma once
#include <string>
#include <vector>

#include <c10/core/Device.h>

namespace sims {

// Parses `text` (cpu | cuda | cuda:i); throws InputError for anything else and for cuda where this build's
// LibTorch or this machine has no GPU (or no GPU i). Under a launcher (several processes), plain "cuda" is
// cuda:LOCAL_RANK modulo the GPUs of the machine, as torchrun does.
c10::Device parse_device(const std::string& text);

// The device `text` names (cpu | cuda | cuda:i with i a device index LibTorch can hold, 0..127), without asking
// whether it exists here; throws InputError for anything else (its message names no flag: parse_device adds
// "--device"). LibTorch's own parser wraps larger indices around (cuda:200 became cuda:-56).
c10::Device device_from_name(const std::string& text);

// What a face can offer: "cpu", then "cuda:0" .. "cuda:N-1" for the GPUs this process sees.
std::vector<std::string> available_devices();

// The device as the CLI spells it ("cpu", "cuda:1").
std::string device_name(const c10::Device& d);

}  // namespace sims

namespace sims {

// The device the GUI faces (sims-studio, sims-live) load models and run their jobs on: their --device flag and
// the studio's Compute menu set it; CPU until then. The CLI passes its --device explicitly instead.
c10::Device face_device();
void set_face_device(const c10::Device& d);  // plain cuda becomes cuda:0

}  // namespace sims
