#!/usr/bin/env bash
# foil against PyTorch on one GPU, same run: PGD-10 and APGD-CE on a torchvision resnet18 (random
# weights, batch 256, 224x224), every `foil bench` row (attack steps and patch training against
# the bare forward+backward), and MoveNet's forward+backward on the GPU and on the CPU.
#   bash scripts/bench-gpu.sh [OUT_DIR]     (after scripts/build-cuda.sh; FOIL: the binary)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build-cuda/bench}
foil=${FOIL:-build-cuda/foil}
assets=${FOIL_ASSETS:-assets}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 scripts/bench_torch_gpu.py "$out" 256 10 5
"$foil" --device cuda bench --model "$out/resnet18.pt" --input-shape 3,224,224 \
  --data fashion-mnist:test:256 --batch 256 --steps 10 --repeats 5 --json "$out/foil-resnet18.json"
"$foil" --device cuda bench --batch 250 --steps 10 --repeats 5 --json "$out/foil-cnn.json"
for device in cuda cpu; do
  "$foil" --device $device bench --model-only --model "$assets/human/models/movenet-lightning.json" \
    --data "$assets/photos" --repeats 10 --json "$out/movenet-$device.json"
done
