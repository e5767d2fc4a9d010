"""Small helpers shared by the layers in :mod:`sciarch.layers` (not public API)."""

from __future__ import annotations

import keras
from keras import ops


def float_mask(mask, dtype="float32"):
    """Return ``mask`` (bool, int or float; 1/True = valid) as a ``dtype`` tensor, or None."""
    if mask is None:
        return None
    mask = ops.convert_to_tensor(mask)
    if mask.dtype != "bool":
        mask = ops.not_equal(mask, 0)
    return ops.cast(mask, dtype)


def bool_mask(mask):
    """Return ``mask`` (bool, int or float; nonzero = valid) as a bool tensor, or None."""
    if mask is None:
        return None
    mask = ops.convert_to_tensor(mask)
    if mask.dtype == "bool":
        return mask
    return ops.not_equal(mask, 0)


def check_choice(layer_name, arg_name, value, choices):
    """Raise a ValueError naming the layer and argument when ``value`` is not in ``choices``."""
    if value not in choices:
        raise ValueError(
            f"{layer_name}: `{arg_name}` must be one of {list(choices)}, got {value!r}."
        )


def check_positive_int(layer_name, arg_name, value, allow_zero=False):
    """Raise a ValueError unless ``value`` is a positive (or non-negative) Python int."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    ok = ok and (value >= 0 if allow_zero else value >= 1)
    if not ok:
        bound = ">= 0" if allow_zero else ">= 1"
        raise ValueError(f"{layer_name}: `{arg_name}` must be an int {bound}, got {value!r}.")


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
        from sciarch.layers.normalization import InstanceNormalization

        return InstanceNormalization(name=name)
    raise ValueError(f"Unknown normalization {kind!r}; expected one of {list(NORMALIZATIONS)}.")


def conv_class(rank):
    """Conv1D for rank 1, Conv2D for rank 2."""
    return {1: keras.layers.Conv1D, 2: keras.layers.Conv2D}[rank]
