#!/usr/bin/env bash
# Prepares, on this (Debian, CPU) machine, what the GPU machine of scripts/gpu-check.sh lacks,
# into .gpu-carry/ (git-ignored; it travels as a carried path, at most 64 MiB with the tree):
#   opencv.tar.xz   OpenCV 4.6's core, imgproc, imgcodecs and videoio as static libraries, built
#                   from Debian's source package, with Debian's static libpng, libjpeg and zlib
#                   beside them (that machine has no OpenCV development files)
#   fashion-mnist/  the test set and the first 20000 training items (the idx headers say so)
#   assets/         MoveNet Lightning (TF.js, from the npm package) and the photos it is timed on
#   python/         torchattacks, when TORCHATTACKS_SRC names a checkout of it (pure Python; it
#                   is compared against, never imported by foil)
# and last, where build/ holds a build of foil, checks that every source compiles against a
# LibTorch 2 API (scripts/check-libtorch2.sh), so that API drift shows here, not in the GPU
# machine's few minutes.
#   bash scripts/prepare-gpu-carry.sh            (then: scripts/gpu-check.sh's header)
# Downloads only from Debian (OpenCV's source through a deb-src list of its own, trixie's
# libtorch-dev headers; the system's apt sources stay as they are). Reruns reuse what is built.
set -euo pipefail
cd "$(dirname "$0")/.."
carry=.gpu-carry
work=${WORK_DIR:-build-carry}
assets=${FOIL_ASSETS:-assets}
fm=${FOIL_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
multiarch=/usr/lib/$(gcc -print-multiarch)
mkdir -p "$carry" "$work"

# --- OpenCV from Debian's source --------------------------------------------------------------
if [ ! -f "$carry/opencv.tar.xz" ]; then
  src=$work/opencv-src
  if [ ! -f "$src/CMakeLists.txt" ]; then
    lists=$PWD/$work/apt-lists
    mkdir -p "$lists/partial" "$work/apt-source"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
      "http://deb.debian.org/debian $(. /etc/os-release && echo "$VERSION_CODENAME") main" \
      >"$work/sources.list"
    apt=(-o Dir::Etc::SourceList="$PWD/$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists="$lists")
    apt-get "${apt[@]}" update >/dev/null
    (cd "$work/apt-source" && apt-get "${apt[@]}" source --download-only opencv >/dev/null 2>&1)
    dpkg-source -x "$work"/apt-source/opencv_*.dsc "$src" >/dev/null
  fi
  prefix=$PWD/$work/opencv
  cmake -S "$src" -B "$work/opencv-build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$prefix" -DBUILD_SHARED_LIBS=OFF \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_LIST=core,imgproc,imgcodecs,videoio \
    -DBUILD_TESTS=OFF -DBUILD_PERF_TESTS=OFF -DBUILD_EXAMPLES=OFF -DBUILD_opencv_apps=OFF \
    -DBUILD_JAVA=OFF -DBUILD_opencv_python3=OFF -DBUILD_DOCS=OFF -DOPENCV_GENERATE_PKGCONFIG=OFF \
    -DBUILD_PNG=OFF -DBUILD_JPEG=OFF -DBUILD_ZLIB=OFF -DPNG_LIBRARY="$multiarch/libpng16.a" \
    -DJPEG_LIBRARY="$multiarch/libjpeg.a" -DZLIB_LIBRARY="$multiarch/libz.a" \
    -DWITH_QUIRC=OFF -DWITH_IPP=OFF -DWITH_ITT=OFF -DWITH_OPENCL=OFF -DWITH_CUDA=OFF \
    -DWITH_EIGEN=OFF -DWITH_LAPACK=OFF -DWITH_PROTOBUF=OFF -DWITH_FFMPEG=OFF -DWITH_GTK=OFF \
    -DWITH_QT=OFF -DWITH_ADE=OFF -DWITH_V4L=OFF -DWITH_1394=OFF -DWITH_GSTREAMER=OFF \
    -DWITH_TBB=OFF -DWITH_TIFF=OFF -DWITH_WEBP=OFF -DWITH_OPENEXR=OFF -DWITH_JASPER=OFF \
    -DWITH_OPENJPEG=OFF -DWITH_VA=OFF -DWITH_GDAL=OFF -DWITH_GDCM=OFF -DWITH_AVIF=OFF \
    -DWITH_VTK=OFF -DWITH_OBSENSOR=OFF >"$work/opencv-configure.log"
  cmake --build "$work/opencv-build" -j"$(nproc)" --target install >"$work/opencv-build.log"
  # Debian's static libpng/libjpeg/zlib beside OpenCV's, named relative to the package so the
  # configuration resolves on a machine whose system has none of them.
  third=$prefix/lib/opencv4/3rdparty
  mkdir -p "$third"
  cp "$multiarch"/{libpng16.a,libjpeg.a,libz.a} "$third/"
  for f in "$prefix"/lib/cmake/opencv4/OpenCVModules*.cmake; do
    sed -i "s#$multiarch/\(libpng16.a\|libjpeg.a\|libz.a\)#\${_IMPORT_PREFIX}/lib/opencv4/3rdparty/\1#g" "$f"
  done
  if grep -q "$multiarch" "$prefix"/lib/cmake/opencv4/OpenCVModules*.cmake; then
    echo "prepare-gpu-carry: OpenCV's package still names $multiarch" >&2
    exit 1
  fi
  tar -C "$work" -cJf "$carry/opencv.tar.xz" opencv
fi

# --- Fashion-MNIST: the test set and the first 20000 training items ----------------------------
if [ ! -f "$carry/fashion-mnist/train-labels-idx1-ubyte.gz" ]; then
  mkdir -p "$carry/fashion-mnist"
  cp "$fm"/t10k-*.gz "$carry/fashion-mnist/"
  python3 - "$fm" "$carry/fashion-mnist" 20000 <<'EOF'
import gzip, struct, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for name, header in (("train-images-idx3-ubyte.gz", 16), ("train-labels-idx1-ubyte.gz", 8)):
    raw = gzip.open(f"{src}/{name}").read()
    item = (len(raw) - header) // struct.unpack(">I", raw[4:8])[0]
    out = raw[:4] + struct.pack(">I", n) + raw[8:header] + raw[header:header + n * item]
    with gzip.open(f"{dst}/{name}", "wb") as f:
        f.write(out)
EOF
fi

# --- MoveNet and the photos (plain files: links do not travel) ----------------------------------
mkdir -p "$carry/assets/human/models" "$carry/assets/photos"
cp "$assets"/human/models/movenet-lightning.{json,bin} "$carry/assets/human/models/"
cp -L "$assets"/photos/*.{jpg,png} "$carry/assets/photos/"

# --- torchattacks, when a checkout is named ---------------------------------------------------
if [ -n "${TORCHATTACKS_SRC:-}" ]; then
  rm -rf "$carry/python/torchattacks"
  mkdir -p "$carry/python"
  cp -r "$TORCHATTACKS_SRC/torchattacks" "$carry/python/"
fi

du -sh "$carry" "$carry"/*
size=$(du -sm "$carry" | cut -f1)
if [ "$size" -gt 56 ]; then
  echo "prepare-gpu-carry: $carry is $size MiB; with the tree it must stay under 64 MiB" >&2
  exit 1
fi
if [ -f build/CMakeCache.txt ]; then
  bash scripts/check-libtorch2.sh build
else
  echo "prepare-gpu-carry: no build/ yet, so scripts/check-libtorch2.sh was not run"
fi
