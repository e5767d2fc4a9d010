"""The run directory: resolved config, metrics, model, logs, checkpoints, report.

Layout of ``runs/<pipeline>/<timestamp>/`` (or ``--out DIR``)::

    config.yaml        the resolved, validated configuration
    run.json           status (running / finished), config hash, timings, finished stages
    history.csv        per-epoch training log (appended across resumes)
    metrics.json       final metrics from the pipeline's ``evaluate``
    model.keras        the trained model (``keras.models.load_model(..., safe_mode=True)``)
    logs/              TensorBoard event files
    backup/worker_K/   BackupAndRestore state, one directory per worker
    checkpoints/       best weights by the early-stopping monitor
    report.md + *.png  the report and its plots
    _worker_K/         multi-worker runs: worker K's (K > 0) final model.keras and backup/

``run.json`` records the stages a run has finished, in order: ``trained`` (fit done),
``exported`` (``model.keras`` written), ``evaluated`` (``metrics.json`` written) and
``reported`` (``report.md`` written). A rerun into the same directory skips the finished
ones; a run with every stage done is ``finished`` and is not retrained unless asked to
(``Run.create(..., overwrite=True)``, ``sciarch run --overwrite``).

Example:
    >>> import tempfile
    >>> from sciarch.runs import Run
    >>> run = Run.create(tempfile.mkdtemp(), config_text="pipeline: demo\\n", config_hash="abc")
    >>> run.status
    'running'
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import time
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sciarch.config import ConfigError

#: the stages of a run, in order (``run.json`` ``stages``: name -> UTC time it finished)
STAGES = ("trained", "exported", "evaluated", "reported")

#: what ``overwrite=True`` removes from a run directory (besides ``*.png`` and ``eval_*.json``)
RUN_FILES = ("run.json", "config.yaml", "history.csv", "history.csv.tmp", "metrics.json", "model.keras",
             "report.md", "bad_input.txt")
RUN_FOLDERS = ("backup", "checkpoints", "logs")


class FinishedRunError(ConfigError):
    """The run directory holds a finished run of this configuration (rerun with ``overwrite=True``)."""

    def __init__(self, message: str, run_dir: Path):
        super().__init__(message)
        self.run_dir = Path(run_dir)


def config_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def finite_or_none(obj):
    """Replace NaN/inf floats (anywhere in a nested structure) by None: strict JSON has no NaN."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    try:
        import numpy as np

        if isinstance(obj, np.floating):
            return finite_or_none(float(obj))
    except ImportError:  # pragma: no cover
        pass
    return obj


def write_json_atomic(path: Path, data) -> None:
    """Write strict JSON (NaN/inf become null) via a temporary file and an atomic rename."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    text = json.dumps(finite_or_none(data), indent=2, sort_keys=False, default=_json_default, allow_nan=False)
    tmp.write_text(text + "\n")
    os.replace(tmp, path)


def _json_default(obj):
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


@dataclass
class Run:
    dir: Path
    info: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, directory: str | Path, config_text: str, config_hash: str, overwrite: bool = False) -> "Run":
        """Start a run in ``directory``, or resume the unfinished run of the same config there.

        Raises :class:`sciarch.config.ConfigError` (one line) when the directory holds a run of
        another configuration, and :class:`FinishedRunError` when it holds a finished run of this
        one -- unless ``overwrite``, which deletes the old run's files and starts from scratch.
        """
        d = Path(directory)
        run = cls(d)
        if run.info_path.exists():
            if overwrite:
                clear_run_dir(d)
            else:
                run.info = cls.check_reuse(d, config_text, config_hash)
        d.mkdir(parents=True, exist_ok=True)
        if run.info:
            run.info["resumed"] = run.info.get("resumed", 0) + (1 if run.info.get("status") == "running" else 0)
        else:
            run.info = {"status": "running", "config_hash": config_hash, "created": _now(), "resumed": 0}
        run.info.setdefault("stages", {})
        run.info["status"] = "running"
        run.info["started"] = _now()
        (d / "config.yaml").write_text(config_text)
        run.save_info()
        return run

    @classmethod
    def check_reuse(cls, directory: str | Path, config_text: str, config_hash: str) -> dict:
        """The ``run.json`` of an unfinished run of this config in ``directory`` (``{}`` if none).

        Touches nothing. Raises :class:`sciarch.config.ConfigError` (one line) when the directory
        holds a run of another configuration, and :class:`FinishedRunError` when it holds a
        finished run of this one. TensorFlow-free, so the CLI refuses before importing it.
        """
        d = Path(directory)
        run = cls(d)
        if not run.info_path.exists():
            return {}
        try:
            old = json.loads(run.info_path.read_text())
        except json.JSONDecodeError:
            old = {}
        if old.get("config_hash") not in (None, config_hash):
            diff = config_diff(d / "config.yaml", config_text)
            raise ConfigError(
                f"{d}: holds a run of a different configuration ({diff}); use --overwrite to replace it, "
                "or choose another --out"
            )
        if old.get("status") == "finished":
            raise FinishedRunError(f"{d}: finished run ({run.finished_what(old)}); use --overwrite to "
                                   "retrain from scratch", d)
        return old

    def finished_what(self, info: dict | None = None) -> str:
        """``metrics.json from <date>`` (or the finish time in run.json) for messages."""
        info = self.info if info is None else info
        if self.metrics_path.is_file():
            stamp = _dt.datetime.fromtimestamp(self.metrics_path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            return f"metrics.json from {stamp}"
        return f"finished {info.get('finished', 'at an unknown time')}"

    @classmethod
    def new_dir(cls, root: str | Path, pipeline: str, config_hash_: str) -> Path:
        """A fresh timestamped directory, or the newest unfinished run of the same config (resume)."""
        base = Path(root) / pipeline
        if base.is_dir():
            for cand in sorted(base.iterdir(), reverse=True):
                info = cand / "run.json"
                if info.is_file():
                    try:
                        meta = json.loads(info.read_text())
                    except json.JSONDecodeError:
                        continue
                    if meta.get("status") == "running" and meta.get("config_hash") == config_hash_:
                        return cand
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = base / stamp
        n = 1
        while path.exists():
            path = base / f"{stamp}-{n}"
            n += 1
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "Run":
        d = Path(directory)
        if not (d / "config.yaml").is_file():
            raise FileNotFoundError(f"{d}: not a run directory (no config.yaml)")
        info = json.loads((d / "run.json").read_text()) if (d / "run.json").is_file() else {}
        return cls(d, info)

    # ------------------------------------------------------------------ paths
    @property
    def info_path(self) -> Path:
        return self.dir / "run.json"

    @property
    def model_path(self) -> Path:
        return self.dir / "model.keras"

    @property
    def metrics_path(self) -> Path:
        return self.dir / "metrics.json"

    @property
    def history_path(self) -> Path:
        return self.dir / "history.csv"

    @property
    def config_path(self) -> Path:
        return self.dir / "config.yaml"

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    def backup_dir(self, worker: int) -> Path:
        return self.dir / "backup" / f"worker_{worker}"

    @property
    def status(self) -> str:
        return self.info.get("status", "unknown")

    # ------------------------------------------------------------------ updates
    def save_info(self) -> None:
        write_json_atomic(self.info_path, self.info)

    def stage_done(self, stage: str) -> bool:
        return stage in self.info.get("stages", {})

    def mark_stage(self, stage: str, **extra) -> None:
        """Record that ``stage`` finished (and any ``extra`` fields), atomically."""
        if stage not in STAGES:
            raise ValueError(f"unknown run stage {stage!r} (known: {', '.join(STAGES)})")
        self.info.setdefault("stages", {})[stage] = _now()
        self.info.update(extra)
        self.save_info()

    def finish(self, wall_time_s: float) -> None:
        self.info["status"] = "finished"
        self.info["finished"] = _now()
        self.info["wall_time_s"] = round(wall_time_s, 3)
        self.save_info()

    def write_metrics(self, metrics: dict) -> None:
        write_json_atomic(self.metrics_path, metrics)


@dataclass
class OpenedRun:
    """A trained run directory opened for a verb: validated config, pipeline class, model on demand.

    Attributes:
        dir: the run directory.
        config: ``config.yaml`` validated with its pipeline's schema.
        pipeline_cls: the pipeline class named in ``config.yaml``.
    """

    dir: Path
    config: object
    pipeline_cls: type

    def pipeline(self):
        """A pipeline instance for this run (``cls(config, run_dir)``)."""
        return self.pipeline_cls(self.config, self.dir)

    def load_model(self):
        """``model.keras`` with safe_mode (imports TensorFlow); one-line ``ConfigError`` when it is
        missing, truncated, corrupt or refused (see :func:`sciarch.model_io.load_run_model`)."""
        from sciarch.model_io import load_run_model

        return load_run_model(self.dir, self.pipeline_cls)


def open_run(run_dir: str | Path, pipeline: str | None = None) -> OpenedRun:
    """Open a run directory made by ``sciarch run`` -- the one way every verb does it.

    Reads ``RUN/config.yaml``, imports only the pipeline it names and validates the config
    with that pipeline's schema. TensorFlow is not imported (the model loads on
    :meth:`OpenedRun.load_model`).

    Args:
        run_dir: the run directory.
        pipeline: the pipeline the verb expects (e.g. ``"drugscreen"`` for ``alascan``), or None.

    Raises:
        ConfigError: no such directory, no ``config.yaml``, an invalid one, or a run of
            another pipeline than ``pipeline`` (one line naming the directory).

    Example:
        >>> from sciarch.runs import open_run
        >>> run = open_run("runs/demo/genomics")  # doctest: +SKIP
        >>> run.pipeline_cls.name, run.config.train.epochs  # doctest: +SKIP
        ('genomics', 3)
    """
    from sciarch.config import read_yaml, validate
    from sciarch.registry import load_pipeline_class

    d = Path(run_dir)
    cfg_path = d / "config.yaml"
    if not d.is_dir():
        raise ConfigError(f"{d}: no such run directory")
    if not cfg_path.is_file():
        raise ConfigError(f"{d}: not a run directory (no config.yaml)")
    raw = read_yaml(cfg_path)
    name = raw.get("pipeline")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{cfg_path}: key 'pipeline': expected a pipeline name, got {name!r:.60}")
    if pipeline is not None and name != pipeline:
        raise ConfigError(f"{d}: a '{name}' run, not a '{pipeline}' run")
    cls = load_pipeline_class(name)
    return OpenedRun(d, validate(raw, cls.config_cls, str(cfg_path)), cls)


def clear_run_dir(d: Path) -> None:
    """Delete the files a run writes into ``d`` (nothing else: ``--out`` may hold other files)."""
    d = Path(d)
    for name in RUN_FILES:
        (d / name).unlink(missing_ok=True)
    for pattern in ("*.png", "eval_*.json"):
        for p in d.glob(pattern):
            p.unlink()
    for name in RUN_FOLDERS:
        shutil.rmtree(d / name, ignore_errors=True)
    for p in d.glob("_worker_*"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)


def config_diff(old_config: Path, new_text: str, limit: int = 4) -> str:
    """``key: old -> new, ...`` between a run's ``config.yaml`` and a new resolved config."""
    import yaml

    try:
        old = _flat(yaml.safe_load(Path(old_config).read_text()) or {})
        new = _flat(yaml.safe_load(new_text) or {})
    except (OSError, yaml.YAMLError):
        return "the config differs"
    keys = sorted(k for k in set(old) | set(new) if old.get(k, _MISSING) != new.get(k, _MISSING))
    if not keys:
        return "the config differs"
    parts = [f"{k}: {_show(old.get(k, _MISSING))} -> {_show(new.get(k, _MISSING))}" for k in keys[:limit]]
    if len(keys) > limit:
        parts.append(f"and {len(keys) - limit} more")
    return ", ".join(parts)


_MISSING = object()


def _show(v) -> str:
    return "(unset)" if v is _MISSING else json.dumps(v, default=str)


def _flat(d, prefix: str = "") -> dict:
    out = {}
    if isinstance(d, dict):
        for k, v in d.items():
            if isinstance(v, dict) and v:
                out.update(_flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
    return out


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.perf_counter() - self.start
