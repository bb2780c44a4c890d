#!/usr/bin/env bash
# Builds foil against a LibTorch other than Debian's, e.g. the CUDA one inside a PyTorch wheel,
# into build-cuda/ (or BUILD_DIR):
#   TORCH_DIR=<site-packages>/torch/share/cmake/Torch bash scripts/build-cuda.sh [TARGET...]
# (CMAKE_ARGS: further -D options, e.g. -DFOIL_BUILD_TESTS=OFF.)
# TORCH_DIR defaults to the torch package of `python3`. The other dependencies come from the
# system's -dev packages (CLI11, fmt, nlohmann-json, protobuf with protoc, zlib, GoogleTest for
# the tests). Without libonnx-dev the ONNX classes are generated from Python's onnx package
# (cmake/onnx_proto.cmake). Without OpenCV's development files, OPENCV_SRC=<OpenCV source tree>
# builds its core, imgproc and imgcodecs modules first (system libpng/libjpeg, nothing else).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-cuda}
jobs=$(nproc)
torch_dir=${TORCH_DIR:-$(python3 -c 'import torch, os; print(os.path.join(torch.utils.cmake_prefix_path, "Torch"))')}
args=(-DTorch_DIR="$torch_dir" -DCMAKE_BUILD_TYPE=Release -DFOIL_PYTHON="$(command -v python3)")
if [ -n "${OPENCV_SRC:-}" ]; then
  prefix=$PWD/$build/opencv
  if [ ! -f "$prefix/lib/cmake/opencv4/OpenCVConfig.cmake" ]; then
    cmake -S "$OPENCV_SRC" -B "$build/opencv-build" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_INSTALL_PREFIX="$prefix" -DBUILD_LIST=core,imgproc,imgcodecs \
      -DBUILD_TESTS=OFF -DBUILD_PERF_TESTS=OFF -DBUILD_EXAMPLES=OFF -DBUILD_opencv_apps=OFF \
      -DBUILD_JAVA=OFF -DBUILD_opencv_python3=OFF -DBUILD_DOCS=OFF -DOPENCV_GENERATE_PKGCONFIG=OFF \
      -DBUILD_PNG=OFF -DBUILD_JPEG=OFF -DBUILD_ZLIB=OFF -DWITH_QUIRC=OFF -DWITH_IPP=OFF \
      -DWITH_ITT=OFF -DWITH_OPENCL=OFF -DWITH_CUDA=OFF -DWITH_EIGEN=OFF -DWITH_LAPACK=OFF \
      -DWITH_PROTOBUF=OFF -DWITH_FFMPEG=OFF -DWITH_GTK=OFF -DWITH_QT=OFF -DWITH_ADE=OFF \
      -DWITH_V4L=OFF -DWITH_1394=OFF -DWITH_GSTREAMER=OFF -DWITH_TBB=OFF -DWITH_TIFF=OFF \
      -DWITH_WEBP=OFF -DWITH_OPENEXR=OFF -DWITH_JASPER=OFF -DWITH_OPENJPEG=OFF -DWITH_VA=OFF \
      -DWITH_GDAL=OFF -DWITH_GDCM=OFF -DWITH_AVIF=OFF -DWITH_VTK=OFF >/dev/null
    cmake --build "$build/opencv-build" -j"$jobs" --target install >/dev/null
  fi
  args+=(-DOpenCV_DIR="$prefix/lib/cmake/opencv4")
fi
# shellcheck disable=SC2086  # CMAKE_ARGS: extra -D options, split on spaces
cmake -S . -B "$build" "${args[@]}" ${CMAKE_ARGS:-} >/dev/null
if [ $# -gt 0 ]; then
  cmake --build "$build" -j"$jobs" --target "$@"
else
  cmake --build "$build" -j"$jobs"
fi
