"""The ecorisk loss: binary cross-entropy + an ecological false-negative penalty + zone fairness.

Importing :mod:`pipelines.ecorisk` registers it as ``ecological_fairness`` in the loss
registry (``loss.name: ecological_fairness`` in a config; ``get_loss("ecological_fairness")``
once the package is imported). The zone statistics it all-reduces are the framework's
(:func:`sciarch.losses.zone_statistics`, :func:`sciarch.losses.zone_variance`).

Example:
    >>> import numpy as np
    >>> from pipelines.ecorisk.losses import EcologicalFairnessLoss
    >>> loss = EcologicalFairnessLoss(lambda_eco=1.0, lambda_fair=10.0, num_zones=2)
    >>> y = np.array([[1.0], [0.0], [1.0], [0.0]], "float32")
    >>> p = np.array([[0.9], [0.2], [0.6], [0.1]], "float32")
    >>> ctx = {"importance": np.array([[1.0], [1.0], [5.0], [1.0]], "float32"),
    ...        "zone": np.array([[0], [0], [1], [1]], "int32")}
    >>> round(float(loss(y, p, context=ctx)), 4) > 0
    True
"""

from __future__ import annotations

import tensorflow as tf

from sciarch.losses import (
    ReplicaAwareLoss,
    global_mean_share,
    register_loss,
    replica_share,
    zone_statistics,
    zone_variance,
)


def _prob(y_pred, from_logits: bool, eps: float):
    y_pred = tf.cast(y_pred, tf.float32)
    p = tf.sigmoid(y_pred) if from_logits else y_pred
    return tf.clip_by_value(p, eps, 1.0 - eps)


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
