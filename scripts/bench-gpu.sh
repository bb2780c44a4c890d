#!/usr/bin/env bash
# foil against PyTorch on one GPU, same run (scripts/gpu-check.sh runs it and reports ratios):
#   - PGD-10 and APGD-CE per step on a torchvision resnet18 (random weights, batch 256,
#     224x224): PyTorch's eager loops (scripts/bench_torch_gpu.py, which also times the traced
#     model foil loads) against `foil bench` on that traced model, which also times patch
#     training (with and without EOT) against its bare pass, with --profile;
#   - AutoAttack (standard, Linf 0.1) as a whole process on 1000 32x32 items of a ResNet-18
#     trained there (scripts/bench_autoattack_gpu.py): foil against torchattacks when it imports,
#     and against the PyTorch APGD-CE loop (AutoAttack's first stage);
#   - `foil bench` rows on a Fashion-MNIST CNN (default: every row on the built-in CNN;
#     CNN_ARGS: other flags, e.g. --model and --only), and MoveNet's forward+backward on the
#     device and on the CPU.
#   bash scripts/bench-gpu.sh [OUT_DIR]      (after scripts/build-cuda.sh; FOIL: the binary)
# Sizes (the dry run makes them tiny): DEVICE=cuda SIZE=224 BATCH=256 STEPS=10 REPEATS=5
# AA_ITEMS=1000 AA_TRAIN_STEPS=400 AA_TRAIN_BATCH=256 AA_FOIL_ARGS= CNN_ARGS=; PYTHON: the
# interpreter with torch and torchvision.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build-cuda/bench}
foil=$(realpath "${FOIL:-build-cuda/foil}")
assets=${FOIL_ASSETS:-assets}
python=${PYTHON:-python3}
device=${DEVICE:-cuda}
size=${SIZE:-224}
batch=${BATCH:-256}
steps=${STEPS:-10}
repeats=${REPEATS:-5}
aa_items=${AA_ITEMS:-1000}
mkdir -p "$out"
# PGD-10, APGD-CE: PyTorch's loops, then foil's on the same traced weights and batch.
"$python" scripts/bench_torch_gpu.py "$out" "$batch" "$steps" "$repeats" "$device" "$size"
"$foil" --device "$device" bench --model "$out/resnet18.pt" --input-shape "3,$size,$size" \
  --data "fashion-mnist:test:$batch" --batch "$batch" --steps "$steps" --repeats "$repeats" \
  --only pgd-linf,apgd-ce-linf,patch-ce,patch-ce+eot --profile --json "$out/foil-resnet18.json"
# AutoAttack, whole processes (foil's start-up and model load included).
"$python" scripts/bench_autoattack_gpu.py "$out" "$device" "$aa_items" 0.1 \
  "${AA_TRAIN_STEPS:-400}" "${AA_TRAIN_BATCH:-256}"
start=$(date +%s%N)
# shellcheck disable=SC2086  # AA_FOIL_ARGS: extra flags, split on spaces
"$foil" --device "$device" attack --model "$out/resnet18-32.pt" --input-shape 3,32,32 \
  --data "fashion-mnist:test:$aa_items" --attack autoattack --eps 0.1 --batch "$aa_items" \
  ${AA_FOIL_ARGS:-} --json "$out/foil-autoattack.json"
echo "{\"seconds\": $((($(date +%s%N) - start) / 1000000))e-3}" >"$out/foil-autoattack-time.json"
# A Fashion-MNIST CNN's rows; MoveNet on the device and on the CPU.
# shellcheck disable=SC2086  # CNN_ARGS: extra flags, split on spaces
"$foil" --device "$device" bench ${CNN_ARGS:---batch 250 --steps 10 --repeats 5} \
  --json "$out/foil-cnn.json"
for d in $(echo "$device cpu" | tr ' ' '\n' | sort -u); do
  "$foil" --device "$d" bench --model-only --model "$assets/human/models/movenet-lightning.json" \
    --data "$assets/photos" --repeats "$repeats" --json "$out/movenet-$d.json"
done
