import numpy as np
import pytest

import keras

from sciarch.layers import DepthwiseSeparableBlock

from equivariance import assert_translation_equivariant


def _params(layer, shape):
    layer.build(shape)
    return layer.count_params()


@pytest.mark.parametrize("rank", [1, 2])
def test_fewer_parameters_than_plain_convolution(rank):
    c, f, k = 32, 64, 3
    shape = (None,) + (None,) * rank + (c,)
    sep = _params(DepthwiseSeparableBlock(f, kernel_size=k, rank=rank, normalization=None), shape)
    plain_cls = keras.layers.Conv1D if rank == 1 else keras.layers.Conv2D
    plain = _params(plain_cls(f, k, padding="same"), shape)
    # depthwise k^r*C (+C bias) + pointwise C*F (+F bias) vs k^r*C*F (+F bias)
    assert sep == k**rank * c + c + c * f + f
    assert plain == k**rank * c * f + f
    ratio = sep / plain
    assert ratio == pytest.approx((k**rank * c + c + c * f + f) / (k**rank * c * f + f))
    assert ratio < (0.2 if rank == 2 else 0.4)


@pytest.mark.parametrize("rank,strides", [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_shapes_and_strides(rank, strides):
    x = np.zeros((2,) + (16,) * rank + (3,), "float32")
    y = DepthwiseSeparableBlock(8, rank=rank, strides=strides)(x)
    assert tuple(y.shape) == (2,) + (16 // strides,) * rank + (8,)


@pytest.mark.parametrize("rank,strides,shift", [(1, 1, 3), (1, 2, 4), (2, 1, 2)])
def test_translation_equivariant(rank, strides, shift):
    keras.utils.set_random_seed(0)
    block = DepthwiseSeparableBlock(5, kernel_size=3, rank=rank, strides=strides)
    assert_translation_equivariant(block, rank=rank, channels=3, shift=shift, size=32, stride=strides)


def test_depthwise_step_does_not_mix_channels():
    keras.utils.set_random_seed(1)
    block = DepthwiseSeparableBlock(4, rank=1, normalization=None, activation=None)
    x = np.random.default_rng(0).normal(size=(1, 10, 3)).astype("float32")
    block(x)
    mid = np.asarray(block.depthwise(x))
    x2 = x.copy()
    x2[..., 1] += 1.0
    mid2 = np.asarray(block.depthwise(x2))
    np.testing.assert_allclose(mid2[..., [0, 2]], mid[..., [0, 2]], atol=1e-6)


def test_functional_api_unknown_spatial_size():
    inp = keras.Input((None, None, 3))
    out = DepthwiseSeparableBlock(6, rank=2, strides=2)(inp)
    assert tuple(out.shape) == (None, None, None, 6)
