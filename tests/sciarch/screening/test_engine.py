"""The local screen end to end: malformed lines, truncated gzip, resume, ranking, filters."""

from __future__ import annotations

import csv
import gzip
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from sciarch.screening.engine import ScreenError, ScreenIncomplete, run_screen
from sciarch.screening.options import ScreenOptions
from sciarch.screening.ranking import TopN, ranking_key

from screening_cases import AtomScorer, write_malformed_library, zinc_lines


def _cfg(tmp_path, lib, **kw):
    base = dict(library=str(lib), out=str(tmp_path / "out"), workers=0, progress=False, chunk_records=64, batch_size=32)
    base.update(kw)
    return ScreenOptions(**base)


def _rejected(out):
    with open(out / "rejected.tsv", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows[0] == ["line", "raw", "reason"]
    return rows[1:]


def test_malformed_library_scores_every_valid_line_and_lists_every_bad_one(tmp_path):
    lib = tmp_path / "lib.smi"
    valid, bad, _ = write_malformed_library(lib, 700)  # 8 bad lines in 708 (~1%)
    summary = run_screen(_cfg(tmp_path, lib, workers=2, top_n=20), lambda: AtomScorer(2))
    out = tmp_path / "out"
    c = summary["counts"]
    assert (c["read"], c["scored"], c["rejected"]) == (len(valid) + len(bad), len(valid), len(bad))
    assert summary["status"] == "complete" and summary["library"]["sha256"]
    rej = _rejected(out)
    assert {int(r[0]) for r in rej} == bad
    assert [int(r[0]) for r in rej] == sorted(int(r[0]) for r in rej)
    assert all(r[2].split(":")[0] in {"empty", "comment", "invalid_smiles", "encoding", "too_large"} for r in rej)
    table = pq.read_table(out / "scores.parquet")
    assert table.column_names == ["line", "id", "smiles", "score_T0", "score_T1"]
    assert set(table.column("line").to_pylist()) == valid
    assert len(set(table.column("id").to_pylist())) == len(valid)
    assert not (out / "parts").exists()


def test_ranking_matches_full_sort_and_ties_break_by_line(tmp_path):
    lines = zinc_lines(300)
    lines += lines[:40]  # exact duplicates -> exact score ties
    lib = tmp_path / "dup.smi"
    lib.write_text("\n".join(lines) + "\n")
    run_screen(_cfg(tmp_path, lib, top_n=60, rank_by="max"), lambda: AtomScorer(3))
    t = pq.read_table(tmp_path / "out" / "scores.parquet").to_pandas()
    key = ranking_key(t[["score_T0", "score_T1", "score_T2"]].to_numpy(), "max")
    order = sorted(range(len(t)), key=lambda i: (-key[i], t.line[i]))[:60]
    with open(tmp_path / "out" / "hits.csv") as fh:
        hits = list(csv.DictReader(fh))
    assert [int(h["line"]) for h in hits] == [int(t.line[i]) for i in order]
    assert [int(h["rank"]) for h in hits] == list(range(1, 61))
    # merging per-shard top-Ns gives the global one
    shards = [TopN(60) for _ in range(3)]
    sc = t[["score_T0", "score_T1", "score_T2"]].to_numpy()
    for s in range(3):
        idx = np.arange(s, len(t), 3)
        shards[s].offer(key[idx], t.line.to_numpy()[idx], list(t.id[idx]), list(t.smiles[idx]), sc[idx])
    merged = shards[0].merge(shards[1]).merge(shards[2])
    assert [h.line for h in merged.ranked()] == [int(h["line"]) for h in hits]


def test_truncated_gzip_clear_error_and_keeps_what_was_scored(tmp_path):
    lines = zinc_lines(4000)
    gz = gzip.compress(("\n".join(lines) + "\n").encode())
    lib = tmp_path / "cut.smi.gz"
    lib.write_bytes(gz[: int(len(gz) * 0.6)])
    with pytest.raises(ScreenIncomplete, match=r"cut\.smi\.gz: truncated compressed stream .* after line (\d+)") as ei:
        run_screen(_cfg(tmp_path, lib, top_n=10), lambda: AtomScorer(1))
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "incomplete" and "truncated" in summary["error"]
    c = summary["counts"]
    assert c["scored"] > 1000 and c["read"] == c["scored"] + c["rejected"]
    t = pq.read_table(out / "scores.parquet")
    assert t.num_rows == c["scored"]
    assert t.column("smiles").to_pylist() == [l.split()[0] for l in lines[: c["scored"]]]
    rej = _rejected(out)
    # the partial last line (if any) is "truncated"; the last row says where reading stopped
    *records, last = rej
    assert len(records) <= 1 and all(r[2].startswith("truncated") for r in records)
    assert last[2].startswith("unreadable: the library cannot be read from this line on: ")
    assert int(last[0]) == summary["unread_from_line"] == int(ei.value.args[0].split("after line ")[1].split(";")[0]) + 1
    assert ei.value.summary["counts"] == c
    assert (out / "hits.csv").read_text().count("\n") == 11


def test_csv_library_with_filters_salts_and_dedup(tmp_path):
    lines = [l.split() for l in zinc_lines(200)]
    rows = [("name", "smiles")] + [(i, s) for s, i in lines]
    rows += [("salt_copy", lines[0][0] + ".[Na+]"), ("rhodanine", "S=C1SC(=Cc2ccccc2)C(=O)N1"), ("dup", lines[5][0])]
    lib = tmp_path / "lib.csv.gz"
    with gzip.open(lib, "wt", newline="") as fh:
        csv.writer(fh).writerows(rows)
    s = run_screen(
        _cfg(tmp_path, lib, strip_salts=True, dedup=True, filters=("pains",), top_n=5), lambda: AtomScorer(1)
    )
    rej = {int(r[0]): r[2] for r in _rejected(tmp_path / "out")}
    n = len(rows)  # file lines: header = 1, data = 2..n
    assert rej[n - 2].startswith("duplicate: same canonical SMILES as line 2")  # salt stripped -> same as line 2
    assert rej[n - 1].startswith("filtered: pains")
    assert rej[n].startswith("duplicate: same canonical SMILES as line 7")
    pains_in_zinc = [ln for ln in rej if ln <= 201]
    assert all(rej[ln].startswith("filtered: pains") for ln in pains_in_zinc)
    assert s["counts"]["scored"] == 200 - len(pains_in_zinc)
    assert s["counts"]["rejected_by_reason"] == {"duplicate": 2, "filtered": len(pains_in_zinc) + 1}
    ids = pq.read_table(tmp_path / "out" / "scores.parquet").column("id").to_pylist()
    assert ids == [i for k, (i, _) in enumerate(rows[1:201], 2) if k not in rej]


def test_existing_output_needs_resume_or_overwrite(tmp_path):
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join(zinc_lines(50)) + "\n")
    run_screen(_cfg(tmp_path, lib), lambda: AtomScorer(1))
    with pytest.raises(ScreenError, match="pass --resume to continue it or --overwrite"):
        run_screen(_cfg(tmp_path, lib), lambda: AtomScorer(1))
    with pytest.raises(ScreenError, match="nothing to resume"):
        run_screen(_cfg(tmp_path, lib, out=str(tmp_path / "other"), resume=True), lambda: AtomScorer(1))
    # resuming a finished screen returns its summary; overwrite starts again
    s = run_screen(_cfg(tmp_path, lib, resume=True), lambda: AtomScorer(1))
    assert s["counts"]["scored"] == 50
    s = run_screen(_cfg(tmp_path, lib, overwrite=True), lambda: AtomScorer(1))
    assert s["sessions"] == 1


def test_interrupt_then_resume_is_identical(tmp_path, monkeypatch):
    """A stop request (Ctrl-C / SIGTERM) mid-way writes a checkpoint; resume gives identical files."""
    import sciarch.screening.engine as eng

    lib = tmp_path / "lib.smi"
    write_malformed_library(lib, 1500)
    ref = tmp_path / "ref"
    run_screen(_cfg(tmp_path, lib, out=str(ref), top_n=25, dedup=True), lambda: AtomScorer(2))

    calls = {"n": 0}
    orig = eng._Screen._commit_next

    def commit_and_interrupt(self, inflight):
        orig(self, inflight)
        calls["n"] += 1
        if calls["n"] == 7:
            self.stop_requested = True  # what the SIGINT/SIGTERM handler does

    monkeypatch.setattr(eng._Screen, "_commit_next", commit_and_interrupt)
    out = tmp_path / "out"
    with pytest.raises(eng.ScreenInterrupted, match="--resume"):
        run_screen(_cfg(tmp_path, lib, top_n=25, dedup=True), lambda: AtomScorer(2))
    ck = json.loads((out / "checkpoint.json").read_text())
    assert ck["next_chunk"] == 7 and not ck["complete"]
    monkeypatch.setattr(eng._Screen, "_commit_next", orig)
    with pytest.raises(ScreenError, match="different settings"):
        run_screen(_cfg(tmp_path, lib, top_n=26, dedup=True, resume=True), lambda: AtomScorer(2))
    s = run_screen(_cfg(tmp_path, lib, top_n=25, dedup=True, resume=True), lambda: AtomScorer(2))
    assert s["sessions"] == 2
    for name in ("hits.csv", "rejected.tsv", "scores.parquet"):
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
