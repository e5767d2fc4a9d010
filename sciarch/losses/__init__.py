"""Losses as plug-ins.

* :func:`get_loss` resolves a loss from config: a registry name
  (``weighted_binary_crossentropy``; pipelines register their own, e.g.
  ``ecological_fairness`` on import of ``pipelines.ecorisk``), a Keras loss name
  (``binary_crossentropy``) or a dotted path to your own callable (``mypkg.losses:my_loss``).
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
from sciarch.losses import builtin  # noqa: F401  (registers the built-ins)
from sciarch.losses.context import LossContextModel, split_target, with_loss
from sciarch.losses.zones import zone_statistics, zone_variance

__all__ = [
    "LossContextModel", "LossError", "PerSampleLoss", "ReplicaAwareLoss",
    "all_reduce_sum", "available_losses", "get_loss", "global_mean_share", "register_loss",
    "replica_share", "split_target", "with_loss", "zone_statistics", "zone_variance",
]
