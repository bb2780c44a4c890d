#!/usr/bin/env bash
# Builds foil against a LibTorch other than Debian's, e.g. the CUDA one inside a PyTorch wheel,
# into build-cuda/ (or BUILD_DIR):
#   TORCH_DIR=<site-packages>/torch/share/cmake/Torch bash scripts/build-cuda.sh [TARGET...]
# (CMAKE_ARGS: further -D options, e.g. -DFOIL_BUILD_TESTS=OFF.)
# TORCH_DIR defaults to the torch package of PYTHON (default python3); TORCH_DIR= (empty) lets
# CMake find the system's LibTorch. The other dependencies come from the
# system's -dev packages (CLI11, fmt, nlohmann-json, protobuf with protoc, zlib, GoogleTest for
# the tests). Without libonnx-dev the ONNX classes are generated from Python's onnx package
# (cmake/onnx_proto.cmake). Without OpenCV's development files: the static OpenCV that
# scripts/prepare-gpu-carry.sh builds from Debian's source, named with
# CMAKE_ARGS=-DOpenCV_DIR=<its prefix>/lib/cmake/opencv4 (scripts/gpu-check.sh does so).
# The Python module is left out (it links the libtorch of Debian's python3-torch).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-cuda}
jobs=$(nproc)
python=${PYTHON:-python3}
torch_dir=${TORCH_DIR-$("$python" -c 'import torch, os; print(os.path.join(torch.utils.cmake_prefix_path, "Torch"))')}
args=(-DCMAKE_BUILD_TYPE=Release -DFOIL_PYTHON="$(command -v "$python")"
  -DPython3_EXECUTABLE="$(command -v "$python")" -DFOIL_BUILD_PYTHON=OFF)
[ -n "$torch_dir" ] && args+=(-DTorch_DIR="$torch_dir")
# shellcheck disable=SC2086  # CMAKE_ARGS: extra -D options, split on spaces
cmake -S . -B "$build" "${args[@]}" ${CMAKE_ARGS:-} >/dev/null
if [ $# -gt 0 ]; then
  cmake --build "$build" -j"$jobs" --target "$@"
else
  cmake --build "$build" -j"$jobs"
fi
