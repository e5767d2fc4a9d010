"""Cutting Parquet libraries into raw chunks: each row becomes one ``SMILES<TAB>id`` text record.

Row ``k`` (1-based) of the file is record ``k``: its "line" in ``rejected.tsv``, hits and
scores. Only the SMILES and id columns are read, ``chunk_records`` rows at a time, so memory
does not grow with the library. A null or empty SMILES becomes an empty field (ledgered as
"empty SMILES field" by the featuriser); a null id gives the line-number id. Tabs, carriage
returns and newlines inside a value are written as ``\\t``, ``\\r``, ``\\n`` so that a record
stays one line.
"""

from __future__ import annotations

from typing import Callable, Iterator

from sciarch.screening.readers.spec import LibraryReadError, LibrarySpec, RawChunk

__all__ = ["iter_parquet_chunks"]

_ESCAPES = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value) -> str:
    return "" if value is None else str(value).translate(_ESCAPES)


def iter_parquet_chunks(spec: LibrarySpec, chunk_records: int, on_progress: Callable[[int], None] | None,
                        checksum) -> Iterator[RawChunk]:
    """The Parquet reader of :func:`sciarch.screening.readers.iter_raw_chunks`: ``chunk_records`` rows a chunk.

    A row group that cannot be read raises :class:`LibraryReadError` after every row before
    it was yielded (``unread_from_line`` = the first row not read).
    """
    import pyarrow.parquet as pq

    if chunk_records < 1:
        raise ValueError("chunk_records must be >= 1")
    if checksum is not None:
        with open(spec.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                checksum.update(block)
    columns = [spec.smiles_column] + ([spec.id_column] if spec.id_column is not None else [])
    try:
        pf = pq.ParquetFile(spec.path)
    except (OSError, ValueError) as exc:
        raise LibraryReadError(f"{spec.path}: not a readable Parquet file ({' '.join(str(exc).split())})") from None
    total_rows = max(pf.metadata.num_rows, 1)
    size = pf.metadata.serialized_size
    line = 1
    index = 0
    batches = pf.iter_batches(batch_size=chunk_records, columns=columns)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            break
        except (OSError, ValueError) as exc:
            raise LibraryReadError(
                f"{spec.path}: cannot read rows from {line:,} on ({' '.join(str(exc).split())}); "
                "every row before it was read",
                unread_from_line=line,
            ) from None
        cols = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        rows = zip(*cols) if len(cols) > 1 else ((s,) for s in cols[0])
        data = "".join("\t".join(_text(v) for v in row) + "\n" for row in rows).encode("utf-8", "surrogatepass")
        n = batch.num_rows
        if n:
            pos = int((line - 1 + n) / total_rows * max(size, 1))
            yield RawChunk(index, line, n, data, file_pos=pos)
            if on_progress is not None:
                on_progress(pos)
            index += 1
            line += n
