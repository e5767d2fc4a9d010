"""Streaming readers for molecule libraries: raw chunks of records, cut in the main process.

A library is read as bytes and cut into :class:`RawChunk` objects of a fixed number of
*records* (a line for ``.smi`` / ``.csv``, a ``$$$$``-terminated block for ``.sdf``). The
main process only finds record boundaries (``bytes.find`` / ``bytes.count``); decoding,
parsing and featurising happen in :mod:`sciarch.screening.featurize`, in worker processes
or in a Beam ``DoFn``. Chunk ``k`` always holds the same records for the same file and
chunk size, which is what makes checkpoints resumable at chunk boundaries.

Supported formats (``.gz`` allowed for the text formats):

* ``.smi`` / ``.smiles`` / ``.txt`` -- ``SMILES[<whitespace>ID]`` per line; no header.
* ``.csv`` / ``.tsv`` -- a header line; the SMILES and id columns are named by the caller
  (or found among common names). One record per physical line (quoted fields with
  embedded newlines are rejected record by record, never silently merged).
* ``.cxsmiles`` -- Enamine REAL style: tab-separated with a header (SMILES column ``smiles``,
  id column ``id`` unless named); CXSMILES extensions (`` |...|``) are parsed by RDKit.
* ``.sdf`` / ``.mol`` -- MDL SD file; the id is the title line or a named data field.
* ``.parquet`` -- the SMILES and id columns are named like CSV ones; row ``k`` is "line" ``k``
  (:mod:`sciarch.screening.readers.parquet`).

Modules: :mod:`~sciarch.screening.readers.spec` (formats, :class:`LibrarySpec`, errors,
:class:`RawChunk`), :mod:`~sciarch.screening.readers.text` (text formats, gzip salvage) and
:mod:`~sciarch.screening.readers.parquet`.

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

import hashlib
from typing import Callable, Iterator

from sciarch.screening.readers.parquet import iter_parquet_chunks
from sciarch.screening.readers.spec import (
    LibraryReadError,
    LibrarySpec,
    RawChunk,
    check_text_encoding,
    detect_format,
)
from sciarch.screening.readers.text import iter_text_chunks, split_chunk

__all__ = [
    "LibraryReadError",
    "LibrarySpec",
    "RawChunk",
    "check_text_encoding",
    "detect_format",
    "iter_raw_chunks",
    "split_chunk",
]


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
        on_progress: called with the number of file bytes consumed so far.
        checksum: a hashlib object updated with every byte of the file.

    Raises:
        LibraryReadError: after yielding every record that could be read, when the file is
            damaged from some point on (``unread_from_line`` says where).
    """
    reader = iter_parquet_chunks if spec.kind == "parquet" else iter_text_chunks
    return reader(spec, chunk_records, on_progress, checksum)
