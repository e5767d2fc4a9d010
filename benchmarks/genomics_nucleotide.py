"""Genomics benchmark, per-nucleotide mode: context ladder and ablations vs the PWM and SpliceAI.

Trains ``configs/genomics/nucleotide.yaml`` once per arm through the generic runner (the whole
hg38 chr2:1-1,699,999 piece is held out; only its whole genes are scored) and writes
``benchmarks/results/genomics_nucleotide.json`` (rewritten after every arm) with, per arm:
top-k accuracy (k = true sites of the class) and PR-AUC per class over every position of the
held-out genes, the same for the PWM fitted on the same training windows, nt/s of the gene scan
(network only) and training time.

Arms (``--arms``, comma-separated; ``c400_cnn``, ``c400_rnn``, ``c400_attn``, ``c2000_attn``,
``c10000_attn``): the context rung (flanking nt) and the trunk: CNN only (``rnn: none``,
``attention_heads: 0``), + BiRNN, + BiRNN + windowed self-attention.

When the ``spliceai`` package is importable (installed by hand for this benchmark only; it is
GPLv3 and never a dependency), its five released models (10k context) are loaded with
``keras.models.load_model(path, compile=False)`` and scored on the same genes in the same run,
as the average of the five and as model 1 alone, with nt/s.

Usage::

    python benchmarks/genomics_nucleotide.py [--arms c400_cnn,c400_rnn,c400_attn] [--set key=value ...]
    python benchmarks/genomics_nucleotide.py --from-run c400_cnn_long=runs/nt/c400-cnn-5k   # score a trained run

``--from-run NAME=RUN_DIR`` (repeatable) scores a finished run with its own saved configuration
instead of training an arm (long runs are trained in the background with ``sciarch run``); its
``train_and_runner_eval_s`` is the run's recorded training time. ``--mean-of A+B`` also scores the
per-position mean of arms A and B (a deep ensemble; the arms may differ in context) under ``means``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {"topk_mean_heldout_genes": 0.90, "pr_auc_mean_heldout_genes": 0.90, "nt_per_s": "spliceai's"}
ARMS = {
    "c400_cnn": ["data.context=400", "model.rnn=none", "model.attention_heads=0"],
    "c400_rnn": ["data.context=400", "model.attention_heads=0"],
    "c400_attn": ["data.context=400"],
    "c2000_attn": ["data.context=2000", "data.block=2000"],
    "c10000_attn": ["data.context=10000", "data.block=5000"],
}


def _summary(m: dict, prefix: str) -> dict:
    keys = ("acceptor_topk", "donor_topk", "acceptor_pr_auc", "donor_pr_auc")
    out = {k: round(float(m[prefix + k]), 4) for k in keys if prefix + k in m}
    if "acceptor_topk" in out and "donor_topk" in out:
        out["topk_mean"] = round((out["acceptor_topk"] + out["donor_topk"]) / 2, 4)
    if "acceptor_pr_auc" in out and "donor_pr_auc" in out:
        out["pr_auc_mean"] = round((out["acceptor_pr_auc"] + out["donor_pr_auc"]) / 2, 4)
    return out


def gene_scan_speed(score, genes) -> tuple[float, list]:
    """``(nt/s, scores)`` of ``score(piece, gene)`` over the genes (timed after one warm-up call)."""
    score(*genes[0])
    t = time.perf_counter()
    scores = [score(piece, gene) for piece, gene in genes]
    nt = sum(gene.end0 - gene.start0 for _, gene in genes)
    return round(nt / (time.perf_counter() - t), 1), scores


def spliceai_scores(models, piece, gene) -> np.ndarray:
    """SpliceAI's per-position [neither, acceptor, donor] over a gene (transcript sense), the
    mean of ``models``: 5,000-nt blocks with 5,000 nt of context each side (N beyond the piece)."""
    from pipelines.genomics.genome import transcript_region
    from pipelines.genomics.inference import predict
    from pipelines.genomics.sequence import encode, pad_slice

    L = gene.end0 - gene.start0
    tseq = transcript_region(piece, gene, 5000)
    starts = list(range(0, L, 5000))
    x = encode([pad_slice(tseq, s, s + 15000) for s in starts], 15000).astype(np.float32)
    p = np.mean([predict(m, x, 4) for m in models], axis=0)
    return np.concatenate(p)[:L]


def run_spliceai(genes) -> dict | None:
    try:
        import spliceai
    except ImportError:
        return None
    import keras

    from pipelines.genomics.genome import gene_labels
    from pipelines.genomics.metrics import site_metrics

    folder = Path(spliceai.__file__).parent / "models"
    models = [keras.models.load_model(folder / f"spliceai{i}.h5", compile=False) for i in range(1, 6)]
    y = np.concatenate([gene_labels(p, g) for p, g in genes])
    out = {"package_version": getattr(spliceai, "__version__", "1.3.1"), "models": 5}
    for name, ms in (("ensemble5", models), ("model1", models[:1])):
        t = time.perf_counter()
        probs = np.concatenate([spliceai_scores(ms, p, g) for p, g in genes])
        secs = time.perf_counter() - t
        out[name] = {**_summary(site_metrics(y, probs, ""), ""), "nt_per_s": round(len(y) / secs, 1)}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs/genomics/nucleotide.yaml"))
    ap.add_argument("--arms", default="c400_cnn,c400_rnn,c400_attn")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/genomics_nucleotide.json"))
    ap.add_argument("--runs", default=str(ROOT / "runs/benchmark_genomics_nucleotide"))
    ap.add_argument("--no-spliceai", action="store_true")
    ap.add_argument("--from-run", action="append", default=[], metavar="NAME=RUN_DIR",
                    help="score a finished run instead of training an arm (repeatable; --arms '' to train none)")
    ap.add_argument("--mean-of", action="append", default=[], metavar="ARM+ARM[+...]",
                    help="also score the per-position mean of these arms' probabilities (repeatable)")
    args = ap.parse_args(argv)
    from_runs = []
    for spec in args.from_run:
        name, sep, run_dir = spec.partition("=")
        if not sep or not name or not (Path(run_dir) / "config.yaml").is_file():
            ap.error(f"--from-run {spec!r}: expected NAME=RUN_DIR of a finished run (with config.yaml)")
        from_runs.append((name, Path(run_dir)))
    names = [a for a in args.arms.split(",") if a] + [n for n, _ in from_runs]
    means = [spec.split("+") for spec in args.mean_of]
    for parts in means:
        if len(parts) < 2 or any(a not in names for a in parts):
            ap.error(f"--mean-of {'+'.join(parts)!r}: give two or more of the arms of this run ({', '.join(names)})")

    import keras

    import pipelines.genomics  # noqa: F401
    from pipelines.genomics.pipeline import GenomicsPipeline
    from sciarch.config import load_config
    from sciarch.runner import load_run_model, run_pipeline

    out = Path(args.out)
    result = {"config": str(Path(args.config).resolve().relative_to(ROOT)), "overrides": args.overrides,
              "host": platform.node(), "cpus": os.cpu_count(), "targets": TARGETS, "arms": {}}

    def write():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, default=float) + "\n")

    genes, scores, y = None, {}, None
    jobs = [(arm, None) for arm in args.arms.split(",") if arm] + from_runs
    for arm, run_dir in jobs:
        if run_dir is None:
            cfg = load_config(args.config, ARMS[arm] + args.overrides, pipeline="genomics")
            t0 = time.perf_counter()
            run_dir = run_pipeline(cfg, out=Path(args.runs) / arm, overwrite=True).dir  # a benchmark retrains
            train_s = time.perf_counter() - t0
            overrides = ARMS[arm]
        else:
            cfg = load_config(run_dir / "config.yaml", pipeline="genomics")
            train_s = json.loads((run_dir / "run.json").read_text()).get("train_wall_time_s") or float("nan")
            overrides = [f"from run {run_dir}"]
        model = load_run_model(run_dir)
        keras.utils.set_random_seed(cfg.seed)
        pipe = GenomicsPipeline(cfg, run_dir)
        P = pipe.prepare()
        genes = pipe.eval_genes(P, "validation")
        ev = json.loads((Path(run_dir) / "metrics.json").read_text())["evaluation"]
        nt_per_s, gene_scores = gene_scan_speed(lambda p, g: pipe.score_gene(model, p, g), genes)
        result["arms"][arm] = {
            "overrides": overrides, "run_dir": str(run_dir), "train_and_runner_eval_s": round(train_s, 1),
            "params": int(model.count_params()), "train_chunks": int(ev.get("data/train_chunks", 0)),
            "genes": [f"{p.name}:{g.name}" for p, g in genes], "positions": int(ev.get("genes/positions", 0)),
            "model": _summary(ev, "genes/"), "pwm": _summary(ev, "genes/pwm/"),
            "windows": {k: round(float(v), 4) for k, v in ev.items() if k.startswith("windows/") and "accuracy" in k},
            "nt_per_s": nt_per_s,
        }
        trained = Path(run_dir) / "data_summary.json"  # what the run trained on (the pieces may have grown since)
        summary = json.loads(trained.read_text()) if trained.is_file() else P.summary
        result["arms"][arm]["train_genes"] = len(summary["genes"]["train"])
        print(arm, json.dumps(result["arms"][arm]["model"]), "pwm", json.dumps(result["arms"][arm]["pwm"]), flush=True)
        write()
        if any(arm in parts for parts in means):
            from pipelines.genomics.genome import gene_labels

            scores[arm] = np.concatenate(gene_scores)
            y = np.concatenate([gene_labels(p, g) for p, g in genes]) if y is None else y
    for parts in means:  # a deep ensemble across arms (contexts may differ: each scores with its own flanks)
        from pipelines.genomics.metrics import site_metrics

        held_out = {a: result["arms"][a]["genes"] for a in parts}
        if any(g != held_out[parts[0]] for g in held_out.values()):
            raise SystemExit(f"--mean-of {'+'.join(parts)}: the arms score different held-out genes: {held_out}")

        mean = np.mean([scores[a] for a in parts], axis=0)
        result.setdefault("means", {})["+".join(parts)] = _summary(site_metrics(y, mean, ""), "")
        print("mean of", "+".join(parts), json.dumps(result["means"]["+".join(parts)]), flush=True)
        write()
    if genes and not args.no_spliceai:
        result["spliceai"] = run_spliceai(genes)
        print("spliceai", json.dumps(result["spliceai"]), flush=True)
        write()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
