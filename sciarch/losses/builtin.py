"""Built-in losses the pipelines need.

Example:
    >>> import numpy as np
    >>> from sciarch.losses import get_loss
    >>> loss = get_loss("ecological_fairness", lambda_eco=1.0, lambda_fair=10.0, num_zones=2)
    >>> y = np.array([[1.0], [0.0], [1.0], [0.0]], "float32")
    >>> p = np.array([[0.9], [0.2], [0.6], [0.1]], "float32")
    >>> ctx = {"importance": np.array([[1.0], [1.0], [5.0], [1.0]], "float32"),
    ...        "zone": np.array([[0], [0], [1], [1]], "int32")}
    >>> round(float(loss(y, p, context=ctx)), 4) > 0
    True
"""

from __future__ import annotations

import tensorflow as tf

from sciarch.losses.registry import ReplicaAwareLoss, register_loss
from sciarch.losses.replica import all_reduce_sum, global_mean_share, replica_share


def _prob(y_pred, from_logits: bool, eps: float):
    y_pred = tf.cast(y_pred, tf.float32)
    p = tf.sigmoid(y_pred) if from_logits else y_pred
    return tf.clip_by_value(p, eps, 1.0 - eps)


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


@register_loss("ecological_fairness")
class EcologicalFairnessLoss(ReplicaAwareLoss):
    """``L = BCE + λ_eco · mean(importance · y · −log p) + λ_fair · Var_z(mean p in zone z)``.

    Context keys: ``importance`` (float, same shape as the target), ``zone`` (int zone
    id, same shape; ids outside ``[0, num_zones)`` are ignored by the fairness term) and
    optionally ``mask`` (1 = valid element, 0 = ignored everywhere, e.g. nodata pixels).

    The BCE and ecological terms are means over the valid elements of the GLOBAL batch;
    the fairness term is formed from per-zone sums and counts all-reduced across
    replicas, so the loss is identical on 1 and on N replicas.

    Args:
        lambda_eco: weight of the importance-weighted false-negative term.
        lambda_fair: weight of the zone-variance term.
        num_zones: number of zone ids.
        from_logits: whether ``y_pred`` are logits.
        epsilon: clipping of probabilities.
    """

    name = "ecological_fairness"

    def __init__(self, lambda_eco: float = 1.0, lambda_fair: float = 1.0, num_zones: int = 2,
                 from_logits: bool = False, epsilon: float = 1e-6):
        if num_zones < 1:
            raise ValueError("num_zones must be >= 1")
        self.lambda_eco = float(lambda_eco)
        self.lambda_fair = float(lambda_fair)
        self.num_zones = int(num_zones)
        self.from_logits = bool(from_logits)
        self.epsilon = float(epsilon)

    def terms(self, y_true, y_pred, context=None, sample_weight=None) -> dict:
        """The three terms, each already this replica's share (they add up to the loss)."""
        context = context or {}
        for key in ("importance", "zone"):
            if key not in context:
                raise KeyError(f"ecological_fairness needs '{key}' in the per-sample context (y['{key}'])")
        p = _prob(y_pred, self.from_logits, self.epsilon)
        y = tf.cast(tf.reshape(y_true, tf.shape(p)), tf.float32)
        importance = tf.cast(tf.reshape(context["importance"], tf.shape(p)), tf.float32)
        mask = context.get("mask")
        mask = tf.ones_like(p) if mask is None else tf.cast(tf.reshape(mask, tf.shape(p)), tf.float32)
        if sample_weight is not None:
            sw = tf.cast(sample_weight, tf.float32)
            mask = mask * tf.reshape(sw, tf.concat([tf.shape(sw), tf.ones(tf.rank(p) - tf.rank(sw), tf.int32)], 0))
        bce = -(y * tf.math.log(p) + (1.0 - y) * tf.math.log(1.0 - p))
        eco = importance * y * -tf.math.log(p)
        sums, counts = zone_statistics(p, context["zone"], mask, self.num_zones)
        return {
            "bce": global_mean_share(bce, mask),
            "eco": self.lambda_eco * global_mean_share(eco, mask),
            "fair": self.lambda_fair * replica_share(zone_variance(sums, counts)),
        }

    def __call__(self, y_true, y_pred, context=None, sample_weight=None):
        t = self.terms(y_true, y_pred, context, sample_weight)
        return t["bce"] + t["eco"] + t["fair"]

    def get_config(self) -> dict:
        return {"lambda_eco": self.lambda_eco, "lambda_fair": self.lambda_fair, "num_zones": self.num_zones,
                "from_logits": self.from_logits, "epsilon": self.epsilon}


@register_loss("weighted_binary_crossentropy")
def weighted_binary_crossentropy(y_true, y_pred, pos_weight: float = 1.0, context=None):
    """Binary cross-entropy with a weight on positives (class imbalance); per element."""
    p = tf.clip_by_value(tf.cast(y_pred, tf.float32), 1e-6, 1 - 1e-6)
    y = tf.cast(y_true, tf.float32)
    return -(pos_weight * y * tf.math.log(p) + (1.0 - y) * tf.math.log(1.0 - p))
