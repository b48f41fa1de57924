// Typed errors of the SIMS core. Faces catch sims::Error at one place and
// print what() once ("error: ..." on the CLI, a message bar in a GUI).
#pragma once
#include <stdexcept>
#include <string>

namespace sims {

// Base of every error the core throws on purpose.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The user's input is wrong: a missing/corrupt file, a wrong shape, a flag out of range.
struct InputError : Error {
  using Error::Error;
};

// A model file cannot be used (bad signature, wrong output shape, ...).
struct ModelError : Error {
  using Error::Error;
};

// Writing an output failed (unwritable directory, disk full, ...).
struct IoError : Error {
  using Error::Error;
};

// Cooperative cancellation requested by the caller; not a failure.
struct Cancelled : Error {
  Cancelled() : Error("cancelled") {}
};

}  // namespace sims
