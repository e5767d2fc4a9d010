"""Epoch-indexed randomness for training inputs, so that a resumed run repeats an uninterrupted one.

A ``tf.data`` shuffle with ``reshuffle_each_iteration=True`` draws the order of its k-th pass
from a counter that starts at 0 in every new dataset object: a run resumed at epoch 3 would
see epoch 0's order again. Here the order of epoch ``e`` is a function of ``(seed, e)`` only.

The runner hands every pipeline an epoch counter (``Pipeline.epoch``, a scalar int64
``tf.Variable`` that a callback sets at the start of each epoch) before it calls
``build_inputs("train")``; pipelines shuffle with :func:`shuffle` and draw per-example random
numbers (augmentation) with :func:`map_with_seed`. Without a counter (``epoch=None``: code
outside the runner, or a run with ``train.steps_per_epoch`` whose training stream is endless)
both fall back to a stream that is deterministic from its start, and the runner skips the
batches of the epochs already done when it resumes.

Example:
    >>> import tensorflow as tf
    >>> from sciarch.epochs import EpochCounter, shuffle
    >>> counter = EpochCounter()
    >>> ds = shuffle(tf.data.Dataset.range(4), 4, seed=1, epoch=counter.variable)
    >>> counter.set(2); a = [int(v) for v in ds]
    >>> counter.set(2); b = [int(v) for v in ds]
    >>> a == b and sorted(a) == [0, 1, 2, 3]
    True
"""

from __future__ import annotations

import keras
import tensorflow as tf

_MIX = 1_000_003


def epoch_seed(seed: int, epoch) -> tf.Tensor:
    """The int64 shuffle seed of ``epoch`` (a Python int or a scalar tensor) under ``seed``."""
    return tf.cast(seed, tf.int64) * _MIX + tf.cast(epoch, tf.int64) + 1


class EpochCounter:
    """A scalar int64 variable holding the epoch ``fit`` is in (made outside any strategy scope)."""

    def __init__(self, initial: int = 0):
        self.variable = tf.Variable(initial, dtype=tf.int64, trainable=False, name="sciarch_epoch")

    def set(self, epoch: int) -> None:
        self.variable.assign(int(epoch))

    def callback(self) -> keras.callbacks.Callback:
        return _SetEpoch(self)


class _SetEpoch(keras.callbacks.Callback):
    # Keras makes an epoch's input iterator after on_epoch_begin, so the epoch's dataset reads this value
    def __init__(self, counter: EpochCounter):
        super().__init__()
        self.counter = counter

    def on_epoch_begin(self, epoch, logs=None):
        self.counter.set(epoch)


def _current(epoch: tf.Variable) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).map(lambda _: epoch.read_value())


def per_epoch(make: "callable", epoch: tf.Variable | None, cardinality: int | None = None) -> tf.data.Dataset:
    """``make(e)`` (a dataset for epoch ``e``, a scalar int64 tensor) for the epoch in ``epoch``.

    A new iterator (Keras makes one per epoch) reads the counter again. ``cardinality``
    (elements per epoch) is asserted when given, so ``fit`` knows the epoch length.
    """
    ds = _current(epoch).flat_map(make)
    if cardinality is not None and cardinality >= 0:
        ds = ds.apply(tf.data.experimental.assert_cardinality(int(cardinality)))
    return ds


def shuffle(ds: tf.data.Dataset, buffer_size: int, seed: int, epoch: tf.Variable | None = None) -> tf.data.Dataset:
    """``ds`` shuffled in an order that depends on ``(seed, epoch)`` only.

    ``epoch=None``: the order of the k-th pass depends on ``(seed, k)``, k counted from this
    dataset's first pass (TensorFlow's ``reshuffle_each_iteration``).
    """
    if epoch is None:
        return ds.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True)
    card = int(ds.cardinality())

    def make(e):
        # TensorFlow pairs an op seed with the global seed and then compares the pair with (0, 0)
        # in Python; with a tensor op seed and global seed 0 (``seed: 0`` in a config) that
        # comparison needs a tensor's truth value and fails. The op seed below already depends on
        # the run's seed, so the global seed is cleared for this one function graph only.
        tf.compat.v1.get_default_graph().seed = None
        return ds.shuffle(buffer_size, seed=epoch_seed(seed, e), reshuffle_each_iteration=False)

    return per_epoch(make, epoch, card if card >= 0 else None)


def map_with_seed(ds: tf.data.Dataset, fn, seed: int, epoch: tf.Variable | None = None,
                  num_parallel_calls=tf.data.AUTOTUNE) -> tf.data.Dataset:
    """``ds.map(lambda *ex: fn(rng_seed, *ex))`` with a stateless-RNG seed per element.

    ``rng_seed`` is an int64 ``[2]`` tensor, a function of ``(seed, epoch, position in the
    epoch)`` -- or of ``(seed, position in the stream)`` when ``epoch`` is None -- for
    ``tf.random.stateless_*`` ops: the draws do not depend on thread scheduling or on where a
    run was resumed. Use it instead of stateful ``tf.random.*`` ops inside ``map``.
    """
    card = int(ds.cardinality())

    def with_seed(i, ex):
        base = epoch_seed(seed, epoch.read_value() if epoch is not None else -1)
        s = tf.stack([base, tf.cast(i, tf.int64)])
        return fn(s, *ex) if isinstance(ex, tuple) else fn(s, ex)

    out = ds.enumerate().map(with_seed, num_parallel_calls=num_parallel_calls)
    if card >= 0:
        out = out.apply(tf.data.experimental.assert_cardinality(card))
    return out
