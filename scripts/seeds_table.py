"""The tables of docs/seeds.md from a scripts/seeds-at-scale.sh folder: for each classifier patch
mode, each model and each held-out set, accuracy against the clean prediction clean, with a
random patch of the same form and with the trained patch (mean and spread over the seeds), tSuc
for targeted patches; 000's transfer matrices (tSuc of each objective's patch from each source
on each model, clean and random patch beside them, spread over the seeds); for the person-vanish
patch (one on the best person, and one on each person), the share of the clean person boxes each
detector still finds (all of them, and the one the patch sits on); and the compute each run took.

Usage: seeds_table.py OUT
"""
import glob
import json
import os
import statistics
import sys


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    mean = 100 * statistics.mean(values)
    if len(values) == 1:
        return f"{mean:.1f}%"
    return f"{mean:.1f} ± {100 * statistics.stdev(values):.1f}%"


def main():
    out = sys.argv[1]
    settings = dict(line.split(" ", 1) for line in open(os.path.join(out, "settings.txt")).read()
                    .splitlines())
    print(f"Training frames `{settings['train']}`, held out `{settings['held']}`, other clip "
          f"`{settings['other']}`; {settings['epochs']} epochs; seeds {settings['seeds']}.\n")
    for mode in ("untargeted", "target0"):
        runs = sorted(glob.glob(os.path.join(out, f"001-{mode}-seed*")))
        runs = [r for r in runs if os.path.isdir(r) and os.path.exists(f"{r}/summary.json")]
        if not runs:
            continue
        summaries = [json.load(open(f"{r}/summary.json")) for r in runs]
        steps = [s["epochs"] * len(s["train_items"] or []) for s in summaries]
        seconds = [int(open(f"{r}/seconds").read()) for r in runs if os.path.exists(f"{r}/seconds")]
        final = [s["epoch_loss"][-1] for s in summaries]
        title = "untargeted" if mode == "untargeted" else "targeted (class 0, Drawing)"
        print(f"### 001, {title}: {len(runs)} seed(s), {steps[0]} image-steps each, "
              f"{statistics.mean(seconds):.0f} s per training run; final epoch loss "
              f"{', '.join(f'{x:.3f}' for x in final)}\n")
        print("| model | data | clean | random patch | trained patch | tSuc (clean already target) |")
        print("|---|---|---|---|---|---|")
        for data in ("held", "other"):
            evals = [json.load(open(f"{r}/eval-{data}.json")) for r in runs
                     if os.path.exists(f"{r}/eval-{data}.json")]
            if not evals:
                continue
            for k, row in enumerate(evals[0]["models"]):
                rows = [e["models"][k] for e in evals]
                tsuc = spread([x["target_success"] for x in rows])
                base = spread([x["clean_target_rate"] for x in rows])
                print(f"| {row['model']} | {settings[data].split(':')[0].split('/')[-1]} "
                      f"{'held-out frames' if data == 'held' else '(other clip)'} "
                      f"| {spread([x['clean_accuracy'] for x in rows])} "
                      f"| {spread([x['random_patch']['patched_accuracy'] for x in rows])} "
                      f"| {spread([x['patched_accuracy'] for x in rows])} "
                      f"| {tsuc if tsuc == '-' else tsuc + ' (' + base + ')'} |")
        print()
    transfer(out, settings)
    vanish(out, settings, "001-vanish-seed*", "one patch on the best person")
    vanish(out, settings, "001-vanish-each-seed*", "the patch on each of the 10 best people")


def transfer(out, settings):
    runs = sorted(r for r in glob.glob(os.path.join(out, "000-transfer-seed*"))
                  if os.path.isdir(r) and os.path.exists(f"{r}/transfer.json"))
    if not runs:
        return
    results = [json.load(open(f"{r}/transfer.json")) for r in runs]
    models = results[0]["models"]
    seconds = [int(open(f"{r}/seconds").read()) for r in runs if os.path.exists(f"{r}/seconds")]
    third = "nsfw-inception-v3.json"
    print(f"### 000, transfer (target class 0, Drawing): {len(runs)} seed(s), "
          f"{settings['epochs_000']} epochs over the {len(results[0]['train_items'])} training "
          f"frames per patch; {statistics.mean(seconds):.0f} s per seed (6 patches); "
          f"feature/OT target images `{settings['target_data']}`\n")
    print("tSuc on the held-out frames (predicted Drawing among frames not clean Drawing); "
          f"{third} was never a source.\n")
    print("| objective | source | " + " | ".join(models + [third]) + " |")
    print("|---|---|" + "---|" * (len(models) + 1))

    def third_eval(run, loss, s):
        path = f"{run}/patch-{loss}-{s}-inception-v3.json"
        return json.load(open(path))["models"][0] if os.path.exists(path) else None

    for loss in results[0]["matrices"]:
        for s, source in enumerate(models):
            cells = [spread([r["matrices"][loss]["tsuc"][s][m] for r in results])
                     for m in range(len(models))]
            evals = [third_eval(run, loss, s) for run in runs]
            cells.append(spread([e["target_success"] if e else None for e in evals]))
            print(f"| {loss} | {source} | " + " | ".join(cells) + " |")
    clean = [spread([r["clean_target_rate"][m] for r in results]) for m in models]
    noise = [spread([r["random_patch"][m] for r in results]) for m in models]
    evals = [third_eval(run, "ce", 0) for run in runs]
    clean.append(spread([e["clean_target_rate"] if e else None for e in evals]))
    noise.append(spread([e["random_patch"]["target_success"] if e else None for e in evals]))
    print("| clean (already Drawing) | - | " + " | ".join(clean) + " |")
    print("| random patch | - | " + " | ".join(noise) + " |")
    print()


def vanish(out, settings, pattern, title):
    runs = sorted(r for r in glob.glob(os.path.join(out, pattern))
                  if os.path.isdir(r) and os.path.exists(f"{r}/summary.json"))
    if not runs:
        return
    summaries = [json.load(open(f"{r}/summary.json")) for r in runs]
    steps = summaries[0]["epochs"] * len(summaries[0]["train_items"] or [])
    seconds = [int(open(f"{r}/seconds").read()) for r in runs if os.path.exists(f"{r}/seconds")]
    losses = ", ".join(f"{s['epoch_loss'][-1]:.3f}" for s in summaries)
    print(f"### 001 (detector) and Thys et al., {title}: person-vanish patch on CenterNet, "
          f"{len(runs)} "
          f"seed(s), {steps} image-steps, {statistics.mean(seconds):.0f} s per training run; "
          f"final epoch loss {losses}\n")
    print(f"Held-out frames `{settings['vanish_held']}`. Boxes: the detector's clean person boxes; "
          "found: a patched person box overlaps it with IoU >= 0.5.\n")
    print("| model | clean person boxes | found, random patch | found, trained patch | "
          "the box under the patch found, random / trained | frames with a person, random / trained |")
    print("|---|---|---|---|---|---|")
    evals = [json.load(open(f"{r}/eval-held.json")) for r in runs
             if os.path.exists(f"{r}/eval-held.json")]
    for k, row in enumerate(evals[0]["models"] if evals else []):
        rows = [e["models"][k] for e in evals]
        print(f"| {row['model']} | {row['clean_boxes']} "
              f"| {spread([x['random_patch']['box_recall'] for x in rows])} "
              f"| {spread([x['box_recall'] for x in rows])} "
              f"| {spread([x['random_patch']['under_patch_recall'] for x in rows])} / "
              f"{spread([x['under_patch_recall'] for x in rows])} "
              f"| {spread([x['random_patch']['patched_detection_rate'] for x in rows])} / "
              f"{spread([x['patched_detection_rate'] for x in rows])} |")
    print()
    for r in runs:
        if os.path.exists(f"{r}/gradcam/explain.json"):
            g = json.load(open(f"{r}/gradcam/explain.json"))
            print(f"Grad-CAM of the person class on {len(g['images'])} held-out frames "
                  f"(`{os.path.basename(r)}/gradcam/overlays.png`): "
                  f"{100 * g['cam_mass_in_patch_same_class']:.1f}% of the patched frames' map "
                  f"inside the patches, {100 * g['cam_mass_in_patch_area_clean']:.1f}% of the "
                  f"clean frames' map in the same places; top-20% region moved "
                  f"{100 * g['top20_moved_mean']:.1f}%.\n")


if __name__ == "__main__":
    main()
