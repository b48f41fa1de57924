#!/usr/bin/env bash
# The Debian packages, built and tried as a user gets them: builds sims_*.deb,
# sims-studio_*.deb and sims-live_*.deb from the build folder (tools/setup.sh first), installs
# them with apt (as root or with sudo; otherwise unpacks them into a scratch
# prefix), and from a folder outside the checkout, with the checkout's assets/
# moved out of reach, runs: --version, `sims info` and `sims sample` of a
# shipped model, `sims demo`, the studio's screenshot under Xvfb, and checks
# the desktop entry, the AppStream metainfo and the man pages. Packages this
# script installed are removed again at the end (KEEP=1 keeps them).
# usage: tools/package.sh [BUILD_DIR]     (default build/)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
say() { echo "package: $*"; }

rm -rf "$BUILD/packages"
cpack --config "$BUILD/CPackConfig.cmake" -B "$BUILD/packages" >/dev/null
mapfile -t debs < <(ls "$BUILD"/packages/sims*_amd64.deb "$BUILD"/packages/sims*_arm64.deb 2>/dev/null || true)
((${#debs[@]})) || { echo "error: cpack wrote no .deb into $BUILD/packages" >&2; exit 1; }
say "built ${debs[*]##*/}"

# The checkout's data go out of reach while the installed programs run; a
# run that was killed before it could put them back is mended first.
AWAY="$ROOT/.assets-out-of-reach"
if [[ -d $AWAY ]]; then
  [[ -e $ROOT/assets ]] && { echo "error: both assets/ and $AWAY exist; keep the right one and remove the other" >&2; exit 1; }
  mv -T "$AWAY" "$ROOT/assets"
  say "put assets/ back from an interrupted run"
fi

WORK=$(mktemp -d /tmp/sims-package.XXXXXX)
SUDO=; [[ $(id -u) -ne 0 ]] && SUDO=sudo
installed=()
cleanup() {
  if [[ -d $AWAY && ! -e $ROOT/assets ]]; then mv -T "$AWAY" "$ROOT/assets"; fi
  if ((${#installed[@]})) && [[ -z ${KEEP:-} ]]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get remove -y -qq "${installed[@]}" >/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
if [[ -z $SUDO ]] || sudo -n true 2>/dev/null; then
  for d in "${debs[@]}"; do
    name=$(dpkg-deb -f "$d" Package)
    dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q "install ok installed" || installed+=("$name")
  done
  # --reinstall: a package of the same version installed earlier is replaced by this build.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends --allow-downgrades \
    --reinstall "${debs[@]}" >/dev/null
  PREFIX=/usr
  say "installed with apt-get into $PREFIX"
else
  for d in "${debs[@]}"; do dpkg-deb -x "$d" "$WORK/root"; done
  PREFIX=$WORK/root/usr
  say "no root: unpacked into $PREFIX (apt needs root)"
fi
[[ "$("$PREFIX/bin/sims" --version)" == "$("$BUILD/bin/sims" --version)" ]] ||
  { echo "error: the installed sims is not this build's" >&2; exit 1; }
mv -T "$ROOT/assets" "$AWAY"
cd "$WORK"
unset SIMS_DATA_DIR
SIMS=$PREFIX/bin/sims
M=$PREFIX/share/sims/assets/models
fail() { echo "error: package check: $*" >&2; exit 1; }

"$SIMS" --version | tee version.txt
grep -q "(git " version.txt || fail "sims --version names no git revision"
"$SIMS" info "$M/grid25-base.ckpt" >info.txt || fail "sims info of the installed grid25 base failed"
"$SIMS" sample --model "$M/grid25-base.ckpt" --aux "$M/grid25-aux.ckpt" --omega 0.25 --n 500 --seed 1 \
  --out samples.npy --grid samples.png >/dev/null || fail "sims sample of the installed grid25 pair failed"
[[ -s samples.npy && -s samples.png ]] || fail "sims sample wrote no samples"
say "sims info + sample of the shipped grid25 pair: ok"
"$SIMS" demo --out demo >demo.log 2>&1 || { tail -5 demo.log >&2; fail "sims demo failed"; }
[[ -s demo/summary.md ]] || fail "sims demo wrote no summary.md"
say "sims demo: ok ($(grep -c . demo/summary.md) lines of summary)"
if [[ -x $PREFIX/bin/sims-studio ]]; then
  timeout 300 xvfb-run -a -s "-screen 0 1280x720x24" "$PREFIX/bin/sims-studio" --no-settings \
    --screenshot studio.png >studio.log 2>&1 || { tail -5 studio.log >&2; fail "the installed studio did not start"; }
  [[ -s studio.png ]] || fail "the installed studio wrote no screenshot"
  say "sims-studio screenshot under Xvfb: ok ($(stat -c %s studio.png) bytes)"
  if command -v appstreamcli >/dev/null; then
    appstreamcli validate --no-net "$PREFIX/share/metainfo/org.simsstudio.Studio.metainfo.xml" >/dev/null ||
      fail "appstreamcli validate refused the metainfo"
    say "appstreamcli validate: ok"
  else
    say "appstreamcli not installed: metainfo not validated"
  fi
  if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$PREFIX/share/applications/org.simsstudio.Studio.desktop" || fail "desktop-file-validate"
    say "desktop-file-validate: ok"
  else
    say "desktop-file-validate not installed (desktop-file-utils): desktop entry not validated"
  fi
fi
if [[ -x $PREFIX/bin/sims-live ]]; then
  timeout 300 xvfb-run -a -s "-screen 0 1280x720x24" "$PREFIX/bin/sims-live" --size 1280x720 \
    --screenshot live.png >live.log 2>&1 || { tail -5 live.log >&2; fail "the installed sims-live did not start"; }
  [[ -s live.png ]] || fail "the installed sims-live wrote no screenshot"
  say "sims-live screenshot under Xvfb: ok ($(stat -c %s live.png) bytes)"
  if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$PREFIX/share/applications/org.simsstudio.Live.desktop" || fail "desktop-file-validate (live)"
  fi
  if command -v appstreamcli >/dev/null; then
    appstreamcli validate --no-net "$PREFIX/share/metainfo/org.simsstudio.Live.metainfo.xml" >/dev/null ||
      fail "appstreamcli validate (live)"
  fi
  say "sims-live desktop entry and metainfo: ok"
fi
for page in sims sims-studio sims-live; do
  f=$PREFIX/share/man/man1/$page.1.gz
  [[ -e $f || $page != sims ]] || fail "no man page $f"
  [[ -e $f ]] && { zcat "$f" | grep -c '^\.SH DESCRIPTION' >/dev/null || fail "man page $f has no DESCRIPTION"; }
done
say "man pages: ok"
if [[ -n ${SAVE:-} ]]; then mkdir -p "$SAVE" && cp version.txt samples.png studio.png live.png demo/summary.md "$SAVE/" 2>/dev/null || true; fi
say "all checks passed with the installed files ($PREFIX)"
