import numpy as np
import pytest

import keras

from sciarch.layers import InstanceNormalization

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("shape", [(3, 64, 4), (2, 12, 10, 3)])
def test_per_channel_mean_is_beta_and_std_is_gamma(shape):
    x = (RNG.normal(size=shape) * RNG.uniform(0.5, 4, size=shape[-1]) + RNG.normal(size=shape[-1]) * 5).astype("float32")
    layer = InstanceNormalization(epsilon=1e-6)
    layer.build(shape)
    c = shape[-1]
    gamma = RNG.uniform(0.5, 2.0, size=c).astype("float32")
    beta = RNG.normal(size=c).astype("float32")
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    y = np.asarray(layer(x))
    axes = tuple(range(1, len(shape) - 1))
    np.testing.assert_allclose(y.mean(axis=axes), np.broadcast_to(beta, (shape[0], c)), atol=1e-4)
    np.testing.assert_allclose(y.std(axis=axes), np.broadcast_to(gamma, (shape[0], c)), rtol=1e-3)


def test_initial_affine_gives_zero_mean_unit_std():
    x = (RNG.normal(size=(2, 50, 3)) * 7 + 3).astype("float32")
    y = np.asarray(InstanceNormalization()(x))
    np.testing.assert_allclose(y.mean(1), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(1), 1.0, rtol=1e-3)


def test_samples_are_normalised_independently():
    layer = InstanceNormalization()
    x = RNG.normal(size=(2, 20, 3)).astype("float32")
    y = np.asarray(layer(x))
    x2 = x.copy()
    x2[1] = x2[1] * 100 + 50
    np.testing.assert_allclose(np.asarray(layer(x2))[0], y[0], atol=1e-6)


def test_mask_excludes_padding_from_statistics():
    layer = InstanceNormalization()
    x = RNG.normal(size=(2, 10, 3)).astype("float32")
    mask = np.ones((2, 10), "float32")
    mask[0, 6:] = 0
    padded = x.copy()
    padded[0, 6:] = 1e4  # garbage in padding
    y = np.asarray(layer(padded, mask=mask))
    ref = np.asarray(layer(x[:1, :6]))
    np.testing.assert_allclose(y[0, :6], ref[0], atol=1e-5)
    assert np.all(y[0, 6:] == 0)
    np.testing.assert_allclose(np.asarray(layer(padded, mask=mask > 0)), y, atol=1e-6)


def test_without_center_and_scale_has_no_weights():
    layer = InstanceNormalization(center=False, scale=False)
    layer(np.zeros((1, 4, 2), "float32"))
    assert layer.weights == []


def test_rejects_inputs_without_spatial_axis():
    with pytest.raises(ValueError, match="spatial"):
        InstanceNormalization()(np.zeros((2, 3), "float32"))


def test_functional_model_unknown_length():
    inp = keras.Input((None, 5))
    model = keras.Model(inp, InstanceNormalization()(inp))
    assert tuple(model(np.ones((1, 9, 5), "float32")).shape) == (1, 9, 5)
