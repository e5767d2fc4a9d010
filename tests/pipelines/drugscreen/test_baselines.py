"""Baselines of the affinity benchmark: ECFP4 and protein-composition features, the additive
drug + protein model and the ECFP MLP (learns on a small real Davis slice)."""

import numpy as np
import pytest

from pipelines.drugscreen.baselines import (
    AMINO_ACIDS,
    additive_baseline,
    ecfp4,
    ecfp_mlp_baseline,
    protein_composition,
)
from pipelines.drugscreen.data import DTAData


@pytest.fixture(scope="module")
def davis():
    return DTAData.load("davis")


def test_ecfp4_matches_rdkit_morgan_radius_2():
    from rdkit import Chem
    from rdkit.Chem import AllChem, DataStructs

    smiles = ["CC(=O)Oc1ccccc1C(=O)O", "c1ccc2[nH]ccc2c1", "not a smiles"]
    fp = ecfp4(smiles)
    assert fp.shape == (3, 2048) and fp.dtype == np.uint8
    ref = AllChem.GetMorganFingerprintAsBitVect(Chem.MolFromSmiles(smiles[0]), 2, nBits=2048)
    arr = np.zeros(2048, np.uint8)
    DataStructs.ConvertToNumpyArray(ref, arr)
    np.testing.assert_array_equal(fp[0], arr)
    assert fp[1].sum() > 0 and fp[2].sum() == 0  # an unparsable SMILES gets zeros


def test_protein_composition_counts():
    x = protein_composition(["AAC", "XXXX"])
    assert x.shape == (2, 420)
    a, c = AMINO_ACIDS.index("A"), AMINO_ACIDS.index("C")
    np.testing.assert_allclose(x[0, a], 2 / 3)
    np.testing.assert_allclose(x[0, c], 1 / 3)
    # dipeptides AA and AC, one each
    np.testing.assert_allclose(x[0, 20 + a * 20 + a], 0.5)
    np.testing.assert_allclose(x[0, 20 + a * 20 + c], 0.5)
    np.testing.assert_allclose(x[0, :20].sum(), 1.0)
    assert x[1].sum() == 0  # no standard residue


def test_additive_baseline_recovers_additive_labels(davis):
    rng = np.random.default_rng(0)
    drug_effect = rng.normal(size=len(davis.graphs))
    prot_effect = rng.normal(size=len(davis.protein_ids))
    pairs = davis.pairs
    saved = pairs.y
    try:
        pairs.y = (5.0 + drug_effect[pairs.drug] + prot_effect[pairs.protein]).astype(np.float32)
        tr, va = davis.split_index("train"), davis.split_index("validation")
        m = additive_baseline(davis, tr, va)
    finally:
        pairs.y = saved
    assert m["mse"] < 1e-4 and m["ci"] > 0.999, m
    # on the real labels it is a weak model, far from perfect
    real = additive_baseline(davis, tr, va)
    assert 0.6 < real["ci"] < 0.9


def test_ecfp_mlp_learns_on_small_davis_slice(davis):
    rng = np.random.default_rng(0)
    tr = np.sort(rng.choice(davis.split_index("train"), 3000, replace=False))
    va = np.sort(rng.choice(davis.split_index("validation"), 800, replace=False))
    m = ecfp_mlp_baseline(davis, tr, va, hidden=(64,), epochs=6, patience=6, seed=0)
    y = davis.pairs.y[va]
    assert m["n"] == 800 and 1 <= m["best_epoch"] <= m["epochs"] <= 6
    assert m["ci"] > 0.65, m
    assert m["mse"] < np.var(y), m  # better than predicting the validation mean
    # a second, deeper model in the same process (layer names must not collide)
    deeper = ecfp_mlp_baseline(davis, tr, va, hidden=(32, 16), epochs=1, patience=1, seed=0)
    assert deeper["epochs"] == 1
    again = ecfp_mlp_baseline(davis, tr, va, hidden=(64,), epochs=6, patience=6, seed=0)
    assert again["ci"] == pytest.approx(m["ci"], abs=1e-6)  # seeded


def test_ecfp_mlp_feature_ablation_uses_identity_codes_and_names_bad_choices(davis):
    rng = np.random.default_rng(1)
    tr = np.sort(rng.choice(davis.split_index("train"), 2000, replace=False))
    va = np.sort(rng.choice(davis.split_index("validation"), 500, replace=False))
    ids = ecfp_mlp_baseline(davis, tr, va, hidden=(32,), epochs=3, patience=3, seed=0,
                            drug_features="identity", protein_features="identity")
    full = ecfp_mlp_baseline(davis, tr, va, hidden=(32,), epochs=3, patience=3, seed=0)
    assert ids["n"] == full["n"] == 500
    # with ~5 pairs per protein, codes that only tell entities apart generalise worse than the features
    assert ids["ci"] < full["ci"] - 0.02, (ids, full)
    with pytest.raises(ValueError, match=r"protein_features must be one of \['composition', 'identity'\], got 'onehot'"):
        ecfp_mlp_baseline(davis, tr, va, epochs=1, protein_features="onehot")
