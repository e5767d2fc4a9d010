"""Davis / KIBA drug-target pair tables -> validated arrays -> ``tf.data`` batches.

Files of a data set folder (``data/drugscreen/<davis|kiba>/``, see its PROVENANCE.md):

* ``affinities.csv(.gz)``: one labelled pair per row; ``drug_index`` is the 0-based line
  of ``ligands.smi``, ``protein_index`` the 0-based record of ``proteins.fasta``;
  the label is ``pKd`` (Davis) or ``kiba_score`` (KIBA); ``cv_fold`` holds DeepDTA's
  training fold 0-4.
* ``ligands.smi`` / ``ligands_isomeric.smi``: ``SMILES<TAB>id``.
* ``proteins.fasta``.

Every ligand is featurised once (:mod:`sciarch.io.molecules`) and every protein
tokenised once (:mod:`sciarch.io.sequences`). An invalid SMILES, an illegal protein
letter or a malformed CSV row is reported with its file and line. With
``on_bad_input="error"`` (default) loading stops with all problems listed; with
``"skip"`` the affected pairs are dropped and the problems kept in ``DTAData.problems``
(the pipeline writes them into the run report) -- nothing disappears silently.

Batches are built inside ``tf.data``: the ligand graphs live in ragged tensors, and a
batch of ``(drug, protein)`` indices is turned into the padded graph batch of
CONTRIBUTING.md ("Graph batches") plus ``protein_tokens [B, L]`` by gathering.
Training batches can be *grouped by protein* (``protein_chunk`` pairs of one protein
next to each other): the model encodes each distinct protein of a batch once, so
grouping cuts the cost of the protein CNN by about ``protein_chunk`` times.

Example:
    >>> from pipelines.drugscreen.data import DTAData
    >>> data = DTAData.load("davis")  # doctest: +SKIP
    >>> len(data.pairs), data.tokens.shape  # doctest: +SKIP
    (25046, (442, 1000))
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from sciarch.io.fasta import read_fasta
from sciarch.io.molecules import (
    ATOM_FEATURE_DIM,
    BOND_FEATURE_DIM,
    FeaturizationError,
    MolGraph,
    featurize_smiles,
)
from sciarch.io.sequences import DEFAULT_MAX_LENGTH, SequenceError, tokenize_protein
from sciarch.pipeline import PROJECT_ROOT

DATA_ROOT = PROJECT_ROOT / "data" / "drugscreen"
TARGET_COLUMNS = {"davis": "pKd", "kiba": "kiba_score"}
REQUIRED_COLUMNS = ("drug_index", "protein_index")


class DataError(ValueError):
    """Bad input data; the message names the file and line(s)."""


@dataclass
class Pairs:
    """Labelled pairs as parallel arrays (row ``i`` = CSV data line ``line[i]``)."""

    drug: np.ndarray  # int32 [n]
    protein: np.ndarray  # int32 [n]
    y: np.ndarray  # float32 [n]
    fold: np.ndarray  # int32 [n], -1 when the file has no cv_fold column
    line: np.ndarray  # int32 [n], 1-based line in the CSV
    source: str = ""

    def __len__(self) -> int:
        return int(self.drug.shape[0])

    def subset(self, mask_or_index) -> "Pairs":
        return Pairs(
            self.drug[mask_or_index],
            self.protein[mask_or_index],
            self.y[mask_or_index],
            self.fold[mask_or_index],
            self.line[mask_or_index],
            self.source,
        )


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def find_file(folder: Path, stem: str) -> Path:
    for cand in (folder / stem, folder / f"{stem}.gz"):
        if cand.is_file():
            return cand
    raise DataError(f"{folder}: neither {stem} nor {stem}.gz exists")


def read_pairs(path: str | Path, target_column: str, num_drugs: int, num_proteins: int) -> tuple[Pairs, list[str]]:
    """Parse a pairs CSV (plain or gzip). Returns the pairs and a list of problems
    (``"file:line: ..."``); rows with problems are left out of the arrays."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    problems: list[str] = []
    drug, prot, y, fold, lines = [], [], [], [], []
    with _open_text(path) as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(f"{path}: empty file (expected a CSV header)") from None
        col = {name.strip(): i for i, name in enumerate(header)}
        missing = [c for c in (*REQUIRED_COLUMNS, target_column) if c not in col]
        if missing:
            raise DataError(
                f"{path}: line 1: missing column(s) {', '.join(missing)} (header: {', '.join(header)})"
            )
        i_d, i_p, i_y = col["drug_index"], col["protein_index"], col[target_column]
        i_f = col.get("cv_fold")
        for lineno, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                problems.append(f"{path}:{lineno}: expected {len(header)} fields, got {len(row)}")
                continue
            try:
                d = int(row[i_d])
                p = int(row[i_p])
            except ValueError:
                problems.append(f"{path}:{lineno}: drug_index/protein_index must be integers, got {row[i_d]!r}, {row[i_p]!r}")
                continue
            try:
                v = float(row[i_y])
            except ValueError:
                problems.append(f"{path}:{lineno}: field '{target_column}' is not a number: {row[i_y]!r}")
                continue
            if not np.isfinite(v):
                problems.append(f"{path}:{lineno}: field '{target_column}' is not finite: {row[i_y]!r}")
                continue
            if not 0 <= d < num_drugs:
                problems.append(f"{path}:{lineno}: drug_index {d} outside the {num_drugs} ligands")
                continue
            if not 0 <= p < num_proteins:
                problems.append(f"{path}:{lineno}: protein_index {p} outside the {num_proteins} proteins")
                continue
            f = -1
            if i_f is not None and row[i_f].strip():
                try:
                    f = int(row[i_f])
                except ValueError:
                    problems.append(f"{path}:{lineno}: cv_fold must be an integer, got {row[i_f]!r}")
                    continue
            drug.append(d)
            prot.append(p)
            y.append(v)
            fold.append(f)
            lines.append(lineno)
    pairs = Pairs(
        np.asarray(drug, np.int32),
        np.asarray(prot, np.int32),
        np.asarray(y, np.float32),
        np.asarray(fold, np.int32),
        np.asarray(lines, np.int32),
        str(path),
    )
    return pairs, problems


def _read_ligands(path: Path) -> tuple[list[str], list[str], list[int]]:
    smiles, ids, lines = [], [], []
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            text = line.rstrip("\n")
            parts = text.split("\t") if "\t" in text else text.split(None, 1)
            smiles.append(parts[0].strip() if parts else "")
            ids.append(parts[1].strip() if len(parts) > 1 else f"line{lineno}")
            lines.append(lineno)
    return smiles, ids, lines


def mutation_parent(protein_id: str) -> str | None:
    """Wild-type construct name of a Davis mutant, or None for a wild type.

    ``"ABL1(E255K)" -> "ABL1"``, ``"ABL1(T315I)p" -> "ABL1p"`` (phosphorylated form),
    ``"EGFR(L858R,T790M)" -> "EGFR"``; names without a parenthesised mutation -> None.
    """
    m = re.fullmatch(r"(.+?)\(([^()]*)\)(p?)", protein_id)
    if m is None:
        return None
    return m.group(1) + m.group(3)


def protein_family(protein_id: str) -> str:
    """Group key for cold-target splits: mutants and phospho forms with their wild type."""
    parent = mutation_parent(protein_id) or protein_id
    return parent[:-1] if parent.endswith("p") and len(parent) > 1 and parent[-2].isupper() else parent


@dataclass
class DTAData:
    """A loaded data set: featurised ligands, tokenised proteins and labelled pairs.

    Args (of :meth:`load`):
        dataset: "davis" or "kiba" (folder under ``data/drugscreen``) or a folder path.
        smiles: "isomeric" (stereo kept, default) or "canonical" ligand file.
        max_protein_length: token length (pad/truncate).
        on_bad_input: "error" (stop, listing every problem) or "skip" (drop affected
            pairs and record the problems).
        apply_mutations: give Davis mutant constructs their mutated sequence (parsed from
            the construct name, see :func:`mutant_sequences`); DeepDTA's copy stores the
            wild-type sequence for them.
    """

    name: str
    folder: Path
    target_column: str
    drug_ids: list[str]
    smiles: list[str]
    graphs: list[MolGraph | None]
    protein_ids: list[str]
    sequences: list[str]
    tokens: np.ndarray
    protein_ok: np.ndarray
    pairs: Pairs
    problems: list[str] = field(default_factory=list)
    on_bad_input: str = "error"
    max_protein_length: int = DEFAULT_MAX_LENGTH
    #: mutant record index -> wild-type record index (mutants resolved from their names)
    mutants: dict[int, int] = field(default_factory=dict)
    mutant_notes: list[str] = field(default_factory=list)

    @classmethod
    def load(
        cls,
        dataset: str = "davis",
        *,
        smiles: Literal["isomeric", "canonical"] = "isomeric",
        max_protein_length: int = DEFAULT_MAX_LENGTH,
        on_bad_input: Literal["error", "skip"] = "error",
        root: str | Path | None = None,
        pairs_file: str | Path | None = None,
        apply_mutations: bool = True,
        target_column: str | None = None,
    ) -> "DTAData":
        """Read, validate and featurise a data set folder (see the class docstring).

        ``target_column``: the label column of ``affinities.csv`` (default: by the folder's
        name, ``pKd`` for davis, ``kiba_score`` for kiba)."""
        folder = Path(dataset) if Path(dataset).is_dir() else Path(root or DATA_ROOT) / dataset
        if not folder.is_dir():
            raise DataError(f"{folder}: data set folder not found (expected davis or kiba under {DATA_ROOT})")
        name = folder.name
        target = target_column or TARGET_COLUMNS.get(name)
        problems: list[str] = []

        lig_path = find_file(folder, "ligands_isomeric.smi" if smiles == "isomeric" else "ligands.smi")
        smi, drug_ids, lig_lines = _read_ligands(lig_path)
        graphs: list[MolGraph | None] = []
        for s, ident, lineno in zip(smi, drug_ids, lig_lines):
            try:
                graphs.append(featurize_smiles(s))
            except FeaturizationError as exc:
                graphs.append(None)
                problems.append(f"{lig_path}:{lineno}: ligand '{ident}': {exc.reason}: {s[:60]!r}")

        prot_path = find_file(folder, "proteins.fasta")
        # parse with a permissive alphabet so every record gets its own verdict
        records = read_fasta(prot_path, alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ*-.", allow_duplicates=False)
        tokens = np.zeros((len(records), max_protein_length), np.int32)
        protein_ok = np.ones(len(records), bool)
        for i, r in enumerate(records):
            try:
                tokens[i] = tokenize_protein(r.sequence, max_protein_length, name=f"record {i + 1} '{r.id}'")
            except SequenceError as exc:
                protein_ok[i] = False
                problems.append(f"{prot_path}: (record header on line {r.line}) {exc}")

        sequences = [r.sequence.upper() for r in records]
        protein_ids = [r.id for r in records]
        mutants, mutant_notes = mutant_sequences(protein_ids, sequences)
        if apply_mutations:  # Davis mutants are stored with their wild-type sequence
            for i, (_, mutated) in mutants.items():
                if protein_ok[i]:
                    sequences[i] = mutated
                    tokens[i] = tokenize_protein(mutated, max_protein_length)

        pairs_path = Path(pairs_file) if pairs_file is not None else find_file(folder, "affinities.csv")
        if target is None:
            raise DataError(f"{folder}: unknown data set '{name}' (expected one of {sorted(TARGET_COLUMNS)})")
        pairs, pair_problems = read_pairs(pairs_path, target, len(graphs), len(records))
        problems += pair_problems
        data = cls(
            name=name,
            folder=folder,
            target_column=target,
            drug_ids=drug_ids,
            smiles=smi,
            graphs=graphs,
            protein_ids=protein_ids,
            sequences=sequences,
            tokens=tokens,
            protein_ok=protein_ok,
            pairs=pairs,
            problems=problems,
            on_bad_input=on_bad_input,
            max_protein_length=max_protein_length,
            mutants={i: w for i, (w, _) in mutants.items()},
            mutant_notes=mutant_notes,
        )
        data.pairs = data.check_pairs(pairs)
        return data

    # ------------------------------------------------------------------ validation
    def check_pairs(self, pairs: Pairs, extra_problems: list[str] | None = None) -> Pairs:
        """Drop pairs whose ligand or protein is invalid (``skip``) or stop (``error``)."""
        problems = list(extra_problems or [])
        bad_drug = np.array([g is None for g in self.graphs], bool)
        bad = bad_drug[pairs.drug] | ~self.protein_ok[pairs.protein]
        if bad.any():
            for k in np.flatnonzero(bad)[:20]:
                what = "ligand" if bad_drug[pairs.drug[k]] else "protein"
                ident = self.drug_ids[pairs.drug[k]] if what == "ligand" else self.protein_ids[pairs.protein[k]]
                problems.append(f"{pairs.source}:{pairs.line[k]}: pair uses invalid {what} '{ident}'")
            if bad.sum() > 20:
                problems.append(f"{pairs.source}: ... {int(bad.sum()) - 20} more pairs use invalid ligands/proteins")
        all_problems = self.problems + [p for p in problems if p not in self.problems]
        if all_problems and self.on_bad_input == "error":
            listed = "\n  ".join(all_problems[:15])
            more = f"\n  ... and {len(all_problems) - 15} more" if len(all_problems) > 15 else ""
            raise DataError(
                f"{len(all_problems)} problem(s) in the {self.name} input "
                f"(set data.on_bad_input=skip to drop the affected pairs):\n  {listed}{more}"
            )
        self.problems = all_problems
        return pairs.subset(~bad) if bad.any() else pairs

    def load_pairs_file(self, path: str | Path) -> Pairs:
        """Read another pairs CSV against this data set's ligands and proteins."""
        pairs, problems = read_pairs(path, self.target_column, len(self.graphs), len(self.protein_ids))
        return self.check_pairs(pairs, problems)

    # ------------------------------------------------------------------ splits
    def split_index(
        self,
        split: str,
        *,
        scheme: Literal["fold", "cold_drug", "cold_target"] = "fold",
        fold: int = 0,
        num_folds: int = 5,
        seed: int = 0,
        pairs: Pairs | None = None,
    ) -> np.ndarray:
        """Row indices of ``split`` ("train", "validation" or "all").

        ``fold``: DeepDTA's ``cv_fold == fold`` is validation. ``cold_drug`` /
        ``cold_target``: drugs (protein families, mutants with their wild type) are
        dealt into ``num_folds`` seeded groups; group ``fold``'s pairs are validation,
        so validation drugs/targets never occur in training.
        """
        pairs = self.pairs if pairs is None else pairs
        n = len(pairs)
        if split == "all":
            return np.arange(n)
        if split not in ("train", "validation"):
            raise ValueError(f"unknown split '{split}' (expected train, validation or all)")
        if scheme == "fold":
            if (pairs.fold < 0).any():
                raise DataError(f"{pairs.source}: split scheme 'fold' needs a cv_fold column")
            is_val = pairs.fold == fold
        else:
            rng = np.random.default_rng(seed)
            if scheme == "cold_drug":
                keys = np.asarray(self.drug_ids)[pairs.drug]
            elif scheme == "cold_target":
                keys = np.asarray([protein_family(p) for p in self.protein_ids])[pairs.protein]
            else:
                raise ValueError(f"unknown split scheme '{scheme}'")
            uniq = np.unique(keys)
            group = dict(zip(uniq[rng.permutation(len(uniq))], np.arange(len(uniq)) % num_folds))
            is_val = np.array([group[k] == fold for k in keys], bool)
        return np.flatnonzero(is_val if split == "validation" else ~is_val)

    # ------------------------------------------------------------------ tensors
    def graph_tables(self):
        """Ragged per-drug tables (TensorFlow) used to gather graph batches."""
        import tensorflow as tf

        placeholder = MolGraph(
            np.zeros((1, ATOM_FEATURE_DIM), np.float32),
            np.zeros((0, 2), np.int32),
            np.zeros((0, BOND_FEATURE_DIM), np.float32),
        )
        graphs = [g if g is not None else placeholder for g in self.graphs]
        n_atoms = np.array([g.num_atoms for g in graphs], np.int64)
        n_edges = np.array([g.num_edges for g in graphs], np.int64)
        atoms = tf.RaggedTensor.from_row_lengths(np.concatenate([g.atom_features for g in graphs]), n_atoms)
        edges = tf.RaggedTensor.from_row_lengths(
            np.concatenate([g.edge_index for g in graphs]).reshape(-1, 2), n_edges
        )
        bonds = tf.RaggedTensor.from_row_lengths(
            np.concatenate([g.bond_features for g in graphs]).reshape(-1, BOND_FEATURE_DIM), n_edges
        )
        return atoms, edges, bonds


def batch_order(
    drug: np.ndarray,
    protein: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    protein_chunk: int | None,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Row indices per batch.

    ``shuffle=False``: sorted by protein (each protein's rows contiguous) so the model
    encodes each protein of a batch once. ``shuffle=True`` with ``protein_chunk``: each
    protein's rows are shuffled and cut into chunks of ``protein_chunk``; the chunks are
    shuffled and packed into batches. Without ``protein_chunk``: uniform shuffling.
    """
    n = len(drug)
    if not shuffle:
        order = np.lexsort((np.arange(n), protein))
    elif protein_chunk:
        chunks = []
        for p in np.unique(protein):
            rows = np.flatnonzero(protein == p)
            rows = rows[rng.permutation(len(rows))]
            chunks += [rows[i : i + protein_chunk] for i in range(0, len(rows), protein_chunk)]
        chunks = [chunks[i] for i in rng.permutation(len(chunks))]
        order = np.concatenate(chunks) if chunks else np.zeros(0, np.int64)
    else:
        order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def graph_gatherer(data: DTAData):
    """``f(drug_indices [B]) -> padded graph batch dict`` (TensorFlow ops, usable in ``tf.data``)."""
    import tensorflow as tf

    atoms_rt, edges_rt, bonds_rt = data.graph_tables()

    def gather(d):
        atoms = tf.gather(atoms_rt, d)
        edges = tf.gather(edges_rt, d)
        bonds = tf.gather(bonds_rt, d)
        n_atoms = atoms.row_lengths()
        n_edges = edges.row_lengths()
        max_n = tf.maximum(tf.reduce_max(n_atoms), 1)
        max_e = tf.maximum(tf.reduce_max(n_edges), 1)
        b = tf.shape(d, out_type=tf.int64)[0]
        return {
            "atom_features": atoms.to_tensor(shape=tf.stack([b, max_n, ATOM_FEATURE_DIM])),
            "atom_mask": tf.sequence_mask(n_atoms, max_n, dtype=tf.float32),
            "edge_index": edges.to_tensor(shape=tf.stack([b, max_e, 2])),
            "bond_features": bonds.to_tensor(shape=tf.stack([b, max_e, BOND_FEATURE_DIM])),
            "bond_mask": tf.sequence_mask(n_edges, max_e, dtype=tf.float32),
        }

    return gather


def make_dataset(
    data: DTAData,
    pairs: Pairs,
    index: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    protein_chunk: int | None = None,
    seed: int = 0,
    input_context=None,
    target_as_dict: bool = False,
    epoch=None,
):
    """``tf.data.Dataset`` of ``(x, y)`` batches for ``pairs[index]``.

    ``x`` holds the five graph keys and ``protein_tokens``; ``y`` is ``[B, 1]`` float32.
    With ``input_context`` the batches are dealt round-robin to the input pipelines
    (each pipeline gets the same number of batches; the remainder is dropped so the
    replicas stay in step) and ``batch_size`` must already be the per-replica size.
    Shuffled datasets draw a new order at every pass (every epoch): with ``epoch`` (the
    runner's epoch counter, ``Pipeline.epoch``) the order of epoch e depends on ``(seed, e)``
    only, so a resumed run repeats an uninterrupted one; without it, on the pass number.
    """
    import tensorflow as tf

    drug = pairs.drug[index]
    prot = pairs.protein[index]
    y = pairs.y[index]
    tokens = tf.constant(data.tokens)
    n_pipes = input_context.num_input_pipelines if input_context is not None else 1
    pipe_id = input_context.input_pipeline_id if input_context is not None else 0
    passes = {"n": 0}

    def gen(e):
        e = int(e)
        if e < 0:  # no epoch counter: count the passes of this dataset
            e = passes["n"]
            passes["n"] += 1
        rng = np.random.default_rng([seed, e])
        batches = batch_order(drug, prot, batch_size, shuffle=shuffle, protein_chunk=protein_chunk, rng=rng)
        if n_pipes > 1:
            usable = (len(batches) // n_pipes) * n_pipes
            batches = batches[pipe_id:usable:n_pipes]
        for b in batches:
            yield drug[b], prot[b], y[b]

    signature = (
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None], tf.float32),
    )
    n_batches = -(-len(index) // batch_size)
    if n_pipes > 1:
        n_batches = n_batches // n_pipes
    if shuffle and epoch is not None:
        from sciarch.epochs import per_epoch

        ds = per_epoch(lambda e: tf.data.Dataset.from_generator(gen, args=(e,), output_signature=signature),
                       epoch, n_batches)
    else:
        ds = tf.data.Dataset.from_generator(gen, args=(tf.constant(-1, tf.int64),), output_signature=signature)

    gather = graph_gatherer(data)

    def to_batch(d, p, target):
        x = dict(gather(d), protein_tokens=tf.gather(tokens, p))
        t = tf.expand_dims(target, -1)
        return x, ({"target": t} if target_as_dict else t)

    ds = ds.map(to_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    ds = ds.with_options(options)
    return ds.prefetch(2)


# ----------------------------------------------------------------------------- mutants
_DEL = re.compile(r"([A-Z])(\d+)([A-Z])(\d+)del")
_SUB = re.compile(r"([A-Z])(\d+)([A-Z])")


class MutationError(ValueError):
    """A mutation code that cannot be applied to its wild-type sequence."""


def apply_mutation(wild_type: str, code: str, offset: int = 0) -> str:
    """Apply a Davis-style mutation code to a wild-type sequence (1-based positions).

    ``offset`` is added to every position named in the code (for constructs numbered
    differently from the literature's reference isoform).

    Substitutions ``"E255K"``, several at once ``"L858RT790M"`` / ``"V559D-T670I"``, and
    deletions ``"E746A750del"`` (residues 746..750 removed). The wild-type letters named
    in the code are checked against the sequence. Codes that do not name residues
    (e.g. ``"ITD"``, internal tandem duplication) raise :class:`MutationError`.

    Example:
        >>> apply_mutation("MKELV", "E3K")
        'MKKLV'
        >>> apply_mutation("MKELVA", "K2L4del")
        'MVA'
    """
    seq = list(wild_type)
    rest = code
    deletions = []
    for m in _DEL.finditer(code):
        a, i, b, j = m.group(1), int(m.group(2)) + offset, m.group(3), int(m.group(4)) + offset
        if not (1 <= i <= j <= len(seq)) or seq[i - 1] != a or seq[j - 1] != b:
            raise MutationError(f"deletion {m.group(0)} does not match the wild-type sequence")
        deletions.append((i, j))
        rest = rest.replace(m.group(0), "")
    subs = _SUB.findall(rest)
    leftover = _SUB.sub("", rest).replace("-", "").replace(",", "").strip()
    if leftover or (not subs and not deletions):
        raise MutationError(f"cannot interpret mutation code {code!r}")
    for a, pos, b in subs:
        i = int(pos) + offset
        if not 1 <= i <= len(seq) or seq[i - 1] != a:
            found = seq[i - 1] if 1 <= i <= len(seq) else "nothing"
            raise MutationError(f"substitution {a}{pos}{b}: wild type has {found} at position {int(pos) + offset}")
        seq[i - 1] = b
    for i, j in sorted(deletions, reverse=True):
        del seq[i - 1 : j]
    return "".join(seq)


def _named_residues(code: str) -> set[tuple[str, int]]:
    named = set()
    for m in _DEL.finditer(code):
        named |= {(m.group(1), int(m.group(2))), (m.group(3), int(m.group(4)))}
    for a, pos, _ in _SUB.findall(_DEL.sub("", code)):
        named.add((a, int(pos)))
    return named


def numbering_offset(wild_type: str, named: set[tuple[str, int]], min_positions: int = 3) -> int | None:
    """Offset between literature numbering and the construct: 0 if every named wild-type
    residue matches as is; otherwise the *unique* offset under which all of them match,
    accepted only when at least ``min_positions`` distinct positions pin it down."""
    n = len(wild_type)

    def ok(o):
        return all(0 <= i - 1 + o < n and wild_type[i - 1 + o] == a for a, i in named)

    if ok(0):
        return 0
    if len({i for _, i in named}) < min_positions:
        return None
    hits = [o for o in range(-n, n) if ok(o)]
    return hits[0] if len(hits) == 1 else None


def mutant_sequences(protein_ids: list[str], sequences: list[str]) -> tuple[dict[int, tuple[int, str]], list[str]]:
    """For each mutant construct whose name encodes its mutation (``"ABL1(E255K)"``),
    ``{mutant record index: (wild-type record index, mutated sequence)}`` plus notes on
    the mutants that could not be resolved (no wild type, uninterpretable code, mismatch).

    DeepDTA's Davis copy stores the *wild-type* sequence for every mutant construct, so
    the mutation has to be applied from the name for a sequence model to see it. Some
    constructs are numbered differently from the literature (e.g. ABL1 here is shifted by
    +37 relative to isoform 1a numbering); the shift is found per wild type from all of its
    mutants together (:func:`numbering_offset`).
    """
    index = {p: i for i, p in enumerate(protein_ids)}
    codes: dict[int, tuple[int, str]] = {}
    for i, pid in enumerate(protein_ids):
        parent = mutation_parent(pid)
        if parent is None or parent not in index:
            continue
        codes[i] = (index[parent], re.fullmatch(r".+?\(([^()]*)\)p?", pid).group(1))
    # one numbering offset per wild-type sequence, from all mutants of it together
    named_by_seq: dict[str, set] = {}
    for w, code in codes.values():
        named_by_seq.setdefault(sequences[w], set()).update(_named_residues(code))
    offsets = {seq: numbering_offset(seq, named) for seq, named in named_by_seq.items()}
    out: dict[int, tuple[int, str]] = {}
    notes: list[str] = []
    for i, (w, code) in codes.items():
        off = offsets[sequences[w]]
        if off is None:
            notes.append(
                f"{protein_ids[i]}: mutation {code!r} does not match the wild-type sequence "
                f"'{protein_ids[w]}' under any unambiguous numbering; pair left out"
            )
            continue
        try:
            out[i] = (w, apply_mutation(sequences[w], code, offset=off))
        except MutationError as exc:
            notes.append(f"{protein_ids[i]}: {exc}; pair left out")
    return out, notes
