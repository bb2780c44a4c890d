#!/usr/bin/env bash
# Byte-for-byte before/after for a refactor: the same fixed-seed commands (attack with PGD,
# HopSkipJump, AutoAttack and VMI transfer; audit; explain; regions; certify with smoothing and
# with PatchCleanser; patch train and transfer; keypoints table and attack; corrupt)
# run by two foil binaries, then every file of their results folders compared: JSON with the
# timing keys left out, pages and CSVs with the seconds columns and times masked, every other
# file (PNG, SVG, .pt) byte for byte. Prints each file that differs; exit 1 if any.
#   scripts/compare-builds.sh OLD_FOIL NEW_FOIL [OUT]
# Needs the test fixtures of a build (build/tests/fixtures/fashion_cnn.pt, models/cnn.foil).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
old=${1:?usage: compare-builds.sh OLD_FOIL NEW_FOIL [OUT]} new=${2:?usage: compare-builds.sh OLD_FOIL NEW_FOIL [OUT]}
out=${3:-$root/out/compare-builds}
fixtures=$root/build/tests/fixtures
cnn=$fixtures/fashion_cnn.pt
m=(--model "$cnn")
run() {  # run NAME ARGS...: both binaries, each into its own results folder
  local name=$1
  shift
  for side in old new; do
    local foil=$new
    [ $side = old ] && foil=$old
    rm -rf "${out:?}/$side/$name"
    mkdir -p "$out/$side" "$out/logs"
    FOIL_PROGRESS=0 "$foil" --threads 2 --seed 3 "$@" --out "$out/$side/$name" \
      >"$out/logs/$side-$name.txt" 2>&1 ||
      { echo "$side $name failed: $out/logs/$side-$name.txt" >&2; exit 1; }
  done
}
run attack-pgd attack "${m[@]}" --data fashion-mnist:test:100 --attack pgd --eps 0.1 --steps 10
run attack-hsj attack "${m[@]}" --data fashion-mnist:test:20 --access labels \
  --attack hopskipjump --norm l2 --eps 2 --max-queries 300
run attack-aa attack "${m[@]}" --data fashion-mnist:test:40 --attack autoattack --eps 0.1 \
  --steps 10 --max-queries 100
run attack-vmi attack --model "$root/build/tests/models/cnn.foil" --data fashion-mnist:test:40 \
  --attack vmi-fgsm --surrogate "$cnn" --eps 0.1
run audit audit "${m[@]}" --data fashion-mnist:test:60 --corruptions none --steps 10
run explain explain "${m[@]}" --data fashion-mnist:test:8 --attacked --eps 0.1 --steps 5
run certify certify "${m[@]}" --data fashion-mnist:test:10 --n0 20 --n 200 --attack-steps 3 \
  --attack-samples 2
run patch-train patch train "${m[@]}" --data fashion-mnist:train:200 \
  --eval-data fashion-mnist:test:50 --epochs 1 --target 3
run patch-transfer patch transfer "${m[@]}" --model "$cnn" --data fashion-mnist:train:100 \
  --eval-data fashion-mnist:test:30 --epochs 1 --target 3
run certify-patch certify "${m[@]}" --data fashion-mnist:test:6 --patch 0.05 --masks 3 \
  --per-image-steps 2 --positions 2 --attack-epochs 0
run keypoints-table keypoints table --model "$root/build/tests/models/posenet.foil" \
  --data pose:test:4 --linf-eps 0.02 --l2-eps 1 --steps 2
run keypoints-attack keypoints attack --model "$root/build/tests/models/posenet.foil" \
  --data pose:test:4 --steps 2 --target shift:3,3
run corrupt corrupt --data fashion-mnist:test:4 --corruptions fog,gaussian_noise --severities 2
run regions regions "${m[@]}" --data fashion-mnist:test:20 --steps 3 --panels 2
/usr/bin/python3 - "$out" <<'PY'
import filecmp, json, os, re, sys
out = sys.argv[1]
timing = re.compile(r"second|finished|foil_version|command", re.I)
def strip(j):
    if isinstance(j, dict):
        return {k: strip(v) for k, v in j.items() if not timing.search(k)}
    return [strip(v) for v in j] if isinstance(j, list) else j
def masked(path, side):
    text = open(path, errors="replace").read().replace(f"{out}/{side}", "OUT")
    text = re.sub(r"\d{4}-\d\d-\d\dT[\d:]+Z", "DATE", text)
    if path.endswith(".csv"):  # the seconds column
        rows = [r.split(",") for r in text.splitlines()]
        cols = [i for i, h in enumerate(rows[0]) if "second" in h] if rows else []
        text = "\n".join(",".join("S" if i in cols else c for i, c in enumerate(r)) for r in rows)
    # A page's timings: a value cell or card followed by a seconds label or under a seconds
    # column are masked by masking every number that sits in a cell next to "second".
    text = re.sub(r'(<div class="value">)[\d.]+(</div><div class="label">[^<]*seconds)', r"\1S\2",
                  text)
    text = re.sub(r"[\d.]+ s in all; [\d.]+ s in", "S", text)
    text = re.sub(r"(<th>[^<]*seconds[^<]*</th><td>)[^<]*(</td>)", r"\1S\2", text)
    return text
def page_rows(text):
    """Table cells in columns whose heading holds "seconds" masked."""
    out_rows = []
    for table in re.split(r"(?=<table)", text):
        heads = re.findall(r"<th>(.*?)</th>", table)
        cols = [i for i, h in enumerate(heads) if "seconds" in h]
        def row(m):
            cells = re.findall(r"<td>(.*?)</td>", m.group(0))
            return "<tr>" + "".join("<td>S</td>" if i in cols else f"<td>{c}</td>"
                                     for i, c in enumerate(cells)) + "</tr>"
        out_rows.append(re.sub(r"<tr>(?:<td>.*?</td>)+</tr>", row, table) if cols else table)
    return "".join(out_rows)
same, differ = 0, []
for base, _, files in os.walk(os.path.join(out, "old")):
    for f in files:
        a = os.path.join(base, f)
        b = a.replace(os.path.join(out, "old"), os.path.join(out, "new"), 1)
        if not os.path.exists(b):
            differ.append(b + " (missing)")
        elif f.endswith(".json"):
            (same := same + 1) if strip(json.load(open(a))) == strip(json.load(open(b))) \
                else differ.append(a)
        elif f.endswith((".html", ".csv")):
            ta, tb = page_rows(masked(a, "old")), page_rows(masked(b, "new"))
            (same := same + 1) if ta == tb else differ.append(a)
        elif filecmp.cmp(a, b, shallow=False):
            same += 1
        else:
            differ.append(a)
for d in differ:
    print("differs:", d)
print(f"compare-builds: {same} files the same (timings aside), {len(differ)} differ")
sys.exit(1 if differ else 0)
PY
