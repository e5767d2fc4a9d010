"""Scorers: padded graph batches -> one score per (molecule, target).

A scorer is any object with ``target_names`` (list of str), ``fingerprint`` (dict
describing the model, with a ``sha256``) and ``score(arrays) -> float32 [B, T]``; the
screen engine and the Beam transforms only see this interface.

:class:`AffinityModelScorer` wraps a drugscreen affinity model (a functional Keras model
with the named sub-models ``ligand_encoder`` (graph dict -> embedding), ``protein_encoder``
(``protein_tokens`` -> embedding) and ``affinity_head`` (``[ligand_emb, protein_emb]`` ->
``[B, 1]``)). Each target is encoded ONCE; every ligand batch runs the ligand encoder once
and the head once over all targets (ligand embeddings repeated, target embeddings tiled),
inside one ``tf.function`` whose input signature has ``None`` batch/atom/edge dimensions,
so variable padded shapes never retrace.

Example:
    >>> from sciarch.screening.scoring import AffinityModelScorer  # doctest: +SKIP
    >>> scorer = AffinityModelScorer.from_run_dir("runs/davis", ["target.fasta"])  # doctest: +SKIP
    >>> scorer.score(batch).shape  # doctest: +SKIP
    (1024, 1)
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from sciarch.io.molecules import GRAPH_KEYS

__all__ = [
    "AffinityModelScorer",
    "Scorer",
    "ScorerError",
    "file_sha256",
    "load_target_records",
    "load_targets",
    "score_chunk",
    "truncation_notes",
    "truncation_warning",
]


class ScorerError(RuntimeError):
    """The model or a target could not be loaded; the message names the file."""


class Scorer(Protocol):
    target_names: list[str]
    fingerprint: dict

    def score(self, arrays: dict) -> np.ndarray:  # pragma: no cover - protocol
        ...


def file_sha256(path: str | os.PathLike, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(block)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def load_targets(fasta_paths: Sequence[str | os.PathLike]) -> list[tuple[str, str]]:
    """Read every record of every FASTA file -> ``[(name, sequence), ...]`` (names unique)."""
    return [(n, s) for n, s, _ in load_target_records(fasta_paths)]


def load_target_records(fasta_paths: Sequence[str | os.PathLike]) -> list[tuple[str, str, str]]:
    """Like :func:`load_targets`, with the file of each record: ``[(name, sequence, path), ...]``.

    Raises:
        ScorerError: a file is missing, invalid, empty, holds a nucleotide sequence, or two
            records share a name (the message names file and record).
    """
    from sciarch.io.sequences import read_protein_fasta

    out: list[tuple[str, str, str]] = []
    seen: dict[str, str] = {}
    for p in fasta_paths:
        if not Path(p).is_file():
            raise ScorerError(f"{p}: target FASTA file not found")
        try:
            recs = read_protein_fasta(p)
        except ValueError as exc:  # FastaError / SequenceError name file, record and line
            raise ScorerError(str(exc)) from None
        if not recs:
            raise ScorerError(f"{p}: no sequences in this FASTA file")
        for name, seq in recs.items():
            if name in seen:
                raise ScorerError(f"{p}: target {name!r} is also in {seen[name]}; target names must be unique")
            seen[name] = str(p)
            out.append((name, seq, str(p)))
    return out


def truncation_notes(
    targets: Sequence[tuple[str, str]], max_length: int, sources: dict[str, str] | None = None
) -> list[dict]:
    """One note per target longer than the model's ``max_length`` (only its first residues are used)."""
    notes = []
    for name, seq in targets:
        if len(seq) > max_length:
            notes.append(
                {"target": name, "file": (sources or {}).get(name), "length": len(seq), "max_length": int(max_length)}
            )
    return notes


def truncation_warning(note: dict) -> str:
    """The one-line stderr warning for a :func:`truncation_notes` entry."""
    where = f"{note['file']} record {note['target']}" if note.get("file") else f"target {note['target']}"
    return (
        f"warning: {where}: {note['length']:,} residues, longer than the model's maximum length "
        f"{note['max_length']:,}; only the first {note['max_length']:,} are scored"
    )


def score_chunk(scorer, chunk) -> np.ndarray:
    """Scores ``[M, T]`` (float32, file order) of a :class:`~sciarch.screening.featurize.FeaturizedChunk`.

    The one place where featurised batches meet a scorer, shared by the local screen and
    the Beam transforms.
    """
    scores = np.empty((len(chunk.ids), len(scorer.target_names)), dtype=np.float32)
    for rows, arrays in chunk.batches:
        scores[rows] = scorer.score(arrays)
    return scores


def _input_names(model) -> list[str] | None:
    inp = model.input
    if isinstance(inp, dict):
        return list(inp.keys())
    return None


def _load_model(path: Path):
    """Load a drugscreen model: register sciarch layers and the drugscreen model classes only
    (importing every pipeline would slow the screen's start-up); fall back to full discovery."""
    import keras

    import sciarch.layers  # noqa: F401  (registers the layers)

    try:
        import pipelines.drugscreen.model  # noqa: F401  (registers UniqueRows & co.)

        return keras.models.load_model(path, safe_mode=True, compile=False)
    except (ImportError, TypeError, ValueError):
        from sciarch.runner import load_run_model

        return load_run_model(path.parent)


class AffinityModelScorer:
    """Score ligand graph batches against fixed protein targets with a drugscreen affinity model.

    Args:
        model: the Keras affinity model (with ``ligand_encoder``, ``protein_encoder`` and
            ``affinity_head`` sub-models).
        targets: ``[(name, sequence), ...]``.
        max_protein_length: token length the model was trained with.
        model_sha256: checksum of the model file (for the summary and resume checks).
    """

    def __init__(
        self,
        model,
        targets: Sequence[tuple[str, str]],
        max_protein_length: int,
        model_sha256: str = "",
        sources: dict[str, str] | None = None,
    ):
        import sys

        import tensorflow as tf

        from sciarch.io.sequences import tokenize_protein

        if not targets:
            raise ScorerError("at least one target is needed")
        try:
            self.ligand_encoder = model.get_layer("ligand_encoder")
            self.protein_encoder = model.get_layer("protein_encoder")
            self.affinity_head = model.get_layer("affinity_head")
        except ValueError as exc:
            raise ScorerError(
                f"the model has no sub-model named in ({exc}); a screening model needs "
                "'ligand_encoder', 'protein_encoder' and 'affinity_head'"
            ) from None
        self.target_names = [n for n, _ in targets]
        #: targets cut to the model's length (also in summary.json); each warned about on stderr
        self.truncated_targets = truncation_notes(targets, max_protein_length, sources)
        for note in self.truncated_targets:
            print(truncation_warning(note), file=sys.stderr, flush=True)
        tokens = np.stack([tokenize_protein(s, max_protein_length, name=n) for n, s in targets])
        prot_in = _input_names(self.protein_encoder)
        feed = {prot_in[0]: tokens} if prot_in else tokens
        self.target_embeddings = tf.constant(
            np.asarray(self.protein_encoder(feed, training=False), dtype=np.float32)
        )  # [T, Dp], computed once
        self._lig_inputs = _input_names(self.ligand_encoder) or list(GRAPH_KEYS)
        self.fingerprint = {
            "sha256": model_sha256,
            "targets": {n: hashlib.sha256(s.encode()).hexdigest()[:16] for n, s in targets},
            "max_protein_length": int(max_protein_length),
        }
        spec = {
            "atom_features": tf.TensorSpec([None, None, None], tf.uint8),
            "atom_mask": tf.TensorSpec([None, None], tf.uint8),
            "edge_index": tf.TensorSpec([None, None, 2], tf.int32),
            "bond_features": tf.TensorSpec([None, None, None], tf.uint8),
            "bond_mask": tf.TensorSpec([None, None], tf.uint8),
        }
        self._fn_compact = tf.function(self._score_graph, input_signature=[spec], reduce_retracing=True)
        spec_f = {k: tf.TensorSpec(s.shape, tf.int32 if k == "edge_index" else tf.float32) for k, s in spec.items()}
        self._fn_float = tf.function(self._score_graph, input_signature=[spec_f], reduce_retracing=True)

    def _score_graph(self, batch):
        import tensorflow as tf

        x = {k: tf.cast(batch[k], tf.int32 if k == "edge_index" else tf.float32) for k in self._lig_inputs}
        lig = self.ligand_encoder(x, training=False)  # [B, D]
        t = tf.shape(self.target_embeddings)[0]
        b = tf.shape(lig)[0]
        lig_rep = tf.repeat(lig, t, axis=0)  # [B*T, D]: molecule-major
        prot = tf.tile(self.target_embeddings, [b, 1])  # [B*T, Dp]
        out = self.affinity_head([lig_rep, prot], training=False)
        return tf.reshape(tf.cast(out, tf.float32), [b, t])

    def score(self, arrays: dict) -> np.ndarray:
        """Scores ``[B, T]`` (float32) for one padded graph batch (uint8 transport or float32)."""
        batch = {k: arrays[k] for k in GRAPH_KEYS}
        compact = batch["atom_features"].dtype == np.uint8
        if compact:
            batch = {k: (v if k == "edge_index" else v.astype(np.uint8, copy=False)) for k, v in batch.items()}
            return self._fn_compact(batch).numpy()
        return self._fn_float(batch).numpy()

    @classmethod
    def from_run_dir(cls, run_dir: str | os.PathLike, target_fastas: Sequence[str | os.PathLike]) -> "AffinityModelScorer":
        """Load ``<run>/model.keras`` and ``<run>/config.yaml`` and encode the targets."""
        import yaml

        run_dir = Path(run_dir)
        model_path = run_dir / "model.keras"
        cfg_path = run_dir / "config.yaml"
        if not run_dir.is_dir():
            raise ScorerError(f"{run_dir}: model run directory not found")
        if not model_path.is_file():
            raise ScorerError(f"{model_path}: no trained model in this run directory")
        max_len = None
        if cfg_path.is_file():
            cfg = yaml.safe_load(cfg_path.read_text()) or {}
            max_len = (cfg.get("data") or {}).get("max_protein_length")
        if max_len is None:
            raise ScorerError(f"{cfg_path}: missing data.max_protein_length (needed to tokenise the targets)")
        records = load_target_records(target_fastas)
        try:
            model = _load_model(model_path)
        except Exception as exc:
            raise ScorerError(f"{model_path}: cannot load the model: {type(exc).__name__}: {exc}") from None
        return cls(
            model, [(n, s) for n, s, _ in records], int(max_len), file_sha256(model_path), {n: p for n, _, p in records}
        )
