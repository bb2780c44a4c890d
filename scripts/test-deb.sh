#!/usr/bin/env bash
# The Debian packages `cpack -G DEB` makes from a build: foil (the executable) must depend on
# the Debian libraries it links and on the Fashion-MNIST its default audit uses, libfoil-dev on
# foil and the -dev packages of foil's public dependencies; the unpacked foil must run. Where
# the build has the Python module, python3-foil must depend on python3-torch and the Python
# version it was built for, and import from its unpacked folder.
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
# Listings go to files first: `grep -q` stops reading early, and with pipefail the writer's
# SIGPIPE would fail the test.
depends() { dpkg-deb -f "$1" Depends | tr ',' '\n' | sed 's/^ *//; s/ .*//' >"$tmp/depends"; }
depends "$runtime"
for want in libtorch1.13 libopencv-core406 libopencv-imgcodecs406 libopencv-imgproc406 libopencv-videoio406 \
            libfmt9 libprotobuf32 libc6 libstdc++6 dataset-fashion-mnist; do
  grep -qx "$want" "$tmp/depends" || { echo "foil does not depend on $want"; exit 1; }
done
# Only the OpenCV modules foil uses.
grep -E "^libopencv" "$tmp/depends" | grep -vE "^libopencv-(core|imgproc|imgcodecs|videoio)" \
  >"$tmp/other-opencv" || true
[ ! -s "$tmp/other-opencv" ] || { echo "foil depends on OpenCV modules it does not use"; exit 1; }
depends "$dev"
for want in foil libtorch-dev libopencv-dev nlohmann-json3-dev libfmt-dev libonnx-dev; do
  grep -qx "$want" "$tmp/depends" || { echo "libfoil-dev does not depend on $want"; exit 1; }
done
dpkg-deb -f "$dev" Depends >"$tmp/dev-depends"
grep -qF "foil (= $(dpkg-deb -f "$runtime" Version))" "$tmp/dev-depends"
dpkg-deb -c "$runtime" >"$tmp/runtime-files"
dpkg-deb -c "$dev" >"$tmp/dev-files"
grep -q "./usr/bin/foil$" "$tmp/runtime-files"
grep -q "./usr/lib/cmake/foil/foilConfig.cmake$" "$tmp/dev-files"
grep -q "./usr/include/foil/models/model.h$" "$tmp/dev-files"

# Unpacked into an empty folder, run from another empty folder.
dpkg-deb -x "$runtime" "$tmp/root"
mkdir "$tmp/cwd" && cd "$tmp/cwd"
"$tmp/root/usr/bin/foil" --help >"$tmp/help"
grep -q "audit" "$tmp/help"

if ls "$build"/python/foil/_foil*.so >/dev/null 2>&1; then
  python=$(ls "$tmp"/python3-foil_*.deb)
  echo "$(basename "$python"): $(du -k "$python" | cut -f1) KB"
  depends "$python"
  pyver=$(/usr/bin/python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  for want in python3 python3-torch libtorch1.13 dataset-fashion-mnist; do
    grep -qx "$want" "$tmp/depends" || { echo "python3-foil does not depend on $want"; exit 1; }
  done
  dpkg-deb -f "$python" Depends | grep -qF "python3 (<< 3.$((${pyver#3.} + 1)))" ||
    { echo "python3-foil does not pin Python $pyver"; exit 1; }
  dpkg-deb -x "$python" "$tmp/pyroot"
  site="$tmp/pyroot/usr/lib/python$pyver/dist-packages"
  # Where Debian's python3 looks under /usr, and the unpacked copy imports and runs.
  /usr/bin/python3 -c "import sys; assert '/usr/lib/python$pyver/dist-packages' in sys.path"
  env -u PYTHONPATH PYTHONPATH="$site" /usr/bin/python3 -c "
import foil, torch
assert foil.__file__.startswith('$site'), foil.__file__
print('python3-foil imports:', foil.__version__, sorted(foil.patch.__all__))" >"$tmp/import"
  grep -q "python3-foil imports" "$tmp/import"
fi
echo "test-deb: the packages built, their dependencies are right and the unpacked foil runs"
