#!/usr/bin/env bash
# Packs the build's header-only dependencies, as this Debian 12 machine has
# them, into deps/ (a /usr-like tree: include/, lib/cmake/, share/), for a
# machine that has a PyTorch with CMake and a compiler but no Debian
# packages and no network (a GPU server): copy or carry deps/ with the tree
# and tools/build_cuda.sh finds them there. Files keep their Debian licences
# (copied, not part of the project's code; deps/ is not committed).
# usage: tools/pack_deps.sh [DIR=deps]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$ROOT/deps}
PKGS=(nlohmann-json3-dev libcli11-dev catch2 libstb-dev libgif-dev zlib1g-dev)
rm -rf "$DEST.tmp"; mkdir -p "$DEST.tmp"
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    { echo "error: $p is not installed here (run tools/setup.sh first)" >&2; exit 1; }
  # Headers, CMake package files and static libraries (giflib, zlib); no
  # shared libraries (stb is compiled in). Not the Gloo headers: they must
  # match the gloo inside the LibTorch built against (pip wheels may ship
  # their own); without them the build runs one process per job.
  dpkg -L "$p" | grep -E '^/usr/(include|lib/cmake|share/cmake|lib/x86_64-linux-gnu/cmake)/|^/usr/lib/(x86_64-linux-gnu/)?lib[A-Za-z0-9_]+\.a$' |
    while read -r f; do
      [[ -f $f ]] || continue
      rel=${f#/usr/}; rel=${rel/lib\/x86_64-linux-gnu\//lib\/}
      mkdir -p "$DEST.tmp/$(dirname "$rel")"; cp -p "$f" "$DEST.tmp/$rel"
    done
  dpkg-query -W -f='${Package} ${Version}\n' "$p" >>"$DEST.tmp/PACKAGES"
done
rm -rf "$DEST"; mv "$DEST.tmp" "$DEST"
echo "packed $(wc -l <"$DEST/PACKAGES") packages ($(du -sh "$DEST" | cut -f1)) into $DEST"
