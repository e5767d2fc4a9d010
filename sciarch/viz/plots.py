"""Shared plotting helpers (headless matplotlib).

Example:
    >>> import tempfile, pathlib
    >>> from sciarch.viz import plot_training_curves
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "h.csv").write_text("epoch,loss,val_loss\\n0,1.0,1.1\\n1,0.5,0.7\\n")
    >>> plot_training_curves(d / "h.csv", d / "curves.png").name
    'curves.png'
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def new_figure(width: float = 6.0, height: float = 4.0, **kw):
    return plt.subplots(figsize=(width, height), **kw)


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def read_history(path: str | Path) -> dict[str, list[float]]:
    cols: dict[str, list[float]] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            for k, v in row.items():
                try:
                    cols.setdefault(k, []).append(float(v))
                except (TypeError, ValueError):
                    cols.setdefault(k, []).append(float("nan"))
    return cols


def plot_training_curves(history_csv: str | Path, out: str | Path, dpi: int = 110) -> Path:
    """One panel per metric (train and validation together) from a Keras CSVLogger file."""
    hist = read_history(history_csv)
    epochs = [int(e) + 1 for e in hist.pop("epoch", [])]
    names = [k for k in hist if not k.startswith("val_") and k != "learning_rate"]
    names = names or list(hist)
    n = max(len(names), 1)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        ax.plot(epochs, hist[name], marker="o", label="train")
        if f"val_{name}" in hist:
            ax.plot(epochs, hist[f"val_{name}"], marker="s", label="validation")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    return save_figure(fig, out, dpi=dpi)
