"""Strategy selection from config and per-worker inputs.

``strategy`` in config:

* ``auto`` -- TPU if one is reachable, else all local GPUs (MirroredStrategy when more
  than one, the default strategy on one), else the CPU (default strategy); a
  ``TF_CONFIG`` with more than one worker selects ``multi_worker``.
* ``default`` -- ``tf.distribute.get_strategy()`` (one device).
* ``mirrored`` -- ``MirroredStrategy`` over ``devices`` (default: all GPUs, or the
  logical CPUs made with ``logical_cpu_devices``).
* ``multi_worker`` -- ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``.
* ``tpu`` -- ``TPUStrategy`` via ``TPUClusterResolver(tpu=...)`` (``distribute.tpu``, else
  ``TPU_NAME``, else ``local`` for an attached TPU).

A strategy that cannot be built (no TPU, no ``TF_CONFIG``, logical CPUs requested after
TensorFlow initialised) raises :class:`sciarch.config.ConfigError` (one line, exit code 2).

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
from sciarch.config import ConfigError, DistributeConfig


@dataclass(frozen=True)
class WorkerInfo:
    task_type: str
    task_id: int
    num_workers: int
    has_chief: bool = False

    @property
    def is_chief(self) -> bool:
        """The task that writes the run directory: ``chief``, else worker 0 of a cluster without one."""
        if self.task_type == "chief":
            return True
        return self.task_type == "worker" and self.task_id == 0 and not self.has_chief


def worker_info() -> WorkerInfo:
    """This process's place in ``TF_CONFIG`` (a single worker when unset)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return WorkerInfo("worker", 0, 1)
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({exc})") from None
    cluster = cfg.get("cluster", {})
    task = cfg.get("task", {})
    n = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    return WorkerInfo(task.get("type", "worker"), int(task.get("index", 0)), max(n, 1), bool(cluster.get("chief")))


def configure_logical_cpus(n: int) -> None:
    """Split the host CPU into ``n`` logical devices (before TF initialises devices)."""
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        if have != n:
            raise ConfigError(
                f"distribute.logical_cpu_devices={n} must be set before TensorFlow initialises its devices "
                f"(already initialised with {have})"
            ) from None


def _local_tpus() -> bool:
    return bool(tf.config.list_physical_devices("TPU"))


def _tpu_resolver(tpu: str | None):
    tpu = tpu or os.environ.get("TPU_NAME") or ("local" if _local_tpus() else "")
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return resolver
    except (ValueError, tf.errors.NotFoundError, RuntimeError):
        return None


def strategy_name(cfg: DistributeConfig) -> str:
    """The strategy ``cfg`` asks for, with ``auto`` resolved (does not initialise devices).

    ``auto``: ``multi_worker`` when ``TF_CONFIG`` lists more than one worker, ``tpu`` when
    a TPU is named (``distribute.tpu`` or ``TPU_NAME``) or attached, ``mirrored`` over more
    than one GPU (or ``logical_cpu_devices`` > 1), else ``default``.
    """
    if cfg.strategy != "auto":
        return cfg.strategy
    if worker_info().num_workers > 1:
        return "multi_worker"
    if cfg.tpu is not None or os.environ.get("TPU_NAME") or _local_tpus():
        return "tpu"
    if len(tf.config.list_physical_devices("GPU")) > 1 or (cfg.logical_cpu_devices or 0) > 1:
        return "mirrored"
    return "default"


def make_strategy(cfg: DistributeConfig) -> tf.distribute.Strategy:
    """Build the strategy named in ``cfg``; installs the Keras compatibility shims."""
    if cfg.logical_cpu_devices:
        configure_logical_cpus(cfg.logical_cpu_devices)
    name = strategy_name(cfg)
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
            raise ConfigError(
                "distribute.strategy=multi_worker needs the TF_CONFIG environment variable "
                '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}})'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = _tpu_resolver(cfg.tpu)
        if resolver is None:
            raise ConfigError(
                f"distribute.strategy=tpu: no TPU found (distribute.tpu={cfg.tpu!r}, TPU_NAME={os.environ.get('TPU_NAME')!r})"
            )
        return tf.distribute.TPUStrategy(resolver)
    raise ConfigError(f"unknown distribute.strategy {name!r}")


def per_replica_batch_size(global_batch_size: int, input_context: tf.distribute.InputContext | None) -> int:
    """Per-replica batch size; the global size must divide evenly over replicas."""
    if input_context is None:
        return global_batch_size
    if global_batch_size % input_context.num_replicas_in_sync:
        raise ConfigError(
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
