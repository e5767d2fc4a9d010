"""The screen with a real (tiny, untrained) drugscreen affinity model: scores equal one-by-one
model calls, and a screen killed with SIGKILL / stopped with Ctrl-C resumes to identical files."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from sciarch.screening.engine import run_screen
from sciarch.screening.options import ScreenOptions

from screening_cases import write_malformed_library, zinc_lines

ROOT = Path(__file__).resolve().parents[3]


def _scorer(run, targets):
    from pipelines.drugscreen.screening import AffinityModelScorer

    return lambda: AffinityModelScorer.from_run_dir(run, targets)


def test_scores_and_ranking_match_one_by_one_model_calls(tmp_path, tiny_run, targets):
    import keras

    from sciarch.io.molecules import collate_graphs, featurize_smiles
    from sciarch.io.sequences import read_protein_fasta, tokenize_protein

    lines = zinc_lines(60)
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join(lines) + "\n")
    cfg = ScreenOptions(library=str(lib), out=str(tmp_path / "out"), workers=0, progress=False, top_n=10,
                       chunk_records=25, batch_size=8)
    summary = run_screen(cfg, _scorer(tiny_run, targets))
    assert summary["targets"] == ["AAK1", "ABL1(E255K)"]
    model = keras.models.load_model(tiny_run / "model.keras", compile=False)
    seqs = [next(iter(read_protein_fasta(t).values())) for t in targets]
    toks = [tokenize_protein(s, 128)[None] for s in seqs]
    ref = np.zeros((len(lines), 2), np.float32)
    for i, line in enumerate(lines):  # one molecule per call (the two targets as two rows)
        g = collate_graphs([featurize_smiles(line.split()[0])] * 2)
        ref[i] = np.asarray(model({**g, "protein_tokens": np.concatenate(toks)}, training=False))[:, 0]
    t = pq.read_table(tmp_path / "out" / "scores.parquet")
    got = np.stack([t.column("score_AAK1").to_numpy(), t.column("score_ABL1(E255K)").to_numpy()], axis=1)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert np.std(ref[:, 0]) > 1e-3  # the model does tell molecules apart
    key = ref.mean(axis=1)
    expected = sorted(range(len(lines)), key=lambda i: (-key[i], i))[:10]
    with open(tmp_path / "out" / "hits.csv") as fh:
        hits = list(csv.DictReader(fh))
    assert [h["id"] for h in hits] == [lines[i].split()[1] for i in expected]
    np.testing.assert_allclose([float(h["score_AAK1"]) for h in hits], ref[expected, 0], rtol=1e-5, atol=1e-5)


def _cli(args, **kw):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONFAULTHANDLER": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-m", "sciarch.screening.cli", "screen", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _communicate(proc, timeout: float = 300.0):
    """``proc.communicate``; a screen that does not exit in time dumps every thread's stack
    (SIGABRT with ``PYTHONFAULTHANDLER``) into the failure."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        _, err = proc.communicate(timeout=60)
        raise AssertionError(f"screen did not exit in {timeout:.0f} s; its threads:\n{err.decode()[-6000:]}") from None


def _wait_checkpoint(out: Path, proc, min_chunk: int, timeout: float = 180.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        ck = out / "checkpoint.json"
        if ck.is_file():
            d = json.loads(ck.read_text())
            if d["next_chunk"] >= min_chunk:
                return d
        if proc.poll() is not None:
            raise AssertionError(f"screen ended early: {proc.returncode} {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.01)
    raise AssertionError("no checkpoint in time")


def _kill_interrupt_resume(tmp_path, scorer_args, make_scorer, n_valid, ctrl_c=True):
    lib = tmp_path / "lib.smi"
    valid, bad, _ = write_malformed_library(lib, n_valid)
    n_chunks = -(-(len(valid) + len(bad)) // 50)
    out = tmp_path / "out"
    common = [*scorer_args, "--library", str(lib), "--top", "30", "--chunk-size", "50", "--batch-size", "25",
              "--checkpoint-every", "0", "--no-progress", "--out", str(out)]
    # 1) killed with SIGKILL right after its first checkpoint
    p = _cli([*common, "--workers", "1"])
    _wait_checkpoint(out, p, 1)
    p.send_signal(signal.SIGKILL)
    p.wait()
    ck1 = json.loads((out / "checkpoint.json").read_text())
    assert not ck1["complete"] and 1 <= ck1["next_chunk"] < n_chunks
    if ctrl_c:
        # 2) resumed, then Ctrl-C (SIGINT): it writes a checkpoint and exits with status 130
        p = _cli([*common, "--workers", "1", "--resume"])
        _wait_checkpoint(out, p, ck1["next_chunk"] + 2)
        p.send_signal(signal.SIGINT)
        _, err = _communicate(p)
        ck2 = json.loads((out / "checkpoint.json").read_text())
        if ck2["complete"]:
            # finished before the signal took effect: still a resumed run. A signal in the last
            # milliseconds, after the screen handed Ctrl-C back, may end the finished command
            # (click's "Aborted!", or SIGINT itself once the interpreter is shutting down)
            assert p.returncode == 0 or (p.returncode == 1 and b"Aborted" in err) \
                or p.returncode == -signal.SIGINT, (p.returncode, err.decode()[-2000:])
        else:
            assert p.returncode == 130, err.decode()[-2000:]
            assert b"--resume" in err and not ck2["complete"] and ck2["next_chunk"] > ck1["next_chunk"]
    # 3) resumed to the end
    p = _cli([*common, "--workers", "2", "--resume"])
    _, err = _communicate(p)
    assert p.returncode == 0, err.decode()[-2000:]
    # reference: one uninterrupted run in this process
    ref = tmp_path / "ref"
    cfg = ScreenOptions(library=str(lib), out=str(ref), workers=0, progress=False, top_n=30, chunk_records=50,
                       batch_size=25)
    run_screen(cfg, make_scorer)
    for name in ("hits.csv", "rejected.tsv", "scores.parquet"):
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    t = pq.read_table(out / "scores.parquet")
    lines = t.column("line").to_pylist()
    assert len(lines) == len(set(lines)) and set(lines) == valid
    ids = t.column("id").to_pylist()
    assert len(ids) == len(set(ids))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["sessions"] >= 2
    assert summary["counts"]["scored"] == len(valid) and summary["counts"]["rejected"] == len(bad)


def test_sigkill_then_ctrl_c_then_resume_gives_identical_output(tmp_path, targets):
    from screening_cases import AtomScorer

    _kill_interrupt_resume(
        tmp_path,
        ["--scorer", "screening_cases:atom_scorer_factory", "--target", str(targets[0]), "--target", str(targets[1])],
        lambda: AtomScorer(2),
        n_valid=2500,
    )


@pytest.mark.slow
def test_real_model_sigkill_then_resume_gives_identical_output(tmp_path, tiny_run, targets):
    _kill_interrupt_resume(
        tmp_path,
        ["--model", str(tiny_run), "--target", str(targets[0]), "--target", str(targets[1])],
        _scorer(tiny_run, targets),
        n_valid=2500,
        ctrl_c=False,
    )


def test_cli_errors_are_one_line_and_exit_2(tmp_path, tiny_run, targets):
    from typer.testing import CliRunner

    from sciarch.screening.cli import app

    r = CliRunner().invoke(app, ["screen", "--model", str(tiny_run), "--library", str(tmp_path / "nope.smi"),
                                 "--target", str(targets[0]), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "nope.smi: library file not found" in r.output
    lib = tmp_path / "l.smi"
    lib.write_text("CCO a\n")
    r = CliRunner().invoke(app, ["screen", "--model", str(tiny_run), "--library", str(lib), "--target", str(targets[0]),
                                 "--filter", "bogus", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--filter 'bogus'" in r.output
    bad = tmp_path / "bad.fasta"
    bad.write_text(">p\nMKV*J\n")
    r = CliRunner().invoke(app, ["screen", "--model", str(tiny_run), "--library", str(lib), "--target", str(bad),
                                 "--out", str(tmp_path / "o2"), "--workers", "0", "--no-progress"])
    assert r.exit_code == 2 and "bad.fasta" in r.output
    r = CliRunner().invoke(app, ["screen", "--library", str(lib), "--target", str(targets[0])])
    assert r.exit_code == 2 and "--model RUN_DIR is required" in r.output
