"""Protein sequences: validated FASTA reading (Biopython) and integer tokenisation.

Reading goes through :func:`sciarch.io.fasta.read_fasta` (``Bio.SeqIO`` underneath) with
the protein alphabet, so an illegal letter stops with a message naming the file, the
record id, the 1-based position in the sequence and the line of the file.

Tokens: ``0`` is padding, the letters of :data:`PROTEIN_ALPHABET` are ``1..25`` (the 20
standard amino acids first, then the ambiguity / rare codes X, B, Z, U, O). Sequences
longer than ``max_length`` are truncated (from the end by default, i.e. the N-terminal
``max_length`` residues are kept), shorter ones are padded with zeros on the right.

Example:
    >>> from sciarch.io.sequences import tokenize_protein, detokenize_protein
    >>> ids = tokenize_protein("MKV", max_length=5)
    >>> ids.tolist()
    [11, 9, 18, 0, 0]
    >>> detokenize_protein(ids)
    'MKV'
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Literal

import numpy as np

from sciarch.io.fasta import FastaError, read_fasta

__all__ = [
    "PROTEIN_ALPHABET",
    "STANDARD_AMINO_ACIDS",
    "VOCAB_SIZE",
    "DEFAULT_MAX_LENGTH",
    "FastaError",
    "SequenceError",
    "read_protein_fasta",
    "tokenize_protein",
    "tokenize_proteins",
    "detokenize_protein",
    "check_protein",
    "looks_like_nucleotide",
]

STANDARD_AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
#: letters accepted in protein sequences (upper case; lower case is accepted and upper-cased)
PROTEIN_ALPHABET = STANDARD_AMINO_ACIDS + "XBZUO"
#: number of token ids including padding (0)
VOCAB_SIZE = len(PROTEIN_ALPHABET) + 1
DEFAULT_MAX_LENGTH = 1000

_LUT = np.zeros(256, dtype=np.int32)
_VALID = np.zeros(256, dtype=bool)
for _i, _c in enumerate(PROTEIN_ALPHABET, 1):
    for _cc in (_c, _c.lower()):
        _LUT[ord(_cc)] = _i
        _VALID[ord(_cc)] = True
_INV = np.array(["", *PROTEIN_ALPHABET])


class SequenceError(ValueError):
    """An invalid protein sequence (illegal letter / empty). Names the record and position."""


def check_protein(seq: str, name: str = "sequence") -> None:
    """Raise :class:`SequenceError` naming ``name`` and the 1-based position of the first
    letter outside :data:`PROTEIN_ALPHABET` (either case), or if ``seq`` is empty."""
    if not seq:
        raise SequenceError(f"{name}: empty protein sequence")
    raw = np.frombuffer(seq.encode("latin-1", errors="replace"), dtype=np.uint8)
    bad = np.flatnonzero(~_VALID[raw])
    if bad.size:
        p = int(bad[0])
        more = f" (+{bad.size - 1} more)" if bad.size > 1 else ""
        raise SequenceError(
            f"{name}: invalid letter {seq[p]!r} at position {p + 1}{more}; allowed: {PROTEIN_ALPHABET} (either case)"
        )


def tokenize_protein(
    seq: str,
    max_length: int | None = DEFAULT_MAX_LENGTH,
    *,
    truncate: Literal["end", "start"] = "end",
    name: str = "sequence",
) -> np.ndarray:
    """Token ids (int32) of one sequence, padded / truncated to ``max_length``.

    Args:
        seq: amino-acid letters.
        max_length: output length; ``None`` = the sequence's own length (no padding).
        truncate: ``"end"`` drops residues past ``max_length`` (keeps the N-terminus);
            ``"start"`` keeps the C-terminal ``max_length`` residues.
        name: used in the error message (e.g. the FASTA record id).

    Raises:
        SequenceError: empty sequence or a letter outside :data:`PROTEIN_ALPHABET`.
    """
    check_protein(seq, name)
    ids = _LUT[np.frombuffer(seq.encode("latin-1"), dtype=np.uint8)]
    if max_length is None:
        return ids.astype(np.int32)
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    if ids.size > max_length:
        ids = ids[:max_length] if truncate == "end" else ids[-max_length:]
    out = np.zeros(max_length, dtype=np.int32)
    out[: ids.size] = ids
    return out


def tokenize_proteins(
    seqs: Iterable[str], max_length: int = DEFAULT_MAX_LENGTH, *, names: Iterable[str] | None = None, **kwargs
) -> np.ndarray:
    """Stack :func:`tokenize_protein` over several sequences -> int32 ``[n, max_length]``."""
    seqs = list(seqs)
    names = list(names) if names is not None else [f"sequence {i + 1}" for i in range(len(seqs))]
    out = np.zeros((len(seqs), max_length), dtype=np.int32)
    for i, (s, n) in enumerate(zip(seqs, names)):
        out[i] = tokenize_protein(s, max_length, name=n, **kwargs)
    return out


def detokenize_protein(ids) -> str:
    """Inverse of :func:`tokenize_protein` (padding dropped, upper case)."""
    ids = np.asarray(ids)
    return "".join(_INV[ids[ids > 0]])


#: a record of at least this many letters, all of them nucleotide codes, is taken for DNA/RNA
NUCLEOTIDE_MIN_LENGTH = 10
_NUCLEOTIDE = frozenset("ACGTUN")


def looks_like_nucleotide(seq: str) -> bool:
    """True when ``seq`` has at least :data:`NUCLEOTIDE_MIN_LENGTH` letters and only A, C, G, T/U
    and N (either case): a DNA/RNA sequence given where a protein is expected.

    Example:
        >>> looks_like_nucleotide("ACGTACGTNNACGT"), looks_like_nucleotide("MKVLAAGIC")
        (True, False)
    """
    return len(seq) >= NUCLEOTIDE_MIN_LENGTH and set(seq.upper()) <= _NUCLEOTIDE


def read_protein_fasta(
    path: str | Path, *, allow_duplicates: bool = False, allow_nucleotide: bool = False
) -> dict[str, str]:
    """Read a protein FASTA file -> ``{record id: upper-case sequence}`` in file order.

    Every record is validated against :data:`PROTEIN_ALPHABET`; all problems are raised
    together as :class:`sciarch.io.fasta.FastaError` naming file, record, position and line.
    A record that holds only nucleotide letters (see :func:`looks_like_nucleotide`) raises
    :class:`SequenceError` (``"<file> record <id>: looks like a nucleotide sequence (ACGT/N
    only), expected protein"``) unless ``allow_nucleotide``.
    """
    records = read_fasta(path, PROTEIN_ALPHABET, allow_duplicates=allow_duplicates)
    out: dict[str, str] = {}
    for r in records:
        if not allow_nucleotide and looks_like_nucleotide(r.sequence):
            kind = "ACGU/N" if "U" in r.sequence.upper() else "ACGT/N"
            raise SequenceError(f"{path} record {r.id}: looks like a nucleotide sequence ({kind} only), expected protein")
        out.setdefault(r.id, r.sequence.upper())
    return out
