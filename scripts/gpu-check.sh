#!/usr/bin/env bash
# foil's GPU check in one command: build against the machine's PyTorch wheel (its LibTorch CMake
# package), run the *_CUDA tests (CPU-vs-GPU agreement among them), time foil against plain
# PyTorch on the same GPU, and write every figure to one JSON.
#
# On the GPU machine (no network; no OpenCV development files), from the repository root:
#   1. here, on the CPU machine, once:  bash scripts/prepare-gpu-carry.sh
#      (TORCHATTACKS_SRC=<checkout of torchattacks> to compare AutoAttack against it too)
#   2. the device tool:  run(command="bash scripts/gpu-check.sh", carry=[".gpu-carry"],
#                            timeout_s=600)
#      what travels: the working tree (~3 MiB) and .gpu-carry/ (~25 MiB): OpenCV's core,
#      imgproc, imgcodecs and videoio built static from Debian's source, Fashion-MNIST (test set,
#      first 20000 training items), MoveNet Lightning and the photos, torchattacks when named.
#      The machine must have: CUDA, python3 with torch/torchvision, CMake, a C++17 compiler,
#      protobuf (protoc, headers), CLI11, fmt, nlohmann-json, GoogleTest; a missing one stops
#      the build (the JSON's build step fails; CMake names it in gpu-check.log).
# Results under $OUT (else build-gpu/out), at most 8 files: gpu-check.json (every figure: the
# environment, each step's status and seconds, the *_CUDA tests, the benchmark's rows with
# their ratios to PyTorch in the same run, and the goals of docs/speed.md), gpu-check.log,
# tests.json (GoogleTest's report), bench.tar.xz (the raw timing JSONs, no models), env.json
# and steps.tsv.
#
# Dry run, on a machine without a GPU (the CTest gpu_check_dry):
#   bash scripts/gpu-check.sh --dry-run [--build-dir DIR]
# runs every step on the CPU with Debian's LibTorch at tiny sizes: the build (reused when DIR
# is already configured), the *_CUDA tests (which skip), the benchmark scripts and the report.
# Exit status: 0 when the build and every test passed and the JSON was written.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
dry=0
build="build-gpu"
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) dry=1 ;;
    --build-dir)
      [ $# -ge 2 ] || { echo "gpu-check: --build-dir needs a folder" >&2; exit 2; }
      build=$2
      shift
      ;;
    *) echo "gpu-check: unknown argument '$1' (--dry-run, --build-dir DIR)" >&2; exit 2 ;;
  esac
  shift
done
out=${OUT:-$build/out}
mkdir -p "$out"
out=$(cd "$out" && pwd)
exec > >(tee "$out/gpu-check.log") 2>&1
steps=$out/steps.tsv
: >"$steps"
# Nothing from an earlier run may pass for this one's.
rm -rf "$out/tests.json" "$out/bench.tar.xz" "$out/gpu-check.json" "$build/bench"
carry=$PWD/.gpu-carry

# The Python with torch: the wheel's on the GPU machine, Debian's python3-torch here.
python=${PYTHON:-}
for p in python3 /usr/bin/python3; do
  [ -z "$python" ] && "$p" -c 'import torch, torchvision' 2>/dev/null && python=$(command -v "$p")
done
if [ -z "$python" ]; then
  echo "gpu-check: no python3 with torch and torchvision" >&2
  exit 2
fi

# step NAME COMMAND...: runs, times and records it (status and seconds in steps.tsv).
step() {
  local name=$1 start rc
  shift
  echo "=== $name: $*"
  start=$(date +%s%N)
  "$@"
  rc=$?
  echo -e "$name\t$rc\t$((($(date +%s%N) - start) / 1000000))" >>"$steps"
  echo "=== $name: exit $rc"
  return $rc
}

if [ $dry = 1 ]; then
  bench_env=(DEVICE=cpu SIZE=64 BATCH=8 STEPS=2 REPEATS=1 AA_ITEMS=16 AA_TRAIN_STEPS=2
    AA_TRAIN_BATCH=16 "AA_FOIL_ARGS=--steps 2 --queries 20"
    "CNN_ARGS=--model $build/tests/models/cnn.foil --only pgd-linf,patch-ce+eot --batch 16 --steps 2 --repeats 1")
else
  # On the tests' trained CNN, the rows the goals and docs/speed.md talk about (all of them
  # take minutes more than the device's call allows).
  bench_env=("CNN_ARGS=--model $build/tests/models/cnn.foil --only pgd-linf,apgd-ce-linf,apgd-t-linf,square-linf,patch-ce+eot,smoothing,explain-gradcam --batch 250 --steps 10 --repeats 5")
fi

# What was carried replaces what the machine lacks (OpenCV also in a dry run that configures a
# fresh build folder, so the carried libraries are checked here too).
cmake_args=(-DFOIL_ONNX_FIXTURES=OFF)
if [ -f "$carry/opencv.tar.xz" ]; then
  mkdir -p "$build"
  [ -d "$build/opencv" ] || tar -C "$build" -xJf "$carry/opencv.tar.xz"
  cmake_args+=(-DOpenCV_DIR="$PWD/$build/opencv/lib/cmake/opencv4")
fi
[ -d "$carry/fashion-mnist" ] && export FOIL_FASHION_MNIST_DIR=$carry/fashion-mnist
[ -d "$carry/assets" ] && [ $dry = 0 ] && export FOIL_ASSETS=$carry/assets
[ -d "$carry/python" ] && [ $dry = 0 ] && export PYTHONPATH=$carry/python${PYTHONPATH:+:$PYTHONPATH}
export FOIL_PROGRESS=0

"$python" - "$out/env.json" "$dry" <<'EOF'
import json, multiprocessing, platform, sys, torch
cuda = torch.cuda.is_available()
json.dump({"dry_run": sys.argv[2] == "1", "torch": torch.__version__, "cuda_available": cuda,
           "gpu": torch.cuda.get_device_name() if cuda else None,
           "cuda_version": torch.version.cuda, "cpus": multiprocessing.cpu_count(),
           "python": platform.python_version(), "machine": platform.platform()},
          open(sys.argv[1], "w"), indent=1)
EOF
cat "$out/env.json"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

build_foil() {
  if [ -f "$build/CMakeCache.txt" ]; then
    cmake --build "$build" -j"$(nproc)" --target foil foil_tests
  else
    local torch_dir=""
    [ $dry = 0 ] && torch_dir=$("$python" -c 'import torch, os; print(os.path.join(torch.utils.cmake_prefix_path, "Torch"))')
    TORCH_DIR=$torch_dir PYTHON=$python BUILD_DIR=$build CMAKE_ARGS="${cmake_args[*]:-}" \
      bash scripts/build-cuda.sh foil foil_tests
  fi
}
# The two models the tests share (tests/CMakeLists.txt's fixtures), when not there yet.
fixtures() {
  [ -f "$build/tests/models/cnn.foil" ] && [ -f "$build/tests/models/posenet.foil" ] && return 0
  ctest --test-dir "$build" -R '^train_fixture_' --output-on-failure
}
cuda_tests() {
  "$build/tests/foil_tests" --gtest_filter='*_CUDA' --gtest_output="json:$out/tests.json"
}
bench() {
  env "${bench_env[@]}" PYTHON="$python" FOIL="$build/foil" bash scripts/bench-gpu.sh "$build/bench"
}

# The JSON is written once the tests have run and again at the end, so a run stopped at the
# device's time limit still brings back the tests' results.
report() { "$python" scripts/gpu_check_report.py "$out" "$build/bench" >/dev/null; }
if step build build_foil; then
  step fixtures fixtures
  step cuda_tests cuda_tests
  report
  step bench bench
  tar -C "$build" -cJf "$out/bench.tar.xz" --exclude='*.pt' bench
fi
"$python" scripts/gpu_check_report.py "$out" "$build/bench"
