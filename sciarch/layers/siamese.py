"""Siamese wrapper: one shared encoder applied to two inputs, embeddings combined."""

from __future__ import annotations

import keras
from keras import ops

from sciarch.layers._utils import check_choice


@keras.saving.register_keras_serializable(package="sciarch")
class SiameseEncoder(keras.layers.Layer):
    """Apply the same ``encoder`` (shared weights) to ``a`` and ``b`` and combine:

    * "difference": ``f(a) - f(b)`` (antisymmetric: swapping the inputs flips the sign, as
      needed for relative quantities such as ddG between two molecules);
    * "abs_difference": ``|f(a) - f(b)|`` (symmetric);
    * "concat": ``[f(a), f(b)]`` along the last axis;
    * "product": ``f(a) * f(b)`` (symmetric).

    The encoder may be any Keras layer or model taking one tensor (or a dict/list structure
    when it is a functional model with several inputs). It is saved inside this layer's
    config with ``keras.saving.serialize_keras_object``.

    Call arguments: ``call(a, b)`` or ``call([a, b])``.

    Args:
        encoder: a Keras layer or model.
        combine: "difference", "abs_difference", "concat" or "product".
        **kwargs: standard Layer arguments.

    Example:

    >>> import numpy as np, keras
    >>> from sciarch.layers import SiameseEncoder
    >>> enc = keras.Sequential([keras.layers.Dense(8, activation="tanh")])
    >>> siamese = SiameseEncoder(enc, combine="difference")
    >>> a = np.ones((2, 4), "float32"); b = np.zeros((2, 4), "float32")
    >>> bool(np.allclose(siamese(a, b), -np.asarray(siamese(b, a))))
    True
    """

    COMBINES = ("difference", "abs_difference", "concat", "product")

    def __init__(self, encoder, combine="difference", **kwargs):
        super().__init__(**kwargs)
        check_choice(type(self).__name__, "combine", combine, self.COMBINES)
        if isinstance(encoder, dict):
            encoder = keras.saving.deserialize_keras_object(encoder)
        if not isinstance(encoder, keras.layers.Layer):
            raise ValueError(
                f"SiameseEncoder: `encoder` must be a Keras layer or model, got {type(encoder).__name__}."
            )
        self.encoder = encoder
        self.combine = combine

    @staticmethod
    def _split(a, b):
        if b is None:
            if isinstance(a, (list, tuple)) and len(a) == 2:
                return a[0], a[1]
            raise ValueError("SiameseEncoder: call with (a, b) or with a list [a, b].")
        return a, b

    def build(self, a_shape, b_shape=None):
        if (
            b_shape is None
            and isinstance(a_shape, (list, tuple))
            and len(a_shape) == 2
            and isinstance(a_shape[0], (list, tuple, dict))
        ):
            a_shape = a_shape[0]  # called as call([a, b])
        if not self.encoder.built:
            self.encoder.build(a_shape)

    def call(self, a, b=None):
        a, b = self._split(a, b)
        ea = self.encoder(a)
        eb = self.encoder(b)
        if self.combine == "difference":
            return ea - eb
        if self.combine == "abs_difference":
            return ops.abs(ea - eb)
        if self.combine == "product":
            return ea * eb
        return ops.concatenate([ea, eb], axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "combine": self.combine,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)
