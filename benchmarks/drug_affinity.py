"""Drug-target affinity benchmark: the GNN against its baselines on the same splits, Davis and
KIBA, plus the Siamese vs subtraction ΔpKd comparison on Davis mutants.

For every data set, split scheme and validation fold asked for (``--datasets``,
``--splits fold,cold_drug,cold_target``, ``--folds 0,1,2,3,4``) the script

* trains the GNN config of the data set through the generic runner (``data.split`` and
  ``data.fold`` set for the entry; the model never sees its validation fold), or reads a
  finished run given with ``--gnn-run DATASET/SPLIT/FOLD=RUN_DIR`` (a shipped reference
  model under ``models/``) after checking that the run used the same split;
* fits, on exactly the same training rows, the additive "drug mean + protein mean"
  baseline and the ECFP4 + protein-composition MLP
  (:mod:`pipelines.drugscreen.baselines`);
* records CI, MSE, Pearson r, r_m^2 of each side by side, and whether the GNN beats the
  ECFP MLP on CI and on MSE.

``--baselines-only`` fits just the baselines of the entries; a later invocation that trains or
reads the GNN of an entry reuses them when the JSON holds baselines of the same rows and
settings (``--refit-baselines`` refits).

Entries with more than one fold get ``mean ± sd`` over their folds in ``summary``. The JSON
(``benchmarks/results/drug_affinity.json``) is updated in place: entries of an earlier
invocation that this one does not recompute are kept, so splits can be run one at a time.

The numbers are on *validation* folds (DeepDTA's test fold is held back); they are
comparable with, not equal to, the published test-fold numbers (``anchors_test_fold``).

Usage (background, progress in the log)::

    nice -n 10 nohup .venv/bin/python benchmarks/drug_affinity.py --datasets davis \\
        --splits fold --gnn-run davis/fold/0=models/davis-gin > /tmp/drug_affinity.log 2>&1 &
    python benchmarks/drug_affinity.py --datasets davis --splits cold_drug --set train.epochs=2   # smoke run
    python benchmarks/drug_affinity.py --ddg-only --ddg-run models/davis-gin                        # ΔpKd only
    python benchmarks/drug_affinity.py --folds '' --merge-from A.json --merge-from B.json --out AB.json  # one summary
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
              "DGraphDTA": {"ci": 0.904, "mse": 0.202}, "MSGNN-DTA": {"ci": 0.906, "mse": 0.195},
              "ECFP+MLP (MGraphDTA Table 3)": {"ci": 0.893}},
    "kiba": {"DeepDTA": {"ci": 0.863, "mse": 0.194}, "GraphDTA-GIN": {"ci": 0.882, "mse": 0.147},
             "DGraphDTA": {"ci": 0.904, "mse": 0.126}, "MSGNN-DTA": {"ci": 0.908, "mse": 0.117}},
}
TARGETS = {"davis": {"ci": 0.90, "mse": 0.21}, "kiba": {"ci": 0.89, "mse": 0.14}}
CONFIGS = {"davis": "configs/drugscreen/davis_gin.yaml", "kiba": "configs/drugscreen/kiba_gin.yaml"}
METRIC_KEYS = ("ci", "mse", "rmse", "pearson_r", "rm2", "n")


def stage(msg: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:7.1f} s] {msg}", flush=True)


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _gnn_runs(specs: list[str]) -> dict:
    out = {}
    for spec in specs:
        key, sep, path = spec.partition("=")
        if not sep or key.count("/") != 2:
            raise SystemExit(f"--gnn-run {spec!r}: expected DATASET/SPLIT/FOLD=RUN_DIR")
        out[key] = Path(path)
    return out


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


def _show(name: str, m: dict | None) -> str:
    return f"{name} CI {m['ci']:.4f} MSE {m['mse']:.4f}" if m else f"{name} not fitted"


def summarise(entries: dict) -> dict:
    """``{dataset/split: {model: {metric: {mean, sd, folds}}}}`` over the folds of each entry."""
    import numpy as np

    groups: dict = {}
    for key, e in entries.items():
        dataset, split, _ = key.split("/")
        groups.setdefault(f"{dataset}/{split}", []).append(e)
    out = {}
    for group, es in sorted(groups.items()):
        out[group] = {"folds": sorted(e["validation_fold"] for e in es),
                      # a mean over folds of different recipes shows here
                      "gnn_sources": sorted({str(e.get("config") or e.get("run_dir")) for e in es})}
        for model in ("gnn", "ecfp_mlp", "additive"):
            vals = [e[model] for e in es if e.get(model)]
            if not vals:
                continue
            out[group][model] = {
                k: {"mean": float(np.mean([v[k] for v in vals])),
                    "sd": float(np.std([v[k] for v in vals], ddof=1)) if len(vals) > 1 else None}
                for k in ("ci", "mse")
            }
        beats = [e.get("gnn_beats_ecfp_mlp") for e in es]
        out[group]["gnn_beats_ecfp_mlp_every_fold"] = (all(b["ci"] and b["mse"] for b in beats)
                                                       if all(beats) else None)  # None: not compared
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="davis,kiba")
    ap.add_argument("--splits", default="fold,cold_drug,cold_target")
    ap.add_argument("--folds", default="0", help="validation folds (comma list)")
    ap.add_argument("--config", action="append", default=[], metavar="DATASET=YAML",
                    help=f"GNN config per data set (default: {CONFIGS})")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="override for every GNN config")
    ap.add_argument("--gnn-run", action="append", default=[], metavar="DATASET/SPLIT/FOLD=RUN_DIR",
                    help="use this finished run for that entry instead of training")
    ap.add_argument("--mlp-epochs", type=int, default=100, help="0: no ECFP MLP")
    ap.add_argument("--baselines-only", action="store_true",
                    help="fit only the baselines of each entry (a later run with the GNN reuses them)")
    ap.add_argument("--baselines-from", action="append", default=[], metavar="JSON",
                    help="another result JSON whose baselines of the same rows and settings are reused")
    ap.add_argument("--merge-from", action="append", default=[], metavar="JSON",
                    help="copy the entries of another result JSON that the output lacks (marked merged_from), so "
                         "folds run by separate invocations get one mean ± sd in summary; with --folds '' nothing "
                         "is trained")
    ap.add_argument("--refit-baselines", action="store_true",
                    help="refit baselines even when the JSON holds them for the same rows and settings")
    ap.add_argument("--ddg-epochs", type=int, default=15)
    ap.add_argument("--ddg-run", default=None, help="finished Davis fold run whose encoders the ΔpKd experiment uses "
                    "(default: the davis/fold entry trained here; without either the experiment is skipped)")
    ap.add_argument("--ddg-only", action="store_true", help="run only the ΔpKd experiment (needs --ddg-run)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/drug_affinity.json"))
    ap.add_argument("--run-root", default=str(ROOT / "runs/benchmark_drug_affinity"))
    args = ap.parse_args(argv)

    import keras

    import pipelines.drugscreen  # noqa: F401
    from pipelines.drugscreen.baselines import additive_baseline, ecfp_mlp_baseline
    from pipelines.drugscreen.metrics import regression_metrics
    from pipelines.drugscreen.pipeline import DrugScreenPipeline
    from sciarch.config import load_config, read_yaml, validate
    from sciarch.runner import load_run_model, run_pipeline

    t0 = time.perf_counter()
    configs = dict(CONFIGS, **dict(c.split("=", 1) for c in args.config))
    gnn_runs = _gnn_runs(args.gnn_run)
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out_path.read_text()) if out_path.is_file() else {}
    result = {
        "benchmark": "drug_affinity",
        "note": "validation folds of DeepDTA's training folds (the standard test fold is held back); anchors and "
                "targets refer to the test fold. The GNN and the ECFP MLP both select their epoch on the "
                "validation fold (early stopping, best weights restored); the additive baseline has no epochs.",
        "anchors_test_fold": ANCHORS,
        "targets_test_fold": TARGETS,
        "entries": dict(previous.get("entries", {})),
        "machines": dict(previous.get("machines", {})),
    }
    if "davis_ddg" in previous:
        result["davis_ddg"] = previous["davis_ddg"]
    invocation = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(sys.argv[1:]) or '(defaults)'}"
    result["machines"][invocation] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                                      "python": platform.python_version(),
                                      "load_average_at_start": list(os.getloadavg())}

    reusable, reusable_source = {}, {}
    for path in args.baselines_from:
        for k, v in json.loads(Path(path).read_text()).get("entries", {}).items():
            reusable[k], reusable_source[k] = v, path
    for path in args.merge_from:
        for k, v in json.loads(Path(path).read_text()).get("entries", {}).items():
            if k in result["entries"]:
                stage(f"{k}: kept the output's entry, not the one of {path}", t0)
                continue
            result["entries"][k] = {**v, "merged_from": str(path)}
    computed: set = set()

    def save():
        # entries another invocation wrote meanwhile are kept (this one's replace theirs)
        if out_path.is_file():
            on_disk = json.loads(out_path.read_text())
            for k, v in on_disk.get("entries", {}).items():
                if k not in computed:
                    result["entries"][k] = v
            for k, v in on_disk.get("machines", {}).items():
                result["machines"].setdefault(k, v)
        result["summary"] = summarise(result["entries"])
        tmp = out_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=2, default=float))
        tmp.replace(out_path)

    baseline_settings = {"mlp_epochs": args.mlp_epochs, "mlp_patience": 10, "mlp_hidden": [1024, 512]}

    def fit_baselines(pipe, tr, va, seed) -> dict:
        tb = time.perf_counter()
        mlp = None
        if args.mlp_epochs:
            mlp = ecfp_mlp_baseline(pipe.data, tr, va, epochs=args.mlp_epochs,
                                    patience=baseline_settings["mlp_patience"], hidden=baseline_settings["mlp_hidden"],
                                    seed=seed)
            mlp["wall_time_s"] = round(time.perf_counter() - tb, 1)
        return {"ecfp_mlp": mlp, "additive": additive_baseline(pipe.data, tr, va),
                "baseline_settings": baseline_settings}

    plan = [] if args.ddg_only else [(d, s, int(f)) for d in _csv(args.datasets) for s in _csv(args.splits)
                                     for f in _csv(args.folds)]
    ddg_source = (Path(args.ddg_run), None) if args.ddg_run else None
    for i, (dataset, split, fold) in enumerate(plan, 1):
        key = f"{dataset}/{split}/{fold}"
        if args.baselines_only:
            cfg = load_config(ROOT / configs[dataset], list(args.overrides) + [f"data.split={split}", f"data.fold={fold}"],
                              pipeline="drugscreen")
            pipe = DrugScreenPipeline(cfg)
            tr, va = pipe.split_index("train"), pipe.split_index("validation")
            stage(f"({i}/{len(plan)}) {key}: baselines only", t0)
            entry = {"dataset": dataset, "split": split, "validation_fold": fold,
                     "train_pairs": int(len(tr)), "validation_pairs": int(len(va)),
                     **fit_baselines(pipe, tr, va, cfg.seed)}
            result["entries"][key] = entry
            computed.add(key)
            stage(f"{key}: {_show('ECFP MLP', entry['ecfp_mlp'])}; {_show('additive', entry['additive'])}", t0)
            save()
            continue
        if key in gnn_runs:
            run_dir = gnn_runs[key]
            cfg = validate(read_yaml(run_dir / "config.yaml"), DrugScreenPipeline.config_cls, str(run_dir / "config.yaml"))
            if (cfg.data.split, cfg.data.fold, Path(cfg.data.dataset).name) != (split, fold, dataset):
                raise SystemExit(f"{run_dir}: a {cfg.data.dataset}/{cfg.data.split}/{cfg.data.fold} run, not {key}")
            stage(f"({i}/{len(plan)}) {key}: GNN from {run_dir}", t0)
            source = {"run_dir": str(run_dir)}
        else:
            overrides = list(args.overrides) + [f"data.split={split}", f"data.fold={fold}"]
            cfg = load_config(ROOT / configs[dataset], overrides, pipeline="drugscreen")
            stage(f"({i}/{len(plan)}) {key}: training the GNN, {cfg.train.epochs} epochs at most ({configs[dataset]})", t0)
            run = run_pipeline(cfg, out=Path(args.run_root) / dataset / split / str(fold), overwrite=True)
            run_dir = run.dir
            source = {"config": configs[dataset], "overrides": overrides, "run_dir": str(run_dir)}
        metrics = json.loads((run_dir / "metrics.json").read_text())
        pipe = DrugScreenPipeline(cfg, run_dir)
        tr, va = pipe.split_index("train"), pipe.split_index("validation")
        model = load_run_model(run_dir)
        gnn = regression_metrics(pipe.data.pairs.y[va], pipe.predict_pairs(model, pipe.data.pairs, va))
        hist = _history(run_dir / "history.csv")
        epochs_done = metrics.get("epochs_completed") or len(hist.get("loss", [])) or cfg.train.epochs
        old, old_source = (reusable[key], reusable_source[key]) if key in reusable else \
            (result["entries"].get(key, {}), out_path)
        if not args.refit_baselines and "ecfp_mlp" in old and old.get("baseline_settings") == baseline_settings \
                and (old.get("train_pairs"), old.get("validation_pairs")) == (len(tr), len(va)):
            stage(f"{key}: GNN CI {gnn['ci']:.4f} MSE {gnn['mse']:.4f}; baselines of the same rows from {old_source}", t0)
            baselines = {k: old[k] for k in ("ecfp_mlp", "additive", "baseline_settings")}
        else:
            stage(f"{key}: GNN CI {gnn['ci']:.4f} MSE {gnn['mse']:.4f}; fitting the baselines", t0)
            baselines = fit_baselines(pipe, tr, va, cfg.seed)
        mlp, additive = baselines["ecfp_mlp"], baselines["additive"]
        entry = {
            **source,
            "dataset": dataset, "split": split, "validation_fold": fold,
            "train_pairs": int(len(tr)), "validation_pairs": int(len(va)),
            "gnn": {k: gnn[k] for k in METRIC_KEYS},
            "gnn_per_target_ci_median": metrics.get("evaluation", metrics).get("per_target_ci_median"),
            **baselines,
            "gnn_beats_ecfp_mlp": {"ci": gnn["ci"] > mlp["ci"], "mse": gnn["mse"] < mlp["mse"]} if mlp else None,
            "gnn_epochs": epochs_done,
            "gnn_train_wall_time_s": metrics.get("train_wall_time_s"),
            "gnn_wall_time_per_epoch_s": (round(metrics["train_wall_time_s"] / max(epochs_done, 1), 1)
                                          if metrics.get("train_wall_time_s") else None),
            "gnn_note": metrics.get("note", ""),
            "gnn_history": {k: [round(v, 4) for v in vals] for k, vals in hist.items()},
        }
        if split == "fold":
            entry["gap_to_target"] = {k: round(gnn[k] - v, 4) for k, v in TARGETS[dataset].items()}
        result["entries"][key] = entry
        computed.add(key)
        stage(f"{key}: {_show('ECFP MLP', mlp)}; {_show('additive', additive)}", t0)
        save()
        if dataset == "davis" and split == "fold" and ddg_source is None:
            ddg_source = (run_dir, (tr, va))

    if args.ddg_epochs and ddg_source is not None and (args.ddg_only or "davis" in _csv(args.datasets)):
        from pipelines.drugscreen.siamese import run_ddg_experiment

        run_dir, split_rows = ddg_source
        cfg = validate(read_yaml(run_dir / "config.yaml"), DrugScreenPipeline.config_cls, str(run_dir / "config.yaml"))
        pipe = DrugScreenPipeline(cfg, run_dir)
        tr, va = split_rows or (pipe.split_index("train"), pipe.split_index("validation"))
        keras.utils.set_random_seed(cfg.seed)
        stage(f"Davis mutants: Siamese ΔpKd ({args.ddg_epochs} epochs) vs subtraction, encoders of {run_dir}", t0)
        ddg = run_ddg_experiment(pipe.data, load_run_model(run_dir), cfg.model, tr, va,
                                 epochs=args.ddg_epochs, seed=cfg.seed, verbose=2)
        ddg["mutant_notes"] = pipe.data.mutant_notes
        ddg["encoders_from"] = str(run_dir)
        result["davis_ddg"] = ddg
        stage(f"ΔpKd MSE: Siamese {ddg['siamese']['mse']:.4f}, subtraction {ddg['subtraction']['mse']:.4f}, "
              f"no-change {ddg['no_change_baseline']['mse']:.4f}", t0)
    result["machines"][invocation]["load_average_at_end"] = list(os.getloadavg())
    result["machines"][invocation]["wall_time_s"] = round(time.perf_counter() - t0, 1)
    save()
    stage(f"written {out_path}", t0)


if __name__ == "__main__":
    main()
