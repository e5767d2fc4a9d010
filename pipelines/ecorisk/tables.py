"""Tabular inputs of the ecological-risk pipeline: Guadeloupe sample points and the Amazon grid.

CSV reading with errors that name the file, line and field (:func:`read_csv`), missing
records dropped and logged (:func:`drop_missing`), labels, importance and zones per record
-> :class:`TabularData`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.ecorisk.spatial import (AMAZON_CELL_KM2, AMAZON_COLUMNS, AMAZON_FEATURES, GLP_FEATURES,
                                       GLP_POINT_COLUMNS, EcoDataError, data_dir, importance_kind, square_blocks,
                                       zones)

log = logging.getLogger(__name__)


@dataclass
class TabularData:
    """One table ready for the model.

    Attributes:
        features: float32 ``[N, F]`` (raw, before normalisation).
        names: the F feature names.
        target: float32 ``[N]`` (1 = deforested).
        importance: float32 ``[N]`` ecological importance (mean 1 over the training rows).
        zone: int32 ``[N]`` zone id.
        group: ``[N]`` spatial block key (str) used for the split.
        x, y: ``[N]`` coordinates (map units or lon/lat) for maps.
        zone_names: names of the zone ids.
        source: the file read.
        dropped: number of records dropped (missing values), reported in the log and the report.
    """

    features: np.ndarray
    names: list[str]
    target: np.ndarray
    importance: np.ndarray
    zone: np.ndarray
    group: np.ndarray
    x: np.ndarray
    y: np.ndarray
    zone_names: list[str]
    source: Path
    dropped: int = 0
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.target)

    def subset(self, mask: np.ndarray) -> "TabularData":
        extra = {k: (v[mask] if isinstance(v, np.ndarray) and len(v) == len(mask) else v)
                 for k, v in self.extra.items()}
        return TabularData(self.features[mask], self.names, self.target[mask], self.importance[mask],
                           self.zone[mask], self.group[mask], self.x[mask], self.y[mask], self.zone_names,
                           self.source, self.dropped, extra)


def read_csv(path: Path, required: list[str]) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise EcoDataError(f"{path}: file not found")
    try:
        df = pd.read_csv(path, compression="infer")
    except Exception as exc:  # pandas raises several types; name the file
        raise EcoDataError(f"{path}: cannot parse CSV ({exc})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise EcoDataError(f"{path}: missing column(s) {', '.join(missing)} (header has {', '.join(df.columns)})")
    for c in required:
        if c in ("block",):
            continue
        if not pd.api.types.is_numeric_dtype(df[c]):
            bad = pd.to_numeric(df[c], errors="coerce").isna() & df[c].notna()
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise EcoDataError(f"{path}: line {i + 2}, field '{c}': not a number ({df[c].iloc[i]!r})")
    return df


def drop_missing(df: pd.DataFrame, cols: list[str], path: Path) -> tuple[pd.DataFrame, int]:
    bad = df[cols].isna().any(axis=1).to_numpy()
    n = int(bad.sum())
    if n:
        lines = (np.flatnonzero(bad)[:5] + 2).tolist()
        fields = sorted({c for c in cols if df.loc[bad, c].isna().any()})
        log.warning("%s: dropped %d record(s) with missing values in %s (first lines %s)",
                    path, n, ", ".join(fields), lines)
    return df.loc[~bad].reset_index(drop=True), n


def amazon_targets(df: pd.DataFrame) -> pd.Series:
    """Deforested area (km^2) in ``ref_year``: ``def``, or the next year's ``def_1_ly``
    where ``def`` is empty (2021 and 2022 in this release); NaN where neither exists (2023)."""
    nxt = df[["id", "ref_year", "def_1_ly"]].copy()
    nxt["ref_year"] = nxt["ref_year"] - 1
    nxt = nxt.rename(columns={"def_1_ly": "_def_next"})
    m = df[["id", "ref_year"]].merge(nxt, on=["id", "ref_year"], how="left")
    return df["def"].fillna(pd.Series(m["_def_next"].to_numpy(), index=df.index))


def sample_raster_at(path: Path, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values of band 1 of ``path`` at map coordinates; returns ``(values, valid)``."""
    from sciarch.io.raster import open_raster

    with open_raster(path) as src:  # unreadable / truncated files: RasterReadError naming the file
        vals = np.array([v[0] for v in src.sample(zip(x, y))], np.float64)
        nod = src.nodata
    ok = np.isfinite(vals)
    if nod is not None:
        ok &= ~np.isclose(vals, nod, rtol=0, atol=abs(nod) * 1e-6)
    return vals, ok


def importance_from(values: np.ndarray, ok: np.ndarray, what: str, source: str) -> np.ndarray:
    values = values.astype(np.float64)
    if not ok.all():
        fill = float(np.median(values[ok])) if ok.any() else 1.0
        log.info("%s: %d record(s) have no %s value; importance set to the median %.3g",
                 source, int((~ok).sum()), what, fill)
        values = np.where(ok, values, fill)
    values = np.maximum(values, 0.0)
    mean = values.mean()
    return (values / mean if mean > 0 else np.ones_like(values)).astype(np.float32)


def read_table(path: str | Path | None, cfg, default: str, columns: list[str], features: list[str]):
    """``(path, df, feature names)``: the table at ``path`` (default ``data_dir/default``) with
    ``columns`` checked and ``data.features`` (default ``features``) found in its header."""
    path = Path(path) if path is not None else data_dir(cfg) / default
    df = read_csv(path, columns)
    names = list(cfg.features or features)
    unknown = [n for n in names if n not in df.columns]
    if unknown:
        raise EcoDataError(f"{path}: data.features names unknown column(s) {unknown}")
    return path, df, names


def load_points(path: str | Path | None, cfg) -> TabularData:
    """Guadeloupe sample points (``sample_points.csv[.gz]``) -> :class:`TabularData`."""
    path, df, names = read_table(path, cfg, "guadeloupe/sample_points.csv.gz", GLP_POINT_COLUMNS, GLP_FEATURES)
    df, dropped = drop_missing(df, names + ["fcc23", "X", "Y"], path)
    bad = ~df["fcc23"].isin([0, 1])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise EcoDataError(f"{path}: record {i + 1}, field 'fcc23': expected 0 or 1, got {df['fcc23'].iloc[i]!r}")
    target = (1.0 - df["fcc23"].to_numpy()).astype(np.float32)
    x, y = df["X"].to_numpy(np.float64), df["Y"].to_numpy(np.float64)
    pa = df["pa"].to_numpy() > 0
    if importance_kind(cfg) == "biomass":
        # a CSV next to its own AGB.tif (e.g. a hold-out folder) uses that raster
        agb_path = path.parent / "AGB.tif"
        if not agb_path.is_file():
            agb_path = data_dir(cfg) / "guadeloupe" / "AGB.tif"
        agb, ok = sample_raster_at(agb_path, x, y)
        importance = importance_from(agb, ok, "biomass (AGB.tif)", str(path))
    elif importance_kind(cfg) == "protected":
        importance = importance_from(np.where(pa, cfg.protected_weight, 1.0), np.ones(len(df), bool), "", str(path))
    else:
        importance = np.ones(len(df), np.float32)
    if cfg.block_size_m:
        group = square_blocks(x, y, cfg.block_size_m)
    else:
        group = df["cell"].fillna(-1).astype(int).astype(str).to_numpy()
    zone, zone_names = zones(cfg, pa=pa, group=group, lat=y)
    return TabularData(df[names].to_numpy(np.float32), names, target, importance, zone, group, x, y,
                       zone_names, path, dropped)


def load_amazon(path: str | Path | None, cfg) -> TabularData:
    """Amazon grid (``deforestation_grid_25km2.csv[.gz]``) -> :class:`TabularData` (rows with a label)."""
    path, df, names = read_table(path, cfg, "amazon/deforestation_grid_25km2.csv.gz", AMAZON_COLUMNS, AMAZON_FEATURES)
    df = df.copy()
    df["_def_target"] = amazon_targets(df)
    no_label = df["_def_target"].isna()
    n_unlabelled = int(no_label.sum())
    if n_unlabelled:
        years = sorted(df.loc[no_label, "ref_year"].unique().tolist())
        log.info("%s: %d row(s) of ref_year %s have no deforestation label yet (not used)", path, n_unlabelled, years)
    df = df.loc[~no_label].reset_index(drop=True)
    df, dropped = drop_missing(df, names + ["lon", "lat", "block"], path)
    target = (df["_def_target"].to_numpy() > cfg.amazon_threshold_km2).astype(np.float32)
    share = np.clip(df["area_PA"].to_numpy(np.float64) / AMAZON_CELL_KM2, 0.0, 1.0)
    if importance_kind(cfg) == "protected":
        importance = importance_from(1.0 + (cfg.protected_weight - 1.0) * share, np.ones(len(df), bool), "", str(path))
    elif importance_kind(cfg) == "biomass":
        raise EcoDataError(f"{path}: importance 'biomass' is not available for the Amazon grid (use 'protected')")
    else:
        importance = np.ones(len(df), np.float32)
    group = df["block"].astype(str).to_numpy()
    zone, zone_names = zones(cfg, pa=share > 0, group=group, lat=df["lat"].to_numpy())
    td = TabularData(df[names].to_numpy(np.float32), names, target, importance, zone, group,
                     df["lon"].to_numpy(np.float64), df["lat"].to_numpy(np.float64), zone_names, path, dropped)
    td.extra["unlabelled"] = n_unlabelled
    td.extra["year"] = df["ref_year"].to_numpy(np.int32)
    return td
