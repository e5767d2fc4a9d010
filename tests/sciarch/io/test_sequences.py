"""Protein FASTA reading and tokenisation."""

import numpy as np
import pytest

from sciarch.io.sequences import (
    PROTEIN_ALPHABET,
    VOCAB_SIZE,
    FastaError,
    SequenceError,
    detokenize_protein,
    read_protein_fasta,
    tokenize_protein,
    tokenize_proteins,
)
from sciarch.pipeline import PROJECT_ROOT


def test_tokenize_pad_truncate_roundtrip():
    seq = "MKVLAAGIW"
    ids = tokenize_protein(seq, max_length=12)
    assert ids.dtype == np.int32 and ids.shape == (12,)
    assert (ids[9:] == 0).all() and (ids[:9] > 0).all() and ids.max() < VOCAB_SIZE
    assert detokenize_protein(ids) == seq
    assert detokenize_protein(tokenize_protein(seq, max_length=4)) == "MKVL"
    assert detokenize_protein(tokenize_protein(seq, max_length=4, truncate="start")) == "AGIW"
    assert tokenize_protein("mkv", 3).tolist() == tokenize_protein("MKV", 3).tolist()
    assert len(set(tokenize_protein(PROTEIN_ALPHABET, None).tolist())) == len(PROTEIN_ALPHABET)
    assert tokenize_proteins(["MK", "V"], max_length=3).tolist() == [
        tokenize_protein("MK", 3).tolist(),
        tokenize_protein("V", 3).tolist(),
    ]


def test_default_length_is_1000():
    assert tokenize_protein("M").shape == (1000,)


def test_illegal_letter_names_record_and_position():
    with pytest.raises(SequenceError, match=r"P12345: invalid letter '\*' at position 4"):
        tokenize_protein("MKV*L", name="P12345")
    with pytest.raises(SequenceError, match="empty"):
        tokenize_protein("", name="x")


def test_read_protein_fasta_real_and_bad(tmp_path):
    davis = read_protein_fasta(PROJECT_ROOT / "data/drugscreen/davis/proteins.fasta")
    assert len(davis) == 442 and "ABL1(E255K)" in davis
    assert min(len(s) for s in davis.values()) > 200
    bad = tmp_path / "bad.fasta"
    bad.write_text(">ok\nMKVL\n>broken desc\nMKVLA\nAAJ1K\n")
    with pytest.raises(FastaError) as info:
        read_protein_fasta(bad)
    msg = str(info.value)
    assert "bad.fasta" in msg and "'broken'" in msg and "position 8" in msg and "line 5" in msg
