"""Readers (chunking, formats, truncated gzip) and worker-side featurisation / filters."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from sciarch.screening.featurize import FeaturizeOptions, featurize_chunk, featurize_records, pack_batches
from sciarch.screening.readers import LibraryReadError, LibrarySpec, iter_raw_chunks, split_chunk

from screening_cases import HUGE, write_malformed_library, zinc_lines


def _all_records(spec, chunk):
    out = []
    for c in iter_raw_chunks(spec, chunk):
        recs = list(split_chunk(c, spec.kind))
        assert len(recs) == c.n_records
        assert recs[0][0] == c.first_line
        out.extend(recs)
    return out


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_smi_chunks_cover_every_line_once(tmp_path, chunk):
    valid, bad, data = write_malformed_library(tmp_path / "lib.smi", 200)
    spec = LibrarySpec.from_path(tmp_path / "lib.smi")
    recs = _all_records(spec, chunk)
    expected = data.split(b"\n")[:-1]
    assert [r[0] for r in recs] == list(range(1, len(expected) + 1))
    assert [r[1] for r in recs] == expected


def test_gzip_and_plain_give_same_chunks(tmp_path):
    _, _, data = write_malformed_library(tmp_path / "lib.smi", 300)
    (tmp_path / "lib.smi.gz").write_bytes(gzip.compress(data))
    a = [(c.index, c.first_line, c.n_records, c.data) for c in iter_raw_chunks(LibrarySpec.from_path(tmp_path / "lib.smi"), 50)]
    b = [(c.index, c.first_line, c.n_records, c.data) for c in iter_raw_chunks(LibrarySpec.from_path(tmp_path / "lib.smi.gz"), 50)]
    assert a == b


def test_truncated_gzip_yields_complete_records_then_clear_error(tmp_path):
    lines = zinc_lines(3000)
    data = ("\n".join(lines) + "\n").encode()
    gz = gzip.compress(data)
    p = tmp_path / "cut.smi.gz"
    p.write_bytes(gz[: len(gz) // 2])
    spec = LibrarySpec.from_path(p)
    got = []
    with pytest.raises(LibraryReadError, match=r"cut\.smi\.gz: truncated compressed stream .* after line \d+"):
        for c in iter_raw_chunks(spec, 256):
            got.append(c)
    assert got and got[-1].truncated_tail
    recs = [r for c in got for r in split_chunk(c, "smi")]
    # every complete line before the cut is there, unchanged
    complete = [r for r in recs[:-1]]
    assert [r[1].decode() for r in complete] == lines[: len(complete)]
    assert len(complete) > 100


def test_csv_columns_resolved_and_errors_name_file(tmp_path):
    p = tmp_path / "lib.csv"
    p.write_text('name,SMILES,mw\nethanol,CCO,46\n"benzene, ring",c1ccccc1,78\nbad,"unterminated,1\n')
    spec = LibrarySpec.from_path(p)
    assert (spec.smiles_index, spec.id_index, spec.header_lines) == (1, 0, 1)
    ok, rejects = featurize_records(
        _all_records(spec, 10), FeaturizeOptions(kind="csv", smiles_index=1, id_index=0)
    )
    assert [(m.line, m.id, m.smiles) for m in ok] == [(2, "ethanol", "CCO"), (3, "benzene, ring", "c1ccccc1")]
    assert [(r.line, r.code) for r in rejects] == [(4, "format")]
    with pytest.raises(LibraryReadError, match=r"lib\.csv: line 1: no column named 'smi_x'"):
        LibrarySpec.from_path(p, smiles_column="smi_x")
    q = tmp_path / "nosmiles.csv"
    q.write_text("a,b\n1,2\n")
    with pytest.raises(LibraryReadError, match="cannot find the SMILES column"):
        LibrarySpec.from_path(q)
    with pytest.raises(LibraryReadError, match="library file not found"):
        LibrarySpec.from_path(tmp_path / "missing.smi")
    with pytest.raises(LibraryReadError, match="cannot tell the library format"):
        (tmp_path / "lib.xyz").write_text("CCO\n")
        LibrarySpec.from_path(tmp_path / "lib.xyz")


def test_sdf_records_ids_and_bad_block(tmp_path):
    from rdkit import Chem

    blocks = []
    for i, smi in enumerate(["CCO", "c1ccccc1", "CC(=O)O"]):
        m = Chem.MolFromSmiles(smi)
        m.SetProp("_Name", f"mol{i}")
        m.SetProp("code", f"C{i}")
        blocks.append(Chem.MolToMolBlock(m) + "> <code>\nC%d\n\n$$$$\n" % i)
    blocks.insert(1, "broken\n  junk\n\nnot a molblock\nM  END\n$$$$\n")
    p = tmp_path / "lib.sdf"
    p.write_text("".join(blocks))
    spec = LibrarySpec.from_path(p)
    recs = _all_records(spec, 2)
    assert len(recs) == 4
    ok, rejects = featurize_records(recs, FeaturizeOptions(kind="sdf"))
    assert [m.id for m in ok] == ["mol0", "mol1", "mol2"]
    assert [m.smiles for m in ok] == ["CCO", "c1ccccc1", "CC(=O)O"]
    assert [r.code for r in rejects] == ["invalid_molecule"] and rejects[0].line == recs[1][0]
    ok2, _ = featurize_records(recs, FeaturizeOptions(kind="sdf", id_field="code"))
    assert [m.id for m in ok2] == ["C0", "C1", "C2"]


def test_malformed_lines_each_get_a_reason():
    recs = [
        (1, b"CCO ok"),
        (2, b""),
        (3, b"# comment"),
        (4, b"C1CC("),
        (5, b"\xff\xfegarbage"),
        (6, HUGE.encode()),
        (7, b"CC\x00O"),
        (8, b"c1ccccc1"),  # no id -> line id
    ]
    ok, rejects = featurize_records(recs, FeaturizeOptions())
    assert [(m.line, m.id) for m in ok] == [(1, "ok"), (8, "line_8")]
    codes = {r.line: r.code for r in rejects}
    assert codes == {2: "empty", 3: "comment", 4: "invalid_smiles", 5: "encoding", 6: "too_large", 7: "encoding"}
    raw5 = next(r.raw for r in rejects if r.line == 5)
    assert raw5 == "\\xff\\xfegarbage"
    assert "too large (400 atoms > max_atoms=150)" in next(r.message for r in rejects if r.line == 6)


def test_filters_salts_and_dedup_keys():
    # rhodanine-type ene (PAINS A) and a Lipinski-violating molecule
    pains = b"S=C1SC(=Cc2ccccc2)C(=O)N1 rhodanine"
    big = ("CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC(O)=O" + " fatty").encode()
    ok, rej = featurize_records([(1, pains), (2, big), (3, b"CCO e")], FeaturizeOptions(filters=("pains", "lipinski")))
    assert [m.id for m in ok] == ["e"]
    assert [(r.line, r.code) for r in rej] == [(1, "filtered"), (2, "filtered")]
    assert rej[0].message.startswith("pains:") and rej[1].message.startswith("lipinski:")
    with pytest.raises(ValueError, match="unknown filter"):
        FeaturizeOptions(filters=("nope",))
    # salt stripping keeps the largest fragment
    ok, _ = featurize_records([(1, b"CC(=O)[O-].[Na+] acetate")], FeaturizeOptions(strip_salts=True))
    assert ok[0].graph.num_atoms == 4
    ok, _ = featurize_records([(1, b"CC(=O)[O-].[Na+] acetate")], FeaturizeOptions())
    assert ok[0].graph.num_atoms == 5
    # the same molecule written two ways has one canonical key
    ok, _ = featurize_records([(1, b"OCC a"), (2, b"C(O)C b"), (3, b"CCC c")], FeaturizeOptions(dedup=True))
    assert ok[0].key == ok[1].key != ok[2].key


def test_pack_batches_sorted_and_padded_per_batch():
    from sciarch.io.molecules import featurize_smiles

    smiles = [l.split()[0] for l in zinc_lines(50)]
    graphs = [featurize_smiles(s) for s in smiles]
    batches = pack_batches(graphs, 16)
    rows = np.concatenate([r for r, _ in batches])
    assert sorted(rows.tolist()) == list(range(50))
    sizes = [graphs[i].num_atoms for i in rows]
    assert sizes == sorted(sizes)
    for r, a in batches:
        assert a["atom_features"].dtype == np.uint8 and a["atom_mask"].dtype == np.uint8
        assert a["atom_features"].shape[1] == max(graphs[i].num_atoms for i in r)
        for j, i in enumerate(r):
            g = graphs[i]
            np.testing.assert_array_equal(a["atom_features"][j, : g.num_atoms], g.atom_features)
            np.testing.assert_array_equal(a["edge_index"][j, : g.num_edges], g.edge_index)
            assert a["atom_mask"][j].sum() == g.num_atoms


def test_featurize_chunk_accounts_for_every_record(tmp_path):
    valid, bad, _ = write_malformed_library(tmp_path / "lib.smi", 120)
    spec = LibrarySpec.from_path(tmp_path / "lib.smi")
    scored, rejected = set(), set()
    for c in iter_raw_chunks(spec, 32):
        fc = featurize_chunk(c, FeaturizeOptions(batch_size=8))
        scored |= set(fc.lines.tolist())
        rejected |= {r.line for r in fc.rejects}
        assert len(fc.ids) + len(fc.rejects) == c.n_records
    assert scored == valid and rejected == bad
