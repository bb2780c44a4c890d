#!/usr/bin/env bash
# Compiles (syntax only) every foil source against a LibTorch 2 API before a GPU machine's
# build does: Debian trixie's libtorch-dev headers (downloaded as a .deb into build-carry/, not
# installed), with the flags of an existing build folder's targets (its unity batches and the
# sources outside them). Catches API drift between Debian's LibTorch 1.13 and the PyTorch
# wheel's (e.g. KinetoEvent::durationUs became durationNs) on the CPU machine.
#   bash scripts/check-libtorch2.sh [BUILD_DIR]      (default: build; scripts/build.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
work=$PWD/build-carry/libtorch2
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian" \
  "trixie main" >"$work/sources.list"
apt=(-o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache")
if ! ls "$work"/libtorch-dev_*.deb >/dev/null 2>&1; then
  apt-get "${apt[@]}" update >/dev/null
  (cd "$work" && apt-get "${apt[@]}" download libtorch-dev >/dev/null 2>&1)
  rm -rf "$work/root"
  dpkg -x "$work"/libtorch-dev_*.deb "$work/root"
fi
inc=$work/root/usr/include
version=LibTorch-$(sed -n 's/^#define TORCH_VERSION_\(MAJOR\|MINOR\|PATCH\) //p' \
  "$inc/torch/csrc/api/include/torch/version.h" | paste -sd.)
echo "checking against the headers of $version"
# One compiler run per unity batch or lone source, with its target's definitions and includes.
jobs=()
for dir in "$build"/CMakeFiles/foil_onnx.dir "$build"/CMakeFiles/foil_lib.dir \
  "$build"/CMakeFiles/foil.dir "$build"/tests/CMakeFiles/foil_tests.dir; do
  [ -f "$dir/flags.make" ] || continue
  flags=$(sed -n 's/^CXX_DEFINES = //p; s/^CXX_INCLUDES = //p' "$dir/flags.make" |
    sed "s|-isystem /usr/include/torch/csrc/api/include|-isystem $inc/torch/csrc/api/include -isystem $inc|" |
    tr '\n' ' ')
  pch=""
  [ -f "$build/CMakeFiles/foil_lib.dir/cmake_pch.hxx" ] && pch="-include $build/CMakeFiles/foil_lib.dir/cmake_pch.hxx"
  [ "$(basename "$dir")" = foil_onnx.dir ] && pch=""
  for src in "$dir"/Unity/*.cxx; do
    [ -f "$src" ] && jobs+=("$flags $pch|$src")
  done
  while IFS= read -r obj; do
    rel=${obj#"$dir"/}
    jobs+=("$flags|$PWD/${rel%.o}")
  done < <(find "$dir" -name '*.cpp.o' ! -path '*/Unity/*')
done
log=$work/errors.log
: >"$log"
printf '%s\n' "${jobs[@]}" | xargs -P"$(nproc)" -I{} bash -c '
  flags=${1%%|*}; src=${1##*|}
  # shellcheck disable=SC2086
  if ! out=$(g++ -std=gnu++17 -fsyntax-only -D_GLIBCXX_USE_CXX11_ABI=1 -I'"$PWD"'/src $flags -isystem /usr/include/opencv4 "$src" 2>&1); then
    printf "%s\n%s\n" "== $src" "$out" >>'"$log"'
  fi' _ {}
if [ -s "$log" ]; then
  grep -E "error|^==" "$log" | head -40
  echo "check-libtorch2: errors against $version (all of them: $log)" >&2
  exit 1
fi
echo "check-libtorch2: ${#jobs[@]} compiler runs, no errors against $version"
