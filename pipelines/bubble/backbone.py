"""Feature-pyramid backbone for bubble-chamber frames, built from ``sciarch.layers``."""

from __future__ import annotations

import keras
from keras import layers

from sciarch.layers import DepthwiseSeparableBlock, InceptionBlock, ResidualBlock


@keras.saving.register_keras_serializable(package="sciarch.bubble")
class TrackBackbone(keras.layers.Layer):
    """Small CNN + feature pyramid (FPN) for grey-scale track images.

    Stages (strides 2, 4, 8, 16, 32): a stem convolution, then per stage a strided
    :class:`~sciarch.layers.DepthwiseSeparableBlock` followed by a
    :class:`~sciarch.layers.ResidualBlock` (dilated in the deep stages, so long tracks
    fall inside the receptive field) or an :class:`~sciarch.layers.InceptionBlock`
    (multi-scale branches at stride 16). The FPN adds 1x1 laterals top-down and smooths
    each sum with a 3x3 convolution; ``P6`` is a strided convolution on ``P5``.

    The input is a film scan in grey levels 0..255 (dark = bubbles); it is inverted and
    scaled to ``[0, 1]`` inside, so raw scans can be fed directly.

    Args:
        widths: channels of the stride-4, 8, 16 and 32 stages.
        fpn_filters: channels of every pyramid level.
        min_level: lowest pyramid level returned (3 = stride 8).
        max_level: highest pyramid level returned (up to 6).
        normalization: normalisation inside the sciarch blocks ("batch", "instance", None).
        **kwargs: standard Layer arguments.

    Returns (call): dict ``{"P3": [B, H/8, W/8, F], ...}``.

    Example:
        >>> import numpy as np
        >>> bb = TrackBackbone(widths=(8, 16, 24, 32), fpn_filters=16)
        >>> feats = bb(np.zeros((1, 64, 64, 1), "float32"))
        >>> sorted(feats), tuple(feats["P3"].shape)
        (['P3', 'P4', 'P5', 'P6'], (1, 8, 8, 16))
    """

    def __init__(self, widths=(32, 48, 64, 96), fpn_filters=64, min_level=3, max_level=6,
                 normalization="layer", **kwargs):
        super().__init__(**kwargs)
        widths = tuple(int(w) for w in widths)
        if len(widths) != 4:
            raise ValueError(f"TrackBackbone: widths must have 4 entries (strides 4..32), got {widths}")
        if not 2 <= min_level <= max_level <= 6:
            raise ValueError(f"TrackBackbone: need 2 <= min_level <= max_level <= 6, got {min_level}, {max_level}")
        self.widths = widths
        self.fpn_filters = int(fpn_filters)
        self.min_level = int(min_level)
        self.max_level = int(max_level)
        self.normalization = normalization
        w2, w3, w4, w5 = widths
        self._lowest = max(2, min(self.min_level, 5))
        self.scale = layers.Rescaling(scale=-1.0 / 255.0, offset=1.0)
        self.stem = layers.Conv2D(max(8, w2 // 2), 3, strides=2, padding="same", activation="relu", name="stem")
        self.down = [DepthwiseSeparableBlock(w, 3, rank=2, strides=2, normalization=normalization, name=f"down{i + 2}")
                     for i, w in enumerate(widths)]
        b4 = max(4, w4 // 4)
        self.blocks = [
            ResidualBlock(w2, 3, rank=2, normalization=normalization, name="res2"),
            ResidualBlock(w3, 3, dilation_rate=2, rank=2, normalization=normalization, name="res3"),
            InceptionBlock(b4, w4 - 3 * b4 if w4 - 3 * b4 > 0 else b4, b4, b4, bottleneck=b4, rank=2, name="incept4"),
            ResidualBlock(w5, 3, dilation_rate=2, rank=2, normalization=normalization, name="res5"),
        ]
        self.lateral = {f"P{lvl}": layers.Conv2D(self.fpn_filters, 1, name=f"lateral{lvl}") for lvl in range(self._lowest, 6)}
        self.smooth = {f"P{lvl}": layers.Conv2D(self.fpn_filters, 3, padding="same", name=f"smooth{lvl}") for lvl in range(self._lowest, 6)}
        self.p6 = layers.Conv2D(self.fpn_filters, 3, strides=2, padding="same", name="p6")
        self.up = layers.UpSampling2D(2, interpolation="nearest")

    def build(self, input_shape):
        # sub-layers are built by one pass on a dummy frame (weights do not depend on H, W)
        channels = input_shape[-1] if input_shape[-1] is not None else 1
        self.call(keras.ops.zeros((1, 64, 64, channels)), training=False)
        self.built = True

    def call(self, images, training=None):
        x = self.scale(keras.ops.cast(images, "float32"))
        x = self.stem(x)
        feats = {}
        for i, (down, block) in enumerate(zip(self.down, self.blocks)):
            x = down(x, training=training)
            x = block(x, training=training)
            feats[i + 2] = x
        lowest = self._lowest
        top = self.lateral["P5"](feats[5])
        pyramid = {5: top}
        for lvl in range(4, lowest - 1, -1):
            lat = self.lateral[f"P{lvl}"](feats[lvl])
            up = self.up(pyramid[lvl + 1])
            up = up[:, : keras.ops.shape(lat)[1], : keras.ops.shape(lat)[2], :]
            pyramid[lvl] = lat + up
        out = {}
        for lvl in range(lowest, 6):
            out[lvl] = self.smooth[f"P{lvl}"](pyramid[lvl])
        if self.max_level >= 6:
            out[6] = self.p6(out[5])
        return {f"P{lvl}": out[lvl] for lvl in range(self.min_level, self.max_level + 1)}

    def get_config(self):
        config = super().get_config()
        config.update(widths=list(self.widths), fpn_filters=self.fpn_filters, min_level=self.min_level,
                      max_level=self.max_level, normalization=self.normalization)
        return config
