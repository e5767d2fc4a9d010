"""FASTA reading with validation (a thin wrapper on Biopython's ``Bio.SeqIO``).

Nucleotide FASTA files are parsed with :func:`Bio.SeqIO.parse` and every record is
checked before it is returned:

* letters outside the alphabet (``ACGTN`` by default, case-insensitive: soft-masked
  lower case is normal) -> error naming the file, the record id, the 1-based position
  in the record and the 1-based line of the file;
* empty records -> error naming the record;
* duplicate record ids -> error naming the id and both record numbers.

All problems of a file are collected and raised together as one :class:`FastaError`
(first few listed, total counted), so nothing is dropped silently. IUPAC ambiguity
codes (``R``, ``Y``, ``S`` ...) can instead be turned into ``N`` with
``ambiguous="as_n"``; the number of replaced letters is then recorded on each record
(``FastaRecord.n_ambiguous``) so callers can report it.

Plain and gzip-compressed (``.gz``) files are both accepted.

Example:
    >>> import tempfile, os
    >>> from sciarch.io.fasta import read_fasta
    >>> path = os.path.join(tempfile.mkdtemp(), "x.fa")
    >>> _ = open(path, "w").write(">a first\\nACGTacgt\\n>b\\nNNAC\\n")
    >>> [(r.id, r.sequence) for r in read_fasta(path)]
    [('a', 'ACGTacgt'), ('b', 'NNAC')]
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from Bio import SeqIO

__all__ = [
    "FastaError",
    "FastaRecord",
    "IUPAC_AMBIGUOUS",
    "open_text",
    "read_fasta",
    "iter_fasta",
    "check_sequence",
    "write_fasta",
]

#: IUPAC nucleotide ambiguity codes (besides N) that ``ambiguous="as_n"`` maps to N
IUPAC_AMBIGUOUS = "RYSWKMBDHV"

_MAX_LISTED = 10


class FastaError(ValueError):
    """A FASTA file failed validation. ``problems`` holds one entry per problem.

    The message is ONE line (``<file>: <n> problem(s) in FASTA input: <p1>; <p2>; ...``, the
    first few listed and the rest counted), so a command line can print it as its error line.
    """

    def __init__(self, path: str | Path, problems: list[str]):
        self.path = str(path)
        self.problems = [_one_line(p) for p in problems]
        listed = "; ".join(self.problems[:_MAX_LISTED])
        more = len(self.problems) - _MAX_LISTED
        tail = f"; ... and {more} more problem(s)" if more > 0 else ""
        super().__init__(f"{self.path}: {len(self.problems)} problem(s) in FASTA input: {listed}{tail}")


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) if ("\n" in str(text) or "\r" in str(text)) else str(text)


@dataclass
class FastaRecord:
    """One validated FASTA record.

    Args:
        id: record id (first word of the header).
        description: the full header line without ``>``.
        sequence: the sequence, case preserved (lower case = soft-masked).
        index: 0-based record number in the file.
        line: 1-based line number of the header in the file.
        n_ambiguous: IUPAC ambiguity letters replaced by N (``ambiguous="as_n"`` only).
    """

    id: str
    description: str
    sequence: str
    index: int
    line: int
    n_ambiguous: int = 0

    def __len__(self) -> int:
        return len(self.sequence)


def open_text(path: str | Path):
    """Open a plain or gzip-compressed text file for reading (detected by magic bytes)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="ascii", errors="replace")
    return open(path, encoding="ascii", errors="replace")


_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    (b"\xff\xfe", "UTF-16 (little-endian)"),
    (b"\xfe\xff", "UTF-16 (big-endian)"),
)


def _open_binary(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


@dataclass
class _Scan:
    headers: list[int]  # 1-based line of every header, in order
    widths: list[list[int]]  # per record: the letters on each of its sequence lines
    problems: list[str]


def _scan(path: Path) -> _Scan:
    """One pass over the raw bytes: header lines, sequence line widths, and every problem that
    would stop a text parser (encoding, byte-order marks, NUL bytes, text before the first
    header, an unreadable gzip stream). Problems name the line (and the record, when in one)."""
    headers: list[int] = []
    widths: list[list[int]] = []
    problems: list[str] = []
    seen_content = False
    i = 0

    ids: list[str] = []

    def where(line_no: int) -> str:
        if not headers:
            return f"line {line_no}"
        return f"record {len(headers)} '{ids[-1]}' (line {headers[-1]}), line {line_no}"

    try:
        with _open_binary(path) as fh:
            for i, raw in enumerate(fh, 1):
                if i == 1:
                    for bom, name in _BOMS:
                        if raw.startswith(bom):
                            raise FastaError(
                                path, [f"line 1: the file is {name} encoded (byte-order mark); convert it to ASCII/UTF-8 text"]
                            )
                    if raw.startswith(b"\xef\xbb\xbf"):
                        raw = raw[3:]
                if b"\x00" in raw:
                    col = raw.index(b"\x00") + 1
                    problems.append(f"{where(i)}: NUL byte at column {col} (binary or UTF-16 data?)")
                    if len(problems) > 100:
                        break
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    problems.append(
                        f"{where(i)}: not valid UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
                    )
                    if len(problems) > 100:
                        break
                    continue
                if text.startswith(">"):
                    head = text[1:].split(None, 1)
                    ids.append(head[0] if head else "")
                    headers.append(i)
                    widths.append([])
                    seen_content = True
                    continue
                stripped = "".join(text.split())
                if not seen_content:
                    if stripped:
                        problems.append(f"line {i}: expected a '>' header line, got {stripped[:40]!r}")
                        seen_content = True
                    continue
                if headers:
                    widths[-1].append(len(stripped))
                if not stripped.isascii():
                    bad = next(c for c in stripped if not c.isascii())
                    problems.append(f"{where(i)}: non-ASCII letter {bad!r} in a sequence line")
    except FastaError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        problems.append(f"line {i + 1}: cannot read the (compressed) file beyond line {i} ({_one_line(exc)})")
    return _Scan(headers, widths, problems)


def _open_validated(path: Path):
    """Text of a file :func:`_scan` found clean (strict UTF-8, a leading UTF-8 BOM dropped)."""
    return io.TextIOWrapper(_open_binary(path), encoding="utf-8-sig", errors="strict", newline="\n")


def check_sequence(seq: str, alphabet: str = "ACGTN") -> list[tuple[int, str]]:
    """Return ``[(1-based position, letter), ...]`` of letters outside ``alphabet``
    (case-insensitive). Empty list means the sequence is valid.

    Example:
        >>> check_sequence("ACGxT")
        [(4, 'x')]
    """
    bad = re.compile("[^" + re.escape(alphabet.upper() + alphabet.lower()) + "]")
    return [(m.start() + 1, m.group()) for m in bad.finditer(seq)]


def _line_of(seq_start_line: int, record_text_widths: list[int] | None, pos: int) -> int | None:
    if not record_text_widths:
        return None
    acc = 0
    for k, w in enumerate(record_text_widths):
        acc += w
        if pos <= acc:
            return seq_start_line + k
    return None


def iter_fasta(
    path: str | Path,
    alphabet: str = "ACGTN",
    *,
    ambiguous: str = "error",
    allow_empty: bool = False,
    allow_duplicates: bool = False,
) -> Iterator[FastaRecord]:
    """Parse and validate ``path``; yield records once the whole file has passed.

    Args:
        path: FASTA file, plain or ``.gz``.
        alphabet: allowed letters (case-insensitive).
        ambiguous: ``"error"`` (IUPAC codes are errors) or ``"as_n"`` (replace them by N
            and count them in ``FastaRecord.n_ambiguous``).
        allow_empty: accept records with an empty sequence.
        allow_duplicates: accept repeated record ids.

    Raises:
        FastaError: listing every problem (record id, position, line) in one line; this
            includes bytes that are not UTF-8 text, a UTF-16/32 byte-order mark, NUL bytes,
            text before the first header and a corrupt or truncated gzip stream.
        FileNotFoundError: the file does not exist.
    """
    if ambiguous not in ("error", "as_n"):
        raise ValueError(f"ambiguous must be 'error' or 'as_n', got {ambiguous!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    problems: list[str] = []
    records: list[FastaRecord] = []
    seen: dict[str, int] = {}
    scan = _scan(path)
    if scan.problems:
        raise FastaError(path, scan.problems)
    headers = scan.headers
    with _open_validated(path) as fh:
        for i, rec in enumerate(SeqIO.parse(fh, "fasta")):
            seq = str(rec.seq)
            line = headers[i] if i < len(headers) else 0
            where = f"record {i + 1} '{rec.id}' (line {line})"
            if not seq:
                if not allow_empty:
                    problems.append(f"{where}: empty sequence")
            n_amb = 0
            bad = check_sequence(seq, alphabet)
            if bad and ambiguous == "as_n":
                amb = set(IUPAC_AMBIGUOUS + IUPAC_AMBIGUOUS.lower())
                chars = list(seq)
                for pos, letter in bad:
                    if letter in amb:
                        chars[pos - 1] = "N" if letter.isupper() else "n"
                        n_amb += 1
                seq = "".join(chars)
                bad = [(p, c) for p, c in bad if c not in amb]
            if bad:
                widths = scan.widths[i] if i < len(scan.widths) else None
                pos, letter = bad[0]
                fline = _line_of(line + 1, widths, pos)
                at_line = f", line {fline}" if fline else ""
                extra = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
                problems.append(
                    f"{where}: invalid letter {letter!r} at position {pos}{at_line}{extra}; "
                    f"allowed: {alphabet} (either case)"
                )
            if rec.id in seen and not allow_duplicates:
                problems.append(f"{where}: duplicate id '{rec.id}' (first seen as record {seen[rec.id] + 1})")
            seen.setdefault(rec.id, i)
            records.append(FastaRecord(rec.id, rec.description, seq, i, line, n_amb))
    if not records and not problems:
        problems.append("no FASTA records found")
    if problems:
        raise FastaError(path, problems)
    yield from records


def read_fasta(path: str | Path, alphabet: str = "ACGTN", **kwargs) -> list[FastaRecord]:
    """Like :func:`iter_fasta`, as a list."""
    return list(iter_fasta(path, alphabet, **kwargs))


def write_fasta(path: str | Path, records, width: int = 60) -> Path:
    """Write ``[(id_or_header, sequence), ...]`` as FASTA (gzip when the name ends in .gz)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as fh:
        for head, seq in records:
            fh.write(f">{head}\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i : i + width] + "\n")
    return path
