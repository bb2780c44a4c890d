#!/usr/bin/env bash
# The source documents' claims re-measured on the real models of the platform (an experiment,
# not part of the test suite; about an hour on 2 cores with the defaults):
#   001 (printable patches that cheat detectors): vanish/appear patches on CenterNet, evaluated
#       on CenterNet and NanoDet (detection rates clean vs patched)
#   000 (OT patches transfer across architectures): ce/feature/ot patches on the nsfwjs trio
#       (MobileNetV2 layers, MobileNetV2 graph, InceptionV3), target "Drawing", tSuc matrices
#   003 (K-limiting attacks on 3-D pose): KAA vs KAA+ER table on BlazePose, 2-D and metric 3-D
#   004 (regions of importance vs attack): regions on the emotion and nsfwjs classifiers
# Needs build/ and scripts/fetch-assets.sh.   scripts/seeds-on-real-models.sh [OUT] [EPOCHS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
assets=${FOIL_ASSETS:-$root/assets}
out=${1:-$root/out/seeds-real}
epochs=${2:-40}
foil="$root/build/foil"
models="$assets/human/models"
skimage=/usr/lib/python3/dist-packages/skimage/data
darknet=/usr/share/darknet/data
mkdir -p "$out"
export FOIL_PROGRESS=0

# Photo folders (one sub-folder per class, named as the models name their classes).
data="$out/data"
mkdir -p "$data/people/person" "$data/neutral/Neutral" "$data/neutral/Drawing"
for f in person.jpg horses.jpg; do ln -sf "$darknet/$f" "$data/people/person/"; done
for f in messi5.jpg basketball1.png astronaut.png; do ln -sf "$assets/photos/$f" "$data/people/person/"; done
for pair in dog:dog bird:eagle giraffe:giraffe kite:kite; do  # COCO class : darknet photo
  mkdir -p "$data/scenes/${pair%%:*}"
  ln -sf "$darknet/${pair#*:}.jpg" "$data/scenes/${pair%%:*}/"
done
# The only drawings/paintings here: Munch's Scream (darknet) and skimage's logo.
ln -sf "$darknet/scream.jpg" "$data/neutral/Drawing/"
[ -f "$skimage/logo.png" ] && ln -sf "$skimage/logo.png" "$data/neutral/Drawing/"
for f in chelsea.png coffee.png rocket.jpg motorcycle_left.png astronaut.png camera.png \
         hubble_deep_field.jpg; do
  [ -f "$skimage/$f" ] && ln -sf "$skimage/$f" "$data/neutral/Neutral/"
done
for f in dog.jpg eagle.jpg giraffe.jpg horses.jpg kite.jpg person.jpg; do
  ln -sf "$darknet/$f" "$data/neutral/Neutral/"
done

run() {
  echo "+ foil $*" | tee -a "$out/commands.txt"
  "$foil" "$@"
}

echo "== 001: patches against detectors (CenterNet trains; CenterNet and NanoDet evaluate)"
run patch train --task detect --class person --loss vanish --model "$models/centernet.json" \
  --data "$data/people" --eval-on-train --epochs "$epochs" --batch 5 --area 0.1 --eot \
  --out "$out/001-vanish-person"
run patch eval --task detect --class person --model "$models/centernet.json" \
  --model "$models/nanodet.json" --data "$data/people" --patch "$out/001-vanish-person/patch.pt" \
  --area 0.1 --repeats 10 --json "$out/001-vanish-person.json" --draw "$out/001-vanish-person.png"
run patch train --task detect --class "stop sign" --loss appear --model "$models/centernet.json" \
  --data "$data/scenes" --eval-on-train --epochs "$epochs" --batch 4 --area 0.1 --eot \
  --out "$out/001-appear-stop-sign"
run patch eval --task detect --class "stop sign" --model "$models/centernet.json" \
  --model "$models/nanodet.json" --data "$data/scenes" \
  --patch "$out/001-appear-stop-sign/patch.pt" --area 0.1 --repeats 10 \
  --json "$out/001-appear-stop-sign.json" --draw "$out/001-appear-stop-sign.png"

echo "== 000: ce / feature / OT patch transfer across the nsfwjs architectures (target Drawing)"
run patch transfer --model "$assets/nsfwjs/nsfw-mobilenet-v2.json" \
  --model "$assets/nsfwjs/nsfw-mobilenet-v2-mid.json" --model "$assets/nsfwjs/nsfw-inception-v3.json" \
  --data "$data/neutral" --target 0 --epochs "$epochs" --batch 8 --area 0.15 --eot --repeats 5 \
  --out "$out/000-nsfw-transfer"

echo "== 003: KAA vs KAA+ER on BlazePose (2-D keypoints and metric 3-D world coordinates)"
run keypoints table --model "$models/blazepose-lite.json" --data "$data/people" \
  --target item:0 --linf-eps 0.01,0.03 --l2-eps 2,5 --steps 20 --out "$out/003-blazepose-table"

echo "== 004: regions of importance vs attack on real classifiers"
run regions --model "$models/emotion.json" --data "$assets/photos/astronaut.png@160,45,130,130" \
  --eps 0.01 --alpha 0.0025 --out "$out/004-emotion"
run regions --model "$assets/nsfwjs/nsfw-mobilenet-v2.json" --data "$data/neutral" --eps 0.01 \
  --alpha 0.0025 --out "$out/004-nsfw-mobilenet-v2"

echo "results in $out (commands in $out/commands.txt)"
