"""Runs ``replica_equality.py`` once per test session (it needs its own process: logical CPUs)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(__file__).resolve().parent / "replica_equality.py"


@functools.lru_cache(maxsize=None)
def replica_results() -> dict:
    out = Path(tempfile.mkdtemp(prefix="sciarch-replica-")) / "result.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    res = subprocess.run([sys.executable, str(SCRIPT), str(out)], env=env, capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    if res.returncode != 0:
        raise AssertionError(f"{SCRIPT.name} failed (exit {res.returncode}):\n{res.stderr[-4000:]}")
    return json.loads(out.read_text())
