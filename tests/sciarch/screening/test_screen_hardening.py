"""`sciarch screen` hardening: resume checks, byte-identical scores.parquet, encodings,
nucleotide / over-long targets, corrupt gzip libraries."""

from __future__ import annotations

import csv
import gzip
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sciarch.screening.cli import app
from sciarch.screening.engine import ScreenInterrupted, run_screen
from sciarch.screening.options import ScreenOptions
from sciarch.screening.outputs import ScoresStore

from screening_cases import AtomScorer, write_malformed_library, zinc_lines

SCORER = ["--scorer", "screening_cases:atom_scorer_factory"]
FAST = ["--workers", "0", "--no-progress", "--chunk-size", "128", "--batch-size", "32"]


def _screen(*args):
    return CliRunner().invoke(app, ["screen", *args])


def _err_lines(r):
    return [ln for ln in r.output.splitlines() if ln.startswith("error:")]


def _rejected(out):
    with open(out / "rejected.tsv", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows[1:]


# ----------------------------------------------------------------------------- 1. resume
def test_resume_of_finished_screen_with_other_options_is_refused(tmp_path):
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join(zinc_lines(300)) + "\n")
    t1, t2 = tmp_path / "a.fasta", tmp_path / "b.fasta"
    t1.write_text(">a\nMKVLAAGIC\n")
    t2.write_text(">b\nMKVLAAGICW\n")
    out = tmp_path / "o"
    base = ["-l", str(lib), "-o", str(out), *SCORER, *FAST]
    r = _screen(*base, "-t", str(t1), "--top", "10")
    assert r.exit_code == 0, r.output
    hits = (out / "hits.csv").read_bytes()
    cases = [
        (["-t", str(t1), "--top", "20"], "--top 10 -> 20"),
        (["-t", str(t2), "--top", "10"], "--target [a.fasta:"),
        (["-t", str(t1), "--top", "10", "--batch-size", "16"], "--batch-size 32 -> 16"),
        (["-t", str(t1), "--top", "10", "--rank-by", "max"], "--rank-by 'mean' -> 'max'"),
    ]
    for extra, named in cases:
        r = _screen(*base, *extra, "--resume")
        assert r.exit_code == 2, (extra, r.output)
        (line,) = _err_lines(r)
        assert line.startswith(f"error: {out}/checkpoint.json: the finished screen was made with different settings (")
        assert named in line and "--overwrite" in line
        assert "screened" not in r.output
    assert (out / "hits.csv").read_bytes() == hits
    # the same options report the finished screen again
    r = _screen(*base, "-t", str(t1), "--top", "10", "--resume")
    assert r.exit_code == 0 and "screened 300 records: 300 scored, 0 rejected" in r.output


# ----------------------------------------------------------------------------- 2. byte-identical parquet
def test_scores_parquet_bytes_do_not_depend_on_part_boundaries(tmp_path):
    """Big enough for several Parquet data pages per column: page cuts used to follow the parts."""
    rng = np.random.default_rng(0)
    n = 70_000
    lines = np.arange(1, n + 1)
    ids = [f"ZINC{rng.integers(10**12):012d}" for _ in range(n)]
    smiles = ["".join(rng.choice(list("CNOc1()=[]@"), 40)) for _ in range(n)]
    scores = rng.random((n, 2)).astype(np.float32)
    outputs = []
    for cuts in ([], [3_333], [12_345, 40_000, 65_536], [1, 2, 69_999]):
        d = tmp_path / f"cut{len(outputs)}"
        store = ScoresStore(d, ["score_a", "score_b"])
        parts = []
        for a, b in zip([0, *cuts], [*cuts, n]):
            store.append(lines[a:b], ids[a:b], smiles[a:b], scores[a:b])
            parts.append(store.flush_part())
        store.finalize(parts, d / "scores.parquet")
        outputs.append((d / "scores.parquet").read_bytes())
    assert all(o == outputs[0] for o in outputs[1:])
    assert pq.read_metadata(tmp_path / "cut0" / "scores.parquet").num_row_groups == 2


@pytest.mark.parametrize("stop_after", [1, 4, 9])
def test_interrupt_at_several_points_then_resume_is_byte_identical(tmp_path, monkeypatch, stop_after):
    import sciarch.screening.engine as eng

    lib = tmp_path / "lib.smi"
    write_malformed_library(lib, 1200)

    def cfg(out, **kw):
        return ScreenOptions(library=str(lib), out=str(out), workers=0, progress=False, chunk_records=100,
                            batch_size=32, part_rows=150, top_n=20, **kw)

    run_screen(cfg(tmp_path / "ref"), lambda: AtomScorer(2))
    orig = eng._Screen._commit_next
    calls = {"n": 0}

    def commit_and_stop(self, inflight):
        orig(self, inflight)
        calls["n"] += 1
        if calls["n"] == stop_after:
            self.stop_requested = True

    monkeypatch.setattr(eng._Screen, "_commit_next", commit_and_stop)
    with pytest.raises(ScreenInterrupted):
        run_screen(cfg(tmp_path / "out"), lambda: AtomScorer(2))
    monkeypatch.setattr(eng._Screen, "_commit_next", orig)
    run_screen(cfg(tmp_path / "out", resume=True), lambda: AtomScorer(2))
    for name in ("scores.parquet", "hits.csv", "rejected.tsv"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes(), name


# ----------------------------------------------------------------------------- 3. encodings
def test_utf16_library_is_refused_with_one_line(tmp_path):
    text = "\n".join(zinc_lines(100)) + "\n"
    t = tmp_path / "t.fasta"
    t.write_text(">a\nMKVLAAGIC\n")
    for name, data, expect in [
        ("bom.smi", text.encode("utf-16"), "line 1: the file is UTF-16 (little-endian) text (byte-order mark FF FE), not UTF-8"),
        ("nobom.smi", text.encode("utf-16-le"), "NUL"),
        ("bom.smi.gz", gzip.compress(b"\xfe\xff" + text.encode("utf-16-be")), "UTF-16 (big-endian) text (byte-order mark FE FF)"),
    ]:
        lib = tmp_path / name
        lib.write_bytes(data)
        r = _screen("-l", str(lib), "-t", str(t), "-o", str(tmp_path / f"o_{name}"), *SCORER, *FAST)
        assert r.exit_code == 2, r.output
        (line,) = _err_lines(r)
        assert line.startswith(f"error: {lib}: ") and expect in line, line


def test_utf8_bom_and_stray_bad_byte(tmp_path):
    good = zinc_lines(100)
    raw = [g.encode() for g in good]
    raw[41] = raw[41][:5] + b"\xe9" + raw[41][5:]
    lib = tmp_path / "lib.smi"
    lib.write_bytes(b"\xef\xbb\xbf" + b"\n".join(raw) + b"\n")
    s = run_screen(ScreenOptions(library=str(lib), out=str(tmp_path / "o"), workers=0, progress=False),
                   lambda: AtomScorer(1))
    assert (s["counts"]["scored"], s["counts"]["rejected"]) == (99, 1)
    (row,) = _rejected(tmp_path / "o")
    assert row[0] == "42" and row[2] == "encoding: not valid UTF-8 (byte 0xe9 at column 6)"
    ids = pq.read_table(tmp_path / "o" / "scores.parquet").column("id").to_pylist()
    assert ids[0] == good[0].split()[1]  # the BOM did not spoil line 1


def test_target_fasta_with_bad_byte_names_file_and_line(tmp_path, tiny_run):
    lib = tmp_path / "lib.smi"
    lib.write_text("CCO a\n")
    t = tmp_path / "t.fasta"
    t.write_bytes(b">kin1 kinase\nMKVLA\nAG\xffIC\n")
    r = _screen("-m", str(tiny_run), "-l", str(lib), "-t", str(t), "-o", str(tmp_path / "o"), *FAST)
    assert r.exit_code == 2
    (line,) = _err_lines(r)
    assert line == (f"error: {t}: 1 problem(s) in FASTA input: record 1 'kin1' (line 1), line 3: "
                    "not valid UTF-8 text (byte 0xff at column 3)")


# ----------------------------------------------------------------------------- 4. targets
def test_nucleotide_target_is_refused(tmp_path, tiny_run):
    lib = tmp_path / "lib.smi"
    lib.write_text("CCO a\n")
    t = tmp_path / "dna.fasta"
    t.write_text(">prot\nMKVLAAGIC\n>gene7 exon\nACGTACGTTTGACNNACGTA\n")
    r = _screen("-m", str(tiny_run), "-l", str(lib), "-t", str(t), "-o", str(tmp_path / "o"), *FAST)
    assert r.exit_code == 2
    assert _err_lines(r) == [f"error: {t} record gene7: looks like a nucleotide sequence (ACGT/N only), expected protein"]


def test_long_target_is_truncated_with_a_warning_and_recorded(tmp_path, tiny_run, targets):
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join(zinc_lines(20)) + "\n")
    r = CliRunner().invoke(
        app, ["screen", "-m", str(tiny_run), "-l", str(lib), "-t", str(targets[0]), "-o", str(tmp_path / "o"), *FAST]
    )
    assert r.exit_code == 0, r.stderr
    warn = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert warn == [f"warning: {targets[0]} record AAK1: 300 residues, longer than the model's maximum length 128; "
                    "only the first 128 are scored"]
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["truncated_targets"] == [{"target": "AAK1", "file": str(targets[0]), "length": 300, "max_length": 128}]


# ----------------------------------------------------------------------------- 5. corrupt gzip
def test_corrupt_crc_gzip_scores_what_decodes_then_one_line_error(tmp_path):
    lines = zinc_lines(1500)
    gz = bytearray(gzip.compress(("\n".join(lines) + "\n").encode()))
    gz[-6] ^= 0xFF  # the CRC32 in the gzip trailer
    lib = tmp_path / "crc.smi.gz"
    lib.write_bytes(bytes(gz))
    t = tmp_path / "t.fasta"
    t.write_text(">a\nMKVLAAGIC\n")
    out = tmp_path / "o"
    r = _screen("-l", str(lib), "-t", str(t), "-o", str(out), *SCORER, *FAST)
    assert r.exit_code == 1
    (line,) = _err_lines(r)
    assert line.startswith(f"error: {lib}: corrupt compressed stream (") and "incorrect data check" in line
    assert "after line 1500" in line and "kept: 1,500 scored, 0 rejected" in line
    assert "rejected.tsv line 1501: unreadable" in line
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "incomplete" and s["unread_from_line"] == 1501 and s["counts"]["scored"] == 1500
    assert pq.read_table(out / "scores.parquet").num_rows == 1500
    (row,) = _rejected(out)
    assert row[0] == "1501" and row[2].startswith("unreadable: the library cannot be read from this line on: ")


def test_corrupt_deflate_data_keeps_lines_before_the_bad_byte(tmp_path):
    from sciarch.screening.readers import LibraryReadError, LibrarySpec, iter_raw_chunks, split_chunk

    lines = zinc_lines(3000)
    data = ("\n".join(lines) + "\n").encode()
    gz = bytearray(gzip.compress(data))
    gz[len(gz) // 2 : len(gz) // 2 + 64] = b"\xff" * 64  # garbage in the middle of the deflate data
    lib = tmp_path / "mid.smi.gz"
    lib.write_bytes(bytes(gz))
    got = []
    with pytest.raises(LibraryReadError, match=r"mid\.smi\.gz: corrupt compressed stream") as ei:
        for c in iter_raw_chunks(LibrarySpec.from_path(lib), 200):
            got.extend(split_chunk(c, "smi"))
    assert len(got) > 1000 and ei.value.unread_from_line == len(got) + 1
    # the records before the damaged block come back unchanged
    n_ok = next(i for i, (_, raw) in enumerate(got) if i >= len(lines) or raw.decode("utf-8", "replace") != lines[i])
    assert n_ok > 1000
