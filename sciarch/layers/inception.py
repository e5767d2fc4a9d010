"""Inception block: parallel 1x1 / 3x3 / 5x5 / pool branches concatenated along channels."""

from __future__ import annotations

import keras
from keras import ops

from sciarch.layers._utils import check_choice, check_positive_int, conv_class


@keras.saving.register_keras_serializable(package="sciarch")
class InceptionBlock(keras.layers.Layer):
    """GoogLeNet-style block for 1D (``[B, T, C]``) or 2D (``[B, H, W, C]``) inputs.

    Branches (all stride 1, 'same' padding, each convolution followed by ``activation``):

    * 1x1 convolution with ``filters_1x1`` channels;
    * [1x1 bottleneck ->] 3x3 convolution with ``filters_3x3`` channels;
    * [1x1 bottleneck ->] 5x5 convolution with ``filters_5x5`` channels;
    * 3x3 max-pool -> 1x1 convolution with ``filters_pool`` channels.

    The output concatenates the branches along the channel axis, so it has
    ``filters_1x1 + filters_3x3 + filters_5x5 + filters_pool`` channels and the input's
    spatial size. A branch with 0 filters is left out. The 1x1 bottlenecks
    (``bottleneck`` channels) reduce the input width before the expensive 3x3 and 5x5
    kernels; with ``bottleneck=None`` those kernels act on the input directly.

    Args:
        filters_1x1: channels of the 1x1 branch.
        filters_3x3: channels of the 3x3 branch.
        filters_5x5: channels of the 5x5 branch.
        filters_pool: channels of the pool-projection branch.
        bottleneck: None, an int (width of both the 3x3 and 5x5 bottlenecks) or a pair
            ``(width_3x3, width_5x5)``.
        rank: 1 (Conv1D, kernel sizes 1/3/5) or 2 (Conv2D, 1x1/3x3/5x5).
        activation: activation after every convolution.
        **kwargs: standard Layer arguments.

    Example:

    >>> import numpy as np
    >>> from sciarch.layers import InceptionBlock
    >>> block = InceptionBlock(8, 16, 4, 4, bottleneck=8, rank=1)
    >>> tuple(block(np.zeros((2, 50, 32), "float32")).shape)
    (2, 50, 32)
    """

    def __init__(
        self,
        filters_1x1,
        filters_3x3,
        filters_5x5,
        filters_pool,
        bottleneck=None,
        rank=1,
        activation="relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        name = type(self).__name__
        for arg, value in (
            ("filters_1x1", filters_1x1),
            ("filters_3x3", filters_3x3),
            ("filters_5x5", filters_5x5),
            ("filters_pool", filters_pool),
        ):
            check_positive_int(name, arg, value, allow_zero=True)
        total = filters_1x1 + filters_3x3 + filters_5x5 + filters_pool
        if total == 0:
            raise ValueError(f"{name}: at least one branch must have filters > 0.")
        check_choice(name, "rank", rank, (1, 2))
        if bottleneck is None:
            b3 = b5 = None
        elif isinstance(bottleneck, (list, tuple)):
            if len(bottleneck) != 2:
                raise ValueError(f"{name}: `bottleneck` pair must have 2 entries, got {bottleneck!r}.")
            b3, b5 = bottleneck
            check_positive_int(name, "bottleneck[0]", b3)
            check_positive_int(name, "bottleneck[1]", b5)
        else:
            check_positive_int(name, "bottleneck", bottleneck)
            b3 = b5 = bottleneck
        self.filters_1x1 = filters_1x1
        self.filters_3x3 = filters_3x3
        self.filters_5x5 = filters_5x5
        self.filters_pool = filters_pool
        self.bottleneck = list(bottleneck) if isinstance(bottleneck, (list, tuple)) else bottleneck
        self.rank = rank
        self.activation = keras.activations.get(activation)
        self.output_channels = total

        conv = conv_class(rank)
        act = self.activation

        def make(filters, size, label):
            return conv(filters, size, padding="same", activation=act, name=label)

        self.branch_1x1 = make(filters_1x1, 1, "conv_1x1") if filters_1x1 else None
        self.reduce_3x3 = make(b3, 1, "reduce_3x3") if (filters_3x3 and b3) else None
        self.conv_3x3 = make(filters_3x3, 3, "conv_3x3") if filters_3x3 else None
        self.reduce_5x5 = make(b5, 1, "reduce_5x5") if (filters_5x5 and b5) else None
        self.conv_5x5 = make(filters_5x5, 5, "conv_5x5") if filters_5x5 else None
        pool = {1: keras.layers.MaxPooling1D, 2: keras.layers.MaxPooling2D}[rank]
        self.pool = pool(pool_size=3, strides=1, padding="same", name="pool") if filters_pool else None
        self.pool_proj = make(filters_pool, 1, "pool_proj") if filters_pool else None

    def _branches(self):
        return [
            [self.branch_1x1],
            [self.reduce_3x3, self.conv_3x3],
            [self.reduce_5x5, self.conv_5x5],
            [self.pool, self.pool_proj],
        ]

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"InceptionBlock(rank={self.rank}) expects inputs of rank {self.rank + 2}; "
                f"got shape {tuple(input_shape)}."
            )
        if input_shape[-1] is None:
            raise ValueError("InceptionBlock: the channel (last) dimension must be known.")
        for branch in self._branches():
            shape = tuple(input_shape)
            for layer in branch:
                if layer is not None:
                    layer.build(shape)
                    shape = layer.compute_output_shape(shape)

    def call(self, inputs):
        outputs = []
        for branch in self._branches():
            if all(layer is None for layer in branch):
                continue
            y = inputs
            for layer in branch:
                if layer is not None:
                    y = layer(y)
            outputs.append(y)
        return outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_channels,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters_1x1": self.filters_1x1,
                "filters_3x3": self.filters_3x3,
                "filters_5x5": self.filters_5x5,
                "filters_pool": self.filters_pool,
                "bottleneck": self.bottleneck,
                "rank": self.rank,
                "activation": keras.activations.serialize(self.activation),
            }
        )
        return config
