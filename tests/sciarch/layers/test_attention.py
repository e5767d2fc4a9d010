import numpy as np
import pytest
import tensorflow as tf

import keras

from sciarch.layers import MultiHeadSelfAttention, ScaledDotProductAttention, WindowedAttention

RNG = np.random.default_rng(0)


def _qkv(b=2, tq=4, tk=6, d=8, dv=5):
    q = RNG.normal(size=(b, tq, d)).astype("float32")
    k = RNG.normal(size=(b, tk, d)).astype("float32")
    v = RNG.normal(size=(b, tk, dv)).astype("float32")
    return q, k, v


def _softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def test_default_beta_is_inverse_sqrt_dk():
    q, k, v = _qkv()
    out, w = ScaledDotProductAttention(return_attention_scores=True)(q, k, v)
    ref_w = _softmax(q @ k.transpose(0, 2, 1) / np.sqrt(8))
    np.testing.assert_allclose(w, ref_w, atol=1e-6)
    np.testing.assert_allclose(out, ref_w @ v, atol=1e-5)
    assert tuple(w.shape) == (2, 4, 6)


def test_large_beta_is_hard_argmax_lookup():
    q, k, v = _qkv()
    out = np.asarray(ScaledDotProductAttention(inverse_temperature=1e4)(q, k, v))
    best = np.argmax(q @ k.transpose(0, 2, 1), axis=-1)  # [B, Tq]
    lookup = np.take_along_axis(v, best[..., None], axis=1)
    np.testing.assert_allclose(out, lookup, atol=1e-5)


def test_large_beta_lookup_respects_mask():
    q, k, v = _qkv()
    mask = np.ones((2, 6), bool)
    mask[:, 3:] = False
    out = np.asarray(ScaledDotProductAttention(inverse_temperature=1e4)(q, k, v, mask=mask))
    scores = q @ k.transpose(0, 2, 1)
    scores[:, :, 3:] = -np.inf
    best = np.argmax(scores, axis=-1)
    np.testing.assert_allclose(out, np.take_along_axis(v, best[..., None], axis=1), atol=1e-5)


@pytest.mark.parametrize("beta", [0.0, 1e-7])
def test_small_beta_is_mean_of_values(beta):
    q, k, v = _qkv()
    out = np.asarray(ScaledDotProductAttention(inverse_temperature=beta)(q, k, v))
    np.testing.assert_allclose(out, np.broadcast_to(v.mean(1, keepdims=True), out.shape), atol=1e-5)


def test_small_beta_with_mask_is_mean_of_valid_values():
    q, k, v = _qkv()
    mask = np.array([[1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0]], "float32")
    out = np.asarray(ScaledDotProductAttention(inverse_temperature=0.0)(q, k, v, mask=mask))
    for b in range(2):
        valid = mask[b] > 0
        np.testing.assert_allclose(out[b], np.broadcast_to(v[b, valid].mean(0), out[b].shape), atol=1e-5)


def test_masks_bool_float_and_3d_agree_and_empty_rows_give_zero():
    q, k, v = _qkv()
    key_mask = np.array([[1, 0, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0]], "float32")
    layer = ScaledDotProductAttention(return_attention_scores=True)
    out_f, w_f = layer(q, k, v, mask=key_mask)
    out_b, _ = layer(q, k, v, mask=key_mask.astype(bool))
    full = np.broadcast_to(key_mask[:, None, :], (2, 4, 6))
    out_3, _ = layer(q, k, v, mask=full)
    np.testing.assert_allclose(out_f, out_b, atol=1e-6)
    np.testing.assert_allclose(out_f, out_3, atol=1e-6)
    w_f = np.asarray(w_f)
    assert np.all(w_f[0][:, key_mask[0] == 0] == 0)
    np.testing.assert_allclose(w_f[0].sum(-1), 1.0, atol=1e-6)
    assert np.all(np.asarray(out_f)[1] == 0)  # no valid key at all


def test_learnable_beta_is_positive_and_trained():
    q, k, v = _qkv()
    layer = ScaledDotProductAttention(learnable=True)
    layer(q, k, v)
    assert len(layer.trainable_weights) == 1
    assert float(layer.beta()) == pytest.approx(1 / np.sqrt(8), rel=1e-6)
    target = np.take_along_axis(v, np.argmax(q @ k.transpose(0, 2, 1), -1)[..., None], axis=1)
    opt = keras.optimizers.SGD(0.5)
    start = float(layer.beta())
    for _ in range(20):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((layer(q, k, v) - target) ** 2)
        opt.apply_gradients(zip(tape.gradient(loss, layer.trainable_weights), layer.trainable_weights))
    assert float(layer.beta()) > start  # sharper lookup fits the argmax target better
    layer.log_beta.assign(-50.0)
    assert float(layer.beta()) > 0.0
    with pytest.raises(ValueError, match="learnable"):
        ScaledDotProductAttention(inverse_temperature=0.0, learnable=True)


def test_unknown_key_depth_in_functional_model():
    q_in = keras.Input((None, 8))
    out = ScaledDotProductAttention()(q_in, q_in, q_in)
    model = keras.Model(q_in, out)
    q = RNG.normal(size=(2, 5, 8)).astype("float32")
    ref = _softmax(q @ q.transpose(0, 2, 1) / np.sqrt(8)) @ q
    np.testing.assert_allclose(model(q), ref, atol=1e-5)


def test_mhsa_ignores_padded_positions_and_zeroes_them():
    keras.utils.set_random_seed(0)
    layer = MultiHeadSelfAttention(num_heads=2, key_dim=4)
    x = RNG.normal(size=(2, 7, 6)).astype("float32")
    mask = np.ones((2, 7), "float32")
    mask[0, 5:] = 0
    y = np.asarray(layer(x, mask=mask))
    x2 = x.copy()
    x2[0, 5:] = 100.0
    y2 = np.asarray(layer(x2, mask=mask))
    np.testing.assert_allclose(y2, y, atol=1e-5)
    assert np.all(y[0, 5:] == 0)
    _, scores = layer(x, mask=mask, return_attention_scores=True)
    scores = np.asarray(scores)
    assert scores.shape == (2, 2, 7, 7)
    np.testing.assert_allclose(scores[0, :, :5, 5:], 0.0, atol=1e-7)


def test_mhsa_causal_mask():
    keras.utils.set_random_seed(1)
    layer = MultiHeadSelfAttention(num_heads=2, key_dim=4, use_causal_mask=True)
    x = RNG.normal(size=(1, 9, 4)).astype("float32")
    y = np.asarray(layer(x))
    x2 = x.copy()
    x2[:, 6:] += 3.0
    y2 = np.asarray(layer(x2))
    np.testing.assert_allclose(y2[:, :6], y[:, :6], atol=1e-5)
    assert not np.allclose(y2[:, 6:], y[:, 6:])


def _windowed_reference(layer, x, mask=None):
    """Dense O(T^2) reference using the layer's own weights and an explicit band mask."""
    h, d = layer.num_heads, layer._head_dim
    def proj(dense, t):
        return (t @ np.asarray(dense.kernel) + np.asarray(dense.bias)).reshape(t.shape[0], t.shape[1], h, d)
    q, k, v = proj(layer.query_dense, x), proj(layer.key_dense, x), proj(layer.value_dense, x)
    logits = np.einsum("bihd,bjhd->bhij", q, k) / np.sqrt(d)
    t = x.shape[1]
    idx = np.arange(t)
    allowed = np.abs(idx[:, None] - idx[None, :]) <= layer.window // 2
    allowed = np.broadcast_to(allowed, (x.shape[0], 1, t, t)).copy()
    if mask is not None:
        allowed &= mask[:, None, None, :].astype(bool)
    logits = np.where(allowed, logits, -1e30)
    w = _softmax(logits) * allowed
    out = np.einsum("bhij,bjhd->bihd", w, v).reshape(x.shape[0], t, h * d)
    out = out @ np.asarray(layer.output_dense.kernel) + np.asarray(layer.output_dense.bias)
    if mask is not None:
        out = out * mask[..., None]
    return out


@pytest.mark.parametrize("window,heads", [(1, 1), (5, 2), (8, 1), (41, 2)])
def test_windowed_matches_dense_band_reference(window, heads):
    keras.utils.set_random_seed(2)
    layer = WindowedAttention(window=window, num_heads=heads)
    x = RNG.normal(size=(2, 13, 6)).astype("float32")
    mask = np.ones((2, 13), "float32")
    mask[1, 9:] = 0
    y = np.asarray(layer(x, mask=mask))
    np.testing.assert_allclose(y, _windowed_reference(layer, x, mask), atol=1e-5)


def test_windowed_ignores_keys_outside_window():
    keras.utils.set_random_seed(3)
    layer = WindowedAttention(window=5, num_heads=2, key_dim=3)
    x = RNG.normal(size=(1, 20, 4)).astype("float32")
    y = np.asarray(layer(x))
    i = 10
    x_far = x.copy()
    x_far[:, [0, 7, 13, 19]] += 50.0  # |i - j| = 3 or more: outside window 5 (half-width 2)
    np.testing.assert_allclose(np.asarray(layer(x_far))[0, i], y[0, i], atol=1e-5)
    x_near = x.copy()
    x_near[:, 12] += 5.0  # |i - j| = 2: inside
    assert not np.allclose(np.asarray(layer(x_near))[0, i], y[0, i])
    _, w = layer(x, return_attention_scores=True)
    w = np.asarray(w)
    assert w.shape == (1, 20, 2, 5)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(w[0, 0, :, :2], 0.0)  # positions -2, -1 do not exist


def test_windowed_variable_length_functional():
    inp = keras.Input((None, 6))
    model = keras.Model(inp, WindowedAttention(window=7, num_heads=3)(inp))
    for t in (1, 4, 50):
        assert tuple(model(np.zeros((2, t, 6), "float32")).shape) == (2, t, 6)


def test_functional_outputs_with_scores():
    x = keras.Input((None, 6))
    y, scores = MultiHeadSelfAttention(2, 3)(x, return_attention_scores=True)
    out, w = ScaledDotProductAttention(return_attention_scores=True)(y, x, x)
    assert tuple(scores.shape) == (None, 2, None, None)
    assert tuple(out.shape) == (None, None, 6) and tuple(w.shape) == (None, None, None)
    wy, ww = WindowedAttention(3)(x, return_attention_scores=True)
    assert tuple(ww.shape) == (None, None, 1, 3)
    model = keras.Model(x, [out, w, scores, ww])
    res = model(np.zeros((2, 5, 6), "float32"))
    assert tuple(res[1].shape) == (2, 5, 5) and tuple(res[2].shape) == (2, 2, 5, 5)


# ------------------------------------------------------------------ cross-attention, latent pooling
def test_cross_attention_ignores_masked_context_and_context_order():
    from sciarch.layers import MultiHeadCrossAttention

    rng = np.random.default_rng(0)
    q = rng.normal(size=(2, 3, 5)).astype("float32")
    c = rng.normal(size=(2, 7, 4)).astype("float32")
    mask = np.ones((2, 7), "float32")
    mask[0, 4:] = 0.0
    layer = MultiHeadCrossAttention(2, 3, output_dim=6)
    out, w = layer(q, c, mask=mask, return_attention_scores=True)
    assert tuple(out.shape) == (2, 3, 6) and tuple(w.shape) == (2, 2, 3, 7)
    np.testing.assert_allclose(np.asarray(w)[0, :, :, 4:], 0.0)
    np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, atol=1e-5)
    garbage = c.copy()
    garbage[0, 4:] = 1e3  # masked positions carry anything: no effect
    np.testing.assert_allclose(np.asarray(layer(q, garbage, mask=mask)), np.asarray(out), atol=1e-5)
    perm = rng.permutation(7)
    np.testing.assert_allclose(np.asarray(layer(q, c[:, perm], mask=mask[:, perm])), np.asarray(out), atol=1e-5)
    other = c.copy()
    other[1, 0] += 1.0  # an unmasked position does matter
    assert np.abs(np.asarray(layer(q, other, mask=mask))[1] - np.asarray(out)[1]).max() > 1e-4


def test_latent_pooling_is_order_invariant_and_fixed_size():
    from sciarch.layers import LatentAttentionPooling

    rng = np.random.default_rng(1)
    layer = LatentAttentionPooling(4, num_heads=2, key_dim=3, output_dim=5)
    for t in (6, 11):
        x = rng.normal(size=(2, t, 4)).astype("float32")
        y = np.asarray(layer(x))
        assert y.shape == (2, 4, 5)
        np.testing.assert_allclose(np.asarray(layer(x[:, rng.permutation(t)])), y, atol=1e-5)
    with pytest.raises(ValueError, match="LatentAttentionPooling: `num_latents` must be an int >= 1"):
        LatentAttentionPooling(0, 2, 3)
    with pytest.raises(ValueError, match="MultiHeadCrossAttention: `context` must be"):
        from sciarch.layers import MultiHeadCrossAttention

        MultiHeadCrossAttention(2, 3)(np.zeros((2, 3, 4), "float32"), np.zeros((2, 4), "float32"))
