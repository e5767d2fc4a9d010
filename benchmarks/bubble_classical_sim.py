"""The classical track finder on simulated frames: what joining fragments and extending tracks earn.

Runs :func:`pipelines.bubble.readout.find_tracks` (sequential RANSAC, with the settings of
:class:`pipelines.bubble.inference.ClassicalFinder`, which ``benchmarks/bubble_real.py --method ransac``
and ``sciarch bubble detect --method classical`` run) on seeded simulated frames and matches its boxes
one-to-one to the truth boxes (class-agnostic, box IoU 0.5 and 0.3), for four variants of the
post-step :func:`pipelines.bubble.readout.merge_tracks`: none, join only, extend only, both (the
default of ``find_tracks``), and the whole :class:`~pipelines.bubble.inference.ClassicalFinder` (both,
then spirals: closed loops among the bubbles left, grouped with the tight tracks they overlap; at
the frame's own resolution, no finer copy). Recall is also given per class (IoU 0.3): spirals
are delta rays. The real-film figures of the same finder are in
``benchmarks/results/bubble_real_labels.json``; this run checks that what helps on the real scan
does not hurt on simulated truth. Writes ``benchmarks/results/bubble_classical_sim.json``.

    python benchmarks/bubble_classical_sim.py [--frames 24] [--size 384] [--seed 11]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "bubble_classical_sim.json"
VARIANTS = {"none": None, "join": dict(join=True, extend=False), "extend": dict(join=False, extend=True),
            "join+extend (default)": dict(join=True, extend=True)}
SPIRALS = "join+extend, then spirals (ClassicalFinder)"


def main(argv=None):
    from tqdm import tqdm

    from pipelines.bubble.inference import ClassicalFinder
    from pipelines.bubble.readout import MERGE_GAP_FACTOR, find_bubbles, find_tracks, merge_tracks
    from pipelines.bubble.real_labels import match_detections
    from pipelines.bubble.simulation import CLASS_NAMES, BubbleChamberSimulator, SimulatorConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--min-tracks", type=int, default=4)
    ap.add_argument("--max-tracks", type=int, default=20)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args(argv)
    t0 = time.time()
    cfg = SimulatorConfig(image_size=(a.size, a.size), tracks_per_image=(a.min_tracks, a.max_tracks), chunk_size=8)
    sample = BubbleChamberSimulator(cfg).generate(a.frames, seed=a.seed)
    names = [*VARIANTS, SPIRALS]
    tot = {k: np.zeros(4, int) for k in names}  # matched@0.5, matched@0.3, truth, detections
    per_class = {k: np.zeros((len(CLASS_NAMES), 2), int) for k in names}  # matched@0.3, truth
    finder = ClassicalFinder()
    merge_gap = MERGE_GAP_FACTOR * finder.finder["max_gap_px"]  # find_tracks' default merge gap
    for i in tqdm(range(a.frames), desc="frames", unit="frame"):
        gt = sample.boxes[i][sample.classes[i] >= 0]
        centres, _ = find_bubbles(sample.images[i].astype(np.float64), **finder.blobs)
        raw = find_tracks(centres, merge_gap_px=0, **finder.finder)
        cls = sample.classes[i][sample.classes[i] >= 0]
        for name in names:
            if name == SPIRALS:
                found = finder.detect_scan(sample.images[i].astype(np.float64))
                det = found["boxes"][:, [1, 0, 3, 2]]
                score = np.array([len(q) for q in found["points"]], np.float64)
            else:
                opts = VARIANTS[name]
                tracks = raw if opts is None else merge_tracks(centres, raw, tol_px=finder.finder["tol_px"], max_gap_px=merge_gap, **opts)
                det = np.array([t["box_xyxy"] for t in tracks], np.float64).reshape(-1, 4)
                score = np.array([len(t["indices"]) for t in tracks], np.float64)
            m30 = match_detections(gt, det, 0.3, score)
            tot[name] += [match_detections(gt, det, 0.5, score)["n_matched"], m30["n_matched"], len(gt), len(det)]
            hit = np.asarray(m30["found"], bool)
            for c in range(len(CLASS_NAMES)):
                per_class[name][c] += [int(hit[cls == c].sum()), int((cls == c).sum())]
    res = {name: {"iou50": {"recall": m50 / max(g, 1), "precision": m50 / max(d, 1)},
                  "iou30": {"recall": m30 / max(g, 1), "precision": m30 / max(d, 1)}, "n_truth": int(g), "n_detections": int(d),
                  "recall_iou30_by_class": {c: {"recall": round(float(h / max(n, 1)), 4), "n_truth": int(n)}
                                            for c, (h, n) in zip(CLASS_NAMES, per_class[name])}}
           for name, (m50, m30, g, d) in tot.items()}
    doc = {"frames": a.frames, "size": a.size, "tracks_per_image": [a.min_tracks, a.max_tracks], "seed": a.seed,
           "finder": {**finder.blobs, **finder.finder}, "merge_gap_px": merge_gap, "seconds": round(time.time() - t0, 1), "variants": res,
           "command": f"python benchmarks/bubble_classical_sim.py --frames {a.frames} --size {a.size} --seed {a.seed}"}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=1))
    for name, r in res.items():
        print(f"{name:24s} IoU0.5 R {r['iou50']['recall']:.3f} P {r['iou50']['precision']:.3f}   "
              f"IoU0.3 R {r['iou30']['recall']:.3f} P {r['iou30']['precision']:.3f}   ({r['n_detections']} boxes)")


if __name__ == "__main__":
    main()
