import numpy as np
import pytest

import keras

from sciarch.layers import LearnedPositionalEncoding, SinusoidalPositionalEncoding


def _reference(t, c, max_wavelength=10000.0):
    pe = np.zeros((t, c))
    pos = np.arange(t)[:, None]
    for ch in range(c):
        i = ch // 2
        angle = pos[:, 0] / max_wavelength ** (2 * i / c)
        pe[:, ch] = np.sin(angle) if ch % 2 == 0 else np.cos(angle)
    return pe


@pytest.mark.parametrize("t,c", [(5, 4), (300, 16), (7, 5)])
def test_sinusoidal_matches_formula_any_length(t, c):
    x = np.random.default_rng(0).normal(size=(2, t, c)).astype("float32")
    y = np.asarray(SinusoidalPositionalEncoding()(x))
    np.testing.assert_allclose(y - x, np.broadcast_to(_reference(t, c), (2, t, c)), atol=2e-4)


def test_sinusoidal_distinguishes_positions_and_variable_length():
    inp = keras.Input((None, 8))
    model = keras.Model(inp, SinusoidalPositionalEncoding(max_wavelength=100)(inp))
    short = np.asarray(model(np.zeros((1, 10, 8), "float32")))[0]
    long = np.asarray(model(np.zeros((1, 1000, 8), "float32")))[0]
    np.testing.assert_allclose(long[:10], short, atol=1e-5)  # prefix-consistent
    distances = np.linalg.norm(short[:, None] - short[None], axis=-1)
    assert np.all(distances[~np.eye(10, dtype=bool)] > 1e-2)  # all positions distinct


def test_learned_adds_table_rows_and_checks_length():
    keras.utils.set_random_seed(0)
    layer = LearnedPositionalEncoding(max_length=16)
    x = np.random.default_rng(1).normal(size=(3, 10, 4)).astype("float32")
    y = np.asarray(layer(x))
    np.testing.assert_allclose(y - x, np.broadcast_to(np.asarray(layer.table)[:10], (3, 10, 4)), atol=1e-6)
    assert tuple(layer.table.shape) == (16, 4)
    with pytest.raises(ValueError, match="exceeds max_length=16"):
        layer(np.zeros((1, 17, 4), "float32"))


def test_learned_in_functional_model_with_unknown_length():
    inp = keras.Input((None, 4))
    model = keras.Model(inp, LearnedPositionalEncoding(max_length=32)(inp))
    assert tuple(model(np.zeros((2, 32, 4), "float32")).shape) == (2, 32, 4)
    assert tuple(model(np.zeros((2, 3, 4), "float32")).shape) == (2, 3, 4)


def test_learned_too_long_in_graph_mode_names_the_limit():
    import tensorflow as tf

    layer = LearnedPositionalEncoding(max_length=8)
    layer.build((None, None, 2))
    fn = tf.function(layer.call, input_signature=[tf.TensorSpec((None, None, 2), tf.float32)])
    assert tuple(fn(tf.zeros((1, 8, 2))).shape) == (1, 8, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_length=8"):
        fn(tf.zeros((1, 9, 2)))
