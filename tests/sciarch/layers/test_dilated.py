import numpy as np
import pytest
import tensorflow as tf

import keras

from sciarch.layers import DilatedResidualStack

from equivariance import assert_translation_equivariant


def _dependence(stack, t, length=160, channels=2):
    """Indices of input positions that output position ``t`` depends on (nonzero gradient)."""
    x = tf.constant(np.random.default_rng(0).normal(size=(1, length, channels)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = stack(x, training=False)
        target = tf.reduce_sum(y[0, t])
    grad = tape.gradient(target, x).numpy()[0]
    return np.flatnonzero(np.abs(grad).sum(-1) > 0)


@pytest.mark.parametrize("kernel_size,num_layers,base", [(3, 4, 2), (2, 3, 3), (5, 2, 2)])
def test_receptive_field_formula(kernel_size, num_layers, base):
    stack = DilatedResidualStack(4, kernel_size=kernel_size, num_layers=num_layers, dilation_base=base)
    assert stack.dilations == [base**i for i in range(num_layers)]
    expected = 1 + sum(2 * (kernel_size - 1) * base**i for i in range(num_layers))
    assert stack.receptive_field == expected
    assert [b.dilation_rate for b in stack.blocks] == stack.dilations


def test_causal_output_sees_exactly_the_receptive_field():
    keras.utils.set_random_seed(0)
    # tanh keeps every path alive, so "depends" == "inside the receptive field"
    stack = DilatedResidualStack(4, kernel_size=3, num_layers=4, causal=True, activation="tanh", normalization=None)
    rf = stack.receptive_field
    assert rf == 61
    t = 100
    deps = _dependence(stack, t)
    assert deps.min() == t - rf + 1  # nothing older than the receptive field
    assert deps.max() == t  # nothing from the future


@pytest.mark.parametrize("normalization", [None, "layer", "batch"])
def test_noncausal_output_sees_a_centred_window(normalization):
    keras.utils.set_random_seed(1)
    stack = DilatedResidualStack(4, kernel_size=3, num_layers=3, activation="tanh", normalization=normalization)
    half = (stack.receptive_field - 1) // 2
    t = 80
    deps = _dependence(stack, t)
    assert deps.min() == t - half and deps.max() == t + half


def test_perturbing_outside_receptive_field_changes_nothing():
    keras.utils.set_random_seed(2)
    stack = DilatedResidualStack(3, kernel_size=3, num_layers=3, causal=True, normalization="batch")
    rf = stack.receptive_field
    x = np.random.default_rng(1).normal(size=(1, 120, 2)).astype("float32")
    y = np.asarray(stack(x, training=False))
    t = 90
    x2 = x.copy()
    x2[:, : t - rf + 1] += 5.0  # older than the receptive field of t
    x2[:, t + 1 :] -= 5.0  # the future
    y2 = np.asarray(stack(x2, training=False))
    np.testing.assert_allclose(y2[0, t], y[0, t], atol=1e-5)
    x3 = x.copy()
    x3[:, t - rf + 1] += 5.0  # oldest position inside
    assert not np.allclose(np.asarray(stack(x3, training=False))[0, t], y[0, t])


def test_variable_length_sequences():
    keras.utils.set_random_seed(3)
    inp = keras.Input((None, 4))
    model = keras.Model(inp, DilatedResidualStack(8, num_layers=3)(inp))
    for length in (5, 37, 200):
        assert tuple(model(np.zeros((2, length, 4), "float32")).shape) == (2, length, 8)


def test_translation_equivariant():
    keras.utils.set_random_seed(4)
    stack = DilatedResidualStack(4, kernel_size=3, num_layers=2, normalization="batch")
    assert_translation_equivariant(stack, rank=1, channels=2, shift=7, size=64)


def test_rejects_images():
    with pytest.raises(ValueError, match="batch, time, channels"):
        DilatedResidualStack(4)(np.zeros((1, 8, 8, 3), "float32"))
