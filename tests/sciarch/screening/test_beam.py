"""The Beam screen (RunInference on the DirectRunner) gives the local screen's results: the same
top N (hits.csv), the same scores to float tolerance and the same rejected lines; sharded input
and truncated shards are handled; launcher errors are one line with exit status 2."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("apache_beam")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from sciarch.screening.beam import BeamJob, run_beam_screen  # noqa: E402
from sciarch.screening.engine import run_screen  # noqa: E402
from sciarch.screening.options import ScreenOptions  # noqa: E402

from screening_cases import AtomScorer, write_malformed_library  # noqa: E402

TOP, CHUNK, BATCH = 25, 60, 16


def _local(lib: Path, out: Path, make_scorer, **kw) -> Path:
    cfg = ScreenOptions(library=str(lib), out=str(out), workers=0, progress=False, top_n=TOP, chunk_records=CHUNK,
                       batch_size=BATCH, **kw)
    run_screen(cfg, make_scorer)
    return out


def _beam(libs, out: Path, model, targets, scorer=None, score_shards=0, **kw) -> dict:
    opts = ScreenOptions(libs, str(out), top_n=TOP, chunk_records=CHUNK, batch_size=BATCH, **kw)
    job = BeamJob([str(t) for t in targets], None if model is None else str(model), scorer=scorer,
                  score_shards=score_shards)
    return run_beam_screen(opts, job)


def _beam_scores(out: Path):
    files = sorted((out / "scores").glob("scores-*.parquet"))
    assert files
    t = pa.concat_tables([pq.read_table(f) for f in files])
    return t.sort_by([("shard", "ascending"), ("line", "ascending")])


def _beam_rejects(out: Path) -> tuple[str, list[str]]:
    files = sorted((out / "rejected").glob("rejected-*.tsv"))
    header, rows = None, []
    for f in files:
        lines = f.read_text().splitlines()
        header = header or lines[0]
        assert lines[0] == header
        rows += lines[1:]
    return header, rows


def _score_matrix(t, cols):
    return np.stack([t.column(c).to_numpy() for c in cols], axis=1)


def test_beam_matches_local_screen_with_the_model(tmp_path, tiny_run, targets):
    from pipelines.drugscreen.screening import AffinityModelScorer

    lib = tmp_path / "lib.smi"
    valid, bad, _ = write_malformed_library(lib, n_valid=400)
    local = _local(lib, tmp_path / "local", lambda: AffinityModelScorer.from_run_dir(tiny_run, targets))
    summary = _beam(str(lib), tmp_path / "beam", tiny_run, targets)
    beam = tmp_path / "beam"

    # the same ranked hits, same format; scores to float tolerance
    lh = list(csv.reader(io.StringIO((local / "hits.csv").read_text())))
    bh = list(csv.reader(io.StringIO((beam / "hits.csv").read_text())))
    assert bh[0] == lh[0] == ["rank", "id", "smiles", "line", "score_AAK1", "score_ABL1(E255K)"]
    assert len(bh) == len(lh) == TOP + 1
    assert [r[:4] for r in bh] == [r[:4] for r in lh]
    np.testing.assert_allclose(np.array([r[4:] for r in bh[1:]], float), np.array([r[4:] for r in lh[1:]], float),
                               rtol=1e-5, atol=1e-6)

    # every valid line scored once, the same scores as the local scores.parquet
    lt = pq.read_table(local / "scores.parquet")
    bt = _beam_scores(beam)
    assert bt.column("line").to_pylist() == lt.column("line").to_pylist()
    assert set(bt.column("line").to_pylist()) == valid
    assert bt.column("id").to_pylist() == lt.column("id").to_pylist()
    assert bt.column("smiles").to_pylist() == lt.column("smiles").to_pylist()
    assert set(bt.column("shard").to_pylist()) == {"lib.smi"}
    cols = ["score_AAK1", "score_ABL1(E255K)"]
    ls_, bs_ = _score_matrix(lt, cols), _score_matrix(bt, cols)
    assert np.std(ls_[:, 0]) > 1e-3  # the model tells molecules apart, so the comparison means something
    np.testing.assert_allclose(bs_, ls_, rtol=1e-5, atol=1e-6)

    # the same rejected lines (format of rejected.tsv), every bad line listed
    header, rows = _beam_rejects(beam)
    local_rows = (local / "rejected.tsv").read_text().splitlines()
    assert header == local_rows[0] == "line\traw\treason"
    assert sorted(rows, key=lambda r: int(r.split("\t")[0])) == local_rows[1:]
    assert {int(r.split("\t")[0]) for r in rows} == bad

    ls = json.loads((local / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["errors"] == [] and summary["runner"] == "DirectRunner"
    for k in ("read", "scored", "rejected", "rejected_by_reason"):
        assert summary["counts"][k] == ls["counts"][k], k
    assert json.loads((beam / "summary.json").read_text())["counts"]["scored"] == len(valid)


def test_sharded_library_and_truncated_shard(tmp_path, targets):
    """Two shards (.smi + .smi.gz) rank like one file; a truncated .gz shard keeps what was read
    and the run reports it. Uses the deterministic numpy scorer (fast)."""
    whole = tmp_path / "whole.smi"
    write_malformed_library(whole, n_valid=300)
    lines = whole.read_bytes().split(b"\n")[:-1]
    cut = 150
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "a.smi").write_bytes(b"\n".join(lines[:cut]) + b"\n")
    with gzip.open(shards / "b.smi.gz", "wb") as fh:
        fh.write(b"\n".join(lines[cut:]) + b"\n")
    local = _local(whole, tmp_path / "local", lambda: AtomScorer(2))
    spec = "screening_cases:atom_scorer_factory"
    summary = _beam(str(shards / "*"), tmp_path / "beam", None, targets, scorer=spec, rank_by="T1", score_shards=2)
    assert summary["status"] == "complete"
    beam = tmp_path / "beam"
    assert len(list((beam / "scores").glob("scores-*-of-00002.parquet"))) == 2

    # scores: shard-local line numbers map back to the whole file's lines
    bt = _beam_scores(beam)
    lt = pq.read_table(local / "scores.parquet")
    whole_lines = [ln + (cut if sh == "b.smi.gz" else 0)
                   for sh, ln in zip(bt.column("shard").to_pylist(), bt.column("line").to_pylist())]
    assert whole_lines == lt.column("line").to_pylist()
    np.testing.assert_allclose(_score_matrix(bt, ["score_T0", "score_T1"]), _score_matrix(lt, ["score_T0", "score_T1"]),
                               rtol=1e-6)

    # hits: the top N by T1, with a shard column after line
    key = _score_matrix(lt, ["score_T1"])[:, 0]
    order = sorted(range(len(key)), key=lambda i: (-key[i], lt.column("line")[i].as_py()))[:TOP]
    bh = list(csv.DictReader(io.StringIO((beam / "hits.csv").read_text())))
    assert list(bh[0].keys()) == ["rank", "id", "smiles", "line", "shard", "score_T0", "score_T1"]
    assert [h["id"] for h in bh] == [lt.column("id")[i].as_py() for i in order]
    assert [int(h["line"]) + (cut if h["shard"] == "b.smi.gz" else 0) for h in bh] == [
        lt.column("line")[i].as_py() for i in order]

    # rejects: shard column first, then the local rows
    header, rows = _beam_rejects(beam)
    assert header == "shard\tline\traw\treason"
    remapped = sorted((int(r.split("\t")[1]) + (cut if r.startswith("b.smi.gz\t") else 0), r.split("\t", 2)[2])
                      for r in rows)
    local_rows = [r.split("\t", 1) for r in (local / "rejected.tsv").read_text().splitlines()[1:]]
    assert remapped == [(int(a), b) for a, b in local_rows]

    # a truncated .gz shard: everything before the cut is scored; the run says incomplete
    data = (shards / "b.smi.gz").read_bytes()
    (shards / "b.smi.gz").write_bytes(data[: len(data) * 2 // 3])
    summary = _beam(str(shards / "*"), tmp_path / "beam_trunc", None, targets, scorer=spec)
    assert summary["status"] == "incomplete"
    assert len(summary["errors"]) == 1 and "b.smi.gz" in summary["errors"][0] and "truncated" in summary["errors"][0]
    assert 0 < summary["counts"]["read"] < 308


def test_cli_errors_are_one_line_and_exit_2(tmp_path, tiny_run, targets):
    """`sciarch screen --runner beam`: launcher errors (checked before the job starts)."""
    from typer.testing import CliRunner

    from sciarch.screening.cli import app

    def invoke(app, args):
        return CliRunner().invoke(app, ["screen", *args, "--runner", "beam"])

    base = ["--model", str(tiny_run), "--target", str(targets[0]), "--out", str(tmp_path / "o")]
    r = invoke(app, ["--library", str(tmp_path / "nope.smi"), *base])
    assert r.exit_code == 2 and "nope.smi: library file not found" in r.output
    r = invoke(app, ["--library", str(tmp_path / "none-*.smi"), *base])
    assert r.exit_code == 2 and "no library file matches" in r.output
    lib = tmp_path / "l.smi"
    lib.write_text("CCO a\n")
    r = invoke(app, ["--library", str(lib), *base, "--rank-by", "nosuch"])
    assert r.exit_code == 2 and "--rank-by 'nosuch'" in r.output
    bad = tmp_path / "bad.fasta"
    bad.write_text(">p\nMKV*J\n")
    r = invoke(app, ["--library", str(lib), "--model", str(tiny_run), "--target", str(bad), "--out",
                     str(tmp_path / "o2")])
    assert r.exit_code == 2 and "bad.fasta" in r.output
    r = invoke(app, ["--library", str(lib), "--model", str(tmp_path), "--target", str(targets[0]),
                     "--out", str(tmp_path / "o3")])
    assert r.exit_code == 2 and "no trained model" in r.output


def test_sciarch_screen_runner_beam_matches_local(tmp_path, targets):
    """`sciarch screen --runner beam` runs the Beam pipeline with the same flags as the local screen."""
    from typer.testing import CliRunner

    from sciarch.cli import _mount_extensions, app

    _mount_extensions(["screen"])
    lib = tmp_path / "lib.smi"
    write_malformed_library(lib, n_valid=200)
    common = ["screen", "--library", str(lib), "--target", str(targets[0]), "--target", str(targets[1]),
              "--scorer", "screening_cases:atom_scorer_factory", "--top", str(TOP), "--chunk-size", str(CHUNK),
              "--batch-size", str(BATCH)]
    r = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "local"), "--workers", "0", "--no-progress"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "beam"), "--runner", "beam"])
    assert r.exit_code == 0, r.output
    assert "on DirectRunner" in r.output
    assert (tmp_path / "beam" / "hits.csv").read_text() == (tmp_path / "local" / "hits.csv").read_text()
    # --resume of the finished Beam screen reports it again; other settings are refused
    r = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "beam"), "--runner", "beam", "--resume"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "beam"), "--runner", "beam", "--resume", "--dedup"])
    assert r.exit_code == 2 and "different settings" in r.output and "--dedup" in r.output
    r = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "y"), "--runner", "spark"])
    assert r.exit_code == 2 and "--runner 'spark'" in r.output
    r = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "z"), "--beam-option=--runner=DirectRunner"])
    assert r.exit_code == 2 and "--beam-option needs --runner beam" in r.output


def test_beam_dedup_and_resume_match_local(tmp_path, targets):
    """--dedup on Beam keeps the local screen's first copies and ledgers the same duplicates;
    --resume returns a finished screen without running it again and re-runs an unfinished one."""
    lib = tmp_path / "lib.smi"
    valid, bad, data = write_malformed_library(lib, n_valid=200)
    lines = data.split(b"\n")[:-1]
    # the first 40 lines again, written as the same molecules (the ids differ)
    extra = [ln.replace(b"\t", b"\tcopy_", 1) for ln in lines[:40] if ln and not ln.startswith(b"#")]
    lib.write_bytes(b"\n".join(lines + extra) + b"\n")
    local = _local(lib, tmp_path / "local", lambda: AtomScorer(2), dedup=True)
    summary = _beam(str(lib), tmp_path / "beam", None, targets, scorer="screening_cases:atom_scorer_factory",
                    dedup=True)
    beam = tmp_path / "beam"
    ls = json.loads((local / "summary.json").read_text())
    assert ls["counts"]["rejected_by_reason"].get("duplicate", 0) >= 30
    for k in ("read", "scored", "rejected", "rejected_by_reason"):
        assert summary["counts"][k] == ls["counts"][k], k
    assert (beam / "hits.csv").read_text() == (local / "hits.csv").read_text()
    lt = pq.read_table(local / "scores.parquet")
    bt = _beam_scores(beam)
    assert bt.column("line").to_pylist() == lt.column("line").to_pylist()
    _, rows = _beam_rejects(beam)
    local_rows = (local / "rejected.tsv").read_text().splitlines()[1:]
    assert sorted(rows, key=lambda r: int(r.split("\t")[0])) == local_rows
    assert any("same canonical SMILES as line" in r for r in rows)
    assert summary["truncated_targets"] == [] and summary["unread_from_line"] is None

    # resume: the finished screen is returned as it was (its outputs untouched)
    before = {p: p.stat().st_mtime_ns for p in beam.rglob("*") if p.is_file()}
    again = _beam(str(lib), beam, None, targets, scorer="screening_cases:atom_scorer_factory", dedup=True, resume=True)
    assert again == summary
    assert {p: p.stat().st_mtime_ns for p in beam.rglob("*") if p.is_file()} == before
    with pytest.raises(Exception, match="different settings.*--top"):
        opts = ScreenOptions(str(lib), str(beam), top_n=TOP + 1, chunk_records=CHUNK, batch_size=BATCH, dedup=True,
                             resume=True)
        run_beam_screen(opts, BeamJob([str(t) for t in targets], None, scorer="screening_cases:atom_scorer_factory"))
    # an unfinished screen runs again from the start
    summary_path = beam / "summary.json"
    summary_path.write_text(json.dumps({**summary, "status": "incomplete"}))
    third = _beam(str(lib), beam, None, targets, scorer="screening_cases:atom_scorer_factory", dedup=True, resume=True)
    assert third["status"] == "complete" and third["counts"] == summary["counts"]


def test_beam_summary_reports_the_unread_line_of_a_truncated_shard(tmp_path, targets):
    lib = tmp_path / "lib.smi.gz"
    _, _, data = write_malformed_library(tmp_path / "plain.smi", n_valid=300)
    packed = gzip.compress(data)
    lib.write_bytes(packed[: len(packed) * 2 // 3])
    summary = _beam(str(lib), tmp_path / "beam", None, targets, scorer="screening_cases:atom_scorer_factory")
    assert summary["status"] == "incomplete"
    local = tmp_path / "local"
    with pytest.raises(Exception):
        _local(lib, local, lambda: AtomScorer(2))
    ls = json.loads((local / "summary.json").read_text())
    assert isinstance(summary["unread_from_line"], int) and summary["unread_from_line"] == ls["unread_from_line"]
    assert 0 < summary["counts"]["read"] < 300
