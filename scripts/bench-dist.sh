#!/usr/bin/env bash
# One process with all the cores against one process per core (foil launch), same run, same
# jobs: PGD-10 evaluation and data-parallel EOT patch training on Fashion-MNIST with a CNN
# trained here. Wall times (each job twice, alternating), the ratio of the best ones, and for
# patch training its training time alone and the share of it spent in exchanges. Needs build/
# (scripts/build.sh).
#   scripts/bench-dist.sh [PROCESSES] [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-$(nproc)}
out=${2:-$root/out/bench-dist}
mkdir -p "$out"
export FOIL_PROGRESS=0
foil="$root/build/foil"
model="$out/cnn.foil"
[[ -f $model ]] || "$foil" train --arch cnn --epochs 2 --out "$model" >/dev/null
jobs=(
  "pgd|attack --model $model --data fashion-mnist:test:2000 --attack pgd --eps 0.1 --steps 10 --batch 250 --json $out/pgd.json"
  "patch|patch train --model $model --data fashion-mnist:test:10000 --eval-data fashion-mnist:train:100 --epochs 2 --batch 64 --eot --out $out/patch"
)
seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >"$out/last.log" 2>&1; t1=$(date +%s.%N); awk "BEGIN{printf \"%.2f\", $t1 - $t0}"; }
printf '%-6s %22s %22s %8s\n' job "1 x $n threads (s)" "$n x 1 thread (s)" ratio
for job in "${jobs[@]}"; do
  name=${job%%|*}
  args=${job#*|}
  one=() many=()
  for _ in 1 2; do
    # shellcheck disable=SC2086
    one+=("$(seconds "$foil" --threads "$n" $args)")
    cp "$out/last.log" "$out/last-one.log"
    # shellcheck disable=SC2086
    many+=("$(seconds "$foil" launch -n "$n" -- --threads 1 $args)")
    [[ $name == patch ]] && grep -h "trained in" "$out/last-one.log" "$out/last.log" | sed 's/^/    /'
  done
  best_one=$(printf '%s\n' "${one[@]}" | sort -g | head -1)
  best_many=$(printf '%s\n' "${many[@]}" | sort -g | head -1)
  printf '%-6s %22s %22s %8.2f\n' "$name" "${one[*]}" "${many[*]}" \
    "$(awk "BEGIN{print $best_many / $best_one}")"
done
