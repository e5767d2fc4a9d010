"""Attention pooling: a learned weighted average over a set or sequence, weights returned."""

from __future__ import annotations

import keras
from keras import ops

from sciarch.layers._utils import bool_mask, check_positive_int
from sciarch.layers.attention import masked_softmax


@keras.saving.register_keras_serializable(package="sciarch")
class AttentionPooling(keras.layers.Layer):
    """Pool ``[B, T, C]`` to ``[B, C]`` with learned weights ``softmax_t(score(x_t))``.

    ``score(x) = v^T tanh(W x + b)`` (additive attention) when ``units`` is given, else the
    linear ``score(x) = w^T x + b``. The weights are returned too (e.g. to plot which
    positions of a sequence or which atoms of a molecule the model attends to). With a mask
    the weights are zero at masked positions and sum to 1 over the valid ones; a sample with
    no valid position pools to zeros with all-zero weights. Works for sequences and for the
    node axis of padded graph batches (pass the node mask).

    Call arguments:
        x: ``[B, T, C]``.
        mask: optional ``[B, T]`` (bool or 0/1 float; Keras masks are picked up automatically).

    Returns ``(pooled [B, C], weights [B, T])``.

    Args:
        units: hidden size of the additive scorer, or None for a linear scorer.
        **kwargs: standard Layer arguments.

    Example:

    >>> import numpy as np
    >>> from sciarch.layers import AttentionPooling
    >>> x = np.random.default_rng(0).normal(size=(2, 6, 4)).astype("float32")
    >>> mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], "float32")
    >>> pooled, weights = AttentionPooling(units=8)(x, mask=mask)
    >>> tuple(pooled.shape), tuple(weights.shape), round(float(np.asarray(weights)[0, :4].sum()), 5)
    ((2, 4), (2, 6), 1.0)
    """

    def __init__(self, units=None, **kwargs):
        super().__init__(**kwargs)
        if units is not None:
            check_positive_int(type(self).__name__, "units", units)
        self.units = units
        self.supports_masking = True
        if units is None:
            self.hidden = None
            self.score = keras.layers.Dense(1, name="score")
        else:
            self.hidden = keras.layers.Dense(units, activation="tanh", name="hidden")
            self.score = keras.layers.Dense(1, use_bias=False, name="score")

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "AttentionPooling expects [batch, positions, channels] with known channels; "
                f"got shape {tuple(input_shape)}."
            )
        shape = tuple(input_shape)
        if self.hidden is not None:
            self.hidden.build(shape)
            shape = shape[:-1] + (self.units,)
        self.score.build(shape)

    def call(self, x, mask=None):
        h = self.hidden(x) if self.hidden is not None else x
        logits = ops.squeeze(self.score(h), -1)  # [B, T]
        weights = masked_softmax(logits, bool_mask(mask))
        pooled = ops.sum(ops.expand_dims(weights, -1) * x, axis=1)
        return pooled, weights

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1]), (input_shape[0], input_shape[1])

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config
