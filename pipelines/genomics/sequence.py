"""Sequence coordinates, classes and one-hot encoding of the genomics pipeline.

Coordinates used throughout
---------------------------
* A **site** is the exon base next to the intron, as in the ``*.splice_sites.tsv`` files:
  for a donor the last exon base before the intron, for an acceptor the first exon base
  after it (transcript sense). ``pos0`` is its 0-based index in a genome piece (+ strand).
* A **window** is cut in transcript sense (reverse-complemented for minus-strand sites)
  so that the exon/intron junction lies between indices ``h - 1`` and ``h`` with
  ``h = width // 2``: a donor has ``GT`` at ``[h, h + 2)``, an acceptor ``AG`` at
  ``[h - 2, h)``. Positions outside the piece are padded with ``N``.
* Classes: 0 = neither, 1 = acceptor, 2 = donor (SpliceAI's order).

Example:
    >>> from pipelines.genomics.sequence import cut_window, revcomp
    >>> seq = "AAAACAGGTAAGTTTT"          # + strand; a donor junction between 6 and 7
    >>> cut_window(seq, 7, "+", 8)
    'ACAGGTAA'
    >>> cut_window(revcomp(seq), len(seq) - 7, "-", 8) == cut_window(seq, 7, "+", 8)
    True
"""

from __future__ import annotations

import re

import numpy as np

CLASSES = ("neither", "acceptor", "donor")
NEITHER, ACCEPTOR, DONOR = 0, 1, 2
KIND_TO_CLASS = {"acceptor": ACCEPTOR, "donor": DONOR}

_COMP = str.maketrans("ACGTNacgtn", "TGCANtgcan")
_LUT = np.full(256, 4, dtype=np.int8)
for _i, _c in enumerate("ACGT"):
    _LUT[ord(_c)] = _i
    _LUT[ord(_c.lower())] = _i
_EYE = np.concatenate([np.eye(4, dtype=np.uint8), np.zeros((1, 4), np.uint8)])


class GenomicsDataError(ValueError):
    """A data file of the genomics pipeline is malformed (message names file and line)."""

def revcomp(seq: str) -> str:
    """Reverse complement (case and N preserved)."""
    return seq.translate(_COMP)[::-1]

def base_codes(seq: str) -> np.ndarray:
    """``int8`` base codes of a sequence (A, C, G, T = 0..3, anything else 4 = N)."""
    return _LUT[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)].astype(np.int8)

def encode(seqs: list[str] | str, length: int | None = None) -> np.ndarray:
    """One-hot encode sequences into ``uint8 [n, L, 4]`` (A, C, G, T; N = all zeros).

    Shorter sequences are right-padded with N to ``length`` (default: the longest).
    """
    if isinstance(seqs, str):
        seqs = [seqs]
    length = length or max((len(s) for s in seqs), default=0)
    idx = np.full((len(seqs), length), 4, dtype=np.int8)
    for i, s in enumerate(seqs):
        b = np.frombuffer(s.encode("ascii", "replace")[:length], dtype=np.uint8)
        idx[i, : len(b)] = _LUT[b]
    return _EYE[idx]

def pad_slice(seq: str, a: int, b: int) -> str:
    """``seq[a:b]`` with N where the range leaves the sequence."""
    n = len(seq)
    left = "N" * max(0, -a)
    right = "N" * max(0, b - max(n, a))
    return left + seq[max(0, a) : max(0, min(b, n))] + right

def cut_window(seq: str, junction: int, strand: str, width: int) -> str:
    """Transcript-sense window of ``width`` nt around the + strand junction index
    ``junction`` (the junction lies between ``junction - 1`` and ``junction``); the window's
    junction is at ``width // 2``. Minus-strand windows are reverse-complemented."""
    h = width // 2
    if strand == "+":
        return pad_slice(seq, junction - h, junction + width - h)
    return revcomp(pad_slice(seq, junction - (width - h), junction + h))

def junction_of(pos0: int, strand: str, kind: str) -> int:
    """+ strand junction index of a site whose exon base is at 0-based ``pos0``."""
    if (strand == "+") == (kind == "donor"):
        return pos0 + 1
    return pos0

def candidate_type(window: str) -> tuple[bool, bool]:
    """(is a GT donor candidate, is an AG acceptor candidate) for a transcript-sense window."""
    h = len(window) // 2
    w = window.upper()
    return w[h : h + 2] == "GT", w[h - 2 : h] == "AG"

def candidates_in(tseq: str) -> dict[str, np.ndarray]:
    """Exon-base offsets in a transcript-sense string of GT donor / AG acceptor candidates."""
    u = tseq.upper()
    donor = np.array([m.start() - 1 for m in re.finditer("(?=GT)", u) if m.start() >= 1], dtype=np.int64)
    acceptor = np.array([m.start() + 2 for m in re.finditer("(?=AG)", u) if m.start() + 2 < len(u)], dtype=np.int64)
    return {"donor": donor, "acceptor": acceptor}
