"""Shipped splice-site reference models (``models/<name>/``): a finished nucleotide-mode run reduced to
what a fresh clone needs, so ``sciarch genomics predict models/<name> ...`` and
``sciarch genomics variants --model models/<name> ...`` work without training.

The directory keeps the run's ``model.keras``, ``config.yaml``, ``metrics.json``, ``history.csv`` and
``run.json`` and adds

* ``data_summary.json`` of the run (every training gene by name) when its report wrote one;
* ``card.json``: the held-out genes (the whole genes of the validation piece) with the run's top-k and
  PR-AUC over every position of them, the PWM beside it, and a *check gene* (the shortest held-out gene
  with sites of both classes) with the figures the model scores on it; the command that rebuilt it;
* ``README.md``: the model card in words.

:func:`check_gene_metrics` recomputes the check-gene figures; the reference-model test compares
them with the card. Build one with::

    python -m pipelines.genomics.reference runs/nt/c400-cnn-5k models/splice-nt400 \\
        --command "sciarch run genomics -c configs/genomics/nucleotide_full.yaml --out runs/nt/c400-cnn-5k"
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
from pathlib import Path

import numpy as np

from sciarch.report import REFERENCE_RUN_FILES, card_rebuild_and_use

GENE_KEYS = ("acceptor_topk", "donor_topk", "topk_mean", "acceptor_pr_auc", "donor_pr_auc", "pr_auc_mean")


def _open(model_dir: Path):
    from sciarch.runs import open_run

    opened = open_run(model_dir, pipeline="genomics")
    if opened.config.data.mode != "nucleotide":
        raise ValueError(f"{model_dir}: data.mode is {opened.config.data.mode!r}; a splice reference model is a "
                         "nucleotide-mode run (it scores whole genes)")
    return opened


def _sites_of_both_classes(labels: np.ndarray) -> bool:
    return bool((labels == 1).any() and (labels == 2).any())


def check_gene(pipe) -> tuple:
    """``(piece, gene)``: the shortest held-out (validation) gene with acceptor and donor sites."""
    from pipelines.genomics.genome import gene_labels

    genes = [(p, g) for p, g in pipe.eval_genes(pipe.prepare(), "validation") if _sites_of_both_classes(gene_labels(p, g))]
    if not genes:
        raise ValueError("the validation piece has no whole gene with both acceptor and donor sites")
    return min(genes, key=lambda pg: (pg[1].end0 - pg[1].start0, pg[1].name))


def check_gene_metrics(model_dir: str | Path, model=None, pipe=None) -> dict:
    """Top-k / PR-AUC per class of the model in ``model_dir`` over every position of its check gene
    (``model`` / ``pipe``: that directory's model and pipeline when the caller has them already)."""
    from pipelines.genomics.genome import gene_labels
    from pipelines.genomics.metrics import site_metrics

    opened = _open(Path(model_dir))
    pipe = opened.pipeline() if pipe is None else pipe
    model = opened.load_model() if model is None else model
    piece, gene = check_gene(pipe)
    y = gene_labels(piece, gene)
    m = site_metrics(y, pipe.score_gene(model, piece, gene), "")
    return {"gene": f"{piece.name}:{gene.name}", "positions": int(len(y)),
            **{k: float(m[k]) for k in ("acceptor_topk", "donor_topk", "acceptor_pr_auc", "donor_pr_auc")}}


def card_markdown(name: str, card: dict) -> str:
    """``README.md`` of a splice reference model from its ``card.json``."""
    g, pwm, c, w = card["heldout_genes"], card["heldout_pwm"], card["check_gene"], card["windows"]
    m = card["model"]
    trunk = "SpliceAI's residual-stage rung" if m.get("stages") is None else f"residual stages {m['stages']}"
    top = "CNN only" if m["rnn"] == "none" and not m["attention_heads"] else (
        f"CNN -> Bi{m['rnn'].upper()} ({m['rnn_units']} units)" + (
            f" -> windowed self-attention ({m['attention_heads']} heads)" if m["attention_heads"] else ""))
    lines = [
        f"# {name}: splice-site reference model (per-nucleotide, {card['context']} nt of context)",
        "",
        f"Scores every position of a gene (transcript sense) as neither / acceptor / donor from {card['context']} nt of "
        f"flanking sequence ({card['context'] // 2} each side): {trunk} ({m['filters']} filters), {top}. "
        f"{card['params']:,} parameters.",
        "",
        "## Data and split",
        "",
        f"- trained on {card['train_genes']} genes of the embedded hg38 / hg19 genome pieces (`data/genomics/`, "
        f"GENCODE exons; see PROVENANCE.md and `data_cards/`), {card['train_chunks']} chunks of {card['block']} nt",
        f"- held out: the whole piece {', '.join(card['validation_pieces'])} ({len(card['genes'])} whole genes, "
        f"{card['positions']:,} positions): {', '.join(card['genes'])}. The region reserved for evaluation "
        "(chr2:1,700,000-2,400,000) is in no piece.",
        f"- epochs trained: {card['epochs_trained']}",
        *([f"- **{card['note']}**"] if card.get("note") else []),
        "",
        "## Metrics (held-out genes, every position)",
        "",
        "| | acceptor top-k | donor top-k | mean | acceptor PR-AUC | donor PR-AUC | mean |",
        "|---|---|---|---|---|---|---|",
        f"| this model | " + " | ".join(f"{g[k]:.4f}" for k in GENE_KEYS) + " |",
        f"| PWM (same training windows) | " + " | ".join(f"{pwm[k]:.4f}" for k in GENE_KEYS) + " |",
        "",
        "Top-k: of the k highest-scoring positions (k = the true sites of the class), the fraction that are true "
        "sites. Window accuracy on the held-out piece's true-site windows and decoys: "
        f"{w.get('windows/accuracy', float('nan')):.4f} (donor {w.get('windows/donor_accuracy', float('nan')):.4f}, "
        f"acceptor {w.get('windows/acceptor_accuracy', float('nan')):.4f}).",
        "",
        f"Check gene (what the tests recompute): {c['gene']} ({c['positions']:,} positions): top-k acceptor "
        f"{c['acceptor_topk']:.4f} / donor {c['donor_topk']:.4f}, PR-AUC {c['acceptor_pr_auc']:.4f} / "
        f"{c['donor_pr_auc']:.4f}.",
        "",
        *card_rebuild_and_use([
            card["command"],
            f"python -m pipelines.genomics.reference {card['run_dir']} models/{name} --command "
            f"{shlex.quote(card['command'])}",
        ], card["train_wall_time_s"], card["machine"], [
            f"sciarch genomics predict models/{name} --genome genome.fa --annotation annotation.tsv --gene GENE "
            "--out pred",
            f"sciarch genomics predict models/{name} --fasta sequences.fa --strand both --out pred",
            f"sciarch genomics variants --model models/{name} --vcf variants.vcf --genome genome.fa "
            "--annotation annotation.tsv --out scored.vcf",
        ]),
    ]
    return "\n".join(lines)


def export_reference(run_dir: str | Path, dest: str | Path, command: str, machine: str = "2 shared CPU cores",
                     note: str = "") -> dict:
    """Copy a finished nucleotide-mode run into ``dest``, compute its check gene, write ``card.json`` and ``README.md``."""
    run_dir, dest = Path(run_dir), Path(dest)
    info = json.loads((run_dir / "run.json").read_text())
    if info.get("status") != "finished":
        raise ValueError(f"{run_dir}: not a finished run (status {info.get('status')!r})")
    cfg = _open(run_dir).config
    dest.mkdir(parents=True, exist_ok=True)
    for f in (*REFERENCE_RUN_FILES, "run.json"):
        shutil.copy2(run_dir / f, dest / f)
    metrics = json.loads((dest / "metrics.json").read_text())
    ev = metrics["evaluation"]
    opened = _open(dest)
    pipe = opened.pipeline()
    model = opened.load_model()
    P = pipe.prepare()
    genes = pipe.eval_genes(P, "validation")
    # what the run trained on (data_summary.json of its report: the pieces may have grown since)
    summary = P.summary
    if (run_dir / "data_summary.json").is_file():
        shutil.copy2(run_dir / "data_summary.json", dest / "data_summary.json")
        summary = json.loads((dest / "data_summary.json").read_text())
    card = {
        "name": dest.name,
        "context": cfg.data.context,
        "block": cfg.data.block,
        "validation_pieces": list(cfg.data.validation_pieces),
        "train_genes": len(summary["genes"]["train"]),
        "train_chunks": int(summary["chunks"]["train"]),
        "genes": [f"{p.name}:{g.name}" for p, g in genes],
        "positions": int(ev.get("genes/positions", 0)),
        "heldout_genes": {k: float(ev[f"genes/{k}"]) for k in GENE_KEYS},
        "heldout_pwm": {k: float(ev[f"genes/pwm/{k}"]) for k in GENE_KEYS},
        "windows": {k: float(v) for k, v in ev.items() if k.startswith("windows/") and "accuracy" in k},
        "check_gene": check_gene_metrics(dest, model=model, pipe=pipe),
        "epochs_trained": metrics.get("epochs_completed"),
        "params": int(model.count_params()),
        "note": note,
        "model": cfg.model.model_dump(),
        "train": cfg.train.model_dump(),
        "command": command,
        "run_dir": str(run_dir),
        "train_wall_time_s": float(metrics.get("train_wall_time_s") or info.get("train_wall_time_s") or 0.0),
        "machine": machine,
        "model_bytes": (dest / "model.keras").stat().st_size,
    }
    (dest / "card.json").write_text(json.dumps(card, indent=2, default=float) + "\n")
    (dest / "README.md").write_text(card_markdown(dest.name, card))
    return card


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="export a finished genomics nucleotide-mode run as a reference model")
    ap.add_argument("run_dir")
    ap.add_argument("dest")
    ap.add_argument("--command", required=True, help="the command that trained the run (for the card)")
    ap.add_argument("--machine", default="2 shared CPU cores")
    ap.add_argument("--note", default="", help="a caveat printed in the card")
    args = ap.parse_args(argv)
    card = export_reference(args.run_dir, args.dest, args.command, args.machine, args.note)
    print(json.dumps({k: card[k] for k in ("name", "heldout_genes", "check_gene", "model_bytes")}, indent=2))


if __name__ == "__main__":
    main()
