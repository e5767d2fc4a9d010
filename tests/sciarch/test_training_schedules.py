"""Learning-rate schedules, ReduceLROnPlateau, early stopping with best weights, weight decay and
their resume after a crash, on the blobs fixture pipeline (4 training steps per epoch)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import keras
import numpy as np
import pytest

import tests.fixtures.blobs_pipeline as blobs  # noqa: F401  (registers the fixture pipeline)
from sciarch import runner as R
from sciarch.config import ConfigError, TrainConfig, load_config
from sciarch.schedules import OneCycle, WarmupCosine, build_learning_rate
from tests.sciarch.test_run_dirs import _Crash, _crash_after, _weights

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_CFG = ROOT / "tests" / "fixtures" / "blobs.yaml"
# 128 training samples, batch 32, drop_remainder: 4 steps per epoch
SMALL = ["data.n_train=128", "data.n_validation=64", "report.enabled=false", "train.tensorboard=false",
         "train.verbose=0"]
STEPS = 4


def _cfg(*extra):
    return load_config(FIXTURE_CFG, [*SMALL, *extra], pipeline="blobs")


def _history(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv", newline="") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _interrupted_equals_uninterrupted(tmp_path, monkeypatch, cfg, crash_after: int):
    a = R.run_pipeline(cfg, out=tmp_path / "a")
    real = _crash_after(monkeypatch, crash_after)
    with pytest.raises(_Crash):
        R.run_pipeline(cfg, out=tmp_path / "b")
    monkeypatch.setattr(R, "_callbacks", real)
    b = R.run_pipeline(cfg, out=tmp_path / "b")
    assert (b.dir / "history.csv").read_text() == (a.dir / "history.csv").read_text()
    for wa, wb in zip(_weights(a.dir), _weights(b.dir), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert json.loads(b.metrics_path.read_text())["evaluation"] == json.loads(a.metrics_path.read_text())["evaluation"]
    assert json.loads((b.dir / "run.json").read_text())["resumed"] == 1
    return a, b


# ---------------------------------------------------------------- schedule values
def _warmup_cosine_expected(step, peak, total, warmup, ratio):
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / (total - warmup))
    return peak * ratio + (peak - peak * ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def test_warmup_cosine_values_at_given_steps():
    s = WarmupCosine(peak_lr=0.01, total_steps=100, warmup_steps=10, min_lr_ratio=0.1)
    for step in (0, 4, 9, 10, 11, 37, 55, 99, 100, 150):
        assert float(s(step)) == pytest.approx(_warmup_cosine_expected(step, 0.01, 100, 10, 0.1), rel=1e-5), step
    assert float(s(0)) == pytest.approx(0.001) and float(s(10)) == pytest.approx(0.01)
    assert float(s(55)) == pytest.approx(0.0055, rel=1e-5)  # half-way down: (peak + min) / 2
    assert float(s(100)) == pytest.approx(0.001) and float(s(500)) == pytest.approx(0.001)


def test_one_cycle_rises_to_the_peak_then_falls_to_the_floor():
    s = OneCycle(peak_lr=0.1, total_steps=50, warmup_steps=10, start_lr_ratio=0.04, min_lr_ratio=0.001)
    lrs = np.array([float(s(i)) for i in range(51)])
    assert lrs[0] == pytest.approx(0.004) and lrs[5] == pytest.approx((0.004 + 0.1) / 2, rel=1e-5)
    assert lrs.argmax() == 10 and lrs[10] == pytest.approx(0.1)
    assert np.all(np.diff(lrs[:11]) > 0) and np.all(np.diff(lrs[10:]) < 0)
    assert lrs[50] == pytest.approx(1e-4, rel=1e-4)
    # warmup_epochs 0: the rising phase is 30 % of training
    t = TrainConfig(epochs=10, learning_rate=0.1, lr_schedule={"name": "one_cycle"})
    sched = build_learning_rate(t, steps_per_epoch=5)
    assert isinstance(sched, OneCycle) and sched.total_steps == 50 and sched.warmup_steps == 15


def test_schedules_serialise_and_constant_stays_a_float():
    s = WarmupCosine(0.01, 100, 10, 0.1)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(s))
    assert isinstance(again, WarmupCosine) and float(again(42)) == float(s(42))
    assert build_learning_rate(TrainConfig(learning_rate=0.02), None) == 0.02
    warm = build_learning_rate(TrainConfig(epochs=4, lr_schedule={"name": "constant", "warmup_epochs": 1}), 10)
    assert [round(float(warm(i)), 7) for i in (0, 9, 10, 39)] == [0.0001, 0.001, 0.001, 0.001]
    with pytest.raises(ConfigError, match="train.lr_schedule.*train.steps_per_epoch"):
        build_learning_rate(TrainConfig(lr_schedule="warmup_cosine"), None)


def test_schedule_length_counts_steps_not_per_replica_batches():
    import types

    import tensorflow as tf

    plain = tf.data.Dataset.range(40).batch(8)
    assert R._dataset_steps(plain, types.SimpleNamespace(num_replicas_in_sync=1), 1) == 5
    assert R._dataset_steps(plain.repeat(), types.SimpleNamespace(num_replicas_in_sync=1), 1) is None
    # a distributed dataset of one worker with 2 replicas: 16 per-replica batches are 8 steps
    distributed = types.SimpleNamespace(cardinality=tf.constant(16, tf.int64))
    assert R._dataset_steps(distributed, types.SimpleNamespace(num_replicas_in_sync=2), 1) == 8
    # 2 workers with 2 replicas each: each worker's pipeline feeds its own 2 replicas
    assert R._dataset_steps(distributed, types.SimpleNamespace(num_replicas_in_sync=4), 2) == 8


def test_runner_logs_the_warmup_cosine_rate_of_each_epoch(tmp_path):
    cfg = _cfg("train.epochs=4", "train.lr_schedule.name=warmup_cosine", "train.lr_schedule.warmup_epochs=1",
               "train.lr_schedule.min_lr_ratio=0.1")
    run = R.run_pipeline(cfg, out=tmp_path / "r")
    rows = _history(run.dir)
    assert len(rows) == 4
    for e, row in enumerate(rows):  # the rate of the next step, after (e + 1) * 4 steps
        expected = _warmup_cosine_expected((e + 1) * STEPS, 0.01, 4 * STEPS, STEPS, 0.1)
        assert row["learning_rate"] == pytest.approx(expected, rel=1e-5)
    assert rows[-1]["learning_rate"] == pytest.approx(0.001, rel=1e-5)


def test_resume_mid_schedule_repeats_the_uninterrupted_rates_and_weights(tmp_path, monkeypatch):
    cfg = _cfg("train.epochs=5", "train.lr_schedule.name=one_cycle", "train.lr_schedule.warmup_epochs=2",
               "model.dropout=0.2")
    a, _ = _interrupted_equals_uninterrupted(tmp_path, monkeypatch, cfg, crash_after=2)
    lrs = [r["learning_rate"] for r in _history(a.dir)]
    assert lrs[1] == pytest.approx(0.01) and lrs[0] < lrs[1] and lrs[2] > lrs[3] > lrs[4]


# ---------------------------------------------------------------- ReduceLROnPlateau
# lr 1e-6: the loss moves by far less than min_delta (1e-4), so every epoch after the first is a plateau
ROP = ["train.learning_rate=0.000001", "train.reduce_on_plateau.patience=2", "train.reduce_on_plateau.factor=0.5"]


def test_reduce_on_plateau_reduces_after_patience(tmp_path):
    run = R.run_pipeline(_cfg("train.epochs=6", *ROP), out=tmp_path / "r")
    lrs = [r["learning_rate"] for r in _history(run.dir)]
    # epoch 0 sets the best; reductions at the ends of epochs 2 and 4
    assert lrs == pytest.approx([1e-6, 1e-6, 1e-6, 5e-7, 5e-7, 2.5e-7], rel=1e-4)


def test_reduce_on_plateau_state_survives_a_resume(tmp_path, monkeypatch):
    # killed after epoch 3, when the plateau counter is 1 and the rate already halved: a resume
    # that lost either would reduce at a different epoch
    _, b = _interrupted_equals_uninterrupted(tmp_path, monkeypatch, _cfg("train.epochs=6", *ROP), crash_after=4)
    assert [r["learning_rate"] for r in _history(b.dir)][-1] == pytest.approx(2.5e-7, rel=1e-4)


# ---------------------------------------------------------------- early stopping
ES = ["train.epochs=12", "train.learning_rate=0.3", "train.optimizer=sgd", "train.early_stopping.patience=2",
      "data.separation=0.5"]


class _Recorder(keras.callbacks.Callback):
    weights: list = []

    def on_epoch_end(self, epoch, logs=None):
        _Recorder.weights.append([np.asarray(w) for w in self.model.get_weights()])


def test_early_stopping_stops_and_exports_the_best_epoch(tmp_path, monkeypatch):
    real = R._callbacks
    _Recorder.weights = []
    monkeypatch.setattr(R, "_callbacks", lambda *a, **k: [_Recorder(), *real(*a, **k)])
    run = R.run_pipeline(_cfg(*ES), out=tmp_path / "r")
    rows = _history(run.dir)
    assert len(rows) < 12, "the configuration must stop early"
    best = int(np.argmin([r["val_loss"] for r in rows]))
    assert best < len(rows) - 1
    exported = _weights(run.dir)
    model = R.load_run_model(run.dir)
    recorded_best = _Recorder.weights[best][: len(exported)]
    for w, b in zip(exported, recorded_best, strict=True):
        np.testing.assert_array_equal(w, b)
    assert any(not np.array_equal(w, last) for w, last in zip(exported, _Recorder.weights[-1]))
    assert len(model.get_weights()) == len(exported)
    metrics = json.loads(run.metrics_path.read_text())
    assert metrics["epochs_completed"] == len(rows)


def test_early_stopping_resumes_with_its_best_weights(tmp_path, monkeypatch):
    a = R.run_pipeline(_cfg(*ES), out=tmp_path / "probe")
    rows = _history(a.dir)
    best = int(np.argmin([r["val_loss"] for r in rows]))
    # killed after the epoch following the best one (best weights in memory only), and killed
    # after the last epoch early stopping ran (nothing left to train, best weights to restore)
    assert best + 2 < len(rows)
    for n, crash_after in enumerate((best + 2, len(rows))):
        sub = tmp_path / f"case{n}"
        sub.mkdir()
        _interrupted_equals_uninterrupted(sub, monkeypatch, _cfg(*ES), crash_after=crash_after)
        assert len(_history(sub / "b")) == len(rows)


# ---------------------------------------------------------------- optimizer options
def test_weight_decay_is_decoupled_for_adam_and_clipping_options_reach_the_optimizer():
    opt = R.make_optimizer(TrainConfig(learning_rate=0.1, weight_decay=0.5))
    assert isinstance(opt, keras.optimizers.Adam) and opt.weight_decay == 0.5
    var = keras.Variable(np.ones(3, "float32"))
    opt.apply_gradients([(keras.ops.zeros(3), var)])  # zero gradient: only the decay moves it
    np.testing.assert_allclose(var.numpy(), 1 - 0.1 * 0.5, rtol=1e-6)
    assert R.make_optimizer(TrainConfig(optimizer="adam")).weight_decay is None
    o = R.make_optimizer(TrainConfig(optimizer="sgd", global_clipnorm=1.0))
    assert o.global_clipnorm == 1.0 and o.clipnorm is None and o.clipvalue is None
    assert R.make_optimizer(TrainConfig(optimizer="rmsprop", clipvalue=0.5)).clipvalue == 0.5


# ---------------------------------------------------------------- bad configurations
def test_resolved_config_with_a_schedule_loads_again(tmp_path):
    from sciarch.config import dump_config

    for extra in ([], ["train.lr_schedule.name=one_cycle", "train.lr_schedule.start_lr_ratio=0.1"]):
        path = tmp_path / "resolved.yaml"
        path.write_text(dump_config(_cfg(*extra)))
        assert load_config(path, pipeline="blobs") == _cfg(*extra)


@pytest.mark.parametrize("overrides, expected", [
    (["train.lr_schedule.name=cosine"], "key 'train.lr_schedule.name': input should be 'constant', "
                                       "'warmup_cosine' or 'one_cycle'"),
    (["train.lr_schedule=one_cycle", "train.reduce_on_plateau.patience=2"],
     "train.reduce_on_plateau cannot be combined with train.lr_schedule name 'one_cycle'"),
    (["train.lr_schedule.warmup_epochs=1", "train.reduce_on_plateau.factor=0.5"],
     "train.reduce_on_plateau cannot be combined with train.lr_schedule warmup_epochs"),
    (["train.lr_schedule.name=warmup_cosine", "train.lr_schedule.start_lr_ratio=0.1"],
     "train.lr_schedule.start_lr_ratio applies to one_cycle only"),
    (["train.lr_schedule.min_lr_ratio=0.1"], "train.lr_schedule.min_lr_ratio does not apply to 'constant'"),
    (["train.lr_schedule.name=warmup_cosine", "train.lr_schedule.warmup_epochs=3"],
     "train.lr_schedule.warmup_epochs (3) must be less than train.epochs (3)"),
    (["train.reduce_on_plateau.factor=1.5"], "key 'train.reduce_on_plateau.factor'"),
    (["train.reduce_on_plateau.patiense=1"], "unknown key 'train.reduce_on_plateau.patiense' "
                                            "(did you mean 'train.reduce_on_plateau.patience'?)"),
    (["train.clipnorm=1", "train.global_clipnorm=1"], "train.clipnorm and train.global_clipnorm cannot both"),
    (["train.clipvalue=1", "train.global_clipnorm=1"], "train.global_clipnorm and train.clipvalue cannot both"),
    (["train.ensemble=0"], "key 'train.ensemble'"),
])
def test_bad_training_options_are_one_line_errors_naming_the_key(overrides, expected):
    with pytest.raises(ConfigError) as err:
        _cfg(*overrides)
    msg = str(err.value)
    assert "\n" not in msg and expected in msg, msg
    assert msg.startswith(str(FIXTURE_CFG))


# ---------------------------------------------------------------- one epoch = one pass of a dataset of unknown length
def test_no_ran_out_of_data_warning_on_unknown_length_epochs(tmp_path, monkeypatch, recwarn):
    """A training set of unknown cardinality (filtered) ends each epoch by running out: that is the plan, so
    the run does not pass on Keras' "interrupting training" warning, and the epochs are still whole passes."""
    real = blobs.BlobsPipeline.build_inputs

    def unknown_length(self, split, input_context=None):
        ds = real(self, split, input_context)
        return ds.filter(lambda *batch: True) if split == "train" else ds

    monkeypatch.setattr(blobs.BlobsPipeline, "build_inputs", unknown_length)
    run = R.run_pipeline(_cfg("train.epochs=2"), out=tmp_path / "run")
    assert len(_history(run.dir)) == 2
    assert not [w for w in recwarn if "ran out of data" in str(w.message)]
