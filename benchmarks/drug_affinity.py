"""Drug-target affinity benchmark: Davis and KIBA on a DeepDTA validation fold, plus the
Siamese vs subtraction ΔpKd comparison on Davis mutants.

Trains ``configs/drugscreen/davis_full.yaml`` and ``configs/drugscreen/kiba_full.yaml``
through the generic runner (validation fold ``data.fold``, default 0: the model never sees
it) and writes ``benchmarks/results/drug_affinity.json`` with, per data set:

* CI, MSE, Pearson r, r_m^2 on the validation fold, and the per-target median CI;
* the additive "drug mean + protein mean" baseline fitted on the same training folds
  (what a model must beat to have learnt interactions, not just promiscuity/druggability);
* wall time: total training time and per epoch, measured on this machine;
* the published anchors (DeepDTA setting-1 test fold) and the targets, for the gap.

and for Davis mutants (``pipelines.drugscreen.siamese``): ΔpKd MSE / Pearson r / CI / sign
accuracy of the Siamese model and of subtracting two absolute predictions, with the
"no change" reference.

The numbers are on a *validation* fold (the standard test fold is held back); they are
comparable with, not equal to, test-fold numbers.

Usage (about 30 min on 2 free CPU cores; progress in the log)::

    nohup .venv/bin/python benchmarks/drug_affinity.py > benchmarks/results/drug_affinity.log 2>&1 &
    python benchmarks/drug_affinity.py --davis-epochs 2 --kiba-epochs 1   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ANCHORS = {
    "davis": {"DeepDTA": {"ci": 0.878, "mse": 0.261}, "GraphDTA-GIN": {"ci": 0.893, "mse": 0.229},
              "DGraphDTA": {"ci": 0.904, "mse": 0.202}},
    "kiba": {"DeepDTA": {"ci": 0.863, "mse": 0.194}, "GraphDTA-GIN": {"ci": 0.882, "mse": 0.147},
             "DGraphDTA": {"ci": 0.904, "mse": 0.126}},
}
TARGETS = {"davis": {"ci": 0.90, "mse": 0.21}, "kiba": {"ci": 0.89}}


def additive_baseline(data, tr, va) -> dict:
    """pKd ~ mean + drug effect + protein effect (alternating least squares on the training pairs)."""
    import numpy as np

    from pipelines.drugscreen.metrics import regression_metrics

    P = data.pairs
    mu = float(P.y[tr].mean())
    dm = np.zeros(len(data.graphs))
    pm = np.zeros(len(data.protein_ids))
    for _ in range(20):
        r = P.y[tr] - mu - pm[P.protein[tr]]
        dm = np.bincount(P.drug[tr], r, len(dm)) / np.maximum(np.bincount(P.drug[tr], None, len(dm)), 1)
        r = P.y[tr] - mu - dm[P.drug[tr]]
        pm = np.bincount(P.protein[tr], r, len(pm)) / np.maximum(np.bincount(P.protein[tr], None, len(pm)), 1)
    return regression_metrics(P.y[va], mu + dm[P.drug[va]] + pm[P.protein[va]])


def stage(msg: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:7.1f} s] {msg}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--davis-config", default=str(ROOT / "configs/drugscreen/davis_full.yaml"))
    ap.add_argument("--kiba-config", default=str(ROOT / "configs/drugscreen/kiba_full.yaml"))
    ap.add_argument("--davis-epochs", type=int, default=None, help="override train.epochs for Davis")
    ap.add_argument("--kiba-epochs", type=int, default=None, help="override train.epochs for KIBA")
    ap.add_argument("--ddg-epochs", type=int, default=15)
    ap.add_argument("--skip-kiba", action="store_true")
    ap.add_argument("--only-kiba", action="store_true",
                    help="re-run KIBA only and update that section of an existing --out JSON")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="override for both configs")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/drug_affinity.json"))
    ap.add_argument("--run-root", default=str(ROOT / "runs/benchmark_drug_affinity"))
    args = ap.parse_args(argv)

    import keras

    import pipelines.drugscreen  # noqa: F401
    from pipelines.drugscreen.pipeline import DrugScreenPipeline
    from pipelines.drugscreen.siamese import run_ddg_experiment
    from sciarch.config import load_config
    from sciarch.runner import load_run_model, run_pipeline

    t0 = time.perf_counter()
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "drug_affinity",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_at_start": list(os.getloadavg())},
        "note": "validation fold of DeepDTA's training folds (the standard test fold is held back); "
                "anchors and targets refer to the test fold",
        "anchors_test_fold": ANCHORS,
        "targets_test_fold": TARGETS,
    }

    def save():
        tmp = out_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=2, default=float))
        tmp.replace(out_path)

    if args.only_kiba and out_path.is_file():
        previous = json.loads(out_path.read_text())
        result.update({k: v for k, v in previous.items() if k not in ("kiba", "machine")})
        result["machine_davis_run"] = previous.get("machine")
    datasets = [] if args.only_kiba else [("davis", args.davis_config, args.davis_epochs)]
    if not args.skip_kiba:
        datasets.append(("kiba", args.kiba_config, args.kiba_epochs))
    davis_model = davis_pipe = None
    for i, (name, cfg_path, epochs) in enumerate(datasets, 1):
        overrides = list(args.overrides) + ([f"train.epochs={epochs}"] if epochs else [])
        cfg = load_config(cfg_path, overrides, pipeline="drugscreen")
        stage(f"({i}/{len(datasets) + 1}) {name}: training {cfg.train.epochs} epochs ({cfg_path})", t0)
        run = run_pipeline(cfg, out=Path(args.run_root) / name, overwrite=True)  # a benchmark retrains
        metrics = json.loads(run.metrics_path.read_text())
        model = load_run_model(run.dir)
        keras.utils.set_random_seed(cfg.seed)
        pipe = DrugScreenPipeline(cfg, run.dir)
        tr, va = pipe.split_index("train"), pipe.split_index("validation")
        ev = metrics["evaluation"]
        epochs_done = metrics["epochs_completed"] or cfg.train.epochs
        result[name] = {
            "config": str(Path(cfg_path).relative_to(ROOT)),
            "overrides": overrides,
            "validation_fold": cfg.data.fold,
            "train_pairs": int(len(tr)),
            "validation_pairs": int(len(va)),
            "validation": {k: ev[k] for k in ("ci", "mse", "rmse", "pearson_r", "rm2", "per_target_ci_median", "n")},
            "additive_drug_protein_baseline": additive_baseline(pipe.data, tr, va),
            "epochs": epochs_done,
            "train_wall_time_s": metrics["train_wall_time_s"],
            "wall_time_per_epoch_s": round(metrics["train_wall_time_s"] / max(epochs_done, 1), 1),
            "history": {k: [round(v, 4) for v in vals] for k, vals in _history(run.history_path).items()},
            "gap_to_target": {k: round(ev[k] - v, 4) for k, v in TARGETS[name].items()},
            "run_dir": str(run.dir),
        }
        stage(f"{name}: CI {ev['ci']:.4f}  MSE {ev['mse']:.4f}  ({result[name]['wall_time_per_epoch_s']} s/epoch)", t0)
        save()
        if name == "davis":
            davis_model, davis_pipe, davis_split = model, pipe, (tr, va)

    if args.only_kiba:
        result["machine"]["load_average_at_end"] = list(os.getloadavg())
        save()
        stage(f"written {out_path} (KIBA section)", t0)
        return
    stage(f"({len(datasets) + 1}/{len(datasets) + 1}) Davis mutants: Siamese ΔpKd ({args.ddg_epochs} epochs) vs subtraction", t0)
    tr, va = davis_split
    ddg = run_ddg_experiment(davis_pipe.data, davis_model, davis_pipe.config.model, tr, va,
                             epochs=args.ddg_epochs, seed=davis_pipe.config.seed, verbose=2)
    ddg["mutant_notes"] = davis_pipe.data.mutant_notes
    result["davis_ddg"] = ddg
    stage(f"ΔpKd MSE: Siamese {ddg['siamese']['mse']:.4f}, subtraction {ddg['subtraction']['mse']:.4f}, "
          f"no-change {ddg['no_change_baseline']['mse']:.4f}", t0)
    result["total_wall_time_s"] = round(time.perf_counter() - t0, 1)
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    save()
    stage(f"written {out_path}", t0)


def _history(path: Path) -> dict:
    import csv

    out: dict = {}
    if not path.is_file():
        return out
    with open(path) as fh:
        for row in csv.DictReader(fh):
            for k, v in row.items():
                if k != "epoch" and v not in (None, ""):
                    out.setdefault(k, []).append(float(v))
    return out


if __name__ == "__main__":
    main()
