#!/usr/bin/env bash
# The Debian packages `cpack -G DEB` makes from a build: foil (the executable) must depend on
# the Debian libraries it links and on the Fashion-MNIST its default audit uses, libfoil-dev on
# foil and the -dev packages of foil's public dependencies; the unpacked foil must run.
# Usage: scripts/test-deb.sh BUILD_DIR
set -euo pipefail
build="$(cd "$1" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$build" && cpack -G DEB -B "$tmp" --config CPackConfig.cmake >/dev/null)
runtime=$(ls "$tmp"/foil_*.deb)
dev=$(ls "$tmp"/libfoil-dev_*.deb)
for deb in "$runtime" "$dev"; do
  echo "$(basename "$deb"): $(du -k "$deb" | cut -f1) KB"
  dpkg-deb -I "$deb" | grep -E "^ (Package|Version|Depends|Recommends|Installed-Size):"
done
depends() { dpkg-deb -f "$1" Depends | tr ',' '\n' | sed 's/^ *//; s/ .*//'; }
for want in libtorch1.13 libopencv-core406 libopencv-imgcodecs406 libopencv-imgproc406 \
            libfmt9 libprotobuf32 libc6 libstdc++6 dataset-fashion-mnist; do
  depends "$runtime" | grep -qx "$want" || { echo "foil does not depend on $want"; exit 1; }
done
# Only the OpenCV modules foil uses.
if depends "$runtime" | grep -E "^libopencv" | grep -vqE "^libopencv-(core|imgproc|imgcodecs)"; then
  echo "foil depends on OpenCV modules it does not use"; exit 1
fi
for want in foil libtorch-dev libopencv-dev nlohmann-json3-dev libfmt-dev libonnx-dev; do
  depends "$dev" | grep -qx "$want" || { echo "libfoil-dev does not depend on $want"; exit 1; }
done
dpkg-deb -f "$dev" Depends | grep -q "foil (= $(dpkg-deb -f "$runtime" Version))"
dpkg-deb -c "$runtime" | grep -q "./usr/bin/foil$"
dpkg-deb -c "$dev" | grep -q "./usr/lib/cmake/foil/foilConfig.cmake$"
dpkg-deb -c "$dev" | grep -q "./usr/include/foil/models/model.h$"

# Unpacked into an empty folder, run from another empty folder.
dpkg-deb -x "$runtime" "$tmp/root"
mkdir "$tmp/cwd" && cd "$tmp/cwd"
"$tmp/root/usr/bin/foil" --help | grep -q "audit"
echo "test-deb: both packages built, their dependencies are right and the unpacked foil runs"
