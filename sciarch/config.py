"""YAML configuration -> validated pydantic schema, with dotted ``--set`` overrides.

Every pipeline declares its own ``data`` and ``model`` sections by subclassing
:class:`PipelineConfig`; the ``train``, ``loss``, ``distribute`` and ``report``
sections are shared. All sections forbid unknown keys, so a typo in a YAML file
or an override fails with one line that names the key and what was expected.

Example:
    >>> from sciarch.config import PipelineConfig, parse_overrides
    >>> cfg = PipelineConfig.model_validate({"pipeline": "demo", "train": {"epochs": 3}})
    >>> cfg.train.epochs
    3
    >>> parse_overrides(["train.epochs=5"])
    {'train': {'epochs': 5}}
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ConfigError(ValueError):
    """A configuration problem; the message is one line meant for the user."""


class Section(BaseModel):
    """Base for every config section: unknown keys are errors, types are checked."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


class EarlyStoppingConfig(Section):
    monitor: str = "val_loss"
    patience: int = Field(3, ge=0)
    mode: Literal["auto", "min", "max"] = "auto"
    restore_best_weights: bool = True


class TrainConfig(Section):
    epochs: int = Field(5, ge=1)
    batch_size: int = Field(32, ge=1, description="global batch size (all replicas together)")
    learning_rate: float = Field(1e-3, gt=0)
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    weight_decay: float = Field(0.0, ge=0)
    clipnorm: float | None = Field(None, gt=0)
    steps_per_epoch: int | None = Field(None, ge=1)
    validation_steps: int | None = Field(None, ge=1)
    early_stopping: EarlyStoppingConfig | None = None
    tensorboard: bool = True
    backup_and_restore: bool = True
    verbose: Literal["auto", 0, 1, 2] = "auto"
    jit_compile: Literal["auto"] | bool = "auto"
    mixed_precision: bool = False


class LossConfig(Section):
    name: str = Field("default", description="registry name, or 'package.module:callable'")
    params: dict[str, Any] = Field(default_factory=dict)


class DistributeConfig(Section):
    strategy: Literal["auto", "default", "mirrored", "multi_worker", "tpu"] = "auto"
    devices: list[str] | None = None
    tpu: str | None = Field(None, description="TPU name/address for TPUClusterResolver")
    logical_cpu_devices: int | None = Field(
        None, ge=1, description="split the host CPU into N logical devices (testing MirroredStrategy)"
    )


class ReportConfig(Section):
    enabled: bool = True
    dpi: int = Field(110, ge=30)


class PipelineConfig(Section):
    """Top-level configuration. Pipelines override ``data`` and ``model`` with their own sections."""

    pipeline: str
    seed: int = 0
    data: Section = Field(default_factory=Section)
    model: Section = Field(default_factory=Section)
    train: TrainConfig = Field(default_factory=TrainConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    distribute: DistributeConfig = Field(default_factory=DistributeConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)


# --------------------------------------------------------------------------- loading


def _describe_error(err: dict, schema: type[BaseModel], source: str) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = _section_at(schema, err["loc"][:-1])
        allowed = sorted(parent.model_fields) if parent is not None else []
        hint = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
        msg = f"unknown key '{loc}'"
        if hint:
            msg += f" (did you mean '{'.'.join(str(p) for p in err['loc'][:-1] + (hint[0],))}'?)"
        elif allowed:
            msg += f" (allowed: {', '.join(allowed)})"
        return f"{source}: {msg}"
    if kind == "missing":
        return f"{source}: missing required key '{loc}'"
    got = err.get("input")
    got_s = repr(got)
    if len(got_s) > 60:
        got_s = got_s[:57] + "..."
    return f"{source}: key '{loc}': {err['msg'].lower()} (got {got_s})"


def _section_at(schema: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    cur: Any = schema
    for part in loc:
        if not (isinstance(cur, type) and issubclass(cur, BaseModel)):
            return None
        field = cur.model_fields.get(str(part))
        if field is None:
            return None
        cur = field.annotation
        # unwrap Optional[Section]
        args = getattr(cur, "__args__", None)
        if args:
            cur = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), cur)
    return cur if isinstance(cur, type) and issubclass(cur, BaseModel) else None


def validate(raw: dict, schema: type[PipelineConfig], source: str = "config") -> PipelineConfig:
    """Validate a raw mapping against ``schema``; raise :class:`ConfigError` with one line."""
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(_describe_error(first, schema, source)) from None


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    return raw


def parse_overrides(items: list[str] | None) -> dict:
    """Turn ``["a.b=1", "c=x"]`` into a nested dict; values are parsed as YAML scalars."""
    out: dict = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY.SUB=VALUE")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key or any(not p for p in key.split(".")):
            raise ConfigError(f"--set {item!r}: empty key")
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        cur = out
        parts = key.split(".")
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
            if not isinstance(cur, dict):
                raise ConfigError(f"--set {item!r}: '{p}' is set both as a value and as a section")
        cur[parts[-1]] = parsed
    return out


def deep_merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_config(path: str | Path, overrides: list[str] | None = None, pipeline: str | None = None) -> PipelineConfig:
    """Read a YAML file, apply ``--set`` overrides and validate it with its pipeline's schema.

    ``pipeline`` (from the command line) wins over a ``pipeline:`` key in the file; a
    mismatch between the two is an error.
    """
    from sciarch.pipeline import get_pipeline_class  # late import: registry imports config

    raw = read_yaml(path)
    name = raw.get("pipeline")
    if pipeline is not None:
        if name is not None and name != pipeline:
            raise ConfigError(f"{path}: key 'pipeline' is '{name}' but the command asked for '{pipeline}'")
        name = pipeline
    if name is None:
        raise ConfigError(f"{path}: missing required key 'pipeline'")
    raw["pipeline"] = name
    cls = get_pipeline_class(name)
    merged = deep_merge(raw, parse_overrides(overrides))
    source = str(path) if not overrides else f"{path} (with --set)"
    return validate(merged, cls.config_cls, source)


def dump_config(cfg: PipelineConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
