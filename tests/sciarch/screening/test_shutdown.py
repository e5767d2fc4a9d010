"""How the local screen stops its worker pool and hands back Ctrl-C: a deadlocked
``Pool.terminate`` is given up on (its workers killed), and a signal that arrives while the
screen shuts down is noted instead of raised."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time

import pytest

import sciarch.screening.engine as eng
from sciarch.screening.options import ScreenOptions

from screening_cases import AtomScorer, write_malformed_library


def _cfg(tmp_path, lib, **kw):
    base = dict(library=str(lib), out=str(tmp_path / "out"), workers=1, progress=False, chunk_records=50,
                batch_size=25)
    base.update(kw)
    return ScreenOptions(**base)


class _DeadlockedPool:
    """Stands in for a pool whose ``terminate`` never returns (CPython issue 96995)."""

    def __init__(self, procs):
        self._pool = procs
        self.released = threading.Event()

    def terminate(self):
        self.released.wait()

    def join(self):
        pass


def test_stop_pool_gives_up_on_a_deadlocked_terminate_and_kills_the_workers():
    proc = mp.get_context("spawn").Process(target=time.sleep, args=(120,), daemon=True)
    proc.start()
    pool = _DeadlockedPool([proc])
    try:
        t0 = time.perf_counter()
        assert eng._stop_pool(pool, grace_s=0.5) is False
        assert time.perf_counter() - t0 < 5.0
        assert proc.exitcode == -signal.SIGKILL
    finally:
        pool.released.set()
        if proc.exitcode is None:
            proc.kill()


def test_stop_pool_stops_a_real_pool():
    pool = eng._make_pool(1)
    assert pool.apply_async(sum, ([1, 2, 3],)).get(timeout=60) == 6
    workers = list(pool._pool)
    assert eng._stop_pool(pool) is True
    assert all(p.exitcode is not None for p in workers)


def test_signals_while_the_workers_stop_are_noted_not_raised(tmp_path, monkeypatch):
    """Ctrl-C twice while the pool shuts down: the screen still completes and the caller's
    handlers come back (the handler used to be restored before the pool was stopped)."""
    lib = tmp_path / "lib.smi"
    valid, _, _ = write_malformed_library(lib, 300)
    real_stop = eng._stop_pool
    seen = {}

    def stop_with_signals(pool, grace_s=10.0):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        seen["handler"] = signal.getsignal(signal.SIGINT)
        return real_stop(pool, grace_s)

    monkeypatch.setattr(eng, "_stop_pool", stop_with_signals)
    before = signal.getsignal(signal.SIGINT)
    summary = eng.run_screen(_cfg(tmp_path, lib), lambda: AtomScorer(2))
    assert summary["status"] == "complete" and summary["counts"]["scored"] == len(valid)
    assert seen["handler"] not in (before, signal.SIG_DFL, signal.SIG_IGN)  # the screen's own handler
    assert signal.getsignal(signal.SIGINT) is before


def _sigterm_disposition():
    return int(signal.getsignal(signal.SIGTERM))


def test_workers_die_on_sigterm_even_when_the_parent_ignores_it():
    """A parent that ignores SIGTERM passes that on to the processes it starts; the pool's
    ``terminate`` (SIGTERM) must still stop the workers, or its join waits for ever."""
    old = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        pool = mp.get_context("spawn").Pool(1, initializer=eng._worker_init)
    finally:
        signal.signal(signal.SIGTERM, old)
    workers = list(pool._pool)
    try:
        assert pool.apply(_sigterm_disposition) == int(signal.SIG_DFL)
    finally:
        assert eng._stop_pool(pool, grace_s=20.0) is True
    assert all(p.exitcode is not None for p in workers)


def test_the_screen_command_in_process_gives_the_signal_handlers_back(tmp_path):
    """``sciarch screen`` called in process (a notebook, a test runner) leaves SIGINT and
    SIGTERM as it found them, so pools started later can still stop their workers."""
    from typer.testing import CliRunner

    from sciarch.screening.cli import app

    lib = tmp_path / "lib.smi"
    write_malformed_library(lib, 60)
    fasta = tmp_path / "T.fasta"
    fasta.write_text(">T\nMKKFFDSRREQGG\n")
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    r = CliRunner().invoke(app, ["screen", "--scorer", "screening_cases:atom_scorer_factory", "--target", str(fasta),
                                 "--library", str(lib), "--out", str(tmp_path / "out"), "--workers", "1",
                                 "--no-progress"])
    assert r.exit_code == 0, r.output
    assert {s: signal.getsignal(s) for s in before} == before


def test_ctrl_c_while_the_model_loads_is_a_screen_interrupted_and_stops_the_pool(tmp_path, monkeypatch):
    lib = tmp_path / "lib.smi"
    write_malformed_library(lib, 60)
    pools = []
    real_make = eng._make_pool
    monkeypatch.setattr(eng, "_make_pool", lambda n: pools.append(real_make(n)) or pools[-1])

    def loading_model():
        raise KeyboardInterrupt

    with pytest.raises(eng.ScreenInterrupted, match="--resume"):
        eng.run_screen(_cfg(tmp_path, lib), loading_model)
    assert pools and all(p.exitcode is not None for p in pools[0]._pool)
