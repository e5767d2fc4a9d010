"""Raster inputs of the ecological-risk pipeline: the Guadeloupe GeoTIFF layers on one grid, and patches.

:func:`load_raster` stacks the layers (:mod:`sciarch.io.raster`) on the 30 m ``fcc23`` grid
-> :class:`RasterData` (normalised features, label, validity, importance, zone, split per
pixel); :func:`raster_patches` cuts a split into training patches.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.ecorisk.spatial import (LOG_FEATURES, NATIVE_LAYERS, RASTER_FEATURES, RASTER_LAYERS, SPLIT_ID,
                                       EcoDataError, data_dir, importance_kind, spatial_split, zones)

log = logging.getLogger(__name__)


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
    zone, zone_names = zones(cfg, pa=pa_ok & (pa > 0), group=group.ravel(), lat=Y.ravel())
    zone = zone.reshape(h, w).astype(np.int32)
    zone[~valid] = -1
    target = np.where(valid, fcc == 0, 0).astype(np.float32)
    return RasterData(stack, x, names, target, valid, importance, zone, split, stats, zone_names, dropped)


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
