import numpy as np
import pytest

import keras

from sciarch.layers import DilatedResidualStack, SiameseEncoder

RNG = np.random.default_rng(0)


def _encoder():
    keras.utils.set_random_seed(0)
    inp = keras.Input((None, 4))
    h = DilatedResidualStack(6, num_layers=2, normalization=None)(inp)
    return keras.Model(inp, keras.layers.GlobalMaxPooling1D()(h))


def _pair():
    return RNG.normal(size=(3, 15, 4)).astype("float32"), RNG.normal(size=(3, 15, 4)).astype("float32")


def test_difference_head_is_antisymmetric():
    siamese = SiameseEncoder(_encoder(), combine="difference")
    a, b = _pair()
    ab, ba = np.asarray(siamese(a, b)), np.asarray(siamese(b, a))
    np.testing.assert_allclose(ab, -ba, atol=1e-6)
    assert np.abs(ab).max() > 1e-3
    np.testing.assert_allclose(siamese(a, a), 0.0, atol=1e-6)


@pytest.mark.parametrize("combine", ["abs_difference", "product"])
def test_symmetric_heads(combine):
    siamese = SiameseEncoder(_encoder(), combine=combine)
    a, b = _pair()
    np.testing.assert_allclose(siamese(a, b), siamese(b, a), atol=1e-6)


def test_concat_head_and_list_call():
    enc = _encoder()
    siamese = SiameseEncoder(enc, combine="concat")
    a, b = _pair()
    out = np.asarray(siamese([a, b]))
    assert out.shape == (3, 12)
    np.testing.assert_allclose(out[:, :6], enc(a), atol=1e-6)
    np.testing.assert_allclose(out[:, 6:], enc(b), atol=1e-6)
    np.testing.assert_allclose(siamese(a, b), out, atol=1e-6)


def test_weights_are_shared_not_duplicated():
    enc = _encoder()
    siamese = SiameseEncoder(enc)
    a, b = _pair()
    siamese(a, b)
    assert len(siamese.weights) == len(enc.weights)
    assert siamese.count_params() == enc.count_params()


def test_functional_siamese_model_is_antisymmetric():
    a_in, b_in = keras.Input((None, 4)), keras.Input((None, 4))
    diff = SiameseEncoder(_encoder(), combine="difference")(a_in, b_in)
    assert tuple(diff.shape) == (None, 6)
    out = keras.layers.Dense(1, use_bias=False)(diff)  # linear, bias-free head stays antisymmetric
    model = keras.Model([a_in, b_in], out)
    a, b = _pair()
    np.testing.assert_allclose(model([a, b]), -np.asarray(model([b, a])), atol=1e-5)


def test_config_round_trip_rebuilds_encoder():
    siamese = SiameseEncoder(_encoder(), combine="product")
    config = siamese.get_config()
    assert config["encoder"]["class_name"] == "Functional"
    clone = SiameseEncoder.from_config(config)
    assert clone.combine == "product" and isinstance(clone.encoder, keras.Model)


def test_bad_arguments():
    with pytest.raises(ValueError, match="combine"):
        SiameseEncoder(_encoder(), combine="sum")
    with pytest.raises(ValueError, match="Keras layer"):
        SiameseEncoder(lambda x: x)
    with pytest.raises(ValueError, match="call with"):
        SiameseEncoder(_encoder())(np.zeros((1, 3, 4), "float32"))
