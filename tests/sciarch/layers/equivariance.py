"""Translation-equivariance check shared by the convolution-block tests."""

import numpy as np


def assert_translation_equivariant(layer, rank, channels, shift, size=40, stride=1, atol=1e-5):
    """Shifting a compactly supported input by ``shift`` shifts the output by
    ``shift // stride`` (inference mode). The signal sits in the middle of a zero field so
    that 'same' padding at the borders sees zeros either way."""
    rng = np.random.default_rng(0)
    spatial = (size,) * rank
    x = np.zeros((2,) + spatial + (channels,), "float32")
    lo, hi = size // 4, size // 2
    body = rng.normal(size=(2,) + (hi - lo,) * rank + (channels,)).astype("float32")
    x[(slice(None),) + (slice(lo, hi),) * rank] = body
    x_shift = np.zeros_like(x)
    x_shift[(slice(None),) + (slice(lo + shift, hi + shift),) * rank] = body
    y = np.asarray(layer(x, training=False))
    y_shift = np.asarray(layer(x_shift, training=False))
    s = shift // stride
    assert s * stride == shift, "shift must be a multiple of the stride"
    n = y.shape[1]
    src = (slice(None),) + (slice(0, n - s),) * rank
    dst = (slice(None),) + (slice(s, n),) * rank
    np.testing.assert_allclose(y_shift[dst], y[src], atol=atol)
    # and the output really moved (the check would pass trivially for a constant output)
    assert not np.allclose(y_shift, y, atol=1e-3)
