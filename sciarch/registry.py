"""The pipeline registry: names -> pipeline classes, and discovery of the pipeline packages.

This is the one place where the framework reaches the ``pipelines`` packages, and only by
name (``importlib``): ``load_pipeline_class("genomics")`` imports ``pipelines.genomics``
alone; :func:`discover` imports every package under ``pipelines`` (and the modules named
in ``SCIARCH_PIPELINES``). It imports nothing of sciarch but :mod:`sciarch.errors`, so the
config loader and the contract can both use it without an import cycle.

Example:
    >>> from sciarch.registry import load_pipeline_class
    >>> load_pipeline_class("genomics").name  # doctest: +SKIP
    'genomics'
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
from typing import Any

from sciarch.errors import ConfigError

_REGISTRY: dict[str, Any] = {}


def register_pipeline(cls: type) -> type:
    """Class decorator: add a pipeline to the registry under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no 'name'")
    other = _REGISTRY.get(cls.name)
    if other is not None and other is not cls and other.__qualname__ != cls.__qualname__:
        raise ValueError(f"pipeline name '{cls.name}' is taken by {other.__module__}.{other.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


_discovered = False


def _extra_modules() -> list[str]:
    """Modules of pipelines that live outside this repository: ``SCIARCH_PIPELINES=pkg.module,other.module``."""
    return [s.strip() for s in os.environ.get("SCIARCH_PIPELINES", "").split(",") if s.strip()]


def _import_extra(name: str) -> None:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(f"SCIARCH_PIPELINES: cannot import '{name}' ({exc})") from None


def discover() -> None:
    """Import every sub-package of ``pipelines`` so that their classes register."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    try:
        pipelines = importlib.import_module("pipelines")
    except ImportError:  # pragma: no cover - installed without the pipelines package
        pipelines = None
    for mod in pkgutil.iter_modules(pipelines.__path__ if pipelines else []):
        if mod.ispkg and not mod.name.startswith("_"):
            importlib.import_module(f"pipelines.{mod.name}")
    for name in _extra_modules():
        _import_extra(name)


def available_pipelines() -> dict[str, type]:
    discover()
    return dict(sorted(_REGISTRY.items()))


def get_pipeline_class(name: str) -> type:
    """The pipeline registered as ``name``; every pipeline is imported (see :func:`load_pipeline_class`)."""
    registry = available_pipelines()
    if name not in registry:
        known = ", ".join(registry) or "none"
        raise ConfigError(f"unknown pipeline '{name}' (registered: {known})")
    return registry[name]


def load_pipeline_class(name: str) -> type:
    """The pipeline registered as ``name``, importing only its package.

    ``pipelines.<name>`` is imported alone when it exists, else the ``SCIARCH_PIPELINES``
    modules one by one until one registers ``name``; so a command that needs one pipeline
    (``sciarch screen --model RUN``) does not import the others (nor TensorFlow through
    them). An unknown name falls back to :func:`get_pipeline_class` (full discovery) for
    its error, which lists the registered pipelines.

    Raises:
        ConfigError: no pipeline of that name, or a ``SCIARCH_PIPELINES`` module that cannot be imported.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name.isidentifier() and not name.startswith("_"):
        try:
            found = importlib.util.find_spec(f"pipelines.{name}") is not None
        except (ImportError, ValueError):
            found = False
        if found:
            importlib.import_module(f"pipelines.{name}")
    for module in _extra_modules():
        if name in _REGISTRY:
            break
        _import_extra(module)
    if name in _REGISTRY:
        return _REGISTRY[name]
    return get_pipeline_class(name)
