"""Run every layer case under MirroredStrategy on 2 logical CPU devices (run as a script).

Logical devices must be configured before TensorFlow initialises its devices, so this runs in
a fresh interpreter (see test_distributed.py). One case per layer class (``ONE_PER_CLASS``,
which covers every public layer) is combined into one model (one
traced train/predict function instead of one per layer). The model is built in the strategy
scope and trained for 2 steps with global batch 4 (2 per replica); then a copy built outside
the strategy with the same weights must give the same predictions, column by column (so a
layer whose replicas drift apart, or that computes something replica-dependent, is named).
Prints one line ``RESULTS_JSON {...}``.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

# Graph optimisation (grappler) of this large test graph costs more than the few steps save.
tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layer_cases import BATCH, ONE_PER_CLASS, build_cases, build_combined  # noqa: E402


def main():
    t0 = time.perf_counter()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    cases = {name: case for name, case in build_cases().items() if name in ONE_PER_CLASS}
    with strategy.scope():
        model, make_inputs, names = build_combined(cases)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", jit_compile=False)
    t_build = time.perf_counter() - t0
    x = make_inputs(rng)
    y = rng.normal(size=(BATCH, len(names))).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat(2).batch(BATCH)
    history = model.fit(ds, epochs=1, verbose=0)
    t_fit = time.perf_counter() - t0
    pred = model.predict(tf.data.Dataset.from_tensor_slices(x).batch(BATCH), verbose=0)
    keras.utils.set_random_seed(0)
    plain, _, _ = build_combined(cases)
    plain.set_weights(model.get_weights())
    ref = np.asarray(plain(x, training=False))
    results = {
        "num_replicas": strategy.num_replicas_in_sync,
        "loss": [float(v) for v in history.history["loss"]],
        "cases": {},
        "seconds": {"build": t_build, "fit": t_fit, "total": time.perf_counter() - t0},
    }
    for i, name in enumerate(names):
        diff = float(np.max(np.abs(pred[:, i] - ref[:, i])))
        results["cases"][name] = {"max_abs_diff": diff, "finite": bool(np.all(np.isfinite(pred[:, i])))}
    print("RESULTS_JSON " + json.dumps(results))


if __name__ == "__main__":
    main()
