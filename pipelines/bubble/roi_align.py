"""Multi-level RoIAlign on a feature pyramid with ``tf.image.crop_and_resize``."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="sciarch.bubble")
class MultiLevelRoIAlign(keras.layers.Layer):
    """Pool a fixed ``output_size x output_size`` feature patch for every region.

    Each region is assigned to one pyramid level by its size (FPN rule
    ``k = floor(k0 + log2(sqrt(h w) / canonical_size))`` clipped to the available
    levels); the patch is bilinearly sampled at ``2 x output_size`` points per side with
    ``tf.image.crop_and_resize`` (box corners at pixel edges, as in RoIAlign) and
    averaged 2x2. ``crop_and_resize`` has no XLA kernel: models using this layer must
    compile with ``jit_compile=False``.

    Args:
        output_size: side of the pooled patch.
        canonical_size: region size (pixels) mapped to ``canonical_level``.
        canonical_level: pyramid level of a region of ``canonical_size``.
        **kwargs: standard Layer arguments.

    Call args:
        features: dict ``{"P3": [B, H3, W3, C], ...}``.
        boxes: ``[B, R, 4]`` yxyx in image pixels.

    Returns: ``[B, R, output_size, output_size, C]``.

    Example:
        >>> import numpy as np
        >>> ra = MultiLevelRoIAlign(output_size=7)
        >>> feats = {"P3": np.ones((2, 8, 8, 4), "float32"), "P4": np.ones((2, 4, 4, 4), "float32")}
        >>> boxes = np.array([[[0, 0, 16, 40], [8, 8, 60, 60]]] * 2, "float32")
        >>> tuple(ra(feats, boxes).shape)
        (2, 2, 7, 7, 4)
    """

    def __init__(self, output_size=7, canonical_size=64.0, canonical_level=4, **kwargs):
        super().__init__(**kwargs)
        self.output_size = int(output_size)
        self.canonical_size = float(canonical_size)
        self.canonical_level = int(canonical_level)

    def call(self, features, boxes):
        levels = sorted(int(k[1:]) for k in features)
        b = ops.shape(boxes)[0]
        r = ops.shape(boxes)[1]
        h = ops.maximum(boxes[..., 2] - boxes[..., 0], 1e-3)
        w = ops.maximum(boxes[..., 3] - boxes[..., 1], 1e-3)
        k = ops.floor(self.canonical_level + ops.log(ops.sqrt(h * w) / self.canonical_size) / ops.log(2.0))
        k = ops.cast(ops.clip(k, levels[0], levels[-1]), "int32")
        flat = ops.reshape(boxes, (-1, 4))
        size = 2 * self.output_size
        # crop_and_resize puts its first/last sample on the box edges; RoIAlign samples the
        # centres of size x size sub-bins: shrink the box by half a sub-bin on each side
        half = ops.concatenate([flat[:, 2:] - flat[:, :2]] * 2, axis=-1) / (2.0 * size)
        flat = flat + half * ops.convert_to_tensor([1.0, 1.0, -1.0, -1.0])
        box_indices = ops.repeat(ops.arange(b, dtype="int32"), r)
        pooled = None
        k_flat = ops.reshape(k, (-1,))
        for lvl in levels:
            # replicate one border cell (samples up to a cell outside the map take the edge
            # value, as RoIAlign's clamping does; crop_and_resize would extrapolate zeros)
            fmap = tf.pad(features[f"P{lvl}"], [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
            fh = ops.cast(ops.shape(fmap)[1], "float32")
            fw = ops.cast(ops.shape(fmap)[2], "float32")
            # crop_and_resize samples box corner y at y * (fh - 1) cells: map pixel-edge
            # coordinates Y onto continuous cell indices Y / stride - 0.5 (+1 for the padding)
            stride = 2.0**lvl
            ny = fh - 1.0
            nx = fw - 1.0
            adj = ops.stack([
                (flat[:, 0] / stride + 0.5) / ny,
                (flat[:, 1] / stride + 0.5) / nx,
                (flat[:, 2] / stride + 0.5) / ny,
                (flat[:, 3] / stride + 0.5) / nx,
            ], axis=-1)
            crops = tf.image.crop_and_resize(fmap, adj, box_indices, (size, size), method="bilinear")
            crops = tf.nn.avg_pool2d(crops, 2, 2, "VALID")
            sel = ops.reshape(ops.cast(ops.equal(k_flat, lvl), crops.dtype), (-1, 1, 1, 1))
            pooled = crops * sel if pooled is None else pooled + crops * sel
        c = ops.shape(pooled)[-1]
        return ops.reshape(pooled, (b, r, self.output_size, self.output_size, c))

    def get_config(self):
        config = super().get_config()
        config.update(output_size=self.output_size, canonical_size=self.canonical_size,
                      canonical_level=self.canonical_level)
        return config
