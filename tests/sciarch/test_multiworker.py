"""MultiWorkerMirroredStrategy: a 2-worker ``sciarch run`` on 127.0.0.1 and the Keras 3.15 shims.

Both workers are separate processes with their own ``TF_CONFIG``; every subprocess has a
timeout and is killed (with its process group) when it runs over, so CI never hangs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_CFG = ROOT / "tests" / "fixtures" / "blobs.yaml"
TIMEOUT_S = 240
# small and quick: 2 workers x 1 replica, global batch 32 -> 16 per worker, 4 steps per epoch
SMALL = ["--set", "data.n_train=128", "--set", "data.n_validation=64", "--set", "train.epochs=2",
         "--set", "distribute.strategy=multi_worker", "--set", "report.enabled=false"]
# what Keras 3.15 does without the shims (keras-team/keras#20585):
#   _maybe_symbolic_build: strategy.reduce("MEAN", <dict of PerReplica>, axis=None) under collectives
#   reduce_per_replica:    strategy.reduce("MEAN", <scalar log>, axis=0)
SYMPTOMS = {
    "symbolic_build": "with an unsupported type (<class 'dict'>) to a Tensor",
    "reduce_per_replica": "Invalid reduction dimension 0 for input with 0 dimensions",
}


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def run_two_workers(out_dir: Path, cwd: Path, extra_env: dict | None = None) -> list[subprocess.CompletedProcess]:
    """``sciarch run blobs`` as worker 0 (chief) and worker 1, same ``--out``; returns both results."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    procs = []
    logs = []
    for index in range(2):
        env = dict(os.environ, SCIARCH_PIPELINES="tests.fixtures.blobs_pipeline", PYTHONPATH=str(ROOT),
                   TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        env.update(extra_env or {})
        log = open(cwd / f"worker_{index}.log", "w+")
        logs.append(log)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "sciarch.cli", "run", "blobs", "--config", str(FIXTURE_CFG), *SMALL,
             "--out", str(out_dir)],
            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        ))
    results = []
    try:
        for p in procs:
            try:
                p.wait(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=30)
    for p, log in zip(procs, logs):
        log.seek(0)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, log.read(), ""))
        log.close()
    return results


def _weights(path: Path) -> list[np.ndarray]:
    return [np.asarray(w) for w in keras.models.load_model(path, safe_mode=True, compile=False).get_weights()]


def test_two_workers_fit_and_end_with_identical_weights(tmp_path):
    out = tmp_path / "run"
    results = run_two_workers(out, tmp_path)
    for k, res in enumerate(results):
        assert res.returncode == 0, f"worker {k} exited {res.returncode}:\n{res.stdout[-4000:]}"
    chief_model, other_model = out / "model.keras", out / "_worker_1" / "model.keras"
    assert chief_model.is_file() and other_model.is_file()
    a, b = _weights(chief_model), _weights(other_model)
    assert len(a) == len(b) == 4
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["workers"] == 2 and metrics["replicas"] == 2
    assert metrics["epochs_completed"] == 2 and metrics["headline"] > 0.8
    assert json.loads((out / "_worker_1" / "run.json").read_text())["status"] == "finished"
    assert (out / "history.csv").read_text().count("\n") == 3  # header + 2 epochs, chief only
    assert not (out / "_worker_1" / "history.csv").exists()


def _expect_upstream_failure(results, disabled: str, symptoms: list[str]):
    if all(r.returncode == 0 for r in results):
        pytest.fail(
            f"a 2-worker MultiWorkerMirroredStrategy fit now succeeds with SCIARCH_DISABLE_COMPAT={disabled}: "
            "upstream fixed keras-team/keras#20585 -- delete those shims from sciarch/compat.py (and this check)"
        )
    logs = "\n".join(r.stdout for r in results)
    assert any(sig in logs for sig in symptoms), (
        f"the 2-worker fit with SCIARCH_DISABLE_COMPAT={disabled} failed, but not with the known "
        "keras-team/keras#20585 symptoms:\n" + logs[-4000:]
    )


def test_two_workers_without_compat_shims_still_fail(tmp_path):
    """Watches keras-team/keras#20585: when this starts failing, remove sciarch/compat.py's shims."""
    results = run_two_workers(tmp_path / "run", tmp_path, {"SCIARCH_DISABLE_COMPAT": "1"})
    _expect_upstream_failure(results, "1", list(SYMPTOMS.values()))


@pytest.mark.slow
@pytest.mark.parametrize("shim", sorted(SYMPTOMS))
def test_each_compat_shim_is_still_needed(tmp_path, shim):
    """One shim left out at a time: tells which of the two upstream still needs."""
    results = run_two_workers(tmp_path / "run", tmp_path, {"SCIARCH_DISABLE_COMPAT": shim})
    _expect_upstream_failure(results, shim, [SYMPTOMS[shim]])


def test_disable_switch_parsing(monkeypatch):
    from sciarch import compat

    for raw, want in [("", set()), ("0", set()), ("1", set(compat.SHIMS)), ("all", set(compat.SHIMS)),
                      ("reduce_per_replica", {"reduce_per_replica"}),
                      ("symbolic_build, reduce_per_replica", set(compat.SHIMS))]:
        monkeypatch.setenv("SCIARCH_DISABLE_COMPAT", raw)
        assert compat.disabled() == want, raw
    monkeypatch.setenv("SCIARCH_DISABLE_COMPAT", "symbolic")
    with pytest.raises(ValueError, match="unknown shim"):
        compat.disabled()


def test_multi_worker_run_needs_an_explicit_out_dir(monkeypatch, tmp_path):
    import tests.fixtures.blobs_pipeline  # noqa: F401  (registers the fixture pipeline)
    from sciarch.config import ConfigError, load_config
    from sciarch.runner import run_pipeline

    cfg = load_config(FIXTURE_CFG, pipeline="blobs")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="multi-worker run .* needs --out DIR"):
        run_pipeline(cfg)
    assert not (tmp_path / "runs").exists()
