"""Inputs of the ecological-risk pipeline: sample points, the Amazon grid and raster patches.

Three data sets, chosen by ``data.dataset`` in the config:

* ``guadeloupe_points`` -- the 18k sampled 30 m pixels of Guadeloupe (forestatrisk);
  label = deforested 2010-2020 (``1 - fcc23``); spatial blocks = the 10 km ``cell``.
* ``amazon_grid`` -- 25 km cells x years of the Brazilian Amazon (PRODES);
  label = any deforestation in ``ref_year`` (``def > 0``; for 2021/2022 read from the next
  year's ``def_1_ly``); spatial blocks = the 1 deg x 1 deg ``block``.
* ``guadeloupe_raster`` -- the GeoTIFF layers stacked on one grid (:mod:`sciarch.io.raster`),
  label = ``fcc23 == 0`` over the forest of 2010; spatial blocks = a square block grid.

Every record/pixel carries an ecological ``importance`` (biomass, protected status or
uniform) and a ``zone`` id (protected vs not, spatial block, latitude band) for the
composite loss. Splits are spatial (whole blocks, or a test bounding box such as one
island part), never random pixels.

Datasets yield ``(x, y)`` (tabular) or ``(x, y, sample_weight)`` (rasters, weight = valid
pixel of this split) with ``y = {"target", "importance", "zone"}`` of shape ``[B, 1]`` or
``[B, H, W, 1]``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sciarch.pipeline import PROJECT_ROOT

log = logging.getLogger(__name__)

DATA_DIR = PROJECT_ROOT / "data" / "ecorisk"
SPLITS = ("train", "validation", "test")
SPLIT_ID = {s: i for i, s in enumerate(SPLITS)}

GLP_FEATURES = ["altitude", "dist_defor", "dist_edge", "dist_river", "dist_road", "dist_town", "pa", "slope"]
GLP_POINT_COLUMNS = GLP_FEATURES + ["fcc23", "X", "Y", "cell"]
AMAZON_FEATURES = ["area_PA", "dist_hidro", "dist_road", "dist_road_hidro", "def_1_ly", "def_2_ly", "def_4_ly",
                   "dist_1_percent_ly", "dist_2_percent_ly", "active_fires_ly"]
AMAZON_COLUMNS = ["id", "lon", "lat", "block", "area_PA", "dist_hidro", "dist_road", "dist_road_hidro", "ref_year",
                  "def", "def_1_ly", "def_2_ly", "def_4_ly", "dist_1_percent_ly", "dist_2_percent_ly",
                  "active_fires_ly"]
#: 25 km x 25 km cell area in km^2 (for the protected share)
AMAZON_CELL_KM2 = 625.0
#: layers whose values are log1p-transformed when ``log_distances`` is on
LOG_FEATURES = {"dist_defor", "dist_edge", "dist_river", "dist_road", "dist_town", "dist_hidro", "dist_road_hidro",
                "def_1_ly", "def_2_ly", "def_4_ly", "dist_1_percent_ly", "dist_2_percent_ly", "active_fires_ly",
                "area_PA"}
#: raster layers: file stem -> resampling used when the layer is not on the 30 m grid / when coarsened
RASTER_LAYERS = {
    "fcc23": "nearest", "forest_t2": "nearest", "dist_defor": "nearest", "dist_edge": "nearest", "pa": "nearest",
    "dist_road": "bilinear", "dist_town": "bilinear", "dist_river": "bilinear", "altitude": "bilinear",
    "slope": "bilinear", "AGB": "bilinear",
}
#: layers delivered on the 30 m grid of ``fcc23``: their grid must match it exactly
NATIVE_LAYERS = {"fcc23", "forest_t2", "dist_defor", "dist_edge", "pa"}
RASTER_FEATURES = ["altitude", "dist_defor", "dist_edge", "dist_river", "dist_road", "dist_town", "pa", "slope"]


class EcoDataError(ValueError):
    """Bad input file: the message names the file, the record (line) and the field."""


# --------------------------------------------------------------------------- tables


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


def _read_csv(path: Path, required: list[str]) -> pd.DataFrame:
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


def _drop_missing(df: pd.DataFrame, cols: list[str], path: Path) -> tuple[pd.DataFrame, int]:
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


def _importance_from(values: np.ndarray, ok: np.ndarray, what: str, source: str) -> np.ndarray:
    values = values.astype(np.float64)
    if not ok.all():
        fill = float(np.median(values[ok])) if ok.any() else 1.0
        log.info("%s: %d record(s) have no %s value; importance set to the median %.3g",
                 source, int((~ok).sum()), what, fill)
        values = np.where(ok, values, fill)
    values = np.maximum(values, 0.0)
    mean = values.mean()
    return (values / mean if mean > 0 else np.ones_like(values)).astype(np.float32)


def load_points(path: str | Path | None, cfg) -> TabularData:
    """Guadeloupe sample points (``sample_points.csv[.gz]``) -> :class:`TabularData`."""
    path = Path(path) if path is not None else data_dir(cfg) / "guadeloupe" / "sample_points.csv.gz"
    df = _read_csv(path, GLP_POINT_COLUMNS)
    names = list(cfg.features or GLP_FEATURES)
    unknown = [n for n in names if n not in df.columns]
    if unknown:
        raise EcoDataError(f"{path}: data.features names unknown column(s) {unknown}")
    df, dropped = _drop_missing(df, names + ["fcc23", "X", "Y"], path)
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
        importance = _importance_from(agb, ok, "biomass (AGB.tif)", str(path))
    elif importance_kind(cfg) == "protected":
        importance = _importance_from(np.where(pa, cfg.protected_weight, 1.0), np.ones(len(df), bool), "", str(path))
    else:
        importance = np.ones(len(df), np.float32)
    if cfg.block_size_m:
        group = _square_blocks(x, y, cfg.block_size_m)
    else:
        group = df["cell"].fillna(-1).astype(int).astype(str).to_numpy()
    zone, zone_names = _zones(cfg, pa=pa, group=group, lat=y)
    return TabularData(df[names].to_numpy(np.float32), names, target, importance, zone, group, x, y,
                       zone_names, path, dropped)


def load_amazon(path: str | Path | None, cfg) -> TabularData:
    """Amazon grid (``deforestation_grid_25km2.csv[.gz]``) -> :class:`TabularData` (rows with a label)."""
    path = Path(path) if path is not None else data_dir(cfg) / "amazon" / "deforestation_grid_25km2.csv.gz"
    df = _read_csv(path, AMAZON_COLUMNS)
    names = list(cfg.features or AMAZON_FEATURES)
    unknown = [n for n in names if n not in df.columns]
    if unknown:
        raise EcoDataError(f"{path}: data.features names unknown column(s) {unknown}")
    df = df.copy()
    df["_def_target"] = amazon_targets(df)
    no_label = df["_def_target"].isna()
    n_unlabelled = int(no_label.sum())
    if n_unlabelled:
        years = sorted(df.loc[no_label, "ref_year"].unique().tolist())
        log.info("%s: %d row(s) of ref_year %s have no deforestation label yet (not used)", path, n_unlabelled, years)
    df = df.loc[~no_label].reset_index(drop=True)
    df, dropped = _drop_missing(df, names + ["lon", "lat", "block"], path)
    target = (df["_def_target"].to_numpy() > cfg.amazon_threshold_km2).astype(np.float32)
    share = np.clip(df["area_PA"].to_numpy(np.float64) / AMAZON_CELL_KM2, 0.0, 1.0)
    if importance_kind(cfg) == "protected":
        importance = _importance_from(1.0 + (cfg.protected_weight - 1.0) * share, np.ones(len(df), bool), "", str(path))
    elif importance_kind(cfg) == "biomass":
        raise EcoDataError(f"{path}: importance 'biomass' is not available for the Amazon grid (use 'protected')")
    else:
        importance = np.ones(len(df), np.float32)
    group = df["block"].astype(str).to_numpy()
    zone, zone_names = _zones(cfg, pa=share > 0, group=group, lat=df["lat"].to_numpy())
    td = TabularData(df[names].to_numpy(np.float32), names, target, importance, zone, group,
                     df["lon"].to_numpy(np.float64), df["lat"].to_numpy(np.float64), zone_names, path, dropped)
    td.extra["unlabelled"] = n_unlabelled
    td.extra["year"] = df["ref_year"].to_numpy(np.int32)
    return td


def _square_blocks(x, y, size) -> np.ndarray:
    bx = np.floor(np.asarray(x) / size).astype(np.int64)
    by = np.floor(np.asarray(y) / size).astype(np.int64)
    return np.char.add(np.char.add(bx.astype(str), "_"), by.astype(str))


def _zones(cfg, pa: np.ndarray, group: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, list[str]]:
    if cfg.zone == "protected":
        return pa.astype(np.int32), ["unprotected", "protected"]
    if cfg.zone == "block":
        names, inv = np.unique(group, return_inverse=True)
        return inv.astype(np.int32), [str(n) for n in names]
    if cfg.zone == "lat_band":
        edges = np.asarray(cfg.lat_bands, np.float64)
        z = np.searchsorted(edges, lat, side="right").astype(np.int32)
        labels = [f"< {edges[0]:g}"] + [f"{a:g}..{b:g}" for a, b in zip(edges[:-1], edges[1:])] + [f">= {edges[-1]:g}"]
        return z, labels
    raise EcoDataError(f"unknown data.zone '{cfg.zone}'")


def importance_kind(cfg) -> str:
    """``data.importance`` with ``auto`` resolved: biomass for Guadeloupe, protected share for the Amazon."""
    if cfg.importance != "auto":
        return cfg.importance
    return "protected" if cfg.dataset == "amazon_grid" else "biomass"


def data_dir(cfg) -> Path:
    d = Path(cfg.data_dir) if cfg.data_dir else DATA_DIR
    return d if d.is_absolute() else PROJECT_ROOT / d


# --------------------------------------------------------------------------- spatial splits


def spatial_split(group: np.ndarray, x: np.ndarray, y: np.ndarray, cfg) -> np.ndarray:
    """Split id (0 train, 1 validation, 2 test) per record, by whole spatial blocks.

    With ``data.test_region = [xmin, ymin, xmax, ymax]`` every record inside the box is
    test (e.g. one island part); otherwise a seeded share of the blocks is. Validation
    is a seeded share of the remaining blocks. Blocks are assigned greedily in a seeded
    random order until the share of records is reached.
    """
    group = np.asarray(group).astype(str)
    out = np.zeros(len(group), np.int8)
    rng = np.random.default_rng(cfg.split_seed)
    if cfg.test_region is not None:
        x0, y0, x1, y1 = cfg.test_region
        test = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        out[test] = SPLIT_ID["test"]
        # blocks straddling the box edge: their outside part must not train next to the test rows
        rest = ~test
    else:
        rest = np.ones(len(group), bool)
    blocks, counts = np.unique(group[rest], return_counts=True)
    order = rng.permutation(len(blocks))
    n_rest = rest.sum()
    targets = []
    if cfg.test_region is None:
        targets.append(("test", cfg.test_fraction * len(group)))
    targets.append(("validation", cfg.val_fraction * len(group)))
    pos = 0
    for split, quota in targets:
        taken = 0
        chosen = []
        while pos < len(order) and taken < quota and n_rest - taken > 0:
            b = order[pos]
            chosen.append(blocks[b])
            taken += counts[b]
            pos += 1
        out[rest & np.isin(group, chosen)] = SPLIT_ID[split]
    return out


# --------------------------------------------------------------------------- rasters


@dataclass
class RasterData:
    """The raster data set on one grid.

    Attributes:
        stack: the :class:`sciarch.io.raster.RasterStack` of every layer read.
        features: float32 ``[H, W, F]`` normalised model inputs (0 where nodata).
        feature_names: the F layer names.
        target: float32 ``[H, W]`` 1 = deforested 2010-2020, 0 = still forest (0 where invalid).
        valid: bool ``[H, W]``: forest in 2010 with every input layer valid.
        importance: float32 ``[H, W]``.
        zone: int32 ``[H, W]`` (-1 where invalid).
        split: int8 ``[H, W]`` split id per pixel (by block).
        stats: normalisation statistics (from the training pixels).
    """

    stack: object
    features: np.ndarray
    feature_names: list[str]
    target: np.ndarray
    valid: np.ndarray
    importance: np.ndarray
    zone: np.ndarray
    split: np.ndarray
    stats: dict
    zone_names: list[str]
    dropped: int = 0

    @property
    def grid(self):
        return self.stack.grid


def load_raster(folder: str | Path | None, cfg, stats: dict | None = None) -> RasterData:
    """Stack the Guadeloupe layers from ``folder`` (default the embedded data) on the 30 m
    ``fcc23`` grid, coarsened by ``data.scale`` and cut to ``data.window``."""
    from sciarch.io.raster import normalise, stack_rasters

    folder = Path(folder) if folder is not None else data_dir(cfg) / "guadeloupe"
    names = list(cfg.features or RASTER_FEATURES)
    unknown = [n for n in names if n not in RASTER_LAYERS]
    if unknown:
        raise EcoDataError(f"data.features: unknown raster layer(s) {unknown} (known: {', '.join(RASTER_LAYERS)})")
    layers = ["fcc23"] + [n for n in names if n != "fcc23"]
    if importance_kind(cfg) == "biomass" and "AGB" not in layers:
        layers.append("AGB")
    if "pa" not in layers:
        layers.append("pa")
    paths = [folder / f"{n}.tif" for n in layers]
    for p in paths:
        if not p.is_file():
            raise EcoDataError(f"{p}: raster layer missing from {folder}")
    from sciarch.io.raster import RasterGridError, read_grid

    ref = read_grid(paths[0])
    for n, p in zip(layers, paths):
        g = read_grid(p)
        diff = ref.differences(g)
        if n in NATIVE_LAYERS and diff:  # 30 m layers must sit exactly on the label's grid
            raise RasterGridError(f"{p}: grid does not match {paths[0]}: " + "; ".join(diff))
        if g.crs_obj() != ref.crs_obj():
            raise RasterGridError(f"{p}: CRS {g.crs_obj().to_string()} != {ref.crs_obj().to_string()} of {paths[0]}")
    resampling = {n: RASTER_LAYERS[n] for n in layers}
    if cfg.scale == 1.0:
        # layers on the 30 m grid are read as they are; coarser ones are warped onto it
        resampling = {n: m for n, m in resampling.items() if n not in NATIVE_LAYERS}
    stack = stack_rasters(paths, names=layers, reference=paths[0], resampling=resampling,
                          window=tuple(cfg.window) if cfg.window else None, scale=cfg.scale)
    fcc = stack.layer("fcc23")
    label_ok = stack.layer_valid("fcc23") & np.isin(fcc, (0.0, 1.0))
    feat_idx = [stack.names.index(n) for n in names]
    feat_ok = stack.valid[..., feat_idx].all(axis=-1)
    valid = label_ok & feat_ok
    dropped = int((label_ok & ~feat_ok).sum())
    if dropped:
        log.info("%s: %d forest pixel(s) lack an input layer value and are ignored", folder, dropped)
    h, w = valid.shape
    # spatial blocks on the grid -> split per pixel
    t = stack.grid.transform
    cols = np.arange(w)
    rows = np.arange(h)
    xs = t.c + (cols + 0.5) * t.a
    ys = t.f + (rows + 0.5) * t.e
    bx = np.floor(xs / cfg.raster_block_m).astype(np.int64)
    by = np.floor(ys / cfg.raster_block_m).astype(np.int64)
    block_key = by[:, None] * 100003 + bx[None, :]
    X, Y = np.meshgrid(xs, ys)
    split = np.full((h, w), SPLIT_ID["train"], np.int8)
    vb = valid
    sp = spatial_split(block_key[vb].astype(str), X[vb], Y[vb], cfg)
    split[vb] = sp
    # blocks with no valid pixel: assign by the same block key (only matters for display)
    feats = stack.data[..., feat_idx]
    fvalid = stack.valid[..., feat_idx]
    log_flags = [cfg.log_distances and n in LOG_FEATURES for n in names]
    region = valid & (split == SPLIT_ID["train"])
    x, stats = normalise(feats, fvalid, region=region if region.any() else valid, log=log_flags, stats=stats)
    pa = stack.layer("pa")
    pa_ok = stack.layer_valid("pa")
    if importance_kind(cfg) == "biomass":
        agb = stack.layer("AGB")
        ok = stack.layer_valid("AGB") & valid
        vals = np.where(ok, agb, np.nan)
        fill = float(np.nanmedian(vals[valid])) if ok.any() else 1.0
        imp = np.where(ok, agb, fill)
        imp = np.maximum(imp, 0)
        m = imp[valid].mean() if valid.any() else 1.0
        importance = (imp / (m if m > 0 else 1.0)).astype(np.float32)
    elif importance_kind(cfg) == "protected":
        raw = np.where(pa_ok & (pa > 0), cfg.protected_weight, 1.0)
        m = raw[valid].mean() if valid.any() else 1.0
        importance = (raw / m).astype(np.float32)
    else:
        importance = np.ones((h, w), np.float32)
    importance[~valid] = 0.0
    group = np.char.mod("%d", block_key)
    zone, zone_names = _zones(cfg, pa=pa_ok & (pa > 0), group=group.ravel(), lat=Y.ravel())
    zone = zone.reshape(h, w).astype(np.int32)
    zone[~valid] = -1
    target = np.where(valid, fcc == 0, 0).astype(np.float32)
    return RasterData(stack, x, names, target, valid, importance, zone, split, stats, zone_names, dropped)


# --------------------------------------------------------------------------- tf.data


def normalise_table(td: TabularData, cfg, stats: dict | None = None, train_mask: np.ndarray | None = None):
    """z-scored (after optional log1p) features of a table; stats from ``train_mask`` rows."""
    from sciarch.io.raster import normalise

    valid = np.isfinite(td.features)
    flags = [cfg.log_distances and n in LOG_FEATURES for n in td.names]
    x, stats = normalise(td.features, valid, region=train_mask, log=flags, stats=stats)
    return x, stats


def tabular_dataset(x, td: TabularData, batch_size: int, shuffle: bool, seed: int, input_context=None, epoch=None):
    """``tf.data`` of ``(x [B, F], {"target", "importance", "zone"} [B, 1])``.

    ``epoch``: the runner's epoch counter (``Pipeline.epoch``); the shuffle order of epoch e
    then depends on ``(seed, e)`` only (see :mod:`sciarch.epochs`).
    """
    import tensorflow as tf

    from sciarch.distribute import shard_for_worker
    from sciarch.epochs import shuffle as epoch_shuffle

    y = {"target": td.target[:, None].astype(np.float32),
         "importance": td.importance[:, None].astype(np.float32),
         "zone": td.zone[:, None].astype(np.int32)}
    ds = tf.data.Dataset.from_tensor_slices((x.astype(np.float32), y))
    ds = shard_for_worker(ds, input_context)
    if shuffle:
        ds = epoch_shuffle(ds, min(len(td), 50_000), seed, epoch=epoch)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def raster_patches(rd: RasterData, split: str, size: int, stride: int | None, min_fraction: float):
    """Patches of ``split``: inputs ``[N, s, s, F]``, y dict ``[N, s, s, 1]``, weight ``[N, s, s, 1]``
    (1 on valid pixels of this split, 0 elsewhere: labels of other splits are never used)."""
    from sciarch.io.raster import patch_origins

    region = rd.valid & (rd.split == SPLIT_ID[split])
    origins = patch_origins(region, size, stride, min_fraction)
    if len(origins) == 0:
        raise EcoDataError(f"no {size}x{size} patch holds enough '{split}' pixels (min_fraction={min_fraction})")
    n = len(origins)
    f = rd.features.shape[-1]
    x = np.empty((n, size, size, f), np.float32)
    tgt = np.empty((n, size, size, 1), np.float32)
    imp = np.empty_like(tgt)
    zone = np.empty((n, size, size, 1), np.int32)
    w = np.empty_like(tgt)
    for i, (r, c) in enumerate(origins):
        sl = (slice(r, r + size), slice(c, c + size))
        x[i] = rd.features[sl]
        tgt[i, ..., 0] = rd.target[sl]
        imp[i, ..., 0] = rd.importance[sl]
        m = region[sl]
        zone[i, ..., 0] = np.where(m, rd.zone[sl], -1)
        w[i, ..., 0] = m
    return x, {"target": tgt, "importance": imp, "zone": zone}, w, origins


def raster_dataset(rd: RasterData, split: str, cfg, batch_size: int, shuffle: bool, seed: int,
                   input_context=None, epoch=None):
    """``tf.data`` of patches ``(x, y, weight)``; ``epoch`` as in :func:`tabular_dataset` (it also
    seeds the flips/rotations of ``cfg.augment``)."""
    import tensorflow as tf

    from sciarch.epochs import map_with_seed
    from sciarch.distribute import shard_for_worker
    from sciarch.epochs import shuffle as epoch_shuffle

    x, y, w, _ = raster_patches(rd, split, cfg.patch_size, cfg.patch_stride if split == "train" else cfg.patch_size,
                                cfg.min_patch_fraction)
    ds = tf.data.Dataset.from_tensor_slices((x, y, w))
    ds = shard_for_worker(ds, input_context)
    if shuffle:
        ds = epoch_shuffle(ds, len(x), seed, epoch=epoch)
        if cfg.augment:
            ds = map_with_seed(ds, _flip_rot, seed, epoch=epoch)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _flip_rot(rng, x, y, w):
    """Random flips / 90 deg rotations applied alike to inputs, context and weights
    (stateless draws from the per-example seed ``rng``, int64 ``[2]``)."""
    import tensorflow as tf

    return _flip_rot_graph(tf)(rng, x, y, w)


def _flip_rot_graph(tf):
    @tf.autograph.experimental.do_not_convert
    def fn(rng, x, y, w):
        s = tf.random.experimental.stateless_split(rng, 2)
        k = tf.random.stateless_uniform([], s[0], 0, 4, tf.int32)
        flip = tf.random.stateless_uniform([], s[1]) < 0.5

        def t(a):
            a = tf.image.rot90(a, k)
            return tf.cond(flip, lambda: tf.image.flip_left_right(a), lambda: a)

        return t(x), {kk: t(v) for kk, v in y.items()}, t(w)

    return fn

