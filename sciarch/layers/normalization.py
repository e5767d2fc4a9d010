"""Instance normalisation with learnable affine parameters, and the normalisation factory of the blocks."""

from __future__ import annotations

import keras
from keras import ops

from sciarch.layers._utils import float_mask


@keras.saving.register_keras_serializable(package="sciarch")
class InstanceNormalization(keras.layers.Layer):
    """Normalise each sample and channel over its spatial axes, then apply ``gamma * x + beta``.

    For a channels-last input ``[B, *spatial, C]`` (1D ``[B, T, C]`` or 2D ``[B, H, W, C]``) the
    mean and (population) variance are taken over the spatial axes separately for every sample
    and channel, so the output of every (sample, channel) slice has mean ``beta[c]`` and standard
    deviation ``gamma[c] * sqrt(var / (var + epsilon))`` (``gamma[c]`` up to epsilon).
    Unlike batch normalisation the statistics do not depend on the other samples in the batch,
    and training and inference behave identically.

    An optional ``mask`` (``[B, *spatial]``, bool or 0/1 float; Keras masks are picked up
    automatically) restricts the statistics to valid positions, so zero padding of
    variable-length sequences does not shift them; masked positions are output as zeros.

    Args:
        epsilon: small float added to the variance.
        center: learn the per-channel shift ``beta`` (else beta = 0).
        scale: learn the per-channel scale ``gamma`` (else gamma = 1).
        beta_initializer: initializer for ``beta``.
        gamma_initializer: initializer for ``gamma``.
        **kwargs: standard Layer arguments (``name``, ``dtype``, ...).

    Example:

    >>> import numpy as np
    >>> from sciarch.layers import InstanceNormalization
    >>> x = np.random.default_rng(0).normal(3.0, 2.0, (2, 50, 4)).astype("float32")
    >>> y = InstanceNormalization()(x)
    >>> bool(np.allclose(np.asarray(y).mean(axis=1), 0.0, atol=1e-5))
    True
    """

    def __init__(
        self,
        epsilon=1e-5,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not epsilon >= 0:
            raise ValueError(f"InstanceNormalization: `epsilon` must be >= 0, got {epsilon!r}.")
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.supports_masking = True
        self.gamma = None
        self.beta = None

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(
                "InstanceNormalization expects a channels-last input with at least one spatial "
                f"axis, [B, *spatial, C]; got shape {tuple(input_shape)}."
            )
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("InstanceNormalization: the channel (last) dimension must be known.")
        if self.scale:
            self.gamma = self.add_weight(
                name="gamma", shape=(channels,), initializer=self.gamma_initializer
            )
        if self.center:
            self.beta = self.add_weight(
                name="beta", shape=(channels,), initializer=self.beta_initializer
            )

    def call(self, inputs, mask=None):
        x = inputs
        axes = tuple(range(1, len(x.shape) - 1))
        m = float_mask(mask, x.dtype)
        if m is None:
            mean = ops.mean(x, axis=axes, keepdims=True)
            var = ops.mean(ops.square(x - mean), axis=axes, keepdims=True)
        else:
            m = ops.expand_dims(m, -1)
            count = ops.maximum(ops.sum(m, axis=axes, keepdims=True), 1.0)
            mean = ops.sum(x * m, axis=axes, keepdims=True) / count
            var = ops.sum(ops.square(x - mean) * m, axis=axes, keepdims=True) / count
        y = (x - mean) * ops.rsqrt(var + self.epsilon)
        if self.gamma is not None:
            y = y * ops.cast(self.gamma, y.dtype)
        if self.beta is not None:
            y = y + ops.cast(self.beta, y.dtype)
        if m is not None:
            y = y * m
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "epsilon": self.epsilon,
                "center": self.center,
                "scale": self.scale,
                "beta_initializer": keras.initializers.serialize(self.beta_initializer),
                "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
            }
        )
        return config


#: the ``normalization`` choices of the convolution blocks
NORMALIZATIONS = ("batch", "layer", "instance", None)


def make_normalization(kind, name):
    """Build the normalisation layer named by ``kind`` ("batch", "layer", "instance" or None)."""
    if kind is None:
        return None
    if kind == "batch":
        # synchronized=True: under tf.distribute (MirroredStrategy) the batch statistics are
        # all-reduced over replicas. Without it Keras 3 keeps per-replica moving statistics
        # (aggregation "none") that drift apart, so inference differs between replicas.
        # Outside a strategy it is the plain layer.
        return keras.layers.BatchNormalization(
            synchronized=keras.backend.backend() == "tensorflow", name=name
        )
    if kind == "layer":
        return keras.layers.LayerNormalization(name=name)
    if kind == "instance":
        return InstanceNormalization(name=name)
    raise ValueError(f"Unknown normalization {kind!r}; expected one of {list(NORMALIZATIONS)}.")
