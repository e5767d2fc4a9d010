"""Parquet and Enamine REAL-style .cxsmiles libraries: columns named like CSV ones, every bad
record ledgered with its line (Parquet: row), the same scores as the .smi form of the same molecules."""

from __future__ import annotations

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sciarch.screening.engine import run_screen
from sciarch.screening.featurize import featurize_chunk
from sciarch.screening.options import ScreenOptions
from sciarch.screening.readers import LibraryReadError, LibrarySpec, detect_format, iter_raw_chunks

from screening_cases import AtomScorer, zinc_lines

BAD = {3: "C1CC(", 7: "Xx12", 11: "", 12: None}  # row -> malformed / empty / null SMILES


def _rows(n=40):
    smiles = [line.split()[0] for line in zinc_lines(n)]
    for row, s in BAD.items():
        smiles[row - 1] = s
    ids = [f"Z{i:04d}" for i in range(1, n + 1)]
    ids[4] = None  # a null id gets the line-number id
    ids[5] = "tab\there"
    return smiles, ids


def _screen(lib, out, **kw) -> dict:
    cfg = ScreenOptions(library=str(lib), out=str(out), workers=0, progress=False, top_n=5, chunk_records=16,
                        batch_size=8, **kw)
    return run_screen(cfg, lambda: AtomScorer(2))


def _rejected(out) -> dict[int, str]:
    rows = (out / "rejected.tsv").read_text().splitlines()[1:]
    return {int(r.split("\t")[0]): r.split("\t")[-1] for r in rows}


def test_parquet_library_scores_like_smi_and_ledgers_bad_rows(tmp_path):
    smiles, ids = _rows()
    lib = tmp_path / "lib.parquet"
    pq.write_table(pa.table({"mw": list(range(len(smiles))), "SMILES": smiles, "compound": ids}), lib, row_group_size=10)
    assert detect_format(lib) == ("parquet", False)
    spec = LibrarySpec.from_path(lib, id_column="compound")  # the SMILES column is found by its name
    assert (spec.smiles_column, spec.id_column) == ("SMILES", "compound")
    chunks = list(iter_raw_chunks(spec, 16))
    assert [(c.first_line, c.n_records) for c in chunks] == [(1, 16), (17, 16), (33, 8)]
    s = _screen(lib, tmp_path / "out", id_column="compound")
    assert s["counts"] == {"read": 40, "scored": 36, "rejected": 4, "rejected_by_reason": {"empty": 2, "invalid_smiles": 2}}
    assert set(_rejected(tmp_path / "out")) == set(BAD)
    # the same molecules as a .smi library score identically, row k = line k
    smi = tmp_path / "lib.smi"
    smi.write_text("".join(f"{s or ''}\tZ{i:04d}\n" for i, s in enumerate(smiles, 1)))
    _screen(smi, tmp_path / "smi_out")
    a = pq.read_table(tmp_path / "out" / "scores.parquet")
    b = pq.read_table(tmp_path / "smi_out" / "scores.parquet")
    assert a.column("line").to_pylist() == b.column("line").to_pylist()
    assert a.column("score_T0").to_pylist() == b.column("score_T0").to_pylist()
    got_ids = dict(zip(a.column("line").to_pylist(), a.column("id").to_pylist()))
    assert got_ids[5] == "line_5" and got_ids[6] == "tab\\there" and got_ids[1] == "Z0001"


def test_parquet_column_errors_name_the_file(tmp_path):
    lib = tmp_path / "lib.parquet"
    pq.write_table(pa.table({"structure": ["CCO"], "name": ["a"]}), lib)
    with pytest.raises(LibraryReadError, match=r"lib.parquet: cannot find the SMILES column among structure, name"):
        LibrarySpec.from_path(lib)
    with pytest.raises(LibraryReadError, match=r"lib.parquet: no column named 'nope' for the id"):
        LibrarySpec.from_path(lib, smiles_column="structure", id_column="nope")
    spec = LibrarySpec.from_path(lib, smiles_column="structure")
    assert spec.id_column == "name"
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(LibraryReadError, match=r"broken.parquet: not a readable Parquet file"):
        LibrarySpec.from_path(tmp_path / "broken.parquet")


def test_cxsmiles_enamine_layout(tmp_path):
    smiles, _ = _rows(30)
    lib = tmp_path / "real.cxsmiles"
    with open(lib, "w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["smiles", "id", "MW", "HAC"])
        for i, s in enumerate(smiles, 1):
            if i == 2:  # a CXSMILES extension (enhanced stereo) after the SMILES
                s = "C[C@H](N)C(=O)O |&1:1|"
            w.writerow([s or "", f"PV-{i:06d}", "300.1", "20"])
        fh.write("C1CC\tPV-broken\n")  # a short row with a bad SMILES
    spec = LibrarySpec.from_path(lib)
    assert (spec.kind, spec.delimiter, spec.smiles_column, spec.id_column, spec.header_lines) == (
        "csv", "\t", "smiles", "id", 1)
    s = _screen(lib, tmp_path / "out")
    # header is line 1: row k is line k + 1
    assert set(_rejected(tmp_path / "out")) == {r + 1 for r in BAD} | {32}
    assert s["counts"]["read"] == 31 and s["counts"]["scored"] == 31 - len(BAD) - 1
    hits = list(csv.DictReader(open(tmp_path / "out" / "hits.csv")))
    assert all(h["id"].startswith("PV-") for h in hits)
    fc = featurize_chunk(next(iter_raw_chunks(spec, 4)), ScreenOptions(str(lib), "x").featurize_options(spec))
    assert fc.ids[:2] == ["PV-000001", "PV-000002"] and fc.smiles[1] == "C[C@H](N)C(=O)O |&1:1|"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["library"]["kind"] == "csv" and summary["library"]["delimiter"] == "\t"
