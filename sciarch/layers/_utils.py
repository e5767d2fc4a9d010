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


def conv_class(rank):
    """Conv1D for rank 1, Conv2D for rank 2."""
    return {1: keras.layers.Conv1D, 2: keras.layers.Conv2D}[rank]
