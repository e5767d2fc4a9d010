"""Losses as plug-ins.

* :func:`get_loss` resolves a loss from config: a registry name
  (``ecological_fairness``), a Keras loss name (``binary_crossentropy``) or a dotted
  path to your own callable (``mypkg.losses:my_loss``).
* Per-sample context: datasets yield ``y = {"target": ..., "importance": ...,
  "zone": ..., ...}``; a loss that takes a ``context`` keyword receives every key but
  ``target``. The same mechanism serves every pipeline.
* Reduction is replica-correct: per-sample values are averaged over the GLOBAL batch
  and non-decomposable terms all-reduce their sufficient statistics first.
"""

from sciarch.losses.registry import (
    LossError,
    PerSampleLoss,
    ReplicaAwareLoss,
    available_losses,
    get_loss,
    register_loss,
)
from sciarch.losses.replica import all_reduce_sum, global_mean_share, replica_share
from sciarch.losses import builtin as _builtin  # noqa: F401  (register built-ins)
from sciarch.losses.builtin import EcologicalFairnessLoss, zone_statistics, zone_variance
from sciarch.losses.model import LossContextModel, split_target, with_loss

__all__ = [
    "EcologicalFairnessLoss", "LossContextModel", "LossError", "PerSampleLoss", "ReplicaAwareLoss",
    "all_reduce_sum", "available_losses", "get_loss", "global_mean_share", "register_loss",
    "replica_share", "split_target", "with_loss", "zone_statistics", "zone_variance",
]
