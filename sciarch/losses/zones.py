"""Per-group (zone) statistics for fairness terms, all-reduced across replicas.

A group-fairness term such as the variance of the per-zone mean prediction does not
split per sample: it is formed from per-zone sums and counts of the GLOBAL batch, which
:func:`zone_statistics` all-reduces (see :mod:`sciarch.losses.replica`).

Example:
    >>> import numpy as np
    >>> from sciarch.losses import zone_statistics, zone_variance
    >>> sums, counts = zone_statistics(np.array([0.2, 0.4, 0.9], "float32"), np.array([0, 0, 1]),
    ...                                np.ones(3, "float32"), num_zones=2)
    >>> [round(float(v), 3) for v in sums.numpy()], counts.numpy().tolist()
    ([0.6, 0.9], [2.0, 1.0])
    >>> round(float(zone_variance(sums, counts)), 4)  # zone means 0.3 and 0.9
    0.09
"""

from __future__ import annotations

import tensorflow as tf

from sciarch.losses.replica import all_reduce_sum


def zone_statistics(p, zone, mask, num_zones: int):
    """Per-zone sums of ``p`` and counts over valid elements, all-reduced over replicas."""
    p = tf.reshape(p, [-1])
    zone = tf.reshape(tf.cast(zone, tf.int32), [-1])
    valid = tf.reshape(tf.cast(mask, tf.float32), [-1]) * tf.cast((zone >= 0) & (zone < num_zones), tf.float32)
    safe_zone = tf.clip_by_value(zone, 0, num_zones - 1)
    sums = tf.math.unsorted_segment_sum(p * valid, safe_zone, num_zones)
    counts = tf.math.unsorted_segment_sum(valid, safe_zone, num_zones)
    sums, counts = all_reduce_sum(sums), all_reduce_sum(tf.stop_gradient(counts))
    return sums, counts


def zone_variance(sums, counts):
    """Population variance of the per-zone means over the zones that have samples."""
    present = tf.cast(counts > 0, tf.float32)
    means = tf.math.divide_no_nan(sums, counts)
    k = tf.maximum(tf.reduce_sum(present), 1.0)
    centre = tf.reduce_sum(means * present) / k
    return tf.reduce_sum(present * tf.square(means - centre)) / k
