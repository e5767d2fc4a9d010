"""The local screen: stream a library through worker processes and a scorer, rank, checkpoint.

Data flow::

    main: read + cut raw chunks --apply_async--> workers: parse/filter/featurise/pad (featurize_chunk)
    main: <-- padded uint8 batches + rejects (in chunk order) -- score each batch (tf.function)
          -> de-duplicate (optional) -> scores parts / rejected.tsv / bounded top-N heap
          -> checkpoint.json every ``checkpoint_every_s`` seconds (atomic)

At most ``2 * workers + 2`` chunks are in flight, so memory does not grow with the
library. Chunk ``k`` holds the same records whatever happens, and the checkpoint commits
whole chunks: after Ctrl-C (or SIGTERM) the screen writes a checkpoint and stops; after a
``kill -9`` the last periodic checkpoint stands. ``resume=True`` continues from it, and the
outputs (``hits.csv``, ``scores.parquet``, ``rejected.tsv``) are byte-identical to an
uninterrupted run.

Example:
    >>> from sciarch.screening.engine import ScreenConfig, run_screen  # doctest: +SKIP
    >>> cfg = ScreenConfig(library="lib.smi.gz", out="screen_out", top_n=100)  # doctest: +SKIP
    >>> summary = run_screen(cfg, scorer)  # doctest: +SKIP
    >>> summary["counts"]["scored"]  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import hashlib
import json
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from sciarch.screening.featurize import FeaturizedChunk, FeaturizeOptions, Reject, featurize_chunk
from sciarch.screening.outputs import (
    RejectLedger,
    ScoresStore,
    atomic_write_bytes,
    atomic_write_json,
    hits_csv_text,
)
from sciarch.screening.ranking import TopN, ranking_key
from sciarch.screening.readers import LibraryReadError, LibrarySpec, RawChunk, iter_raw_chunks
from sciarch.screening.scoring import score_chunk

__all__ = ["ScreenConfig", "ScreenError", "ScreenInterrupted", "run_screen", "CHECKPOINT_VERSION"]

CHECKPOINT_VERSION = 1


class ScreenError(RuntimeError):
    """The screen cannot start or continue (bad output directory, mismatched checkpoint ...)."""


class ScreenInterrupted(RuntimeError):
    """Stopped by Ctrl-C / SIGTERM after writing a checkpoint; ``--resume`` continues."""


class _StopAtBoundary(Exception):
    """Raised between chunks after a stop request."""


@dataclass
class ScreenConfig:
    """Everything a screen needs besides the scorer.

    Args:
        library: the library file (.smi/.csv/.tsv/.sdf, optionally .gz).
        out: output directory.
        top_n: size of ``hits.csv``.
        rank_by: ``"mean"``/``"max"``/``"min"`` over targets or a target name.
        higher_is_better: ``False`` ranks the lowest scores first.
        smiles_column / id_column / delimiter: CSV layout (``id_column`` = SD data field for SDF).
        workers: featurisation processes (0 = featurise in the main process).
        chunk_records: records per chunk (the unit of parallel work and of checkpoints).
        batch_size: molecules per padded inference batch.
        max_atoms: molecules with more atoms are rejected ("too_large").
        strip_salts / dedup / filters: optional filters (see :mod:`sciarch.screening.featurize`).
        checkpoint_every_s: seconds between checkpoints.
        part_rows: scored rows buffered before a Parquet part is written.
        resume: continue from ``out/checkpoint.json``.
        overwrite: discard an existing screen in ``out``.
        progress: show a progress bar (stderr).
        target_files: ``"<file name>:<sha256 prefix>"`` of each target FASTA (set by the CLI), so a
            resume with other target files is refused even when a custom scorer names targets alike.
    """

    library: str
    out: str
    top_n: int = 100
    rank_by: str = "mean"
    higher_is_better: bool = True
    smiles_column: str | None = None
    id_column: str | None = None
    delimiter: str | None = None
    workers: int | None = None
    chunk_records: int = 4096
    batch_size: int = 1024
    max_atoms: int | None = 150
    strip_salts: bool = False
    dedup: bool = False
    filters: tuple[str, ...] = ()
    checkpoint_every_s: float = 30.0
    part_rows: int = 65536
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    target_files: tuple[str, ...] = ()

    def fingerprint(self) -> dict:
        """The settings that change results; a resume must use the same ones."""
        keys = (
            "top_n rank_by higher_is_better smiles_column id_column delimiter chunk_records batch_size "
            "max_atoms strip_salts dedup filters"
        ).split()
        if self.target_files:
            keys.append("target_files")
        d = asdict(self)
        return {k: (list(d[k]) if isinstance(d[k], tuple) else d[k]) for k in keys}


#: ScreenConfig fields -> the ``sciarch screen`` option that sets them (for resume errors)
_OPTION_NAMES = {
    "top_n": "--top",
    "rank_by": "--rank-by",
    "higher_is_better": "--lower-is-better (higher_is_better)",
    "smiles_column": "--smiles-column",
    "id_column": "--id-column",
    "delimiter": "--delimiter",
    "chunk_records": "--chunk-size",
    "batch_size": "--batch-size",
    "max_atoms": "--max-atoms",
    "strip_salts": "--strip-salts",
    "dedup": "--dedup",
    "filters": "--filter",
    "target_files": "--target",
}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _show(v) -> str:
    """A setting's value for a one-line message."""
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(map(str, v)) + "]"
    return repr(v) if isinstance(v, str) else str(v)


# ----------------------------------------------------------------------------- workers
def _worker_init() -> None:
    # the main process handles Ctrl-C and stops the pool; workers must not die mid-chunk on their own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _featurize_task(chunk: RawChunk, opts: FeaturizeOptions) -> FeaturizedChunk:
    return featurize_chunk(chunk, opts)


def _make_pool(workers: int):
    ctx = mp.get_context("forkserver") if "forkserver" in mp.get_all_start_methods() else mp.get_context("spawn")
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(["sciarch.screening.featurize"])
    return ctx.Pool(workers, initializer=_worker_init)


# ----------------------------------------------------------------------------- progress
class _Progress:
    def __init__(self, enabled: bool, total_bytes: int, label: str):
        self.enabled = enabled
        self._p = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._p = Progress(
            TextColumn("[bold]screen[/] {task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[mols]:>12,} mol"),
            TextColumn("{task.fields[rate]:>8,.0f} mol/s"),
            TextColumn("{task.fields[rejected]:>8,} rejected"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._p.add_task(label, total=max(total_bytes, 1), mols=0, rate=0.0, rejected=0)
        self._p.start()

    def update(self, bytes_done: int, mols: int, rate: float, rejected: int) -> None:
        if self._p is not None:
            self._p.update(self._task, completed=bytes_done, mols=mols, rate=rate, rejected=rejected)

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None


# ----------------------------------------------------------------------------- state
@dataclass
class _State:
    next_chunk: int = 0
    counts: dict = field(default_factory=lambda: {"read": 0, "scored": 0, "rejected": 0})
    reasons: dict = field(default_factory=dict)
    parts: list = field(default_factory=list)
    rejected_bytes: int = 0
    elapsed_s: float = 0.0
    sessions: int = 0
    complete: bool = False
    library_sha256: str | None = None
    error: str | None = None


class _Screen:
    def __init__(self, cfg: ScreenConfig, scorer_factory: Callable[[], object]):
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.scorer_factory = scorer_factory
        self.t0 = time.perf_counter()
        self.stop_requested = False
        self.session_read = 0
        self.session_scored = 0
        self._last_bytes = 0
        self.unread_from_line: int | None = None
        self.timings = {"startup_to_first_result": None, "wait_for_workers": 0.0, "score": 0.0, "bookkeeping": 0.0}

    # ------------------------------------------------------------------ setup
    def _prepare_dir(self) -> dict | None:
        out = self.out
        ck = out / "checkpoint.json"
        if self.cfg.resume:
            if not ck.is_file():
                raise ScreenError(f"{out}: nothing to resume (no checkpoint.json); run without --resume")
            try:
                return json.loads(ck.read_text())
            except json.JSONDecodeError as exc:
                raise ScreenError(f"{ck}: unreadable checkpoint ({exc})") from None
        if ck.is_file() or (out / "hits.csv").is_file():
            if not self.cfg.overwrite:
                raise ScreenError(
                    f"{out}: holds an earlier screen; pass --resume to continue it or --overwrite to start over"
                )
            for name in ("checkpoint.json", "hits.csv", "scores.parquet", "rejected.tsv", "summary.json", "dedup.npz"):
                (out / name).unlink(missing_ok=True)
            if (out / "parts").is_dir():
                for p in (out / "parts").iterdir():
                    p.unlink()
        out.mkdir(parents=True, exist_ok=True)
        return None

    def _library_identity(self) -> dict:
        st = os.stat(self.spec.path)
        return {"path": os.path.abspath(self.spec.path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}

    def _check_resume(self, ck: dict) -> None:
        """Refuse to continue (or to re-report) a screen made with settings that change its results.

        The message names the command-line option that differs, old and new value.
        """
        where = f"{self.out}/checkpoint.json"
        what = "the finished screen" if ck.get("complete") else "the checkpoint"
        if ck.get("version") != CHECKPOINT_VERSION:
            raise ScreenError(f"{where}: written by an incompatible version ({ck.get('version')})")
        new = self.cfg.fingerprint()
        old_settings = ck.get("settings") or {}
        if old_settings != new:
            diff = sorted(k for k in set(old_settings) | set(new) if old_settings.get(k) != new.get(k))
            shown = ", ".join(
                f"{_OPTION_NAMES.get(k, k)} {_show(old_settings.get(k))} -> {_show(new.get(k))}" for k in diff
            )
            raise ScreenError(
                f"{where}: {what} was made with different settings ({shown}); "
                "resume with the same options or use --overwrite"
            )
        lib = self._library_identity()
        old = ck["library"]
        if (old["size"], old["mtime_ns"]) != (lib["size"], lib["mtime_ns"]):
            if old.get("path") and old["path"] != lib["path"]:
                raise ScreenError(
                    f"{where}: {what} was made with different settings (--library {old['path']} -> {lib['path']}); "
                    "resume with the same options or use --overwrite"
                )
            raise ScreenError(f"{self.spec.path}: the library changed since the checkpoint (size or time differ)")
        old_targets = list(ck.get("targets") or [])
        if old_targets != self.target_names:
            raise ScreenError(
                f"{where}: {what} was made with different settings (--target {', '.join(old_targets)} -> "
                f"{', '.join(self.target_names)}); resume with the same options or use --overwrite"
            )
        old_fp = ck.get("model") or {}
        new_fp = json.loads(json.dumps(self.scorer.fingerprint))
        if old_fp != new_fp:
            old_t, new_t = old_fp.get("targets"), new_fp.get("targets")
            if old_fp.get("sha256") == new_fp.get("sha256") and isinstance(old_t, dict) and isinstance(new_t, dict) \
                    and old_t != new_t:
                changed = sorted(k for k in set(old_t) | set(new_t) if old_t.get(k) != new_t.get(k))
                detail = f"--target: the sequence of {', '.join(changed)} differs"
            elif old_fp.get("sha256") != new_fp.get("sha256"):
                detail = f"--model/--scorer: model sha256 {str(old_fp.get('sha256'))[:12]} -> {str(new_fp.get('sha256'))[:12]}"
            else:
                keys = sorted(k for k in set(old_fp) | set(new_fp) if old_fp.get(k) != new_fp.get(k))
                detail = "--model/--scorer: " + ", ".join(f"{k} {_show(old_fp.get(k))} -> {_show(new_fp.get(k))}" for k in keys)
            raise ScreenError(
                f"{where}: {what} was made with a different model or targets ({detail}); "
                "resume with the same options or use --overwrite"
            )

    # ------------------------------------------------------------------ main loop
    def run(self) -> dict:
        cfg = self.cfg
        ck = self._prepare_dir()
        self.spec = LibrarySpec.from_path(
            cfg.library, smiles_column=cfg.smiles_column, id_column=cfg.id_column, delimiter=cfg.delimiter
        )
        self.fopts = FeaturizeOptions(
            kind=self.spec.kind,
            delimiter=self.spec.delimiter,
            smiles_index=self.spec.smiles_index,
            id_index=self.spec.id_index,
            id_field=cfg.id_column if self.spec.kind == "sdf" else None,
            max_atoms=cfg.max_atoms,
            strip_salts=cfg.strip_salts,
            dedup=cfg.dedup,
            filters=tuple(cfg.filters),
            batch_size=cfg.batch_size,
        )
        if ck is not None and ck.get("complete"):
            summary_path = self.out / "summary.json"
            if not summary_path.is_file():
                raise ScreenError(f"{self.out}: the screen is complete but summary.json is missing; use --overwrite")
            # a finished screen is only reported again for the same options, model and targets
            self.scorer = self.scorer_factory()
            self.target_names = list(self.scorer.target_names)
            self._check_resume(ck)
            return json.loads(summary_path.read_text())
        workers = (os.cpu_count() or 1) if cfg.workers is None else int(cfg.workers)
        self.workers = workers
        pool = _make_pool(workers) if workers > 0 else None  # starts while the model loads
        try:
            self.scorer = self.scorer_factory()
            self.target_names = list(self.scorer.target_names)
            self.score_columns = [f"score_{n}" for n in self.target_names]
            self.rank_by = self._rank_by()
            self.state = _State()
            self.top = TopN(cfg.top_n)
            self.seen: dict[int, int] = {}
            if ck is not None:
                self._check_resume(ck)
                self._load_checkpoint(ck)
            self.ledger = RejectLedger(self.out / "rejected.tsv", self.state.rejected_bytes if ck else None)
            self.store = ScoresStore(self.out, self.score_columns)
            self.store.discard_uncommitted(self.state.parts)
            if ck is None:
                self.state.rejected_bytes = self.ledger.commit()
            self.state.sessions += 1
            return self._loop(pool)
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()

    def _rank_by(self):
        rb = self.cfg.rank_by
        if rb in ("mean", "max", "min"):
            return rb
        if rb in self.target_names:
            return self.target_names.index(rb)
        raise ScreenError(f"--rank-by {rb!r}: not 'mean', 'max', 'min' or a target name ({', '.join(self.target_names)})")

    def _load_checkpoint(self, ck: dict) -> None:
        s = self.state
        s.next_chunk = int(ck["next_chunk"])
        s.counts = dict(ck["counts"])
        s.reasons = dict(ck["reasons"])
        s.parts = list(ck["parts"])
        s.rejected_bytes = int(ck["rejected_bytes"])
        s.elapsed_s = float(ck["elapsed_s"])
        s.sessions = int(ck["sessions"])
        self.top = TopN.from_json(self.cfg.top_n, ck["top"])
        if self.cfg.dedup:
            d = np.load(self.out / "dedup.npz")
            self.seen = dict(zip(d["keys"].tolist(), d["lines"].tolist()))

    def _install_signals(self):
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum, frame):
            if self.stop_requested:  # second signal: stop now; the last checkpoint stays consistent
                raise KeyboardInterrupt
            self.stop_requested = True

        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, handler)
        return old

    def _loop(self, pool) -> dict:
        cfg = self.cfg
        state = self.state
        hasher = hashlib.sha256()
        total_bytes = os.path.getsize(self.spec.path)
        progress = _Progress(cfg.progress, total_bytes, Path(self.spec.path).name)
        old_handlers = self._install_signals()
        inflight: collections.deque = collections.deque()
        max_inflight = 2 * max(self.workers, 1) + 2
        read_error: LibraryReadError | None = None
        last_ck = time.perf_counter()
        t_session = self.t0
        interrupted = False
        try:
            chunks = iter_raw_chunks(self.spec, cfg.chunk_records, checksum=hasher)
            try:
                for chunk in chunks:
                    if chunk.index < state.next_chunk:
                        continue  # committed by an earlier session
                    if pool is None:
                        inflight.append((featurize_chunk(chunk, self.fopts), chunk.file_pos))
                    else:
                        inflight.append((pool.apply_async(_featurize_task, (chunk, self.fopts)), chunk.file_pos))
                    while len(inflight) >= max_inflight or (pool is None and inflight):
                        self._commit_next(inflight)
                        progress.update(self._progress_bytes, *self._progress_numbers())
                        if time.perf_counter() - last_ck >= cfg.checkpoint_every_s:
                            self._checkpoint()
                            last_ck = time.perf_counter()
                        if self.stop_requested:
                            raise _StopAtBoundary
            except LibraryReadError as exc:
                read_error = exc
            while inflight:
                self._commit_next(inflight)
                progress.update(self._progress_bytes, *self._progress_numbers())
                if self.stop_requested:
                    raise _StopAtBoundary
        except _StopAtBoundary:
            interrupted = True
        except KeyboardInterrupt:  # second signal in the middle of a chunk: keep the last checkpoint
            progress.close()
            raise ScreenInterrupted(
                f"screen stopped at once; the last checkpoint in {self.out / 'checkpoint.json'} is kept "
                "(continue with --resume)"
            ) from None
        finally:
            progress.close()
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
        if interrupted:
            self._checkpoint()
            self._write_summary(status="interrupted", t_session=t_session)
            self.ledger.close()
            raise ScreenInterrupted(
                f"screen interrupted after {state.counts['read']:,} records; checkpoint written to "
                f"{self.out / 'checkpoint.json'} (continue with --resume)"
            )
        if read_error is None:
            state.library_sha256 = hasher.hexdigest()
        else:
            state.error = str(read_error)
        return self._finish(t_session, read_error)

    @property
    def _progress_bytes(self) -> int:
        return self._last_bytes

    def _progress_numbers(self):
        c = self.state.counts
        dt = max(time.perf_counter() - self.t0, 1e-9)
        return c["read"], self.session_read / dt, c["rejected"]

    # ------------------------------------------------------------------ per chunk
    def _commit_next(self, inflight) -> None:
        item, bytes_at = inflight.popleft()
        t0 = time.perf_counter()
        fc: FeaturizedChunk = item if isinstance(item, FeaturizedChunk) else item.get()
        t1 = time.perf_counter()
        tm = self.timings
        tm["wait_for_workers"] += t1 - t0
        if tm["startup_to_first_result"] is None:
            tm["startup_to_first_result"] = t1 - self.t0
        self._last_bytes = bytes_at
        state = self.state
        if fc.index != state.next_chunk:  # pragma: no cover - ordering is guaranteed by the deque
            raise RuntimeError(f"chunk {fc.index} arrived while {state.next_chunk} was expected")
        m = len(fc.ids)
        scores = score_chunk(self.scorer, fc)
        t2 = time.perf_counter()
        tm["score"] += t2 - t1
        rejects = list(fc.rejects)
        keep = None
        if self.cfg.dedup and m:
            keep = np.ones(m, dtype=bool)
            seen = self.seen
            for i, (k, line) in enumerate(zip(fc.keys.tolist(), fc.lines.tolist())):
                first = seen.get(k)
                if first is None:
                    seen[k] = line
                else:
                    keep[i] = False
                    rejects.append(Reject(line, fc.raws[i], "duplicate", f"same canonical SMILES as line {first}"))
            rejects.sort(key=lambda r: r.line)
        lines, ids, smiles = fc.lines, fc.ids, fc.smiles
        if keep is not None and not keep.all():
            idx = np.nonzero(keep)[0]
            lines, scores = lines[idx], scores[idx]
            ids = [ids[i] for i in idx.tolist()]
            smiles = [smiles[i] for i in idx.tolist()]
        self.ledger.write(rejects)
        self.store.append(lines, ids, smiles, scores)
        if len(lines):
            self.top.offer(ranking_key(scores, self.rank_by, self.cfg.higher_is_better), lines, ids, smiles, scores)
        c = state.counts
        c["read"] += fc.n_records
        c["scored"] += len(lines)
        c["rejected"] += len(rejects)
        for r in rejects:
            state.reasons[r.code] = state.reasons.get(r.code, 0) + 1
        self.session_read += fc.n_records
        self.session_scored += len(lines)
        state.next_chunk = fc.index + 1
        if self.store.buffered_rows >= self.cfg.part_rows:
            self._flush_part()
        tm["bookkeeping"] += time.perf_counter() - t2

    def _flush_part(self) -> None:
        name = self.store.flush_part()
        if name is not None:
            self.state.parts.append(name)

    # ------------------------------------------------------------------ checkpoint / finish
    def _checkpoint(self, complete: bool = False) -> None:
        s = self.state
        self._flush_part()
        s.rejected_bytes = self.ledger.commit()
        if self.cfg.dedup:
            keys = np.fromiter(self.seen.keys(), dtype=np.int64, count=len(self.seen))
            lines = np.fromiter(self.seen.values(), dtype=np.int64, count=len(self.seen))
            tmp = self.out / "dedup.tmp.npz"
            np.savez(tmp, keys=keys, lines=lines)
            os.replace(tmp, self.out / "dedup.npz")
        ck = {
            "version": CHECKPOINT_VERSION,
            "settings": self.cfg.fingerprint(),
            "library": self._library_identity(),
            "model": self.scorer.fingerprint,
            "targets": self.target_names,
            "next_chunk": s.next_chunk,
            "counts": s.counts,
            "reasons": s.reasons,
            "parts": s.parts,
            "rejected_bytes": s.rejected_bytes,
            "elapsed_s": s.elapsed_s + (time.perf_counter() - self.t0),
            "sessions": s.sessions,
            "complete": complete,
            "top": self.top.to_json(),
        }
        atomic_write_json(self.out / "checkpoint.json", ck)

    def _write_summary(self, status: str, t_session: float, scores_rows: int | None = None) -> dict:
        s = self.state
        wall = time.perf_counter() - t_session
        summary = {
            "status": status,
            "error": s.error,
            "library": {**self.spec.describe(), "sha256": s.library_sha256, "bytes": os.path.getsize(self.spec.path)},
            "model": self.scorer.fingerprint,
            "targets": self.target_names,
            "unread_from_line": self.unread_from_line,
            "truncated_targets": list(getattr(self.scorer, "truncated_targets", None) or []),
            "counts": {**s.counts, "rejected_by_reason": dict(sorted(s.reasons.items()))},
            "top_n": self.cfg.top_n,
            "rank_by": self.cfg.rank_by,
            "higher_is_better": self.cfg.higher_is_better,
            "workers": self.workers,
            "settings": self.cfg.fingerprint(),
            "wall_time_s": round(wall, 3),
            "molecules_per_s": round(self.session_read / wall, 1) if wall > 0 else None,
            "scored_per_s": round(self.session_scored / wall, 1) if wall > 0 else None,
            "total_wall_time_s": round(s.elapsed_s + wall, 3),
            "timings_s": {k: (None if v is None else round(v, 3)) for k, v in self.timings.items()},
            "sessions": s.sessions,
            "resumed": s.sessions > 1,
            "outputs": {
                "hits": "hits.csv",
                "scores": "scores.parquet",
                "rejected": "rejected.tsv",
            },
        }
        if scores_rows is not None:
            summary["outputs"]["scores_rows"] = scores_rows
        atomic_write_json(self.out / "summary.json", summary)
        return summary

    def _finish(self, t_session: float, read_error: LibraryReadError | None) -> dict:
        s = self.state
        self._checkpoint()
        unread = getattr(read_error, "unread_from_line", None)
        if unread is not None:
            # after the checkpoint's commit: a resume truncates rejected.tsv before it and adds it again
            self.unread_from_line = int(unread)
            self.ledger.write([Reject(int(unread), "", "unreadable",
                                      f"the library cannot be read from this line on: {_one_line(str(read_error))}")])
            self.ledger.commit()
        meta = self.store.finalize(s.parts, self.out / "scores.parquet")
        atomic_write_bytes(self.out / "hits.csv", hits_csv_text(self.top.ranked(), self.score_columns).encode())
        summary = self._write_summary(
            status="complete" if read_error is None else "incomplete", t_session=t_session, scores_rows=meta.num_rows
        )
        if read_error is None:
            self._checkpoint(complete=True)
        self.ledger.close()
        if read_error is None:
            self.store.remove_parts()
            (self.out / "dedup.npz").unlink(missing_ok=True)
        else:
            raise ScreenIncomplete(str(read_error), summary)
        return summary


class ScreenIncomplete(ScreenError):
    """The library could not be read to the end; everything read before the error was scored and written."""

    def __init__(self, message: str, summary: dict):
        super().__init__(message)
        self.summary = summary


def run_screen(cfg: ScreenConfig, scorer_factory: Callable[[], object]) -> dict:
    """Run (or resume) a screen; return the summary dict (also written to ``summary.json``).

    Args:
        cfg: the screen settings.
        scorer_factory: zero-argument callable returning the scorer; called after the worker
            pool has started so that model loading overlaps worker start-up.

    Raises:
        ScreenInterrupted: Ctrl-C / SIGTERM; a checkpoint was written.
        ScreenIncomplete: the library ended in a read error; outputs hold everything before it.
        ScreenError / LibraryReadError: bad arguments, output directory or library.
    """
    return _Screen(cfg, scorer_factory).run()


__all__ += ["ScreenIncomplete"]
