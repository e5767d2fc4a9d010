"""Strategy selection from config and per-worker inputs.

``strategy`` in config:

* ``auto`` -- TPU if one is reachable, else all local GPUs (MirroredStrategy when more
  than one, the default strategy on one), else the CPU (default strategy); a
  ``TF_CONFIG`` with more than one worker selects ``multi_worker``.
* ``default`` -- ``tf.distribute.get_strategy()`` (one device).
* ``mirrored`` -- ``MirroredStrategy`` over ``devices`` (default: all GPUs, or the
  logical CPUs made with ``logical_cpu_devices``).
* ``multi_worker`` -- ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``.
* ``tpu`` -- ``TPUStrategy`` via ``TPUClusterResolver(tpu=...)``.

Example:
    >>> from sciarch.config import DistributeConfig
    >>> from sciarch.distribute import make_strategy
    >>> make_strategy(DistributeConfig(strategy="default")).num_replicas_in_sync
    1
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import tensorflow as tf

from sciarch import compat
from sciarch.config import DistributeConfig


@dataclass(frozen=True)
class WorkerInfo:
    task_type: str
    task_id: int
    num_workers: int

    @property
    def is_chief(self) -> bool:
        return self.task_type == "chief" or (self.task_type == "worker" and self.task_id == 0)


def worker_info() -> WorkerInfo:
    """This process's place in ``TF_CONFIG`` (a single worker when unset)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return WorkerInfo("worker", 0, 1)
    cfg = json.loads(raw)
    cluster = cfg.get("cluster", {})
    task = cfg.get("task", {})
    n = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    return WorkerInfo(task.get("type", "worker"), int(task.get("index", 0)), max(n, 1))


def configure_logical_cpus(n: int) -> None:
    """Split the host CPU into ``n`` logical devices (before TF initialises devices)."""
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        if have != n:
            raise RuntimeError(
                f"distribute.logical_cpu_devices={n} must be set before TensorFlow initialises its devices "
                f"(already initialised with {have})"
            ) from None


def _tpu_resolver(tpu: str | None):
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return resolver
    except (ValueError, tf.errors.NotFoundError, RuntimeError):
        return None


def make_strategy(cfg: DistributeConfig) -> tf.distribute.Strategy:
    """Build the strategy named in ``cfg``; installs the Keras compatibility shims."""
    name = cfg.strategy
    if cfg.logical_cpu_devices:
        configure_logical_cpus(cfg.logical_cpu_devices)
    if name == "auto":
        if worker_info().num_workers > 1:
            name = "multi_worker"
        elif cfg.tpu is not None or os.environ.get("TPU_NAME"):
            name = "tpu"
        elif len(tf.config.list_logical_devices("GPU")) > 1 or (cfg.logical_cpu_devices or 0) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name != "default":
        compat.install()
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = cfg.devices
        if devices is None:
            gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
            devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError("distribute.strategy=multi_worker needs the TF_CONFIG environment variable")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = _tpu_resolver(cfg.tpu)
        if resolver is None:
            raise ValueError(f"distribute.strategy=tpu: no TPU found (tpu={cfg.tpu!r})")
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown distribute.strategy {name!r}")


def per_replica_batch_size(global_batch_size: int, input_context: tf.distribute.InputContext | None) -> int:
    """Per-replica batch size; the global size must divide evenly over replicas."""
    if input_context is None:
        return global_batch_size
    if global_batch_size % input_context.num_replicas_in_sync:
        raise ValueError(
            f"train.batch_size={global_batch_size} is not divisible by the {input_context.num_replicas_in_sync} replicas"
        )
    return input_context.get_per_replica_batch_size(global_batch_size)


def shard_for_worker(ds: tf.data.Dataset, input_context: tf.distribute.InputContext | None) -> tf.data.Dataset:
    """Each input pipeline (worker) reads its own shard."""
    if input_context is None or input_context.num_input_pipelines <= 1:
        return ds
    return ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)


def distribute_inputs(strategy: tf.distribute.Strategy, dataset_fn):
    """``dataset_fn(input_context) -> Dataset`` distributed over ``strategy`` (plain on one replica)."""
    if strategy.num_replicas_in_sync == 1 and not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return dataset_fn(None)
    options = tf.distribute.InputOptions(experimental_fetch_to_device=True)
    return strategy.distribute_datasets_from_function(dataset_fn, options=options)
