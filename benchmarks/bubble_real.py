"""Detector recall / precision on the hand-labelled left half of the real scan.

Runs a trained bubble run (``--model runs/bubble/<run>``) on
``data/bubble/bubble_chamber_photo_left.png`` exactly as ``sciarch bubble detect`` does (resize by
``--scale``, tiles of the training frame size, merge across seams), keeps the detections whose box
centre lies in the labelled region (the left half, x < 984), clips them to it (the labels stop at
its edge) and matches them one-to-one to the 17
labelled tracks (``data/bubble/bubble_chamber_photo_left.labels.json``) at box IoU >= 0.5 and,
more leniently, >= 0.3 (class-agnostic). Writes ``benchmarks/results/bubble_real_labels.json``
(merged by model name) and an overlay PNG of labels (blue) and detections (red / green = matched).

    python benchmarks/bubble_real.py --model runs/bubble/<run> [--scale 0.25] [--score 0.3] [--name quick]
    python benchmarks/bubble_real.py --method ransac [--scale 0.5]    # classical baseline, no training
    python benchmarks/bubble_real.py --method ransac --scale 0.5 --seeds 0,1,2,3,4,5,6,7   # + spread over RANSAC seeds
    python benchmarks/bubble_real.py --method ransac --scale 0.5 --consensus 5 --seeds 0,5,10,15   # majority of 5 runs

``--method ransac``: the classical finder of ``sciarch bubble detect --method classical``
(:class:`pipelines.bubble.inference.ClassicalFinder`, :func:`pipelines.bubble.readout.find_tracks`: dark
blobs of the resized scan, sequential locality-guided RANSAC circles / lines, tolerance 1 px,
gaps up to 45 px, >= 12 bubbles per track; pieces of one track joined and tracks extended along
their circles by :func:`pipelines.bubble.readout.merge_tracks`; the scan's frame edges dropped) -- no
learned model. Each classical track is boxed by its bubbles inside the labelled region.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "data" / "bubble" / "bubble_chamber_photo_left.png"
LABELS = ROOT / "data" / "bubble" / "bubble_chamber_photo_left.labels.json"
OUT = ROOT / "benchmarks" / "results" / "bubble_real_labels.json"


def run_detector(run_dir: Path, scale: float, score: float) -> tuple[np.ndarray, np.ndarray]:
    from sciarch.runs import open_run

    from pipelines.bubble.inference import detect_image, load_grey, resize_scan

    opened = open_run(run_dir, pipeline="bubble")
    net = opened.load_model()
    tile = tuple(int(v) for v in opened.config.data.image_size)
    img, _ = load_grey(IMAGE)
    w0, h0 = img.size
    arr = resize_scan(img, scale)
    det = detect_image(net, arr, tile_size=tile, score_threshold=score)
    yxyx = det["boxes"] / scale
    xyxy = np.stack([yxyx[:, 1], yxyx[:, 0], np.minimum(yxyx[:, 3], w0), np.minimum(yxyx[:, 2], h0)], -1)
    return xyxy, np.asarray(det["scores"])


def run_ransac(scale: float, region, curls: bool = True, seed: int = 0, consensus: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of the classical finder's tracks (``sciarch bubble detect --method classical``), each
    from its bubbles inside ``region`` (x0, y0, x1, y1 of the scan): a track that runs on past the
    labelled region's edge is boxed by its part inside it, as the labels are (clipping its whole
    box instead would keep the y-extent of the part outside). Spirals are boxed as found, clipped."""
    from pipelines.bubble.inference import ClassicalFinder, classical_inputs, load_grey
    from pipelines.bubble.readout import bubble_box

    img, _ = load_grey(IMAGE)
    finder = ClassicalFinder(curls=curls, seed=seed, consensus=consensus)
    arr, fine = classical_inputs(img, scale, finder)
    x0, y0, x1, y1 = (float(v) * scale for v in region)
    boxes, sizes = [], []
    det = finder.detect_scan(arr, fine)
    for q, kind, yxyx in zip(det["points"], det["kinds"], det["boxes"]):
        if kind == "spiral":  # boxed as found (its turns, not only the largest one)
            b = [max(yxyx[1], x0), max(yxyx[0], y0), min(yxyx[3], x1), min(yxyx[2], y1)]
            if b[0] < b[2] and b[1] < b[3]:
                boxes.append(b)
                sizes.append(len(q))
            continue
        q = q[(q[:, 0] >= x0) & (q[:, 0] <= x1) & (q[:, 1] >= y0) & (q[:, 1] <= y1)]
        if len(q) < 2:
            continue  # the track lies outside the labelled region
        boxes.append(bubble_box(q))
        sizes.append(len(q))
    return np.array(boxes, np.float64).reshape(-1, 4) / scale, np.array(sizes, np.float64)


def overlay(labels: dict, det: np.ndarray, matched: np.ndarray, path: Path):
    from PIL import Image, ImageDraw

    r = labels["region"].astype(int)
    im = Image.open(IMAGE).convert("RGB").crop(tuple(r))
    d = ImageDraw.Draw(im)
    for b in labels["boxes"]:
        d.rectangle([float(v) for v in b], outline=(0, 120, 255), width=2)
    for b, ok in zip(det, matched):
        d.rectangle([float(v) for v in b], outline=(0, 200, 0) if ok else (255, 0, 0), width=1)
    im.save(path)


def in_labelled_region(det: np.ndarray, scores: np.ndarray, region) -> tuple[np.ndarray, np.ndarray]:
    """The detections whose box centre lies in the labelled region, clipped to it (labelled tracks
    stop at the region's edge; beams run on into the right half)."""
    from pipelines.bubble.real_labels import in_region

    keep = in_region(det, region)
    det, scores = det[keep], scores[keep]
    r = region
    det = np.stack([np.maximum(det[:, 0], r[0]), np.maximum(det[:, 1], r[1]), np.minimum(det[:, 2], r[2]),
                    np.minimum(det[:, 3], r[3])], -1) if len(det) else det
    return det, scores


def seed_spread(labels: dict, scale: float, seeds: list[int], curls: bool = True, consensus: int = 1) -> dict:
    """Recall / precision of the classical finder at IoU 0.5 and 0.3 for each RANSAC seed, with
    their mean and sd: how much of a figure is the draw of one seed."""
    from pipelines.bubble.real_labels import match_detections

    rows = []
    for s in seeds:
        det, scores = in_labelled_region(*run_ransac(scale, labels["region"], curls=curls, seed=s, consensus=consensus), labels["region"])
        m = {t: match_detections(labels["boxes"], det, t, scores) for t in (0.5, 0.3)}
        rows.append({"seed": s, "n_detections": int(len(det)),
                     **{f"iou{int(t * 100)}": [round(m[t]["recall"], 3), round(m[t]["precision"], 3)] for t in m}})
        print(json.dumps(rows[-1]), flush=True)
    out = {"seeds": seeds, "per_seed": rows}
    for k in ("iou50", "iou30"):
        v = np.array([r[k] for r in rows])
        sd = v.std(0, ddof=1) if len(v) > 1 else np.zeros(2)
        out[k] = {"recall_mean": round(float(v[:, 0].mean()), 3), "recall_sd": round(float(sd[0]), 3),
                  "precision_mean": round(float(v[:, 1].mean()), 3), "precision_sd": round(float(sd[1]), 3)}
    return out


def main(argv=None):
    from pipelines.bubble.real_labels import iou_matrix, load_labels, match_detections

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="run directory (method 'model')")
    ap.add_argument("--method", choices=("model", "ransac"), default="model")
    ap.add_argument("--name", default=None, help="entry name in the JSON (default: the run folder name)")
    ap.add_argument("--scale", type=float, default=0.25)
    ap.add_argument("--score", type=float, default=0.3)
    ap.add_argument("--no-spirals", action="store_true", help="method ransac: tracks only (ClassicalFinder(curls=False))")
    ap.add_argument("--seeds", default="", help="method ransac: also run these finder seeds (comma list) and record "
                    "recall / precision mean and sd over them (the RANSAC search is random; the entry's own figures "
                    "are those of seed 0, the default of sciarch bubble detect)")
    ap.add_argument("--consensus", type=int, default=1, help="method ransac: runs of the search whose majority "
                    "keeps a track (ClassicalFinder(consensus=N), seeds SEED .. SEED+N-1)")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args(argv)
    labels = load_labels(LABELS)
    t0 = time.time()
    if a.method == "model":
        if a.model is None:
            ap.error("--model RUN is required with --method model")
        det, scores = run_detector(a.model, a.scale, a.score)
    else:
        det, scores = run_ransac(a.scale, labels["region"], curls=not a.no_spirals, consensus=a.consensus)
    name = a.name or (a.model.name if a.method == "model" else "ransac_classical" + ("_no_spirals" if a.no_spirals else "")
                      + (f"_consensus{a.consensus}" if a.consensus > 1 else ""))
    det, scores = in_labelled_region(det, scores, labels["region"])
    res = {f"iou{int(t * 100)}": match_detections(labels["boxes"], det, t, scores) for t in (0.5, 0.3)}
    best_iou = iou_matrix(labels["boxes"], det).max(1) if len(det) else np.zeros(len(labels["boxes"]))
    entry = {"method": a.method, "model": str(a.model) if a.model else None, "scale": a.scale, "score_threshold": a.score, "seconds": round(time.time() - t0, 1),
             "n_labels": len(labels["boxes"]), "n_detections_in_region": int(len(det)),
             **{k: {kk: v[kk] for kk in ("recall", "precision", "n_matched")} for k, v in res.items()},
             "per_track_best_iou": {i: round(float(v), 3) for i, v in zip(labels["ids"], best_iou)},
             "command": "python benchmarks/bubble_real.py " + (f"--model {a.model} --score {a.score}" if a.method == "model"
                                                               else "--method ransac" + (" --no-spirals" if a.no_spirals else "")
                                                               + (f" --consensus {a.consensus}" if a.consensus > 1 else "")) + f" --scale {a.scale}"}
    seeds = [int(v) for v in a.seeds.split(",") if v.strip()]
    if seeds and a.method == "ransac":
        entry["seed_spread"] = seed_spread(labels, a.scale, seeds, curls=not a.no_spirals, consensus=a.consensus)
        entry["command"] += f" --seeds {a.seeds}"
    doc = json.loads(a.out.read_text()) if a.out.exists() else {}
    doc.setdefault("labels", str(LABELS.relative_to(ROOT)))
    doc.setdefault("models", {})[name] = entry
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=1))
    matched50 = np.zeros(len(det), bool)
    if len(det):
        m = iou_matrix(det, labels["boxes"])
        matched50 = m.max(1) >= 0.5
    overlay(labels, det, matched50, a.out.with_name(f"bubble_real_labels_{name}.png"))
    print(json.dumps({k: entry[k] for k in ("n_detections_in_region", "iou50", "iou30", "seed_spread") if k in entry},
                     indent=1))


if __name__ == "__main__":
    main()
