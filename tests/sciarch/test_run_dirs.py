"""Run directories: a finished run is never retrained silently, a different config is a one-line
error, a rerun resumes at the first unfinished stage, and an interrupted-then-resumed run is
bit-identical to an uninterrupted one (epoch-indexed shuffling, backed-up dropout RNG state)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import tests.fixtures.blobs_pipeline as blobs  # noqa: F401  (registers the fixture pipeline)
from sciarch import runner as R
from sciarch.callbacks import drop_history_from
from sciarch.config import ConfigError, load_config
from sciarch.epochs import EpochCounter, map_with_seed, shuffle
from sciarch.runs import FinishedRunError, Run, config_diff

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_CFG = ROOT / "tests" / "fixtures" / "blobs.yaml"
SMALL = ["data.n_train=128", "data.n_validation=64", "report.enabled=false", "train.tensorboard=false",
         "train.verbose=0"]


def _cfg(*extra):
    return load_config(FIXTURE_CFG, [*SMALL, *extra], pipeline="blobs")


def _weights(run_dir: Path) -> list[np.ndarray]:
    return [np.asarray(w) for w in R.load_run_model(run_dir).get_weights()]


class _Crash(Exception):
    pass


def _crash_after(monkeypatch, epochs_done: int):
    """Make the next run die once ``epochs_done`` epochs are backed up (like a kill -9 there)."""

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):  # runs after BackupAndRestore saved this epoch
            if epoch + 1 == epochs_done:
                raise _Crash(f"killed after epoch {epoch}")

    real = R._callbacks
    monkeypatch.setattr(R, "_callbacks", lambda *a, **k: real(*a, **k) + [Crash()])
    return real


# ---------------------------------------------------------------- epoch-indexed shuffling
def test_shuffle_order_is_a_function_of_seed_and_epoch():
    counter = EpochCounter()
    ds = shuffle(tf.data.Dataset.range(32), 32, seed=5, epoch=counter.variable).batch(8)
    assert int(ds.cardinality()) == 4

    def order(e):
        counter.set(e)
        return np.concatenate([b.numpy() for b in ds]).tolist()

    o0, o1, o2 = order(0), order(1), order(2)
    assert sorted(o0) == list(range(32)) and o0 != o1 != o2
    fresh = EpochCounter()  # a new dataset object (a resumed process) gives the same epoch-2 order
    again = shuffle(tf.data.Dataset.range(32), 32, seed=5, epoch=fresh.variable).batch(8)
    fresh.set(2)
    assert np.concatenate([b.numpy() for b in again]).tolist() == o2 == order(2)


def test_map_with_seed_draws_per_epoch_and_position():
    counter = EpochCounter()
    ds = map_with_seed(tf.data.Dataset.range(6), lambda s, x: tf.random.stateless_uniform([], s), 1,
                       epoch=counter.variable)
    counter.set(3)
    a = [float(v) for v in ds]
    counter.set(3)
    b = [float(v) for v in ds]
    counter.set(4)
    c = [float(v) for v in ds]
    assert a == b and a != c and len(set(a)) == 6


# ---------------------------------------------------------------- interrupted == uninterrupted
def test_interrupted_and_resumed_run_is_bit_identical(tmp_path, monkeypatch):
    cfg = _cfg("train.epochs=5", "model.dropout=0.3")
    a = R.run_pipeline(cfg, out=tmp_path / "a")

    real = _crash_after(monkeypatch, 2)
    with pytest.raises(_Crash):
        R.run_pipeline(cfg, out=tmp_path / "b")
    b_dir = tmp_path / "b"
    assert json.loads((b_dir / "backup" / "worker_0" / "training_metadata.json").read_text())["epoch"] == 2
    assert not (b_dir / "metrics.json").exists()
    monkeypatch.setattr(R, "_callbacks", real)
    b = R.run_pipeline(cfg, out=b_dir)

    ma, mb = (json.loads((r.dir / "metrics.json").read_text()) for r in (a, b))
    assert mb["evaluation"] == ma["evaluation"]
    assert mb["final_epoch_logs"] == ma["final_epoch_logs"]
    assert mb["epochs_completed"] == 5
    for wa, wb in zip(_weights(a.dir), _weights(b.dir), strict=True):
        np.testing.assert_array_equal(wa, wb)
    # one history row per epoch, the same rows as the uninterrupted run
    assert (b.dir / "history.csv").read_text() == (a.dir / "history.csv").read_text()
    info = json.loads((b.dir / "run.json").read_text())
    assert info["status"] == "finished" and info["resumed"] == 1
    assert not (b.dir / "backup").exists()


def test_resume_with_steps_per_epoch_skips_the_finished_batches(tmp_path, monkeypatch):
    cfg = _cfg("train.epochs=4", "train.steps_per_epoch=3", "model.dropout=0.2")
    a = R.run_pipeline(cfg, out=tmp_path / "a")
    real = _crash_after(monkeypatch, 2)
    with pytest.raises(_Crash):
        R.run_pipeline(cfg, out=tmp_path / "b")
    monkeypatch.setattr(R, "_callbacks", real)
    b = R.run_pipeline(cfg, out=tmp_path / "b")
    for wa, wb in zip(_weights(a.dir), _weights(b.dir), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert json.loads(b.metrics_path.read_text())["evaluation"] == json.loads(a.metrics_path.read_text())["evaluation"]


# ---------------------------------------------------------------- stages
def test_killed_after_export_resumes_at_evaluation(tmp_path, monkeypatch):
    cfg = _cfg("train.epochs=2")
    out = tmp_path / "r"
    original = blobs.BlobsPipeline.evaluate

    def dies(self, *a, **k):
        raise _Crash("killed before metrics.json")

    monkeypatch.setattr(blobs.BlobsPipeline, "evaluate", dies)
    with pytest.raises(_Crash):
        R.run_pipeline(cfg, out=out)
    info = json.loads((out / "run.json").read_text())
    assert list(info["stages"]) == ["trained", "exported"] and info["status"] == "running"
    model_bytes, history = (out / "model.keras").read_bytes(), (out / "history.csv").read_text()

    monkeypatch.setattr(blobs.BlobsPipeline, "evaluate", original)
    monkeypatch.setattr(R, "_train", lambda *a, **k: pytest.fail("the rerun trained again"))
    run = R.run_pipeline(cfg, out=out)
    assert (out / "model.keras").read_bytes() == model_bytes and (out / "history.csv").read_text() == history
    metrics = json.loads(run.metrics_path.read_text())
    assert metrics["epochs_completed"] == 2 and metrics["headline"] > 0.8
    assert list(run.info["stages"]) == ["trained", "exported", "evaluated", "reported"]
    assert run.status == "finished"


# ---------------------------------------------------------------- finished / other config / overwrite
@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("fin") / "r"
    R.run_pipeline(_cfg("train.epochs=1"), out=out)
    return out


def test_finished_run_is_refused_and_untouched(finished):
    before = {p.name: p.stat().st_mtime_ns for p in finished.iterdir() if p.is_file()}
    with pytest.raises(FinishedRunError, match=rf"^{finished}: finished run \(metrics.json from \d{{4}}-\d\d-\d\d "
                                               r"\d\d:\d\d\); use --overwrite to retrain from scratch$"):
        R.run_pipeline(_cfg("train.epochs=1"), out=finished)
    assert {p.name: p.stat().st_mtime_ns for p in finished.iterdir() if p.is_file()} == before


def test_other_config_names_the_differing_keys(finished):
    with pytest.raises(ConfigError) as err:
        R.run_pipeline(_cfg("train.epochs=3", "seed=4"), out=finished)
    assert str(err.value) == (f"{finished}: holds a run of a different configuration (seed: 3 -> 4, "
                              "train.epochs: 1 -> 3); use --overwrite to replace it, or choose another --out")
    assert "epochs: 1" in (finished / "config.yaml").read_text()


def test_config_diff_limits_and_missing_keys(tmp_path):
    old = tmp_path / "config.yaml"
    old.write_text("a: 1\nb: {c: 2, d: 3}\ne: 5\n")
    assert config_diff(old, "a: 2\nb: {c: 2, d: 4}\nf: x\n", limit=2) == "a: 1 -> 2, b.d: 3 -> 4, and 2 more"
    assert config_diff(old, "a: 1\nb: {c: 2, d: 3}\n") == "e: 5 -> (unset)"


def test_overwrite_retrains_from_scratch(tmp_path):
    out = tmp_path / "r"
    R.run_pipeline(_cfg("train.epochs=1"), out=out)
    (out / "eval_old.json").write_text("{}")
    (out / "notes.txt").write_text("mine")  # not a run file: kept
    run = R.run_pipeline(_cfg("train.epochs=2", "seed=5"), out=out, overwrite=True)
    assert json.loads(run.metrics_path.read_text())["epochs_completed"] == 2
    assert run.info["resumed"] == 0 and "seed: 5" in (out / "config.yaml").read_text()
    assert not (out / "eval_old.json").exists() and (out / "notes.txt").read_text() == "mine"


def test_cli_refuses_finished_and_other_config_in_one_line(finished):
    env = dict(os.environ, SCIARCH_PIPELINES="tests.fixtures.blobs_pipeline", PYTHONPATH=str(ROOT),
               TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    args = [sys.executable, "-m", "sciarch.cli", "run", "blobs", "-c", str(FIXTURE_CFG), "--out", str(finished)]
    sets = [a for s in SMALL for a in ("--set", s)]
    res = subprocess.run([*args, *sets, "--set", "train.epochs=1"], capture_output=True, text=True, env=env,
                         timeout=180)
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error")]
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(errors) == 1 and errors[0].startswith(f"error: {finished}: finished run (metrics.json from ")
    assert errors[0].endswith("; use --overwrite to retrain from scratch")


def test_demo_reports_finished_runs_as_done(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from sciarch.cli import app

    cfg = tmp_path / "blobs_quick.yaml"
    cfg.write_text(FIXTURE_CFG.read_text().replace("epochs: 3", "epochs: 1").replace("verbose: 2", "verbose: 0"))
    monkeypatch.setattr(blobs.BlobsPipeline, "quick_config", classmethod(lambda cls: cfg))
    first = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--only", "blobs"])
    assert first.exit_code == 0, first.output
    report = tmp_path / "demo" / "blobs" / "report.md"
    assert report.is_file()
    mtime = report.stat().st_mtime_ns
    second = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--only", "blobs"])
    assert second.exit_code == 0, second.output
    assert f"[blobs] already done: {report}" in second.output
    assert report.stat().st_mtime_ns == mtime


def test_history_pruning_keeps_csvlogger_line_endings(tmp_path):
    history = tmp_path / "history.csv"
    history.write_bytes(b"epoch,loss\r\n0,0.9\r\n1,0.7\r\n2,0.6\r\n")
    drop_history_from(history, 2)
    assert history.read_bytes() == b"epoch,loss\r\n0,0.9\r\n1,0.7\r\n"
