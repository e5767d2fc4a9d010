import numpy as np
import pytest

import keras

from sciarch.layers import ResidualBlock

from equivariance import assert_translation_equivariant


def test_output_shape_and_projection_only_when_channels_change():
    keras.utils.set_random_seed(0)
    same = ResidualBlock(4, normalization=None)
    same(np.zeros((1, 10, 4), "float32"))
    assert same.projection is None
    wider = ResidualBlock(6, normalization=None)
    assert tuple(wider(np.zeros((1, 10, 4), "float32")).shape) == (1, 10, 6)
    assert wider.projection is not None
    assert tuple(wider.projection.kernel.shape) == (1, 4, 6)


def test_identity_skip_when_residual_branch_is_zero():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(2, 16, 4)).astype("float32")
    block = ResidualBlock(4, normalization=None, activation="relu")
    block(x)
    block.conv2.kernel.assign(np.zeros(block.conv2.kernel.shape, "float32"))
    block.conv2.bias.assign(np.zeros(block.conv2.bias.shape, "float32"))
    np.testing.assert_allclose(block(x), np.maximum(x, 0.0), atol=1e-6)


def test_projection_skip_when_residual_branch_is_zero():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(2, 16, 3)).astype("float32")
    block = ResidualBlock(5, normalization=None, activation="relu")
    block(x)
    block.conv2.kernel.assign(np.zeros(block.conv2.kernel.shape, "float32"))
    block.conv2.bias.assign(np.zeros(block.conv2.bias.shape, "float32"))
    w = np.asarray(block.projection.kernel)[0]
    b = np.asarray(block.projection.bias)
    np.testing.assert_allclose(block(x), np.maximum(x @ w + b, 0.0), atol=1e-5)


@pytest.mark.parametrize("normalization", ["batch", "layer", None])
def test_translation_equivariant_1d(normalization):
    keras.utils.set_random_seed(1)
    block = ResidualBlock(6, kernel_size=3, dilation_rate=2, normalization=normalization)
    assert_translation_equivariant(block, rank=1, channels=3, shift=5)


def test_translation_equivariant_2d():
    keras.utils.set_random_seed(2)
    block = ResidualBlock(4, kernel_size=3, rank=2, normalization="batch")
    assert_translation_equivariant(block, rank=2, channels=3, shift=3)


def test_causal_block_ignores_the_future():
    keras.utils.set_random_seed(3)
    block = ResidualBlock(4, kernel_size=3, dilation_rate=2, causal=True, normalization=None)
    x = np.random.default_rng(0).normal(size=(1, 30, 2)).astype("float32")
    y = np.asarray(block(x))
    x2 = x.copy()
    x2[:, 20:] += 10.0
    y2 = np.asarray(block(x2))
    np.testing.assert_allclose(y2[:, :20], y[:, :20], atol=1e-6)
    assert not np.allclose(y2[:, 20:], y[:, 20:])
    assert block.receptive_field == 1 + 2 * 2 * 2


def test_bad_arguments_are_rejected_with_names():
    with pytest.raises(ValueError, match="causal"):
        ResidualBlock(4, rank=2, causal=True)
    with pytest.raises(ValueError, match="normalization"):
        ResidualBlock(4, normalization="group")
    with pytest.raises(ValueError, match="filters"):
        ResidualBlock(0)
    with pytest.raises(ValueError, match="rank 3"):
        ResidualBlock(4, rank=1)(np.zeros((1, 4, 4, 2), "float32"))


def test_functional_api_with_unknown_length():
    x = keras.Input((None, 4))
    y = ResidualBlock(8, normalization="instance")(x)
    assert tuple(y.shape) == (None, None, 8)
    model = keras.Model(x, y)
    assert tuple(model(np.zeros((2, 7, 4), "float32")).shape) == (2, 7, 8)
