"""FASTA reading: validation errors name record, position and line; nothing dropped silently."""

import gzip

import pytest

from sciarch.io.fasta import FastaError, read_fasta


def write(tmp_path, text, name="x.fa", gz=False):
    p = tmp_path / (name + (".gz" if gz else ""))
    if gz:
        with gzip.open(p, "wt") as fh:
            fh.write(text)
    else:
        p.write_text(text)
    return p


def test_reads_plain_and_gz_soft_masked(tmp_path):
    text = ">r1 first record\nACGTNacgtn\nAC\n>r2\nTTTT\n"
    for gz in (False, True):
        recs = read_fasta(write(tmp_path, text, gz=gz))
        assert [(r.id, r.sequence, r.line) for r in recs] == [("r1", "ACGTNacgtnAC", 1), ("r2", "TTTT", 4)]
        assert recs[0].description == "r1 first record"


def test_invalid_letter_names_record_position_and_line(tmp_path):
    p = write(tmp_path, ">ok\nACGT\n>bad one\nACGTAC\nGGXTA\n")
    with pytest.raises(FastaError) as e:
        read_fasta(p)
    msg = str(e.value)
    assert str(p) in msg
    assert "record 2 'bad'" in msg and "'X' at position 9" in msg and "line 5" in msg


def test_empty_and_duplicate_records_all_reported(tmp_path):
    p = write(tmp_path, ">a\nACGT\n>empty\n>a\nGG\n>c\nAC*G\n")
    with pytest.raises(FastaError) as e:
        read_fasta(p)
    probs = e.value.problems
    assert len(probs) == 3
    assert any("'empty'" in x and "empty sequence" in x for x in probs)
    assert any("duplicate id 'a'" in x and "first seen as record 1" in x for x in probs)
    assert any("'*' at position 3" in x for x in probs)


def test_ambiguity_codes_error_or_counted(tmp_path):
    p = write(tmp_path, ">a\nACRYN\n")
    with pytest.raises(FastaError, match="'R' at position 3"):
        read_fasta(p)
    (rec,) = read_fasta(p, ambiguous="as_n")
    assert rec.sequence == "ACNNN" and rec.n_ambiguous == 2


def test_not_fasta_and_missing(tmp_path):
    with pytest.raises(FastaError, match="line 1: expected a '>' header"):
        read_fasta(write(tmp_path, "ACGT\n"))
    with pytest.raises(FileNotFoundError):
        read_fasta(tmp_path / "nope.fa")
    with pytest.raises(FastaError, match="no FASTA records"):
        read_fasta(write(tmp_path, "", name="empty.fa"))
