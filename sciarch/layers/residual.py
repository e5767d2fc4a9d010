"""Residual convolution block: ``out = act(P(x) + F(x))``."""

from __future__ import annotations

import keras

from sciarch.layers._utils import check_choice, check_positive_int, conv_class
from sciarch.layers.normalization import NORMALIZATIONS, make_normalization


@keras.saving.register_keras_serializable(package="sciarch")
class ResidualBlock(keras.layers.Layer):
    """Two-convolution residual block for 1D (``[B, T, C]``) or 2D (``[B, H, W, C]``) inputs.

    ``F(x) = norm(conv2(dropout(act(norm(conv1(x))))))`` and the block returns
    ``act(P(x) + F(x))`` where ``P`` is the identity when the input already has ``filters``
    channels and a 1x1 convolution (the projection) otherwise. Both convolutions use the
    same ``kernel_size`` and ``dilation_rate`` with stride 1, so spatial size is preserved:
    'same' padding, or causal (left-only) padding when ``causal=True`` (rank 1 only), in which
    case the output at time ``t`` depends only on inputs at times ``<= t``.

    Args:
        filters: number of output channels.
        kernel_size: convolution kernel size (int).
        dilation_rate: dilation of both convolutions (int).
        rank: 1 for sequences (Conv1D), 2 for images (Conv2D).
        activation: activation after the first convolution and after the sum.
        normalization: "batch", "layer", "instance" or None, applied after each convolution.
            Note that "instance" uses statistics over the whole sequence/image, so with it the
            output at one position depends on all positions (no locality/causality guarantee).
        dropout: dropout rate between the two convolutions.
        causal: causal padding (rank 1 only).
        **kwargs: standard Layer arguments.

    Example:

    >>> import numpy as np
    >>> from sciarch.layers import ResidualBlock
    >>> block = ResidualBlock(16, kernel_size=5, dilation_rate=2, causal=True)
    >>> tuple(block(np.zeros((2, 100, 4), "float32")).shape)
    (2, 100, 16)
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        dilation_rate=1,
        rank=1,
        activation="relu",
        normalization="batch",
        dropout=0.0,
        causal=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        name = type(self).__name__
        check_positive_int(name, "filters", filters)
        check_positive_int(name, "kernel_size", kernel_size)
        check_positive_int(name, "dilation_rate", dilation_rate)
        check_choice(name, "rank", rank, (1, 2))
        check_choice(name, "normalization", normalization, NORMALIZATIONS)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{name}: `dropout` must be in [0, 1), got {dropout!r}.")
        if causal and rank != 1:
            raise ValueError(f"{name}: `causal=True` is only defined for rank 1 (sequences).")
        self.filters = filters
        self.kernel_size = kernel_size
        self.dilation_rate = dilation_rate
        self.rank = rank
        self.activation = keras.activations.get(activation)
        self.normalization = normalization
        self.dropout = float(dropout)
        self.causal = bool(causal)

        conv = conv_class(rank)
        padding = "causal" if causal else "same"
        use_bias = normalization is None
        self.conv1 = conv(
            filters, kernel_size, dilation_rate=dilation_rate, padding=padding,
            use_bias=use_bias, name="conv1",
        )
        self.conv2 = conv(
            filters, kernel_size, dilation_rate=dilation_rate, padding=padding,
            use_bias=use_bias, name="conv2",
        )
        self.norm1 = make_normalization(normalization, "norm1")
        self.norm2 = make_normalization(normalization, "norm2")
        self.drop = keras.layers.Dropout(self.dropout) if self.dropout > 0 else None
        self.projection = None

    @property
    def receptive_field(self):
        """Number of input positions (per spatial axis) that one output position sees."""
        return 1 + 2 * (self.kernel_size - 1) * self.dilation_rate

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"ResidualBlock(rank={self.rank}) expects inputs of rank {self.rank + 2} "
                f"(batch, spatial..., channels); got shape {tuple(input_shape)}."
            )
        in_channels = input_shape[-1]
        if in_channels is None:
            raise ValueError("ResidualBlock: the channel (last) dimension must be known.")
        out_shape = tuple(input_shape[:-1]) + (self.filters,)
        self.conv1.build(input_shape)
        if self.norm1 is not None:
            self.norm1.build(out_shape)
        self.conv2.build(out_shape)
        if self.norm2 is not None:
            self.norm2.build(out_shape)
        if in_channels != self.filters:
            self.projection = conv_class(self.rank)(self.filters, 1, name="projection")
            self.projection.build(input_shape)

    def call(self, inputs, training=None):
        y = self.conv1(inputs)
        if self.norm1 is not None:
            y = self.norm1(y, training=training)
        y = self.activation(y)
        if self.drop is not None:
            y = self.drop(y, training=training)
        y = self.conv2(y)
        if self.norm2 is not None:
            y = self.norm2(y, training=training)
        skip = self.projection(inputs) if self.projection is not None else inputs
        return self.activation(skip + y)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "dilation_rate": self.dilation_rate,
                "rank": self.rank,
                "activation": keras.activations.serialize(self.activation),
                "normalization": self.normalization,
                "dropout": self.dropout,
                "causal": self.causal,
            }
        )
        return config
