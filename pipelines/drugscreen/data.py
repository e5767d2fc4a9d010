"""Davis / KIBA drug-target pair tables -> validated arrays (:class:`DTAData`).

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

Davis mutant constructs get their mutated sequence from their names
(:mod:`pipelines.drugscreen.mutations`). Turning pairs into ``tf.data`` batches is
:mod:`pipelines.drugscreen.batching`; this module never imports TensorFlow.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from sciarch.io.fasta import read_fasta
from sciarch.io.molecules import DEFAULT_GRAPH_FEATURES, FeaturizationError, MolGraph, featurize_smiles
from sciarch.io.sequences import DEFAULT_MAX_LENGTH, SequenceError, tokenize_protein
from sciarch.pipeline import PROJECT_ROOT

from pipelines.drugscreen.mutations import mutant_sequences, protein_family

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


@dataclass
class DTAData:
    """A loaded data set: featurised ligands, tokenised proteins and labelled pairs.

    Args (of :meth:`load`):
        dataset: "davis" or "kiba" (folder under ``data/drugscreen``) or a folder path.
        smiles: "isomeric" (stereo kept, default) or "canonical" ligand file.
        graph_features: ligand graph feature version, "v1" or "v2" (:mod:`sciarch.io.molecules`).
        max_protein_length: token length (pad/truncate).
        on_bad_input: "error" (stop, listing every problem) or "skip" (drop affected
            pairs and record the problems).
        apply_mutations: give Davis mutant constructs their mutated sequence (parsed from
            the construct name, see :func:`~pipelines.drugscreen.mutations.mutant_sequences`);
            DeepDTA's copy stores the wild-type sequence for them.
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
    graph_features: str = DEFAULT_GRAPH_FEATURES
    #: mutant record index -> wild-type record index (mutants resolved from their names)
    mutants: dict[int, int] = field(default_factory=dict)
    mutant_notes: list[str] = field(default_factory=list)
    _fingerprints: dict = field(default_factory=dict, repr=False, compare=False)

    def fingerprints(self, bits: int) -> np.ndarray:
        """Morgan (ECFP4) fingerprints of the ligands, ``uint8 [n_ligands, bits]`` (computed once
        per size; an invalid ligand, which no pair may use, gets zeros)."""
        if bits not in self._fingerprints:
            from sciarch.io.molecules import morgan_fingerprints

            self._fingerprints[bits] = morgan_fingerprints(
                [s if g is not None else "" for s, g in zip(self.smiles, self.graphs)], bits)
        return self._fingerprints[bits]

    @classmethod
    def load(
        cls,
        dataset: str = "davis",
        *,
        smiles: Literal["isomeric", "canonical"] = "isomeric",
        graph_features: str = DEFAULT_GRAPH_FEATURES,
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
                graphs.append(featurize_smiles(s, features=graph_features))
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
            graph_features=graph_features,
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
