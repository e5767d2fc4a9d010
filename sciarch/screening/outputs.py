"""Screen outputs: the rejects ledger, the columnar scores file, hits.csv, atomic writes.

Crash safety: every file a checkpoint refers to is either written atomically
(``*.tmp`` + ``fsync`` + ``os.replace``) or append-only with its committed size recorded
in the checkpoint (``rejected.tsv`` is truncated back to that size on resume). Scores are
written as Parquet *parts* while the screen runs and merged into one ``scores.parquet``
with fixed-size row groups at the end, each written from one contiguous array per column
(Parquet data pages follow the in-memory chunk layout), so the final file is byte-identical
wherever the screen was interrupted.

Example:
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from sciarch.screening.outputs import ScoresStore
    >>> d = Path(tempfile.mkdtemp())
    >>> store = ScoresStore(d, ["score_t1"])
    >>> store.append(np.array([1, 2]), ["a", "b"], ["C", "CC"], np.array([[0.5], [0.7]], np.float32))
    >>> part = store.flush_part()
    >>> store.finalize([part], d / "scores.parquet").num_rows
    2
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from sciarch.screening.featurize import Reject
from sciarch.screening.ranking import Hit

__all__ = [
    "REJECTED_HEADER",
    "RejectLedger",
    "ScoresStore",
    "atomic_write_bytes",
    "atomic_write_json",
    "format_score",
    "hits_csv_text",
]

REJECTED_HEADER = "line\traw\treason\n"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a torn one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def format_score(x: float) -> str:
    """Scores as text: float32 precision, shortest round-trip form."""
    return np.format_float_positional(np.float32(x), unique=True, trim="-") if np.isfinite(x) else str(float(x))


def hits_csv_text(hits: Sequence[Hit], score_columns: Sequence[str]) -> str:
    """``rank,id,smiles,line,<score columns>`` for the ranked hits (best first)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["rank", "id", "smiles", "line", *score_columns])
    for rank, h in enumerate(hits, 1):
        w.writerow([rank, h.id, h.smiles, h.line, *(format_score(s) for s in h.scores)])
    return buf.getvalue()


class RejectLedger:
    """Append-only ``rejected.tsv`` (``line``, ``raw``, ``reason``) with a committed size for resume.

    Args:
        path: the TSV file.
        resume_size: committed size from a checkpoint (the file is truncated to it), or
            ``None`` to start a new file.
    """

    def __init__(self, path: str | os.PathLike, resume_size: int | None = None):
        self.path = Path(path)
        if resume_size is None:
            with open(self.path, "wb") as fh:
                fh.write(REJECTED_HEADER.encode())
        else:
            if not self.path.is_file():
                raise FileNotFoundError(f"{self.path}: missing; the checkpoint cannot be resumed")
            with open(self.path, "r+b") as fh:
                fh.truncate(resume_size)
        self._fh = open(self.path, "ab")

    def write(self, rejects: Iterable[Reject]) -> None:
        self._fh.write(
            "".join(r.tsv_line() for r in rejects).encode("utf-8", "backslashreplace")
        )

    def commit(self) -> int:
        """Flush to disk; return the committed size in bytes."""
        self._fh.flush()
        os.fsync(self._fh.fileno())
        return self._fh.tell()

    def close(self) -> None:
        self._fh.close()


class ScoresStore:
    """Buffer of scored rows, written as Parquet parts and merged at the end.

    Args:
        out_dir: the screen's output directory (parts go to ``out_dir/parts``).
        score_columns: names of the per-target score columns.
    """

    def __init__(self, out_dir: str | os.PathLike, score_columns: Sequence[str]):
        import pyarrow as pa

        self.parts_dir = Path(out_dir) / "parts"
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        self.score_columns = list(score_columns)
        self.schema = pa.schema(
            [("line", pa.int64()), ("id", pa.string()), ("smiles", pa.string())]
            + [(c, pa.float32()) for c in self.score_columns]
        )
        self._buf: list[tuple] = []
        self.buffered_rows = 0

    def append(self, lines: np.ndarray, ids: Sequence[str], smiles: Sequence[str], scores: np.ndarray) -> None:
        if len(lines):
            self._buf.append((np.asarray(lines, np.int64), list(ids), list(smiles), np.asarray(scores, np.float32)))
            self.buffered_rows += len(lines)

    def _table(self):
        import pyarrow as pa

        lines = np.concatenate([b[0] for b in self._buf])
        ids = [x for b in self._buf for x in b[1]]
        smiles = [x for b in self._buf for x in b[2]]
        scores = np.concatenate([b[3] for b in self._buf], axis=0)
        cols = [pa.array(lines), pa.array(ids, pa.string()), pa.array(smiles, pa.string())]
        cols += [pa.array(scores[:, j]) for j in range(scores.shape[1])]
        return pa.Table.from_arrays(cols, schema=self.schema)

    def flush_part(self) -> str | None:
        """Write the buffer as the next part (atomically); return its file name, or None if empty."""
        if not self._buf:
            return None
        import pyarrow.parquet as pq

        table = self._table()
        first = int(table.column("line")[0].as_py())
        name = f"part-{first:012d}.parquet"
        tmp = self.parts_dir / (name + ".tmp")
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.parts_dir / name)
        _fsync_dir(self.parts_dir)
        self._buf = []
        self.buffered_rows = 0
        return name

    def discard_uncommitted(self, committed: Sequence[str]) -> None:
        """Delete part files (and temporaries) a checkpoint does not list."""
        keep = set(committed)
        for p in self.parts_dir.iterdir():
            if p.name not in keep:
                p.unlink()
        missing = [n for n in committed if not (self.parts_dir / n).is_file()]
        if missing:
            raise FileNotFoundError(f"{self.parts_dir}: checkpointed part(s) missing: {', '.join(missing[:3])}")

    def finalize(self, parts: Sequence[str], out_path: str | os.PathLike, row_group_rows: int = 65536):
        """Stream ``parts`` (in order) into one Parquet file with row groups of ``row_group_rows``.

        Memory holds one part plus one row group. Returns the file's metadata.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        out_path = Path(out_path)
        tmp = out_path.with_name(out_path.name + ".tmp")
        pending: list = []
        n_pending = 0
        with pq.ParquetWriter(tmp, self.schema, compression="zstd") as writer:
            for name in parts:
                t = pq.read_table(self.parts_dir / name, schema=self.schema)
                pending.append(t)
                n_pending += t.num_rows
                while n_pending >= row_group_rows:
                    merged = pa.concat_tables(pending)
                    # one contiguous array per column: Parquet page boundaries follow the Arrow
                    # chunk layout, which depends on where the parts (checkpoints) were cut
                    group = merged.slice(0, row_group_rows).combine_chunks()
                    writer.write_table(group, row_group_size=row_group_rows)
                    rest = merged.slice(row_group_rows)
                    pending, n_pending = [rest], rest.num_rows
            if n_pending or not parts:
                merged = pa.concat_tables(pending).combine_chunks() if pending else self.schema.empty_table()
                writer.write_table(merged, row_group_size=row_group_rows)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out_path)
        _fsync_dir(out_path.parent)
        return pq.read_metadata(out_path)

    def remove_parts(self) -> None:
        for p in self.parts_dir.iterdir():
            p.unlink()
        self.parts_dir.rmdir()
