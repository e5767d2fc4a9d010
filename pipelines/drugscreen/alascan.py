"""In-silico alanine scanning with a trained affinity model.

Every residue of the target (or of a 1-based inclusive range) is mutated to alanine in
turn; the model predicts the affinity of the ligand to each variant. The *drop*
``pred(wild type) - pred(X->A)`` is positive where removing the side chain weakens the
predicted binding (a predicted hotspot). The ligand and the wild type are encoded once;
variants go through ``protein_encoder`` + ``affinity_head`` in batches.

Residues beyond the model's ``max_protein_length`` are never seen by the model (the
tokeniser truncates) and are therefore not scanned; alanines are skipped (X->A is a
no-op for them).

Example:
    >>> from pipelines.drugscreen.alascan import parse_residue_range
    >>> parse_residue_range("250-320")
    (250, 320)
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sciarch.io.sequences import PROTEIN_ALPHABET, tokenize_protein

ALA = PROTEIN_ALPHABET.index("A") + 1


def parse_residue_range(text: str | None) -> tuple[int, int] | None:
    """``"a-b"`` (1-based, inclusive) -> ``(a, b)``; ``None`` -> ``None``."""
    if text is None or not str(text).strip():
        return None
    parts = str(text).replace(" ", "").split("-")
    try:
        if len(parts) == 1:
            a = b = int(parts[0])
        elif len(parts) == 2:
            a, b = int(parts[0]), int(parts[1])
        else:
            raise ValueError
    except ValueError:
        raise ValueError(f"--residues {text!r}: expected A-B with 1-based residue numbers, e.g. 250-320") from None
    if a < 1 or b < a:
        raise ValueError(f"--residues {text!r}: need 1 <= A <= B")
    return a, b


@dataclass
class ScanResult:
    positions: np.ndarray  # 1-based
    residues: list[str]
    wild_type_prediction: float
    predictions: np.ndarray
    drops: np.ndarray
    skipped_beyond_max_length: int

    def top(self, k: int = 10) -> np.ndarray:
        return np.argsort(-self.drops, kind="stable")[:k]


def alanine_scan(
    model,
    smiles: str,
    sequence: str,
    *,
    residues: tuple[int, int] | None = None,
    max_length: int = 1000,
    batch_size: int = 64,
) -> ScanResult:
    """Scan ``sequence`` against ``smiles`` with a model built by
    :func:`pipelines.drugscreen.model.build_affinity_model` (or loaded from a run). For an
    ensemble every prediction is the mean over its members."""
    from pipelines.drugscreen.model import affinity_members, ligand_batch, sub_models  # Keras

    members = [sub_models(m) for m in affinity_members(model)]
    wt = tokenize_protein(sequence, max_length, name="target")
    n = len(sequence)
    a, b = residues if residues is not None else (1, n)
    if a > n:
        raise ValueError(f"--residues starts at {a} but the target has only {n} residues")
    b = min(b, n)
    visible_end = min(b, max_length)
    positions = np.array(
        [i for i in range(a, visible_end + 1) if wt[i - 1] != ALA], dtype=np.int64
    )
    skipped = max(0, b - max(visible_end, a - 1))
    wt_pred = 0.0
    preds = np.zeros(len(positions), np.float32)
    for lig_enc, prot_enc, head in members:
        graph = ligand_batch(lig_enc, [smiles])
        lig = np.asarray(lig_enc(graph, training=False))
        wt_emb = np.asarray(prot_enc(wt[None], training=False))
        wt_pred += float(np.asarray(head([lig, wt_emb], training=False))[0, 0]) / len(members)
        for s in range(0, len(positions), batch_size):
            pos = positions[s : s + batch_size]
            toks = np.repeat(wt[None], len(pos), axis=0)
            toks[np.arange(len(pos)), pos - 1] = ALA
            emb = np.asarray(prot_enc(toks, training=False))
            out = head([np.repeat(lig, len(pos), axis=0), emb], training=False)
            preds[s : s + len(pos)] += np.asarray(out).reshape(-1) / len(members)
    return ScanResult(
        positions=positions,
        residues=[sequence[i - 1].upper() for i in positions],
        wild_type_prediction=wt_pred,
        predictions=preds,
        drops=wt_pred - preds,
        skipped_beyond_max_length=skipped,
    )


def write_tsv(result: ScanResult, path: str | Path) -> Path:
    path = Path(path)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t")
        w.writerow(["position", "residue", "mutant", "predicted_wild_type", "predicted_mutant", "predicted_drop"])
        for i, pos in enumerate(result.positions):
            w.writerow([int(pos), result.residues[i], "A", f"{result.wild_type_prediction:.5f}",
                        f"{result.predictions[i]:.5f}", f"{result.drops[i]:.5f}"])
    return path


def plot_profile(result: ScanResult, path: str | Path, *, title: str = "", top: int = 10, dpi: int = 110) -> Path:
    from sciarch.viz.plots import new_figure, save_figure

    fig, ax = new_figure(10, 3.8)
    ax.plot(result.positions, result.drops, lw=0.8, color="tab:blue")
    ax.axhline(0, color="k", lw=0.6)
    idx = result.top(top)
    ax.scatter(result.positions[idx], result.drops[idx], color="tab:red", zorder=3, s=18, label=f"top {len(idx)} hotspots")
    for i in idx:
        ax.annotate(f"{result.residues[i]}{result.positions[i]}", (result.positions[i], result.drops[i]),
                    textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
    ax.set_xlabel("residue position")
    ax.set_ylabel("predicted affinity drop (wt - X→A)")
    ax.set_title(title or "in-silico alanine scan")
    ax.legend(loc="upper right")
    return save_figure(fig, path, dpi)
