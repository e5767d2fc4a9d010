"""``train.ensemble: N``: N resumable members, one safe-mode ``model.keras`` that averages them, the
members' spread, per-member metrics, dict outputs and multi-input models, pipelines that opt out."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import tests.fixtures.blobs_pipeline as blobs
from sciarch import runner as R
from sciarch.config import ConfigError, load_config
from sciarch.ensemble import EnsembleStatistic, build_ensemble, ensemble_members, is_ensemble, with_spread
from tests.sciarch.test_run_dirs import _Crash

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_CFG = ROOT / "tests" / "fixtures" / "blobs.yaml"
SMALL = ["data.n_train=128", "data.n_validation=64", "report.enabled=false", "train.tensorboard=false",
         "train.verbose=0", "train.epochs=2"]


def _cfg(*extra):
    return load_config(FIXTURE_CFG, [*SMALL, *extra], pipeline="blobs")


def _x(cfg):
    return {"features": blobs.BlobsPipeline(cfg).arrays("validation")[0]}


def test_ensemble_of_three_saves_one_model_that_averages_the_members(tmp_path):
    cfg = _cfg("train.ensemble=3", "report.enabled=true")
    run = R.run_pipeline(cfg, out=tmp_path / "r")
    assert sorted(p.name for p in (run.dir / "members").iterdir()) == ["0", "1", "2"]
    for k in range(3):
        assert (run.dir / "members" / str(k) / "model.keras").is_file()
        assert len((run.dir / "members" / str(k) / "history.csv").read_text().splitlines()) == 3

    model = keras.models.load_model(run.model_path, safe_mode=True, compile=False)  # sciarch.ensemble imported
    assert is_ensemble(model) and len(ensemble_members(model)) == 3
    x = _x(cfg)
    members = [R.load_run_model(run.dir / "members" / str(k)) for k in range(3)]
    preds = np.stack([m.predict(x, verbose=0) for m in members])
    np.testing.assert_allclose(model.predict(x, verbose=0), preds.mean(0), rtol=1e-6, atol=1e-7)
    assert not np.allclose(preds[0], preds[1]), "members with different seeds must differ"

    spread = with_spread(model).predict(x, verbose=0)
    np.testing.assert_allclose(spread["mean"], preds.mean(0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(spread["std"], preds.std(0), rtol=1e-5, atol=1e-7)
    assert spread["std"].shape == preds.shape[1:] and float(spread["std"].min()) > 0

    metrics = json.loads(run.metrics_path.read_text())
    p = preds.mean(0)
    y = blobs.BlobsPipeline(cfg).arrays("validation")[1]
    assert metrics["headline"] == pytest.approx(float(np.mean((p > 0.5) == (y > 0.5))))
    ens = metrics["ensemble"]
    assert ens["members"] == 3 and ens["member_seeds"] == [cfg.seed, cfg.seed + 1, cfg.seed + 2]
    assert ens["member_headline"] == [pytest.approx(float(np.mean((q > 0.5) == (y > 0.5)))) for q in preds]
    assert ens["member_epochs_completed"] == [2, 2, 2] and metrics["epochs_completed"] == 2
    with pytest.raises(ValueError, match="not an ensemble"):
        with_spread(members[0])
    report = (run.dir / "report.md").read_text()
    for k in range(3):  # one set of training curves per member
        assert (run.dir / f"training_curves_member{k}.png").is_file()
        assert f"(training_curves_member{k}.png)" in report


def test_a_kill_during_member_k_resumes_member_k(tmp_path, monkeypatch):
    cfg = _cfg("train.ensemble=2", "train.epochs=3", "model.dropout=0.2")
    a = R.run_pipeline(cfg, out=tmp_path / "a")

    real = R._callbacks
    fits = []

    class Crash(keras.callbacks.Callback):
        def __init__(self, member):
            super().__init__()
            self.member = member

        def on_epoch_end(self, epoch, logs=None):
            if self.member == 1 and epoch == 1:  # member 1, after its second epoch was backed up
                raise _Crash("killed in member 1")

    def crashing(*args, **kw):
        fits.append(1)
        return real(*args, **kw) + [Crash(len(fits) - 1)]

    monkeypatch.setattr(R, "_callbacks", crashing)
    out = tmp_path / "b"
    with pytest.raises(_Crash):
        R.run_pipeline(cfg, out=out)
    member0 = (out / "members" / "0" / "model.keras").read_bytes()
    assert not (out / "members" / "1" / "model.keras").exists()

    backup_meta = out / "members" / "1" / "backup" / "worker_0" / "training_metadata.json"
    assert json.loads(backup_meta.read_text())["epoch"] == 2

    epochs_run = []

    class Seen(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            epochs_run.append(epoch)

    monkeypatch.setattr(R, "_callbacks", lambda *a, **k: real(*a, **k) + [Seen()])
    trained = []
    real_train = R._train
    monkeypatch.setattr(R, "_train", lambda run, *a, **k: trained.append(run.dir.name) or real_train(run, *a, **k))
    b = R.run_pipeline(cfg, out=out)
    assert trained == ["1"], "member 0 was finished and is not trained again; member 1 resumes"
    assert epochs_run == [2], "member 1 must resume at its backed-up epoch, not start again"
    assert (out / "members" / "0" / "model.keras").read_bytes() == member0
    info1 = json.loads((out / "members" / "1" / "run.json").read_text())
    assert info1["resumed"] == 1 and info1["status"] == "finished"
    for k in range(2):  # every member, resumed or not, equals the uninterrupted one
        assert (b.dir / "members" / str(k) / "history.csv").read_text() == \
            (a.dir / "members" / str(k) / "history.csv").read_text()
    for wa, wb in zip(R.load_run_model(a.dir).get_weights(), R.load_run_model(b.dir).get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert json.loads(b.metrics_path.read_text())["ensemble"] == json.loads(a.metrics_path.read_text())["ensemble"]


def _dict_member(seed):
    keras.utils.set_random_seed(seed)
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    h = keras.layers.Dense(4, activation="relu")(keras.layers.Concatenate()([a, b]))
    return keras.Model({"a": a, "b": b}, {"p": keras.layers.Dense(1)(h), "q": keras.layers.Dense(2)(h)})


def test_dict_outputs_and_several_inputs_are_averaged_key_by_key(tmp_path):
    members = [_dict_member(s) for s in range(3)]
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=(6, 3)).astype("float32"), "b": rng.normal(size=(6, 2)).astype("float32")}
    ref = [m.predict(x, verbose=0) for m in members]
    build_ensemble(members).save(tmp_path / "e.keras")
    model = keras.models.load_model(tmp_path / "e.keras", safe_mode=True)
    out = model.predict(x, verbose=0)
    spread = with_spread(model).predict(x, verbose=0)
    for key in ("p", "q"):
        stack = np.stack([r[key] for r in ref])
        np.testing.assert_allclose(out[key], stack.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(spread["std"][key], stack.std(0), rtol=1e-4, atol=1e-6)

    def list_member(seed):  # positional (list) inputs
        keras.utils.set_random_seed(seed)
        a, b = keras.Input((3,)), keras.Input((2,))
        return keras.Model([a, b], keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))

    listed = [list_member(s) for s in (1, 2)]
    ens = build_ensemble(listed)
    xs = [x["a"], x["b"]]
    np.testing.assert_allclose(ens.predict(xs, verbose=0),
                               np.mean([m.predict(xs, verbose=0) for m in listed], 0), rtol=1e-5, atol=1e-6)
    assert EnsembleStatistic.from_config(EnsembleStatistic("std").get_config()).statistic == "std"
    with pytest.raises(ValueError, match="statistic"):
        EnsembleStatistic("median")


def test_pipeline_without_ensemble_support_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(blobs.BlobsPipeline, "supports_ensemble", False)
    with pytest.raises(ConfigError) as err:
        R.run_pipeline(_cfg("train.ensemble=2"), out=tmp_path / "r")
    msg = str(err.value)
    assert "\n" not in msg and "train.ensemble" in msg and "'blobs' does not support ensembles" in msg
    assert not (tmp_path / "r").exists(), "no run directory for a refused config"
    R.check_ensemble(blobs.BlobsPipeline, _cfg())  # ensemble 1 is always fine
