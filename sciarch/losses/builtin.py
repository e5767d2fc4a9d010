"""Built-in losses registered by name (domain losses live with their pipelines, e.g.
``ecological_fairness`` in :mod:`pipelines.ecorisk.losses`).

Example:
    >>> import numpy as np
    >>> from sciarch.losses import get_loss
    >>> loss = get_loss("weighted_binary_crossentropy", pos_weight=3.0)
    >>> y = np.array([[1.0], [0.0]], "float32")
    >>> p = np.array([[0.5], [0.5]], "float32")
    >>> round(float(loss(y, p)), 4)  # (3 ln 2 + ln 2) / 2
    1.3863
"""

from __future__ import annotations

import tensorflow as tf

from sciarch.losses.registry import register_loss


@register_loss("weighted_binary_crossentropy")
def weighted_binary_crossentropy(y_true, y_pred, pos_weight: float = 1.0, context=None):
    """Binary cross-entropy with a weight on positives (class imbalance); per element."""
    p = tf.clip_by_value(tf.cast(y_pred, tf.float32), 1e-6, 1 - 1e-6)
    y = tf.cast(y_true, tf.float32)
    return -(pos_weight * y * tf.math.log(p) + (1.0 - y) * tf.math.log(1.0 - p))
