"""Loss registry and loading by name or by dotted path.

Example:
    >>> from sciarch.losses import get_loss, register_loss
    >>> @register_loss("half_squared_error")
    ... def half_squared_error(y_true, y_pred):
    ...     return 0.5 * (y_true - y_pred) ** 2
    >>> loss = get_loss("half_squared_error")
    >>> float(loss([[1.0], [3.0]], [[0.0], [1.0]]))
    1.25
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from typing import Any, Callable

import keras
import tensorflow as tf

from sciarch.errors import ConfigError
from sciarch.losses.replica import global_mean_share

_LOSSES: dict[str, Callable[..., Any]] = {}


class LossError(ConfigError):
    """A loss named in a config cannot be found or built (one line, exit code 2)."""


class ReplicaAwareLoss:
    """Base for losses that reduce themselves.

    ``__call__(y_true, y_pred, context=None, sample_weight=None)`` returns this
    replica's share of the global-batch loss (see :mod:`sciarch.losses.replica`).
    Subclass it for losses with non-decomposable terms; plain per-sample callables
    are wrapped in :class:`PerSampleLoss` automatically.
    """

    name = "loss"

    def __call__(self, y_true, y_pred, context=None, sample_weight=None):  # pragma: no cover
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}


def _accepts(fn: Callable, arg: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return arg in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


class PerSampleLoss(ReplicaAwareLoss):
    """Wrap ``fn(y_true, y_pred[, context=...]) -> per-sample values`` with a global mean.

    ``fn`` may return ``[B]``, ``[B, ...]`` (every element counts as one sample, as in
    per-pixel losses) or a scalar (taken as the local mean of the batch). A ``mask``
    entry in the context and ``sample_weight`` weight the elements.
    """

    def __init__(self, fn: Callable, name: str | None = None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)
        self._wants_context = _accepts(fn, "context")

    def __call__(self, y_true, y_pred, context=None, sample_weight=None):
        y_pred = tf.convert_to_tensor(y_pred)
        y_true = tf.cast(tf.convert_to_tensor(y_true), y_pred.dtype)
        if self._wants_context:
            values = self.fn(y_true, y_pred, context=context or {})
        else:
            values = self.fn(y_true, y_pred)
        values = tf.cast(tf.convert_to_tensor(values), tf.float32)
        if values.shape.rank == 0:  # a local mean: weight it by the local batch size
            n = tf.cast(tf.shape(y_pred)[0], tf.float32)
            values = tf.fill(tf.reshape(tf.cast(n, tf.int32), [1]), values)
        weights = _element_weights(values, context, sample_weight)
        return global_mean_share(values, weights)

    def get_config(self) -> dict:
        return {"fn": self.name}


def _element_weights(values, context, sample_weight):
    weights = None
    mask = (context or {}).get("mask")
    for w in (mask, sample_weight):
        if w is None:
            continue
        w = tf.cast(w, tf.float32)
        # drop trailing singleton axes that `values` already reduced (e.g. [B, 1] -> [B]) ...
        while w.shape.rank is not None and values.shape.rank is not None and w.shape.rank > values.shape.rank:
            w = tf.squeeze(w, axis=-1)
        # ... and give per-sample weights ([B]) the trailing axes of per-element values ([B, H, W])
        while w.shape.rank is not None and values.shape.rank is not None and w.shape.rank < values.shape.rank:
            w = tf.expand_dims(w, axis=-1)
        weights = w if weights is None else weights * w
    return weights


def register_loss(name: str) -> Callable:
    """Decorator: register a loss factory (class or function) under ``name``."""

    def deco(obj):
        _LOSSES[name] = obj
        return obj

    return deco


def available_losses() -> list[str]:
    return sorted(_LOSSES)


def _import_dotted(spec: str):
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise LossError(f"loss '{spec}': expected 'package.module:name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LossError(f"loss '{spec}': cannot import module '{module_name}' ({exc})") from None
    obj = module
    for part in attr.split("."):
        if part.startswith("__") or not hasattr(obj, part):
            raise LossError(f"loss '{spec}': module '{module_name}' has no attribute '{attr}'")
        obj = getattr(obj, part)
    _check_loss_object(obj, spec)
    return obj


_LOSS_SHAPE = ("a loss function f(y_true, y_pred, ...), a keras.losses.Loss or sciarch ReplicaAwareLoss "
               "subclass, or a class whose instances are called as loss(y_true, y_pred)")


def _binds_two(fn, bound: int = 0) -> bool:
    """Whether ``fn`` accepts two positional arguments (after ``bound`` already bound ones, e.g. self)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    try:
        sig.bind(*([None] * (bound + 2)))
    except TypeError:
        return False
    return True


def _python_call(cls: type):
    """The ``__call__`` a class defines in Python (not ``object``'s or a C type's), else None."""
    for klass in cls.__mro__[:-1]:
        fn = vars(klass).get("__call__")
        if fn is not None:
            return fn if inspect.isfunction(fn) else None
    return None


def _check_loss_object(obj, spec: str) -> None:
    """Refuse, before anything is called, an object a dotted path names that is not loss-shaped.

    Allowed: Python functions taking ``(y_true, y_pred, ...)``; subclasses (or instances)
    of ``keras.losses.Loss`` / :class:`ReplicaAwareLoss`; classes (or instances) defining a
    Python ``__call__(self, y_true, y_pred, ...)``. Refused: modules, builtins and C
    callables, anything from the standard library (``subprocess:Popen``, ``os:system``),
    and other classes (their constructor would run with ``loss.params``).
    """
    where = f"{getattr(obj, '__module__', None) or '?'}.{getattr(obj, '__qualname__', type(obj).__name__)}"
    if inspect.ismodule(obj):
        raise LossError(f"loss '{spec}': refused: '{obj.__name__}' is a module, not a loss (expected {_LOSS_SHAPE})")
    top = (getattr(obj, "__module__", None) or getattr(type(obj), "__module__", "") or "").split(".")[0]
    if top in sys.stdlib_module_names or top == "builtins" or inspect.isbuiltin(obj):
        kind = "class" if inspect.isclass(obj) else "callable"
        raise LossError(f"loss '{spec}': refused: '{where}' is a standard-library {kind}, not a loss "
                        f"(expected {_LOSS_SHAPE})")
    if inspect.isclass(obj):
        if issubclass(obj, (keras.losses.Loss, ReplicaAwareLoss)):
            return
        call = _python_call(obj)
        if call is not None and _binds_two(call, bound=1):
            return
        raise LossError(f"loss '{spec}': refused: class '{where}' is not a loss (expected {_LOSS_SHAPE})")
    if isinstance(obj, (keras.losses.Loss, ReplicaAwareLoss)):
        return
    if inspect.isfunction(obj) or (isinstance(obj, functools.partial) and inspect.isfunction(obj.func)):
        if _binds_two(obj):
            return
        raise LossError(f"loss '{spec}': refused: function '{where}' does not take (y_true, y_pred)")
    call = _python_call(type(obj))
    if call is not None and _binds_two(call, bound=1):
        return
    raise LossError(f"loss '{spec}': refused: {type(obj).__name__} object '{where}' is not a loss "
                    f"(expected {_LOSS_SHAPE})")


def _instantiate(obj, params: dict, spec: str):
    if inspect.isclass(obj):
        try:
            return obj(**params)
        except TypeError as exc:
            raise LossError(f"loss '{spec}': bad loss.params ({exc})") from None
    if callable(obj):
        if params:
            try:
                inspect.signature(obj).bind_partial(None, None, **params)
            except TypeError as exc:
                raise LossError(f"loss '{spec}': bad loss.params ({exc})") from None
            return functools.partial(obj, **params)
        return obj
    raise LossError(f"loss '{spec}': {type(obj).__name__} is not callable")


def _as_replica_aware(obj, name: str) -> ReplicaAwareLoss:
    if isinstance(obj, ReplicaAwareLoss):
        return obj
    if isinstance(obj, keras.losses.Loss):
        fn = obj.call  # unreduced per-sample values
        return PerSampleLoss(fn, name=name)
    return PerSampleLoss(obj, name=name)


def get_loss(spec: str | Callable, **params) -> ReplicaAwareLoss:
    """Resolve a loss by registry name, Keras name, ``module:attr`` path, or callable."""
    if callable(spec) and not isinstance(spec, str):
        return _as_replica_aware(_instantiate(spec, params, getattr(spec, "__name__", "loss")), "custom")
    if not isinstance(spec, str) or not spec:
        raise LossError(f"loss name must be a non-empty string, got {spec!r}")
    if spec in _LOSSES:
        obj = _instantiate(_LOSSES[spec], params, spec)
    elif ":" in spec:
        obj = _instantiate(_import_dotted(spec), params, spec)
    else:
        try:
            keras_fn = keras.losses.get(spec)
        except (ValueError, TypeError):
            keras_fn = None
        if keras_fn is None:
            known = ", ".join(available_losses())
            raise LossError(
                f"unknown loss '{spec}' (registered: {known}; or a Keras loss name, or 'package.module:name')"
            )
        obj = _instantiate(keras_fn, params, spec)
    return _as_replica_aware(obj, spec)
