// Catch2 v2 entry point; one thread for LibTorch keeps tests deterministic
// and cheap on the 2-core CI machine.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <ATen/Parallel.h>

int main(int argc, char* argv[]) {
  at::set_num_threads(1);
  return Catch::Session().run(argc, argv);
}
