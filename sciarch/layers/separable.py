"""Depthwise-separable convolution block (MobileNet style) for 1D and 2D inputs."""

from __future__ import annotations

import keras

from sciarch.layers._utils import check_choice, check_positive_int, conv_class
from sciarch.layers.normalization import make_normalization


@keras.saving.register_keras_serializable(package="sciarch")
class DepthwiseSeparableBlock(keras.layers.Layer):
    """Depthwise convolution -> norm -> act -> pointwise (1x1) convolution -> norm -> act.

    A plain convolution from ``C`` to ``filters`` channels has ``k**rank * C * filters``
    kernel weights; this block has ``k**rank * C + C * filters``, a factor of roughly
    ``1 / filters + 1 / k**rank`` of that, at a small cost in expressiveness.

    Args:
        filters: output channels (of the pointwise convolution).
        kernel_size: depthwise kernel size (int).
        rank: 1 for sequences ``[B, T, C]``, 2 for images ``[B, H, W, C]``.
        strides: stride of the depthwise convolution ('same' padding).
        activation: activation after each of the two convolutions.
        normalization: "batch", "layer", "instance" or None (None adds biases instead).
        **kwargs: standard Layer arguments.

    Example:

    >>> import numpy as np
    >>> from sciarch.layers import DepthwiseSeparableBlock
    >>> block = DepthwiseSeparableBlock(32, kernel_size=3, rank=2, strides=2)
    >>> tuple(block(np.zeros((1, 16, 16, 8), "float32")).shape)
    (1, 8, 8, 32)
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        rank=1,
        strides=1,
        activation="relu",
        normalization="batch",
        **kwargs,
    ):
        super().__init__(**kwargs)
        name = type(self).__name__
        check_positive_int(name, "filters", filters)
        check_positive_int(name, "kernel_size", kernel_size)
        check_positive_int(name, "strides", strides)
        check_choice(name, "rank", rank, (1, 2))
        check_choice(name, "normalization", normalization, ("batch", "layer", "instance", None))
        self.filters = filters
        self.kernel_size = kernel_size
        self.rank = rank
        self.strides = strides
        self.activation = keras.activations.get(activation)
        self.normalization = normalization
        use_bias = normalization is None
        depthwise = {1: keras.layers.DepthwiseConv1D, 2: keras.layers.DepthwiseConv2D}[rank]
        self.depthwise = depthwise(
            kernel_size, strides=strides, padding="same", use_bias=use_bias, name="depthwise"
        )
        self.pointwise = conv_class(rank)(filters, 1, use_bias=use_bias, name="pointwise")
        self.norm1 = make_normalization(normalization, "norm1")
        self.norm2 = make_normalization(normalization, "norm2")

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"DepthwiseSeparableBlock(rank={self.rank}) expects inputs of rank "
                f"{self.rank + 2}; got shape {tuple(input_shape)}."
            )
        if input_shape[-1] is None:
            raise ValueError("DepthwiseSeparableBlock: the channel (last) dimension must be known.")
        self.depthwise.build(input_shape)
        mid = self.depthwise.compute_output_shape(input_shape)
        if self.norm1 is not None:
            self.norm1.build(mid)
        self.pointwise.build(mid)
        out = self.pointwise.compute_output_shape(mid)
        if self.norm2 is not None:
            self.norm2.build(out)

    def call(self, inputs, training=None):
        x = self.depthwise(inputs)
        if self.norm1 is not None:
            x = self.norm1(x, training=training)
        x = self.activation(x)
        x = self.pointwise(x)
        if self.norm2 is not None:
            x = self.norm2(x, training=training)
        return self.activation(x)

    def compute_output_shape(self, input_shape):
        mid = self.depthwise.compute_output_shape(input_shape)
        return tuple(mid[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "rank": self.rank,
                "strides": self.strides,
                "activation": keras.activations.serialize(self.activation),
                "normalization": self.normalization,
            }
        )
        return config
