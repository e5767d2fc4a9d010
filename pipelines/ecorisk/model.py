"""Risk models built from ``sciarch.layers``.

* :func:`build_tabular_model` -- per-record risk for the sample points and the Amazon grid:
  a residual MLP (its logit is added to a linear, logistic-regression path). Each hidden block is a :class:`sciarch.layers.ResidualBlock` with kernel
  size 1 applied to the record seen as a length-1 sequence (a residual Dense block with
  layer normalisation), then a sigmoid head.
* :func:`build_fcn_model` -- per-pixel risk map for the rasters: a 1x1 stem, a stack of
  dilated 2-D :class:`ResidualBlock` s (receptive field grows with the dilations), a
  :class:`DepthwiseSeparableBlock` and a 1x1 head; its logit is added to a per-pixel
  linear (logistic) path whose bias starts at the log-odds of the training prior. Fully convolutional: it is
  trained on patches and applied to a whole raster of any size.

Both output probabilities (``float32``) of the same shape as the target (``[B, 1]`` or
``[B, H, W, 1]``).

Example:
    >>> from pipelines.ecorisk.model import build_fcn_model
    >>> m = build_fcn_model(8, filters=8, dilations=(1, 2))
    >>> m.output_shape
    (None, None, None, 1)
"""

from __future__ import annotations

import keras
import numpy as np

from sciarch.layers.residual import ResidualBlock
from sciarch.layers.separable import DepthwiseSeparableBlock


def _prior_logit(prior):
    if prior is None:
        return 0.0
    prior = float(np.clip(prior, 1e-4, 1 - 1e-4))
    return float(np.log(prior / (1 - prior)))


def build_tabular_model(num_features: int, hidden: int = 64, depth: int = 2, dropout: float = 0.1,
                        prior: float | None = None, name: str = "ecorisk_tabular") -> keras.Model:
    """Residual MLP ``[B, F] -> [B, 1]`` risk, plus a linear (logistic) path to the logit.

    Args:
        num_features: input width F.
        hidden: width of the hidden blocks.
        depth: number of residual blocks.
        dropout: dropout inside each block.
        prior: training share of positives; the logit bias starts at ``log(prior / (1 - prior))``.
    """
    inp = keras.Input((num_features,), name="features")
    h = keras.layers.Reshape((1, num_features), name="as_sequence")(inp)
    for i in range(depth):
        h = ResidualBlock(hidden, kernel_size=1, rank=1, activation="gelu", normalization="layer",
                          dropout=dropout, name=f"block{i}")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    deep = keras.layers.Dense(1, use_bias=False, name="deep_logit")(h)
    linear = keras.layers.Dense(1, bias_initializer=keras.initializers.Constant(_prior_logit(prior)),
                                name="linear_logit")(inp)
    logit = keras.layers.Add(name="logit")([deep, linear])
    out = keras.layers.Activation("sigmoid", dtype="float32", name="risk")(logit)
    return keras.Model(inp, out, name=name)


def build_fcn_model(num_features: int, filters: int = 32, dilations=(1, 2, 4), normalization: str | None = "batch",
                    dropout: float = 0.0, prior: float | None = None, name: str = "ecorisk_fcn") -> keras.Model:
    """Fully-convolutional ``[B, H, W, F] -> [B, H, W, 1]`` risk map, plus a per-pixel linear
    (logistic) path to the logit.

    Args:
        num_features: input channels F.
        filters: channels of the residual stack.
        dilations: one ResidualBlock (3x3 kernels) per entry, with that dilation rate.
        normalization: "batch", "layer", "instance" or None inside the blocks.
        dropout: dropout inside the residual blocks.
        prior: training share of positive pixels; the logit bias starts at its log-odds.
    """
    inp = keras.Input((None, None, num_features), name="layers")
    h = keras.layers.Conv2D(filters, 1, activation="relu", name="stem")(inp)
    for i, d in enumerate(dilations):
        h = ResidualBlock(filters, kernel_size=3, dilation_rate=int(d), rank=2, activation="relu",
                          normalization=normalization, dropout=dropout, name=f"res{i}_d{d}")(h)
    h = DepthwiseSeparableBlock(filters, kernel_size=3, rank=2, normalization=normalization, name="sep")(h)
    deep = keras.layers.Conv2D(1, 1, use_bias=False, name="deep_logit")(h)
    linear = keras.layers.Conv2D(1, 1, bias_initializer=keras.initializers.Constant(_prior_logit(prior)),
                                 name="linear_logit")(inp)
    logit = keras.layers.Add(name="logit")([deep, linear])
    out = keras.layers.Activation("sigmoid", dtype="float32", name="risk")(logit)
    return keras.Model(inp, out, name=name)


def receptive_radius(dilations) -> int:
    """Pixels of context on each side that one output pixel sees (stem 1x1, 2 convs per block, sep 3x3)."""
    return int(sum(2 * int(d) for d in dilations) + 1)


def predict_map(model: keras.Model, features: np.ndarray, tile: int = 512, margin: int = 16,
                batch_size: int = 4, progress: bool = False) -> np.ndarray:
    """Apply a fully-convolutional model to ``features [H, W, F]`` tile by tile.

    Tiles overlap by ``margin`` pixels (use at least the receptive radius), so the result
    equals one pass over the whole raster away from the raster's own border. ``progress``:
    a rich progress bar over the tiles (when there is more than one batch of them).
    """
    h, w, _ = features.shape
    out = np.zeros((h, w), np.float32)
    core = max(tile - 2 * margin, 1)
    jobs = []
    for r0 in range(0, h, core):
        for c0 in range(0, w, core):
            r1, c1 = min(r0 + core, h), min(c0 + core, w)
            jobs.append((r0, c0, r1, c1))
    padded = np.pad(features, ((margin, margin + core), (margin, margin + core), (0, 0)))
    size = core + 2 * margin
    starts = range(0, len(jobs), batch_size)
    if progress and len(starts) > 1:
        from rich.progress import track

        starts = track(starts, description=f"risk map: {len(jobs)} tiles of {size} px, batches of {batch_size}",
                       total=len(starts), transient=False)
    for i in starts:
        chunk = jobs[i:i + batch_size]
        x = np.stack([padded[r0:r0 + size, c0:c0 + size] for r0, c0, _, _ in chunk])
        p = np.asarray(model(x, training=False))[..., 0]
        for (r0, c0, r1, c1), pi in zip(chunk, p):
            out[r0:r1, c0:c1] = pi[margin:margin + r1 - r0, margin:margin + c1 - c0]
    return out
