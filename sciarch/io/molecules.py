"""SMILES -> molecular graph featurisation (RDKit) and per-batch graph padding.

A molecule becomes a :class:`MolGraph` of plain numpy arrays:

* ``atom_features`` float32 ``[n_atoms, ATOM_FEATURE_DIM]``
* ``edge_index`` int32 ``[n_edges, 2]`` -- every bond twice, ``(src, dst)`` and ``(dst, src)``
* ``bond_features`` float32 ``[n_edges, BOND_FEATURE_DIM]`` -- row ``k`` describes edge ``k``

Atom features (one-hot blocks unless stated; see :data:`ATOM_FEATURE_NAMES`):
element (common organic set + "other"), heavy-atom degree 0..5+, formal charge -2..+2
(clipped), total hydrogen count 0..4+, aromatic flag, hybridisation (s, sp, sp2, sp3,
sp3d, sp3d2, other), ring membership flag, chirality tag (none, CW, CCW, other).

Bond features: type (single, double, triple, aromatic), conjugated flag, ring flag,
stereo (none, any, Z/cis, E/trans).

:func:`collate_graphs` pads a list of graphs to the largest molecule *in that batch*
(no fixed atom cap) following the graph-batch convention of CONTRIBUTING.md:
``atom_features [B,N,F]``, ``atom_mask [B,N]``, ``edge_index [B,E,2]``,
``bond_features [B,E,Fb]``, ``bond_mask [B,E]``.

Two feature versions exist (``features=`` of :class:`GraphPacker` / :func:`featurize_smiles`;
a drugscreen run records the one it was trained with as ``data.graph_features``):

* ``"v1"`` (the default, what older runs were trained with) -- the blocks above; reading
  hybridisation, chirality, conjugation and bond stereo costs per-atom and per-bond RDKit
  calls (about 0.3 ms per drug-like molecule).
* ``"v2"`` -- :data:`ATOM_FEATURE_NAMES_V2` / :data:`BOND_FEATURE_NAMES_V2`: element, heavy
  degree, formal charge, hydrogen count, ring membership (decoded from one
  ``GetConnectivityInvariants`` call per molecule through a per-process cache), aromatic flag,
  double/triple bond counts and bond types (from one ``GetAdjacencyMatrix(useBO=True)`` call);
  a bond's ``ring_atoms`` flag says both its atoms are ring atoms. Two RDKit C++ calls per
  molecule and numpy over the whole chunk, about 8x faster than v1. Edges are listed in
  ``(i < j)`` row-major order.

The v1 featuriser is written for throughput: one pass over atoms/bonds collects small
integer codes, and the one-hot rows are assembled with numpy lookups on precomputed
identity tables (no per-atom numpy calls).

Example:
    >>> from sciarch.io.molecules import featurize_smiles, collate_graphs, ATOM_FEATURE_DIM
    >>> g = featurize_smiles("c1ccccc1O")
    >>> g.atom_features.shape == (7, ATOM_FEATURE_DIM), g.edge_index.shape
    (True, (14, 2))
    >>> batch = collate_graphs([g, featurize_smiles("CCO")])
    >>> batch["atom_features"].shape[:2], batch["atom_mask"].sum(axis=1).tolist()
    ((2, 7), [7.0, 3.0])
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import rdMolDescriptors as _rdMD

__all__ = [
    "ATOM_FEATURE_DIM",
    "ATOM_FEATURE_NAMES",
    "ATOM_FEATURE_NAMES_V2",
    "BOND_FEATURE_NAMES_V2",
    "DEFAULT_GRAPH_FEATURES",
    "GRAPH_FEATURE_VERSIONS",
    "feature_dims",
    "BOND_FEATURE_DIM",
    "BOND_FEATURE_NAMES",
    "GRAPH_KEYS",
    "FINGERPRINT_KEY",
    "FeaturizationError",
    "GraphPacker",
    "MolGraph",
    "PackedGraphs",
    "canonical_smiles",
    "collate_graphs",
    "featurize_mol",
    "featurize_smiles",
    "largest_fragment",
    "morgan_fingerprint",
    "morgan_fingerprints",
    "parse_smiles",
    "read_smi",
]

# RDKit writes parse problems to stderr; we report them ourselves through FeaturizationError.
RDLogger.DisableLog("rdApp.*")

#: keys of a collated graph batch, in a fixed order
GRAPH_KEYS = ("atom_features", "atom_mask", "edge_index", "bond_features", "bond_mask")
#: key of the optional per-molecule Morgan fingerprint (``[B, bits]``, 0/1) a model may read
#: beside the graph keys (:func:`morgan_fingerprint`)
FINGERPRINT_KEY = "ligand_fingerprint"

# ----------------------------------------------------------------------------- vocabularies
_ELEMENTS = ("C", "N", "O", "S", "F", "Cl", "Br", "I", "P", "B", "Si", "Se", "H")
_HYBRID = (
    Chem.rdchem.HybridizationType.S,
    Chem.rdchem.HybridizationType.SP,
    Chem.rdchem.HybridizationType.SP2,
    Chem.rdchem.HybridizationType.SP3,
    Chem.rdchem.HybridizationType.SP3D,
    Chem.rdchem.HybridizationType.SP3D2,
)
_CHIRAL = (
    Chem.rdchem.ChiralType.CHI_UNSPECIFIED,
    Chem.rdchem.ChiralType.CHI_TETRAHEDRAL_CW,
    Chem.rdchem.ChiralType.CHI_TETRAHEDRAL_CCW,
)
_BOND_TYPES = (
    Chem.rdchem.BondType.SINGLE,
    Chem.rdchem.BondType.DOUBLE,
    Chem.rdchem.BondType.TRIPLE,
    Chem.rdchem.BondType.AROMATIC,
)
_STEREO_CODE = {
    Chem.rdchem.BondStereo.STEREONONE: 0,
    Chem.rdchem.BondStereo.STEREOANY: 1,
    Chem.rdchem.BondStereo.STEREOZ: 2,
    Chem.rdchem.BondStereo.STEREOCIS: 2,
    Chem.rdchem.BondStereo.STEREOE: 3,
    Chem.rdchem.BondStereo.STEREOTRANS: 3,
}

_PT = Chem.GetPeriodicTable()
# atomic number -> element slot (len(_ELEMENTS) = "other")
_ELEMENT_CODE = np.full(256, len(_ELEMENTS), dtype=np.int64)
for _i, _sym in enumerate(_ELEMENTS):
    _ELEMENT_CODE[_PT.GetAtomicNumber(_sym)] = _i
_HYBRID_CODE = {h: i for i, h in enumerate(_HYBRID)}  # missing -> "other"
_CHIRAL_CODE = {c: i for i, c in enumerate(_CHIRAL)}  # missing -> "other"
_BOND_CODE = {b: i for i, b in enumerate(_BOND_TYPES)}

# block sizes of the atom one-hot encoding
_N_ELEM = len(_ELEMENTS) + 1
_N_DEG = 7  # 0..5, 6+
_N_CHG = 5  # -2..+2 (clipped)
_N_HS = 5  # 0..3, 4+
_N_HYB = len(_HYBRID) + 1
_N_CHI = len(_CHIRAL) + 1

ATOM_FEATURE_NAMES: tuple[str, ...] = (
    tuple(f"element={e}" for e in _ELEMENTS)
    + ("element=other",)
    + tuple(f"degree={d}" for d in range(6))
    + ("degree>=6",)
    + tuple(f"charge={c:+d}" for c in range(-2, 3))
    + tuple(f"num_h={h}" for h in range(4))
    + ("num_h>=4",)
    + ("aromatic",)
    + tuple(f"hybridization={str(h).lower()}" for h in _HYBRID)
    + ("hybridization=other",)
    + ("in_ring",)
    + ("chirality=none", "chirality=cw", "chirality=ccw", "chirality=other")
)
BOND_FEATURE_NAMES: tuple[str, ...] = (
    "bond=single",
    "bond=double",
    "bond=triple",
    "bond=aromatic",
    "conjugated",
    "in_ring",
    "stereo=none",
    "stereo=any",
    "stereo=z",
    "stereo=e",
)
ATOM_FEATURE_DIM = len(ATOM_FEATURE_NAMES)
BOND_FEATURE_DIM = len(BOND_FEATURE_NAMES)

# One lookup table per categorical atom field; offsets place each block in the row.
_ATOM_BLOCKS = (_N_ELEM, _N_DEG, _N_CHG, _N_HS, 1, _N_HYB, 1, _N_CHI)
_ATOM_OFFSETS = np.cumsum((0,) + _ATOM_BLOCKS[:-1]).astype(np.int64)
assert sum(_ATOM_BLOCKS) == ATOM_FEATURE_DIM
_BOND_BLOCKS = (len(_BOND_TYPES), 1, 1, 4)
_BOND_OFFSETS = np.cumsum((0,) + _BOND_BLOCKS[:-1]).astype(np.int64)
assert sum(_BOND_BLOCKS) == BOND_FEATURE_DIM

# ----------------------------------------------------------------------------- feature version v2
#: feature versions a graph can be built with; runs without a recorded version use the default
GRAPH_FEATURE_VERSIONS = ("v1", "v2")
DEFAULT_GRAPH_FEATURES = "v1"

_N_DOUBLE = 3  # 0, 1, 2+ double bonds
ATOM_FEATURE_NAMES_V2: tuple[str, ...] = (
    tuple(f"element={e}" for e in _ELEMENTS)
    + ("element=other",)
    + tuple(f"charge={c:+d}" for c in range(-2, 3))
    + tuple(f"num_h={h}" for h in range(4))
    + ("num_h>=4",)
    + ("in_ring",)
    + tuple(f"degree={d}" for d in range(6))
    + ("degree>=6",)
    + ("aromatic",)
    + ("double_bonds=0", "double_bonds=1", "double_bonds>=2")
    + ("triple_bond",)
)
BOND_FEATURE_NAMES_V2: tuple[str, ...] = ("bond=single", "bond=double", "bond=triple", "bond=aromatic", "ring_atoms")
_V2_BASE_WIDTH = _N_ELEM + _N_CHG + _N_HS + 1  # the blocks decoded from the connectivity invariant
# atom variant = degree (7) x aromatic (2) x double bonds (3) x triple (2), from the adjacency matrix
_V2_N_VARIANTS = _N_DEG * 2 * _N_DOUBLE * 2


def feature_dims(features: str = DEFAULT_GRAPH_FEATURES) -> tuple[int, int]:
    """``(atom_feature_dim, bond_feature_dim)`` of a feature version ("v1" or "v2")."""
    if features == "v1":
        return ATOM_FEATURE_DIM, BOND_FEATURE_DIM
    if features == "v2":
        return len(ATOM_FEATURE_NAMES_V2), len(BOND_FEATURE_NAMES_V2)
    raise ValueError(f"unknown graph feature version {features!r}; choose from {', '.join(GRAPH_FEATURE_VERSIONS)}")


class FeaturizationError(ValueError):
    """A SMILES string could not be turned into a graph; ``reason`` says why.

    Args:
        reason: one-line explanation ("invalid SMILES (RDKit could not parse it)", ...).
        smiles: the offending input, kept for error reports.
    """

    def __init__(self, reason: str, smiles: str | None = None):
        self.reason = reason
        self.smiles = smiles
        shown = smiles if smiles is None or len(smiles) <= 80 else smiles[:77] + "..."
        super().__init__(reason if smiles is None else f"{reason}: {shown!r}")


@dataclass(frozen=True)
class MolGraph:
    """One molecule as arrays (see the module docstring for shapes)."""

    atom_features: np.ndarray
    edge_index: np.ndarray
    bond_features: np.ndarray

    @property
    def num_atoms(self) -> int:
        return int(self.atom_features.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[0])


# ----------------------------------------------------------------------------- fingerprints
@functools.lru_cache(maxsize=8)
def _morgan_generator(n_bits: int, radius: int):
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)


def morgan_fingerprint(mol: Chem.Mol, n_bits: int = 2048, radius: int = 2) -> np.ndarray:
    """Morgan bit vector of ``mol`` (ECFP4 for ``radius=2``; no chirality), ``uint8 [n_bits]``."""
    if n_bits < 1:
        raise ValueError(f"a fingerprint needs at least 1 bit, got {n_bits}")
    return _morgan_generator(int(n_bits), int(radius)).GetFingerprintAsNumPy(mol).astype(np.uint8, copy=False)


def morgan_fingerprints(smiles: Sequence[str], n_bits: int = 2048, radius: int = 2) -> np.ndarray:
    """:func:`morgan_fingerprint` of each SMILES, ``uint8 [n, n_bits]``; a SMILES RDKit cannot
    parse gets an all-zero row (the caller reports it: it has no graph either)."""
    out = np.zeros((len(smiles), n_bits), np.uint8)
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s) if s else None
        if mol is not None:
            out[i] = morgan_fingerprint(mol, n_bits, radius)
    return out


# ----------------------------------------------------------------------------- parsing
def parse_smiles(smiles: str, *, strip_salts: bool = False) -> Chem.Mol:
    """Parse ``smiles`` with RDKit (sanitised); raise :class:`FeaturizationError` if it fails.

    Args:
        smiles: the SMILES string.
        strip_salts: keep only the largest fragment (counter-ions, solvents removed).
    """
    if not isinstance(smiles, str):
        raise FeaturizationError(f"SMILES must be a string, got {type(smiles).__name__}")
    s = smiles.strip()
    if not s:
        raise FeaturizationError("empty SMILES", smiles)
    mol = Chem.MolFromSmiles(s)
    if mol is None:
        raise FeaturizationError("invalid SMILES (RDKit could not parse or sanitise it)", smiles)
    if mol.GetNumAtoms() == 0:
        raise FeaturizationError("SMILES has no atoms", smiles)
    if strip_salts:
        mol = largest_fragment(mol)
    return mol


def largest_fragment(mol: Chem.Mol) -> Chem.Mol:
    """Keep the fragment with the most heavy atoms (ties: most atoms, then first).

    Removes counter-ions and solvent from salts, e.g. ``"CC(=O)[O-].[Na+]"`` -> acetate.
    """
    frags = Chem.GetMolFrags(mol, asMols=True)
    if len(frags) <= 1:
        return mol
    return max(frags, key=lambda m: (m.GetNumHeavyAtoms(), m.GetNumAtoms()))


def canonical_smiles(smiles: str, *, strip_salts: bool = False, isomeric: bool = True) -> str:
    """RDKit canonical SMILES (optionally of the largest fragment only)."""
    mol = parse_smiles(smiles, strip_salts=strip_salts)
    return Chem.MolToSmiles(mol, isomericSmiles=isomeric)


# ----------------------------------------------------------------------------- featurising
_EMPTY_EDGES = np.zeros((0, 2), dtype=np.int32)


class _RowTable:
    """Memo of one-hot rows keyed by a tuple of raw RDKit values (append-only, thread-safe).

    Molecules reuse a few hundred distinct atom/bond environments, so each distinct key is
    one-hot encoded once; every later atom costs one dict lookup. Rows are never moved, so
    an index stays valid for the life of the process.
    """

    def __init__(self, width: int, encode):
        import threading

        self._encode = encode
        self._index: dict = {}
        self._rows = np.zeros((64, width), dtype=np.float32)
        self._lock = threading.Lock()
        self._product: tuple[int, np.ndarray] | None = None

    def _lookup(self, key) -> int:
        with self._lock:
            i = self._index.get(key)
            if i is not None:
                return i
            i = len(self._index)
            rows = self._rows
            if i >= rows.shape[0]:
                rows = np.concatenate([rows, np.zeros_like(rows)])
            rows[i] = self._encode(key)
            self._rows = rows
            self._index[key] = i
            return i

    def indices(self, keys) -> np.ndarray:
        get = self._index.get
        out = [get(k) for k in keys]
        if None in out:
            out = [i if i is not None else self._lookup(k) for i, k in zip(out, keys)]
        return np.asarray(out, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._index)

    def product(self, variants: np.ndarray) -> np.ndarray:
        """Every row combined with every row of ``variants`` (row ``i * len(variants) + v``), cached."""
        cached = self._product
        n = len(self._index)
        if cached is None or cached[0] != n:
            base = self._rows[:n]
            table = (base[:, None, :] + variants[None, :, :]).reshape(-1, base.shape[1])
            self._product = cached = (n, table)
        return cached[1]


def _encode_atom(key) -> np.ndarray:
    """One-hot row of the atom fields read from RDKit; degree and ring blocks are added per chunk."""
    z, charge, num_h, aromatic, hyb, chiral = key
    row = np.zeros(ATOM_FEATURE_DIM, dtype=np.float32)
    off = _ATOM_OFFSETS
    row[off[0] + int(_ELEMENT_CODE[z if 0 <= z < 256 else 0])] = 1.0
    row[off[2] + min(max(charge, -2), 2) + 2] = 1.0
    row[off[3] + min(num_h, _N_HS - 1)] = 1.0
    row[off[4]] = float(aromatic)
    row[off[5] + _HYBRID_CODE.get(hyb, len(_HYBRID))] = 1.0
    row[off[7] + _CHIRAL_CODE.get(chiral, len(_CHIRAL))] = 1.0
    return row


def _encode_bond(key) -> np.ndarray:
    """One-hot row of the bond fields read from RDKit; the ring flag is added per chunk."""
    bond_type, conjugated, stereo = key
    row = np.zeros(BOND_FEATURE_DIM, dtype=np.float32)
    off = _BOND_OFFSETS
    # dative / zero-order / other exotic bonds are encoded as single bonds
    row[off[0] + _BOND_CODE.get(bond_type, 0)] = 1.0
    row[off[1]] = float(conjugated)
    row[off[3] + _STEREO_CODE.get(stereo, 1)] = 1.0
    return row


_ATOM_TABLE = _RowTable(ATOM_FEATURE_DIM, _encode_atom)
_BOND_TABLE = _RowTable(BOND_FEATURE_DIM, _encode_bond)
# final row = base row x (degree 0..6+) x (in ring): a chunk's atoms index this product table
_ATOM_VARIANTS = np.zeros((_N_DEG * 2, ATOM_FEATURE_DIM), dtype=np.float32)
for _d in range(_N_DEG):
    _ATOM_VARIANTS[2 * _d, _ATOM_OFFSETS[1] + _d] = 1.0
    _ATOM_VARIANTS[2 * _d + 1, _ATOM_OFFSETS[1] + _d] = 1.0
    _ATOM_VARIANTS[2 * _d + 1, _ATOM_OFFSETS[6]] = 1.0
_BOND_VARIANTS = np.zeros((2, BOND_FEATURE_DIM), dtype=np.float32)
_BOND_VARIANTS[1, _BOND_OFFSETS[2]] = 1.0


def _flat(lists, offsets: np.ndarray) -> np.ndarray:
    """Concatenate per-molecule local index lists and shift each by its molecule's offset."""
    counts = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    flat = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=int(counts.sum()))
    return flat + np.repeat(offsets, counts)


@dataclass(frozen=True)
class PackedGraphs:
    """Many molecules in concatenated arrays (what :meth:`GraphPacker.finish` returns).

    Molecule ``i`` owns atoms ``atom_start[i]:atom_start[i+1]`` and bonds
    ``bond_start[i]:bond_start[i+1]``; ``atom_rows``/``bond_rows`` index ``atom_table``/
    ``bond_table`` (one float32 one-hot row per distinct atom/bond environment);
    ``pairs`` are the bonds' local ``(begin, end)`` atom indices. :meth:`graph` and
    :meth:`collate` give exactly what :func:`featurize_mol` and :func:`collate_graphs` give.
    """

    atom_start: np.ndarray
    bond_start: np.ndarray
    atom_rows: np.ndarray
    bond_rows: np.ndarray
    pairs: np.ndarray
    atom_table: np.ndarray
    bond_table: np.ndarray

    def __len__(self) -> int:
        return len(self.atom_start) - 1

    @property
    def num_atoms(self) -> np.ndarray:
        """Atoms per molecule (int64 ``[M]``)."""
        return np.diff(self.atom_start)

    def graph(self, i: int) -> MolGraph:
        """Molecule ``i`` as a :class:`MolGraph`."""
        a0, a1 = self.atom_start[i], self.atom_start[i + 1]
        b0, b1 = self.bond_start[i], self.bond_start[i + 1]
        x = self.atom_table[self.atom_rows[a0:a1]]
        if b1 == b0:
            return MolGraph(x, _EMPTY_EDGES, np.zeros((0, self.bond_table.shape[1]), dtype=np.float32))
        pairs = self.pairs[b0:b1]
        # edge 2k = bond k forwards, 2k+1 = bond k backwards
        edge_index = np.stack((pairs, pairs[:, ::-1]), axis=1).reshape(-1, 2)
        return MolGraph(x, edge_index, self.bond_table[np.repeat(self.bond_rows[b0:b1], 2)])

    def collate(self, rows: Sequence[int], *, compact: bool = False) -> dict:
        """The padded batch of molecules ``rows`` (in that order), as :func:`collate_graphs`.

        ``compact=True`` returns the 0/1 features and masks as uint8 (edges stay int32).
        """
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            raise ValueError("collate needs at least one molecule")
        na = self.atom_start[rows + 1] - self.atom_start[rows]
        nb = self.bond_start[rows + 1] - self.bond_start[rows]
        b, n, e = len(rows), max(int(na.max()), 1), max(2 * int(nb.max()), 1)
        fdtype = np.uint8 if compact else np.float32
        # atoms: batch slot, position in the molecule, position in the packed arrays
        slot_a = np.repeat(np.arange(b), na)
        local_a = np.arange(int(na.sum())) - np.repeat(np.cumsum(na) - na, na)
        src_a = np.repeat(self.atom_start[rows], na) + local_a
        atom_features = np.zeros((b, n, self.atom_table.shape[1]), dtype=fdtype)
        atom_features[slot_a, local_a] = self.atom_table[self.atom_rows[src_a]]
        atom_mask = np.zeros((b, n), dtype=fdtype)
        atom_mask[slot_a, local_a] = 1
        # bonds: bond k of a molecule fills edges 2k (forwards) and 2k+1 (backwards)
        slot_b = np.repeat(np.arange(b), nb)
        local_b = np.arange(int(nb.sum())) - np.repeat(np.cumsum(nb) - nb, nb)
        src_b = np.repeat(self.bond_start[rows], nb) + local_b
        edge_index = np.zeros((b, e, 2), dtype=np.int32)
        bond_features = np.zeros((b, e, self.bond_table.shape[1]), dtype=fdtype)
        bond_mask = np.zeros((b, e), dtype=fdtype)
        pairs = self.pairs[src_b]
        feats = self.bond_table[self.bond_rows[src_b]]
        for direction in (0, 1):
            pos = 2 * local_b + direction
            edge_index[slot_b, pos] = pairs if direction == 0 else pairs[:, ::-1]
            bond_features[slot_b, pos] = feats
            bond_mask[slot_b, pos] = 1
        return dict(zip(GRAPH_KEYS, (atom_features, atom_mask, edge_index, bond_features, bond_mask)))


def _check_size(mol: Chem.Mol, max_atoms: int | None, smiles: str | None) -> int:
    n = mol.GetNumAtoms()
    if n == 0:
        raise FeaturizationError("molecule has no atoms", smiles)
    if max_atoms is not None and n > max_atoms:
        raise FeaturizationError(f"molecule too large ({n} atoms > max_atoms={max_atoms})", smiles)
    return n


class _V2Decoder:
    """Per-process cache: RDKit connectivity invariant -> code of its decoded atom fields.

    The invariant (one C++ call per molecule) hashes atomic number, total degree, hydrogen
    count, formal charge, mass and ring membership. The first atom seen with an invariant is
    read field by field and gets a code; every later atom with that invariant costs a dict
    lookup. ``base_rows[code]`` is the one-hot row of element, charge, hydrogens and ring flag.
    """

    def __init__(self):
        import threading

        self.code_of_inv: dict[int, int] = {}
        self.code_of_fields: dict[tuple, int] = {}
        self.base_rows = np.zeros((0, len(ATOM_FEATURE_NAMES_V2)), dtype=np.float32)
        self.num_h = np.zeros(0, dtype=np.int64)
        self.total_degree = np.zeros(0, dtype=np.int64)
        self.in_ring = np.zeros(0, dtype=np.int64)
        self._lock = threading.Lock()

    def code_of_atom(self, atom, inv: int, ring_info) -> int:
        fields = (atom.GetAtomicNum(), atom.GetFormalCharge(), atom.GetTotalNumHs(),
                  int(ring_info.NumAtomRings(atom.GetIdx()) > 0), atom.GetTotalDegree())
        with self._lock:
            code = self.code_of_fields.get(fields)
            if code is None:
                z, charge, num_h, ring, total_degree = fields
                row = np.zeros((1, self.base_rows.shape[1]), dtype=np.float32)
                row[0, int(_ELEMENT_CODE[z if 0 <= z < 256 else 0])] = 1.0
                row[0, _N_ELEM + min(max(charge, -2), 2) + 2] = 1.0
                row[0, _N_ELEM + _N_CHG + min(num_h, _N_HS - 1)] = 1.0
                row[0, _N_ELEM + _N_CHG + _N_HS] = float(ring)
                code = len(self.code_of_fields)
                # arrays are replaced, never resized in place: readers keep a consistent view
                self.base_rows = np.concatenate((self.base_rows, row))
                self.num_h = np.append(self.num_h, num_h)
                self.total_degree = np.append(self.total_degree, total_degree)
                self.in_ring = np.append(self.in_ring, ring)
                self.code_of_fields[fields] = code
            if inv is not None:
                self.code_of_inv.setdefault(inv, code)
            return code


_V2 = _V2Decoder()
_V2_VARIANT_ROWS = np.zeros((_V2_N_VARIANTS, len(ATOM_FEATURE_NAMES_V2)), dtype=np.float32)
for _v in range(_V2_N_VARIANTS):
    _tri, _rest = _v % 2, _v // 2
    _dbl, _rest = _rest % _N_DOUBLE, _rest // _N_DOUBLE
    _aro, _deg = _rest % 2, _rest // 2
    _o = _V2_BASE_WIDTH
    _V2_VARIANT_ROWS[_v, _o + _deg] = 1.0
    _V2_VARIANT_ROWS[_v, _o + _N_DEG] = float(_aro)
    _V2_VARIANT_ROWS[_v, _o + _N_DEG + 1 + _dbl] = 1.0
    _V2_VARIANT_ROWS[_v, _o + _N_DEG + 1 + _N_DOUBLE] = float(_tri)
_V2_BOND_TABLE = np.zeros((8, len(BOND_FEATURE_NAMES_V2)), dtype=np.float32)
for _k in range(4):
    _V2_BOND_TABLE[2 * _k, _k] = _V2_BOND_TABLE[2 * _k + 1, _k] = 1.0
    _V2_BOND_TABLE[2 * _k + 1, 4] = 1.0


class GraphPacker:
    """Featurise molecules one by one into a :class:`PackedGraphs` (the one featuriser).

    Per molecule, :meth:`add` reads the raw atom/bond fields in one pass (indexed RDKit
    access) and the ring membership from the ring info; everything else -- environment
    lookup, degrees (a ``bincount`` over all bonds), ring flags and one-hot rows -- is numpy
    over the whole chunk in :meth:`finish`. A molecule that fails :meth:`add` leaves
    nothing behind.

    Example:
        >>> from sciarch.io.molecules import GraphPacker, parse_smiles
        >>> p = GraphPacker()
        >>> _ = p.add(parse_smiles("CCO")); _ = p.add(parse_smiles("c1ccccc1"))
        >>> packed = p.finish()
        >>> packed.num_atoms.tolist(), packed.collate([1, 0])["atom_mask"].sum(axis=1).tolist()
        ([3, 6], [6.0, 3.0])
    """

    def __init__(self, features: str = DEFAULT_GRAPH_FEATURES):
        feature_dims(features)  # validates the version
        self.features = features
        # v2, per molecule: (connectivity invariants, adjacency matrix, molecule); the molecules
        # are kept for the collision check of finish() and go with the packer
        self._v2: list = []
        self._atom_keys: list = []
        self._bond_keys: list = []
        self._pairs: list = []
        self._ring_atoms: list = []
        self._ring_bonds: list = []
        self._n_atoms: list[int] = []
        self._n_bonds: list[int] = []

    def __len__(self) -> int:
        return len(self._v2) if self.features == "v2" else len(self._n_atoms)

    def add(self, mol: Chem.Mol, *, max_atoms: int | None = None, smiles: str | None = None) -> int:
        """Append one sanitised molecule; return its index. Raises :class:`FeaturizationError`."""
        if self.features == "v2":
            return self._add_v2(mol, max_atoms=max_atoms, smiles=smiles)
        n = _check_size(mol, max_atoms, smiles)
        atoms = [
            (a.GetAtomicNum(), a.GetFormalCharge(), a.GetTotalNumHs(), a.GetIsAromatic(), a.GetHybridization(),
             a.GetChiralTag())
            for a in map(mol.GetAtomWithIdx, range(n))
        ]
        bonds = [
            (b.GetBeginAtomIdx(), b.GetEndAtomIdx(), b.GetBondType(), b.GetIsConjugated(), b.GetStereo())
            for b in map(mol.GetBondWithIdx, range(mol.GetNumBonds()))
        ]
        ring_info = mol.GetRingInfo()  # filled by sanitisation (parse_smiles always sanitises)
        self._ring_atoms.append([i for r in ring_info.AtomRings() for i in r])
        self._ring_bonds.append([i for r in ring_info.BondRings() for i in r])
        self._atom_keys += atoms
        self._bond_keys += [(t, c, st) for _, _, t, c, st in bonds]
        self._pairs += [(s, d) for s, d, *_ in bonds]
        self._n_atoms.append(n)
        self._n_bonds.append(len(bonds))
        return len(self._n_atoms) - 1

    def finish(self) -> PackedGraphs:
        """The packed arrays of every molecule added so far."""
        if self.features == "v2":
            return self._finish_v2()
        atom_start = np.zeros(len(self._n_atoms) + 1, dtype=np.int64)
        np.cumsum(self._n_atoms, out=atom_start[1:])
        bond_start = np.zeros(len(self._n_bonds) + 1, dtype=np.int64)
        np.cumsum(self._n_bonds, out=bond_start[1:])
        n_total, m_total = int(atom_start[-1]), int(bond_start[-1])
        pairs = np.asarray(self._pairs, dtype=np.int32).reshape(m_total, 2)
        # heavy-atom degree: bonds per atom, counted over the whole chunk
        global_pairs = pairs + np.repeat(atom_start[:-1], self._n_bonds)[:, None]
        degree = np.bincount(global_pairs.ravel(), minlength=n_total)
        in_ring = np.zeros(n_total, dtype=np.int64)
        in_ring[_flat(self._ring_atoms, atom_start[:-1])] = 1
        atom_rows = _ATOM_TABLE.indices(self._atom_keys) * (2 * _N_DEG) + 2 * np.minimum(degree, _N_DEG - 1) + in_ring
        bond_ring = np.zeros(m_total, dtype=np.int64)
        bond_ring[_flat(self._ring_bonds, bond_start[:-1])] = 1
        bond_rows = _BOND_TABLE.indices(self._bond_keys) * 2 + bond_ring
        return PackedGraphs(
            atom_start=atom_start,
            bond_start=bond_start,
            atom_rows=atom_rows.astype(np.int32),
            bond_rows=bond_rows.astype(np.int32),
            pairs=pairs,
            atom_table=_ATOM_TABLE.product(_ATOM_VARIANTS),
            bond_table=_BOND_TABLE.product(_BOND_VARIANTS),
        )


    # ------------------------------------------------------------------ feature version v2
    def _add_v2(self, mol: Chem.Mol, *, max_atoms: int | None = None, smiles: str | None = None) -> int:
        n = _check_size(mol, max_atoms, smiles)
        inv = _rdMD.GetConnectivityInvariants(mol, True)
        known = _V2.code_of_inv
        if not known.keys() >= set(inv):  # first sight of an atom environment: read its fields once
            ring_info = mol.GetRingInfo()
            for i, key in enumerate(inv):
                if key not in known:
                    _V2.code_of_atom(mol.GetAtomWithIdx(i), key, ring_info)
        adj = Chem.GetAdjacencyMatrix(mol, useBO=True)
        if np.count_nonzero(adj) != 2 * mol.GetNumBonds():  # zero-order bonds are not in the matrix
            raise FeaturizationError("a bond without a bond order (zero-order bond) cannot be featurised with "
                                     "graph features v2", smiles)
        self._v2.append((inv, adj, mol))
        return len(self._v2) - 1

    def _finish_v2(self) -> PackedGraphs:
        items = self._v2
        n_atoms = np.fromiter((len(inv) for inv, *_ in items), dtype=np.int64, count=len(items))
        atom_start = np.zeros(len(items) + 1, dtype=np.int64)
        np.cumsum(n_atoms, out=atom_start[1:])
        n_total = int(atom_start[-1])
        if not items:
            return PackedGraphs(atom_start, atom_start.copy(), np.zeros(0, np.int32), np.zeros(0, np.int32),
                                np.zeros((0, 2), np.int32), np.zeros((0, len(ATOM_FEATURE_NAMES_V2)), np.float32),
                                _V2_BOND_TABLE)
        get = _V2.code_of_inv.get
        codes = np.fromiter(map(get, itertools.chain.from_iterable(inv for inv, *_ in items)), dtype=np.int64,
                            count=n_total)
        # every adjacency matrix flattened into one vector: bond (i < j) of molecule m sits at
        # cell_start[m] + i * n_m + j
        cells = np.concatenate([adj.reshape(-1) for _, adj, *_ in items])
        cell_start = np.zeros(len(items) + 1, dtype=np.int64)
        np.cumsum(n_atoms * n_atoms, out=cell_start[1:])
        pos = np.flatnonzero(cells)
        mol_of = np.searchsorted(cell_start, pos, side="right") - 1
        local = pos - cell_start[mol_of]
        width = n_atoms[mol_of]
        src, dst = local // width, local % width
        upper = src < dst
        src, dst, mol_of, order = src[upper], dst[upper], mol_of[upper], cells[pos[upper]]
        n_bonds = np.bincount(mol_of, minlength=len(items))
        bond_start = np.zeros(len(items) + 1, dtype=np.int64)
        np.cumsum(n_bonds, out=bond_start[1:])
        shift = atom_start[mol_of]
        gsrc, gdst = src + shift, dst + shift
        ends = np.concatenate((gsrc, gdst))
        degree_all = np.bincount(ends, minlength=n_total)
        # a hash collision shows as decoded fields that disagree with the atom's degree: such
        # atoms are read from the molecule itself
        suspect = np.flatnonzero(_V2.total_degree[codes] != degree_all + _V2.num_h[codes])
        if suspect.size:
            m_of_atom = np.searchsorted(atom_start, suspect, side="right") - 1
            for a, m in zip(suspect.tolist(), m_of_atom.tolist()):
                mol = items[m][2]
                codes[a] = _V2.code_of_atom(mol.GetAtomWithIdx(a - int(atom_start[m])), None, mol.GetRingInfo())

        def count(mask):
            return np.bincount(ends[np.concatenate((mask, mask))], minlength=n_total)

        degree = np.minimum(degree_all, _N_DEG - 1)
        aromatic = np.minimum(count(order == 1.5), 1)
        double = np.minimum(count(order == 2.0), _N_DOUBLE - 1)
        triple = np.minimum(count(order == 3.0), 1)
        variant = ((degree * 2 + aromatic) * _N_DOUBLE + double) * 2 + triple
        full = codes * _V2_N_VARIANTS + variant
        present = np.zeros(len(_V2.base_rows) * _V2_N_VARIANTS, dtype=bool)
        present[full] = True
        uniq = np.flatnonzero(present)
        atom_rows = (np.cumsum(present) - 1)[full]
        atom_table = _V2.base_rows[uniq // _V2_N_VARIANTS] + _V2_VARIANT_ROWS[uniq % _V2_N_VARIANTS]
        # a "ring bond" of v2 joins two ring atoms (ring-ring links such as biaryl bonds included)
        ring_atom = _V2.in_ring[codes]
        in_ring = ring_atom[gsrc] & ring_atom[gdst]
        kind = np.select([order == 2.0, order == 3.0, order == 1.5], [1, 2, 3], 0)  # others: single
        return PackedGraphs(
            atom_start=atom_start,
            bond_start=bond_start,
            atom_rows=atom_rows.reshape(-1).astype(np.int32),
            bond_rows=(kind * 2 + in_ring).astype(np.int32),
            pairs=np.stack((src, dst), axis=1).astype(np.int32),
            atom_table=atom_table,
            bond_table=_V2_BOND_TABLE,
        )


def featurize_mol(
    mol: Chem.Mol, *, max_atoms: int | None = None, smiles: str | None = None, features: str = DEFAULT_GRAPH_FEATURES
) -> MolGraph:
    """Featurise a sanitised RDKit molecule (see :func:`featurize_smiles`); same code as :class:`GraphPacker`."""
    packer = GraphPacker(features)
    packer.add(mol, max_atoms=max_atoms, smiles=smiles)
    return packer.finish().graph(0)


def featurize_smiles(
    smiles: str, *, max_atoms: int | None = None, strip_salts: bool = False, features: str = DEFAULT_GRAPH_FEATURES
) -> MolGraph:
    """Featurise one SMILES string into a :class:`MolGraph`.

    Args:
        smiles: the SMILES string (hydrogens stay implicit; their count is a feature).
        max_atoms: refuse molecules with more heavy atoms than this (screening guard);
            ``None`` (default) = no cap, as training requires.
        strip_salts: keep only the largest fragment before featurising.
        features: feature version, ``"v1"`` or ``"v2"`` (see the module docstring).

    Raises:
        FeaturizationError: empty / unparsable SMILES or too many atoms; ``.reason`` says which.
    """
    mol = parse_smiles(smiles, strip_salts=strip_salts)
    return featurize_mol(mol, max_atoms=max_atoms, smiles=smiles, features=features)


# ----------------------------------------------------------------------------- batching
def collate_graphs(graphs: Sequence[MolGraph], pad_atoms_to: int | None = None, pad_edges_to: int | None = None) -> dict:
    """Pad a list of graphs to one batch (N = most atoms in the batch, E = most edges).

    Padding atoms/edges are zero rows with mask 0; padded edges are ``(0, 0)``. N and E
    are at least 1 so that batches of single-atom molecules keep valid shapes.

    Args:
        graphs: the molecules of the batch.
        pad_atoms_to / pad_edges_to: optional minimum N / E (e.g. to bucket shapes).

    Returns:
        dict with the :data:`GRAPH_KEYS` arrays (float32 / int32 numpy).
    """
    if len(graphs) == 0:
        raise ValueError("collate_graphs needs at least one graph")
    b = len(graphs)
    n_atoms = [g.atom_features.shape[0] for g in graphs]
    n_edges = [g.edge_index.shape[0] for g in graphs]
    n = max(max(n_atoms), pad_atoms_to or 1, 1)
    e = max(max(n_edges), pad_edges_to or 1, 1)
    fa = graphs[0].atom_features.shape[1]
    fb = graphs[0].bond_features.shape[1]
    atom_features = np.zeros((b, n, fa), dtype=np.float32)
    atom_mask = np.zeros((b, n), dtype=np.float32)
    edge_index = np.zeros((b, e, 2), dtype=np.int32)
    bond_features = np.zeros((b, e, fb), dtype=np.float32)
    bond_mask = np.zeros((b, e), dtype=np.float32)
    for i, g in enumerate(graphs):
        na, ne = n_atoms[i], n_edges[i]
        atom_features[i, :na] = g.atom_features
        atom_mask[i, :na] = 1.0
        if ne:
            edge_index[i, :ne] = g.edge_index
            bond_features[i, :ne] = g.bond_features
            bond_mask[i, :ne] = 1.0
    return dict(zip(GRAPH_KEYS, (atom_features, atom_mask, edge_index, bond_features, bond_mask)))


# ----------------------------------------------------------------------------- files
def read_smi(path, *, id_column: bool = True) -> list[tuple[str, str]]:
    """Read a ``.smi`` file (``SMILES<TAB or space>id`` per line; ``.gz`` allowed).

    Returns ``[(smiles, id), ...]``; lines without an id get ``"<file>:<line>"`` as id.
    Blank lines are skipped; SMILES are *not* validated here (featurise them to check).

    Raises:
        FeaturizationError: a line is not UTF-8 text, or a ``.gz`` file is truncated/corrupt
            (one line naming the file and the line).
    """
    import gzip
    import zlib
    from pathlib import Path

    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    out: list[tuple[str, str]] = []
    lineno = 0
    try:
        with opener(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    line = raw.decode("utf-8").strip()
                except UnicodeDecodeError as exc:
                    raise FeaturizationError(
                        f"{path}: line {lineno}: not valid UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
                    ) from None
                if not line:
                    continue
                parts = line.split(None, 1)
                ident = parts[1].strip() if (id_column and len(parts) > 1) else f"{path.name}:{lineno}"
                out.append((parts[0], ident))
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        msg = " ".join(str(exc).split())
        raise FeaturizationError(f"{path}: cannot read beyond line {lineno} (corrupt or truncated gzip: {msg})") from None
    return out


def featurize_many(smiles: Iterable[str], *, max_atoms: int | None = None, strip_salts: bool = False) -> list[MolGraph]:
    """Featurise several SMILES; the first failure raises with its index in the message."""
    out = []
    for i, s in enumerate(smiles):
        try:
            out.append(featurize_smiles(s, max_atoms=max_atoms, strip_salts=strip_salts))
        except FeaturizationError as exc:
            raise FeaturizationError(f"item {i}: {exc.reason}", exc.smiles) from None
    return out
