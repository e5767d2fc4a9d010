"""Forecast of forest loss by a horizon year from a risk map and a deforestation rate.

As forestatrisk does (``far.deforest``): the expected deforested area by the horizon,
``rate (ha / year) x (horizon - start)``, is allocated to the forest pixels of highest
predicted risk (ties broken in raster order, row-major), capped at the forest area. The
result is a forest-cover raster at the horizon (1 = forest, 0 = expected loss, 255 = not
forest / no data) and a table, one row per year, of the cumulative expected loss.

The rate is given in hectares per year, or estimated from a forest-cover-change raster in
the embedded layout (``fcc23.tif``: 0 = deforested over the period, 1 = still forest) as
its deforested area divided by the period's length. Pixel areas are the grid's nominal
``|a x e|`` (map units squared; metres for the embedded EPSG:3395 grid).

Example:
    >>> import numpy as np
    >>> from pipelines.ecorisk.forecast import allocate
    >>> allocate(np.array([[.9, .1], [.5, .7]]), np.ones((2, 2), bool), 2).astype(int).tolist()
    [[1, 0], [0, 1]]
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from pipelines.ecorisk.spatial import EcoDataError

FOREST, LOST, NODATA = 1, 0, 255


def allocate(risk: np.ndarray, valid: np.ndarray, n_pixels: int) -> np.ndarray:
    """Boolean map of the ``n_pixels`` valid pixels of highest risk (ties in row-major order)."""
    valid = np.asarray(valid, bool)
    flat = np.flatnonzero(valid.ravel())
    n = int(min(max(n_pixels, 0), flat.size))
    order = flat[np.argsort(-np.asarray(risk, np.float64).ravel()[flat], kind="stable")]
    out = np.zeros(valid.size, bool)
    out[order[:n]] = True
    return out.reshape(valid.shape)


def forecast(risk: np.ndarray, valid: np.ndarray, pixel_ha: float, rate_ha_per_year: float, start: int,
             horizon: int) -> tuple[np.ndarray, list[dict]]:
    """``(lost by the horizon [H, W] bool, yearly table)``; the table has one row per year
    ``start .. horizon`` with the cumulative expected loss, the remaining forest and the
    lowest risk among the pixels lost by that year."""
    if horizon <= start:
        raise EcoDataError(f"forecast: horizon {horizon} must be after the start year {start}")
    if rate_ha_per_year < 0 or pixel_ha <= 0:
        raise EcoDataError(f"forecast: need rate >= 0 and a positive pixel area (got {rate_ha_per_year}, {pixel_ha})")
    valid = np.asarray(valid, bool) & np.isfinite(risk)
    forest_px = int(valid.sum())
    r = np.asarray(risk, np.float64)[valid]
    ranked = np.sort(r)[::-1]
    rows = []
    for year in range(start, horizon + 1):
        n = min(int(round(rate_ha_per_year * (year - start) / pixel_ha)), forest_px)
        rows.append({"year": year, "deforested_ha": round(n * pixel_ha, 4),
                     "forest_ha": round((forest_px - n) * pixel_ha, 4), "deforested_pixels": n,
                     "risk_threshold": float(ranked[n - 1]) if n > 0 else float("nan")})
    return allocate(risk, valid, rows[-1]["deforested_pixels"]), rows


def pixel_area_ha(transform) -> float:
    return abs(transform.a * transform.e) / 1e4


def rate_from_fcc(path: Path, years: float) -> float:
    """Deforested hectares per year of a forest-cover-change raster (0 = deforested, 1 = forest)."""
    from sciarch.io.raster import open_raster

    if years <= 0:
        raise EcoDataError(f"{path}: the period must be positive (got {years} years)")
    with open_raster(path) as src:
        lost = 0
        for _, win in src.block_windows(1):
            lost += int((src.read(1, window=win) == 0).sum())
        return lost * pixel_area_ha(src.transform) / years


def write_forecast(risk_tif: Path, out_tif: Path, rate_ha_per_year: float, start: int, horizon: int,
                   table: Path | None = None) -> tuple[Path, Path]:
    """Read a risk GeoTIFF (nodata = not forest), write the forest cover at ``horizon`` as a
    GeoTIFF (uint8: 1 forest, 0 expected loss, 255 nodata) and the yearly table as CSV
    (default: ``out_tif`` with ``.csv``)."""
    from sciarch.io.raster import RasterGrid, open_raster, write_geotiff

    with open_raster(risk_tif) as src:
        risk = src.read(1, masked=True)
        grid = RasterGrid(src.crs, src.transform, src.width, src.height)
    valid = ~np.ma.getmaskarray(risk)
    data = np.asarray(risk.filled(np.nan), np.float64)
    if not valid.any():
        raise EcoDataError(f"{risk_tif}: no forest pixel (every pixel is nodata)")
    lost, rows = forecast(data, valid, pixel_area_ha(grid.transform), rate_ha_per_year, start, horizon)
    cover = np.where(lost, LOST, FOREST).astype(np.uint8)
    write_geotiff(out_tif, cover, grid, nodata=NODATA, dtype="uint8", valid=valid & np.isfinite(data))
    table = Path(table) if table is not None else Path(out_tif).with_suffix(".csv")
    with open(table, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    return Path(out_tif), table
