"""Shipped reference models (``models/<name>/``): a finished run reduced to what a fresh clone needs.

A reference model directory looks like a finished run to every verb (``sciarch screen
--model``, ``sciarch evaluate``, ``sciarch drugscreen alascan`` / ``ddg``:
:func:`sciarch.runs.open_run` reads ``config.yaml`` and loads ``model.keras``), and carries

* ``model.keras``, ``config.yaml``, ``run.json``, ``metrics.json``, ``history.csv`` of the run;
* ``card.json``: data set, split, validation fold, the run's validation metrics, a *check
  subset* (seeded sample of the validation rows, its size, seed and the CI / MSE the model
  scores on it) and the command that rebuilt the model;
* ``README.md``: the model card in words (made from ``card.json``).

:func:`check_subset_metrics` recomputes the check-subset figures; the reference-model tests
compare them with the card. Build one with::

    python -m pipelines.drugscreen.reference runs/ref/davis-gin models/davis-gin \\
        --command "sciarch run drugscreen -c configs/drugscreen/davis_gin.yaml --out runs/ref/davis-gin"
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
from pathlib import Path

import numpy as np

from sciarch.report import REFERENCE_RUN_FILES, card_rebuild_and_use

#: files of a run that every reference model keeps (a finished run's ``run.json`` too)
RUN_FILES = REFERENCE_RUN_FILES
METRIC_KEYS = ("ci", "mse", "rmse", "pearson_r", "rm2", "per_target_ci_median", "n")


def check_rows(pipe, size: int, seed: int) -> np.ndarray:
    """The check subset: ``size`` validation rows drawn with ``seed`` (all of them when fewer), sorted."""
    va = pipe.split_index("validation")
    if len(va) <= size:
        return va
    return np.sort(np.random.default_rng(seed).choice(va, size, replace=False))


def check_subset_metrics(model_dir: str | Path, size: int, seed: int, model=None) -> dict:
    """CI / MSE / n of the model in ``model_dir`` on its check subset (loaded with safe_mode)."""
    from pipelines.drugscreen.metrics import regression_metrics
    from sciarch.runs import open_run

    opened = open_run(model_dir, pipeline="drugscreen")
    pipe = opened.pipeline()
    model = opened.load_model() if model is None else model
    rows = check_rows(pipe, size, seed)
    m = regression_metrics(pipe.data.pairs.y[rows], pipe.predict_pairs(model, pipe.data.pairs, rows))
    return {"ci": m["ci"], "mse": m["mse"], "n": m["n"]}


def _describe_ligand(m: dict) -> str:
    text = (f"{m['gnn'].upper()} graph network ({m['gnn_depth']} layers, {m['gnn_units']} units, "
            f"{'+'.join(m['readout'])} readout)")
    if m.get("ligand_fingerprint"):
        text += f" + {m['ligand_fingerprint']}-bit ECFP4 fingerprint"
    return text


def _describe_protein(m: dict) -> str:
    text = f"{m['protein_encoder']} (filters {m['protein_filters']}, kernel {m['protein_kernel']})"
    kmers = m.get("protein_composition") or []
    if kmers:
        text += " + " + "/".join({1: "residue", 2: "dipeptide", 3: "tripeptide"}[k] for k in kmers) + " composition"
    return text


def card_markdown(name: str, card: dict) -> str:
    """``README.md`` of a reference model from its ``card.json``."""
    v, c = card["validation"], card["check_subset"]
    m = card["model"]
    es = card["train"].get("early_stopping")
    finished = card.get("run_finished", True)
    members = card.get("members") or []
    if members:
        runs = " ".join(mm["run_dir"] for mm in members)
        export = (f"python -m pipelines.drugscreen.reference {runs} models/{name} "
                  + " ".join(f"--command {shlex.quote(mm['command'])}" for mm in members))
        about = [
            f"The mean of {len(members)} separately trained affinity models (a deep ensemble; `sciarch screen` writes "
            "their standard deviation as the `spread_<target>` columns of `hits.csv`). Predicts "
            f"{card['target_column']}.",
            "",
            "| member | ligand encoder | protein encoder | fusion | seed | dropout | optimizer (weight decay) | "
            "epochs | validation CI | validation MSE |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *[f"| {k} | {_describe_ligand(mm['model'])} | {_describe_protein(mm['model'])} | {mm['model']['fusion']} | "
              f"{mm['seed']} | {mm['model']['dropout']:g} | {mm['train']['optimizer']} ({mm['train']['weight_decay']:g}) "
              f"| {mm['epochs_trained']} | {mm['validation'].get('ci', float('nan')):.4f} | "
              f"{mm['validation'].get('mse', float('nan')):.4f} |" for k, mm in enumerate(members)],
        ]
        rebuild = [card["command"], export]
    else:
        about = [f"Ligand {_describe_ligand(m)} || protein {_describe_protein(m)} -> {m['fusion']} fusion -> "
                 f"MLP {m['head_units']}. Predicts {card['target_column']}."]
        rebuild = [card["command"],
                   f"python -m pipelines.drugscreen.reference {card['run_dir']} models/{name} --command "
                   f"{shlex.quote(card['command'])}" + ("" if finished else " --allow-unfinished")]
    lines = [
        f"# {name}: drug-target affinity reference {'ensemble' if members else 'model'} ({card['dataset']})",
        "",
        *about,
        "",
        "## Data and split",
        "",
        f"- data set: `data/drugscreen/{card['dataset']}` (see its PROVENANCE.md and `data_cards/`), "
        f"{card['train_pairs']} training pairs, {card['validation_pairs']} validation pairs",
        f"- split: `{card['split']}`, validation fold {card['fold']} (DeepDTA's training folds; the "
        "standard test fold is not in this repository and was never seen)",
        f"- ligand graph features: `{card.get('graph_features', 'v1')}` (`sciarch.io.molecules`; the screen "
        "featurises with the model's version)",
        *([f"- **{card['note']}**"] if card.get("note") else []),
        f"- epochs trained: {'per member, see the table above' if members else card['epochs_trained']}" + (
            f" (early stopping on `{es['monitor']}`, patience {es['patience']}; the best weights are restored, "
            "so the validation figures below are optimistic by the choice of epoch)" if es and finished else
            f" of {card['train']['epochs']} planned: the run was stopped, and the weights are those of its "
            "lowest validation loss, so the validation figures below are optimistic by the choice of epoch"
            if not finished else ""),
        "",
        "## Metrics (validation fold)",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {k} | {v[k]:.4f} |" if isinstance(v[k], float) else f"| {k} | {v[k]} |" for k in METRIC_KEYS if k in v],
        "",
        f"Check subset (what the tests recompute): {c['n']} validation pairs drawn with seed {c['seed']}: "
        f"CI {c['ci']:.4f}, MSE {c['mse']:.4f}.",
        "",
        *card_rebuild_and_use(rebuild, card["train_wall_time_s"], card["machine"], [
            f"sciarch screen --model models/{name} --library library.smi.gz --target target.fasta --top 100 "
            "--out screen/",
            f"sciarch drugscreen alascan --model models/{name} --smiles 'SMILES' --target target.fasta --out alascan/",
            f"sciarch evaluate models/{name} --data pairs.csv",
        ]),
    ]
    return "\n".join(lines)


def _best_epoch(history: Path) -> tuple[int, int]:
    """``(1-based epoch with the lowest val_loss, epochs logged)`` of a run's history.csv."""
    import csv

    with open(history) as fh:
        rows = list(csv.DictReader(fh))
    losses = [float(r["val_loss"]) for r in rows]
    return int(np.argmin(losses)) + 1, len(rows)


def _from_best_checkpoint(run_dir: Path, dest: Path) -> None:
    """``model.keras`` and ``metrics.json`` from the best-``val_loss`` weights of an unfinished run
    (``checkpoints/best.weights.h5``); the metrics say which epoch of how many planned."""
    import keras

    from sciarch.runs import open_run, write_json_atomic

    opened = open_run(run_dir, pipeline="drugscreen")
    pipe = opened.pipeline()
    keras.utils.set_random_seed(opened.config.seed)
    model = pipe.build_model()
    model.load_weights(run_dir / "checkpoints" / "best.weights.h5")
    model.save(dest / "model.keras")
    best, logged = _best_epoch(run_dir / "history.csv")
    ev = pipe.evaluate(model, "validation")
    write_json_atomic(dest / "metrics.json", {
        "evaluation": ev, "epochs_completed": logged, "best_epoch": best,
        "epochs_planned": opened.config.train.epochs,
        "note": f"weights of epoch {best} (lowest val_loss) of a run stopped after epoch {logged} of "
                f"{opened.config.train.epochs}",
    })


def _run_info(run_dir: Path) -> dict:
    """The run's ``run.json`` (its ``status`` says whether training finished)."""
    return json.loads((run_dir / "run.json").read_text())


def export_reference(run_dir: str | Path, dest: str | Path, command: str, check_size: int = 2000,
                     check_seed: int = 0, machine: str = "2 CPU cores", allow_unfinished: bool = False,
                     note: str = "") -> dict:
    """Copy the run files into ``dest``, compute the check subset, write ``card.json`` and ``README.md``.

    ``allow_unfinished``: a run that did not finish gives the weights of its best checkpoint
    (lowest ``val_loss`` so far), evaluated on the validation split; the card says so."""
    run_dir, dest = Path(run_dir), Path(dest)
    info = _run_info(run_dir)
    finished = info.get("status") == "finished"
    if not finished and not allow_unfinished:
        raise ValueError(f"{run_dir}: not a finished run (status {info.get('status')!r}); "
                         "allow_unfinished exports its best checkpoint")
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("config.yaml", "history.csv"):
        shutil.copy2(run_dir / name, dest / name)
    if finished:
        for name in ("model.keras", "metrics.json", "run.json"):
            shutil.copy2(run_dir / name, dest / name)
    else:
        (dest / "run.json").unlink(missing_ok=True)
        _from_best_checkpoint(run_dir, dest)
    metrics = json.loads((dest / "metrics.json").read_text())
    wall = float(metrics.get("train_wall_time_s") or info.get("train_wall_time_s") or 0.0)
    return _write_card(dest, run_dir, command, metrics, finished, wall, check_size, check_seed, machine, note)


def _write_card(dest: Path, run_dir: Path, command: str, metrics: dict, finished: bool, wall_s: float,
                check_size: int, check_seed: int, machine: str, note: str, members: list | None = None) -> dict:
    """Compute the check subset of the model in ``dest`` and write its ``card.json`` and ``README.md``."""
    from sciarch.runs import open_run

    ev = metrics.get("evaluation", metrics)
    opened = open_run(dest, pipeline="drugscreen")
    cfg, pipe = opened.config, opened.pipeline()
    check = check_subset_metrics(dest, check_size, check_seed)
    card = {
        "name": dest.name,
        "dataset": cfg.data.dataset,
        "target_column": pipe.data.target_column,
        "split": cfg.data.split,
        "fold": cfg.data.fold,
        "graph_features": cfg.data.graph_features,
        "train_pairs": int(len(pipe.split_index("train"))),
        "validation_pairs": int(len(pipe.split_index("validation"))),
        "epochs_trained": metrics.get("epochs_completed"),
        "run_finished": finished,
        "note": "; ".join(n for n in (metrics.get("note", ""), note) if n),
        "validation": {k: ev[k] for k in METRIC_KEYS if k in ev},
        "check_subset": {"size": check_size, "seed": check_seed, **check},
        "model": cfg.model.model_dump(),
        "train": cfg.train.model_dump(),
        "command": command,
        "run_dir": str(run_dir),
        "train_wall_time_s": wall_s,
        "machine": machine,
        "model_bytes": (dest / "model.keras").stat().st_size,
        **({"members": members} if members else {}),
    }
    (dest / "card.json").write_text(json.dumps(card, indent=2, default=float) + "\n")
    (dest / "README.md").write_text(card_markdown(dest.name, card))
    return card


#: fields every member of an exported ensemble must share (the data the members were validated on)
ENSEMBLE_SHARED = ("dataset", "split", "fold", "graph_features", "max_protein_length")


def export_ensemble(run_dirs: list[str | Path], dest: str | Path, commands: list[str], check_size: int = 2000,
                    check_seed: int = 0, machine: str = "2 CPU cores", note: str = "") -> dict:
    """One reference model averaging the finished runs ``run_dirs`` (:func:`sciarch.ensemble.build_ensemble`).

    The runs may differ in architecture and seed but must share the data they were validated on
    (:data:`ENSEMBLE_SHARED`); ``dest`` gets member 0's ``config.yaml`` and ``history.csv``, the
    ensemble's ``model.keras`` and validation metrics, and a card listing every member with its
    command and validation figures. ``commands[k]`` is the command that trained ``run_dirs[k]``.
    """
    from sciarch.ensemble import build_ensemble
    from sciarch.runs import open_run, write_json_atomic

    run_dirs, dest = [Path(d) for d in run_dirs], Path(dest)
    if len(run_dirs) < 2:
        raise ValueError(f"an ensemble needs at least two runs (got {len(run_dirs)})")
    if len(commands) != len(run_dirs):
        raise ValueError(f"{len(run_dirs)} runs but {len(commands)} --command values: give one per run, in order")
    opened = [open_run(d, pipeline="drugscreen") for d in run_dirs]
    first = opened[0].config.data
    for d, o in zip(run_dirs, opened):
        status = _run_info(d).get("status")
        if status != "finished":
            raise ValueError(f"{d}: not a finished run (status {status!r})")
        for key in ENSEMBLE_SHARED:
            if getattr(o.config.data, key) != getattr(first, key):
                raise ValueError(f"{d}: data.{key} is {getattr(o.config.data, key)!r} but {run_dirs[0]} has "
                                 f"{getattr(first, key)!r}; ensemble members must share {', '.join(ENSEMBLE_SHARED)}")
        bits, bits0 = o.config.model.ligand_fingerprint, opened[0].config.model.ligand_fingerprint
        if bits != bits0:  # the ensemble feeds every member the same inputs
            raise ValueError(f"{d}: model.ligand_fingerprint is {bits} but {run_dirs[0]} has {bits0}; ensemble "
                             "members must read the same ligand inputs")
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("config.yaml", "history.csv"):
        shutil.copy2(run_dirs[0] / name, dest / name)
    (dest / "run.json").unlink(missing_ok=True)
    model = build_ensemble([o.load_model() for o in opened], name="drugscreen_ensemble")
    model.save(dest / "model.keras")
    member_metrics = [json.loads((d / "metrics.json").read_text()) for d in run_dirs]
    members = [{
        "run_dir": str(d), "command": c, "seed": o.config.seed,
        "model": o.config.model.model_dump(), "train": o.config.train.model_dump(),
        "validation": {k: m["evaluation"][k] for k in ("ci", "mse") if k in m.get("evaluation", {})},
        "epochs_trained": m.get("epochs_completed"),
    } for d, c, o, m in zip(run_dirs, commands, opened, member_metrics)]
    ev = opened[0].pipeline().evaluate(model, "validation")
    wall = sum(float(m.get("train_wall_time_s") or 0.0) for m in member_metrics)
    metrics = {"evaluation": ev, "epochs_completed": member_metrics[0].get("epochs_completed"),
               "train_wall_time_s": wall, "ensemble": {"members": len(run_dirs), "member_runs": members}}
    write_json_atomic(dest / "metrics.json", metrics)
    return _write_card(dest, run_dirs[0], "\n".join(commands), metrics, True, wall, check_size, check_seed, machine,
                       note, members=members)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="export a finished drugscreen run, or several as one ensemble, as a "
                                             "reference model")
    ap.add_argument("run_dirs", nargs="+", metavar="RUN", help="one run, or several to average (an ensemble)")
    ap.add_argument("dest")
    ap.add_argument("--command", required=True, action="append",
                    help="the command that trained the run (for the card); once per run, in order")
    ap.add_argument("--check-size", type=int, default=2000)
    ap.add_argument("--check-seed", type=int, default=0)
    ap.add_argument("--machine", default="2 shared CPU cores")
    ap.add_argument("--allow-unfinished", action="store_true",
                    help="export the best checkpoint of a run that did not finish (the card says so)")
    ap.add_argument("--note", default="", help="a caveat printed at the top of the card")
    args = ap.parse_args(argv)
    if len(args.run_dirs) > 1:
        if args.allow_unfinished:
            ap.error("--allow-unfinished exports one run; ensemble members must be finished runs")
        card = export_ensemble(args.run_dirs, args.dest, args.command, args.check_size, args.check_seed,
                               args.machine, args.note)
    else:
        if len(args.command) != 1:
            ap.error(f"one run but {len(args.command)} --command values")
        card = export_reference(args.run_dirs[0], args.dest, args.command[0], args.check_size, args.check_seed,
                                args.machine, args.allow_unfinished, args.note)
    print(json.dumps({k: card[k] for k in ("name", "validation", "check_subset", "model_bytes")}, indent=2,
                     default=float))


if __name__ == "__main__":
    main()
