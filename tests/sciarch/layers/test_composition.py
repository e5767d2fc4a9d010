"""KmerComposition: k-mer frequencies of token sequences, checked against direct counting."""

import itertools

import numpy as np
import pytest

import keras

from sciarch.layers import KmerComposition


def _count(seq, alphabet_size, k, first_token=1):
    """Reference: frequencies of the k-mers made only of letters, lexicographic order."""
    letters = range(first_token, first_token + alphabet_size)
    kmers = list(itertools.product(letters, repeat=k))
    found = [tuple(seq[i : i + k]) for i in range(len(seq) - k + 1)]
    found = [m for m in found if all(t in letters for t in m)]
    counts = np.array([found.count(m) for m in kmers], "float64")
    return counts / max(len(found), 1)


@pytest.mark.parametrize("k", [[1], [2], [1, 2], [3, 1]])
def test_matches_direct_counting_and_ignores_non_letters(k):
    rng = np.random.default_rng(3)
    tokens = rng.integers(0, 6, size=(5, 15)).astype("int32")  # 0 and 4, 5 are not letters of a 3-letter alphabet
    tokens[0, :] = 0  # no letter at all -> zeros
    out = np.asarray(KmerComposition(3, k=k)(tokens))
    ref = np.stack([np.concatenate([_count(list(row), 3, v) for v in k]) for row in tokens])
    assert out.shape == (5, sum(3**v for v in k))
    np.testing.assert_allclose(out, ref, atol=1e-6)
    assert np.all(out[0] == 0)


def test_blocks_sum_to_one_padding_invariant_and_scaled():
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 21, size=(4, 30)).astype("int32")
    layer = KmerComposition(20, k=[1, 2])
    out = np.asarray(layer(tokens))
    np.testing.assert_allclose(out[:, :20].sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out[:, 20:].sum(1), 1.0, atol=1e-5)
    padded = np.concatenate([tokens, np.zeros((4, 11), "int32")], axis=1)
    np.testing.assert_array_equal(np.asarray(layer(padded)), out)
    scaled = np.asarray(KmerComposition(20, k=[1, 2], scale=True)(tokens))
    np.testing.assert_allclose(scaled[:, :20], out[:, :20] * 20, rtol=1e-6)
    np.testing.assert_allclose(scaled[:, 20:], out[:, 20:] * 400, rtol=1e-5)


def test_pair_order_is_lexicographic_and_sequences_shorter_than_k_give_zeros():
    out = np.asarray(KmerComposition(2, k=[2], first_token=1)(np.array([[2, 1, 0], [1, 0, 0]], "int32")))
    # (B, A) = (2, 1) -> index (2-1) * 2 + (1-1) = 2; the second row has no pair
    assert out.tolist() == [[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]


def test_symbolic_shape_and_no_weights():
    tokens = keras.Input((None,), dtype="int32")
    layer = KmerComposition(20, k=[1, 2])
    assert tuple(layer(tokens).shape) == (None, 420)
    assert layer.weights == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"alphabet_size": 0}, "alphabet_size"),
        ({"alphabet_size": 4, "k": []}, "at least one"),
        ({"alphabet_size": 4, "k": [0]}, "`k`"),
        ({"alphabet_size": 20, "k": [5]}, r"10\^6"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        KmerComposition(**kwargs)
