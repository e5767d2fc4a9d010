"""Compatibility shims for Keras 3.15 under ``tf.distribute``. Every shim names its upstream issue.

keras-team/keras#20585 (MultiWorkerMirroredStrategy ``fit`` under Keras 3):

1. ``TensorFlowTrainer._maybe_symbolic_build`` builds the model from one data batch it
   makes by ``strategy.reduce("MEAN", per_replica_batch, axis=None)``. Under
   MultiWorkerMirroredStrategy that is a cross-worker collective issued from the
   builder (it hangs or fails), and under any strategy it fails when replicas hold
   batches of different shapes (graphs padded per batch) or integer inputs. Only the
   shapes matter for the symbolic build, so the shim takes the first local replica's
   batch.
2. ``reduce_per_replica`` reduces metric logs with ``strategy.reduce("MEAN", v, axis=0)``
   under multi-worker collectives; for the scalar logs of ``fit`` that raises (axis 0
   of a scalar). The shim uses ``axis=None`` for scalars.

``tests/sciarch/test_multiworker.py`` runs a 2-worker fit without the shims
(``SCIARCH_DISABLE_COMPAT=1``) and expects it to fail with their symptoms; when it
starts passing, upstream has fixed the issue and the shims can go. The slow-marked
variant disables one shim at a time (``SCIARCH_DISABLE_COMPAT=symbolic_build`` or
``=reduce_per_replica``) to tell which of the two is still needed.
"""

from __future__ import annotations

import functools
import os

import tensorflow as tf

_installed = False
_active: set[str] = set()

#: ``1``/``all`` runs without the shims; a comma list (``symbolic_build``,
#: ``reduce_per_replica``) leaves out those only. For the tests that watch the upstream fix.
DISABLE_ENV = "SCIARCH_DISABLE_COMPAT"
SHIMS = ("symbolic_build", "reduce_per_replica")


def disabled() -> set[str]:
    """The shims switched off through ``SCIARCH_DISABLE_COMPAT``."""
    raw = os.environ.get(DISABLE_ENV, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return set()
    if raw in ("1", "true", "yes", "all"):
        return set(SHIMS)
    names = {n.strip() for n in raw.split(",") if n.strip()}
    unknown = names - set(SHIMS)
    if unknown:
        raise ValueError(f"{DISABLE_ENV}: unknown shim(s) {sorted(unknown)} (known: {', '.join(SHIMS)}, all)")
    return names


def install() -> None:
    """Install the shims (idempotent; ``SCIARCH_DISABLE_COMPAT`` leaves some or all out)."""
    global _installed
    if _installed:
        return
    off = disabled()
    from keras import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_reduce = tf_trainer.reduce_per_replica

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                strategy = self.distribute_strategy
                data_batch = tree.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues)
                    else v,
                    batch,
                )
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    @functools.wraps(original_reduce)
    def reduce_per_replica(values, strategy, reduction):
        if tf_trainer._collective_all_reduce_multi_worker(strategy) and reduction in ("auto", "mean"):

            def _reduce(v):
                axis = None if v.shape.rank == 0 else 0
                return strategy.reduce("MEAN", v, axis=axis)

            return tree.map_structure(_reduce, values)
        return original_reduce(values, strategy, reduction)

    if "symbolic_build" not in off:
        tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    if "reduce_per_replica" not in off:
        tf_trainer.reduce_per_replica = reduce_per_replica
    _active.update(set(SHIMS) - off)
    _installed = True


def installed() -> bool:
    """Whether :func:`install` ran (see :func:`active` for the shims it put in place)."""
    return _installed


def active() -> set[str]:
    """The shims in place in this process."""
    return set(_active)
