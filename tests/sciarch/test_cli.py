"""The `sciarch` command: list, run, evaluate, --help, and config errors (exit code 2, one line)."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_CFG = ROOT / "tests" / "fixtures" / "blobs.yaml"


def sciarch(*args, cwd=None, timeout=180):
    env = dict(os.environ, SCIARCH_PIPELINES="tests.fixtures.blobs_pipeline", PYTHONPATH=str(ROOT),
               TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "sciarch.cli", *args], cwd=cwd or ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "blobs"
    res = sciarch("run", "blobs", "--config", str(FIXTURE_CFG), "--set", "train.epochs=2", "--out", str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"run directory: {out}" in res.stdout
    return out


def test_run_directory_contents(trained_run):
    for name in ("config.yaml", "metrics.json", "model.keras", "report.md", "history.csv", "run.json",
                 "training_curves.png", "score_histogram.png"):
        assert (trained_run / name).is_file(), name
    assert any((trained_run / "logs").rglob("events.out.tfevents.*")), "no TensorBoard logs"
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 2
    assert metrics["headline_metric"] == "accuracy" and metrics["headline"] > 0.8
    report = (trained_run / "report.md").read_text()
    for png in ("training_curves.png", "score_histogram.png"):
        assert f"]({png})" in report
    resolved = (trained_run / "config.yaml").read_text()
    assert "epochs: 2" in resolved  # the override is in the resolved config
    assert json.loads((trained_run / "run.json").read_text())["status"] == "finished"


def test_model_reloads_safe_mode_with_identical_outputs(trained_run):
    import keras

    from tests.fixtures.blobs_pipeline import make_blobs

    model = keras.models.load_model(trained_run / "model.keras", safe_mode=True)
    x, _ = make_blobs(16, 4, 2.0, seed=9)
    again = keras.models.load_model(trained_run / "model.keras", safe_mode=True)
    np.testing.assert_allclose(model.predict({"features": x}, verbose=0), again.predict({"features": x}, verbose=0))


def test_evaluate_on_new_data_file(trained_run, tmp_path):
    from tests.fixtures.blobs_pipeline import make_blobs

    x, y = make_blobs(60, 4, 2.0, seed=42)
    path = tmp_path / "new_points.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("x0,x1,x2,x3,label\n")
        for row, lab in zip(x, y):
            fh.write(",".join(f"{v:.6f}" for v in row) + f",{lab[0]:.0f}\n")
    out = tmp_path / "m.json"
    res = sciarch("evaluate", str(trained_run), "--data", str(path), "--out", str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["metrics"]["n"] == 60
    assert data["metrics"]["accuracy"] > 0.8


def test_evaluate_errors(trained_run, tmp_path):
    res = sciarch("evaluate", str(tmp_path))
    assert res.returncode == 2 and "not a run directory" in res.stderr
    res = sciarch("evaluate", str(trained_run), "--split", "test")
    assert res.returncode == 2 and "--split 'test'" in res.stderr


def test_config_errors_exit_2_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(FIXTURE_CFG.read_text().replace("hidden: 8", "hiden: 8"))
    res = sciarch("run", "blobs", "--config", str(bad))
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error")]
    assert lines == [f"error: {bad}: unknown key 'model.hiden' (did you mean 'model.hidden'?)"], res.stderr
    assert "Traceback" not in res.stderr
    res = sciarch("run", "blobs", "--config", str(FIXTURE_CFG), "--set", "train.batch_size=big")
    assert res.returncode == 2 and "train.batch_size" in res.stderr and "Traceback" not in res.stderr
    res = sciarch("run", "blobs", "--config", str(tmp_path / "missing.yaml"))
    assert res.returncode == 2 and "missing.yaml: config file not found" in res.stderr


def test_list_and_help():
    res = sciarch("list")
    assert res.returncode == 0
    assert "blobs" in res.stdout
    for verb in ("run", "evaluate", "list"):
        h = sciarch(verb, "--help")
        assert h.returncode == 0, h.stderr
        assert "Example" in h.stdout, (verb, h.stdout)
    top = sciarch("--help")
    assert top.returncode == 0 and "run" in top.stdout and "evaluate" in top.stdout
