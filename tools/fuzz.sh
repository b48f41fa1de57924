#!/usr/bin/env bash
# libFuzzer harnesses (tests/fuzz/) for the file readers, built with clang and
# AddressSanitizer + UndefinedBehaviorSanitizer, then run for SECONDS each (one per core side by side)
# from seed corpora made here (numpy's .npy/.npz, the shipped weights-only
# checkpoints, the project's JSON files, small CIFAR-10 / MNIST / image / CSV
# / npy data sets for the --dataset readers). A crash, a sanitizer report or a
# leak fails the run; the input that did it is kept in OUT/crashes/.
# The readers are instrumented; what they call beyond them comes from the core
# library of the main build (CORE_LIB, default build/lib/libsims_core.a), as is.
# usage: tools/fuzz.sh [SECONDS=30] [OUT=build-fuzz]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_EACH=${1:-30}
OUT=$(mkdir -p "${2:-$ROOT/build-fuzz}" && cd "${2:-$ROOT/build-fuzz}" && pwd)
CXX=$(command -v clang++ || command -v clang++-14 || true)
[[ -n $CXX ]] || { echo "error: clang++ is needed for the fuzz harnesses (apt-get install clang)" >&2; exit 1; }
CORE_LIB=${CORE_LIB:-$ROOT/build/lib/libsims_core.a}
[[ -e $CORE_LIB ]] || { echo "error: $CORE_LIB is missing: build the project first (bash tools/setup.sh)" >&2; exit 1; }
# A core source newer than the library: instrumented objects and the library could disagree on a type's layout.
stale=$(find "$ROOT/core" \( -name '*.cpp' -o -name '*.hpp' \) -newer "$CORE_LIB" -print -quit)
[[ -z $stale ]] || echo "warning: $CORE_LIB is older than $stale (make -C build sims_core brings it up to date)" >&2
JOBS=$(nproc 2>/dev/null || echo 2)
SAN=(-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined)
FLAGS=(-std=c++17 -O1 -g -D_GLIBCXX_USE_CXX11_ABI=1 -I"$ROOT/core" -I"$ROOT/tests/fuzz"
       -isystem /usr/include/torch/csrc/api/include -isystem /usr/include/stb -Wno-unused-command-line-argument)
LIBS=("$CORE_LIB" -ltorch -ltorch_cpu -lc10 -lglog -lgflags -lgomp -lz -lgif -lpthread)
# CIFAR-10's tar.gz is read through libarchive where it is installed (as the CMake build does).
if [[ -e /usr/include/archive.h ]]; then FLAGS+=(-DSIMS_HAVE_LIBARCHIVE); LIBS+=(-larchive); fi

# The readers under test, instrumented for coverage and the sanitizers (objects reused while unchanged).
mkdir -p "$OUT/obj"
SOURCES=(io/npy.cpp io/safetensors.cpp io/atomic_file.cpp io/crc32.cpp io/zip.cpp metrics/frechet.cpp
         data/image_datasets.cpp data/faces.cpp data/toy2d.cpp engine/live_policy.cpp diffusion/analytic.cpp diffusion/network.cpp
         training/checkpoint.cpp loops/shift.cpp loops/diffusion_loop.cpp loops/tune_compare.cpp loops/run_caption.cpp
         metrics/uncertainty.cpp experiment/json_io.cpp experiment/common_schemas.cpp metrics/features.cpp
         metrics/sweep_run.cpp loops/scenarios.cpp loops/image_loop.cpp)
objs=()
for s in "${SOURCES[@]}"; do
  o=$OUT/obj/${s//\//_}.o
  objs+=("$o")
  # Rebuilt when the source or any header of the core is newer than the object.
  # stb_image (Debian's libstb, compiled into image_datasets.cpp) calls memcpy(NULL, p, 0) for an empty PNG data
  # chunk: undefined by the letter of C, harmless, and not ours to fix; that one check is off for that file.
  EXTRA=(); [[ $s == data/image_datasets.cpp ]] && EXTRA=(-fno-sanitize=nonnull-attribute)
  if [[ ! -e $o || $ROOT/core/$s -nt $o || -n $(find "$ROOT/core" -name '*.hpp' -newer "$o" -print -quit) ]]; then
    rm -f "$o"  # a failed compile leaves none (checked below)
    echo "$CXX ${FLAGS[*]} ${SAN[*]} ${EXTRA[*]} -fsanitize=fuzzer-no-link -c core/$s"
    "$CXX" "${FLAGS[@]}" "${SAN[@]}" "${EXTRA[@]}" -fsanitize=fuzzer-no-link -c "$ROOT/core/$s" -o "$o" &
    while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || true; done  # failures: checked below
  fi
done
wait || true
for o in "${objs[@]}"; do
  [[ -e $o ]] || { echo "error: $o did not build (the compiler's words are above)" >&2; exit 1; }
done
HARNESSES=(npy npz safetensors json images records)
for h in "${HARNESSES[@]}"; do
  newer=$(find "$ROOT/tests/fuzz" "$OUT/obj" "$ROOT/core" \( -name '*.o' -o -name '*.hpp' -o -name "fuzz_$h.cpp" \) \
           -newer "$OUT/fuzz_$h" -print -quit 2>/dev/null || true)
  if [[ ! -e $OUT/fuzz_$h || -n $newer || $CORE_LIB -nt $OUT/fuzz_$h ]]; then
    rm -f "$OUT/fuzz_$h"
    "$CXX" "${FLAGS[@]}" "${SAN[@]}" -fsanitize=fuzzer "$ROOT/tests/fuzz/fuzz_$h.cpp" "${objs[@]}" "${LIBS[@]}" -o "$OUT/fuzz_$h" &
    while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || true; done  # failures: checked below
  fi
done
wait || true
for h in "${HARNESSES[@]}"; do
  [[ -x $OUT/fuzz_$h ]] || { echo "error: fuzz_$h did not build (the compiler's words are above)" >&2; exit 1; }
done

# Seed corpora.
S=$OUT/seeds; mkdir -p "$S"/{npy,npz,safetensors,json,images,records}
/usr/bin/python3 - "$S" <<'PY'
import numpy as np, sys
s = sys.argv[1]
r = np.random.default_rng(0)
for i, a in enumerate([r.standard_normal((4, 3)).astype(np.float32), np.arange(6, dtype=np.int64),
                       r.standard_normal((2, 2, 2)), np.zeros((0, 5), np.float32), np.asfortranarray(np.eye(3))]):
    np.save("%s/npy/%d.npy" % (s, i), a)
mu, sig = r.standard_normal(4), np.eye(4)
np.savez("%s/npz/stored.npz" % s, mu=mu, sigma=sig)
np.savez_compressed("%s/npz/compressed.npz" % s, mu=mu, sigma=sig)
# The image readers (fuzz_images.cpp): the first byte picks the reader.
import gzip, io, struct, tarfile, zlib
def seed(name, kind, body):
    open("%s/images/%s" % (s, name), "wb").write(bytes([kind]) + body)
batch = bytes(r.integers(0, 256, 3 * 3073, dtype=np.uint8))  # three CIFAR records: label + 3x32x32
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w:gz") as t:
    for n in ("cifar-10-batches-bin/data_batch_1.bin", "cifar-10-batches-bin/test_batch.bin"):
        ti = tarfile.TarInfo(n); ti.size = len(batch); t.addfile(ti, io.BytesIO(batch))
seed("cifar.tar.gz", 0, buf.getvalue())
seed("cifar.tar", 1, gzip.decompress(buf.getvalue()))
seed("cifar.bin", 2, batch)
idx = struct.pack(">IIII", 0x803, 3, 8, 8) + bytes(r.integers(0, 256, 3 * 64, dtype=np.uint8))
seed("mnist.idx", 3, idx)
seed("mnist.idx.gz", 4, gzip.compress(idx))
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
rows = b"".join(b"\0" + bytes(r.integers(0, 256, 3 * 4, dtype=np.uint8)) for _ in range(4))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)) + \
      chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
seed("image.png", 5, png)
seed("labels.csv", 6, b"file,smile,glasses\na.png,1,0\n")
arr = io.BytesIO(); np.save(arr, r.uniform(-1, 1, (2, 3, 4, 4)).astype(np.float32))
seed("images.npy", 7, arr.getvalue())
PY
# The records harness: the shipped checkpoints' records (and their net, train and data parts) and tune results,
# each behind the byte that picks its reader (tests/fuzz/fuzz_records.cpp); the harness adds its own defaults.
/usr/bin/python3 - "$S/records" "$ROOT"/assets/models/*.ckpt "$ROOT"/assets/models/*.tune.json <<'PY'
import json, os, struct, sys
out = sys.argv[1]
def seed(kind, name, value):
    open(os.path.join(out, name), "wb").write(bytes([kind]) + json.dumps(value).encode())
for f in sys.argv[2:]:
    name = os.path.basename(f)
    if f.endswith(".tune.json"):
        seed(14, name, json.load(open(f)))
        continue
    b = open(f, "rb").read()
    if b[:4] == b"PK\x03\x04":
        continue  # the feature network: a torch archive, no record
    record = json.loads(json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])["__metadata__"]["sims_checkpoint"])
    record["loss_curve"] = record.get("loss_curve", [])[:4]
    seed(16, name, record)
    seed(2, name + ".net", record["net"])
    seed(3, name + ".train", record["train"])
    spec = record.get("data", {}).get("spec")
    if spec: seed(7 if "kind" in spec else 5, name + ".data", spec)
PY
cp "$ROOT"/assets/models/gaussian-base.ckpt "$ROOT"/assets/models/grid25-aux.ckpt "$S/safetensors/"
cp "$ROOT"/assets/networks/*.json "$ROOT"/assets/models/*.tune.json "$S/json/"

# Some defaults name the shipped models (assets/ of this checkout).
export SIMS_DATA_DIR=$ROOT
SIMS_FUZZ_SEEDS="$S/records" "$OUT/fuzz_records" -runs=0 >"$OUT/seeds.log" 2>&1 && [[ -e $S/records/session ]] ||
  { echo "error: fuzz_records could not write its seeds ($OUT/seeds.log):" >&2; tail -5 "$OUT/seeds.log" >&2; exit 1; }

mkdir -p "$OUT/crashes"
# One harness per core at a time (each is one process): the same SECONDS each, the wall time divided by the cores.
fuzz_one() {
  local h=$1
  mkdir -p "$OUT/corpus/$h"
  # One thread each (side by side, libtorch's own thread pool would starve the other harness into -timeout).
  if OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
     "$OUT/fuzz_$h" -max_total_time="$SECONDS_EACH" -max_len=300000 -rss_limit_mb=4096 -timeout=20 \
       -artifact_prefix="$OUT/crashes/$h-" -print_final_stats=1 "$OUT/corpus/$h" "$S/$h" >"$OUT/$h.log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/$h.log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$OUT/$h.log" | tail -1 || true)
    echo "fuzz $h: ${SECONDS_EACH} s, $runs inputs, $cov, no crash" >"$OUT/$h.result"
  else
    { echo "error: fuzz $h found a problem; input kept in $OUT/crashes/ (log: $OUT/$h.log; to re-run one input:" \
           "SIMS_DATA_DIR=$ROOT $OUT/fuzz_$h INPUT):"
      grep -m3 -E "ERROR|runtime error|SUMMARY" "$OUT/$h.log" || tail -5 "$OUT/$h.log"; } >"$OUT/$h.result"
    return 1
  fi
}
for h in "${HARNESSES[@]}"; do
  rm -f "$OUT/$h.result"
  fuzz_one "$h" &
  while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || true; done
done
wait || true
status=0
for h in "${HARNESSES[@]}"; do
  if [[ -e $OUT/$h.result ]] && head -1 "$OUT/$h.result" | grep -q "^fuzz $h: .*, no crash$"; then
    cat "$OUT/$h.result"
  else
    if [[ -e $OUT/$h.result ]]; then cat "$OUT/$h.result" >&2; else echo "error: fuzz $h did not report (log: $OUT/$h.log)" >&2; fi
    status=1
  fi
done
exit $status
