"""Genomics benchmark: splice-site network vs PWM on held-out genes and held-out windows.

Trains ``configs/genomics/full.yaml`` through the generic runner (the whole hg38
chr2:1-1,699,999 piece is held out) and writes ``benchmarks/results/genomics.json`` with,
for the network and for the PWM fitted on the same training windows:

* ``chr2_genes``: top-k accuracy (k = number of true sites of the class) and PR-AUC per
  class over every position of the 8 held-out genes of the chr2 piece (GT/AG candidates
  scored, every other position scores 0 for both scorers);
* ``heldout_genes``: the same over every held-out gene of every piece;
* ``windows``: held-out windows of the window sets (HS3D accessions, DRANet records, UCI
  loci that were held out): 3-class accuracy, donor and acceptor accuracy (true site vs
  decoy with GT/AG at the junction), PR-AUC per class; ``windows_all`` adds the genome
  site and decoy windows of held-out genes;
* speed (nt/s scored over the genes) and training time.

Usage::

    python benchmarks/genomics.py [--config configs/genomics/full.yaml] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {"window_accuracy_donor": 0.97, "window_accuracy_acceptor": 0.97, "topk_heldout_genes": 0.90}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs/genomics/full.yaml"))
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/genomics.json"))
    ap.add_argument("--run-dir", default=str(ROOT / "runs/benchmark_genomics"))
    args = ap.parse_args(argv)

    import keras

    import pipelines.genomics  # noqa: F401
    from pipelines.genomics import data as D
    from pipelines.genomics.pipeline import GenomicsPipeline
    from sciarch.config import load_config
    from sciarch.runner import load_run_model, run_pipeline

    cfg = load_config(args.config, args.overrides, pipeline="genomics")
    t0 = time.perf_counter()
    run = run_pipeline(cfg, out=args.run_dir, overwrite=True)  # a benchmark retrains
    train_s = time.perf_counter() - t0
    model = load_run_model(run.dir)
    keras.utils.set_random_seed(cfg.seed)
    pipe = GenomicsPipeline(cfg, run.dir)
    P = pipe.prepare()
    val = P.windows["validation"]
    idx_sets = [i for i, s in enumerate(val.sources) if s != "genome"]
    genes_all = pipe.eval_genes(P, "validation")
    genes_chr2 = [(p, g) for p, g in genes_all if p.name == "hg38_chr2_1-1699999"]

    result = {"config": str(Path(args.config).resolve().relative_to(ROOT)), "overrides": args.overrides,
              "run_dir": str(run.dir), "train_and_runner_eval_s": round(train_s, 1),
              "host": platform.node(), "targets": TARGETS,
              "resolved_config": yaml.safe_load((Path(run.dir) / "config.yaml").read_text()), "data_summary": {k: v for k, v in P.summary.items()}}
    t = time.perf_counter()
    r = pipe.evaluate_sets(model, D.WindowSet(), genes_chr2)
    secs = time.perf_counter() - t
    nt = sum(g.end0 - g.start0 for _, g in genes_chr2)
    result["chr2_genes"] = {"genes": [g.name for _, g in genes_chr2], "positions": nt, **r}
    result["speed_gene_scan_nt_per_s_incl_pwm"] = round(nt / secs, 1)
    runner_eval = json.loads((Path(run.dir) / "metrics.json").read_text())["evaluation"]  # the whole validation split
    result["heldout_genes"] = {k: v for k, v in runner_eval.items() if k.startswith("genes/")}
    result["heldout_genes"]["names"] = [f"{p.name}:{g.name}" for p, g in genes_all]
    result["windows_all"] = {k: v for k, v in runner_eval.items() if k.startswith("windows/")}
    result["windows"] = pipe.evaluate_sets(model, val.subset(idx_sets), [])
    w, g = result["windows"], result["chr2_genes"]
    result["summary"] = {
        "model": {"window_accuracy_donor": w["windows/donor_accuracy"], "window_accuracy_acceptor": w["windows/acceptor_accuracy"],
                  "chr2_topk_acceptor": g["genes/acceptor_topk"], "chr2_topk_donor": g["genes/donor_topk"],
                  "chr2_pr_auc_acceptor": g["genes/acceptor_pr_auc"], "chr2_pr_auc_donor": g["genes/donor_pr_auc"]},
        "pwm": {"window_accuracy_donor": w["windows/pwm/donor_accuracy"], "window_accuracy_acceptor": w["windows/pwm/acceptor_accuracy"],
                "chr2_topk_acceptor": g["genes/pwm/acceptor_topk"], "chr2_topk_donor": g["genes/pwm/donor_topk"],
                "chr2_pr_auc_acceptor": g["genes/pwm/acceptor_pr_auc"], "chr2_pr_auc_donor": g["genes/pwm/donor_pr_auc"]},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(json.dumps(result["summary"], indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
