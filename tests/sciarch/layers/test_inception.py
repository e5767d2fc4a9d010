import numpy as np
import pytest

import keras

from sciarch.layers import InceptionBlock

from equivariance import assert_translation_equivariant


@pytest.mark.parametrize("rank", [1, 2])
def test_output_channels_are_the_sum_of_branches(rank):
    x = np.zeros((2,) + (12,) * rank + (7,), "float32")
    y = InceptionBlock(3, 5, 2, 4, bottleneck=4, rank=rank)(x)
    assert tuple(y.shape) == (2,) + (12,) * rank + (14,)


def test_zero_filter_branch_is_dropped():
    block = InceptionBlock(3, 0, 2, 0, rank=1)
    assert tuple(block(np.zeros((1, 9, 4), "float32")).shape) == (1, 9, 5)
    assert block.conv_3x3 is None and block.pool_proj is None


@pytest.mark.parametrize("rank", [1, 2])
def test_bottleneck_uses_fewer_parameters(rank):
    c = 64
    shape = (None,) + (None,) * rank + (c,)
    f1, f3, f5, fp, b = 16, 32, 16, 16, 16
    with_b = InceptionBlock(f1, f3, f5, fp, bottleneck=b, rank=rank)
    with_b.build(shape)
    without = InceptionBlock(f1, f3, f5, fp, bottleneck=None, rank=rank)
    without.build(shape)
    k3, k5 = 3**rank, 5**rank
    expected_b = (c * f1 + f1) + (c * b + b + k3 * b * f3 + f3) + (c * b + b + k5 * b * f5 + f5) + (c * fp + fp)
    expected_nb = (c * f1 + f1) + (k3 * c * f3 + f3) + (k5 * c * f5 + f5) + (c * fp + fp)
    assert with_b.count_params() == expected_b
    assert without.count_params() == expected_nb
    assert with_b.count_params() / without.count_params() < (0.55 if rank == 1 else 0.35)
    # and fewer than one plain 5x5 convolution producing the same 80 channels
    plain = (keras.layers.Conv1D if rank == 1 else keras.layers.Conv2D)(f1 + f3 + f5 + fp, 5)
    plain.build(shape)
    assert with_b.count_params() < (0.3 if rank == 1 else 0.15) * plain.count_params()


@pytest.mark.parametrize("rank", [1, 2])
def test_translation_equivariant(rank):
    keras.utils.set_random_seed(0)
    block = InceptionBlock(2, 3, 2, 2, bottleneck=2, rank=rank)
    assert_translation_equivariant(block, rank=rank, channels=3, shift=3, size=24)


def test_pool_branch_sees_max_of_neighbourhood():
    block = InceptionBlock(0, 0, 0, 1, rank=1, activation=None)
    x = np.zeros((1, 7, 1), "float32")
    x[0, 3, 0] = 1.0
    block(x)
    block.pool_proj.kernel.assign(np.ones((1, 1, 1), "float32"))
    block.pool_proj.bias.assign(np.zeros((1,), "float32"))
    np.testing.assert_allclose(np.asarray(block(x))[0, :, 0], [0, 0, 1, 1, 1, 0, 0])


def test_bad_bottleneck():
    with pytest.raises(ValueError, match="bottleneck"):
        InceptionBlock(1, 1, 1, 1, bottleneck=(2, 3, 4))
    with pytest.raises(ValueError, match="at least one branch"):
        InceptionBlock(0, 0, 0, 0)
