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
uninterrupted run. The Ctrl-C handler stays in place until the worker pool is gone: a signal
that arrives while the screen finishes or shuts its workers down only notes the request.

Example:
    >>> from sciarch.screening.engine import run_screen  # doctest: +SKIP
    >>> from sciarch.screening.options import ScreenOptions  # doctest: +SKIP
    >>> opts = ScreenOptions(library="lib.smi.gz", out="screen_out", top_n=100)  # doctest: +SKIP
    >>> summary = run_screen(opts, lambda: scorer)  # doctest: +SKIP
    >>> summary["counts"]["scored"]  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import hashlib
import json
import multiprocessing as mp
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from sciarch.screening.checkpoint import CHECKPOINT_VERSION, check_resume, library_identity, prepare_out_dir
from sciarch.screening.featurize import FeaturizedChunk, FeaturizeOptions, Reject, featurize_chunk
from sciarch.screening.outputs import (
    RejectLedger,
    ScoresStore,
    atomic_write_bytes,
    atomic_write_json,
    hits_csv_text,
)
from sciarch.screening.options import ScreenError, ScreenOptions
from sciarch.screening.progress import ScreenProgress
from sciarch.screening.ranking import TopN, ranking_key
from sciarch.screening.readers import LibraryReadError, RawChunk, iter_raw_chunks
from sciarch.screening.scoring import extra_columns, score_chunk, with_scorer_features

__all__ = ["CHECKPOINT_VERSION", "ScreenError", "ScreenIncomplete", "ScreenInterrupted", "run_screen"]


class ScreenInterrupted(RuntimeError):
    """Stopped by Ctrl-C / SIGTERM after writing a checkpoint; ``--resume`` continues."""


class _StopAtBoundary(Exception):
    """Raised between chunks after a stop request."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ----------------------------------------------------------------------------- workers
def _worker_init() -> None:
    # the main process handles Ctrl-C and stops the pool; workers must not die mid-chunk on their own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # but they must die when the pool stops them, even if the parent (or the forkserver it started) ignores SIGTERM
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _featurize_task(chunk: RawChunk, opts: FeaturizeOptions) -> FeaturizedChunk:
    return featurize_chunk(chunk, opts)


def _make_pool(workers: int):
    ctx = mp.get_context("forkserver") if "forkserver" in mp.get_all_start_methods() else mp.get_context("spawn")
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(["sciarch.screening.featurize"])
    return ctx.Pool(workers, initializer=_worker_init)


def _stop_pool(pool, grace_s: float = 10.0) -> bool:
    """Stop the featurising workers; True when the pool shut down within ``grace_s`` seconds.

    ``Pool.terminate`` can deadlock: when it kills a worker in the middle of writing a result,
    the pool's task-handler thread waits for ever on the result queue's lock (CPython issue
    96995; about one stop in 300 with chunks in flight here). It therefore runs in a daemon
    thread; past ``grace_s`` every worker still alive is killed and the pool is left to that
    thread, so neither the screen nor the interpreter's exit waits on it.
    """

    def stop():
        pool.terminate()
        pool.join()

    t = threading.Thread(target=stop, name="sciarch-screen-pool-stop", daemon=True)
    t.start()
    t.join(grace_s)
    if not t.is_alive():
        return True
    for proc in list(getattr(pool, "_pool", ())):
        if proc.exitcode is None:
            proc.kill()
        proc.join(grace_s)
    return False


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
    def __init__(self, cfg: ScreenOptions, scorer_factory: Callable[[], object], graph_features_hint: str | None = None,
                 fingerprint_bits_hint: int = 0):
        self.cfg = cfg
        self._old_handlers: dict = {}
        self.tearing_down = False
        self.graph_features_hint = graph_features_hint
        self.fingerprint_bits_hint = int(fingerprint_bits_hint or 0)
        # (chunk iterator, checksum, in-flight chunks, (graph features, fingerprint bits))
        self._prefetched: tuple | None = None
        self.out = Path(cfg.out)
        self.scorer_factory = scorer_factory
        self.t0 = time.perf_counter()
        self.stop_requested = False
        self.session_read = 0
        self.session_scored = 0
        self._last_bytes = 0
        self.unread_from_line: int | None = None
        self.timings = {"startup_to_first_result": None, "wait_for_workers": 0.0, "score": 0.0, "bookkeeping": 0.0}

    # ------------------------------------------------------------------ main loop
    def run(self) -> dict:
        cfg = self.cfg
        ck = prepare_out_dir(cfg)
        self.spec = cfg.library_spec(str(cfg.library))
        self.fopts: FeaturizeOptions = cfg.featurize_options(self.spec)
        if ck is not None and ck.get("complete"):
            summary_path = self.out / "summary.json"
            if not summary_path.is_file():
                raise ScreenError(f"{self.out}: the screen is complete but summary.json is missing; use --overwrite")
            # a finished screen is only reported again for the same options, model and targets
            self.scorer = self.scorer_factory()
            self.target_names = list(self.scorer.target_names)
            check_resume(ck, cfg, self.spec.path, self.target_names, self.scorer.fingerprint)
            return json.loads(summary_path.read_text())
        workers = (os.cpu_count() or 1) if cfg.workers is None else int(cfg.workers)
        self.workers = workers
        pool = _make_pool(workers) if workers > 0 else None  # starts while the model loads
        try:
            if ck is None and pool is not None and self.graph_features_hint:
                self._prefetch(pool)  # the workers featurise the first chunks while the model loads
            self.scorer = self.scorer_factory()
            self.fopts = with_scorer_features(self.fopts, self.scorer)
            if self._prefetched is not None and self._prefetched[3] != (self.fopts.graph_features,
                                                                        self.fopts.fingerprint_bits):
                self._prefetched = None  # featurised otherwise than the model reads: read again
            self.target_names = list(self.scorer.target_names)
            # unranked columns (an ensemble's spread) follow the scores in every output
            self.score_columns = [f"score_{n}" for n in self.target_names] + extra_columns(self.scorer)
            self.rank_by = cfg.resolve_rank_by(self.target_names)
            self.state = _State()
            self.top = TopN(cfg.top_n)
            self.seen: dict[int, int] = {}
            if ck is not None:
                check_resume(ck, cfg, self.spec.path, self.target_names, self.scorer.fingerprint)
                self._load_checkpoint(ck)
            self.ledger = RejectLedger(self.out / "rejected.tsv", self.state.rejected_bytes if ck else None)
            self.store = ScoresStore(self.out, self.score_columns)
            self.store.discard_uncommitted(self.state.parts)
            if ck is None:
                self.state.rejected_bytes = self.ledger.commit()
            self.state.sessions += 1
            return self._loop(pool)
        except KeyboardInterrupt:  # outside the chunk loop: while the model loads, or a second signal at the end
            raise ScreenInterrupted(
                f"screen stopped at once; {self.out} keeps its last checkpoint, if it has one "
                "(continue with --resume)"
            ) from None
        finally:
            self.tearing_down = True  # from here on a signal only notes the request
            if pool is not None:
                _stop_pool(pool)
            self._restore_signals()

    def _prefetch(self, pool) -> None:
        """Submit the first chunks of a fresh screen to the workers before the scorer exists,
        featurised with the hinted graph feature version (checked once the scorer is built)."""
        import dataclasses
        import itertools

        fopts = dataclasses.replace(self.fopts, graph_features=self.graph_features_hint,
                                    fingerprint_bits=self.fingerprint_bits_hint)
        hasher = hashlib.sha256()
        chunks = iter_raw_chunks(self.spec, self.cfg.chunk_records, checksum=hasher)
        inflight: collections.deque = collections.deque()
        try:
            for chunk in itertools.islice(chunks, 4 * self.workers + 4):
                inflight.append((pool.apply_async(_featurize_task, (chunk, fopts)), chunk.file_pos))
        except LibraryReadError:
            return  # a damaged file is read (and reported) by the main loop from the start
        self._prefetched = (chunks, hasher, inflight, (fopts.graph_features, fopts.fingerprint_bits))

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

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread() or self._old_handlers:
            return

        def handler(signum, frame):
            if self.stop_requested and not self.tearing_down:
                raise KeyboardInterrupt  # second signal: stop now; the last checkpoint stays consistent
            self.stop_requested = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old_handlers[sig] = signal.signal(sig, handler)

    def _restore_signals(self) -> None:
        """Put back the caller's SIGINT/SIGTERM handlers."""
        for sig, h in self._old_handlers.items():
            signal.signal(sig, h)
        self._old_handlers = {}

    def _loop(self, pool) -> dict:
        cfg = self.cfg
        state = self.state
        total_bytes = os.path.getsize(self.spec.path)
        progress = ScreenProgress(cfg.progress, total_bytes, Path(self.spec.path).name)
        self._install_signals()  # restored by run() once the workers are stopped
        if self._prefetched is not None:
            chunks, hasher, inflight, _ = self._prefetched
            self._prefetched = None
        else:
            hasher = hashlib.sha256()
            chunks = None
            inflight = collections.deque()
        max_inflight = 2 * max(self.workers, 1) + 2
        read_error: LibraryReadError | None = None
        last_ck = time.perf_counter()
        t_session = self.t0
        interrupted = False
        try:
            if chunks is None:
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
        scores = score_chunk(self.scorer, fc, extras=True)
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
            ranked = scores[:, : len(self.target_names)]  # extra columns never rank
            self.top.offer(ranking_key(ranked, self.rank_by, self.cfg.higher_is_better), lines, ids, smiles, scores)
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
            "library": library_identity(self.spec.path),
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


def run_screen(cfg: ScreenOptions, scorer_factory: Callable[[], object], graph_features_hint: str | None = None,
               fingerprint_bits_hint: int = 0) -> dict:
    """Run (or resume) a screen; return the summary dict (also written to ``summary.json``).

    Args:
        cfg: the screen's options (``library`` one file).
        scorer_factory: zero-argument callable returning the scorer; called after the worker
            pool has started so that model loading overlaps worker start-up.
        graph_features_hint: the graph feature version the scorer will ask for (e.g. read from
            the model's ``config.yaml``); with it, a fresh screen's first chunks are featurised
            while the model loads (re-read if the scorer names another version).
        fingerprint_bits_hint: the ligand fingerprint size the scorer will ask for (0: none;
            read from the same config), used with ``graph_features_hint`` the same way.

    Raises:
        ScreenInterrupted: Ctrl-C / SIGTERM; a checkpoint was written.
        ScreenIncomplete: the library ended in a read error; outputs hold everything before it.
        ScreenError / LibraryReadError: bad arguments, output directory or library.
    """
    return _Screen(cfg, scorer_factory, graph_features_hint, fingerprint_bits_hint).run()

