"""Streaming readers for molecule libraries: raw chunks of records, cut in the main process.

A library is read as bytes and cut into :class:`RawChunk` objects of a fixed number of
*records* (a line for ``.smi`` / ``.csv``, a ``$$$$``-terminated block for ``.sdf``). The
main process only finds record boundaries (``bytes.find`` / ``bytes.count``); decoding,
parsing and featurising happen in :mod:`sciarch.screening.featurize`, in worker processes
or in a Beam ``DoFn``. Chunk ``k`` always holds the same records for the same file and
chunk size, which is what makes checkpoints resumable at chunk boundaries.

Supported formats (``.gz`` allowed for all):

* ``.smi`` / ``.smiles`` / ``.txt`` -- ``SMILES[<whitespace>ID]`` per line; no header.
* ``.csv`` / ``.tsv`` -- a header line; the SMILES and id columns are named by the caller
  (or found among common names). One record per physical line (quoted fields with
  embedded newlines are rejected record by record, never silently merged).
* ``.sdf`` / ``.mol`` -- MDL SD file; the id is the title line or a named data field.

Memory does not grow with the library: the reader holds one read block (1 MiB) plus the
chunk being cut.

Example:
    >>> import os, tempfile
    >>> from sciarch.screening.readers import LibrarySpec, iter_raw_chunks
    >>> p = os.path.join(tempfile.mkdtemp(), "lib.smi")
    >>> _ = open(p, "w").write("CCO ethanol\\nc1ccccc1 benzene\\nCC\\n")
    >>> spec = LibrarySpec.from_path(p)
    >>> [(c.index, c.first_line, c.n_records) for c in iter_raw_chunks(spec, chunk_records=2)]
    [(0, 1, 2), (1, 3, 1)]
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

__all__ = [
    "LibraryReadError",
    "LibrarySpec",
    "RawChunk",
    "check_text_encoding",
    "detect_format",
    "iter_raw_chunks",
    "split_chunk",
]

_BLOCK = 1 << 20
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
_UTF8_BOM = b"\xef\xbb\xbf"


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
    """Return ``(kind, gzipped)`` with kind one of ``"smi"``, ``"csv"``, ``"sdf"``."""
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    gz = bool(suffixes) and suffixes[-1] in (".gz", ".gzip")
    if gz:
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    if ext in (".smi", ".smiles", ".txt", ".ism", ".can"):
        return "smi", gz
    if ext in (".csv", ".tsv"):
        return "csv", gz
    if ext in (".sdf", ".mol", ".sd"):
        return "sdf", gz
    raise LibraryReadError(
        f"{path}: cannot tell the library format from the file name (expected .smi, .csv, .tsv or .sdf, "
        "optionally followed by .gz)"
    )


@dataclass(frozen=True)
class LibrarySpec:
    """Where a library is and how its records are laid out.

    Args:
        path: the library file.
        kind: ``"smi"``, ``"csv"`` or ``"sdf"``.
        gzipped: the file is gzip-compressed.
        delimiter: CSV field separator (``","``; ``"\\t"`` for ``.tsv``).
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
            delimiter = "\t" if any(s.lower() == ".tsv" for s in p.suffixes) else ","
        spec = cls(str(p), kind, gz, delimiter, smiles_column, id_column)
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
        lower = [c.lower() for c in columns]

        def find(name: str | None, guesses: tuple[str, ...], what: str, required: bool) -> int | None:
            if name is not None:
                if name in columns:
                    return columns.index(name)
                if name.lower() in lower:
                    return lower.index(name.lower())
                raise LibraryReadError(
                    f"{self.path}: line 1: no column named {name!r} for the {what} (columns: {', '.join(columns)})"
                )
            for g in guesses:
                if g in lower:
                    return lower.index(g)
            if required:
                raise LibraryReadError(
                    f"{self.path}: line 1: cannot find the SMILES column among {', '.join(columns)}; "
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
            1,
            columns,
        )

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


class _CountingReader(io.RawIOBase):
    """Wrap a raw binary file: count bytes read and hash them (library checksum)."""

    def __init__(self, fh, hasher):
        self._fh = fh
        self._hasher = hasher
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self._fh.readinto(b)
        if n:
            self._hasher.update(memoryview(b)[:n])
            self.bytes_read += n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def _nth_end(buf: bytes, start: int, n: int, sep: bytes) -> tuple[int, int]:
    """Position just after the ``n``-th ``sep`` at or after ``start`` (or -1) and how many were found."""
    pos = start
    found = 0
    step = len(sep)
    find = buf.find
    while found < n:
        j = find(sep, pos)
        if j < 0:
            return -1, found
        pos = j + step
        found += 1
    return pos, found


def _sdf_record_ends(buf: bytes, start: int, n: int) -> tuple[int, int]:
    """Like :func:`_nth_end` for SD records: a line that is exactly ``$$$$`` closes a record."""
    pos = start
    found = 0
    while found < n:
        j = buf.find(b"$$$$", pos)
        if j < 0:
            return -1, found
        line_start = j == 0 or buf[j - 1 : j] == b"\n"
        k = buf.find(b"\n", j)
        if k < 0:
            return -1, found  # need more data to see the end of this line
        if line_start and buf[j + 4 : k].strip() == b"":
            found += 1
        pos = k + 1
    return pos, found


class _StreamError(Exception):
    pass


def _salvage(d, raw: bytes):
    """Feed ``raw`` to decompressor ``d`` one byte at a time until it fails or its member ends.

    Returns ``(d, rest, output, error)``: ``rest`` is the input after the member's end (when it
    ended), ``error`` the zlib error (or None)."""
    view = memoryview(raw)
    outs = []
    for k in range(len(raw)):
        try:
            o = d.decompress(view[k : k + 1])
        except zlib.error as exc:
            return d, b"", b"".join(outs), exc
        if o:
            outs.append(o)
        if d.eof:
            return d, d.unused_data + bytes(view[k + 1 :]), b"".join(outs), None
    return d, b"", b"".join(outs), zlib.error("inconsistent stream")  # pragma: no cover


def _decompressed_blocks(fh, gzipped: bool) -> Iterator[bytes]:
    """Blocks of the (decompressed) file. For gzip every byte that can be decompressed is
    yielded before :class:`_StreamError` reports a truncated or corrupt stream; concatenated
    gzip members (bgzip, ``cat a.gz b.gz``) are read one after the other."""
    if not gzipped:
        while True:
            b = fh.read(_BLOCK)
            if not b:
                return
            yield b
    d = zlib.decompressobj(wbits=31)
    fed = False
    while True:
        raw = fh.read(_BLOCK)
        if not raw:
            break
        while raw:
            fed = True
            snapshot = d.copy()
            try:
                out = d.decompress(raw)
            except zlib.error:
                # the bad byte is somewhere in this block: replay it byte by byte from the snapshot
                # so that everything before it (lines, records) is still yielded
                d, raw, salvaged, err = _salvage(snapshot, raw)
                if salvaged:
                    yield salvaged
                if err is not None:
                    raise _StreamError(f"corrupt compressed stream ({err})") from None
                # a gzip member ended inside the block: go on with the next one
                d = zlib.decompressobj(wbits=31)
                fed = False
                continue
            if out:
                yield out
            if d.eof:
                raw = d.unused_data
                d = zlib.decompressobj(wbits=31)
                fed = False
            else:
                raw = b""
    tail = d.flush()
    if tail:
        yield tail
    if fed and not d.eof:
        raise _StreamError("truncated compressed stream (the gzip data ends before its end-of-stream marker)")


def iter_raw_chunks(
    spec: LibrarySpec,
    chunk_records: int = 4096,
    *,
    on_progress: Callable[[int], None] | None = None,
    checksum: "hashlib._Hash | None" = None,
) -> Iterator[RawChunk]:
    """Cut ``spec``'s file into :class:`RawChunk` objects of ``chunk_records`` records.

    Args:
        spec: the library.
        chunk_records: records per chunk (the last chunk may hold fewer).
        on_progress: called with the number of (compressed) file bytes consumed so far.
        checksum: a hashlib object updated with every byte of the file as it is read.

    Raises:
        LibraryReadError: after yielding every complete record, when the compressed stream is
            truncated or corrupt (the last chunk has ``truncated_tail=True`` when a partial
            record was left over).
    """
    if chunk_records < 1:
        raise ValueError("chunk_records must be >= 1")
    hasher = checksum if checksum is not None else hashlib.sha256()
    try:
        raw = open(spec.path, "rb", buffering=0)
    except OSError as exc:
        raise LibraryReadError(f"{spec.path}: cannot open the library ({exc.strerror})") from None
    counting = _CountingReader(raw, hasher)
    sdf = spec.kind == "sdf"
    line = 1
    index = 0
    buf = b""
    pos = 0
    error: str | None = None
    header_left = spec.header_lines
    blocks = _decompressed_blocks(counting, spec.gzipped)
    base = 0  # decompressed offset of buf[0]
    dec_read = 0
    bom_checked = False

    def file_pos(end: int) -> int:
        off = base + end
        return off if not spec.gzipped else int(off * counting.bytes_read / max(dec_read, 1))
    try:
        while True:
            try:
                block = next(blocks)
            except StopIteration:
                block = None
            except _StreamError as exc:
                error = str(exc)
                block = None
            except OSError as exc:
                error = f"read error ({exc})"
                block = None
            if on_progress is not None:
                on_progress(counting.bytes_read)
            if block is None:
                break
            dec_read += len(block)
            base += pos
            buf = buf[pos:] + block if pos else buf + block
            pos = 0
            if not bom_checked:
                if len(buf) < len(_UTF8_BOM):
                    continue
                bom_checked = True
                if buf.startswith(_UTF8_BOM):
                    pos = len(_UTF8_BOM)  # a UTF-8 byte-order mark is not part of line 1's record
            while header_left:
                k = buf.find(b"\n", pos)
                if k < 0:
                    break
                pos = k + 1
                line += 1
                header_left -= 1
            if header_left:
                continue
            # cut as many full chunks as the buffer holds
            while True:
                if sdf:
                    end, _ = _sdf_record_ends(buf, pos, chunk_records)
                else:
                    end, _ = _nth_end(buf, pos, chunk_records, b"\n")
                if end < 0:
                    break
                data = buf[pos:end]
                yield RawChunk(index, line, chunk_records, data, file_pos=file_pos(end))
                line += data.count(b"\n") if sdf else chunk_records
                index += 1
                pos = end
        # the tail: fewer than chunk_records records
        data = buf[pos:] if not header_left else b""
        if data:
            if sdf:
                # an unterminated final block is one more record (the parser reports it)
                n = sum(1 for _ in split_chunk(RawChunk(index, line, 0, data), "sdf"))
            else:
                n = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
            if n:
                yield RawChunk(
                    index,
                    line,
                    n,
                    data,
                    truncated_tail=error is not None and not data.endswith(b"\n"),
                    file_pos=file_pos(len(buf)),
                )
                line += data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        if error is not None:
            note = ""
            if "incorrect data check" in error or "incorrect length check" in error:
                note = " (the gzip checksum failed, so lines decoded before it may hold corrupted text)"
            raise LibraryReadError(
                f"{spec.path}: {error} after line {line - 1}; every record before it was read{note}",
                unread_from_line=line,
            )
    finally:
        blocks.close()
        counting.close()


def split_chunk(chunk: RawChunk, kind: str) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_record_bytes)`` for every record of ``chunk``.

    Line terminators are removed for line formats; SD records keep their inner newlines
    (without the closing ``$$$$`` line).
    """
    data = chunk.data
    line = chunk.first_line
    if kind != "sdf":
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines.pop()
        for i, raw in enumerate(lines):
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            yield line + i, raw
        return
    pos = 0
    if not data.endswith(b"\n"):
        data = data + b"\n"
    n = len(data)
    while pos < n:
        end, found = _sdf_record_ends(data, pos, 1)
        if found == 0:
            rec = data[pos:]
            if rec.strip():
                yield line, rec
            return
        rec = data[pos:end]
        # drop the closing "$$$$" line from the record text
        body = rec[: rec.rfind(b"$$$$")]
        yield line, body
        line += rec.count(b"\n")
        pos = end
