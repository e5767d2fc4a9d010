"""Shared layout of the ecological-risk data: files, layers, errors, zones and spatial splits.

The constants name the embedded files' columns and raster layers (``data/ecorisk``);
:func:`zones` and :func:`spatial_split` are used alike by the tables
(:mod:`pipelines.ecorisk.tables`), the rasters (:mod:`pipelines.ecorisk.rasters`) and the
TFDS builders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sciarch.pipeline import PROJECT_ROOT

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


def square_blocks(x, y, size) -> np.ndarray:
    bx = np.floor(np.asarray(x) / size).astype(np.int64)
    by = np.floor(np.asarray(y) / size).astype(np.int64)
    return np.char.add(np.char.add(bx.astype(str), "_"), by.astype(str))


def zones(cfg, pa: np.ndarray, group: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, list[str]]:
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


def spatial_encoding(x, y, cfg) -> np.ndarray:
    """Random Fourier features of the coordinates, ``[N, data.spatial_features]`` float32.

    ``sin / cos(w . (x, y) + b)`` with ``w ~ N(0, 1 / data.spatial_scale^2)`` (seeded by
    ``data.split_seed``): a smooth learned spatial effect (the network weights these
    features), in the spirit of a spatial random effect over neighbouring cells. Same
    coordinates, same features; records far from every training record get features the
    network has not seen, so the effect helps block hold-outs more than a whole-island one.
    """
    n = int(cfg.spatial_features)
    if n <= 0:
        return np.zeros((len(x), 0), np.float32)
    if n % 2:
        raise EcoDataError(f"data.spatial_features must be even (sin and cos pairs), got {n}")
    rng = np.random.default_rng(10_000 + cfg.split_seed)
    w = rng.normal(0.0, 1.0 / cfg.spatial_scale, (2, n // 2))
    b = rng.uniform(0.0, 2 * np.pi, n // 2)
    proj = np.stack([np.asarray(x, np.float64), np.asarray(y, np.float64)], -1) @ w + b
    return np.concatenate([np.sin(proj), np.cos(proj)], -1).astype(np.float32)


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
