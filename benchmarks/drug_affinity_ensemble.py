"""Deep ensembles of drugscreen runs on one validation fold: each member, the seed-to-seed spread
of the replicate runs, and the mean of the members, beside the ECFP4 + MLP baseline of the same fold.

Every run must be a finished ``sciarch run drugscreen`` directory (or a reference model) of the
same data set, split and fold (``DIR#K``: member K of a saved ensemble). ``--member NAME=DIR``
adds a run to the ensemble; ``--extra NAME=DIR`` adds one that is reported alone but not averaged (an arm that was tried and left out); a NAME
starting with ``seed_`` also counts as a replicate of the reference recipe, for the seed spread.
The ECFP baseline figures are read from ``--baselines`` (``benchmarks/drug_affinity.py
--baselines-only``'s JSON, same fold). Writes ``benchmarks/results/drug_affinity_ensemble.json``::

    nice -n 5 .venv/bin/python benchmarks/drug_affinity_ensemble.py \\
        --member seed_0=models/davis-gin-v2 --member seed_1=runs/ens/davis-gin-s1 \\
        --member seed_2=runs/ens/davis-gin-s2 --member gine=runs/ablation/davis-gine-v2

``--summarise F0.json F1.json ... --out FOLDS.json`` reads such files of one recipe on several
folds and writes the mean ± sd of the ensemble, each member and the ECFP4 + MLP baseline.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEYS = ("ci", "mse", "pearson_r", "rm2", "per_target_ci_median")


def _named(values: list[str], flag: str) -> dict[str, str]:
    out = {}
    for v in values:
        if "=" not in v:
            raise SystemExit(f"{flag} {v!r}: expected NAME=RUN_DIR")
        name, path = v.split("=", 1)
        out[name] = path
    return out


def _member_of(spec: str) -> tuple[str, int | None]:
    """``DIR`` or ``DIR#K`` (member K, from 0, of a saved ensemble such as ``models/davis-comp-ens``)."""
    path, _, k = spec.partition("#")
    if k and not k.isdigit():
        raise SystemExit(f"{spec}: expected RUN_DIR or RUN_DIR#K with K a member number")
    return path, int(k) if k else None


def _model(opened, member: int | None):
    from pipelines.drugscreen.model import affinity_members

    model = opened.load_model()
    if member is None:
        return model
    members = affinity_members(model)
    if members == [model]:
        raise SystemExit(f"{opened.dir}: has no ensemble members, not a member #{member}")
    if member >= len(members):
        raise SystemExit(f"{opened.dir}: has {len(members)} ensemble members, not a member #{member}")
    return members[member]


def summarise_folds(paths: list[str], out: str) -> dict:
    """Mean ± sd over the folds of per-fold result files of this script (one recipe, one fold
    each): the ensemble, each member name, and the ECFP4 + MLP baseline of the same folds."""
    results = [json.loads(Path(p).read_text()) for p in paths]
    keys = [(r["dataset"], r["split"], r["validation_fold"]) for r in results]
    if len({k[:2] for k in keys}) != 1 or len(set(keys)) != len(keys):
        raise SystemExit(f"--summarise: expected distinct folds of one data set and split, got {keys}")
    if len({tuple(r["ensemble"]["members"]) for r in results}) != 1:
        raise SystemExit("--summarise: the files average different member names: "
                         + "; ".join(f"{p}: {r['ensemble']['members']}" for p, r in zip(paths, results)))

    def stats(rows: list[dict]) -> dict:
        return {k: {"mean": round(float(np.mean([r[k] for r in rows])), 4),
                    "sd": round(float(np.std([r[k] for r in rows], ddof=1)), 4) if len(rows) > 1 else None}
                for k in ("ci", "mse")}

    models = {"ensemble": [r["ensemble"] for r in results],
              **{n: [r["runs"][n] for r in results] for n in results[0]["ensemble"]["members"]}}
    if all(r.get("ecfp_mlp_same_fold") for r in results):
        models["ecfp_mlp"] = [r["ecfp_mlp_same_fold"] for r in results]
    summary = {
        "benchmark": "drug_affinity_ensemble_folds",
        "dataset": keys[0][0], "split": keys[0][1], "folds": [k[2] for k in keys], "sources": list(paths),
        "members": results[0]["ensemble"]["members"],
        "per_fold": {str(k[2]): {m: {x: rows[i][x] for x in ("ci", "mse")} for m, rows in models.items()}
                     for i, k in enumerate(keys)},
        "mean_sd": {m: stats(rows) for m, rows in models.items()},
        "ensemble_beats_ecfp_mlp_every_fold": (all(r["ensemble_beats_ecfp_mlp"] for r in results)
                                               if "ecfp_mlp" in models else None),
    }
    Path(out).write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--member", action="append", default=[], metavar="NAME=RUN_DIR")
    ap.add_argument("--summarise", nargs="+", metavar="JSON",
                    help="instead of evaluating runs: mean ± sd over per-fold result files of this script")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=RUN_DIR")
    ap.add_argument("--baselines", default=str(ROOT / "benchmarks/results/drug_affinity_baselines.json"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/drug_affinity_ensemble.json"))
    args = ap.parse_args(argv)
    if args.summarise:
        summary = summarise_folds(args.summarise, args.out)
        print(json.dumps({k: summary[k] for k in ("mean_sd", "ensemble_beats_ecfp_mlp_every_fold")}, indent=1))
        return
    if not args.member:
        ap.error("--member NAME=RUN_DIR is required (or --summarise)")
    members, extras = _named(args.member, "--member"), _named(args.extra, "--extra")

    from pipelines.drugscreen.metrics import regression_metrics
    from sciarch.runs import open_run

    preds, ref = {}, None
    for name, path in {**members, **extras}.items():
        path, member = _member_of(path)
        opened = open_run(path, pipeline="drugscreen")
        pipe = opened.pipeline()
        d = opened.config.data
        key = (d.dataset, d.split, d.fold, d.graph_features, d.max_protein_length)
        if ref is None:
            ref, va, y = key, pipe.split_index("validation"), pipe.data.pairs.y[pipe.split_index("validation")]
        elif key != ref:
            raise SystemExit(f"{path}: data {key} differs from the first run's {ref}")
        preds[name] = np.asarray(pipe.predict_pairs(_model(opened, member), pipe.data.pairs, va)).reshape(-1)
        print(f"{name}: {path}", flush=True)

    def metrics(p):
        m = regression_metrics(y, p)
        return {k: round(float(m[k]), 4) for k in KEYS if k in m}

    rows = {name: {"run": path, "in_ensemble": name in members, **metrics(preds[name])}
            for name, path in {**members, **extras}.items()}
    seeds = [n for n in members if n.startswith("seed_")]
    spread = {k: {"mean": round(float(np.mean([rows[n][k] for n in seeds])), 4),
                  "sd": round(float(np.std([rows[n][k] for n in seeds], ddof=1)), 4) if len(seeds) > 1 else 0.0}
              for k in ("ci", "mse")} if seeds else None
    names = list(members)
    by_size = {}
    for r in range(2, len(names) + 1):  # every sub-ensemble: how the figure grows with members
        cis = [metrics(np.mean([preds[n] for n in c], axis=0)) for c in itertools.combinations(names, r)]
        by_size[r] = {k: {"mean": round(float(np.mean([c[k] for c in cis])), 4),
                          "min": min(c[k] for c in cis), "max": max(c[k] for c in cis)} for k in ("ci", "mse")}
    ensemble = metrics(np.mean([preds[n] for n in names], axis=0))
    baseline = None
    if Path(args.baselines).is_file():
        entry = json.loads(Path(args.baselines).read_text())["entries"].get(f"{ref[0]}/{ref[1]}/{ref[2]}")
        if entry and "ecfp_mlp" in entry:
            baseline = {k: round(float(entry["ecfp_mlp"][k]), 4) for k in ("ci", "mse")}
    result = {
        "benchmark": "drug_affinity_ensemble",
        "dataset": ref[0], "split": ref[1], "validation_fold": ref[2], "graph_features": ref[3],
        "validation_pairs": int(len(va)),
        "note": "members and arms are chosen on this validation fold, so the ensemble's figure is optimistic "
                "by that choice; the standard test fold is not in the repository",
        "runs": rows,
        "seed_replicates": {"names": seeds, **spread} if spread else None,
        "ensemble": {"members": names, **ensemble},
        "sub_ensembles_by_size": by_size,
        "ecfp_mlp_same_fold": baseline,
        "ensemble_beats_ecfp_mlp": None if baseline is None else
        bool(ensemble["ci"] > baseline["ci"] and ensemble["mse"] < baseline["mse"]),
        "command": "python benchmarks/drug_affinity_ensemble.py " + " ".join(
            [f"--member {n}={p}" for n, p in members.items()] + [f"--extra {n}={p}" for n, p in extras.items()]),
        "cpus": os.cpu_count(),
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("seed_replicates", "ensemble", "ecfp_mlp_same_fold")}, indent=1))


if __name__ == "__main__":
    main()
