"""Epoch-indexed shuffles: the order is a function of (seed, epoch), for every seed, 0 included."""

import keras
import pytest
import tensorflow as tf

from sciarch.epochs import EpochCounter, shuffle


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_shuffle_order_depends_on_seed_and_epoch_only(seed):
    keras.utils.set_random_seed(seed)  # the runner sets the global seed to the config's seed
    counter = EpochCounter()
    ds = shuffle(tf.data.Dataset.range(32), 32, seed=seed, epoch=counter.variable)
    counter.set(2)
    a = [int(v) for v in ds]
    counter.set(3)
    b = [int(v) for v in ds]
    counter.set(2)
    again = [int(v) for v in ds]
    # a fresh dataset object (as after a resume) repeats epoch 2's order
    fresh = shuffle(tf.data.Dataset.range(32), 32, seed=seed, epoch=counter.variable)
    assert a == again == [int(v) for v in fresh]
    assert sorted(a) == list(range(32)) and a != b
    assert int(ds.cardinality()) == 32
