"""Strategy selection from config, worker roles from TF_CONFIG, per-replica batch size and sharding."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from sciarch import distribute
from sciarch.config import ConfigError, DistributeConfig
from sciarch.distribute import (
    distribute_inputs,
    make_strategy,
    per_replica_batch_size,
    shard_for_worker,
    strategy_name,
    worker_info,
)

TWO_WORKERS = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 1}}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("TF_CONFIG", "TPU_NAME"):
        monkeypatch.delenv(var, raising=False)


# --------------------------------------------------------------------------- strategy selection


def test_default_is_the_one_device_strategy():
    s = make_strategy(DistributeConfig(strategy="default"))
    assert s is tf.distribute.get_strategy() and s.num_replicas_in_sync == 1


def test_auto_on_a_plain_cpu_host_is_default():
    assert strategy_name(DistributeConfig()) == "default"
    assert make_strategy(DistributeConfig(strategy="auto")).num_replicas_in_sync == 1


def test_auto_resolution_order(monkeypatch):
    auto = DistributeConfig(strategy="auto")
    monkeypatch.setattr(distribute.tf.config, "list_physical_devices",
                        lambda kind=None: [f"/physical_device:{kind}:{i}" for i in range(2)] if kind == "GPU" else [])
    assert strategy_name(auto) == "mirrored"  # more than one GPU
    assert strategy_name(DistributeConfig(strategy="auto", tpu="my-tpu")) == "tpu"  # a named TPU wins
    monkeypatch.setenv("TPU_NAME", "my-tpu")
    assert strategy_name(auto) == "tpu"
    monkeypatch.setenv("TF_CONFIG", json.dumps(TWO_WORKERS))
    assert strategy_name(auto) == "multi_worker"  # a cluster wins over everything local
    # an explicit choice is never overridden
    assert strategy_name(DistributeConfig(strategy="default")) == "default"


def test_auto_picks_an_attached_tpu(monkeypatch):
    monkeypatch.setattr(distribute.tf.config, "list_physical_devices",
                        lambda kind=None: ["/physical_device:TPU:0"] if kind == "TPU" else [])
    assert strategy_name(DistributeConfig(strategy="auto")) == "tpu"


def test_tpu_without_a_tpu_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"distribute.strategy=tpu: no TPU found"):
        make_strategy(DistributeConfig(strategy="tpu"))


def test_multi_worker_without_tf_config_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"multi_worker needs the TF_CONFIG environment variable"):
        make_strategy(DistributeConfig(strategy="multi_worker"))


def test_unknown_strategy_is_rejected_by_the_schema():
    with pytest.raises(ValueError, match="strategy"):
        DistributeConfig(strategy="horovod")


def test_mirrored_over_logical_cpus_and_input_split():
    """Runs in the shared subprocess that splits the CPU into 2 logical devices."""
    from tests.sciarch._scripts.shared import replica_results

    s = replica_results()["strategy"]
    assert s["auto_name"] == "mirrored"  # auto with logical_cpu_devices=2
    assert s["class"] == "MirroredStrategy" and s["replicas"] == 2
    assert [d.rsplit("/", 1)[-1] for d in s["devices"]] == ["device:CPU:0", "device:CPU:1"]
    assert s["compat_installed"] is True and s["compat_active"] == ["reduce_per_replica", "symbolic_build"]
    assert s["mirrored_again_replicas"] == 2  # asking again for the same split is fine
    assert "must be set before TensorFlow initialises its devices (already initialised with 2)" in s["late_logical_error"]
    # inputs: one pipeline on one worker, per-replica batches of 32 / 2, consecutive
    assert s["input_contexts"] == [{"replicas": 2, "pipelines": 1, "pipeline_id": 0, "per_replica_batch": 16}]
    assert s["first_step_per_replica"] == [list(range(16)), list(range(16, 32))]
    assert s["steps"] == 3  # 96 elements / global batch 32


# --------------------------------------------------------------------------- workers


def test_worker_info_single_process():
    w = worker_info()
    assert (w.task_type, w.task_id, w.num_workers, w.is_chief) == ("worker", 0, 1, True)


def test_worker_info_from_tf_config(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps(TWO_WORKERS))
    w = worker_info()
    assert (w.task_id, w.num_workers, w.is_chief) == (1, 2, False)
    monkeypatch.setenv("TF_CONFIG", json.dumps({**TWO_WORKERS, "task": {"type": "worker", "index": 0}}))
    assert worker_info().is_chief
    with_chief = {"cluster": {"chief": ["h:0"], "worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(with_chief))
    w = worker_info()
    assert w.num_workers == 3 and not w.is_chief  # worker 0 is not the chief when a chief exists
    monkeypatch.setenv("TF_CONFIG", json.dumps({**with_chief, "task": {"type": "chief", "index": 0}}))
    assert worker_info().is_chief
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="TF_CONFIG is not valid JSON"):
        worker_info()


# --------------------------------------------------------------------------- inputs


def _ctx(pipelines=2, pipeline_id=1, replicas=4):
    return tf.distribute.InputContext(num_input_pipelines=pipelines, input_pipeline_id=pipeline_id,
                                      num_replicas_in_sync=replicas)


def test_per_replica_batch_size():
    assert per_replica_batch_size(64, None) == 64
    assert per_replica_batch_size(64, _ctx(replicas=4)) == 16
    assert per_replica_batch_size(64, _ctx(replicas=1)) == 64
    with pytest.raises(ConfigError, match=r"train.batch_size=30 is not divisible by the 4 replicas"):
        per_replica_batch_size(30, _ctx(replicas=4))


def test_shard_for_worker():
    ds = tf.data.Dataset.range(10)
    assert list(shard_for_worker(ds, None).as_numpy_iterator()) == list(range(10))
    assert list(shard_for_worker(ds, _ctx(pipelines=1, pipeline_id=0)).as_numpy_iterator()) == list(range(10))
    w0 = list(shard_for_worker(ds, _ctx(pipeline_id=0)).as_numpy_iterator())
    w1 = list(shard_for_worker(ds, _ctx(pipeline_id=1)).as_numpy_iterator())
    assert w0 == [0, 2, 4, 6, 8] and w1 == [1, 3, 5, 7, 9]  # disjoint, together everything


def test_distribute_inputs_on_one_device_is_the_plain_dataset():
    seen = []

    def dataset_fn(ctx):
        seen.append(ctx)
        return tf.data.Dataset.range(8).batch(per_replica_batch_size(4, ctx))

    ds = distribute_inputs(tf.distribute.get_strategy(), dataset_fn)
    assert seen == [None] and isinstance(ds, tf.data.Dataset)
    np.testing.assert_array_equal(next(iter(ds)).numpy(), [0, 1, 2, 3])
