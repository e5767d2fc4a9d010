"""Library files: formats, layout (:class:`LibrarySpec`), read errors and raw chunks.

The format comes from the file name (:func:`detect_format`); CSV-like layouts (``.csv``,
``.tsv``, ``.cxsmiles``, Parquet) name their SMILES and id columns (found among common names
when not given). The readers that cut files into :class:`RawChunk` objects are
:mod:`sciarch.screening.readers.text` and :mod:`sciarch.screening.readers.parquet`.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "UTF8_BOM",
    "LibraryReadError",
    "LibrarySpec",
    "RawChunk",
    "check_text_encoding",
    "detect_format",
]

_SMILES_COLUMN_GUESSES = ("smiles", "canonical_smiles", "smi", "isomeric_smiles", "mol", "molecule")
_ID_COLUMN_GUESSES = ("id", "name", "zinc_id", "compound_id", "mol_id", "molecule_id", "chembl_id", "title")


class LibraryReadError(RuntimeError):
    """The library file could not be read (missing, unknown format, UTF-16 text, truncated/corrupt gzip ...).

    The message (one line) names the file and, where known, the line reached.
    ``unread_from_line`` is set when the file could be read only up to a point: the
    1-based line from which nothing could be read (every record before it was yielded).
    """

    def __init__(self, message: str, unread_from_line: int | None = None):
        super().__init__(message)
        self.unread_from_line = unread_from_line


_TEXT_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)", "FF FE 00 00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)", "00 00 FE FF", "UTF-32"),
    (b"\xff\xfe", "UTF-16 (little-endian)", "FF FE", "UTF-16"),
    (b"\xfe\xff", "UTF-16 (big-endian)", "FE FF", "UTF-16"),
)
UTF8_BOM = b"\xef\xbb\xbf"


def check_text_encoding(path: str | os.PathLike, head: bytes) -> None:
    """Refuse a library that is not UTF-8/ASCII text, judging by its first (decompressed) bytes.

    A UTF-16/32 byte-order mark, or a start made mostly of NUL bytes (UTF-16 without a
    byte-order mark, a binary file), raises :class:`LibraryReadError` with one line naming
    the file: read byte by byte as UTF-8 every record would be rejected. A UTF-8 byte-order
    mark is fine (it is skipped).
    """
    for bom, name, hexes, codec in _TEXT_BOMS:
        if head.startswith(bom):
            raise LibraryReadError(
                f"{path}: line 1: the file is {name} text (byte-order mark {hexes}), not UTF-8; "
                f"convert it first, e.g. iconv -f {codec} -t UTF-8"
            )
    sample = head[:4096]
    if len(sample) >= 16 and sample.count(0) * 4 >= len(sample):
        raise LibraryReadError(
            f"{path}: line 1: {100 * sample.count(0) // len(sample)}% of the first {len(sample):,} bytes are NUL: "
            "UTF-16/32 text without a byte-order mark or a binary file, not UTF-8 text; convert it first"
        )


def detect_format(path: str | os.PathLike) -> tuple[str, bool]:
    """Return ``(kind, gzipped)`` with kind one of ``"smi"``, ``"csv"``, ``"sdf"``, ``"parquet"``.

    ``.cxsmiles`` (Enamine REAL) is a tab-separated ``"csv"`` library with a header.
    """
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    gz = bool(suffixes) and suffixes[-1] in (".gz", ".gzip")
    if gz:
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    if ext in (".smi", ".smiles", ".txt", ".ism", ".can"):
        return "smi", gz
    if ext in (".csv", ".tsv", ".cxsmiles", ".cxsmi"):
        return "csv", gz
    if ext in (".sdf", ".mol", ".sd"):
        return "sdf", gz
    if ext in (".parquet", ".pq") and not gz:
        return "parquet", False
    raise LibraryReadError(
        f"{path}: cannot tell the library format from the file name (expected .smi, .csv, .tsv, .cxsmiles or "
        ".sdf, optionally followed by .gz, or .parquet)"
    )


@dataclass(frozen=True)
class LibrarySpec:
    """Where a library is and how its records are laid out.

    Args:
        path: the library file.
        kind: ``"smi"``, ``"csv"``, ``"sdf"`` or ``"parquet"``.
        gzipped: the file is gzip-compressed.
        delimiter: CSV field separator (``","``; ``"\\t"`` for ``.tsv`` and ``.cxsmiles``).
        smiles_column / id_column: CSV column names (``id_column=None``: ids from line numbers);
            for SDF, ``id_column`` names a data field (``None``: the title line).
        smiles_index / id_index: resolved CSV column positions (set by :meth:`resolve`).
        header_lines: lines before the first record (1 for CSV).
    """

    path: str
    kind: str
    gzipped: bool = False
    delimiter: str = ","
    smiles_column: str | None = None
    id_column: str | None = None
    smiles_index: int = 0
    id_index: int | None = None
    header_lines: int = 0
    columns: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_path(
        cls,
        path: str | os.PathLike,
        *,
        smiles_column: str | None = None,
        id_column: str | None = None,
        delimiter: str | None = None,
        kind: str | None = None,
    ) -> "LibrarySpec":
        """Build a spec from a file name (format from the suffix) and resolve CSV columns."""
        p = Path(path)
        if not p.exists():
            raise LibraryReadError(f"{p}: library file not found")
        if not p.is_file():
            raise LibraryReadError(f"{p}: not a regular file")
        det_kind, gz = detect_format(p)
        kind = kind or det_kind
        if delimiter is None:
            delimiter = "\t" if any(s.lower() in (".tsv", ".cxsmiles", ".cxsmi") for s in p.suffixes) else ","
        spec = cls(str(p), kind, gz, delimiter, smiles_column, id_column)
        if kind == "parquet":
            return spec._resolve_parquet()
        check_text_encoding(p, spec._head())
        if kind == "csv":
            spec = spec._resolve_csv()
        elif kind == "smi" and smiles_column is not None:
            raise LibraryReadError(f"{p}: --smiles-column applies to .csv/.tsv libraries only")
        return spec

    def open_binary(self) -> io.BufferedIOBase:
        fh = open(self.path, "rb")
        return gzip.GzipFile(fileobj=fh, mode="rb") if self.gzipped else fh

    def _head(self, n: int = 4096) -> bytes:
        """The first ``n`` (decompressed) bytes; whatever can be read (errors surface when reading)."""
        out = b""
        try:
            with open(self.path, "rb") as fh:
                raw = fh.read(n if not self.gzipped else 1 << 16)
            if not self.gzipped:
                return raw
            d = zlib.decompressobj(wbits=31)
            for k in range(0, len(raw), 512):
                out += d.decompress(raw[k : k + 512])
                if len(out) >= n or d.eof:
                    break
        except (OSError, zlib.error):
            pass
        return out[:n]

    def _resolve_csv(self) -> "LibrarySpec":
        try:
            with self.open_binary() as fh:
                first = fh.readline()
        except (OSError, EOFError, zlib.error) as exc:
            raise LibraryReadError(f"{self.path}: cannot read the header line: {exc}") from None
        try:
            text = first.decode("utf-8-sig").rstrip("\r\n")
        except UnicodeDecodeError:
            raise LibraryReadError(f"{self.path}: line 1 (header) is not valid UTF-8") from None
        if not text.strip():
            raise LibraryReadError(f"{self.path}: line 1: empty header line (a CSV library needs column names)")
        columns = tuple(c.strip() for c in next(csv.reader([text], delimiter=self.delimiter)))
        return self._with_columns(columns, header_lines=1, where="line 1: ")

    def _resolve_parquet(self) -> "LibrarySpec":
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(self.path)
        except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
            raise LibraryReadError(f"{self.path}: not a readable Parquet file ({' '.join(str(exc).split())})") from None
        return self._with_columns(tuple(schema.names), header_lines=0, where="")

    def _with_columns(self, columns: tuple[str, ...], header_lines: int, where: str) -> "LibrarySpec":
        """This spec with its SMILES / id columns found among ``columns`` (named, or common names)."""
        lower = [c.lower() for c in columns]

        def find(name: str | None, guesses: tuple[str, ...], what: str, required: bool) -> int | None:
            if name is not None:
                if name in columns:
                    return columns.index(name)
                if name.lower() in lower:
                    return lower.index(name.lower())
                raise LibraryReadError(
                    f"{self.path}: {where}no column named {name!r} for the {what} (columns: {', '.join(columns)})"
                )
            for g in guesses:
                if g in lower:
                    return lower.index(g)
            if required:
                raise LibraryReadError(
                    f"{self.path}: {where}cannot find the SMILES column among {', '.join(columns)}; "
                    "name it with --smiles-column"
                )
            return None

        si = find(self.smiles_column, _SMILES_COLUMN_GUESSES, "SMILES", True)
        ii = find(self.id_column, _ID_COLUMN_GUESSES, "id", False)
        return LibrarySpec(
            self.path,
            self.kind,
            self.gzipped,
            self.delimiter,
            columns[si],
            None if ii is None else columns[ii],
            si,
            ii,
            header_lines,
            columns,
        )

    def record_layout(self) -> tuple[str, str, int, int | None]:
        """``(kind, delimiter, smiles_index, id_index)`` of this library's raw records.

        Parquet rows travel as tab-separated ``SMILES<TAB>id`` text records (see
        :mod:`sciarch.screening.readers.parquet`); the other formats as they are in the file.
        """
        if self.kind == "parquet":
            return "csv", "\t", 0, (None if self.id_index is None else 1)
        return self.kind, self.delimiter, self.smiles_index, self.id_index

    def describe(self) -> dict:
        return {
            "path": self.path,
            "kind": self.kind,
            "gzipped": self.gzipped,
            "delimiter": self.delimiter,
            "smiles_column": self.smiles_column,
            "id_column": self.id_column,
        }


@dataclass
class RawChunk:
    """A run of consecutive records, still raw bytes.

    Args:
        index: chunk number (0-based).
        first_line: 1-based line number of the first record's first line.
        n_records: records in ``data``.
        data: the records' bytes (line terminators included, except maybe at end of file).
        truncated_tail: the last record was cut off by a truncated/corrupt compressed stream.
        file_pos: (estimated, for compressed files) position in the file just after the chunk,
            for progress bars.
    """

    index: int
    first_line: int
    n_records: int
    data: bytes
    truncated_tail: bool = False
    file_pos: int = 0


