"""Report of the ecological-risk pipeline (called by ``EcoRiskPipeline.report``).

It trains nothing: the model comparison is computed beforehand by the comparison step
(:func:`pipelines.ecorisk.comparison.compare_models`) and only read here. Writes into the
run directory:

* ``comparison.json`` / ``comparison.png`` -- test-split metrics of the trained model, a
  plain-BCE twin (same architecture, data, optimiser and epochs) and a scikit-learn
  logistic regression (from the comparison);
* ``risk_map.tif`` -- the predicted risk (a Cloud-Optimized GeoTIFF: tiled, with overviews) on the input grid (rasters: the stacked grid;
  sample points: the model applied to the raster layers at ``data.map_scale``; Amazon:
  the 0.225 deg cell lattice in SIRGAS 2000), with the grid's CRS and transform and
  nodata = -9999, plus ``risk_map.png`` with a colour-bar legend;
* ``zone_risk.png`` -- per-zone mean predicted risk of the models next to the observed
  deforestation rate, with each model's fairness term (variance of the zone means);
* ``budget_capture.png`` -- plain and importance-weighted capture at the 5 / 10 / 20% alert
  budgets, one line per model (the same budget for every model);
* ``reliability.png`` -- reliability diagram (mean risk vs observed rate per bin) with the
  Brier score of each model;
* ``tradeoff_lambda_fair.png`` -- AUC vs zone gap over λ_fair, when
  ``benchmarks/results/ecorisk.json`` holds a sweep for this data set.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from sciarch.viz.plots import new_figure, save_figure

from pipelines.ecorisk import data as D
from pipelines.ecorisk.comparison import Comparison
from pipelines.ecorisk.metrics import BUDGETS, budget_key, calibration, per_zone_table

log = logging.getLogger(__name__)
NODATA = -9999.0


def write_report(pipe, out: Path, model, metrics: dict, comparison: Comparison) -> list[Path]:
    """Write the report files for ``model``; ``comparison`` is the comparison step's result."""
    out.mkdir(parents=True, exist_ok=True)
    cfg = pipe.config
    dpi = cfg.report.dpi
    files: list[Path] = []

    # ---- comparison on the held-out test split
    comparison.save(out / "comparison.json")
    files.append(plot_comparison(comparison.metrics, out / "comparison.png", dpi))

    # ---- risk map (GeoTIFF on the input grid + PNG)
    try:
        files += write_risk_map(pipe, model, out, dpi)
    except Exception as exc:  # the map is an extra; never lose the rest of the report
        log.warning("risk map not written: %s", exc)

    # ---- per-zone mean risk
    files.append(plot_zone_risk(comparison.predictions, comparison.target, comparison.zone, comparison.zone_names,
                                out / "zone_risk.png", dpi))
    files.append(plot_budgets(comparison.metrics, out / "budget_capture.png", dpi))
    files.append(plot_reliability(comparison.predictions, comparison.target, out / "reliability.png", dpi))

    # ---- trade-off over λ_fair from the benchmark, when present
    bench = pipe.benchmark_results()
    ds = (bench or {}).get("datasets", {}).get(cfg.data.dataset)
    if ds and ds.get("tradeoff_lambda_fair"):
        files.append(plot_tradeoff(ds, out / "tradeoff_lambda_fair.png", dpi))
    return files


# --------------------------------------------------------------------------- maps


def write_risk_map(pipe, model, out: Path, dpi: int, rasters: Path | None = None,
                   tif: Path | None = None) -> list[Path]:
    """Write the risk GeoTIFF (``tif``, default ``out/risk_map.tif``) and its PNG (same name, ``.png``).

    ``rasters``: a folder of GeoTIFF layers in the embedded layout to map instead of the
    embedded Guadeloupe layers (raster runs: stacked at the run's ``data.scale`` and normalised
    with its training statistics; points runs: the layers at ``data.map_scale``). Returns the
    PNG in a list (the report's file list).
    """
    from sciarch.io.raster import write_geotiff

    cfg = pipe.config.data
    tif = Path(tif) if tif is not None else out / "risk_map.tif"
    if pipe.is_raster:
        rd = pipe.raster() if rasters is None else pipe.external_raster(rasters)
        risk = pipe.predict_raster(model, rd)
        grid, valid = rd.grid, rd.valid
        title = "deforestation risk 2010-2020 (forest of 2010)"
    elif cfg.dataset == "guadeloupe_points":
        risk, grid, valid = points_model_map(pipe, model, rasters)
        title = "deforestation risk 2010-2020 (points model on the raster layers)"
    else:
        if rasters is not None:
            raise D.EcoDataError(f"{rasters}: an 'amazon_grid' run maps 25 km cells, not raster layers "
                                 "(use a guadeloupe_raster or guadeloupe_points run)")
        risk, grid, valid = amazon_cell_map(pipe, model)
        title = "deforestation risk, latest labelled year (25 km cells)"
    write_geotiff(tif, np.where(valid, risk, NODATA), grid, nodata=NODATA, valid=valid, cog=True,
                  blocksize=cfg.map_blocksize)
    return [plot_map(np.where(valid, risk, np.nan), tif.with_suffix(".png"), title, dpi)]


def points_model_map(pipe, model, folder: Path | None = None):
    """Apply the tabular points model to every forest pixel of the raster layers in ``folder``
    (default: the embedded Guadeloupe layers)."""
    from sciarch.io.raster import normalise, stack_rasters

    cfg = pipe.config.data
    td, _, _ = pipe.table()
    folder = Path(folder) if folder is not None else D.data_dir(cfg) / "guadeloupe"
    layers = ["fcc23"] + list(td.names)
    for n in layers:
        if not (folder / f"{n}.tif").is_file():
            raise D.EcoDataError(f"{folder / f'{n}.tif'}: raster layer missing from {folder}")
    stack = stack_rasters([folder / f"{n}.tif" for n in layers], names=layers, reference=folder / "fcc23.tif",
                          resampling={n: D.RASTER_LAYERS.get(n, "bilinear") for n in layers}, scale=cfg.map_scale)
    valid = stack.valid.all(axis=-1) & np.isin(stack.layer("fcc23"), (0.0, 1.0))
    feats = stack.data[..., 1:][valid]
    x, _ = normalise(feats, np.isfinite(feats), stats=pipe._stats)
    rows, cols = np.nonzero(valid)
    t = stack.grid.transform
    x = np.concatenate([x, D.spatial_encoding(t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e, cfg)], -1)
    risk = np.zeros(valid.shape, np.float32)
    risk[valid] = np.asarray(model.predict(x, batch_size=8192, verbose=0)).ravel()
    return risk, stack.grid, valid


def amazon_cell_map(pipe, model):
    """Risk of the latest labelled year on the regular lattice of cell centres (EPSG:4674)."""
    from rasterio.transform import from_origin

    from sciarch.io.raster import RasterGrid

    td, _, x = pipe.table()
    risk_all = np.asarray(model.predict(x, batch_size=8192, verbose=0)).ravel()
    lon, lat = td.x, td.y
    ux, uy = np.unique(np.round(lon, 6)), np.unique(np.round(lat, 6))
    dx = float(np.median(np.diff(ux))) if len(ux) > 1 else 0.225
    dy = float(np.median(np.diff(uy))) if len(uy) > 1 else 0.225
    cols = np.rint((lon - ux.min()) / dx).astype(int)
    rows = np.rint((uy.max() - lat) / dy).astype(int)
    w, h = cols.max() + 1, rows.max() + 1
    grid = RasterGrid("EPSG:4674", from_origin(ux.min() - dx / 2, uy.max() + dy / 2, dx, dy), int(w), int(h))
    risk = np.zeros((h, w), np.float32)
    valid = np.zeros((h, w), bool)
    # later rows (later ref_year) overwrite earlier ones
    order = np.argsort(td.extra.get("year", np.zeros(len(risk_all))), kind="stable")
    risk[rows[order], cols[order]] = risk_all[order]
    valid[rows, cols] = True
    return risk, grid, valid


def plot_map(risk: np.ndarray, path: Path, title: str, dpi: int) -> Path:
    import matplotlib.pyplot as plt

    h, w = risk.shape
    fig, ax = new_figure(7.0, 7.0 * h / max(w, 1) + 0.6)
    cmap = plt.get_cmap("YlOrRd").copy()
    cmap.set_bad("#d9d9d9")
    im = ax.imshow(np.ma.masked_invalid(risk), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    cb = fig.colorbar(im, ax=ax, fraction=0.035, pad=0.02)
    cb.set_label("predicted probability of deforestation (grey: no data / not forest)", fontsize=8)
    return save_figure(fig, path, dpi)


def plot_comparison(comparison: dict, path: Path, dpi: int) -> Path:
    """Five panels (test split), one bar per model: ROC-AUC, capture and importance-weighted
    capture at the 10% budget, Brier score, zone gap."""
    names = list(comparison)
    k = budget_key(0.10)
    panels = (("auc", "ROC-AUC (higher is better)"), (f"capture@{k}", f"capture, top {k} flagged"),
              (f"weighted_capture@{k}", f"importance-weighted capture, top {k}"),
              ("brier", "Brier score (lower is better)"), ("zone_gap", "zone gap of mean risk"))
    fig, axes = new_figure(16.0, 3.6, ncols=len(panels))
    for ax, (key, label) in zip(axes, panels):
        vals = [comparison[n].get(key, float("nan")) for n in names]
        bars = ax.bar(range(len(names)), vals, color=[f"C{i}" for i in range(len(names))])
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
        ax.set_xticks(range(len(names)), [n.replace(" (", "\n(") for n in names], fontsize=7)
        ax.set_title(label, fontsize=9)
    fig.suptitle("held-out test split", fontsize=9)
    return save_figure(fig, path, dpi)


def plot_zone_risk(preds: dict, target, zone, zone_names, path: Path, dpi: int) -> Path:
    tables = {name: per_zone_table(target, p, zone, zone_names) for name, p in preds.items()}
    fair = {name: float(np.var([r[1] for r in rows])) for name, rows in tables.items()}
    first = next(iter(tables.values()))
    if len(first) > 20:  # many zones: keep the 20 largest
        keep = {r[0] for r in sorted(first, key=lambda r: -r[3])[:20]}
        tables = {k: [r for r in v if r[0] in keep] for k, v in tables.items()}
        first = next(iter(tables.values()))
    labels = [f"{r[0]}\n(n={r[3]})" for r in first]
    n = len(tables) + 1
    width = 0.8 / n
    fig, ax = new_figure(max(6.0, 0.9 * len(labels) + 2), 4.0)
    xs = np.arange(len(labels))
    for i, (name, rows) in enumerate(tables.items()):
        ax.bar(xs + i * width, [r[1] for r in rows], width,
               label=f"{name} (mean risk; Var of zone means {fair[name]:.4f})")
    ax.bar(xs + (n - 1) * width, [r[2] for r in first], width, color="k", alpha=0.35, label="observed rate")
    ax.set_xticks(xs + width * (n - 1) / 2, labels, fontsize=8)
    ax.set_ylabel("mean predicted risk (test split)")
    ax.set_title("per-zone mean risk", fontsize=10)
    ax.legend(fontsize=7)
    return save_figure(fig, path, dpi)


def plot_budgets(metrics: dict, path: Path, dpi: int, budgets=BUDGETS) -> Path:
    """Capture (left) and importance-weighted capture (right) vs alert budget, one line per model."""
    fig, axes = new_figure(10.0, 3.8, ncols=2)
    xs = [100 * b for b in budgets]
    for ax, (prefix, label) in zip(axes, (("capture", "share of deforestation flagged"),
                                          ("weighted_capture", "share of deforested importance flagged"))):
        for i, (name, m) in enumerate(metrics.items()):
            ys = [m.get(f"{prefix}@{budget_key(b)}", float("nan")) for b in budgets]
            ax.plot(xs, ys, "o-", color=f"C{i}", label=name)
        ax.plot(xs, [b for b in budgets], "k:", label="random ranking")
        ax.set_xlabel("alert budget: % of forest area flagged (highest risk first)")
        ax.set_ylabel(label)
        ax.set_xticks(xs)
        ax.legend(fontsize=7)
    fig.suptitle("capture at fixed alert budgets (held-out test split)", fontsize=9)
    return save_figure(fig, path, dpi)


def plot_reliability(preds: dict, target, path: Path, dpi: int, bins: int = 10) -> Path:
    """Reliability diagram: observed deforestation rate vs mean predicted risk per risk bin."""
    fig, ax = new_figure(5.5, 5.0)
    ax.plot([0, 1], [0, 1], "k:", label="perfect calibration")
    for i, (name, p) in enumerate(preds.items()):
        c = calibration(target, p, bins)
        rows = c["reliability"]
        ax.plot([r[2] for r in rows], [r[3] for r in rows], "o-", color=f"C{i}",
                label=f"{name} (Brier {c['brier']:.3f}, ECE {c['ece']:.3f})")
    ax.set_xlabel("mean predicted risk in bin")
    ax.set_ylabel("observed deforestation rate in bin")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("reliability (held-out test split)", fontsize=10)
    ax.legend(fontsize=7)
    return save_figure(fig, path, dpi)


def plot_tradeoff(entry: dict, path: Path, dpi: int) -> Path:
    curve = entry["tradeoff_lambda_fair"]
    fig, ax = new_figure(5.5, 4.0)
    gaps = [c["zone_gap"] for c in curve]
    aucs = [c["auc"] for c in curve]
    ax.plot(gaps, aucs, "o-", label="composite loss, λ_fair sweep")
    for c in curve:
        ax.annotate(f"λ_fair={c['lambda_fair']:g}", (c["zone_gap"], c["auc"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    for key, marker in (("bce", "s"), ("logistic", "^")):
        if key in entry:
            ax.plot([entry[key]["zone_gap"]], [entry[key]["auc"]], marker, label=key)
    ax.set_xlabel("zone gap (max - min per-zone mean risk), test")
    ax.set_ylabel("ROC-AUC, test")
    ax.set_title("accuracy vs fairness over λ_fair (benchmark)", fontsize=10)
    ax.legend(fontsize=7)
    return save_figure(fig, path, dpi)
