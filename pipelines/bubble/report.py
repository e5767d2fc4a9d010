"""Report figures of the bubble pipeline: detections overlaid, recall vs track density, real-scan overlay."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sciarch.viz.plots import new_figure, plt, save_figure

from pipelines.bubble.simulation import CLASS_NAMES

COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange")


def plot_detections(sample, det, out: Path, n: int = 4, score_threshold: float = 0.3, dpi: int = 110) -> Path:
    """Ground truth (top row) and detections with score >= threshold (bottom row) for the
    ``n`` frames with the most tracks among the first 32."""
    counts = (sample.classes >= 0).sum(1)
    order = np.argsort(-counts[:32], kind="stable")[:n]
    fig, axes = new_figure(3.2 * len(order), 6.6, nrows=2, ncols=len(order), squeeze=False)
    for col, i in enumerate(order):
        for row in range(2):
            ax = axes[row, col]
            ax.imshow(sample.images[i], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                boxes, classes = sample.boxes[i], sample.classes[i]
                ax.set_title(f"truth: {int(counts[i])} tracks", fontsize=8)
            else:
                keep = (det["classes"][i] >= 0) & (det["scores"][i] >= score_threshold)
                boxes, classes = det["boxes"][i][keep], det["classes"][i][keep]
                ax.set_title(f"detected: {int(keep.sum())} (score >= {score_threshold})", fontsize=8)
            for b, c in zip(boxes, classes):
                if c < 0:
                    continue
                ax.add_patch(plt.Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False,
                                           ec=COLOURS[int(c) % len(COLOURS)], lw=0.6))
    handles = [plt.Line2D([], [], color=COLOURS[k], label=name) for k, name in enumerate(CLASS_NAMES)]
    fig.legend(handles=handles, loc="lower center", ncol=len(CLASS_NAMES), fontsize=7, frameon=False)
    fig.subplots_adjust(bottom=0.06)
    return save_figure(fig, out, dpi)


def plot_recall_vs_density(results: dict[str, dict], bins, out: Path, key: str = "recall50", dpi: int = 110) -> Path:
    """Class-agnostic recall (IoU >= 0.5) per track-density bin, one line per detector."""
    fig, ax = new_figure(5.5, 3.8)
    labels = [f"{lo}-{hi - 1}" if hi < 1000 else f">={lo}" for lo, hi in zip(bins[:-1], bins[1:])]
    x = np.arange(len(labels))
    for name, res in results.items():
        y = [res.get(f"{key}@{lo}-{hi}", np.nan) for lo, hi in zip(bins[:-1], bins[1:])]
        ax.plot(x, y, marker="o", label=f"{name} (overall {res.get(key, np.nan):.3f})")
    ax.set_xticks(x, labels)
    ax.set_xlabel("labelled tracks per image")
    ax.set_ylabel("recall at IoU 0.5" if key == "recall50" else key)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, out, dpi)


def plot_overlay(image, boxes_xyxy, classes, scores, out: Path, title: str = "", dpi: int = 110,
                 polylines=None) -> Path:
    """Boxes (xyxy, original pixels) over a grey-scale image; with ``polylines`` (one ``[K, 2]``
    (x, y) chain per box, unclassified tracks) each track is drawn as its chain inside a thin box."""
    h, w = image.shape[:2]
    fig, ax = new_figure(min(16.0, 2.0 + w / 150), min(9.0, 1.0 + h / 150))
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    for n, (b, c, s) in enumerate(zip(boxes_xyxy, classes, scores)):
        colour = COLOURS[(n if polylines is not None else int(c)) % len(COLOURS)]
        ax.add_patch(plt.Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec=colour,
                                   lw=0.4 if polylines is not None else 0.7))
        if polylines is not None:
            ax.plot(polylines[n][:, 0], polylines[n][:, 1], color=colour, lw=1.0)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    if polylines is None:
        handles = [plt.Line2D([], [], color=COLOURS[k], label=name) for k, name in enumerate(CLASS_NAMES)]
        ax.legend(handles=handles, loc="upper right", fontsize=6)
    return save_figure(fig, out, dpi)
