#!/usr/bin/env bash
# The source documents' claims re-measured on the real models of the platform (an experiment,
# not part of the test suite; about an hour on 2 cores with the defaults):
#   001 (printable patches that cheat detectors): vanish patches on the people (anywhere and on
#       the person's box) and appear patches (a dog where there is none) on CenterNet,
#       evaluated on CenterNet and NanoDet; Grad-CAM of the patched detections and their
#       correlation with the map of a real dog photo
#   000 (OT patches transfer across architectures): ce/feature/ot patches on the gender
#       classifiers (mini-Xception, SSR-Net, GEAR) on held-out faces (BlazeFace crops of the
#       photos + skimage's LFW faces), on the nsfwjs trio (target "Drawing") and on the two
#       COCO detectors (vanish person); tSuc matrices with the clean baseline
#   003 (K-limiting attacks on 3-D pose): KAA vs KAA+ER tables on BlazePose (Linf and L2,
#       non-target and two target protocols: the pose of photo 0 and of photo 1), 2-D and
#       metric 3-D, with the pose-RMSE vs perturbation-RMSE curve
#   004 (regions of importance vs attack): regions and the neutralisation defence on the
#       emotion, gender and nsfwjs classifiers
# Needs build/ and scripts/fetch-assets.sh.
#   scripts/seeds-on-real-models.sh [OUT] [EPOCHS] [PARTS]   (PARTS: any of 001,000,003,004)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
assets=${FOIL_ASSETS:-$root/assets}
out=${1:-$root/out/seeds-real}
epochs=${2:-40}
parts=${3:-001,000,003,004}
want() { [[ ",$parts," == *",$1,"* ]]; }
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

# Faces: BlazeFace's crops of the photos (score >= 0.75) and the 100 faces of skimage's
# lfw_subset, labelled female/male as the mini-Xception gender model sees them (the photos carry
# no gender labels; tSuc counts only faces not already called the target).
if want 000 && [ ! -d "$data/faces" ]; then
  rm -rf "$data/faces-all" && mkdir -p "$data/faces-all/face" "$data/photos/all"
  node "$root/tools/lfw/faces.js" "$skimage/lfw_subset.npy" "$data/faces-all/face"
  for f in "$assets"/photos/*.jpg "$assets"/photos/*.png "$darknet/person.jpg"; do
    ln -sf "$f" "$data/photos/all/"
  done
  "$foil" predict --model "$models/blazeface.json" --data "$data/photos" --min-score 0.75 \
    --show 0 --crops "$data/crops"
  cp "$data"/crops/*.png "$data/faces-all/face/"
  "$foil" predict --model "$models/gender.json" --data "$data/faces-all" --show 0 \
    --json "$data/faces-all.json" >/dev/null
  node -e '
    const fs = require("fs"), path = require("path");
    const [json, dir, out] = process.argv.slice(1);
    const files = fs.readdirSync(dir).sort();
    const items = JSON.parse(fs.readFileSync(json)).items;
    items.forEach((it, i) => {
      const cls = path.join(out, it.top[0].name);
      fs.mkdirSync(cls, { recursive: true });
      fs.symlinkSync(path.join(dir, files[i]), path.join(cls, files[i]));
    });' "$data/faces-all.json" "$data/faces-all/face" "$data/faces"
fi
# Scenes without a dog (for "appear dog") and a real dog photo as the Grad-CAM reference.
mkdir -p "$data/no-dog/dog"
for f in eagle.jpg giraffe.jpg kite.jpg horses.jpg person.jpg; do ln -sf "$darknet/$f" "$data/no-dog/dog/"; done
for f in chelsea.png coffee.png rocket.jpg motorcycle_left.png; do
  [ -f "$skimage/$f" ] && ln -sf "$skimage/$f" "$data/no-dog/dog/"
done

run() {
  echo "+ foil $*" | tee -a "$out/commands.txt"
  "$foil" "$@"
}

if want 001; then
echo "== 001: patches against detectors (CenterNet trains; CenterNet and NanoDet evaluate)"
for place in anywhere on-object; do
  extra=""; [ "$place" = on-object ] && extra="--on-object 0.5"
  run patch train --task detect --class person --loss vanish --model "$models/centernet.json" \
    --data "$data/people" --eval-on-train --epochs "$epochs" --batch 5 --area 0.1 --eot $extra \
    --out "$out/001-vanish-person-$place"
  run patch eval --task detect --class person --model "$models/centernet.json" \
    --model "$models/nanodet.json" --data "$data/people" \
    --patch "$out/001-vanish-person-$place/patch.pt" --area 0.1 --repeats 10 $extra \
    --json "$out/001-vanish-person-$place.json" --draw "$out/001-vanish-person-$place.png"
done
run patch train --task detect --class dog --loss appear --model "$models/centernet.json" \
  --data "$data/no-dog" --eval-on-train --epochs "$epochs" --batch 5 --area 0.1 --eot \
  --out "$out/001-appear-dog"
run patch eval --task detect --class dog --model "$models/centernet.json" \
  --model "$models/nanodet.json" --data "$data/no-dog" --patch "$out/001-appear-dog/patch.pt" \
  --area 0.1 --repeats 10 --json "$out/001-appear-dog.json" --draw "$out/001-appear-dog.png"
run explain --model "$models/centernet.json" --data "$data/no-dog" --class dog \
  --patch "$out/001-appear-dog/patch.pt" --reference "$darknet/dog.jpg" \
  --out "$out/001-appear-dog-gradcam"
fi

if want 000; then
echo "== 000: ce / feature / OT patch transfer across real architectures"
# HSE faceres is a face-descriptor model with a gender sigmoid among its outputs: a sidecar
# makes that head a two-class classifier (the weights are copied: foil reads no shard outside
# a model's folder). GEAR (198x198) and faceres (224x224) cost ~20x the 64x64 models;
# FACE_MODELS="gender gender-ssrnet-imdb" runs the fast pair only.
mkdir -p "$data/faceres"
cp "$models/faceres.json" "$data/faceres/faceres-gender.json"
cp "$models/faceres.bin" "$data/faceres/"
cat > "$data/faceres/faceres-gender.foil.json" <<'JSON'
{"task": "classifier", "scale": 255, "offset": 0, "outputs": ["gender_pred/Sigmoid:0"],
 "probability_output": true, "class_names": ["female", "male"],
 "description": "HSE faceres: its gender head (sigmoid, > 0.5 = male) as a classifier"}
JSON
face_models=()
for m in ${FACE_MODELS:-gender gender-ssrnet-imdb faceres-gender gear}; do
  if [ "$m" = faceres-gender ]; then face_models+=(--model "$data/faceres/$m.json")
  else face_models+=(--model "$models/$m.json"); fi
done
for target in 0 1; do  # female, male
  run patch transfer "${face_models[@]}" --data "$data/faces" --target "$target" --epochs "$epochs" \
    --batch 16 --area 0.1 --eot --repeats 5 --out "$out/000-gender-transfer-$target"
done
run patch transfer --model "$assets/nsfwjs/nsfw-mobilenet-v2.json" \
  --model "$assets/nsfwjs/nsfw-mobilenet-v2-mid.json" --model "$assets/nsfwjs/nsfw-inception-v3.json" \
  --data "$data/neutral" --target 0 --epochs "$epochs" --batch 8 --area 0.15 --eot --repeats 5 \
  --out "$out/000-nsfw-transfer"
run patch transfer --task detect --class person --losses vanish --model "$models/centernet.json" \
  --model "$models/nanodet.json" --data "$data/people" --eval-on-train --epochs "$epochs" \
  --batch 5 --area 0.1 --eot --repeats 5 --out "$out/000-detector-transfer"
fi

if want 003; then
echo "== 003: KAA vs KAA+ER on BlazePose (2-D keypoints and metric 3-D world coordinates)"
for target in 0 1; do  # the target pose: that of photo 0 (messi5) / photo 1 (person)
  run keypoints table --model "$models/blazepose-lite.json" --data "$data/people" \
    --target "item:$target" --linf-eps 0.005,0.01,0.02,0.03 --l2-eps 1,2,5,10 --steps 20 \
    --out "$out/003-blazepose-table-item$target"
done
fi

if want 004; then
echo "== 004: regions of importance vs attack on real classifiers"
run regions --model "$models/emotion.json" --data "$assets/photos/astronaut.png@160,45,130,130" \
  --eps 0.01 --alpha 0.0025 --out "$out/004-emotion"
[ -d "$data/faces" ] && run regions --model "$models/gender.json" --data "$data/faces" \
  --eps 0.01 --alpha 0.0025 --out "$out/004-gender"
run regions --model "$assets/nsfwjs/nsfw-mobilenet-v2.json" --data "$data/neutral" --eps 0.01 \
  --alpha 0.0025 --out "$out/004-nsfw-mobilenet-v2"
for m in emotion gender; do
  data_m="$assets/photos/astronaut.png@160,45,130,130"; [ "$m" = gender ] && data_m="$data/faces"
  [ "$m" = gender ] && [ ! -d "$data/faces" ] && continue
  run defend --model "$models/$m.json" --data "$data_m" --eps 0.01 --alpha 0.0025 \
    --json "$out/004-defend-$m.json"
done
fi

echo "results in $out (commands in $out/commands.txt)"
