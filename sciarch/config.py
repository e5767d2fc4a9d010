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
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sciarch.errors import ConfigError  # noqa: F401  (re-exported: the config's error type)


def _admits_tuple(annotation: Any) -> bool:
    if annotation is tuple or typing.get_origin(annotation) is tuple:
        return True
    return any(_admits_tuple(a) for a in typing.get_args(annotation)) if typing.get_origin(annotation) else False


class Section(BaseModel):
    """Base for every config section: unknown keys are errors, types are checked strictly.

    Strict types: ``true`` is not an integer, ``"1.5"`` is not a number and ``2.0`` is
    not an integer (an integer is still a valid float). YAML has no tuples, so a list is
    accepted where a field is a tuple.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=(), strict=True)

    @model_validator(mode="before")
    @classmethod
    def _lists_as_tuples(cls, data: Any) -> Any:
        if isinstance(data, dict):
            fixed = None
            for key, value in data.items():
                field = cls.model_fields.get(key) if isinstance(key, str) else None
                if field is not None and isinstance(value, list) and _admits_tuple(field.annotation):
                    fixed = dict(data) if fixed is None else fixed
                    fixed[key] = tuple(value)
            return data if fixed is None else fixed
        return data


class EarlyStoppingConfig(Section):
    monitor: str = "val_loss"
    patience: int = Field(3, ge=0)
    mode: Literal["auto", "min", "max"] = "auto"
    restore_best_weights: bool = True


class LRScheduleConfig(Section):
    """``train.lr_schedule``: step-based schedule of the learning rate (see :mod:`sciarch.schedules`).

    ``train.learning_rate`` is the peak rate. ``lr_schedule: warmup_cosine`` (a bare name) is
    short for ``{name: warmup_cosine}``.
    """

    name: Literal["constant", "warmup_cosine", "one_cycle"] = "constant"
    warmup_epochs: float = Field(0.0, ge=0, description="linear warm-up (one_cycle: rising phase; 0 = 30 %)")
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="final rate / peak rate (warmup_cosine, one_cycle)")
    start_lr_ratio: float = Field(0.04, gt=0, le=1, description="one_cycle: first rate / peak rate")

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _fields_of_the_schedule(self) -> "LRScheduleConfig":
        # values, not "was it set": a resolved config.yaml lists every field with its default
        defaults = {k: f.default for k, f in type(self).model_fields.items()}
        if self.start_lr_ratio != defaults["start_lr_ratio"] and self.name != "one_cycle":
            raise ValueError(f"train.lr_schedule.start_lr_ratio applies to one_cycle only, not to '{self.name}'")
        if self.min_lr_ratio != defaults["min_lr_ratio"] and self.name == "constant":
            raise ValueError("train.lr_schedule.min_lr_ratio does not apply to 'constant' "
                             "(use warmup_cosine or one_cycle)")
        return self


class ReduceOnPlateauConfig(Section):
    """``train.reduce_on_plateau``: multiply the learning rate by ``factor`` after ``patience`` epochs
    without improvement of ``monitor`` (Keras ReduceLROnPlateau; its state survives a resume)."""

    monitor: str = "val_loss"
    factor: float = Field(0.5, gt=0, lt=1)
    patience: int = Field(2, ge=0)
    min_lr: float = Field(0.0, ge=0)
    cooldown: int = Field(0, ge=0)
    mode: Literal["auto", "min", "max"] = "auto"


class TrainConfig(Section):
    epochs: int = Field(5, ge=1)
    batch_size: int = Field(32, ge=1, description="global batch size (all replicas together)")
    learning_rate: float = Field(1e-3, gt=0)
    lr_schedule: LRScheduleConfig = Field(default_factory=LRScheduleConfig)
    reduce_on_plateau: ReduceOnPlateauConfig | None = None
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    weight_decay: float = Field(0.0, ge=0, description="decoupled (AdamW-style) decay for every optimizer; "
                                "adamw uses 1e-4 when this is 0")
    clipnorm: float | None = Field(None, gt=0, description="clip each gradient tensor to this norm")
    global_clipnorm: float | None = Field(None, gt=0, description="clip all gradients together to this norm")
    clipvalue: float | None = Field(None, gt=0, description="clip each gradient element to [-v, v]")
    steps_per_epoch: int | None = Field(None, ge=1)
    validation_steps: int | None = Field(None, ge=1)
    early_stopping: EarlyStoppingConfig | None = None
    ensemble: int = Field(1, ge=1, le=64, description="members trained with seeds seed, seed+1, ...; "
                          "model.keras averages their outputs")
    init_weights: str | None = Field(None, description="a finished run directory (or its model.keras) of the same "
                                     "architecture whose weights start training: continue or fine-tune that run; "
                                     "a model that adds layers to it starts those fresh (weights matched by path)")
    tensorboard: bool = True
    backup_and_restore: bool = True
    verbose: Literal["auto", 0, 1, 2] = "auto"
    jit_compile: Literal["auto"] | bool = "auto"
    mixed_precision: bool = False

    @field_validator("verbose", mode="before")
    @classmethod
    def _verbose_not_bool(cls, v: Any) -> Any:
        if isinstance(v, bool):  # Literal[1] would accept True
            raise ValueError("input should be 'auto', 0, 1 or 2")
        return v

    @model_validator(mode="after")
    def _compatible_training_options(self) -> "TrainConfig":
        sched = self.lr_schedule
        if self.reduce_on_plateau is not None and (sched.name != "constant" or sched.warmup_epochs):
            what = f"name '{sched.name}'" if sched.name != "constant" else "warmup_epochs"
            raise ValueError(f"train.reduce_on_plateau cannot be combined with train.lr_schedule {what} (a schedule "
                             "sets the rate every step); use one of the two")
        if sched.warmup_epochs and sched.warmup_epochs >= self.epochs:
            raise ValueError(f"train.lr_schedule.warmup_epochs ({sched.warmup_epochs:g}) must be less than "
                             f"train.epochs ({self.epochs})")
        if self.init_weights and self.ensemble > 1:
            raise ValueError("train.init_weights with train.ensemble > 1 would start every member from the same "
                             "weights; train the members as separate runs or set train.ensemble to 1")
        clips = [k for k in ("clipnorm", "global_clipnorm", "clipvalue") if getattr(self, k) is not None]
        if len(clips) > 1:
            raise ValueError(f"train.{clips[0]} and train.{clips[1]} cannot both be set (Keras applies one clipping)")
        return self


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
        msg = f"unknown key '{_one_line(loc)}'"
        if hint:
            msg += f" (did you mean '{'.'.join(str(p) for p in err['loc'][:-1] + (hint[0],))}'?)"
        elif allowed:
            msg += f" (allowed: {', '.join(allowed)})"
        return _one_line(f"{source}: {msg}")
    if kind == "missing":
        return f"{source}: missing required key '{loc}'"
    msg = str(err.get("msg", "invalid value"))
    if kind in ("value_error", "assertion_error"):
        msg = msg.split(", ", 1)[1] if msg.startswith(("Value error, ", "Assertion failed, ")) else msg
    else:
        msg = msg[:1].lower() + msg[1:]
    got = err.get("input")
    where = f"key '{loc}'" if loc else "top level"
    if isinstance(got, (dict, list)) and kind in ("value_error", "assertion_error"):
        return _one_line(f"{source}: {where}: {msg}")
    try:
        got_s = repr(got)
    except Exception:  # noqa: BLE001 - a repr that fails must not hide the real error
        got_s = f"<{type(got).__name__}>"
    if len(got_s) > 60:
        got_s = got_s[:57] + "..."
    return _one_line(f"{source}: {where}: {msg} (got {got_s})")


def _one_line(msg: str) -> str:
    """Messages are one line: control characters (newlines from a data error, say) become spaces."""
    lines = msg.splitlines()
    if lines == [msg]:
        return msg
    return " ".join(part.strip() for part in lines if part.strip())


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
    """Read a YAML mapping; every problem (missing, unreadable, not UTF-8, bad YAML) is one :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text (byte {exc.start})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
        raise ConfigError(_one_line(f"{path}:{where} invalid YAML ({reason})")) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # e.g. a date like 2024-13-45
        raise ConfigError(_one_line(f"{path}: invalid YAML value ({type(exc).__name__}: {exc})")) from None
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
        except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError):
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
    raw = read_yaml(path)
    name = raw.get("pipeline")
    if pipeline is not None:
        if name is not None and name != pipeline:
            raise ConfigError(_one_line(f"{path}: key 'pipeline' is {name!r} but the command asked for '{pipeline}'"))
        name = pipeline
    if name is None:
        raise ConfigError(f"{path}: missing required key 'pipeline'")
    if not isinstance(name, str):
        raise ConfigError(_one_line(f"{path}: key 'pipeline': expected a pipeline name, got {name!r:.60}"))
    raw["pipeline"] = name
    from sciarch.registry import load_pipeline_class

    cls = load_pipeline_class(name)
    merged = deep_merge(raw, parse_overrides(overrides))
    source = str(path) if not overrides else f"{path} (with --set)"
    return validate(merged, cls.config_cls, source)


def dump_config(cfg: PipelineConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
