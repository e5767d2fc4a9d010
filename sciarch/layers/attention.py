"""Attention layers: scaled dot-product with inverse temperature, multi-head self-attention,
windowed (local) self-attention, multi-head cross-attention and latent-query pooling."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from sciarch.layers._utils import bool_mask, check_positive_int


def large_negative(dtype):
    """A finite, very negative logit for masked positions that does not overflow ``dtype``."""
    return float(-0.7 * np.finfo(keras.backend.standardize_dtype(dtype)).max)


def _broadcast_key_mask(mask, logits_rank):
    """Expand a ``[B, Tk]`` (or ``[B, Tq, Tk]``) mask so it broadcasts against the logits."""
    mask = bool_mask(mask)
    while len(mask.shape) < logits_rank:
        # [B, Tk] -> [B, 1, Tk]; [B, Tq, Tk] with heads -> [B, 1, Tq, Tk]
        mask = ops.expand_dims(mask, 1)
    return mask


def masked_softmax(logits, mask):
    """Softmax over the last axis that gives zero weight to masked positions (rows with no
    valid position get all-zero weights instead of a uniform distribution)."""
    if mask is None:
        return ops.softmax(logits, axis=-1)
    mask = ops.broadcast_to(mask, ops.shape(logits))
    logits = ops.where(mask, logits, large_negative(logits.dtype))
    weights = ops.softmax(logits, axis=-1)
    return weights * ops.cast(mask, weights.dtype)


@keras.saving.register_keras_serializable(package="sciarch")
class ScaledDotProductAttention(keras.layers.Layer):
    """``softmax(beta * Q K^T) V`` with an explicit inverse temperature ``beta``.

    ``beta`` sets how sharp the lookup is: as ``beta -> inf`` every query returns the value of
    its best-matching key (a hard argmax lookup, as in a modern Hopfield network), at
    ``beta = 0`` every query returns the mean of the values. ``beta`` is

    * ``1 / sqrt(d_k)`` (Transformer scaling) when ``inverse_temperature`` is None and
      ``learnable=False``;
    * the fixed ``inverse_temperature`` (any value >= 0) when ``learnable=False``;
    * a trainable scalar ``beta = exp(log_beta)`` (always > 0) when ``learnable=True``,
      initialised at ``inverse_temperature`` or ``1 / sqrt(d_k)``.

    Call arguments:
        query: ``[B, Tq, d_k]`` (extra leading axes such as heads are allowed).
        key: ``[B, Tk, d_k]``; defaults to ``query``.
        value: ``[B, Tk, d_v]``; defaults to ``key``.
        mask: ``[B, Tk]`` key mask or ``[B, Tq, Tk]`` attention mask, bool or 0/1 float
            (1/True = may attend). Masked keys get zero weight; a query with no valid key
            returns zeros.

    Returns ``output [B, Tq, d_v]``, and also the attention weights ``[B, Tq, Tk]`` (rows sum
    to 1 over valid keys) when ``return_attention_scores=True``.

    Args:
        inverse_temperature: float or None (see above).
        learnable: make ``beta`` a trainable (log-parametrised, positive) scalar.
        return_attention_scores: also return the attention weights.
        **kwargs: standard Layer arguments.

    Example:

    >>> import numpy as np
    >>> from sciarch.layers import ScaledDotProductAttention
    >>> q = np.random.default_rng(0).normal(size=(2, 3, 8)).astype("float32")
    >>> kv = np.random.default_rng(1).normal(size=(2, 5, 8)).astype("float32")
    >>> out, w = ScaledDotProductAttention(return_attention_scores=True)(q, kv, kv)
    >>> tuple(out.shape), tuple(w.shape)
    ((2, 3, 8), (2, 3, 5))
    """

    def __init__(
        self,
        inverse_temperature=None,
        learnable=False,
        return_attention_scores=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if inverse_temperature is not None:
            inverse_temperature = float(inverse_temperature)
            if learnable and not inverse_temperature > 0:
                raise ValueError(
                    "ScaledDotProductAttention: a learnable `inverse_temperature` must start "
                    f"> 0 (it is log-parametrised), got {inverse_temperature!r}."
                )
            if not inverse_temperature >= 0:
                raise ValueError(
                    "ScaledDotProductAttention: `inverse_temperature` must be >= 0, "
                    f"got {inverse_temperature!r}."
                )
        self.inverse_temperature = inverse_temperature
        self.learnable = bool(learnable)
        self.return_attention_scores = bool(return_attention_scores)
        self.supports_masking = True
        self.log_beta = None

    def build(self, query_shape, key_shape=None, value_shape=None):
        if self.learnable:
            d_k = (key_shape or query_shape)[-1]
            init = self.inverse_temperature
            if init is None:
                if d_k is None:
                    raise ValueError(
                        "ScaledDotProductAttention: the key depth must be known to initialise "
                        "a learnable inverse temperature at 1/sqrt(d_k)."
                    )
                init = 1.0 / math.sqrt(d_k)
            self.log_beta = self.add_weight(
                name="log_beta",
                shape=(),
                initializer=keras.initializers.Constant(math.log(init)),
            )

    def beta(self, d_k=None):
        """The inverse temperature in use (a tensor when learnable, else a float)."""
        if self.log_beta is not None:
            return ops.exp(self.log_beta)
        if self.inverse_temperature is not None:
            return self.inverse_temperature
        if d_k is None:
            raise ValueError("ScaledDotProductAttention.beta: pass d_k for the default 1/sqrt(d_k).")
        return 1.0 / math.sqrt(d_k)

    def call(self, query, key=None, value=None, mask=None):
        if key is None:
            key = query
        if value is None:
            value = key
        d_k = key.shape[-1]
        if d_k is None and self.log_beta is None and self.inverse_temperature is None:
            beta = ops.rsqrt(ops.cast(ops.shape(key)[-1], query.dtype))
        else:
            beta = self.beta(d_k)
        logits = ops.matmul(query, ops.swapaxes(key, -1, -2))
        logits = logits * ops.cast(beta, logits.dtype)
        if mask is not None:
            mask = _broadcast_key_mask(mask, len(logits.shape))
        weights = masked_softmax(logits, mask)
        output = ops.matmul(weights, value)
        if self.return_attention_scores:
            return output, weights
        return output

    def compute_mask(self, query, key=None, value=None, mask=None):
        return None

    def compute_output_shape(self, query_shape, key_shape=None, value_shape=None):
        key_shape = key_shape or query_shape
        value_shape = value_shape or key_shape
        out = tuple(query_shape[:-1]) + (value_shape[-1],)
        if self.return_attention_scores:
            return out, tuple(query_shape[:-1]) + (key_shape[-2],)
        return out

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "inverse_temperature": self.inverse_temperature,
                "learnable": self.learnable,
                "return_attention_scores": self.return_attention_scores,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="sciarch")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Multi-head self-attention over a sequence ``[B, T, C]`` (wraps
    ``keras.layers.MultiHeadAttention`` with ``query = key = value = x``).

    Output has the input's shape ``[B, T, C]``. Padded positions (``mask`` 0/False) are never
    attended to and their outputs are set to zero.

    Call arguments:
        x: ``[B, T, C]``.
        mask: optional ``[B, T]`` padding mask (bool or 0/1 float); Keras masks are used
            automatically.
        return_attention_scores: also return the weights ``[B, num_heads, T, T]``.
        training: dropout switch.

    Args:
        num_heads: number of heads.
        key_dim: size of each head's query/key projection.
        dropout: dropout rate on the attention weights.
        use_causal_mask: position ``i`` only attends to ``j <= i``.
        **kwargs: standard Layer arguments.

    Example:

    >>> import numpy as np
    >>> from sciarch.layers import MultiHeadSelfAttention
    >>> x = np.random.default_rng(0).normal(size=(2, 10, 16)).astype("float32")
    >>> y, w = MultiHeadSelfAttention(4, 8)(x, return_attention_scores=True)
    >>> tuple(y.shape), tuple(w.shape)
    ((2, 10, 16), (2, 4, 10, 10))
    """

    def __init__(self, num_heads, key_dim, dropout=0.0, use_causal_mask=False, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(type(self).__name__, "num_heads", num_heads)
        check_positive_int(type(self).__name__, "key_dim", key_dim)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.dropout = float(dropout)
        self.use_causal_mask = bool(use_causal_mask)
        self.supports_masking = True
        self.mha = keras.layers.MultiHeadAttention(
            num_heads=num_heads, key_dim=key_dim, dropout=self.dropout, name="mha"
        )

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "MultiHeadSelfAttention expects [batch, time, channels] with known channels; "
                f"got shape {tuple(input_shape)}."
            )
        self.mha.build(input_shape, input_shape)

    def call(self, x, mask=None, return_attention_scores=False, training=None):
        attention_mask = None
        m = bool_mask(mask)
        if m is not None:
            # [B, 1, T]: every query may attend to every valid key.
            attention_mask = ops.expand_dims(m, 1)
            attention_mask = ops.broadcast_to(
                attention_mask, (ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[1])
            )
        result = self.mha(
            x,
            x,
            attention_mask=attention_mask,
            use_causal_mask=self.use_causal_mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        if return_attention_scores:
            output, scores = result
        else:
            output, scores = result, None
        if m is not None:
            output = output * ops.expand_dims(ops.cast(m, output.dtype), -1)
        if return_attention_scores:
            return output, scores
        return output

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "dropout": self.dropout,
                "use_causal_mask": self.use_causal_mask,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="sciarch")
class WindowedAttention(keras.layers.Layer):
    """Local multi-head self-attention: position ``i`` attends only to positions ``j`` with
    ``|i - j| <= window // 2`` (``window`` is the full width, e.g. ``window=9`` sees 4
    neighbours on each side plus itself; an even window behaves like the next odd one).

    The sequence is cut into blocks of ``max(window // 2, 1)`` positions and each block attends
    to itself and its two neighbours under a band mask, so memory and time are
    ``O(T * window)`` rather than ``O(T**2)`` and the work is batched matmuls; sequences of
    any length (``None`` time axis) work. Positions outside the sequence and padded positions (``mask`` 0/False) get zero
    weight, and outputs at padded positions are zero.

    Call arguments:
        x: ``[B, T, C]``.
        mask: optional ``[B, T]`` padding mask (bool or 0/1 float).
        return_attention_scores: also return the weights ``[B, T, num_heads, 2 * (window // 2) + 1]``
            over offsets ``-window//2 .. +window//2``.

    Args:
        window: full window width (int >= 1).
        num_heads: number of heads.
        key_dim: per-head projection size (default ``max(1, C // num_heads)``).
        **kwargs: standard Layer arguments.

    Example:

    >>> import numpy as np
    >>> from sciarch.layers import WindowedAttention
    >>> x = np.random.default_rng(0).normal(size=(2, 30, 8)).astype("float32")
    >>> tuple(WindowedAttention(window=5, num_heads=2)(x).shape)
    (2, 30, 8)
    """

    def __init__(self, window, num_heads=1, key_dim=None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        check_positive_int(name, "window", window)
        check_positive_int(name, "num_heads", num_heads)
        if key_dim is not None:
            check_positive_int(name, "key_dim", key_dim)
        self.window = window
        self.half_width = window // 2
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.supports_masking = True
        self.query_dense = None

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "WindowedAttention expects [batch, time, channels] with known channels; "
                f"got shape {tuple(input_shape)}."
            )
        channels = input_shape[-1]
        self._head_dim = self.key_dim or max(1, channels // self.num_heads)
        width = self.num_heads * self._head_dim
        self.query_dense = keras.layers.Dense(width, name="query")
        self.key_dense = keras.layers.Dense(width, name="key")
        self.value_dense = keras.layers.Dense(width, name="value")
        self.output_dense = keras.layers.Dense(channels, name="output")
        for layer in (self.query_dense, self.key_dense, self.value_dense):
            layer.build(input_shape)
        self.output_dense.build(tuple(input_shape[:-1]) + (width,))

    def _split_heads(self, t):
        shape = ops.shape(t)
        return ops.reshape(t, (shape[0], shape[1], self.num_heads, self._head_dim))

    def call(self, x, mask=None, return_attention_scores=False):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        h = self.half_width
        heads, depth = self.num_heads, self._head_dim
        q = self._split_heads(self.query_dense(x)) * (1.0 / math.sqrt(depth))
        k = self._split_heads(self.key_dense(x))
        v = self._split_heads(self.value_dense(x))
        m = bool_mask(mask)
        valid = ops.ones((batch, length), dtype=x.dtype) if m is None else ops.cast(m, x.dtype)

        # Blocked band attention: cut the sequence into blocks of S >= h positions; the keys a
        # query can see all lie in its own block and the two neighbouring ones, so each block
        # attends to 3S keys with batched matmuls and a fixed band mask (O(T * 3S) work).
        size = max(h, 1)
        pad_end = (size - length % size) % size
        blocks = (length + pad_end) // size
        qb = ops.reshape(
            ops.pad(q, ((0, 0), (0, pad_end), (0, 0), (0, 0))), (batch, blocks, size, heads, depth)
        )

        def context(t, tail_shape):
            # one block of padding on each side (invalid positions), then [prev, own, next]
            widths = ((0, 0), (size, pad_end + size)) + ((0, 0),) * len(tail_shape)
            tb = ops.reshape(ops.pad(t, widths), (batch, blocks + 2, size) + tail_shape)
            return ops.concatenate([tb[:, :-2], tb[:, 1:-1], tb[:, 2:]], axis=2)

        k_ctx = context(k, (heads, depth))  # [B, nb, 3S, H, D]
        v_ctx = context(v, (heads, depth))
        valid_ctx = context(valid, ())  # [B, nb, 3S]
        logits = ops.einsum("bnqhd,bnkhd->bnhqk", qb, k_ctx)  # [B, nb, H, S, 3S]
        rel = np.arange(3 * size)[None, :] - size - np.arange(size)[:, None]  # key - query
        band = ops.convert_to_tensor(np.abs(rel) <= h)  # [S, 3S]
        allowed = ops.logical_and(
            band[None, None, None], ops.not_equal(valid_ctx, 0)[:, :, None, None, :]
        )
        weights = masked_softmax(logits, allowed)
        out = ops.einsum("bnhqk,bnkhd->bnqhd", weights, v_ctx)
        out = ops.reshape(out, (batch, blocks * size, heads * depth))[:, :length]
        out = self.output_dense(out)
        if m is not None:
            out = out * ops.expand_dims(valid, -1)
        if not return_attention_scores:
            return out
        # weights per offset o = key - query + h, [B, T, H, 2h + 1]
        offsets = np.arange(2 * h + 1)
        one_hot = (
            np.arange(3 * size)[None, :, None]
            == (np.arange(size)[:, None, None] + size + offsets[None, None, :] - h)
        ).astype(keras.backend.standardize_dtype(weights.dtype))  # [S, 3S, W]
        per_offset = ops.einsum("bnhqk,qkw->bnqhw", weights, ops.convert_to_tensor(one_hot))
        per_offset = ops.reshape(per_offset, (batch, blocks * size, heads, 2 * h + 1))
        return out, per_offset[:, :length]

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {"window": self.window, "num_heads": self.num_heads, "key_dim": self.key_dim}
        )
        return config


@keras.saving.register_keras_serializable(package="sciarch")
class MultiHeadCrossAttention(keras.layers.Layer):
    """Multi-head cross-attention: queries from one set attend over another (a context).

    ``out = W_o concat_h ScaledDotProductAttention(W_q^h q, W_k^h c, W_v^h c)``, each head with
    the inverse temperature ``1 / sqrt(key_dim)``.

    Call arguments:
        query: ``[B, Tq, Cq]``.
        context: ``[B, Tk, Ck]``.
        mask: optional ``[B, Tk]`` context mask (1/True = may be attended); a query with no
            valid context position gets a zero attention result (the output projection's bias).
        return_attention_scores: also return the weights ``[B, num_heads, Tq, Tk]``.

    Returns ``[B, Tq, output_dim]``.

    Args:
        num_heads: number of heads.
        key_dim: size of each head's query/key (and value) projection.
        output_dim: output features (default: ``num_heads * key_dim``).
        **kwargs: standard Layer arguments.

    Example:

    >>> import numpy as np
    >>> from sciarch.layers import MultiHeadCrossAttention
    >>> q = np.random.default_rng(0).normal(size=(2, 1, 6)).astype("float32")
    >>> c = np.random.default_rng(1).normal(size=(2, 9, 4)).astype("float32")
    >>> tuple(MultiHeadCrossAttention(2, 3, output_dim=5)(q, c).shape)
    (2, 1, 5)
    """

    def __init__(self, num_heads, key_dim, output_dim=None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        check_positive_int(name, "num_heads", num_heads)
        check_positive_int(name, "key_dim", key_dim)
        if output_dim is not None:
            check_positive_int(name, "output_dim", output_dim)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.output_dim = output_dim or num_heads * key_dim
        width = num_heads * key_dim
        self.query_proj = keras.layers.Dense(width, use_bias=False, name="query")
        self.key_proj = keras.layers.Dense(width, use_bias=False, name="key")
        self.value_proj = keras.layers.Dense(width, use_bias=False, name="value")
        self.output_proj = keras.layers.Dense(self.output_dim, name="output")
        self.attention = ScaledDotProductAttention(return_attention_scores=True, name="attention")
        self.supports_masking = True  # `mask` is the context mask; the output carries none

    def compute_mask(self, *args, **kwargs):
        return None

    def _check(self, arg, shape):
        if shape is None or len(shape) != 3 or shape[-1] is None:
            raise ValueError(f"{type(self).__name__}: `{arg}` must be [batch, positions, channels] with known "
                             f"channels; got {None if shape is None else tuple(shape)}.")

    def _build_projections(self, query_dim, context_dim):
        self.query_proj.build((None, query_dim))
        self.key_proj.build((None, context_dim))
        self.value_proj.build((None, context_dim))
        self.output_proj.build((None, self.num_heads * self.key_dim))
        self.attention.build((None, self.num_heads, None, self.key_dim))

    def build(self, query_shape, context_shape=None, mask_shape=None):
        self._check("query", query_shape)
        self._check("context", context_shape)
        self._build_projections(query_shape[-1], context_shape[-1])

    def _heads(self, x):  # [B, T, H*dk] -> [B, H, T, dk]
        shape = ops.shape(x)
        return ops.transpose(ops.reshape(x, (shape[0], shape[1], self.num_heads, self.key_dim)), (0, 2, 1, 3))

    def _attend(self, query, context, mask, return_attention_scores):
        q = self._heads(self.query_proj(query))
        k = self._heads(self.key_proj(context))
        v = self._heads(self.value_proj(context))
        if mask is not None:
            mask = ops.expand_dims(ops.expand_dims(bool_mask(mask), 1), 1)  # [B, 1, 1, Tk]
        out, weights = self.attention(q, k, v, mask=mask)  # [B, H, Tq, dk]
        shape = ops.shape(out)
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (shape[0], shape[2], self.num_heads * self.key_dim))
        out = self.output_proj(out)
        return (out, weights) if return_attention_scores else out

    def call(self, query, context, mask=None, return_attention_scores=False):
        return self._attend(query, context, mask, return_attention_scores)

    def compute_output_shape(self, query_shape, context_shape=None, mask_shape=None):
        return (query_shape[0], query_shape[1], self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update({"num_heads": self.num_heads, "key_dim": self.key_dim, "output_dim": self.output_dim})
        return config


@keras.saving.register_keras_serializable(package="sciarch")
class LatentAttentionPooling(MultiHeadCrossAttention):
    """Summarise a set or sequence of any length into ``num_latents`` vectors: learned queries
    cross-attend over it (Perceiver's latent array / Set Transformer's PMA).

    Call arguments:
        x: ``[B, T, C]``.
        mask: optional ``[B, T]`` (1/True = valid position).
        return_attention_scores: also return the weights ``[B, num_heads, num_latents, T]``.

    Returns ``[B, num_latents, output_dim]``, invariant to the order of the positions.

    Args:
        num_latents: number of learned queries (output slots).
        num_heads: number of heads.
        key_dim: size of each head's query/key (and value) projection.
        output_dim: output features (default: ``num_heads * key_dim``).
        **kwargs: standard Layer arguments.

    Example:

    >>> import numpy as np
    >>> from sciarch.layers import LatentAttentionPooling
    >>> x = np.random.default_rng(0).normal(size=(2, 9, 4)).astype("float32")
    >>> tuple(LatentAttentionPooling(3, num_heads=2, key_dim=4)(x).shape)
    (2, 3, 8)
    """

    def __init__(self, num_latents, num_heads, key_dim, output_dim=None, **kwargs):
        super().__init__(num_heads, key_dim, output_dim=output_dim, **kwargs)
        check_positive_int(type(self).__name__, "num_latents", num_latents)
        self.num_latents = num_latents
        self.latents = None

    def build(self, x_shape, mask_shape=None):
        self._check("x", x_shape)
        self.latents = self.add_weight(name="latents", shape=(self.num_latents, x_shape[-1]), initializer="glorot_uniform")
        self._build_projections(x_shape[-1], x_shape[-1])

    def call(self, x, mask=None, return_attention_scores=False):
        b = ops.shape(x)[0]
        query = ops.broadcast_to(ops.cast(self.latents, x.dtype)[None], (b, self.num_latents, self.latents.shape[-1]))
        return self._attend(query, x, mask, return_attention_scores)

    def compute_output_shape(self, x_shape, mask_shape=None):
        return (x_shape[0], self.num_latents, self.output_dim)

    def get_config(self):
        config = super().get_config()
        config["num_latents"] = self.num_latents
        return config
