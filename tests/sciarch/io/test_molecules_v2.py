"""Graph feature version v2: the bulk featuriser against its per-atom definition.

``reference_v2`` writes the v2 features out one atom and one bond at a time with RDKit's
accessors; the library (two C++ calls per molecule, numpy over the chunk) must agree bit
for bit on real ZINC molecules and on unusual ones, including the first sight of an atom
environment and a forged cache entry (a hash collision).
"""

import numpy as np
import pytest
from rdkit import Chem

from sciarch.io import molecules as M
from sciarch.io.molecules import (
    ATOM_FEATURE_NAMES_V2,
    BOND_FEATURE_NAMES_V2,
    FeaturizationError,
    GraphPacker,
    collate_graphs,
    feature_dims,
    featurize_smiles,
    parse_smiles,
)
from tests.sciarch.io.test_molecules_equivalence import UNUSUAL, _zinc

_ELEMENTS = ("C", "N", "O", "S", "F", "Cl", "Br", "I", "P", "B", "Si", "Se", "H")
_KIND = {Chem.BondType.SINGLE: 0, Chem.BondType.DOUBLE: 1, Chem.BondType.TRIPLE: 2, Chem.BondType.AROMATIC: 3}


def reference_v2(mol):
    """Atom rows, sorted (i < j) bonds with their rows, from per-atom / per-bond RDKit calls."""
    ring = mol.GetRingInfo()
    rows = []
    for a in mol.GetAtoms():
        r = dict.fromkeys(ATOM_FEATURE_NAMES_V2, 0.0)
        sym = a.GetSymbol()
        r[f"element={sym}" if sym in _ELEMENTS else "element=other"] = 1.0
        r[f"charge={min(max(a.GetFormalCharge(), -2), 2):+d}"] = 1.0
        h = a.GetTotalNumHs()
        r[f"num_h={h}" if h < 4 else "num_h>=4"] = 1.0
        r["in_ring"] = float(ring.NumAtomRings(a.GetIdx()) > 0)
        d = a.GetDegree()
        r[f"degree={d}" if d < 6 else "degree>=6"] = 1.0
        types = [b.GetBondType() for b in a.GetBonds()]
        r["aromatic"] = float(Chem.BondType.AROMATIC in types)
        r[("double_bonds=0", "double_bonds=1", "double_bonds>=2")[min(types.count(Chem.BondType.DOUBLE), 2)]] = 1.0
        r["triple_bond"] = float(Chem.BondType.TRIPLE in types)
        rows.append([r[k] for k in ATOM_FEATURE_NAMES_V2])
    bonds = []
    for b in mol.GetBonds():
        i, j = sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))
        f = [0.0] * len(BOND_FEATURE_NAMES_V2)
        f[_KIND.get(b.GetBondType(), 0)] = 1.0
        f[4] = float(ring.NumAtomRings(i) > 0 and ring.NumAtomRings(j) > 0)
        bonds.append(((i, j), f))
    bonds.sort()
    x = np.asarray(rows, np.float32).reshape(-1, len(ATOM_FEATURE_NAMES_V2))
    return x, [p for p, _ in bonds], np.asarray([f for _, f in bonds], np.float32).reshape(-1, 5)


def _check(graph, mol):
    x, pairs, bf = reference_v2(mol)
    np.testing.assert_array_equal(graph.atom_features, x)
    # edge 2k = bond k forwards, 2k+1 = backwards; bonds in (i < j) row-major order
    assert graph.edge_index[0::2].tolist() == [list(p) for p in pairs]
    assert graph.edge_index[1::2].tolist() == [[j, i] for i, j in pairs]
    np.testing.assert_array_equal(graph.bond_features[0::2], bf)
    np.testing.assert_array_equal(graph.bond_features[1::2], bf)


@pytest.mark.parametrize("source", ["zinc", "unusual"])
def test_v2_equals_its_per_atom_definition(source):
    smiles = _zinc(5_000) if source == "zinc" else [s for s in UNUSUAL if s != "N->[Cu+2]<-N"]
    mols = [parse_smiles(s) for s in smiles]
    packer = GraphPacker("v2")
    for m in mols:
        packer.add(m)
    packed = packer.finish()
    assert len(packed) == len(mols)
    assert feature_dims("v2") == (len(ATOM_FEATURE_NAMES_V2), len(BOND_FEATURE_NAMES_V2)) == (37, 5)
    for i, m in enumerate(mols):
        _check(packed.graph(i), m)
        if i < 200:
            _check(featurize_smiles(smiles[i], features="v2"), m)


def test_v2_batches_match_collated_graphs_and_reject_cleanly():
    smiles = _zinc(300)
    packer = GraphPacker("v2")
    for s in smiles:
        packer.add(parse_smiles(s))
    with pytest.raises(FeaturizationError, match="too large"):
        packer.add(parse_smiles("C" * 40), max_atoms=20)
    packed = packer.finish()
    assert len(packed) == 300  # the refused molecule left nothing behind
    rows = np.random.default_rng(1).permutation(300)[:64]
    got = packed.collate(rows)
    want = collate_graphs([featurize_smiles(smiles[i], features="v2") for i in rows])
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


def test_v2_hash_collision_is_caught_by_the_degree_check(monkeypatch):
    """A cache entry that decodes to the wrong fields (as a hash collision would) is detected
    from the atom's degree and the atom is read from the molecule instead."""
    decoder = M._V2Decoder()
    monkeypatch.setattr(M, "_V2", decoder)
    mol = parse_smiles("CC(=O)N")
    inv = list(Chem.rdMolDescriptors.GetConnectivityInvariants(mol, True))
    # forge: the methyl carbon's invariant decodes to a chlorine with no hydrogens
    chlorine = parse_smiles("Cl")  # kept alive while its atom is read
    forged = decoder.code_of_atom(chlorine.GetAtomWithIdx(0), None, chlorine.GetRingInfo())
    decoder.code_of_inv[inv[0]] = forged
    packer = GraphPacker("v2")
    packer.add(mol)
    _check(packer.finish().graph(0), mol)


def test_v2_refuses_zero_order_bonds_and_unknown_versions():
    mol = Chem.RWMol(parse_smiles("CC"))
    mol.GetBondWithIdx(0).SetBondType(Chem.BondType.ZERO)
    with pytest.raises(FeaturizationError, match="zero-order"):
        GraphPacker("v2").add(mol.GetMol())
    with pytest.raises(ValueError, match="unknown graph feature version 'v3'"):
        GraphPacker("v3")


def test_v1_and_v2_differ_but_describe_the_same_molecule():
    g1, g2 = featurize_smiles("c1ccccc1C(=O)O"), featurize_smiles("c1ccccc1C(=O)O", features="v2")
    assert g1.atom_features.shape == (9, 44) and g2.atom_features.shape == (9, 37)
    assert g1.num_edges == g2.num_edges == 18
    # same element columns (the first block is shared by both versions)
    np.testing.assert_array_equal(g1.atom_features[:, :14], g2.atom_features[:, :14])
