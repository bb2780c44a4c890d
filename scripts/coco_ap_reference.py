#!/usr/bin/env python3
"""Independent reference for COCO box AP, used to cross-check foil's evaluate_detections.

Usage: python3 coco_ap_reference.py GT.json DETS.json

GT.json is COCO ground truth ({"images": [{"id"}], "annotations": [{"image_id",
"category_id", "bbox": [x, y, w, h], "area"?, "iscrowd"?}], "categories": [{"id", "name"}]})
and DETS.json a COCO results list ([{"image_id", "category_id", "bbox", "score"}]). Prints
one JSON object {"ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large", "ar1", "ar10",
"ar100"}, -1 where a value is undefined (no ground truth that counts).

Written from the COCO detection benchmark's definition (not from its code):
  * IoU of boxes is intersection / union, with no +1 on the sides; against a crowd box it is
    intersection / the detection's own area.
  * A ground-truth box is ignored when it is a crowd or its area (the "area" field, else w*h)
    is outside the area range [lo, hi] (both ends included). Detections use w*h.
  * Per image and category, detections are taken best score first (ties: input order), at
    most 100. At each IoU threshold t a detection is matched to the free box (crowd boxes are
    never used up) of highest IoU >= t among boxes that count, or failing that among ignored
    boxes; equal IoUs go to the box later in the order (boxes that count first, each group in
    input order). Detections matched to an ignored box, and unmatched detections whose area is
    outside the range, are left out.
  * Per category, area range and detection cap (1, 10, 100 per image): the first `cap`
    detections of every image, concatenated in ascending image-id order, stably sorted by
    score, give cumulative TP/FP; precision is made non-increasing from the right and read at
    the recall points 0, 0.01, ..., 1 (first index whose recall is >= the point; 0 when the
    recall is never reached). Recall reached is the last cumulative recall.
  * A category with no ground truth that counts in the range is left out; the summaries are
    means over the remaining values.
"""
import json
import sys

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
CAPS = (1, 10, 100)
AREAS = {"all": (0.0, 1e10), "small": (0.0, 32.0 ** 2), "medium": (32.0 ** 2, 96.0 ** 2),
         "large": (96.0 ** 2, 1e10)}
EPS = np.finfo(np.float64).eps  # COCO divides by tp + fp + eps


def box_iou(det, gt, crowd):
    """IoU of two [x, y, w, h] boxes; over the detection's area when `gt` is a crowd."""
    iw = min(det[0] + det[2], gt[0] + gt[2]) - max(det[0], gt[0])
    if iw <= 0:
        return 0.0
    ih = min(det[1] + det[3], gt[1] + gt[3]) - max(det[1], gt[1])
    if ih <= 0:
        return 0.0
    inter = iw * ih
    det_area = det[2] * det[3]
    denom = det_area if crowd else det_area + gt[2] * gt[3] - inter
    return inter / denom


def outside(area, rng):
    return area < rng[0] or area > rng[1]


def match_one_image(gts, dets, rng):
    """gts: list of (box, area, crowd); dets: list of (box, score), best first, capped.

    Returns (scores, kept[T][D] as +1 TP / 0 FP / -1 left out, number of boxes that count)."""
    # (box, crowd, ignored): boxes that count first, each group in input order
    flagged = [(box, crowd, crowd or outside(area, rng)) for (box, area, crowd) in gts]
    order = [x for x in flagged if not x[2]] + [x for x in flagged if x[2]]
    n_count = sum(1 for x in order if not x[2])
    ious = [[box_iou(d[0], box, crowd) for (box, crowd, _) in order] for d in dets]
    result = []
    for t in IOU_THRESHOLDS:
        thr = min(t, 1 - 1e-10)
        used = [False] * len(order)
        row = []
        for di, d in enumerate(dets):
            chosen = None
            for want_ignored in (False, True):
                best = None
                for gi, (_, crowd, ign) in enumerate(order):
                    if ign != want_ignored or (used[gi] and not crowd):
                        continue
                    v = ious[di][gi]
                    if v >= thr and (best is None or v >= ious[di][best]):
                        best = gi
                if best is not None:
                    chosen = best
                    break
            if chosen is None:
                row.append(-1 if outside(d[0][2] * d[0][3], rng) else 0)
            else:
                used[chosen] = True
                row.append(-1 if order[chosen][2] else 1)
        result.append(row)
    return [d[1] for d in dets], result, n_count


def curve(per_image, cap):
    """Precision at the recall points per threshold, and recall reached; None if no gt counts."""
    n_pos = sum(n for (_, _, n) in per_image)
    if n_pos == 0:
        return None
    scores = np.array([s for (sc, _, _) in per_image for s in sc[:cap]], dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    precisions, recalls = [], []
    for ti in range(len(IOU_THRESHOLDS)):
        flags = np.array([f for (_, rows, _) in per_image for f in rows[ti][:cap]], dtype=np.int64)
        flags = flags[order] if len(flags) else flags
        flags = flags[flags >= 0]
        tp = np.cumsum(flags == 1).astype(np.float64)
        fp = np.cumsum(flags == 0).astype(np.float64)
        rc = tp / n_pos
        pr = tp / (tp + fp + EPS)
        if len(pr):
            pr = np.maximum.accumulate(pr[::-1])[::-1]
        idx = np.searchsorted(rc, RECALL_POINTS, side="left")
        q = np.zeros(len(RECALL_POINTS))
        ok = idx < len(pr)
        q[ok] = pr[idx[ok]]
        precisions.append(q)
        recalls.append(rc[-1] if len(rc) else 0.0)
    return np.array(precisions), np.array(recalls)


def mean_or_undefined(values):
    values = [v for v in values if v > -1]
    return float(np.mean(values)) if values else -1.0


def evaluate(gt_json, dets_json):
    image_ids = sorted({img["id"] for img in gt_json["images"]})
    image_set = set(image_ids)
    cat_ids = sorted({c["id"] for c in gt_json["categories"]})
    gts, dts = {}, {}
    for a in gt_json["annotations"]:
        if a["image_id"] not in image_set or a["category_id"] not in cat_ids:
            continue
        box = [float(v) for v in a["bbox"]]
        area = float(a["area"]) if "area" in a else box[2] * box[3]
        gts.setdefault((a["category_id"], a["image_id"]), []).append(
            (box, area, bool(a.get("iscrowd", 0))))
    for d in dets_json:
        if d["image_id"] not in image_set:
            raise SystemExit("detection of image %r, which the ground truth does not list"
                             % (d["image_id"],))
        if d["category_id"] not in cat_ids:
            continue  # COCO scores only the ground truth's categories
        dts.setdefault((d["category_id"], d["image_id"]), []).append(
            ([float(v) for v in d["bbox"]], float(d["score"])))
    # per image and category: best score first (stable), at most the largest cap
    for key, lst in dts.items():
        order = np.argsort(-np.array([s for (_, s) in lst]), kind="stable")
        dts[key] = [lst[i] for i in order[:max(CAPS)]]

    ap = {name: [] for name in AREAS}
    ap50, ap75 = [], []
    ar = {cap: [] for cap in CAPS}
    i50 = int(np.flatnonzero(IOU_THRESHOLDS == 0.5)[0])
    i75 = int(np.flatnonzero(IOU_THRESHOLDS == 0.75)[0])
    for cat in cat_ids:
        for name, rng in AREAS.items():
            per_image = [match_one_image(gts.get((cat, img), []), dts.get((cat, img), []), rng)
                         for img in image_ids if (cat, img) in gts or (cat, img) in dts]
            for cap in CAPS:
                res = curve(per_image, cap)
                if res is None:
                    continue
                prec, rec = res
                if name == "all":
                    ar[cap].extend(rec.tolist())
                if cap != max(CAPS):
                    continue
                ap[name].extend(prec.ravel().tolist())
                if name == "all":
                    ap50.extend(prec[i50].tolist())
                    ap75.extend(prec[i75].tolist())
    return {
        "ap": mean_or_undefined(ap["all"]),
        "ap50": mean_or_undefined(ap50),
        "ap75": mean_or_undefined(ap75),
        "ap_small": mean_or_undefined(ap["small"]),
        "ap_medium": mean_or_undefined(ap["medium"]),
        "ap_large": mean_or_undefined(ap["large"]),
        "ar1": mean_or_undefined(ar[1]),
        "ar10": mean_or_undefined(ar[10]),
        "ar100": mean_or_undefined(ar[100]),
    }


def main(argv):
    if len(argv) != 3:
        raise SystemExit("usage: coco_ap_reference.py GT.json DETS.json")
    with open(argv[1]) as f:
        gt_json = json.load(f)
    with open(argv[2]) as f:
        dets_json = json.load(f)
    print(json.dumps(evaluate(gt_json, dets_json)))


if __name__ == "__main__":
    main(sys.argv)
