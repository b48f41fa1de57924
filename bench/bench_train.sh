#!/usr/bin/env bash
# Benchmark (issue 3): training throughput (samples/s) of `sims train` for
# the 2D MLP and the default U-Net (assets/networks/unet32.json, 32x32 RGB)
# against the same network, loss, optimizer and EMA in Python/PyTorch, same
# batch, same thread count, side by side. Peak memory from /usr/bin/time.
# usage: bench/bench_train.sh [BUILD_DIR] [IMAGES] [UNET_IMAGES]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}; IMAGES=${2:-256000}; UIMAGES=${3:-960}
SIMS=$BUILD/bin/sims; PY=/usr/bin/python3
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
# The sims binary keeps freed buffers in the heap (mallopt in main); the
# py_tuned column gives Python the same allocator settings through glibc's
# environment variables, so the comparison separates that from the rest.
TUNED="MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=536870912"
field() { $PY -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['$1'])"; }
printf "%-8s %-6s %14s %14s %8s %12s %12s %14s %8s\n" threads batch sims_img_s python_img_s ratio sims_MiB py_MiB py_tuned_img_s ratio_t
for T in 1 2; do
  for B in 256 2048; do
    c=$( { /usr/bin/time -f "%M" "$SIMS" train --data gaussian --n-data 1000 --budget "$IMAGES" --batch "$B" --threads "$T" \
           --out "$TMP/b.ckpt" --json > "$TMP/c.json"; } 2> "$TMP/c.mem"; field images_per_second < "$TMP/c.json")
    p=$( { /usr/bin/time -f "%M" $PY "$ROOT/bench/train_mlp.py" 128 3 "$B" "$IMAGES" "$T" > "$TMP/p.json"; } 2> "$TMP/p.mem"; field images_per_second < "$TMP/p.json")
    pt=$(env $TUNED $PY "$ROOT/bench/train_mlp.py" 128 3 "$B" "$IMAGES" "$T" | field images_per_second)
    printf "%-8s %-6s %14.0f %14.0f %8.2f %12.0f %12.0f %14.0f %8.2f\n" "$T" "$B" "$c" "$p" "$($PY -c "print($c/$p)")" \
      "$(( $(tail -1 "$TMP/c.mem") / 1024 ))" "$(( $(tail -1 "$TMP/p.mem") / 1024 ))" "$pt" "$($PY -c "print($c/$pt)")"
  done
done

echo
echo "U-Net $(basename "$ROOT/assets/networks/unet32.json") (random 32x32 RGB data, $UIMAGES images per run)"
$PY -c "import numpy as np; np.save('$TMP/img.npy', (np.random.default_rng(0).random((1000,3,32,32))*2-1).astype(np.float32))"
printf "%-8s %-6s %14s %14s %8s %12s %12s\n" threads batch sims_img_s python_img_s ratio sims_MiB py_MiB
for T in 1 2; do
  B=32
  c=$( { /usr/bin/time -f "%M" "$SIMS" train --data "$TMP/img.npy" --net "$ROOT/assets/networks/unet32.json" --budget "$UIMAGES" \
         --batch "$B" --threads "$T" --out "$TMP/u.ckpt" --json > "$TMP/c.json"; } 2> "$TMP/c.mem"; field images_per_second < "$TMP/c.json")
  p=$( { /usr/bin/time -f "%M" $PY "$ROOT/bench/train_unet.py" "$ROOT/assets/networks/unet32.json" "$B" "$UIMAGES" "$T" > "$TMP/p.json"; } 2> "$TMP/p.mem"; field images_per_second < "$TMP/p.json")
  printf "%-8s %-6s %14.1f %14.1f %8.2f %12.0f %12.0f\n" "$T" "$B" "$c" "$p" "$($PY -c "print($c/$p)")" \
    "$(( $(tail -1 "$TMP/c.mem") / 1024 ))" "$(( $(tail -1 "$TMP/p.mem") / 1024 ))"
done
