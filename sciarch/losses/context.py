"""Attach a (context-aware, replica-correct) loss to any Keras model.

The runner trains ``with_loss(model, loss)``: a functional model that shares every
layer and weight with ``model`` and overrides ``compute_loss`` / ``compute_metrics``
so that

* the loss receives ``y["target"]`` plus the per-sample context (every other key of
  a dict ``y``) and returns its replica share (see :mod:`sciarch.losses.replica`);
* compiled metrics see only the target.

The original ``model`` is what gets exported, so saved models carry no loss.

Example:
    >>> import keras, numpy as np
    >>> from sciarch.losses import get_loss, with_loss
    >>> inp = keras.Input((3,)); out = keras.layers.Dense(1, activation="sigmoid")(inp)
    >>> model = keras.Model(inp, out)
    >>> trainable = with_loss(model, get_loss("binary_crossentropy"))
    >>> trainable.compile(optimizer="adam")
    >>> y = {"target": np.ones((4, 1), "float32"), "zone": np.zeros((4, 1), "int32")}
    >>> _ = trainable.fit(np.ones((4, 3), "float32"), y, epochs=1, verbose=0)
"""

from __future__ import annotations

import keras

from sciarch.losses.registry import ReplicaAwareLoss


def split_target(y):
    """``y`` -> ``(target, context)``; a dict ``y`` must hold the key ``target``."""
    if isinstance(y, dict):
        if "target" not in y:
            raise KeyError(f"a dict y needs a 'target' key, got keys {sorted(y)}")
        context = {k: v for k, v in y.items() if k != "target"}
        return y["target"], context
    return y, {}


class LossContextModel(keras.Model):
    """Functional model whose loss gets per-sample context. Build with :func:`with_loss`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sciarch_loss: ReplicaAwareLoss | None = None

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self.sciarch_loss is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        target, context = split_target(y)
        loss = self.sciarch_loss(target, y_pred, context=context, sample_weight=sample_weight)
        for extra in self.losses:  # regularisation losses added by layers
            loss = loss + self._aggregate_additional_loss(extra)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        target, _ = split_target(y)
        return super().compute_metrics(x, target, y_pred, sample_weight)


def with_loss(model: keras.Model, loss: ReplicaAwareLoss) -> LossContextModel:
    """A trainable view of functional ``model`` (shared weights) using ``loss``."""
    trainable = LossContextModel(inputs=model.input, outputs=model.output, name=f"{model.name}_training")
    trainable.sciarch_loss = loss
    return trainable
