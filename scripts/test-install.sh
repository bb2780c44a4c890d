#!/usr/bin/env bash
# foil as a library, as a user gets it: installs the build into a fresh temporary prefix, builds
# examples/embed (a separate CMake project that does find_package(foil)) against it, runs it on
# a trained TorchScript model and checks its robust accuracy against `foil attack` on the same
# model, data and seed; then compiles every installed header on its own (tests/package) and
# the C++ examples of the README's library section and docs/library.md.
# Usage: scripts/test-install.sh BUILD_DIR MODEL.pt
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "$1" && pwd)"
model="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
jobs="$(nproc)"

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -x "$tmp/prefix/bin/foil"
test -f "$tmp/prefix/lib/cmake/foil/foilConfig.cmake"

cmake -S "$root/examples/embed" -B "$tmp/embed" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/embed" -j"$jobs" >/dev/null

data=fashion-mnist:test:48
eps=0.1 version=fast steps=20
"$tmp/embed/embed" "$model" "$data" $eps $version $steps "$tmp/overlay.png" "$tmp/audit" |
  tee "$tmp/embed.txt"
FOIL_PROGRESS=0 "$tmp/prefix/bin/foil" attack --model "$model" --data "$data" --attack autoattack \
  --eps $eps --version $version --steps $steps --json "$tmp/cli.json" >/dev/null
FOIL_PROGRESS=0 "$tmp/prefix/bin/foil" audit --model "$model" --data "$data" --linf-eps $eps \
  --l2-eps 1 --steps $steps --out "$tmp/cli-audit" >/dev/null
test -s "$tmp/overlay.png"
# Bad input to the example: one line on stderr, exit 2.
for bad in "abc $version $steps" "$eps $version x"; do
  rc=0
  # shellcheck disable=SC2086  # $bad: the three arguments
  "$tmp/embed/embed" "$model" "$data" $bad 2>"$tmp/err.txt" >/dev/null || rc=$?
  if [ $rc -ne 2 ] || [ "$(wc -l <"$tmp/err.txt")" -ne 1 ]; then
    echo "test-install: embed $bad: exit $rc, stderr:" >&2
    cat "$tmp/err.txt" >&2
    exit 1
  fi
done
/usr/bin/python3 - "$tmp/embed.txt" "$tmp/cli.json" "$tmp/audit" "$tmp/cli-audit" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
cli = json.load(open(sys.argv[2]))
# The library's audit call writes what `foil audit` writes, with the same numbers.
lib_audit = json.load(open(sys.argv[3] + "/audit.json"))
cli_audit = json.load(open(sys.argv[4] + "/audit.json"))
numbers = lambda a: [(r["norm"], r["eps"], r["clean_accuracy"], r["robust_accuracy"])
                     for r in a["results"]]
assert numbers(lib_audit) == numbers(cli_audit), (numbers(lib_audit), numbers(cli_audit))
assert [c["accuracy"] for c in lib_audit["minimal_norm_curves"]] == \
       [c["accuracy"] for c in cli_audit["minimal_norm_curves"]]
assert re.search(r"audit: autoattack linf  eps 0\.1 ", text), "no audit line in the output"
m = re.search(r"clean accuracy ([\d.]+)%, robust accuracy ([\d.]+)% \(chance 10\.0%\)", text)
assert m, "no accuracy line in the example's output"
clean, robust = float(m.group(1)), float(m.group(2))
want_clean, want_robust = 100 * cli["clean_accuracy"], 100 * cli["robust_accuracy"]
print(f"example: clean {clean}% robust {robust}%; foil attack: clean {want_clean:.1f}% "
      f"robust {want_robust:.1f}%")
assert clean > 50, "the trained model should beat chance by far"
assert robust < clean, "AutoAttack at eps 0.1 should break some of a plain CNN's answers"
assert abs(clean - want_clean) < 0.06 and abs(robust - want_robust) < 0.06, "library != CLI"
assert re.search(r"after apgd-ce\s+robust", text) and re.search(r"after apgd-t\s+robust", text)
assert re.search(r"Grad-CAM at \S+ for class \d+: peak at \(x \d+, y \d+\) of 28x28", text)
PY

# The library examples of the README and docs/library.md, each block in its own scope after the
# names they share.
/usr/bin/python3 - "$root/README.md" "$root/docs/library.md" "$tmp/readme_examples.cpp" <<'PY'
import re, sys
readme = open(sys.argv[1]).read()
section = readme.split("## foil as a C++ library", 1)[1].split("\n## ", 1)[0]
section += open(sys.argv[2]).read()  # docs/library.md: every entry point with an example
blocks = re.findall(r"```cpp\n(.*?)```", section, re.S)
assert len(blocks) >= 6, f"only {len(blocks)} C++ examples in the README's and docs' library pages"
headers = sorted(set(re.findall(r"`(foil/[a-z_/]+\.h)`", section)))
with open(sys.argv[3], "w") as out:
    out.write("".join(f"#include <{h}>\n" for h in headers) + "#include <cstdio>\n")
    out.write("void readme_examples() {\n  std::shared_ptr<foil::Model> model;\n"
              "  foil::Dataset data;\n  torch::Tensor logits, labels;\n")
    out.write("".join("  {\n" + b + "  }\n" for b in blocks) + "}\n")
PY
cmake -S "$root/tests/package" -B "$tmp/headers" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DFOIL_EXTRA_UNITS="$tmp/readme_examples.cpp" >/dev/null
cmake --build "$tmp/headers" -j"$jobs" >/dev/null
echo "test-install: the installed package builds and runs the example; every header and the" \
  "README's examples compile"
