"""Crowded-scene benchmark: two-stage R-CNN vs one-stage NMS baseline on simulated frames.

Both detectors share the backbone (widths, FPN, normalisation), anchors, per-class NMS,
``max_detections``, training data, batch size, optimizer, learning-rate schedule and number
of steps; they are scored with pycocotools (``maxDets`` 1/100/300) on a density-stratified
test split. Writes ``benchmarks/results/bubble.json`` (after each detector, so a partial
result survives an interrupted run) and ``benchmarks/results/bubble_recall_vs_density.png``.

Targets (from the project issue): on frames with >= 40 tracks the two-stage detector's
class-agnostic recall at IoU 0.5 is >= 5 points above the one-stage baseline; AP50 >= 0.8.

Usage::

    python benchmarks/bubble.py [--steps 1600] [--size 128] [--n-train 1024] [--n-test 96]

``--nms-sweep 0.5,0.6,0.7`` also picks the final NMS IoU of each detector on the validation frames
(``--n-val`` of them; never the test frames) and scores the test split again at the chosen value;
``--rpn-nms-sweep 0.7,0.9`` adds the two-stage detector's proposal NMS IoU to that grid (the pair
with the best validation AP50 is chosen). Crowded frames hold many near-parallel tracks whose boxes
overlap each other (a third of the test boxes have another true box at IoU > 0.5), so a 0.5 NMS
suppresses true detections, and a 0.7 proposal NMS drops proposals before the head sees them.

``--steps 0 --init MODEL.keras`` trains nothing: it scores the saved detector (and sweeps).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import keras
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pipelines.bubble  # noqa: E402,F401
from pipelines.bubble.data import detection_arrays, make_dataset  # noqa: E402
from pipelines.bubble.model import build_detector  # noqa: E402
from pipelines.bubble.pipeline import BubbleConfig, BubblePipeline  # noqa: E402
from pipelines.bubble.report import plot_recall_vs_density  # noqa: E402
from pipelines.bubble.simulation import CLASS_NAMES  # noqa: E402
from sciarch.config import validate  # noqa: E402

OUT = ROOT / "benchmarks" / "results"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1600, help="training steps per detector (same for both)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--size", type=int, default=128, help="frame side in pixels")
    ap.add_argument("--n-train", type=int, default=1024)
    ap.add_argument("--n-test", type=int, default=96)
    ap.add_argument("--n-val", type=int, default=8, help="validation frames (the NMS sweep scores these)")
    ap.add_argument("--detectors", default="two_stage,one_stage")
    ap.add_argument("--nms-sweep", default="", help="comma list of final NMS IoUs to choose from on validation")
    ap.add_argument("--rpn-nms-sweep", default="",
                    help="comma list of proposal NMS IoUs (two-stage) swept with --nms-sweep on validation")
    ap.add_argument("--init", default="", help="continue from this saved detector (.keras, same architecture)")
    ap.add_argument("--cache", default=str(ROOT / ".cache" / "bubble"))
    ap.add_argument("--out", default=str(OUT / "bubble.json"))
    args = ap.parse_args(argv)
    if args.steps == 0 and not args.init:
        ap.error("--steps 0 scores a saved detector: give it with --init")
    if args.rpn_nms_sweep and not args.nms_sweep:
        ap.error("--rpn-nms-sweep needs --nms-sweep (the final NMS IoUs of the grid)")

    bins = [1, 10, 20, 40, 60, 1000]
    raw = {
        "pipeline": "bubble",
        "seed": 0,
        "data": {
            "image_size": [args.size, args.size], "tracks_per_image": [3, 80], "test_tracks_per_image": [2, 90],
            "n_train": args.n_train, "n_validation": args.n_val, "n_test": args.n_test, "max_boxes": 96,
            "density_bins": bins, "cache_dir": args.cache,
            # same chamber (256 mm across) at lower resolution: pixel scale follows the frame size
            "simulator": {"pixel_mm": 256.0 / args.size},
        },
        "model": {
            "backbone_widths": [16, 24, 32, 48], "fpn_filters": 32, "normalization": "layer", "head_units": 128,
            "rpn_pre_nms_top_n_train": 1000, "rpn_post_nms_top_n_train": 256, "rpn_pre_nms_top_n_test": 1000,
            "rpn_post_nms_top_n_test": 512, "rpn_batch_per_image": 128, "roi_batch_per_image": 64,
            "head_conv_layers": 4, "max_detections": 300, "score_threshold": 0.05, "nms_iou": 0.5,
        },
        "train": {"batch_size": args.batch, "learning_rate": args.lr, "steps_per_epoch": max(1, args.steps)},
    }
    result = {
        "benchmark": "bubble crowded-scene detection: two-stage R-CNN vs one-stage NMS (RetinaNet) baseline",
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "note": "2 CPU cores shared with other jobs; wall times depend on their load"},
        "setup": {"steps": args.steps, "batch_size": args.batch, "learning_rate": args.lr,
                  "schedule": "cosine decay to 5%", "init": args.init or None, "image_size": args.size, "n_train": args.n_train,
                  "n_validation": args.n_val, "n_test": args.n_test, "train_tracks_per_image": [3, 80], "test_tracks_per_image": [2, 90],
                  "density_bins": bins, "max_dets": 300, "classes": list(CLASS_NAMES)},
        "targets": {"recall50_gap_at_>=40_tracks": 0.05, "AP50": 0.8},
        "detectors": {},
    }
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    pipe = None
    for name in args.detectors.split(","):
        raw["model"]["detector"] = name
        cfg = validate(raw, BubbleConfig, source="benchmarks/bubble.py")
        pipe = BubblePipeline(cfg)
        keras.utils.set_random_seed(0)
        model = build_detector(cfg.model, len(CLASS_NAMES), seed=0)
        model.build((None, args.size, args.size, 1))
        if args.init:
            model.load_weights(args.init)
        print(f"[{name}] {model.count_params():,} parameters; training {args.steps} steps", flush=True)
        t = time.perf_counter()
        hist = {"loss": [None]}  # --steps 0: nothing trained
        if args.steps:
            x, boxes, labels = detection_arrays(pipe.sample("train"), cfg.data.max_boxes, "bubble/train")
            ds = make_dataset(x, boxes, labels, args.batch, shuffle=True, seed=0, repeat=True)
            lr = keras.optimizers.schedules.CosineDecay(args.lr, args.steps, alpha=0.05)
            model.compile(optimizer=keras.optimizers.Adam(lr, clipnorm=10.0))
            hist = model.fit(ds, steps_per_epoch=max(1, args.steps // 10), epochs=10, verbose=2).history
        train_s = time.perf_counter() - t
        t = time.perf_counter()
        metrics = pipe.evaluate(model, "test")
        eval_s = time.perf_counter() - t
        result["detectors"][name] = {
            "parameters": int(model.count_params()),
            "train_wall_s": round(train_s, 1),
            "eval_wall_s": round(eval_s, 1),
            "loss_first_epoch": None if hist["loss"][0] is None else float(hist["loss"][0]),
            "loss_last_epoch": None if hist["loss"][-1] is None else float(hist["loss"][-1]),
            "metrics": _rounded(metrics),
        }
        if args.nms_sweep:
            rpn_values = [float(t) for t in args.rpn_nms_sweep.split(",")] if args.rpn_nms_sweep else []
            if not hasattr(model, "rpn_nms_iou"):
                rpn_values = []  # one-stage: no proposals
            sweep = _nms_sweep(pipe, model, [float(t) for t in args.nms_sweep.split(",")], rpn_values)
            default = _nms_of(model)
            if sweep["chosen"] != default:
                _set_nms(model, **sweep["chosen"])
                sweep["test_metrics"] = _rounded(pipe.evaluate(model, "test"))
                _set_nms(model, **default)
            else:
                sweep["test_metrics"] = result["detectors"][name]["metrics"]
            result["detectors"][name]["nms_sweep"] = sweep
        model.save(OUT.parent.parent / ".cache" / "bubble" / f"{out_path.stem}_{name}.keras")
        _summarise(result)
        out_path.write_text(json.dumps(result, indent=1))
        print(json.dumps(result["detectors"][name]["metrics"]), flush=True)
    result["total_wall_s"] = round(time.perf_counter() - t0, 1)
    _summarise(result)
    out_path.write_text(json.dumps(result, indent=1))
    if result["detectors"]:
        fig = plot_recall_vs_density({k: v["metrics"] for k, v in result["detectors"].items()}, bins,
                                     out_path.with_name(f"{out_path.stem}_recall_vs_density.png"))
        result["figure"] = str(fig.relative_to(ROOT)) if fig.is_relative_to(ROOT) else str(fig)
        out_path.write_text(json.dumps(result, indent=1))
    print(json.dumps(result.get("summary", {}), indent=1))


def _rounded(metrics):
    return {k: (round(v, 4) if np.isfinite(v) else None) for k, v in metrics.items()}


def _nms_of(model) -> dict:
    """The detector's NMS settings that the sweep may change."""
    out = {"nms_iou": float(model.nms_iou)}
    if hasattr(model, "rpn_nms_iou"):
        out["rpn_nms_iou"] = float(model.rpn_nms_iou)
    return out


def _set_nms(model, nms_iou, rpn_nms_iou=None):
    """Set the detector's final (and proposal) NMS IoU; the next ``predict`` traces a new function with them."""
    model.nms_iou = float(nms_iou)
    if rpn_nms_iou is not None:
        model.rpn_nms_iou = float(rpn_nms_iou)
    model.predict_function = None
    model.__dict__.pop("_compiled_detect", None)


def _nms_sweep(pipe, model, values, rpn_values=()):
    """Validation AP50 (class-aware, agnostic) at each final NMS IoU (times each proposal NMS IoU
    in ``rpn_values``); the setting with the best class-aware AP50 is chosen."""
    default = _nms_of(model)
    grid = [{"nms_iou": t, **({"rpn_nms_iou": r} if r is not None else {})}
            for r in (rpn_values or [default.get("rpn_nms_iou")]) for t in values]
    val = {}
    for g in grid:
        _set_nms(model, **g)
        key = ",".join(f"{k}={v:g}" for k, v in g.items() if v is not None)
        m = pipe.evaluate(model, "validation")
        val[key] = _rounded({k: m[k] for k in ("AP50", "AP50_agnostic", "recall50")})
        print(f"  {key}: validation {val[key]}", flush=True)
    _set_nms(model, **default)
    keys = list(val)
    best = max(range(len(grid)), key=lambda i: val[keys[i]]["AP50"])
    chosen = {k: v for k, v in grid[best].items() if v is not None}
    return {"split": "validation", "validation": val, "chosen": chosen, "chosen_nms_iou": chosen["nms_iou"]}


def _crowded(metrics, lo=40):
    """Track-weighted recall50 over the bins with >= lo tracks."""
    num = den = 0.0
    for key, v in metrics.items():
        if key.startswith("recall50@") and v is not None:
            a, b = (int(t) for t in key.split("@")[1].split("-"))
            if a >= lo:
                n = metrics.get(f"n_tracks@{a}-{b}") or 0.0
                num += v * n
                den += n
    return num / den if den else None


def _summarise(result):
    det = result["detectors"]
    summary = {}
    for name, d in det.items():
        m = d["metrics"]
        summary[name] = {"AP50": m.get("AP50"), "AP50_agnostic": m.get("AP50_agnostic"), "AR": m.get("AR"),
                         "recall50": m.get("recall50"), "recall50_>=40_tracks": _crowded(m)}
        if "nms_sweep" in d:
            ms = d["nms_sweep"]["test_metrics"]
            summary[name]["at_chosen_nms_iou"] = {**d["nms_sweep"].get("chosen", {"nms_iou": d["nms_sweep"]["chosen_nms_iou"]}),
                                                  "AP50": ms.get("AP50"), "AP50_agnostic": ms.get("AP50_agnostic"),
                                                  "recall50": ms.get("recall50"),
                                                  "recall50_>=40_tracks": _crowded(ms)}
    if "two_stage" in summary and "one_stage" in summary:
        a, b = summary["two_stage"]["recall50_>=40_tracks"], summary["one_stage"]["recall50_>=40_tracks"]
        gap = None if a is None or b is None else a - b
        summary["recall50_gap_>=40_tracks"] = gap
        summary["gap_target_met"] = gap is not None and gap >= 0.05
        summary["AP50_target_met_two_stage"] = (summary["two_stage"]["AP50"] or 0) >= 0.8
        summary["AP50_agnostic_target_met_two_stage"] = (summary["two_stage"]["AP50_agnostic"] or 0) >= 0.8
    result["summary"] = summary


if __name__ == "__main__":
    main()
