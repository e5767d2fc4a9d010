"""Losses as plug-ins: registry, dotted paths, per-sample context, the ecological loss terms,
replica-correct reduction (1 device == 2 replicas) and a user loss trained from the CLI."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from sciarch.config import ConfigError
from sciarch.losses import (
    LossError,
    PerSampleLoss,
    get_loss,
    register_loss,
    split_target,
    with_loss,
)

from pipelines.ecorisk.losses import EcologicalFairnessLoss  # registers "ecological_fairness"

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_CFG = ROOT / "tests" / "fixtures" / "blobs.yaml"


def _env(**extra):
    env = dict(os.environ, SCIARCH_PIPELINES="tests.fixtures.blobs_pipeline", PYTHONPATH=str(ROOT),
               TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.update(extra)
    return env


def f32(a):
    return np.asarray(a, "float32")


# --------------------------------------------------------------------------- registry


def test_registry_name_builds_class_with_params():
    loss = get_loss("ecological_fairness", lambda_eco=2.5, lambda_fair=4.0, num_zones=5)
    assert isinstance(loss, EcologicalFairnessLoss)
    assert loss.get_config()["lambda_eco"] == 2.5 and loss.num_zones == 5


def test_keras_name_is_the_global_mean_of_keras_values():
    y, p = f32([[1], [0], [1], [0]]), f32([[0.9], [0.3], [0.4], [0.05]])
    loss = get_loss("binary_crossentropy")
    expected = float(np.mean(keras.losses.binary_crossentropy(y, p)))
    assert float(loss(y, p)) == pytest.approx(expected, rel=1e-6)
    mse = get_loss("mse")
    assert float(mse(f32([[1.0, 3.0]]), f32([[0.0, 1.0]]))) == pytest.approx(2.5)


def test_register_loss_decorator_and_params():
    @register_loss("test_half_squared_error")
    def half_squared_error(y_true, y_pred, factor=0.5):
        return factor * (y_true - y_pred) ** 2

    assert float(get_loss("test_half_squared_error")(f32([[1.0], [3.0]]), f32([[0.0], [1.0]]))) == pytest.approx(1.25)
    assert float(get_loss("test_half_squared_error", factor=1.0)(f32([[2.0]]), f32([[0.0]]))) == pytest.approx(4.0)


def test_dotted_path_user_function_with_params():
    from tests.fixtures.user_losses import focal_loss

    y, p = f32([[1], [0], [1]]), f32([[0.8], [0.4], [0.3]])
    for gamma in (0.0, 2.0):
        loss = get_loss("tests.fixtures.user_losses:focal_loss", gamma=gamma)
        assert isinstance(loss, PerSampleLoss)
        assert float(loss(y, p)) == pytest.approx(float(np.mean(focal_loss(y, p, gamma=gamma))), rel=1e-6)
    # gamma=0 is plain binary cross-entropy
    bce = float(np.mean(keras.losses.binary_crossentropy(y, p)))
    assert float(get_loss("tests.fixtures.user_losses:focal_loss", gamma=0.0)(y, p)) == pytest.approx(bce, rel=1e-4)


def test_dotted_path_user_class_with_params():
    loss = get_loss("tests.fixtures.user_losses:ScaledAbsoluteError", scale=3.0)
    assert float(loss(f32([[1.0], [0.0]]), f32([[0.5], [0.5]]))) == pytest.approx(1.5)
    # a Keras loss class by dotted path, with its constructor arguments
    logits, y = f32([[2.0], [-1.0]]), f32([[1.0], [1.0]])
    keras_cls = get_loss("keras.losses:BinaryCrossentropy", from_logits=True)
    expected = float(np.mean(np.log1p(np.exp(-logits))))
    assert float(keras_cls(y, logits)) == pytest.approx(expected, rel=1e-5)


def test_missing_module_is_a_clear_loss_error():
    with pytest.raises(LossError) as exc:
        get_loss("no_such_pkg.losses:my_loss")
    msg = str(exc.value)
    assert "cannot import module 'no_such_pkg.losses'" in msg and "\n" not in msg
    assert isinstance(exc.value, ConfigError)  # the CLI turns it into exit code 2


def test_missing_attribute_is_a_clear_loss_error():
    with pytest.raises(LossError, match=r"module 'tests.fixtures.user_losses' has no attribute 'nope'"):
        get_loss("tests.fixtures.user_losses:nope")


def test_unknown_name_bad_params_and_malformed_path():
    with pytest.raises(LossError, match=r"unknown loss 'not_a_loss'.*ecological_fairness"):
        get_loss("not_a_loss")
    with pytest.raises(LossError, match=r"bad loss.params"):
        get_loss("ecological_fairness", lambda_typo=1.0)
    with pytest.raises(LossError, match=r"bad loss.params"):
        get_loss("tests.fixtures.user_losses:focal_loss", gama=2.0)
    with pytest.raises(LossError, match=r"expected 'package.module:name'"):
        get_loss("tests.fixtures.user_losses:")


# --------------------------------------------------------------------------- context delivery


def _recording_losses():
    seen = {}

    def with_context(y_true, y_pred, context=None):
        seen["context_keys"] = sorted(context)
        seen["y_true_shape"] = tuple(y_true.shape)
        return tf.square(y_true - y_pred)

    def without_context(y_true, y_pred):
        seen["plain_called"] = True
        return tf.square(y_true - y_pred)

    return seen, with_context, without_context


def _tiny_model():
    inp = keras.Input((3,), name="features")
    out = keras.layers.Dense(1, activation="sigmoid", kernel_initializer="ones")(inp)
    return keras.Model({"features": inp}, out)


def test_loss_with_context_kwarg_receives_the_non_target_keys():
    seen, with_context, without_context = _recording_losses()
    x = {"features": np.ones((4, 3), "float32")}
    y = {"target": np.ones((4, 1), "float32"), "zone": np.zeros((4, 1), "int32"),
         "importance": np.full((4, 1), 2.0, "float32")}
    model = _tiny_model()
    trainable = with_loss(model, get_loss(with_context))
    trainable.compile(optimizer="sgd", metrics=[keras.metrics.MeanAbsoluteError(name="mae")])
    y_pred = trainable(x)
    loss = trainable.compute_loss(x, y, y_pred)
    assert seen["context_keys"] == ["importance", "zone"]
    assert seen["y_true_shape"] == (4, 1)  # the loss got the target, not the dict
    assert float(loss) == pytest.approx(float(np.mean((1.0 - y_pred.numpy()) ** 2)), rel=1e-6)
    # metrics see the target only
    logs = trainable.compute_metrics(x, y, y_pred)
    assert float(logs["mae"]) == pytest.approx(float(np.mean(np.abs(1.0 - y_pred.numpy()))), rel=1e-6)
    # a loss without a context parameter works with the same dict y
    plain = with_loss(_tiny_model(), get_loss(without_context))
    plain.compile(optimizer="sgd")
    plain.compute_loss(x, y, plain(x))
    assert seen["plain_called"]


def test_context_reaches_the_loss_during_fit():
    seen = {"importance_sum": []}

    def importance_weighted(y_true, y_pred, context=None):
        seen["importance_sum"].append(float(tf.reduce_sum(context["importance"])))
        return context["importance"] * tf.square(y_true - y_pred)

    keras.utils.set_random_seed(0)
    model = _tiny_model()
    trainable = with_loss(model, get_loss(importance_weighted))
    trainable.compile(optimizer="sgd", run_eagerly=True)
    x = {"features": np.ones((8, 3), "float32")}
    y = {"target": np.zeros((8, 1), "float32"), "importance": np.full((8, 1), 3.0, "float32")}
    trainable.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    assert seen["importance_sum"][-2:] == [12.0, 12.0]


def test_split_target_requires_target_key():
    target, ctx = split_target({"target": 1, "zone": 2})
    assert target == 1 and ctx == {"zone": 2}
    assert split_target(5) == (5, {})
    with pytest.raises(KeyError, match="needs a 'target' key"):
        split_target({"y": 1})


# --------------------------------------------------------------------------- ecological loss terms


def _eco_terms(loss, y, p, importance, zone, mask=None, sample_weight=None):
    ctx = {"importance": f32(importance), "zone": np.asarray(zone, "int32")}
    if mask is not None:
        ctx["mask"] = f32(mask)
    t = loss.terms(f32(y), f32(p), context=ctx, sample_weight=None if sample_weight is None else f32(sample_weight))
    return {k: float(v) for k, v in t.items()}


def _numpy_eco(y, p, importance, zone, lam_eco, lam_fair, num_zones, mask=None):
    y, p, importance, zone = (np.asarray(a, "float64").ravel() for a in (y, p, importance, zone))
    m = np.ones_like(p) if mask is None else np.asarray(mask, "float64").ravel()
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    eco = importance * y * -np.log(p)
    means = [p[(zone == z) & (m > 0)].mean() for z in range(num_zones) if np.any((zone == z) & (m > 0))]
    return {"bce": np.sum(bce * m) / m.sum(), "eco": lam_eco * np.sum(eco * m) / m.sum(),
            "fair": lam_fair * np.var(means)}


def test_ecological_loss_matches_its_formula():
    y = [[1], [0], [1], [0], [1], [0]]
    p = [[0.9], [0.2], [0.6], [0.1], [0.3], [0.7]]
    imp = [[1], [1], [5], [1], [2], [3]]
    zone = [[0], [0], [1], [1], [2], [2]]
    loss = EcologicalFairnessLoss(lambda_eco=0.5, lambda_fair=3.0, num_zones=3)
    got = _eco_terms(loss, y, p, imp, zone)
    want = _numpy_eco(y, p, imp, zone, 0.5, 3.0, 3)
    for k in ("bce", "eco", "fair"):
        assert got[k] == pytest.approx(want[k], rel=1e-5), k
    ctx = {"importance": f32(imp), "zone": np.asarray(zone, "int32")}
    assert float(loss(f32(y), f32(p), context=ctx)) == pytest.approx(sum(want.values()), rel=1e-5)


def test_false_negative_on_high_importance_costs_more():
    loss = EcologicalFairnessLoss(lambda_eco=1.0, lambda_fair=0.0, num_zones=1)
    y, p, zone = [[1], [0]], [[0.2], [0.1]], [[0], [0]]
    low = _eco_terms(loss, y, p, [[1.0], [1.0]], zone)
    high = _eco_terms(loss, y, p, [[5.0], [1.0]], zone)
    assert high["bce"] == pytest.approx(low["bce"])
    assert high["eco"] == pytest.approx(5.0 * low["eco"], rel=1e-6)
    assert low["eco"] == pytest.approx(-np.log(0.2) / 2, rel=1e-5)
    # a false positive costs nothing extra, whatever its importance
    fp_low = _eco_terms(loss, [[0], [0]], [[0.9], [0.1]], [[1.0], [1.0]], zone)
    fp_high = _eco_terms(loss, [[0], [0]], [[0.9], [0.1]], [[50.0], [1.0]], zone)
    assert fp_low["eco"] == fp_high["eco"] == 0.0


def test_equal_zone_means_give_zero_fairness_term():
    loss = EcologicalFairnessLoss(lambda_eco=1.0, lambda_fair=100.0, num_zones=3)
    # zone 0: {0.2, 0.8}, zone 1: {0.5}, zone 2: {0.4, 0.6} -> every zone mean is 0.5
    t = _eco_terms(loss, [[1], [0], [1], [0], [1]], [[0.2], [0.8], [0.5], [0.4], [0.6]],
                   [[1]] * 5, [[0], [0], [1], [2], [2]])
    assert t["fair"] == pytest.approx(0.0, abs=1e-10)
    t2 = _eco_terms(loss, [[1], [0], [1]], [[0.2], [0.8], [0.5]], [[1]] * 3, [[0], [1], [2]])
    assert t2["fair"] > 1.0


def test_zone_ids_out_of_range_are_ignored_by_the_fairness_term():
    loss = EcologicalFairnessLoss(lambda_eco=1.0, lambda_fair=10.0, num_zones=2)
    base = _eco_terms(loss, [[1], [0]], [[0.7], [0.3]], [[1], [1]], [[0], [1]])
    more = _eco_terms(loss, [[1], [0], [1], [0]], [[0.7], [0.3], [0.01], [0.99]], [[1]] * 4, [[0], [1], [2], [-1]])
    assert more["fair"] == pytest.approx(base["fair"], rel=1e-6)
    assert more["bce"] != pytest.approx(base["bce"])  # the elements still count in the BCE


def test_mask_excludes_elements_from_every_term():
    loss = EcologicalFairnessLoss(lambda_eco=1.0, lambda_fair=10.0, num_zones=2)
    kept = _eco_terms(loss, [[1], [0], [1]], [[0.7], [0.3], [0.4]], [[2], [1], [1]], [[0], [1], [1]])
    masked = _eco_terms(loss, [[1], [0], [1], [1]], [[0.7], [0.3], [0.4], [0.01]], [[2], [1], [1], [9]],
                        [[0], [1], [1], [0]], mask=[[1], [1], [1], [0]])
    for k in ("bce", "eco", "fair"):
        assert masked[k] == pytest.approx(kept[k], rel=1e-6), k
    # sample_weight 0 acts the same way
    weighted = _eco_terms(loss, [[1], [0], [1], [1]], [[0.7], [0.3], [0.4], [0.01]], [[2], [1], [1], [9]],
                          [[0], [1], [1], [0]], sample_weight=[1, 1, 1, 0])
    for k in ("bce", "eco", "fair"):
        assert weighted[k] == pytest.approx(kept[k], rel=1e-6), k


def test_ecological_loss_needs_its_context_and_valid_num_zones():
    loss = EcologicalFairnessLoss()
    with pytest.raises(KeyError, match="needs 'zone'"):
        loss(f32([[1]]), f32([[0.5]]), context={"importance": f32([[1]])})
    with pytest.raises(ValueError, match="num_zones"):
        EcologicalFairnessLoss(num_zones=0)


def test_per_sample_loss_masks_per_pixel_values_and_scalar_returns():
    def per_pixel(y_true, y_pred):
        return tf.abs(y_true - y_pred)  # [B, H, W]

    loss = get_loss(per_pixel)
    y = np.zeros((2, 2, 2), "float32")
    p = np.array([[[1, 2], [3, 4]], [[5, 6], [7, 100]]], "float32")
    mask = np.ones_like(p)
    mask[1, 1, 1] = 0
    assert float(loss(y, p, context={"mask": mask})) == pytest.approx(28 / 7)
    # per-sample weights [B] weight every element of their sample
    assert float(loss(y, p, sample_weight=f32([0.0, 1.0]))) == pytest.approx(118 / 4)
    assert float(loss(y, p, context={"mask": mask}, sample_weight=f32([0.0, 1.0]))) == pytest.approx(18 / 3)
    scalar = get_loss(lambda y_true, y_pred: tf.reduce_mean(tf.abs(y_true - y_pred)))
    assert float(scalar(y, p)) == pytest.approx(float(np.mean(p)))


# --------------------------------------------------------------------------- replica-correct reduction


@pytest.fixture(scope="module")
def replica_results():
    """The 1-device vs 2-replica comparison, run once in its own process (logical CPUs)."""
    from tests.sciarch._scripts.shared import replica_results as run

    return run()


@pytest.mark.parametrize("case", ["bce", "ecological_fairness"])
def test_two_replicas_equal_one_device(replica_results, case):
    r = replica_results["cases"][case]
    assert replica_results["replicas"] == 2
    assert r["loss_diff"] < 1e-5, r
    assert r["grad_norm"] > 1e-2 and r["grad_diff"] < 1e-5, r
    # the actual Keras path: one SGD step of with_loss(model) gives the same weights
    assert r["keras_weight_change"] > 1e-2 and r["keras_weight_diff"] < 1e-5, r
    assert abs(r["keras_loss_1"] - r["keras_loss_2"]) < 1e-5 and abs(r["keras_loss_1"] - r["loss_1"]) < 1e-5, r


def test_naive_per_replica_reduction_would_fail(replica_results):
    """The batch is built so that per-replica zone statistics / means give a different loss."""
    naive = replica_results["naive_variance"]
    assert naive["fair_term_1"] > 1e-2
    assert naive["loss_diff"] > 1e-3 and naive["grad_diff"] > 1e-3, naive
    mean = replica_results["naive_mean"]
    assert mean["loss_diff"] > 1e-3, mean


# --------------------------------------------------------------------------- a user loss from the CLI


def _history(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_user_loss_by_dotted_path_trains_from_the_cli(tmp_path):
    out = tmp_path / "focal"
    res = subprocess.run(
        [sys.executable, "-m", "sciarch.cli", "run", "blobs", "--config", str(FIXTURE_CFG),
         "--set", "loss.name=tests.fixtures.user_losses:focal_loss", "--set", "loss.params.gamma=2.0",
         "--set", "train.epochs=4", "--out", str(out)],
        env=_env(), capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 4 and metrics["headline"] > 0.9
    assert "tests.fixtures.user_losses:focal_loss" in (out / "config.yaml").read_text()
    rows = _history(out / "history.csv")
    losses = [float(r["loss"]) for r in rows]
    assert losses[-1] < losses[0]

    # the logged loss is the focal loss, not the pipeline's default binary cross-entropy:
    # evaluate both on the training data with the final weights
    from tests.fixtures.blobs_pipeline import make_blobs
    from tests.fixtures.user_losses import focal_loss

    model = keras.models.load_model(out / "model.keras", safe_mode=True, compile=False)
    x, y = make_blobs(256, 4, 2.0, seed=3)
    p = model.predict({"features": x}, verbose=0)
    focal = float(np.mean(focal_loss(y, p, gamma=2.0)))
    bce = float(np.mean(keras.losses.binary_crossentropy(y, p)))
    assert bce > 3 * focal
    assert abs(losses[-1] - focal) < 0.25 * abs(losses[-1] - bce), (losses[-1], focal, bce)


def test_bad_dotted_path_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    """The command's entry point (``sciarch.cli:main``), in process: it fails before TensorFlow trains."""
    import tests.fixtures.blobs_pipeline  # noqa: F401  (registers the fixture pipeline)
    from sciarch.cli import main

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as exc:
        main(["run", "blobs", "--config", str(FIXTURE_CFG), "--set", "loss.name=my_lab.no_such_losses:focal",
              "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "cannot import module 'my_lab.no_such_losses'" in errors[0], err[-2000:]
    assert "Traceback" not in err
    assert not out.exists(), "a run directory was created for a config that cannot train"
