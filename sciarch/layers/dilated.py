"""WaveNet-style stack of dilated residual blocks (dilation doubles per layer)."""

from __future__ import annotations

import keras

from sciarch.layers._utils import check_choice, check_positive_int
from sciarch.layers.normalization import NORMALIZATIONS
from sciarch.layers.residual import ResidualBlock

CONVS_PER_BLOCK = 2


@keras.saving.register_keras_serializable(package="sciarch")
class DilatedResidualStack(keras.layers.Layer):
    """Stack of ``num_layers`` 1D :class:`ResidualBlock` s, block ``i`` with dilation
    ``dilation_base ** i``.

    Each block holds two convolutions of size ``kernel_size``, so one output position sees

        ``receptive_field = 1 + sum_i 2 * (kernel_size - 1) * dilation_base ** i``

    input positions: ``[t - receptive_field + 1, t]`` when ``causal=True`` (nothing from the
    future), or a window centred on ``t`` otherwise (for odd ``kernel_size``; half-width
    ``(receptive_field - 1) // 2``). Works on variable-length sequences (time axis ``None``).
    The locality guarantee holds for normalization "batch" (inference), "layer" or None;
    "instance" normalises over the whole sequence.

    Args:
        filters: channels of every block.
        kernel_size: convolution kernel size.
        num_layers: number of residual blocks.
        dilation_base: dilation multiplier per block (2 doubles the dilation).
        causal: causal (left) padding.
        activation: activation of the blocks.
        normalization: "batch", "layer", "instance" or None.
        dropout: dropout rate inside each block.
        **kwargs: standard Layer arguments.

    Example:

    >>> import numpy as np
    >>> from sciarch.layers import DilatedResidualStack
    >>> stack = DilatedResidualStack(8, kernel_size=3, num_layers=4, causal=True)
    >>> stack.receptive_field  # 1 + 2 * 2 * (1 + 2 + 4 + 8)
    61
    >>> tuple(stack(np.zeros((2, 128, 4), "float32")).shape)
    (2, 128, 8)
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        num_layers=4,
        dilation_base=2,
        causal=False,
        activation="relu",
        normalization="batch",
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        name = type(self).__name__
        check_positive_int(name, "filters", filters)
        check_positive_int(name, "kernel_size", kernel_size)
        check_positive_int(name, "num_layers", num_layers)
        check_positive_int(name, "dilation_base", dilation_base)
        check_choice(name, "normalization", normalization, NORMALIZATIONS)
        self.filters = filters
        self.kernel_size = kernel_size
        self.num_layers = num_layers
        self.dilation_base = dilation_base
        self.causal = bool(causal)
        self.activation = keras.activations.get(activation)
        self.normalization = normalization
        self.dropout = float(dropout)
        self.blocks = [
            ResidualBlock(
                filters,
                kernel_size=kernel_size,
                dilation_rate=dilation_base**i,
                rank=1,
                activation=self.activation,
                normalization=normalization,
                dropout=dropout,
                causal=causal,
                name=f"block_{i}",
            )
            for i in range(num_layers)
        ]

    @property
    def dilations(self):
        """Dilation rate of each block, ``[base**0, base**1, ...]``."""
        return [self.dilation_base**i for i in range(self.num_layers)]

    @property
    def receptive_field(self):
        """Input positions seen by one output position (see class docstring)."""
        return 1 + sum(
            CONVS_PER_BLOCK * (self.kernel_size - 1) * d for d in self.dilations
        )

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                "DilatedResidualStack expects [batch, time, channels] inputs; "
                f"got shape {tuple(input_shape)}."
            )
        shape = tuple(input_shape)
        for block in self.blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)

    def call(self, inputs, training=None):
        x = inputs
        for block in self.blocks:
            x = block(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "num_layers": self.num_layers,
                "dilation_base": self.dilation_base,
                "causal": self.causal,
                "activation": keras.activations.serialize(self.activation),
                "normalization": self.normalization,
                "dropout": self.dropout,
            }
        )
        return config
