"""Diagonal linear state-space layer (S4D-style, real diagonal, zero-order-hold discretised)."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from sciarch.layers._utils import bool_mask, check_choice, check_positive_int

MIN_DECAY = 1e-6  # smallest lambda * dt, keeps A = exp(-lambda * dt) strictly below 1


@keras.saving.register_keras_serializable(package="sciarch")
class DiagonalStateSpace(keras.layers.Layer):
    """Linear time-invariant state-space model over ``[B, T, C]`` sequences:

        ``x_{t+1} = A x_t + B u_t``,   ``y_t = C x_t + D u_t``,   ``x_0 = 0``

    with a diagonal, always-stable ``A``. Each state ``n`` has a continuous decay rate
    ``lambda_n = exp(log_lambda_n) > 0`` and step ``dt_n = exp(log_dt_n)``; the zero-order-hold
    discretisation gives ``A_n = exp(-lambda_n * dt_n)`` in ``[0, 1)`` (inside the unit circle
    for any parameter values; ``lambda * dt`` is clipped below at 1e-6 so ``A < 1`` holds in
    float32, and ``A`` may underflow to 0 for very fast states) and ``B_bar = (1 - A) / lambda * B``. ``log_dt`` starts
    log-uniform in ``[dt_min, dt_max]`` and ``lambda_n = n + 1`` (S4D-Real), so the states
    cover time scales from about ``1 / dt_max`` to ``1 / (state_dim * dt_min)`` steps.

    The output at ``t`` depends on ``u_s`` for ``s <= t`` only (causal). Two equivalent ways
    to run it: ``mode="scan"`` runs the recurrence step by step (``O(T)`` sequential),
    ``mode="conv"`` convolves with the kernel ``C diag(A^k) B_bar`` via FFT (``O(T log T)``,
    parallel over time).

    Call arguments:
        u: ``[B, T, C_in]``.
        mask: optional ``[B, T]``; outputs at masked positions are set to zero (padding at the
            end of a sequence cannot affect earlier outputs because the layer is causal).

    Returns ``[B, T, output_dim]`` (``output_dim`` defaults to ``C_in``).

    Args:
        state_dim: size ``N`` of the diagonal state.
        output_dim: output channels (default: input channels).
        mode: "scan" or "conv".
        dt_min: smallest initial step.
        dt_max: largest initial step.
        **kwargs: standard Layer arguments.

    Example:

    >>> import numpy as np
    >>> from sciarch.layers import DiagonalStateSpace
    >>> ssm = DiagonalStateSpace(state_dim=16, output_dim=8, mode="conv")
    >>> tuple(ssm(np.zeros((2, 50, 4), "float32")).shape)
    (2, 50, 8)
    >>> h = ssm.impulse_response(20)  # [20, output_dim, C_in]: h[0] = D, h[k] = C A^(k-1) B_bar
    >>> tuple(h.shape)
    (20, 8, 4)
    """

    MODES = ("scan", "conv")

    def __init__(self, state_dim, output_dim=None, mode="scan", dt_min=1e-3, dt_max=1e-1, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        check_positive_int(name, "state_dim", state_dim)
        if output_dim is not None:
            check_positive_int(name, "output_dim", output_dim)
        check_choice(name, "mode", mode, self.MODES)
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"{name}: need 0 < dt_min <= dt_max, got dt_min={dt_min}, dt_max={dt_max}.")
        self.state_dim = state_dim
        self.output_dim = output_dim
        self.mode = mode
        self.dt_min = float(dt_min)
        self.dt_max = float(dt_max)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "DiagonalStateSpace expects [batch, time, channels] with known channels; "
                f"got shape {tuple(input_shape)}."
            )
        c_in = input_shape[-1]
        out = self.output_dim or c_in
        self._input_dim = c_in
        self._out_dim = out
        n = self.state_dim
        self.log_lambda = self.add_weight(
            name="log_lambda",
            shape=(n,),
            initializer=keras.initializers.Constant(np.log(np.arange(1, n + 1, dtype="float32"))),
        )
        lo, hi = math.log(self.dt_min), math.log(self.dt_max)
        self.log_dt = self.add_weight(
            name="log_dt",
            shape=(n,),
            initializer=keras.initializers.RandomUniform(lo, hi) if hi > lo else keras.initializers.Constant(lo),
        )
        self.B = self.add_weight(
            name="B", shape=(n, c_in), initializer=keras.initializers.RandomNormal(stddev=1.0)
        )
        self.C = self.add_weight(
            name="C",
            shape=(out, n),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(n)),
        )
        self.D = self.add_weight(name="D", shape=(out, c_in), initializer="glorot_uniform")

    def _log_a(self):
        # log A = -lambda * dt, computed without taking the log of A (A may underflow to 0).
        # Clipped to <= -1e-6 so that A < 1 strictly even in float32 (memory <= ~1e6 steps).
        return -ops.maximum(ops.exp(self.log_lambda + self.log_dt), MIN_DECAY)

    def discretized(self):
        """Return ``(A [N], B_bar [N, C_in])`` of the discrete-time system (A in [0, 1))."""
        lam = ops.exp(self.log_lambda)
        a = ops.exp(self._log_a())
        b_bar = ops.expand_dims((1.0 - a) / lam, -1) * self.B
        return a, b_bar

    def eigenvalues(self):
        """Eigenvalues of the discrete transition matrix ``A`` (numpy, all in (0, 1))."""
        return ops.convert_to_numpy(self.discretized()[0])

    def impulse_response(self, length):
        """Response ``h [length, output_dim, C_in]`` to a unit impulse at t = 0:
        ``h[0] = D`` and ``h[k] = C diag(A^(k-1)) B_bar`` for ``k >= 1`` (numpy)."""
        check_positive_int(type(self).__name__, "length", length)
        if not self.built:
            raise ValueError("DiagonalStateSpace.impulse_response: call or build the layer first.")
        _, b_bar = self.discretized()
        k = ops.cast(ops.arange(max(length - 1, 0)), b_bar.dtype)
        powers = ops.exp(ops.expand_dims(k, -1) * ops.expand_dims(self._log_a(), 0))  # [L-1, N]
        tail = ops.einsum("on,ln,nc->loc", self.C, powers, b_bar)
        h = ops.concatenate([ops.expand_dims(self.D, 0), tail], axis=0)
        return ops.convert_to_numpy(h)

    def _states_scan(self, v, a):
        # v: [B, T, N] -> states x_t (before adding v_t), x_0 = 0
        xs = ops.transpose(v, (1, 0, 2))

        def step(x, v_t):
            return a * x + v_t, x

        init = ops.zeros_like(xs[0])
        if keras.backend.backend() == "tensorflow":
            # tf.scan bounds its while loop (maximum_iterations = T), which XLA needs to
            # differentiate through it; keras.ops.scan's TF loop has no bound and fails to
            # compile under jit_compile=True (Keras 3.15).
            import tensorflow as tf

            states = tf.scan(lambda x, v_t: a * x + v_t, xs, initializer=init)
            # tf.scan returns x_{t+1}; shift by one step to get x_t (x_0 = 0)
            states = ops.concatenate([init[None], states[:-1]], axis=0)
        else:
            _, states = ops.scan(step, init, xs)
        return ops.transpose(states, (1, 0, 2))

    def _states_conv(self, v, log_a):
        # x_t = sum_{s<t} a^(t-1-s) v_s : causal convolution with kernel K[0]=0, K[k]=a^(k-1)
        length = ops.shape(v)[1]
        vt = ops.transpose(v, (0, 2, 1))  # [B, N, T]
        k = ops.cast(ops.arange(length), log_a.dtype)  # 0..T-1
        kernel = ops.exp(ops.expand_dims(log_a, -1) * ops.expand_dims(ops.maximum(k - 1.0, 0.0), 0))
        kernel = kernel * ops.cast(ops.greater(k, 0), log_a.dtype)  # [N, T]
        fft_length = 2 * length
        vr, vi = ops.rfft(vt, fft_length=fft_length)
        kr, ki = ops.rfft(kernel, fft_length=fft_length)
        real = vr * kr - vi * ki
        imag = vr * ki + vi * kr
        states = ops.irfft((real, imag), fft_length=fft_length)[..., :length]
        return ops.transpose(states, (0, 2, 1))

    def call(self, u, mask=None):
        a, b_bar = self.discretized()
        a = ops.cast(a, u.dtype)
        b_bar = ops.cast(b_bar, u.dtype)
        v = ops.einsum("btc,nc->btn", u, b_bar)
        if self.mode == "scan":
            states = self._states_scan(v, a)
        else:
            states = self._states_conv(v, ops.cast(self._log_a(), u.dtype))
        y = ops.einsum("btn,on->bto", states, ops.cast(self.C, u.dtype))
        y = y + ops.einsum("btc,oc->bto", u, ops.cast(self.D, u.dtype))
        m = bool_mask(mask)
        if m is not None:
            y = y * ops.expand_dims(ops.cast(m, y.dtype), -1)
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim or input_shape[-1],)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "state_dim": self.state_dim,
                "output_dim": self.output_dim,
                "mode": self.mode,
                "dt_min": self.dt_min,
                "dt_max": self.dt_max,
            }
        )
        return config
