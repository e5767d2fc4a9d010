import numpy as np
import pytest

import keras

from sciarch.layers import DiagonalStateSpace

RNG = np.random.default_rng(0)


def _layer(mode="scan", state_dim=8, out=3, c=2, dt=(1e-2, 1e-1)):
    keras.utils.set_random_seed(0)
    layer = DiagonalStateSpace(state_dim, output_dim=out, mode=mode, dt_min=dt[0], dt_max=dt[1])
    layer.build((None, None, c))
    return layer


def _numpy_recurrence(layer, u):
    a, b_bar = (np.asarray(t) for t in layer.discretized())
    c, d = np.asarray(layer.C), np.asarray(layer.D)
    x = np.zeros((u.shape[0], a.shape[0]))
    ys = []
    for t in range(u.shape[1]):
        ys.append(x @ c.T + u[:, t] @ d.T)  # y_t = C x_t + D u_t
        x = a * x + u[:, t] @ b_bar.T  # x_{t+1} = A x_t + B u_t
    return np.stack(ys, 1)


@pytest.mark.parametrize("mode", ["scan", "conv"])
def test_matches_the_state_space_recurrence(mode):
    layer = _layer(mode)
    u = RNG.normal(size=(2, 40, 2)).astype("float32")
    np.testing.assert_allclose(layer(u), _numpy_recurrence(layer, u), atol=1e-4, rtol=1e-4)


def test_scan_and_conv_agree_on_long_sequences():
    scan, conv = _layer("scan"), _layer("conv")
    conv.set_weights(scan.get_weights())
    u = RNG.normal(size=(2, 300, 2)).astype("float32")
    np.testing.assert_allclose(conv(u), scan(u), atol=1e-4, rtol=1e-3)


def test_eigenvalues_inside_unit_circle_for_any_parameters():
    layer = _layer()
    assert np.all((layer.eigenvalues() > 0) & (layer.eigenvalues() < 1))
    layer.log_lambda.assign(np.linspace(-8, 4, 8).astype("float32"))
    layer.log_dt.assign(np.linspace(-6, 1, 8).astype("float32"))
    eig = layer.eigenvalues()
    assert np.all((eig >= 0) & (eig < 1))
    assert eig[-1] == 0.0  # exp(-e^5) underflows: still stable, and must not give NaNs
    layer.log_lambda.assign(np.full(8, -20.0, "float32"))  # lambda * dt below float32 resolution
    assert np.all(layer.eigenvalues() < 1)
    layer.log_lambda.assign(np.linspace(-8, 4, 8).astype("float32"))
    u = RNG.normal(size=(1, 20, 2)).astype("float32")
    for mode in ("scan", "conv"):
        other = _layer(mode)
        other.set_weights(layer.get_weights())
        assert np.all(np.isfinite(other(u)))
    assert np.all(np.isfinite(layer.impulse_response(10)))


def test_impulse_response_decays():
    layer = _layer(dt=(5e-2, 1e-1))
    h = layer.impulse_response(400)
    assert h.shape == (400, 3, 2)
    np.testing.assert_allclose(h[0], np.asarray(layer.D), atol=1e-6)
    a, b_bar = (np.asarray(t) for t in layer.discretized())
    bound = np.linalg.norm(np.asarray(layer.C), 2) * np.linalg.norm(b_bar, 2)
    norms = np.linalg.norm(h[1:], axis=(1, 2), ord=2)
    k = np.arange(len(norms))
    assert np.all(norms <= bound * a.max() ** k * (1 + 1e-4) + 1e-7)  # geometric envelope
    assert norms[-1] < 1e-3 * norms[0]
    # late response is governed by the slowest eigenvalue
    ratio = norms[-1] / norms[-2]
    assert ratio == pytest.approx(a.max(), rel=1e-2)


@pytest.mark.parametrize("mode", ["scan", "conv"])
def test_impulse_response_is_the_response_to_a_delta(mode):
    layer = _layer(mode)
    u = np.zeros((2, 30, 2), "float32")
    u[0, 0, 0] = 1.0
    u[1, 0, 1] = 1.0
    y = np.asarray(layer(u))
    h = layer.impulse_response(30)
    np.testing.assert_allclose(y[0], h[:, :, 0], atol=1e-5)
    np.testing.assert_allclose(y[1], h[:, :, 1], atol=1e-5)


@pytest.mark.parametrize("mode", ["scan", "conv"])
def test_causal_and_masked(mode):
    layer = _layer(mode)
    u = RNG.normal(size=(1, 50, 2)).astype("float32")
    y = np.asarray(layer(u))
    u2 = u.copy()
    u2[:, 30:] = 100.0
    np.testing.assert_allclose(np.asarray(layer(u2))[:, :30], y[:, :30], atol=1e-4)
    mask = np.ones((1, 50), "float32")
    mask[:, 30:] = 0
    ym = np.asarray(layer(u2, mask=mask))
    np.testing.assert_allclose(ym[:, :30], y[:, :30], atol=1e-4)
    assert np.all(ym[:, 30:] == 0)


def test_trains_to_fit_a_moving_average():
    """A real fitting problem: learn the causal exponential moving average of the input."""
    keras.utils.set_random_seed(0)
    u = RNG.normal(size=(32, 60, 1)).astype("float32")
    target = np.zeros_like(u)
    acc = np.zeros((32, 1))
    for t in range(60):
        target[:, t] = acc
        acc = 0.9 * acc + 0.1 * u[:, t]
    inp = keras.Input((None, 1))
    model = keras.Model(inp, DiagonalStateSpace(4, mode="conv", dt_min=1e-2, dt_max=1.0)(inp))
    model.compile(keras.optimizers.Adam(3e-2), "mse")
    before = model.evaluate(u, target, verbose=0)
    model.fit(u, target, epochs=60, batch_size=32, verbose=0)
    after = model.evaluate(u, target, verbose=0)
    assert after < 0.1 * before


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        DiagonalStateSpace(4, mode="fft")
    with pytest.raises(ValueError, match="dt_min"):
        DiagonalStateSpace(4, dt_min=0.1, dt_max=0.01)
    with pytest.raises(ValueError, match="build the layer first"):
        DiagonalStateSpace(4).impulse_response(5)
