"""Where a drugscreen training epoch goes: the input pipeline alone vs a full training epoch and
a validation pass, for batch groupings of the Davis config.

For each variant (``--variant NAME=override,override``; default: ``protein_chunk`` 32, the
old Davis setting, and 64, ``configs/drugscreen/davis_gin.yaml``) it times

* one pass over the training inputs (featurised graphs and protein tokens are built once
  per run; a pass only orders and gathers),
* one training epoch of ``fit`` (after a warm-up epoch that traces the step function),
* one validation pass (``evaluate``),

and writes ``benchmarks/results/drug_affinity_epoch.json``. Takes a few minutes on 2 cores::

    nice -n 10 .venv/bin/python benchmarks/drug_affinity_epoch.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = {"protein_chunk_32": ["data.protein_chunk=32"], "protein_chunk_64": ["data.protein_chunk=64"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs/drugscreen/davis_gin.yaml"))
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=V[,KEY=V]")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/drug_affinity_epoch.json"))
    args = ap.parse_args(argv)
    variants = {v.split("=", 1)[0]: v.split("=", 1)[1].split(",") for v in args.variant} or VARIANTS

    import keras

    import pipelines.drugscreen  # noqa: F401
    from pipelines.drugscreen.model import build_affinity_model
    from pipelines.drugscreen.pipeline import DrugScreenPipeline
    from sciarch.config import load_config

    result = {"benchmark": "drug_affinity_epoch", "config": str(Path(args.config).relative_to(ROOT)),
              "cpus": os.cpu_count(), "load_average_at_start": list(os.getloadavg()), "variants": {}}
    for name, overrides in variants.items():
        cfg = load_config(args.config, overrides, pipeline="drugscreen")
        pipe = DrugScreenPipeline(cfg)
        t = time.perf_counter()
        data = pipe.data
        load_s = time.perf_counter() - t
        ds = pipe.build_inputs("train")
        for _ in ds:  # first pass builds the tables and traces the map function
            pass
        t = time.perf_counter()
        n_batches = sum(1 for _ in ds)
        input_s = time.perf_counter() - t
        keras.utils.set_random_seed(cfg.seed)
        model = build_affinity_model(cfg.model, float(data.pairs.y[pipe.split_index("train")].mean()))
        model.compile(optimizer=keras.optimizers.Adam(cfg.train.learning_rate), loss="mse")
        model.fit(ds, epochs=1, verbose=0)
        t = time.perf_counter()
        model.fit(ds, epochs=1, verbose=0)
        epoch_s = time.perf_counter() - t
        val = pipe.build_inputs("validation")
        model.evaluate(val, verbose=0)
        t = time.perf_counter()
        model.evaluate(val, verbose=0)
        val_s = time.perf_counter() - t
        result["variants"][name] = {"overrides": overrides, "batches": n_batches, "data_load_s": round(load_s, 2),
                                    "input_pass_s": round(input_s, 2), "train_epoch_s": round(epoch_s, 2),
                                    "validation_pass_s": round(val_s, 2)}
        print(name, result["variants"][name], flush=True)
    result["load_average_at_end"] = list(os.getloadavg())
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
