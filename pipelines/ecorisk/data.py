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

The code is split by concern: :mod:`~pipelines.ecorisk.spatial` (file layout, zones,
spatial splits), :mod:`~pipelines.ecorisk.tables` (CSV tables), :mod:`~pipelines.ecorisk.rasters`
(raster stacks and patches); this module is the data role the pipeline, the report and the
TFDS builders use: those loaders, and the ``tf.data`` datasets built from them.
"""

from __future__ import annotations

import numpy as np

from pipelines.ecorisk.rasters import RasterData, load_raster, raster_patches
from pipelines.ecorisk.spatial import (AMAZON_CELL_KM2, AMAZON_COLUMNS, AMAZON_FEATURES, DATA_DIR, GLP_FEATURES,
                                       GLP_POINT_COLUMNS, LOG_FEATURES, NATIVE_LAYERS, RASTER_FEATURES, RASTER_LAYERS,
                                       SPLIT_ID, SPLITS, EcoDataError, data_dir, importance_kind, spatial_encoding,
                                       spatial_split)
from pipelines.ecorisk.tables import TabularData, amazon_targets, load_amazon, load_points, read_csv, sample_raster_at

__all__ = ["AMAZON_CELL_KM2", "AMAZON_COLUMNS", "AMAZON_FEATURES", "DATA_DIR", "GLP_FEATURES", "GLP_POINT_COLUMNS",
           "LOG_FEATURES", "NATIVE_LAYERS", "RASTER_FEATURES", "RASTER_LAYERS", "SPLITS", "SPLIT_ID", "EcoDataError",
           "RasterData", "TabularData", "amazon_targets", "data_dir", "importance_kind", "load_amazon", "load_points",
           "load_raster", "normalise_table", "raster_dataset", "raster_patches", "read_csv", "sample_raster_at",
           "spatial_encoding", "spatial_split", "tabular_dataset"]


def normalise_table(td: TabularData, cfg, stats: dict | None = None, train_mask: np.ndarray | None = None):
    """z-scored (after optional log1p) features of a table; stats from ``train_mask`` rows;
    then the coordinate encoding (:func:`spatial_encoding`, none unless ``data.spatial_features``)."""
    from sciarch.io.raster import normalise

    valid = np.isfinite(td.features)
    flags = [cfg.log_distances and n in LOG_FEATURES for n in td.names]
    x, stats = normalise(td.features, valid, region=train_mask, log=flags, stats=stats)
    return np.concatenate([x, spatial_encoding(td.x, td.y, cfg)], -1), stats


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
