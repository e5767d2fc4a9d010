"""Splice-site networks: dilated residual 1D-CNN -> bidirectional RNN -> attention -> softmax.

Two heads on one trunk:

* ``build_window_model`` classifies the junction at the centre of a window
  (neither / acceptor / donor): CNN motif scanner at full resolution, max-pooling,
  BiLSTM/BiGRU, optional multi-head self-attention, then :class:`AttentionPooling`
  over the sequence, concatenated with the CNN features of the central positions
  (the motif itself), and a softmax.
* ``build_nucleotide_model`` labels every position (SpliceAI style): the input is the
  block to label plus ``context // 2`` nt each side; SpliceAI's residual stages (receptive
  field = the context: 80 / 400 / 2,000 / 10,000 nt) run over the whole input, the flanks
  are cropped, then the BiRNN and (windowed) self-attention run over the block before the
  per-position softmax. The time axis is ``None`` so any block length works.

Everything comes from :mod:`sciarch.layers` and plain Keras layers.

Example:
    >>> from pipelines.genomics.model import build_window_model
    >>> m = build_window_model(width=60, filters=8, num_layers=2, rnn_units=8, attention_heads=1,
    ...                        key_dim=8, hidden=8)
    >>> m.output_shape
    (None, 3)
    >>> from pipelines.genomics.model import receptive_field, stages_for
    >>> [receptive_field(stages_for(c)) for c in (80, 400, 2000, 10000)]
    [80, 400, 2000, 10000]
"""

from __future__ import annotations

import keras

from sciarch.layers import (AttentionPooling, DilatedResidualStack, MultiHeadSelfAttention, ResidualBlock,
                            WindowedAttention)

#: layer names the report looks up
POOLING_LAYER = "attention_pooling"
SELF_ATTENTION_LAYER = "self_attention"


def _trunk(x, filters, stem_kernel, kernel_size, num_layers, dilation_base, dropout):
    x = keras.layers.Conv1D(filters, stem_kernel, padding="same", name="motif_scanner")(x)
    x = keras.layers.BatchNormalization(synchronized=True, name="motif_bn")(x)
    x = keras.layers.Activation("relu", name="motif_relu")(x)
    x = DilatedResidualStack(filters, kernel_size=kernel_size, num_layers=num_layers, dilation_base=dilation_base,
                             normalization="batch", dropout=dropout, name="dilated_stack")(x)
    return x


def _rnn(x, rnn, units):
    if rnn == "none":
        return x
    cell = keras.layers.LSTM if rnn == "lstm" else keras.layers.GRU
    return keras.layers.Bidirectional(cell(units, return_sequences=True), name=f"bi{rnn}")(x)


def build_window_model(
    width: int,
    filters: int = 32,
    stem_kernel: int = 11,
    kernel_size: int = 5,
    num_layers: int = 4,
    dilation_base: int = 2,
    dropout: float = 0.1,
    pool: int = 2,
    rnn: str = "lstm",
    rnn_units: int = 32,
    attention_heads: int = 2,
    key_dim: int = 16,
    centre_radius: int = 12,
    hidden: int = 64,
    linear_radius: int = 40,
) -> keras.Model:
    """Window classifier ``[B, width, 4] -> [B, 3]`` (neither, acceptor, donor).

    ``linear_radius > 0`` adds a linear read-out of the one-hot bases within that many nt
    of the junction straight to the logits (a learned position-specific scoring matrix,
    "wide and deep"): it learns fast from few examples, the deep path adds the rest.
    """
    if width < 2 * centre_radius + 2:
        raise ValueError(f"width {width} is too small for centre_radius {centre_radius}")
    inp = keras.Input((width, 4), name="sequence")
    feat = _trunk(inp, filters, stem_kernel, kernel_size, num_layers, dilation_base, dropout)
    h = width // 2
    centre = keras.layers.Cropping1D((h - centre_radius, width - h - centre_radius), name="centre")(feat)
    centre = keras.layers.Flatten(name="centre_flat")(centre)
    x = keras.layers.MaxPooling1D(pool, padding="same", name="pool")(feat) if pool > 1 else feat
    x = _rnn(x, rnn, rnn_units)
    if attention_heads > 0:
        a = MultiHeadSelfAttention(attention_heads, key_dim, dropout=dropout, name=SELF_ATTENTION_LAYER)(x)
        x = keras.layers.LayerNormalization(name="attention_norm")(keras.layers.Add(name="attention_residual")([x, a]))
    pooled, _ = AttentionPooling(units=hidden, name=POOLING_LAYER)(x)
    z = keras.layers.Concatenate(name="features")([pooled, centre])
    z = keras.layers.Dropout(dropout, name="head_dropout")(z)
    z = keras.layers.Dense(hidden, activation="relu", name="head_hidden")(z)
    logits = keras.layers.Dense(3, name="deep_logits")(z)
    if linear_radius > 0:
        r = min(linear_radius, h, width - h)
        lin = keras.layers.Cropping1D((h - r, width - h - r), name="linear_window")(inp)
        lin = keras.layers.Dense(3, name="linear_logits")(keras.layers.Flatten(name="linear_flat")(lin))
        logits = keras.layers.Add(name="logits")([logits, lin])
    out = keras.layers.Activation("softmax", dtype="float32", name="splice_class")(logits)
    return keras.Model(inp, out, name="splice_window_net")


#: SpliceAI's residual stages per flanking context: (kernel, dilation, blocks); each block has two
#: convolutions, so a stage adds 2 * (kernel - 1) * dilation * blocks nt of receptive field
#: (80 / 400 / 2,000 / 10,000 nt in total, Jaganathan et al. 2019)
SPLICEAI_STAGES = {
    80: ((11, 1, 4),),
    400: ((11, 1, 4), (11, 4, 4)),
    2000: ((11, 1, 4), (11, 4, 4), (21, 10, 4)),
    10000: ((11, 1, 4), (11, 4, 4), (21, 10, 4), (41, 25, 4)),
}


def stages_for(context: int) -> tuple[tuple[int, int, int], ...]:
    """Residual stages whose receptive field covers ``context`` nt: SpliceAI's ladder rung for
    80 / 400 / 2,000 / 10,000, else the smallest rung at least as wide."""
    for c in sorted(SPLICEAI_STAGES):
        if c >= context:
            return SPLICEAI_STAGES[c]
    return SPLICEAI_STAGES[10000]


def receptive_field(stages) -> int:
    """Flanking context (nt, both sides together) the residual stages see."""
    return sum(2 * (k - 1) * d * n for k, d, n in stages)


def build_nucleotide_model(
    context: int,
    filters: int = 32,
    stages=None,
    dropout: float = 0.0,
    rnn: str = "lstm",
    rnn_units: int = 32,
    attention_heads: int = 2,
    key_dim: int = 16,
    attention_window: int | None = 65,
) -> keras.Model:
    """Per-nucleotide labeller ``[B, L + context, 4] -> [B, L, 3]`` (SpliceAI layout).

    A 1x1 stem, then residual stages ``stages`` (``(kernel, dilation, blocks)`` each; default
    :func:`stages_for` ``(context)``) with SpliceAI's 1x1 skip connections summed after every
    stage; the ``context // 2`` flank positions each side are cropped, and the bidirectional
    RNN and (windowed) self-attention run over the block's positions only, so their cost does
    not grow with the context. ``rnn="none"`` / ``attention_heads=0`` give the ablations. The
    softmax is float32 under a mixed-precision policy.
    """
    if context % 2:
        raise ValueError(f"context must be even, got {context}")
    stages = tuple(tuple(s) for s in (stages or stages_for(context)))
    inp = keras.Input((None, 4), name="sequence")
    x = keras.layers.Conv1D(filters, 1, name="stem")(inp)
    skip = keras.layers.Conv1D(filters, 1, name="skip_0")(x)
    for i, (k, dil, n) in enumerate(stages, 1):
        for j in range(n):
            x = ResidualBlock(filters, kernel_size=k, dilation_rate=dil, normalization="batch", dropout=dropout,
                              name=f"stage{i}_block{j}")(x)
        skip = keras.layers.Add(name=f"skip_sum_{i}")([skip, keras.layers.Conv1D(filters, 1, name=f"skip_{i}")(x)])
    x = skip
    if context:
        x = keras.layers.Cropping1D((context // 2, context // 2), name="crop_context")(x)
    x = _rnn(x, rnn, rnn_units)
    if attention_heads > 0:
        if attention_window:
            a = WindowedAttention(attention_window, num_heads=attention_heads, key_dim=key_dim,
                                  name=SELF_ATTENTION_LAYER)(x)
        else:
            a = MultiHeadSelfAttention(attention_heads, key_dim, dropout=dropout, name=SELF_ATTENTION_LAYER)(x)
        x = keras.layers.LayerNormalization(name="attention_norm")(keras.layers.Add(name="attention_residual")([x, a]))
    x = keras.layers.Dense(filters, activation="relu", name="head_hidden")(x)
    out = keras.layers.Dense(3, activation="softmax", dtype="float32", name="splice_class")(x)
    return keras.Model(inp, out, name="splice_nucleotide_net")
