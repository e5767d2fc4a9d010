"""Region proposal network head (shared over pyramid levels)."""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="sciarch.bubble")
class RegionProposalNetwork(keras.layers.Layer):
    """Objectness and box-delta predictions for every anchor of every pyramid level.

    A 3x3 convolution shared by all levels, then two 1x1 convolutions: one objectness
    logit and four box deltas per anchor. Outputs of the levels are concatenated in
    level order and, within a level, in the (row, column, anchor) order of
    ``keras_hub.layers.AnchorGenerator``.

    Args:
        num_anchors: anchors per feature-map location.
        filters: channels of the shared 3x3 convolution.
        **kwargs: standard Layer arguments.

    Returns (call on a dict of levels): ``(logits [B, N], deltas [B, N, 4])``.

    Example:
        >>> import numpy as np
        >>> rpn = RegionProposalNetwork(num_anchors=3, filters=8)
        >>> logits, deltas = rpn({"P3": np.zeros((2, 4, 4, 8), "float32")})
        >>> tuple(logits.shape), tuple(deltas.shape)
        ((2, 48), (2, 48, 4))
    """

    def __init__(self, num_anchors, filters=64, **kwargs):
        super().__init__(**kwargs)
        self.num_anchors = int(num_anchors)
        self.filters = int(filters)
        init = keras.initializers.RandomNormal(stddev=0.01)
        self.conv = layers.Conv2D(self.filters, 3, padding="same", activation="relu", kernel_initializer=init,
                                  name="rpn_conv")
        self.objectness = layers.Conv2D(self.num_anchors, 1, kernel_initializer=init, name="rpn_objectness")
        self.deltas = layers.Conv2D(4 * self.num_anchors, 1, kernel_initializer=init, name="rpn_deltas")

    def call(self, features):
        logits, deltas = [], []
        for level in sorted(features, key=lambda k: int(k[1:])):
            h = self.conv(features[level])
            b = ops.shape(h)[0]
            logits.append(ops.reshape(self.objectness(h), (b, -1)))
            deltas.append(ops.reshape(self.deltas(h), (b, -1, 4)))
        return ops.concatenate(logits, axis=1), ops.concatenate(deltas, axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(num_anchors=self.num_anchors, filters=self.filters)
        return config
