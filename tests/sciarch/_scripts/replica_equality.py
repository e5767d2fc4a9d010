"""Loss values, gradients and one Keras SGD step on 1 device vs MirroredStrategy on 2 logical CPUs,
and the strategy/input checks that need logical CPUs.

Run as a script (the logical devices must be configured before TensorFlow initialises):
``python tests/sciarch/_scripts/replica_equality.py OUT.json``. Writes a JSON dict of
maximum absolute differences and values that ``tests/sciarch/test_losses.py`` and
``tests/sciarch/test_distribute.py`` assert on (through ``shared.replica_results``).
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import sciarch.losses.zones as zones  # noqa: E402
from sciarch import compat  # noqa: E402
from sciarch.config import ConfigError, DistributeConfig  # noqa: E402
from sciarch.distribute import distribute_inputs, make_strategy, per_replica_batch_size, strategy_name  # noqa: E402
from sciarch.losses import get_loss, with_loss  # noqa: E402

from pipelines.ecorisk.losses import EcologicalFairnessLoss  # noqa: E402  (registers ecological_fairness)

B, D, R = 16, 4, 2  # global batch, features, replicas


def make_batch():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(B, D)).astype("float32")
    y = (rng.random((B, 1)) < 0.5).astype("float32")
    y[:4] = 1.0
    importance = rng.uniform(0.5, 4.0, size=(B, 1)).astype("float32")
    # zones unevenly split over the two replicas (replica 0 = rows 0..7, replica 1 = rows 8..15):
    # replica 0 sees zones 0 (x6) and 1 (x2); replica 1 sees zone 1 (x2) and 2 (x5), plus one
    # out-of-range id that the fairness term must ignore
    zone = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 7], "int32")[:, None]
    # an uneven mask: replica 0 keeps 7 of 8 elements, replica 1 keeps 3 of 8
    mask = np.array([1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0], "float32")[:, None]
    return {"features": x}, {"target": y, "importance": importance, "zone": zone, "mask": mask}


def build_model(seed=11):
    inp = keras.Input((D,), name="features")
    h = keras.layers.Dense(5, activation="tanh", name="hidden")(inp)
    out = keras.layers.Dense(1, activation="sigmoid", name="score")(h)
    model = keras.Model({"features": inp}, out)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=0.8, size=w.shape).astype("float32") for w in model.get_weights()])
    return model


def split_context(y):
    target = y["target"]
    context = {k: v for k, v in y.items() if k != "target"}
    return target, context


def one_device(loss_fn, model, x, y):
    target, context = split_context(y)
    with tf.GradientTape() as tape:
        p = model(x, training=True)
        loss = loss_fn(target, p, context=context)
    grads = tape.gradient(loss, model.trainable_variables)
    return float(loss), [g.numpy() for g in grads]


def per_replica_values(strategy, arrays):
    """Replica k gets rows [k*B/R, (k+1)*B/R) of every array (the split Keras uses)."""

    def fn(ctx):
        k = ctx.replica_id_in_sync_group
        n = B // R
        return tf.nest.map_structure(lambda a: tf.constant(a[k * n:(k + 1) * n]), arrays)

    return strategy.experimental_distribute_values_from_function(fn)


def two_replicas(strategy, loss_fn, model, x, y):
    dist = per_replica_values(strategy, (x, y))

    def replica_fn(inputs):
        xb, yb = inputs
        target, context = split_context(yb)
        with tf.GradientTape() as tape:
            p = model(xb, training=True)
            loss = loss_fn(target, p, context=context)
        return loss, tape.gradient(loss, model.trainable_variables)

    @tf.function
    def step(inputs):
        loss, grads = strategy.run(replica_fn, args=(inputs,))
        # Keras sums the per-replica gradients (optimizer all-reduce SUM); the loss shares add up
        total = strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
        return total, [strategy.reduce(tf.distribute.ReduceOp.SUM, g, axis=None) for g in grads]

    loss, grads = step(dist)
    return float(loss), [g.numpy() for g in grads]


def max_diff(a, b):
    return float(max(np.max(np.abs(np.asarray(u) - np.asarray(v))) for u, v in zip(a, b)))


def keras_one_step(strategy, loss_fn, x, y, lr=0.5):
    """Updated weights and logged loss after one SGD step of ``with_loss(model)`` under ``strategy``."""
    with strategy.scope():
        model = build_model()
        trainable = with_loss(model, loss_fn)
        trainable.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), jit_compile=False)

    def dataset_fn(ctx):
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        return ds.batch(per_replica_batch_size(B, ctx))

    ds = distribute_inputs(strategy, dataset_fn)
    hist = trainable.fit(ds, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
    return [w.numpy() for w in model.trainable_variables], float(hist.history["loss"][0])


def strategy_checks(strategy) -> dict:
    """What ``make_strategy`` built from ``auto`` + 2 logical CPUs, and how inputs are split."""
    out = {
        "class": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "devices": list(strategy.extended.worker_devices),
        "compat_installed": compat.installed(),
        "compat_active": sorted(compat.active()),
        "auto_name": strategy_name(DistributeConfig(strategy="auto", logical_cpu_devices=2)),
    }
    again = make_strategy(DistributeConfig(strategy="mirrored", logical_cpu_devices=2))
    out["mirrored_again_replicas"] = again.num_replicas_in_sync
    try:
        make_strategy(DistributeConfig(strategy="mirrored", logical_cpu_devices=3))
        out["late_logical_error"] = None
    except ConfigError as exc:
        out["late_logical_error"] = str(exc)

    contexts = []

    def dataset_fn(ctx):
        contexts.append({"replicas": ctx.num_replicas_in_sync, "pipelines": ctx.num_input_pipelines,
                         "pipeline_id": ctx.input_pipeline_id, "per_replica_batch": per_replica_batch_size(32, ctx)})
        return tf.data.Dataset.range(96).batch(per_replica_batch_size(32, ctx))

    dist = distribute_inputs(strategy, dataset_fn)
    first = next(iter(dist))
    out["input_contexts"] = contexts
    out["first_step_per_replica"] = [v.numpy().tolist() for v in strategy.experimental_local_results(first)]
    out["steps"] = sum(1 for _ in dist)
    return out


def main(out_path):
    keras.utils.set_random_seed(0)
    strategy = make_strategy(DistributeConfig(strategy="auto", logical_cpu_devices=2))
    assert strategy.num_replicas_in_sync == R
    x, y = make_batch()
    losses = {
        "bce": get_loss("binary_crossentropy"),
        "ecological_fairness": get_loss("ecological_fairness", lambda_eco=0.7, lambda_fair=25.0, num_zones=3),
    }
    result = {"replicas": strategy.num_replicas_in_sync, "cases": {}, "strategy": strategy_checks(strategy)}
    single = build_model()
    with strategy.scope():
        mirrored = build_model()
    for name, loss_fn in losses.items():
        l1, g1 = one_device(loss_fn, single, x, y)
        l2, g2 = two_replicas(strategy, loss_fn, mirrored, x, y)
        w1, k1 = keras_one_step(tf.distribute.get_strategy(), loss_fn, x, y)
        w2, k2 = keras_one_step(strategy, loss_fn, x, y)
        result["cases"][name] = {
            "loss_1": l1, "loss_2": l2, "loss_diff": abs(l1 - l2), "grad_diff": max_diff(g1, g2),
            "grad_norm": float(sum(np.sum(g ** 2) for g in g1) ** 0.5),
            "keras_weight_diff": max_diff(w1, w2),
            "keras_weight_change": max_diff(w1, build_model().get_weights()),
            "keras_loss_1": k1, "keras_loss_2": k2,
        }

    # the same computation with naive per-replica reductions, to show the batch discriminates:
    # (a) the zone statistics are not all-reduced (each replica forms its own zone variance)
    eco = losses["ecological_fairness"]
    original = zones.all_reduce_sum
    zones.all_reduce_sum = lambda value: value
    try:
        naive_eco, naive_eco_g = two_replicas(strategy, eco, mirrored, x, y)
    finally:
        zones.all_reduce_sum = original
    l1, g1 = one_device(eco, single, x, y)
    fair_only = EcologicalFairnessLoss(lambda_eco=0.0, lambda_fair=25.0, num_zones=3)

    def fair_term(loss, model, xb, yb):
        t, c = split_context(yb)
        return float(loss.terms(t, model(xb), context=c)["fair"])

    result["naive_variance"] = {
        "loss_1": l1, "loss_naive": naive_eco, "loss_diff": abs(l1 - naive_eco), "grad_diff": max_diff(g1, naive_eco_g),
        "fair_term_1": fair_term(fair_only, single, x, y),
    }
    # (b) the per-sample mean is taken per replica and then averaged (Keras' default for a
    # mean-reduced loss): wrong when replicas hold different numbers of valid elements
    bce = keras.losses.binary_crossentropy

    def naive_mean_bce(target, p, context=None):
        m = tf.reshape(tf.cast(context["mask"], tf.float32), [-1])
        v = bce(target, p)
        return tf.reduce_sum(v * m) / tf.reduce_sum(m) / R  # replica share of a mean of means

    naive_bce, _ = two_replicas(strategy, naive_mean_bce, mirrored, x, y)
    bce1, _ = one_device(losses["bce"], single, x, y)
    result["naive_mean"] = {"loss_1": bce1, "loss_naive": naive_bce, "loss_diff": abs(bce1 - naive_bce)}

    with open(out_path, "w") as fh:
        json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main(sys.argv[1])
