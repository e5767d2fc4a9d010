"""k-mer composition of token sequences: the alignment-free "what is this sequence made of"
summary (amino-acid and dipeptide frequencies of a protein, k-mer spectra of DNA) as a layer.

A convolution followed by a global max pool sees *whether* a motif occurs somewhere; the
composition says *how often* each letter and each k-mer occurs. The two are complementary:
related proteins (kinases of one family, point mutants of one kinase) have close
compositions, so a model that sees both can share what it learns between them.

Example:
    >>> import numpy as np
    >>> from sciarch.layers import KmerComposition
    >>> # tokens 1..4 = A, C, G, T; 0 = padding
    >>> freq = KmerComposition(alphabet_size=4, k=[1])(np.array([[1, 1, 2, 4, 0, 0]], "int32"))
    >>> np.asarray(freq).round(2).tolist()
    [[0.5, 0.25, 0.0, 0.25]]
"""

from __future__ import annotations

import keras
from keras import ops

from sciarch.layers._utils import check_positive_int


@keras.saving.register_keras_serializable(package="sciarch")
class KmerComposition(keras.layers.Layer):
    """Integer token sequences ``[B, L]`` -> k-mer frequencies ``[B, sum_k alphabet_size ** k]``.

    The letters are the token ids ``first_token .. first_token + alphabet_size - 1``; any
    other id (padding, ambiguity codes) is not a letter, and a k-mer counts only when all
    its ``k`` positions are letters, so padding never changes the result. For each ``k`` of
    ``k`` (in the given order) the block holds the counts of the ``alphabet_size ** k``
    k-mers in lexicographic order (the first letter most significant: for k = 2, k-mer
    ``(a, b)`` sits at ``a * alphabet_size + b``), divided by the number of k-mers counted,
    so each block sums to 1 (all zeros for a sequence without one k-mer). With
    ``scale=True`` every block is multiplied by its size, so a uniform composition is 1
    everywhere (handy before a Dense layer). No trainable weights.

    Args:
        alphabet_size: number of letters.
        k: k-mer lengths, e.g. ``[1, 2]`` for letter and pair frequencies.
        first_token: token id of the first letter (1 when 0 is padding).
        scale: multiply each block by ``alphabet_size ** k``.
        **kwargs: standard Layer arguments.

    Example:
        >>> import numpy as np
        >>> from sciarch.layers import KmerComposition
        >>> layer = KmerComposition(alphabet_size=2, k=[1, 2])
        >>> (np.asarray(layer(np.array([[1, 2, 2, 0]], "int32"))) * 6).round(3).tolist()  # ABB: A 1/3, B 2/3; AB 1/2, BB 1/2
        [[2.0, 4.0, 0.0, 3.0, 0.0, 3.0]]
    """

    def __init__(self, alphabet_size: int, k=(1, 2), first_token: int = 1, scale: bool = False, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        check_positive_int(name, "alphabet_size", alphabet_size)
        check_positive_int(name, "first_token", first_token, allow_zero=True)
        k = [int(v) for v in (k if isinstance(k, (list, tuple)) else [k])]
        if not k:
            raise ValueError(f"{name}: `k` must list at least one k-mer length, got {k!r}.")
        for v in k:
            check_positive_int(name, "k", v)
        if sum(alphabet_size**v for v in k) > 1_000_000:
            raise ValueError(f"{name}: {alphabet_size} letters and k = {k} give more than 10^6 k-mers.")
        self.alphabet_size = alphabet_size
        self.k = k
        self.first_token = first_token
        self.scale = bool(scale)

    @property
    def output_dim(self) -> int:
        return sum(self.alphabet_size**v for v in self.k)

    def call(self, tokens):
        a = self.alphabet_size
        t = ops.cast(tokens, "int32") - self.first_token
        valid = ops.logical_and(ops.greater_equal(t, 0), ops.less(t, a))
        t = ops.where(valid, t, 0)
        b = ops.shape(t)[0]
        length = ops.shape(t)[1]
        rows = ops.arange(b, dtype="int32")[:, None]
        blocks = []
        for k in self.k:
            size = a**k
            n = ops.maximum(length - k + 1, 0)
            index = ops.zeros_like(t[:, :n])
            ok = ops.ones_like(valid[:, :n])
            for j in range(k):
                index = index * a + t[:, j : j + n]
                ok = ops.logical_and(ok, valid[:, j : j + n])
            weight = ops.cast(ok, self.compute_dtype)
            ids = rows * size + index
            counts = ops.segment_sum(
                ops.reshape(weight, (-1,)), ops.reshape(ids, (-1,)), num_segments=b * size
            )
            counts = ops.reshape(counts, (b, size))
            total = ops.sum(counts, axis=1, keepdims=True)
            freq = counts / ops.maximum(total, 1.0)
            blocks.append(freq * float(size) if self.scale else freq)
        return blocks[0] if len(blocks) == 1 else ops.concatenate(blocks, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(alphabet_size=self.alphabet_size, k=list(self.k), first_token=self.first_token, scale=self.scale)
        return config
