"""Scorers: padded graph batches -> one score per (molecule, target).

A scorer is any object with ``target_names`` (list of str), ``fingerprint`` (dict
describing the model, with a ``sha256``) and ``score(arrays) -> float32 [B, T]``
(:class:`Scorer`); the screen engine and the Beam transforms only see this interface.

Where a scorer comes from (:func:`make_scorer`):

* ``--model RUN``: :func:`model_scorer` reads ``pipeline:`` from ``RUN/config.yaml``, imports
  only that pipeline (:func:`sciarch.registry.load_pipeline_class`) and asks it with the
  contract hook :meth:`sciarch.pipeline.Pipeline.screen_scorer` (the drugscreen affinity
  scorer lives in :mod:`pipelines.drugscreen.screening`);
* ``--scorer package.module:factory``: :func:`custom_scorer`.

Example:
    >>> from sciarch.screening.scoring import make_scorer  # doctest: +SKIP
    >>> scorer = make_scorer("runs/davis", ["target.fasta"])  # doctest: +SKIP
    >>> scorer.score(batch).shape  # doctest: +SKIP
    (1024, 1)
"""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path
from typing import Optional, Protocol, Sequence

import numpy as np

__all__ = [
    "extra_columns",
    "model_fingerprint_bits",
    "model_graph_features",
    "with_scorer_features",
    "SCORER_ATTRIBUTES",
    "Scorer",
    "ScorerError",
    "custom_scorer",
    "file_sha256",
    "load_target_records",
    "load_targets",
    "make_scorer",
    "model_scorer",
    "score_chunk",
    "truncation_notes",
    "truncation_warning",
]

#: what a scorer must have (checked on custom scorers)
SCORER_ATTRIBUTES = ("target_names", "fingerprint", "score")


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


def _run_config(run_dir: str | os.PathLike | None) -> dict | None:
    """A run directory's ``config.yaml`` as a dict (``None`` when there is none or it is unreadable)."""
    if run_dir is None:
        return None
    import yaml

    try:
        cfg = yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    return cfg if isinstance(cfg, dict) else None


def model_graph_features(run_dir: str | os.PathLike | None) -> str | None:
    """The graph feature version a run directory's model was trained with (``data.graph_features``
    of its ``config.yaml``, ``"v1"`` when the key is absent), read without loading the model;
    ``None`` when there is no readable config."""
    cfg = _run_config(run_dir)
    if cfg is None:
        return None
    data = cfg.get("data")
    version = data.get("graph_features", "v1") if isinstance(data, dict) else "v1"
    return version if isinstance(version, str) else None


def model_fingerprint_bits(run_dir: str | os.PathLike | None) -> int:
    """Bits of the ligand fingerprint a run directory's model reads (``model.ligand_fingerprint`` of
    its ``config.yaml``; 0 when absent or unreadable), read without loading the model."""
    model = (_run_config(run_dir) or {}).get("model")
    bits = model.get("ligand_fingerprint", 0) if isinstance(model, dict) else 0
    return bits if isinstance(bits, int) and bits > 0 else 0


def with_scorer_features(opts, scorer):
    """``opts`` (featuriser options) set to the graph feature version and ligand fingerprint size
    ``scorer`` was trained on.

    A scorer may name its version as ``scorer.graph_features`` ("v1", "v2") and the fingerprint
    it reads as ``scorer.fingerprint_bits``; one that does not (or no scorer) leaves ``opts`` as
    they are.
    """
    import dataclasses

    if scorer is None:
        return opts
    changes = {}
    version = getattr(scorer, "graph_features", None)
    if version and version != opts.graph_features:
        changes["graph_features"] = version
    bits = getattr(scorer, "fingerprint_bits", None)
    if bits is not None and int(bits) != opts.fingerprint_bits:
        changes["fingerprint_bits"] = int(bits)
    return dataclasses.replace(opts, **changes) if changes else opts


def extra_columns(scorer) -> list[str]:
    """The scorer's unranked output columns (``scorer.extra_columns``, e.g. an ensemble's spread
    per target); none for scorers that do not name any."""
    return list(getattr(scorer, "extra_columns", None) or [])


def score_chunk(scorer, chunk, extras: bool = False) -> np.ndarray:
    """Scores ``[M, T]`` (float32, file order) of a :class:`~sciarch.screening.featurize.FeaturizedChunk`.

    The one place where featurised batches meet a scorer, shared by the local screen and
    the Beam transforms. ``extras=True`` appends the scorer's :func:`extra_columns` (from
    ``scorer.score_with_extras(batch) -> (scores, extras)``): ``[M, T + X]``.
    """
    t, x = len(scorer.target_names), len(extra_columns(scorer)) if extras else 0
    scores = np.empty((len(chunk.ids), t + x), dtype=np.float32)
    for rows, arrays in chunk.batches:
        if x:
            s, e = scorer.score_with_extras(arrays)
            scores[rows, :t], scores[rows, t:] = s, e
        else:
            scores[rows] = scorer.score(arrays)
    return scores


def custom_scorer(spec: str, model: Optional[str | os.PathLike], targets: Sequence[str | os.PathLike]) -> Scorer:
    """The scorer of ``--scorer package.module:factory``: ``factory(model_dir_or_None, [target FASTA paths])``.

    Raises:
        ScorerError: a malformed spec, a factory that cannot be imported, or a scorer without
            ``target_names``, ``fingerprint`` or ``score``.
    """
    mod_name, _, attr = spec.partition(":")
    if not mod_name or not attr:
        raise ScorerError(f"--scorer {spec!r}: expected 'package.module:callable'")
    try:
        factory = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ScorerError(f"--scorer {spec!r}: cannot import it ({exc})") from None
    obj = factory(model, list(targets))
    missing = [a for a in SCORER_ATTRIBUTES if not hasattr(obj, a)]
    if missing:
        raise ScorerError(f"--scorer {spec!r}: the scorer lacks {', '.join(missing)}")
    return obj


def model_scorer(run_dir: str | os.PathLike, targets: Sequence[str | os.PathLike], **opts) -> Scorer:
    """The scorer of a trained run: the hook ``screen_scorer`` of the pipeline named in ``RUN/config.yaml``.

    Only that pipeline's package is imported (TensorFlow, when the pipeline needs it, is
    imported here, after the featurisation workers have started).

    Raises:
        ScorerError: no run directory, no ``model.keras``.
        ConfigError: no or an unreadable ``config.yaml``, an unknown pipeline, or a pipeline
            that cannot screen.
    """
    from sciarch.runs import open_run

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ScorerError(f"{run_dir}: model run directory not found")
    if not (run_dir / "model.keras").is_file():
        raise ScorerError(f"{run_dir / 'model.keras'}: no trained model in this run directory")
    return open_run(run_dir).pipeline_cls.screen_scorer(run_dir, list(targets), **opts)


def make_scorer(
    model: Optional[str | os.PathLike], targets: Sequence[str | os.PathLike], scorer: Optional[str] = None
) -> Scorer:
    """The screen's scorer: the custom ``scorer`` (``'package.module:factory'``) when given, else the run's."""
    if scorer is not None:
        return custom_scorer(scorer, model, targets)
    if model is None:
        raise ScorerError("--model RUN_DIR is required (or a custom --scorer)")
    return model_scorer(model, targets)
