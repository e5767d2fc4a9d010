"""Featuriser tests on tricky SMILES: charges, aromatic heterocycles, stereo, salts, bad input."""

import numpy as np
import pytest

from sciarch.io.molecules import (
    ATOM_FEATURE_DIM,
    ATOM_FEATURE_NAMES,
    BOND_FEATURE_DIM,
    BOND_FEATURE_NAMES,
    FeaturizationError,
    canonical_smiles,
    collate_graphs,
    featurize_smiles,
    largest_fragment,
    parse_smiles,
    read_smi,
)

A = {name: i for i, name in enumerate(ATOM_FEATURE_NAMES)}
B = {name: i for i, name in enumerate(BOND_FEATURE_NAMES)}


def _atom(g, i, name):
    return g.atom_features[i, A[name]]


def test_shapes_and_one_hot_blocks():
    g = featurize_smiles("CC(=O)Nc1ccc(O)cc1")  # paracetamol: 11 heavy atoms, 11 bonds
    assert g.atom_features.shape == (11, ATOM_FEATURE_DIM)
    assert g.atom_features.dtype == np.float32
    assert g.edge_index.shape == (22, 2) and g.edge_index.dtype == np.int32
    assert g.bond_features.shape == (22, BOND_FEATURE_DIM)
    # each atom: 6 one-hot blocks (element, degree, charge, H, hybridisation, chirality) + 2 flags
    elem = g.atom_features[:, : A["element=other"] + 1]
    np.testing.assert_array_equal(elem.sum(1), 1.0)
    # each bond: exactly one type and one stereo value
    np.testing.assert_array_equal(g.bond_features[:, :4].sum(1), 1.0)
    np.testing.assert_array_equal(g.bond_features[:, B["stereo=none"]:].sum(1), 1.0)


def test_edges_both_directions_with_identical_bond_features():
    g = featurize_smiles("C1CC1C=O")
    fwd, bwd = g.edge_index[0::2], g.edge_index[1::2]
    np.testing.assert_array_equal(fwd, bwd[:, ::-1])
    np.testing.assert_array_equal(g.bond_features[0::2], g.bond_features[1::2])
    # degree feature matches the edge list
    deg = np.bincount(g.edge_index[:, 0], minlength=g.num_atoms)
    for i, d in enumerate(deg):
        assert _atom(g, i, f"degree={d}") == 1.0


def test_formal_charges_zwitterion_and_quaternary_n():
    g = featurize_smiles("C[N+](C)(C)CC(=O)[O-]")  # betaine
    assert _atom(g, 1, "charge=+1") == 1 and _atom(g, 1, "element=N") == 1 and _atom(g, 1, "num_h=0") == 1
    assert _atom(g, 1, "degree=4") == 1
    assert _atom(g, 7, "charge=-1") == 1 and _atom(g, 7, "element=O") == 1
    assert g.atom_features[:, A["charge=+0"]].sum() == g.num_atoms - 2
    # charge is clipped into the -2..+2 block
    g2 = featurize_smiles("[Fe+3]")
    assert _atom(g2, 0, "charge=+2") == 1 and _atom(g2, 0, "element=other") == 1


def test_aromatic_heterocycles():
    g = featurize_smiles("c1cc[nH]c1")  # pyrrole
    assert g.atom_features[:, A["aromatic"]].sum() == 5
    assert g.atom_features[:, A["in_ring"]].sum() == 5
    n = 3
    assert _atom(g, n, "element=N") == 1 and _atom(g, n, "num_h=1") == 1
    assert _atom(g, n, "hybridization=sp2") == 1
    np.testing.assert_array_equal(g.bond_features[:, B["bond=aromatic"]], 1.0)
    np.testing.assert_array_equal(g.bond_features[:, B["conjugated"]], 1.0)
    g2 = featurize_smiles("Cn1cnc2c1c(=O)n(C)c(=O)n2C")  # caffeine: fused imidazole + pyrimidinedione
    assert g2.atom_features[:, A["aromatic"]].sum() == 9
    assert g2.atom_features[:, A["element=N"]].sum() == 4
    # methyl carbons are not in a ring
    assert _atom(g2, 0, "in_ring") == 0 and _atom(g2, 0, "hybridization=sp3") == 1


def test_stereo_tetrahedral_and_double_bond():
    r = featurize_smiles("C[C@H](N)C(=O)O")
    s = featurize_smiles("C[C@@H](N)C(=O)O")
    flat = featurize_smiles("CC(N)C(=O)O")
    assert _atom(r, 1, "chirality=ccw") == 1 and _atom(s, 1, "chirality=cw") == 1
    assert _atom(flat, 1, "chirality=none") == 1
    assert not np.array_equal(r.atom_features, s.atom_features)
    e = featurize_smiles("C/C=C/C")
    z = featurize_smiles("C/C=C\\C")
    dbl_e = e.bond_features[e.bond_features[:, B["bond=double"]] == 1]
    dbl_z = z.bond_features[z.bond_features[:, B["bond=double"]] == 1]
    assert (dbl_e[:, B["stereo=e"]] == 1).all() and (dbl_z[:, B["stereo=z"]] == 1).all()
    plain = featurize_smiles("CC=CC")
    assert plain.bond_features[:, B["stereo=none"]].all()


def test_salts_stripped_to_largest_fragment():
    salt = "CC(=O)[O-].[Na+]"
    g = featurize_smiles(salt)
    assert g.num_atoms == 5 and g.num_edges == 6  # the ion stays as an isolated atom
    g2 = featurize_smiles(salt, strip_salts=True)
    assert g2.num_atoms == 4
    assert canonical_smiles("Cl.CN(C)CCc1c[nH]c2ccccc12", strip_salts=True) == canonical_smiles("CN(C)CCc1c[nH]c2ccccc12")
    assert largest_fragment(parse_smiles("[Na+].[Cl-]")).GetNumAtoms() == 1


def test_canonical_smiles_is_order_independent():
    assert canonical_smiles("OCC") == canonical_smiles("CCO") == "CCO"


@pytest.mark.parametrize(
    "smiles, reason",
    [
        ("", "empty SMILES"),
        ("   ", "empty SMILES"),
        ("C1CC", "invalid SMILES"),  # unclosed ring
        ("c1cccc1", "invalid SMILES"),  # cannot kekulise
        ("C(C)(C)(C)(C)C", "invalid SMILES"),  # pentavalent carbon
        ("Xy", "invalid SMILES"),
    ],
)
def test_bad_smiles_raise_clear_error(smiles, reason):
    with pytest.raises(FeaturizationError) as info:
        featurize_smiles(smiles)
    assert reason in info.value.reason
    assert reason in str(info.value)


def test_max_atoms_is_optional():
    big = "C" * 200
    assert featurize_smiles(big).num_atoms == 200  # training: no cap
    with pytest.raises(FeaturizationError, match=r"too large \(200 atoms > max_atoms=150\)"):
        featurize_smiles(big, max_atoms=150)


def test_collate_pads_per_batch_and_masks():
    graphs = [featurize_smiles(s) for s in ("CCO", "c1ccccc1", "[Na+]")]
    b = collate_graphs(graphs)
    assert b["atom_features"].shape == (3, 6, ATOM_FEATURE_DIM)
    assert b["edge_index"].shape == (3, 12, 2)
    assert b["bond_features"].shape == (3, 12, BOND_FEATURE_DIM)
    np.testing.assert_array_equal(b["atom_mask"].sum(1), [3, 6, 1])
    np.testing.assert_array_equal(b["bond_mask"].sum(1), [4, 12, 0])
    assert (b["atom_features"][0, 3:] == 0).all() and (b["edge_index"][0, 4:] == 0).all()
    np.testing.assert_array_equal(b["atom_features"][1], graphs[1].atom_features)
    single = collate_graphs([featurize_smiles("[Na+]")])
    assert single["edge_index"].shape == (1, 1, 2) and single["bond_mask"].sum() == 0


def test_featurises_embedded_davis_ligands(tmp_path):
    from sciarch.pipeline import PROJECT_ROOT

    ligs = read_smi(PROJECT_ROOT / "data/drugscreen/davis/ligands_isomeric.smi")
    assert len(ligs) == 68
    graphs = [featurize_smiles(s) for s, _ in ligs]
    assert min(g.num_atoms for g in graphs) > 5
    assert any(g.atom_features[:, A["chirality=cw"]].any() or g.atom_features[:, A["chirality=ccw"]].any() for g in graphs)
    p = tmp_path / "x.smi"
    p.write_text("CCO\tethanol\n\nc1ccccc1\n")
    assert read_smi(p) == [("CCO", "ethanol"), ("c1ccccc1", "x.smi:3")]


def test_morgan_fingerprints_are_rdkits_ecfp4_and_zero_for_unparsable_smiles():
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    from sciarch.io.molecules import morgan_fingerprint, morgan_fingerprints

    smiles = ["CC(=O)Nc1ccc(O)cc1", "not a smiles", "c1ccc2ccccc2c1"]
    fps = morgan_fingerprints(smiles, 1024)
    assert fps.shape == (3, 1024) and fps.dtype == np.uint8
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    np.testing.assert_array_equal(fps[0], gen.GetFingerprintAsNumPy(Chem.MolFromSmiles(smiles[0])))
    assert fps[1].sum() == 0 and fps[0].sum() > 0 and not np.array_equal(fps[0], fps[2])
    with pytest.raises(ValueError, match="at least 1 bit"):
        morgan_fingerprint(Chem.MolFromSmiles("CCO"), 0)
