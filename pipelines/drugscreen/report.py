"""Report figures of the drugscreen pipeline: predicted vs measured affinity, residuals and
the per-target CI, plus the run's input notes (``bad_input.txt``, ``mutant_notes.txt``).

Example:
    >>> from pipelines.drugscreen.report import write_report_figures
    >>> ev = {"y": y, "p": p, "protein": protein, "split": "validation"}      # doctest: +SKIP
    >>> write_report_figures(run_dir, data, ev, {"ci": 0.88}, dpi=110)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.drugscreen.data import DTAData
from pipelines.drugscreen.metrics import per_target_ci


def write_report_figures(out_dir: str | Path, data: DTAData, ev: dict, metrics: dict, *, dpi: int) -> list[Path]:
    """Write the report PNGs into ``out_dir`` and return their paths.

    ``ev``: the last evaluation, ``{"y", "p", "protein", "split"}`` (measured and predicted
    labels and the protein index of each pair); ``metrics``: its metrics (``ci``, ``mse``
    go into the scatter's title). ``data``'s problems and mutant notes are written next to
    the figures when there are any.
    """
    from sciarch.viz.plots import new_figure, save_figure

    out_dir = Path(out_dir)
    y, p = ev["y"], ev["p"]
    files = []
    fig, ax = new_figure(5.5, 5.0)
    hb = ax.hexbin(y, p, gridsize=45, bins="log", cmap="viridis", mincnt=1)
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], "r--", lw=1, label="y = x")
    ax.set_xlabel(f"measured {data.target_column}")
    ax.set_ylabel(f"predicted {data.target_column}")
    ax.set_title(
        f"{data.name} {ev['split']}: CI {metrics.get('ci', float('nan')):.3f}, "
        f"MSE {metrics.get('mse', float('nan')):.3f}, n={len(y)}"
    )
    ax.legend(loc="upper left")
    fig.colorbar(hb, ax=ax, label="pairs (log)")
    files.append(save_figure(fig, out_dir / "predicted_vs_measured.png", dpi))

    fig, axes = new_figure(10, 3.8, ncols=2)
    axes[0].hist(p - y, bins=60, color="tab:blue")
    axes[0].set_xlabel("prediction - measurement")
    axes[0].set_ylabel("pairs")
    axes[0].set_title("residuals")
    cis = per_target_ci(y, p, ev["protein"])
    axes[1].hist(cis, bins=30, color="tab:green")
    axes[1].axvline(0.5, color="k", ls=":", lw=1)
    axes[1].set_xlabel("CI within one target (ranking its drugs)")
    axes[1].set_ylabel("targets")
    axes[1].set_title(f"per-target CI (median {np.median(cis) if cis else float('nan'):.3f})")
    files.append(save_figure(fig, out_dir / "residuals_and_per_target_ci.png", dpi))
    if data.problems:
        (out_dir / "bad_input.txt").write_text("\n".join(data.problems) + "\n")
    if data.mutant_notes:
        (out_dir / "mutant_notes.txt").write_text("\n".join(data.mutant_notes) + "\n")
    return files
