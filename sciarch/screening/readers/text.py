"""Cutting text libraries (``.smi``, ``.csv``/``.tsv``/``.cxsmiles``, ``.sdf``; gzipped or not) into raw chunks.

The main process only finds record boundaries (``bytes.find`` / ``bytes.count``) in 1 MiB
read blocks; decoding and parsing happen in :mod:`sciarch.screening.featurize`. Every byte of
a damaged gzip stream that can be decompressed is used, and the records after the damage are
reported as unread (:class:`~sciarch.screening.readers.spec.LibraryReadError`).
"""

from __future__ import annotations

import hashlib
import io
import zlib
from typing import Callable, Iterator

from sciarch.screening.readers.spec import UTF8_BOM, LibraryReadError, LibrarySpec, RawChunk

__all__ = ["iter_text_chunks", "split_chunk"]

_BLOCK = 1 << 20


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


def iter_text_chunks(spec: LibrarySpec, chunk_records: int, on_progress: Callable[[int], None] | None,
                     checksum) -> Iterator[RawChunk]:
    """The text formats' reader of :func:`sciarch.screening.readers.iter_raw_chunks` (same arguments).

    ``on_progress`` sees compressed bytes; at the end of a truncated or corrupt gzip stream
    the last chunk has ``truncated_tail=True`` when a partial record was left over, then
    :class:`LibraryReadError` is raised.
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
                if len(buf) < len(UTF8_BOM):
                    continue
                bom_checked = True
                if buf.startswith(UTF8_BOM):
                    pos = len(UTF8_BOM)  # a UTF-8 byte-order mark is not part of line 1's record
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
