#!/usr/bin/env bash
# Builds the core, the `sims` CLI and the test programs against the LibTorch
# of a PyTorch installation (torch.utils.cmake_prefix_path): on a GPU server,
# PyTorch's CUDA LibTorch, with nvcc and the CUDA libraries it expects. The
# GUIs are off. Header-only and small static dependencies the server lacks
# come from deps/ (tools/pack_deps.sh, run on a Debian 12 machine that ran
# tools/setup.sh) when the system has none.
# usage: tools/build_cuda.sh [DIR=build-cuda] [extra cmake args...]
#   env: PYTHON (default python3: the interpreter whose torch to build against)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$ROOT/build-cuda}; shift || true
PY=${PYTHON:-python3}
start=$(date +%s)
if ! PREFIX=$("$PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null); then
  echo "error: '$PY' has no torch: set PYTHON to the interpreter of the PyTorch to build against" >&2; exit 2
fi
if [[ ! -f $PREFIX/Torch/TorchConfig.cmake ]]; then
  echo "error: the torch of '$PY' ships no CMake files ($PREFIX/Torch/TorchConfig.cmake is missing; Debian's" \
       "python3-torch has none: use its libtorch-dev through tools/setup.sh instead)" >&2; exit 2
fi
read -r TV CUDA < <("$PY" -c 'import torch; print(torch.__version__, torch.version.cuda or "none")')
echo "LibTorch $TV (CUDA $CUDA) from $PREFIX"
WITH_CUDA=OFF; [[ $CUDA != none ]] && WITH_CUDA=ON
GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
PREFIXES="$PREFIX"; [[ -d $ROOT/deps ]] && PREFIXES="$PREFIX;$ROOT/deps"
CUDA_ARGS=()
if [[ $WITH_CUDA == ON ]] && command -v nvcc >/dev/null; then
  NVCC=$(command -v nvcc)
  CUDA_ARGS=(-DCMAKE_CUDA_COMPILER="$NVCC" -DCUDAToolkit_ROOT="$(dirname "$(dirname "$(readlink -f "$NVCC")")")")
fi
cmake -S "$ROOT" -B "$DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DSIMS_BUILD_GUI=OFF -DSIMS_BUILD_LIVE=OFF \
  -DSIMS_BUILD_TESTS=ON -DSIMS_WITH_CUDA=$WITH_CUDA -DCMAKE_PREFIX_PATH="$PREFIXES" "${CUDA_ARGS[@]}" "$@"
cmake --build "$DIR" -j"$(nproc 2>/dev/null || echo 2)" --target sims sims_cuda_tests
"$DIR/bin/sims" --version
echo "built $DIR/bin/sims and $DIR/bin/sims_cuda_tests against LibTorch $TV (CUDA $CUDA) in $(($(date +%s) - start)) s"
