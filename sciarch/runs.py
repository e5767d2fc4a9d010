"""The run directory: resolved config, metrics, model, logs, checkpoints, report.

Layout of ``runs/<pipeline>/<timestamp>/`` (or ``--out DIR``)::

    config.yaml        the resolved, validated configuration
    run.json           status (running / finished), config hash, timings
    history.csv        per-epoch training log (appended across resumes)
    metrics.json       final metrics from the pipeline's ``evaluate``
    model.keras        the trained model (``keras.models.load_model(..., safe_mode=True)``)
    logs/              TensorBoard event files
    backup/worker_K/   BackupAndRestore state, one directory per worker
    checkpoints/       best weights by the early-stopping monitor
    report.md + *.png  the report and its plots
    _worker_K/         multi-worker runs: worker K's (K > 0) final model.keras and backup/

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
from dataclasses import dataclass, field
from pathlib import Path


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
    def create(cls, directory: str | Path, config_text: str, config_hash: str) -> "Run":
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        run = cls(d)
        if run.info_path.exists():
            run.info = json.loads(run.info_path.read_text())
            if run.info.get("config_hash") not in (None, config_hash):
                raise ValueError(
                    f"{d}: this run directory holds a run of a different configuration; choose another --out"
                )
            run.info["resumed"] = run.info.get("resumed", 0) + (1 if run.info.get("status") == "running" else 0)
        else:
            run.info = {"status": "running", "config_hash": config_hash, "created": _now(), "resumed": 0}
        run.info["status"] = "running"
        run.info["started"] = _now()
        (d / "config.yaml").write_text(config_text)
        run.save_info()
        return run

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

    def finish(self, wall_time_s: float) -> None:
        self.info["status"] = "finished"
        self.info["finished"] = _now()
        self.info["wall_time_s"] = round(wall_time_s, 3)
        self.save_info()

    def write_metrics(self, metrics: dict) -> None:
        write_json_atomic(self.metrics_path, metrics)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.perf_counter() - self.start
