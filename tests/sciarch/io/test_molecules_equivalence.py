"""The chunk featuriser gives exactly the arrays of the per-atom specification.

``reference_graph`` below is the featuriser written out one atom and one bond at a time
(the definition the drugscreen runs were trained with); the library featuriser
(:func:`featurize_smiles`, :class:`GraphPacker` and its padded batches) must agree with it
bit for bit on 10,000 real ZINC molecules and on a set of unusual ones.
"""

import gzip
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from sciarch.io.molecules import (
    ATOM_FEATURE_DIM,
    BOND_FEATURE_DIM,
    FeaturizationError,
    GraphPacker,
    collate_graphs,
    featurize_mol,
    featurize_smiles,
    parse_smiles,
)

ZINC = Path(__file__).resolve().parents[3] / "data" / "drugscreen" / "zinc250k_jtvae_valid.smi.gz"

ELEMENTS = {z: i for i, z in enumerate((6, 7, 8, 16, 9, 17, 35, 53, 15, 5, 14, 34, 1))}
_RD = Chem.rdchem
HYB = {getattr(_RD.HybridizationType, h): i for i, h in enumerate(("S", "SP", "SP2", "SP3", "SP3D", "SP3D2"))}
CHIRAL = {getattr(_RD.ChiralType, c): i for i, c in enumerate(("CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW"))}
BONDS = {getattr(_RD.BondType, b): i for i, b in enumerate(("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"))}
STEREO = {getattr(_RD.BondStereo, k): v for k, v in
          {"STEREONONE": 0, "STEREOANY": 1, "STEREOZ": 2, "STEREOCIS": 2, "STEREOE": 3, "STEREOTRANS": 3}.items()}


def _onehot(i, n):
    v = [0.0] * n
    v[i] = 1.0
    return v


def reference_graph(mol):
    """Per-atom / per-bond featurisation, straight from the feature definitions."""
    ring = mol.GetRingInfo()
    rows = []
    for a in mol.GetAtoms():
        rows.append(
            _onehot(ELEMENTS.get(a.GetAtomicNum(), len(ELEMENTS)), len(ELEMENTS) + 1)
            + _onehot(min(a.GetDegree(), 6), 7)
            + _onehot(min(max(a.GetFormalCharge(), -2), 2) + 2, 5)
            + _onehot(min(a.GetTotalNumHs(), 4), 5)
            + [float(a.GetIsAromatic())]
            + _onehot(HYB.get(a.GetHybridization(), 6), 7)
            + [float(ring.NumAtomRings(a.GetIdx()) > 0)]
            + _onehot(CHIRAL.get(a.GetChiralTag(), 3), 4)
        )
    edges, feats = [], []
    for b in mol.GetBonds():
        s, d = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        f = (
            _onehot(BONDS.get(b.GetBondType(), 0), 4)
            + [float(b.GetIsConjugated()), float(ring.NumBondRings(b.GetIdx()) > 0)]
            + _onehot(STEREO.get(b.GetStereo(), 1), 4)
        )
        edges += [(s, d), (d, s)]
        feats += [f, f]
    x = np.asarray(rows, dtype=np.float32).reshape(-1, ATOM_FEATURE_DIM)
    e = np.asarray(edges, dtype=np.int32).reshape(-1, 2)
    bf = np.asarray(feats, dtype=np.float32).reshape(-1, BOND_FEATURE_DIM)
    return x, e, bf


def _zinc(n):
    with gzip.open(ZINC, "rt") as fh:
        return [line.split()[0] for _, line in zip(range(n), fh)]


UNUSUAL = [
    "C[N+](C)(C)CC(=O)[O-]", "[Fe+3]", "[O-2]", "[NH4+]", "[2H]C([2H])([2H])O", "[H][H]", "[H]C([H])([H])[H]",
    "F/C=C/F", "F/C=C\\F", "C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O", "F[C@](Cl)(Br)I", "C[Si](C)(C)O[Se]C",
    "B(O)(O)c1ccccc1", "P(=O)(O)(O)O", "S(=O)(=O)(F)F", "F[S](F)(F)(F)(F)F", "C#N", "C=C=C", "c1ccc2ccccc2c1",
    "CC(=O)[O-].[Na+]", "[Cl-].[NH3+]CC", "O=[N+]([O-])c1ccccc1", "C1CC2CCC1C2", "[Na]", "[He]", "C", "[CH3]",
    "C[N]C", "N->[Cu+2]<-N", "[C@@H]1(F)CC[C@H](Cl)CC1", "CC1=CC(=O)C=CC1=O", "Ic1ccc(cc1)[Xe]",
    "C[C@]12CC[C@H]3[C@@H](CC=C4C[C@@H](O)CC[C@]34C)[C@@H]1CC[C@@H]2O", "[U]", "OC(=O)C(F)(F)F",
]


@pytest.mark.parametrize("source", ["zinc", "unusual"])
def test_graphs_equal_reference_exactly(source):
    smiles = _zinc(10_000) if source == "zinc" else UNUSUAL
    packer = GraphPacker()
    mols = [parse_smiles(s) for s in smiles]
    for m in mols:
        packer.add(m)
    packed = packer.finish()
    assert len(packed) == len(mols)
    for i, m in enumerate(mols):
        x, e, bf = reference_graph(m)
        # the one-molecule entry point (training) on a slice, the chunk path on every molecule
        for g in ((featurize_mol(m), packed.graph(i)) if i < 1000 else (packed.graph(i),)):
            np.testing.assert_array_equal(g.atom_features, x)
            np.testing.assert_array_equal(g.edge_index, e)
            np.testing.assert_array_equal(g.bond_features, bf)
            assert g.atom_features.dtype == np.float32 and g.edge_index.dtype == np.int32
            assert g.bond_features.dtype == np.float32


@pytest.mark.parametrize("compact", [False, True])
def test_packed_batches_equal_collated_graphs(compact):
    smiles = _zinc(600) + UNUSUAL
    packer = GraphPacker()
    for s in smiles:
        packer.add(parse_smiles(s))
    packed = packer.finish()
    rng = np.random.default_rng(0)
    for size in (1, 7, 64, len(smiles)):
        rows = rng.permutation(len(smiles))[:size]
        got = packed.collate(rows, compact=compact)
        want = collate_graphs([featurize_smiles(smiles[i]) for i in rows])
        assert list(got) == list(want)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])
            if compact and k != "edge_index":
                assert got[k].dtype == np.uint8
            else:
                assert got[k].dtype == want[k].dtype


def test_packer_refuses_without_keeping_partial_molecules():
    packer = GraphPacker()
    packer.add(parse_smiles("CCO"))
    with pytest.raises(FeaturizationError, match="too large"):
        packer.add(parse_smiles("C" * 30), max_atoms=20)
    with pytest.raises(FeaturizationError, match="no atoms"):
        packer.add(Chem.Mol())
    packer.add(parse_smiles("c1ccccc1"))
    packed = packer.finish()
    assert len(packed) == 2
    assert packed.graph(1).num_atoms == 6 and packed.graph(1).num_edges == 12
    np.testing.assert_array_equal(packed.graph(0).atom_features, featurize_smiles("CCO").atom_features)
