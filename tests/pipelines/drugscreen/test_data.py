import numpy as np
import pytest

from pipelines.drugscreen.batching import batch_order, make_dataset
from pipelines.drugscreen.data import DataError, DTAData
from pipelines.drugscreen.mutations import apply_mutation, mutant_sequences, mutation_parent, protein_family
from sciarch.io.molecules import ATOM_FEATURE_DIM


@pytest.fixture(scope="module")
def davis():
    return DTAData.load("davis")


def test_load_davis(davis):
    assert len(davis.pairs) == 25046 and davis.tokens.shape == (442, 1000)
    assert len(davis.graphs) == 68 and all(g is not None for g in davis.graphs)
    assert davis.problems == []
    assert set(np.unique(davis.pairs.fold)) == {0, 1, 2, 3, 4}


def test_splits_are_disjoint_and_cold(davis):
    for scheme in ("fold", "cold_drug", "cold_target"):
        tr = davis.split_index("train", scheme=scheme, fold=1)
        va = davis.split_index("validation", scheme=scheme, fold=1)
        assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == len(davis.pairs)
    va = davis.split_index("validation", scheme="cold_drug")
    tr = davis.split_index("train", scheme="cold_drug")
    assert not set(davis.pairs.drug[va]) & set(davis.pairs.drug[tr])
    va = davis.split_index("validation", scheme="cold_target")
    tr = davis.split_index("train", scheme="cold_target")
    fam = np.array([protein_family(p) for p in davis.protein_ids])
    assert not set(fam[davis.pairs.protein[va]]) & set(fam[davis.pairs.protein[tr]])


def test_mutations_applied_from_names(davis):
    assert mutation_parent("ABL1(T315I)p") == "ABL1p" and mutation_parent("ABL1") is None
    assert apply_mutation("MKELVA", "E3K") == "MKKLVA"
    assert apply_mutation("MKELVA", "K2L4del") == "MVA"
    with pytest.raises(ValueError, match="wild type has"):
        apply_mutation("MKELVA", "W3K")
    ids = davis.protein_ids
    t315i = ids.index("ABL1(T315I)")
    abl1 = ids.index("ABL1")
    diff = np.flatnonzero(davis.tokens[t315i] != davis.tokens[abl1])
    # ABL1 construct is numbered +37 relative to isoform 1a: T315 -> position 352
    assert diff.tolist() == [351] and davis.sequences[abl1][351] == "T" and davis.sequences[t315i][351] == "I"
    mutants, notes = mutant_sequences(ids, davis.sequences)
    assert any("FLT3(ITD)" in n for n in notes)


def test_dataset_batches_follow_graph_convention(davis):
    idx = davis.split_index("validation")[:300]
    ds = make_dataset(davis, davis.pairs, idx, 64, shuffle=False)
    total = 0
    for x, y in ds:
        b = int(y.shape[0])
        total += b
        assert x["atom_features"].shape[0] == b and x["atom_features"].shape[2] == ATOM_FEATURE_DIM
        n = int(x["atom_features"].shape[1])
        assert int(np.asarray(x["atom_mask"]).sum(1).max()) == n  # padded to the largest molecule of the batch
        assert x["edge_index"].shape[:2] == x["bond_mask"].shape
        ei = np.asarray(x["edge_index"])
        assert (ei < n).all()
        assert x["protein_tokens"].shape == (b, 1000)
    assert total == 300


def test_batch_order_groups_by_protein():
    rng = np.random.default_rng(0)
    prot = np.repeat(np.arange(10), 40)
    drug = np.tile(np.arange(40), 10)
    batches = batch_order(drug, prot, 64, shuffle=True, protein_chunk=16, rng=rng)
    assert sorted(np.concatenate(batches).tolist()) == list(range(400))
    grouped = np.mean([len(np.unique(prot[b])) for b in batches])
    uniform = batch_order(drug, prot, 64, shuffle=True, protein_chunk=None, rng=rng)
    assert grouped <= 6 < np.mean([len(np.unique(prot[b])) for b in uniform])  # ~4-6 vs ~10 proteins per batch
    sorted_batches = batch_order(drug, prot, 64, shuffle=False, protein_chunk=None, rng=rng)
    assert np.all(np.diff(prot[np.concatenate(sorted_batches)]) >= 0)


def test_bad_smiles_stops_with_line_or_is_skipped(davis_copy):
    lig = davis_copy / "ligands_isomeric.smi"
    lines = lig.read_text().splitlines()
    lines[4] = "C1CC(N\t" + lines[4].split("\t")[1]
    lig.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        DTAData.load(davis_copy)
    msg = str(info.value)
    assert "ligands_isomeric.smi:5" in msg and "invalid SMILES" in msg and "on_bad_input=skip" in msg
    skipped = DTAData.load(davis_copy, on_bad_input="skip")
    assert len(skipped.pairs) == 25046 - int((DTAData.load("davis").pairs.drug == 4).sum())
    assert 4 not in set(skipped.pairs.drug.tolist())
    assert any("ligands_isomeric.smi:5" in p for p in skipped.problems)


def test_bad_protein_letter_and_bad_row(davis_copy):
    fasta = davis_copy / "proteins.fasta"
    text = fasta.read_text().splitlines()
    text[1] = text[1][:3] + "*" + text[1][4:]  # first record (AAK1), position 4
    fasta.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"'AAK1': invalid letter '\*' at position 4"):
        DTAData.load(davis_copy)
    skipped = DTAData.load(davis_copy, on_bad_input="skip")
    assert 0 not in set(skipped.pairs.protein.tolist())
    bad_csv = davis_copy / "pairs.csv"
    bad_csv.write_text(
        "pair_index,drug_index,protein_index,drug_id,protein_id,kd_nM,pKd\n"
        "0,0,1,x,y,43,7.3\n"
        "1,0,2,x,y,43,not-a-number\n"
    )
    with pytest.raises(DataError, match=r"pairs.csv:3: field 'pKd' is not a number"):
        DTAData.load("davis").load_pairs_file(bad_csv)
