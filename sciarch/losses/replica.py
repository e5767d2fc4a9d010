"""Replica-correct reduction helpers.

Keras (TF backend) sums the gradients of the per-replica losses. A per-replica loss
therefore has to be that replica's *share* of the global-batch loss:

* a per-sample term contributes ``sum(local values) / global sample count``;
* a non-decomposable term (a variance over zones, say) is formed from sufficient
  statistics all-reduced over replicas, and each replica contributes ``term / R``.

Both reduce to the plain value on one device. :func:`all_reduce_sum` is
differentiable: inside a replica context it uses ``ReplicaContext.all_reduce``,
whose gradient is itself an all-reduce, so the summed gradient equals the
gradient of the global loss.
"""

from __future__ import annotations

import tensorflow as tf


def num_replicas() -> int:
    return tf.distribute.get_strategy().num_replicas_in_sync


def in_replica_context() -> bool:
    ctx = tf.distribute.get_replica_context()
    return ctx is not None and tf.distribute.has_strategy() and num_replicas() > 1


def all_reduce_sum(value):
    """Sum ``value`` (a tensor or nested structure) over all replicas; identity on one."""
    if not in_replica_context():
        return value
    return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, value)


def global_mean_share(values, weights=None):
    """This replica's share of the global weighted mean of ``values`` ([B] or [B, ...]).

    Summed over replicas it equals ``sum(w * v) / sum(w)`` over the global batch.
    """
    values = tf.convert_to_tensor(values)
    values = tf.cast(values, tf.float32)
    if weights is None:
        weights = tf.ones_like(values)
    else:
        weights = tf.cast(tf.broadcast_to(tf.cast(weights, tf.float32), tf.shape(values)), tf.float32)
    local_sum = tf.reduce_sum(values * weights)
    total = all_reduce_sum(tf.stop_gradient(tf.reduce_sum(weights)))
    return tf.math.divide_no_nan(local_sum, total)


def replica_share(global_value):
    """This replica's share of a value that is identical on every replica."""
    r = num_replicas() if in_replica_context() else 1
    return global_value / tf.cast(r, global_value.dtype)
