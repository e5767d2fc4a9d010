import numpy as np
import pytest

import keras

from sciarch.layers import AttentionPooling

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("units", [None, 8])
def test_weights_sum_to_one_over_valid_positions(units):
    keras.utils.set_random_seed(0)
    x = RNG.normal(size=(3, 7, 5)).astype("float32")
    mask = np.ones((3, 7), "float32")
    mask[0, 4:] = 0
    mask[2, 1:] = 0
    pooled, w = AttentionPooling(units)(x, mask=mask)
    pooled, w = np.asarray(pooled), np.asarray(w)
    assert pooled.shape == (3, 5) and w.shape == (3, 7)
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-6)
    assert np.all(w[mask == 0] == 0) and np.all(w[mask == 1] > 0)
    np.testing.assert_allclose(pooled, np.einsum("bt,btc->bc", w, x), atol=1e-5)
    np.testing.assert_allclose(pooled[2], x[2, 0], atol=1e-6)  # one valid position


def test_masked_values_do_not_leak_and_bool_mask_agrees():
    keras.utils.set_random_seed(1)
    layer = AttentionPooling(units=4)
    x = RNG.normal(size=(2, 6, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]], "float32")
    p1, _ = layer(x, mask=mask)
    x2 = x.copy()
    x2[0, 3:] = 1e3
    p2, _ = layer(x2, mask=mask.astype(bool))
    np.testing.assert_allclose(p1, p2, atol=1e-5)


def test_permutation_invariant_and_weights_permute():
    keras.utils.set_random_seed(2)
    layer = AttentionPooling(units=6)
    x = RNG.normal(size=(2, 9, 4)).astype("float32")
    perm = RNG.permutation(9)
    p, w = layer(x)
    pp, wp = layer(x[:, perm])
    np.testing.assert_allclose(pp, p, atol=1e-5)
    np.testing.assert_allclose(wp, np.asarray(w)[:, perm], atol=1e-6)


def test_no_valid_position_gives_zeros():
    p, w = AttentionPooling()(np.ones((1, 4, 2), "float32"), mask=np.zeros((1, 4), "float32"))
    assert np.all(np.asarray(p) == 0) and np.all(np.asarray(w) == 0)


def test_functional_api_returns_two_outputs():
    inp = keras.Input((None, 4))
    m = keras.Input((None,))
    pooled, weights = AttentionPooling(5)(inp, mask=m)
    assert tuple(pooled.shape) == (None, 4) and tuple(weights.shape) == (None, None)
    model = keras.Model([inp, m], [pooled, weights])
    out = model([np.zeros((2, 3, 4), "float32"), np.ones((2, 3), "float32")])
    np.testing.assert_allclose(out[1], 1 / 3, atol=1e-6)
