"""Whole-Guadeloupe risk map at 30 m (``configs/ecorisk/full.yaml``) end to end: time and peak memory.

Stages: stack the 30 m rasters (``load``), cut patches and train the FCN with the configured
loss (``train``), predict the whole island tile by tile (``predict``, with the progress bar),
write the Cloud-Optimized risk GeoTIFF and its PNG (``write``), and score the held-out
blocks at the alert budgets (``test``). Peak memory is the process's maximum resident set
size (``ru_maxrss``) after each stage. Writes ``benchmarks/results/ecorisk_full.json`` and the
map files into ``benchmarks/results/ecorisk_full/``.

Usage::

    nice -n 10 nohup .venv/bin/python benchmarks/ecorisk_full.py [--epochs N] > /tmp/ecorisk_full.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import rasterio  # noqa: E402

from sciarch.config import load_config  # noqa: E402
from pipelines.ecorisk.metrics import risk_metrics  # noqa: E402
from pipelines.ecorisk.pipeline import EcoRiskPipeline  # noqa: E402
from pipelines.ecorisk.report import write_risk_map  # noqa: E402
from pipelines.ecorisk.train import fit_with_loss  # noqa: E402

CONFIG = ROOT / "configs" / "ecorisk" / "full.yaml"
RESULTS = ROOT / "benchmarks" / "results"


def peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    ap.add_argument("--out", default=str(RESULTS / "ecorisk_full.json"))
    args = ap.parse_args(argv)
    cfg = load_config(CONFIG, pipeline="ecorisk")
    if args.epochs:
        cfg.train.epochs = args.epochs
    pipe = EcoRiskPipeline(cfg)
    stages, t_all = {}, time.time()

    def stage(name, fn):
        t0 = time.time()
        out = fn()
        stages[name] = {"s": round(time.time() - t0, 1), "peak_rss_mib": peak_mib()}
        print(f"[{time.time() - t_all:6.0f}s] {name}: {stages[name]}", flush=True)
        return out

    rd = stage("load", pipe.raster)
    model = stage("train", lambda: fit_with_loss(pipe, epochs=cfg.train.epochs, verbose=2))
    stage("predict", lambda: pipe.predict_raster(model, rd))
    out_dir = RESULTS / "ecorisk_full"
    (png,) = stage("write", lambda: write_risk_map(pipe, model, out_dir, cfg.report.dpi))
    risk, t, imp, z = stage("test", lambda: pipe.predict_split(model, "test"))
    with rasterio.open(out_dir / "risk_map.tif") as src:
        cog = {"layout": src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT"), "block_shapes": src.block_shapes,
               "overviews": src.overviews(1), "size": [src.width, src.height],
               "bytes": (out_dir / "risk_map.tif").stat().st_size}
    report = {"benchmark": "ecorisk_full", "config": str(CONFIG.relative_to(ROOT)), "epochs": cfg.train.epochs,
              "grid": {"width": rd.grid.width, "height": rd.grid.height, "forest_pixels": int(rd.valid.sum())},
              "stages": stages, "wall_time_s": round(time.time() - t_all, 1), "peak_rss_mib": peak_mib(),
              "cog": cog, "png": str(png.relative_to(ROOT)),
              "test_blocks": {k: round(float(v), 5) for k, v in
                              risk_metrics(t, risk, imp, z, rd.zone_names, cfg.data.threshold).items()}}
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
