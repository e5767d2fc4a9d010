"""Positional encodings added to a ``[B, T, C]`` sequence: fixed sinusoidal and learned."""

from __future__ import annotations

import math

import keras
from keras import ops

from sciarch.layers._utils import check_positive_int


def sinusoidal_table(length, channels, max_wavelength=10000.0, dtype="float32"):
    """``[length, channels]`` table: channel ``2i`` is ``sin(t / max_wavelength**(2i/C))`` and
    channel ``2i+1`` the matching cosine (odd ``C``: the last channel is a sine)."""
    positions = ops.cast(ops.arange(length), dtype)[:, None]  # [T, 1]
    index = ops.arange(channels)
    pair = ops.cast(index // 2, dtype)  # i for channels 2i and 2i+1
    inv_freq = ops.exp(-math.log(max_wavelength) * 2.0 * pair / float(channels))  # [C]
    angles = positions * inv_freq[None, :]
    is_even = ops.equal(index % 2, 0)[None, :]
    return ops.where(is_even, ops.sin(angles), ops.cos(angles))


@keras.saving.register_keras_serializable(package="sciarch")
class SinusoidalPositionalEncoding(keras.layers.Layer):
    """Add the fixed Transformer sinusoidal encoding to ``[B, T, C]`` (any ``T``, no weights).

    ``x[b, t, 2i] += sin(t / max_wavelength**(2i / C))`` and
    ``x[b, t, 2i+1] += cos(t / max_wavelength**(2i / C))``.

    Args:
        max_wavelength: longest wavelength of the encoding (10000 as in Vaswani et al.).
        **kwargs: standard Layer arguments.

    Example:

    >>> import numpy as np
    >>> from sciarch.layers import SinusoidalPositionalEncoding
    >>> y = SinusoidalPositionalEncoding()(np.zeros((1, 3, 4), "float32"))
    >>> [round(float(v), 3) for v in np.asarray(y)[0, 1]]  # t=1: sin(1), cos(1), sin(0.01), cos(0.01)
    [0.841, 0.54, 0.01, 1.0]
    """

    def __init__(self, max_wavelength=10000, **kwargs):
        super().__init__(**kwargs)
        if not max_wavelength > 1:
            raise ValueError(
                "SinusoidalPositionalEncoding: `max_wavelength` must be > 1, "
                f"got {max_wavelength!r}."
            )
        self.max_wavelength = float(max_wavelength)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "SinusoidalPositionalEncoding expects [batch, time, channels] with known "
                f"channels; got shape {tuple(input_shape)}."
            )

    def call(self, x):
        table = sinusoidal_table(ops.shape(x)[1], x.shape[-1], self.max_wavelength, x.dtype)
        return x + table[None]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength})
        return config


@keras.saving.register_keras_serializable(package="sciarch")
class LearnedPositionalEncoding(keras.layers.Layer):
    """Add a trainable per-position vector (``max_length x C`` table) to ``[B, T, C]``.

    Sequences up to ``max_length`` long are accepted; a longer statically known length raises
    a ValueError.

    Args:
        max_length: longest sequence supported.
        initializer: initializer of the table.
        **kwargs: standard Layer arguments.

    Example:

    >>> import numpy as np
    >>> from sciarch.layers import LearnedPositionalEncoding
    >>> tuple(LearnedPositionalEncoding(max_length=64)(np.zeros((2, 10, 8), "float32")).shape)
    (2, 10, 8)
    """

    def __init__(self, max_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        check_positive_int(type(self).__name__, "max_length", max_length)
        self.max_length = max_length
        self.initializer = keras.initializers.get(initializer)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "LearnedPositionalEncoding expects [batch, time, channels] with known "
                f"channels; got shape {tuple(input_shape)}."
            )
        self._check_length(input_shape[1])
        self.table = self.add_weight(
            name="table", shape=(self.max_length, input_shape[-1]), initializer=self.initializer
        )

    def _check_length(self, length):
        if length is not None and length > self.max_length:
            raise ValueError(
                f"LearnedPositionalEncoding: sequence length {length} exceeds "
                f"max_length={self.max_length}."
            )

    def call(self, x):
        self._check_length(x.shape[1])
        length = ops.shape(x)[1]
        if x.shape[1] is None and keras.backend.backend() == "tensorflow":
            import tensorflow as tf  # runtime check for lengths only known when running

            check = tf.debugging.assert_less_equal(
                tf.cast(length, "int32"),
                self.max_length,
                message=f"LearnedPositionalEncoding: sequence length exceeds max_length={self.max_length}",
            )
            # The slice and the add depend on the check, so the check always fails first and
            # the error names the limit (without this the add's shape error could win the race).
            with tf.control_dependencies([check] if check is not None else []):
                table = ops.cast(self.table, x.dtype)[:length]
                return x + table[None]
        table = ops.cast(self.table, x.dtype)[:length]
        return x + table[None]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_length": self.max_length,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config
