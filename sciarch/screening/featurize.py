"""Record parsing, filtering and featurisation of library chunks (runs in worker processes).

Everything here is a plain function of picklable inputs, so the same code runs in a
``multiprocessing`` worker of ``sciarch screen`` and in a Beam ``DoFn``:

* :func:`parse_record` -- one raw record -> ``(id, smiles, mol)`` or :class:`RecordRejected`;
* :func:`featurize_records` -- many records -> featurised molecules + rejects;
* :func:`pack_batches` -- molecules sorted by atom count and padded per batch
  (:func:`sciarch.io.molecules.collate_graphs`, the project's graph-batch convention);
* :func:`featurize_chunk` -- a :class:`~sciarch.screening.readers.RawChunk` -> :class:`FeaturizedChunk`.

The molecule featuriser itself is :mod:`sciarch.io.molecules` (imported, never copied).
One-hot features travel between processes as ``uint8`` (4x smaller than float32) when
they are exactly 0/1; the scorer casts them back.

Example:
    >>> from sciarch.screening.featurize import FeaturizeOptions, featurize_records
    >>> ok, rejects = featurize_records([(1, b"CCO a"), (2, b"not-a-smiles b"), (3, b"")], FeaturizeOptions())
    >>> [m.id for m in ok], [(r.line, r.code) for r in rejects]
    (['a'], [(2, 'invalid_smiles'), (3, 'empty')])
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
from rdkit import Chem, RDLogger

from sciarch.io.molecules import (
    DEFAULT_GRAPH_FEATURES,
    FINGERPRINT_KEY,
    GRAPH_KEYS,
    FeaturizationError,
    GraphPacker,
    MolGraph,
    PackedGraphs,
    collate_graphs,
    feature_dims,
    largest_fragment,
    morgan_fingerprint,
    parse_smiles,
)
from sciarch.screening.readers import RawChunk, split_chunk

RDLogger.DisableLog("rdApp.*")

__all__ = [
    "FILTERS",
    "FeaturizeOptions",
    "FeaturizedChunk",
    "Molecule",
    "RecordRejected",
    "Reject",
    "escape_raw",
    "featurize_chunk",
    "featurize_records",
    "pack_batches",
    "parse_record",
]

#: optional filters: name -> description
FILTERS = {
    "pains": "RDKit FilterCatalog PAINS (A, B, C): pan-assay interference substructures",
    "brenk": "RDKit FilterCatalog Brenk: unwanted / reactive / toxic substructures",
    "nih": "RDKit FilterCatalog NIH: reactive / undesirable functional groups",
    "zinc": "RDKit FilterCatalog ZINC: ZINC drug-likeness rules",
    "lipinski": "Lipinski rule of five (MW <= 500, cLogP <= 5, HBD <= 5, HBA <= 10), at most one violation",
}


@dataclass(frozen=True)
class FeaturizeOptions:
    """How records are read and which molecules are kept.

    Args:
        kind: record format, ``"smi"``, ``"csv"`` or ``"sdf"``.
        delimiter: CSV separator.
        smiles_index / id_index: CSV column positions (``id_index=None``: ids from line numbers).
        id_field: SDF data field holding the id (``None``: the title line).
        max_atoms: molecules with more atoms (after salt stripping) are rejected.
        strip_salts: keep the largest fragment only.
        dedup: compute a 64-bit hash of the canonical SMILES per molecule (for de-duplication).
        filters: names from :data:`FILTERS`; a molecule matching any is rejected.
        batch_size: molecules per padded batch.
        compact: send 0/1 features as uint8.
        graph_features: graph feature version (:mod:`sciarch.io.molecules`); a scorer that
            names one (``scorer.graph_features``) sets it for its screen.
        fingerprint_bits: also compute each molecule's Morgan (ECFP4) fingerprint of this size
            (batches gain ``ligand_fingerprint [B, bits]``); 0 = none. A scorer whose model reads
            one (``scorer.fingerprint_bits``) sets it for its screen.
    """

    kind: str = "smi"
    delimiter: str = ","
    smiles_index: int = 0
    id_index: int | None = None
    id_field: str | None = None
    max_atoms: int | None = 150
    strip_salts: bool = False
    dedup: bool = False
    filters: tuple[str, ...] = ()
    batch_size: int = 1024
    compact: bool = True
    graph_features: str = DEFAULT_GRAPH_FEATURES
    fingerprint_bits: int = 0

    def __post_init__(self):
        feature_dims(self.graph_features)  # ValueError for an unknown version
        if self.fingerprint_bits < 0:
            raise ValueError(f"fingerprint_bits must be >= 0, got {self.fingerprint_bits}")
        unknown = [f for f in self.filters if f not in FILTERS]
        if unknown:
            raise ValueError(f"unknown filter(s) {', '.join(unknown)}; choose from {', '.join(FILTERS)}")
        if self.kind not in ("smi", "csv", "sdf"):
            raise ValueError(f"unknown record kind {self.kind!r}")
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")


class RecordRejected(Exception):
    """A record that cannot be scored. ``code`` is a short category, ``message`` the detail."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Reject:
    """One line of the ledger: 1-based line, the raw text (escaped for TSV), reason category and detail."""

    line: int
    raw: str
    code: str
    message: str

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.message}"

    def tsv_line(self) -> str:
        """The ledger row ``line<TAB>raw<TAB>reason\n`` (raw already escaped)."""
        return f"{self.line}\t{self.raw}\t{self.reason}\n"


@dataclass
class Molecule:
    """A featurised record."""

    line: int
    id: str
    smiles: str
    graph: MolGraph
    key: int = 0
    raw: str | None = None
    #: Morgan fingerprint ``uint8 [bits]`` (with ``FeaturizeOptions.fingerprint_bits``)
    fingerprint: np.ndarray | None = None


@dataclass
class FeaturizedChunk:
    """What a worker sends back for one chunk.

    ``lines``/``ids``/``smiles``/``keys`` are in file order; each batch is
    ``(rows, arrays)`` where ``rows`` indexes those lists and ``arrays`` is a padded graph
    batch (sorted by atom count to limit padding).
    """

    index: int
    first_line: int
    n_records: int
    lines: np.ndarray
    ids: list[str]
    smiles: list[str]
    keys: np.ndarray | None
    batches: list[tuple[np.ndarray, dict]]
    rejects: list[Reject] = field(default_factory=list)
    raws: list[str] | None = None


# ----------------------------------------------------------------------------- helpers
_ESCAPES = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r"})


def escape_raw(raw: bytes | str) -> str:
    """Raw record text safe for one TSV field: tabs/newlines as ``\\t``/``\\n``, bad bytes as ``\\xNN``."""
    text = raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else raw
    return text.translate(_ESCAPES)


def _clean(msg: str) -> str:
    return msg.translate(_ESCAPES)


_CATALOGS: dict[str, object] = {}


def _catalog(name: str):
    cat = _CATALOGS.get(name)
    if cat is None:
        from rdkit.Chem import FilterCatalog

        fc = FilterCatalog.FilterCatalogParams.FilterCatalogs
        which = {"pains": fc.PAINS, "brenk": fc.BRENK, "nih": fc.NIH, "zinc": fc.ZINC}[name]
        params = FilterCatalog.FilterCatalogParams()
        params.AddCatalog(which)
        cat = _CATALOGS[name] = FilterCatalog.FilterCatalog(params)
    return cat


def _lipinski_violations(mol) -> int:
    from rdkit.Chem import Crippen, Descriptors, Lipinski

    return (
        (Descriptors.MolWt(mol) > 500)
        + (Crippen.MolLogP(mol) > 5)
        + (Lipinski.NumHDonors(mol) > 5)
        + (Lipinski.NumHAcceptors(mol) > 10)
    )


def apply_filters(mol, filters: Sequence[str]) -> None:
    """Raise :class:`RecordRejected` (code ``filtered``) if ``mol`` fails one of ``filters``."""
    for name in filters:
        if name == "lipinski":
            v = _lipinski_violations(mol)
            if v > 1:
                raise RecordRejected("filtered", f"lipinski: {v} rule-of-five violations")
            continue
        match = _catalog(name).GetFirstMatch(mol)
        if match is not None:
            raise RecordRejected("filtered", f"{name}: {_clean(match.GetDescription())}")


def canonical_key(mol) -> int:
    """64-bit hash (signed int) of the canonical isomeric SMILES of ``mol``."""
    can = Chem.MolToSmiles(mol)
    return int.from_bytes(hashlib.blake2b(can.encode(), digest_size=8).digest(), "little", signed=True)


def sd_field(record: str, name: str) -> str | None:
    """Value of the SD data item ``> <name>`` of one SD record (first line of the value), or None."""
    end = record.find("M  END")
    lines = record[end:].split("\n") if end >= 0 else record.split("\n")
    tag = f"<{name}>"
    for i, ln in enumerate(lines):
        if ln.startswith(">") and tag in ln:
            return lines[i + 1].rstrip("\r") if i + 1 < len(lines) else ""
    return None


def default_id(line: int) -> str:
    """Id of a record whose file gives none: its line number."""
    return f"line_{line}"


# ----------------------------------------------------------------------------- records
def parse_record(line: int, raw: bytes, opts: FeaturizeOptions):
    """Decode one raw record: return ``(id, smiles, mol)``; raise :class:`RecordRejected`.

    ``mol`` is the sanitised RDKit molecule after salt stripping (if asked) and filters.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordRejected(
            "encoding", f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
        ) from None
    if "\x00" in text:
        raise RecordRejected("encoding", f"NUL byte at column {text.index(chr(0)) + 1}")
    kind = opts.kind
    if kind == "sdf":
        if not text.strip():
            raise RecordRejected("empty", "empty SD record")
        mol = Chem.MolFromMolBlock(text, sanitize=True)
        if mol is None:
            raise RecordRejected("invalid_molecule", "RDKit could not parse or sanitise the molblock")
        if opts.id_field is not None:
            value = sd_field(text, opts.id_field)
            if value is None:
                raise RecordRejected("format", f"no data field <{opts.id_field}> in this SD record")
            ident = value.strip()
        else:
            ident = text.split("\n", 1)[0].strip()
        if mol.GetNumAtoms() == 0:
            raise RecordRejected("invalid_molecule", "molecule has no atoms")
        if opts.strip_salts:
            mol = largest_fragment(mol)
        smiles = Chem.MolToSmiles(mol)
        ident = ident or default_id(line)
    else:
        stripped = text.strip()
        if not stripped:
            raise RecordRejected("empty", "empty line")
        if stripped.startswith("#"):
            raise RecordRejected("comment", "comment line")
        if kind == "smi":
            parts = stripped.split(None, 1)
            smiles = parts[0]
            ident = parts[1].strip() if len(parts) > 1 else default_id(line)
        else:
            try:
                fields = next(csv.reader([text], delimiter=opts.delimiter, strict=True))
            except csv.Error as exc:
                raise RecordRejected("format", f"malformed CSV line ({exc})") from None
            if len(fields) <= opts.smiles_index:
                raise RecordRejected(
                    "format", f"{len(fields)} fields, the SMILES column is field {opts.smiles_index + 1}"
                )
            smiles = fields[opts.smiles_index].strip()
            if not smiles:
                raise RecordRejected("empty", "empty SMILES field")
            ident = ""
            if opts.id_index is not None:
                if len(fields) <= opts.id_index:
                    raise RecordRejected("format", f"{len(fields)} fields, the id column is field {opts.id_index + 1}")
                ident = fields[opts.id_index].strip()
            ident = ident or default_id(line)
        try:
            mol = parse_smiles(smiles, strip_salts=opts.strip_salts)
        except FeaturizationError as exc:
            raise RecordRejected("invalid_smiles", _clean(exc.reason)) from None
    if opts.filters:
        apply_filters(mol, opts.filters)
    return ident, smiles, mol


@dataclass
class _Accepted:
    """The record fields of a molecule that went into the chunk's :class:`GraphPacker`."""

    line: int
    id: str
    smiles: str
    key: int
    raw: str | None


def _featurize(records: Iterable[tuple[int, bytes]], opts: FeaturizeOptions):
    """Parse, filter and featurise records into one :class:`PackedGraphs` (row ``i`` = ``accepted[i]``)
    and, with ``opts.fingerprint_bits``, their fingerprints ``uint8 [M, bits]`` (else ``None``)."""
    accepted: list[_Accepted] = []
    fingerprints: list[np.ndarray] = []
    rejects: list[Reject] = []
    packer = GraphPacker(opts.graph_features)
    max_atoms = opts.max_atoms
    for line, raw in records:
        try:
            ident, smiles, mol = parse_record(line, raw, opts)
            key = canonical_key(mol) if opts.dedup else 0
            try:
                fingerprint = morgan_fingerprint(mol, opts.fingerprint_bits) if opts.fingerprint_bits else None
                packer.add(mol, max_atoms=max_atoms, smiles=smiles)
            except FeaturizationError as exc:
                code = "too_large" if "too large" in exc.reason else "featurization"
                raise RecordRejected(code, _clean(exc.reason)) from None
        except RecordRejected as exc:
            rejects.append(Reject(line, escape_raw(raw), exc.code, exc.message))
            continue
        except Exception as exc:  # an RDKit crash on one record must not lose the chunk
            rejects.append(Reject(line, escape_raw(raw), "error", _clean(f"{type(exc).__name__}: {exc}")))
            continue
        accepted.append(_Accepted(line, ident, smiles, key, escape_raw(raw) if opts.dedup else None))
        if fingerprint is not None:
            fingerprints.append(fingerprint)
    fps = None
    if opts.fingerprint_bits:
        fps = np.stack(fingerprints) if fingerprints else np.zeros((0, opts.fingerprint_bits), np.uint8)
    return accepted, rejects, packer.finish(), fps


def featurize_records(
    records: Iterable[tuple[int, bytes]], opts: FeaturizeOptions
) -> tuple[list[Molecule], list[Reject]]:
    """Parse, filter and featurise ``(line, raw)`` records; every record ends in one list or the other."""
    accepted, rejects, packed, fps = _featurize(records, opts)
    ok = [Molecule(a.line, a.id, a.smiles, packed.graph(i), a.key, a.raw, None if fps is None else fps[i])
          for i, a in enumerate(accepted)]
    return ok, rejects


def _compact(arrays: dict) -> dict:
    out = {}
    for k, v in arrays.items():
        if v.dtype == np.float32 and k != "bond_mask" and k != "atom_mask":
            u = v.astype(np.uint8)
            if np.array_equal(u, v):
                v = u
        elif v.dtype == np.float32:
            v = v.astype(np.uint8)
        out[k] = v
    return out


def pack_batches(
    graphs: Sequence[MolGraph] | PackedGraphs, batch_size: int, compact: bool = True,
    fingerprints: np.ndarray | None = None,
) -> list[tuple[np.ndarray, dict]]:
    """Sort graphs by atom count and collate them into padded batches.

    ``graphs`` is a list of :class:`MolGraph` or a :class:`PackedGraphs` (a chunk's
    molecules, collated straight from its concatenated arrays; same batches).
    ``fingerprints`` (``[M, bits]``, row ``i`` = molecule ``i``) join each batch as
    ``ligand_fingerprint`` (uint8 when ``compact``, else float32).
    Returns ``[(rows, arrays), ...]`` where ``rows`` (int32) are the positions in ``graphs``
    of the batch's molecules, in batch order.
    """
    if len(graphs) == 0:
        return []
    if isinstance(graphs, PackedGraphs):
        sizes = graphs.num_atoms

        def collate(rows):
            return graphs.collate(rows, compact=compact)
    else:
        sizes = np.fromiter((g.num_atoms for g in graphs), dtype=np.int32, count=len(graphs))

        def collate(rows):
            arrays = collate_graphs([graphs[i] for i in rows])
            return _compact(arrays) if compact else arrays

    if fingerprints is not None:
        if len(fingerprints) != len(sizes):
            raise ValueError(f"{len(fingerprints)} fingerprints for {len(sizes)} molecules")
        fp_dtype = np.uint8 if compact else np.float32
        graph_collate = collate

        def collate(rows):
            return {**graph_collate(rows), FINGERPRINT_KEY: fingerprints[rows].astype(fp_dtype)}

    order = np.argsort(sizes, kind="stable").astype(np.int32)
    return [(order[s : s + batch_size], collate(order[s : s + batch_size])) for s in range(0, len(order), batch_size)]


def featurize_chunk(chunk: RawChunk, opts: FeaturizeOptions) -> FeaturizedChunk:
    """Featurise one raw chunk (the worker-process entry point)."""
    records = list(split_chunk(chunk, opts.kind))
    if len(records) != chunk.n_records:  # a reader/splitter disagreement must never drop records
        raise RuntimeError(
            f"chunk {chunk.index} (line {chunk.first_line}): expected {chunk.n_records} records, split {len(records)}"
        )
    if chunk.truncated_tail and records:
        # the last record was cut off by the truncated compressed stream: ledgered, never scored
        *records, (last_line, last_raw) = records
    accepted, rejects, packed, fps = _featurize(records, opts)
    if chunk.truncated_tail and chunk.n_records:
        rejects.append(Reject(last_line, escape_raw(last_raw), "truncated", "record cut off by the truncated compressed stream"))
    return FeaturizedChunk(
        index=chunk.index,
        first_line=chunk.first_line,
        n_records=chunk.n_records,
        lines=np.fromiter((a.line for a in accepted), dtype=np.int64, count=len(accepted)),
        ids=[a.id for a in accepted],
        smiles=[a.smiles for a in accepted],
        keys=np.fromiter((a.key for a in accepted), dtype=np.int64, count=len(accepted)) if opts.dedup else None,
        batches=pack_batches(packed, opts.batch_size, opts.compact, fps),
        rejects=rejects,
        raws=[a.raw for a in accepted] if opts.dedup else None,
    )


def expand_batch(arrays: dict) -> dict:
    """Undo the uint8 transport encoding: float32 features, masks (and fingerprints), int32 edges."""
    out = {}
    for k in (*GRAPH_KEYS, FINGERPRINT_KEY):
        if k in arrays:
            out[k] = arrays[k].astype(np.int32 if k == "edge_index" else np.float32, copy=False)
    return out
