#!/usr/bin/env bash
# Installs the Debian 12 packages SIMS Studio needs (only those missing) and
# configures + builds it into build/. Used by tools/run.sh and tools/test.sh.
# usage: tools/setup.sh [extra cmake args...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PKGS=(build-essential cmake pkg-config ccache libtorch-dev libopenblas0-openmp catch2 libstb-dev
      nlohmann-json3-dev libcli11-dev zlib1g-dev libarchive-dev libgif-dev python3-torch python3-numpy python3-pil fonts-dejavu-core
      qt6-base-dev qt6-charts-dev libqt6opengl6-dev libgl1-mesa-dri xvfb xauth
      desktop-file-utils appstream libgloo-dev clang libclang-rt-14-dev libimgui-dev libglfw3-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
JOBS=$(nproc 2>/dev/null || echo 2)
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release -DSIMS_BUILD_GUI=ON -DSIMS_BUILD_LIVE=ON "$@" >/dev/null
cmake --build "$ROOT/build" -j"$JOBS"
