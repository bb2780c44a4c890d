#!/usr/bin/env bash
# Installs what foil needs from Debian packages (the TensorFlow.js model package and reference
# runtime come from npm: scripts/fetch-assets.sh). `--run`: only what building and running foil
# needs (scripts/audit.sh); `--python`: that and what the Python module needs (setup.py); no
# argument: also what the test suite needs; `--fuzz`: also clang.
# Safe to run again: apt-get skips what is already installed. libopenblas0-openmp matters:
# without it LibTorch falls back to the reference BLAS and linear layers run ~20x slower.
# libgloo-dev: the headers of the Gloo backend LibTorch's c10d uses (foil launch, src/distributed).
set -euo pipefail
pkgs=(build-essential cmake ccache pkg-config
      libtorch-dev libopencv-dev libcli11-dev nlohmann-json3-dev libfmt-dev zlib1g-dev
      libopenblas0-openmp libonnx-dev libprotobuf-dev libgloo-dev dataset-fashion-mnist)
# The tests: GoogleTest, fixtures exported by python3-torch, photos, the HTML report's browser
# check, the API docs, openssl for fetch-assets.sh's checksums, and the Python module (built
# with pybind11-dev against python3-torch, tested with pytest).
mode="${1:-}"
case "$mode" in
  --run) ;;
  --python) pkgs+=(python3-torch pybind11-dev) ;;
  *) pkgs+=(libgtest-dev python3-torch python3-torchvision python3-onnx python3-scipy opencv-doc python3-skimage
            darknet openssl chromium doxygen pybind11-dev python3-pytest python3-venv)
     # Node.js and npm (fetch-assets.sh) come with this platform's machines; Debian's are the
     # fallback.
     command -v npm >/dev/null || pkgs+=(nodejs npm) ;;
esac
# scripts/fuzz.sh also needs clang and its libFuzzer runtime.
[ "$mode" = "--fuzz" ] && pkgs+=(clang libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
