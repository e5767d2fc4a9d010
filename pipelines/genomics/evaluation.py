"""Evaluation of the genomics pipeline: the network next to the PWM baseline on the same data.

* **windows** (``windows/...``): held-out windows; accuracy (3 classes), donor / acceptor
  accuracy on true sites plus GT/AG decoys, PR-AUC per class (:func:`window_metrics`);
  ``windows/pwm/...`` is the PWM on the same windows.
* **genes** (``genes/...``): every position of every held-out gene body; top-k accuracy and
  PR-AUC per class (:func:`site_metrics`), ``genes/pwm/...`` for the PWM on the same candidates.

:func:`evaluate_sets` returns the metrics and the arrays behind them (the report draws its PR
curves from those).

Example:
    >>> from pipelines.genomics.evaluation import finite
    >>> finite({"a": 1.0, "b": float("nan")})
    {'a': 1.0}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipelines.genomics.data import WindowSet
from pipelines.genomics.genome import Gene, GenomePiece, gene_labels, transcript_region
from pipelines.genomics.inference import (
    class_prior, decide, pwm_transcript, score_transcript, scoring_flank, window_probs,
)
from pipelines.genomics.metrics import site_metrics, window_metrics
from pipelines.genomics.prepare import Prepared, window_width
from pipelines.genomics.sequence import candidate_type, encode

if TYPE_CHECKING:
    from pipelines.genomics.pipeline import GenomicsDataConfig


def finite(metrics: dict[str, float]) -> dict[str, float]:
    """``metrics`` without the undefined (NaN / infinite) values."""
    return {k: v for k, v in metrics.items() if np.isfinite(v)}


def evaluate_windows(model, P: Prepared, wset: WindowSet, d: GenomicsDataConfig) -> tuple[dict, dict]:
    """Window metrics of the network and the PWM on ``wset``, and the arrays behind them."""
    out: dict[str, float] = {}
    x = encode(wset.seqs, window_width(d))
    y = np.asarray(wset.labels)
    cand = np.array([candidate_type(s) for s in wset.seqs], bool).reshape(-1, 2)
    src = np.asarray(wset.sources)
    pm = window_probs(model, wset.seqs, d)
    prior = class_prior(P, d.mode) if d.decision_prior != "train" else None
    out.update(window_metrics(y, pm, cand[:, 0], cand[:, 1], src, "windows/", decide(pm, d.decision_prior, prior)))
    store = {"labels": y, "model": pm, "seqs": wset.seqs}
    if P.pwm is not None:
        pp = P.pwm.predict_proba(x)
        out.update(window_metrics(y, pp, cand[:, 0], cand[:, 1], src, "windows/pwm/"))
        store["pwm"] = pp
    return out, store


def evaluate_genes(model, P: Prepared, genes: list[tuple[GenomePiece, Gene]], d: GenomicsDataConfig
                   ) -> tuple[dict, dict]:
    """Per-position metrics of the network and the PWM over whole gene bodies."""
    from rich.progress import track

    out: dict[str, float] = {}
    labels, pm, pp = [], [], []
    flank = scoring_flank(d)
    for piece, gene in track(genes, description="scoring genes", transient=True, disable=len(genes) < 3):
        tseq = transcript_region(piece, gene, flank)
        L = gene.end0 - gene.start0
        labels.append(gene_labels(piece, gene))
        pm.append(score_transcript(model, tseq, flank, L, d))
        if P.pwm is not None:
            pp.append(pwm_transcript(P.pwm, tseq, flank, L, window_width(d)))
    y = np.concatenate(labels)
    pmc = np.concatenate(pm)
    out.update(site_metrics(y, pmc, "genes/"))
    out["genes/genes"] = float(len(genes))
    out["genes/positions"] = float(len(y))
    store = {"labels": y, "model": pmc, "names": [f"{p.name}:{g.name}" for p, g in genes]}
    if pp:
        ppc = np.concatenate(pp)
        out.update(site_metrics(y, ppc, "genes/pwm/"))
        store["pwm"] = ppc
    return out, store


def evaluate_sets(model, P: Prepared, wset: WindowSet, genes: list[tuple[GenomePiece, Gene]],
                  d: GenomicsDataConfig) -> tuple[dict[str, float], dict]:
    """Metrics of ``model`` and the PWM on windows ``wset`` and on ``[(piece, gene), ...]``,
    plus the stored arrays (``{"windows": ..., "genes": ...}``) for the report.

    Metrics that are undefined on the given data (PR-AUC or top-k of a class without true
    sites, accuracy on an empty task) are left out rather than reported as NaN.
    """
    out: dict[str, float] = {}
    store: dict = {}
    if d.eval_windows and len(wset):
        m, store["windows"] = evaluate_windows(model, P, wset, d)
        out.update(m)
    if d.eval_genes and genes:
        m, store["genes"] = evaluate_genes(model, P, genes, d)
        out.update(m)
    tr = P.windows.get("train")
    out["data/train_windows"] = float(len(tr)) if tr is not None else 0.0
    if P.chunks:
        out["data/train_chunks"] = float(len(P.chunks["train"][0]))
    out["data/train_removed_40mer"] = float(P.summary.get("train_removed_sharing_40mer_with_validation", 0))
    # metrics undefined on this data (e.g. PR-AUC of a class with no true site) are left out
    return finite(out), store
