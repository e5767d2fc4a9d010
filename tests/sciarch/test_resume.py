"""Fault tolerance: ``kill -9`` a training run mid-way, run the same command again, and it
resumes from the last backed-up epoch and finishes at the planned epoch count."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from sciarch.callbacks import drop_history_from as _drop_history_from

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_CFG = ROOT / "tests" / "fixtures" / "blobs.yaml"
EPOCHS = 6
# ~62 steps per epoch so that an epoch lasts long enough to be interrupted
COMMAND = [sys.executable, "-m", "sciarch.cli", "run", "blobs", "--config", str(FIXTURE_CFG),
           "--set", "data.n_train=2000", "--set", "data.n_validation=64", "--set", f"train.epochs={EPOCHS}",
           "--set", "report.enabled=false"]
TIMEOUT_S = 240


def _env():
    return dict(os.environ, SCIARCH_PIPELINES="tests.fixtures.blobs_pipeline", PYTHONPATH=str(ROOT),
                TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")


def _epochs(history: Path) -> list[int]:
    if not history.is_file():
        return []
    with open(history) as fh:
        return [int(row["epoch"]) for row in csv.DictReader(fh)]


def _run_dirs(cwd: Path) -> list[Path]:
    base = cwd / "runs" / "blobs"
    return sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def test_kill_and_rerun_same_command_finishes_planned_epochs(tmp_path):
    # 1) start, wait until two epochs are logged (so epoch 0 is surely backed up), then kill -9
    proc = subprocess.Popen(COMMAND, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    deadline = time.monotonic() + TIMEOUT_S
    run_dir = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            dirs = _run_dirs(tmp_path)
            if dirs and len(_epochs(dirs[0] / "history.csv")) >= 2:
                run_dir = dirs[0]
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        first_out = proc.communicate(timeout=30)[0]
    assert run_dir is not None, f"the first run never logged two epochs (exit {proc.returncode}):\n{first_out[-3000:]}"
    assert proc.returncode == -signal.SIGKILL, "the first run finished before it could be killed; slow it down"
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "running" and not (run_dir / "metrics.json").exists()
    logged_before = _epochs(run_dir / "history.csv")
    assert 2 <= len(logged_before) < EPOCHS
    # make the worst case certain: the crash came after the row of the next epoch to run was
    # written but before BackupAndRestore saved that epoch (the rerun repeats it)
    meta_text = (run_dir / "backup" / "worker_0" / "training_metadata.json").read_text()
    # a kill during the metadata write leaves it empty or cut: the rerun must recover from it too
    next_epoch = json.loads(meta_text)["epoch"] if meta_text.strip().endswith("}") else None
    assert next_epoch is None or 1 <= next_epoch <= len(logged_before)
    if next_epoch is not None and next_epoch not in logged_before:
        lines = (run_dir / "history.csv").read_text().splitlines()
        with open(run_dir / "history.csv", "a") as fh:
            fh.write(f"{next_epoch}," + lines[-1].split(",", 1)[1] + "\n")

    # 2) the very same command (no --out) picks the unfinished run of this config up again
    res = subprocess.run(COMMAND, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert res.returncode == 0, res.stderr[-3000:]
    assert _run_dirs(tmp_path) == [run_dir], "the rerun did not reuse the interrupted run directory"
    started_at = [int(m) for m in re.findall(rf"Epoch (\d+)/{EPOCHS}", res.stdout)]
    assert started_at and started_at[0] >= 2, f"did not resume from a backed-up epoch: {started_at[:3]}"
    assert started_at[-1] == EPOCHS

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_completed"] == EPOCHS
    assert _epochs(run_dir / "history.csv") == list(range(EPOCHS)), "every epoch must be logged exactly once"
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "finished" and info["resumed"] == 1
    assert not (run_dir / "backup").exists() or not any((run_dir / "backup").rglob("*.h5"))
    assert metrics["headline"] > 0.9


def test_history_rows_of_a_repeated_epoch_are_dropped(tmp_path):
    history = tmp_path / "history.csv"
    history.write_text("epoch,loss\n0,0.9\n1,0.7\n2,0.6\n")
    _drop_history_from(history, 2)  # epoch 2 was logged, then the process died before its backup
    assert history.read_text() == "epoch,loss\n0,0.9\n1,0.7\n"
    _drop_history_from(history, 5)
    assert history.read_text() == "epoch,loss\n0,0.9\n1,0.7\n"
    _drop_history_from(history, 0)  # a fresh fit into the same run directory starts over
    assert history.read_text() == "epoch,loss\n"


def test_a_backup_cut_by_a_kill_falls_back_to_the_previous_pair(tmp_path, capsys):
    from sciarch.runner import _backed_up_epoch, _repair_backup

    b = tmp_path / "worker_0"
    b.mkdir()
    (b / "latest.weights.h5").write_bytes(b"new, maybe cut")
    (b / "training_metadata.json").write_text("")  # killed while BackupAndRestore wrote it
    (b / "latest.weights.h5.bkp").write_bytes(b"previous")
    (b / "training_metadata.json.bkp").write_text('{"epoch": 3, "batch": 0}')
    _repair_backup(b)
    assert _backed_up_epoch(b) == 3 and (b / "latest.weights.h5").read_bytes() == b"previous"
    assert "training_metadata.json: unreadable" in capsys.readouterr().err
    _repair_backup(b)  # an intact backup is left alone
    assert (b / "latest.weights.h5").read_bytes() == b"previous"

    (b / "training_metadata.json").write_text('{"epo')  # cut, and no previous pair
    (b / "training_metadata.json.bkp").unlink()
    _repair_backup(b)
    assert not (b / "training_metadata.json").exists() and not (b / "latest.weights.h5").exists()
    assert _backed_up_epoch(b) == 0
