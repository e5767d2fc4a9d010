"""Screening with a drugscreen affinity model: :class:`AffinityModelScorer` (``sciarch screen --model RUN``).

:meth:`pipelines.drugscreen.pipeline.DrugScreenPipeline.screen_scorer` (the pipeline
contract's screening hook) builds it; the screen itself (:mod:`sciarch.screening`) only
sees the scorer interface (``target_names``, ``fingerprint``, ``score(batch) -> [B, T]``).

The affinity model is a functional Keras model with the named sub-models
:data:`~pipelines.drugscreen.model.LIGAND_ENCODER` (graph dict -> embedding),
:data:`~pipelines.drugscreen.model.PROTEIN_ENCODER` (``protein_tokens`` -> embedding) and
:data:`~pipelines.drugscreen.model.AFFINITY_HEAD` (``[ligand_emb, protein_emb]`` -> ``[B, 1]``).
Each target is encoded ONCE; every ligand batch runs the ligand encoder once and the head
once over all targets (ligand embeddings repeated, target embeddings tiled), inside one
``tf.function`` whose input signature has ``None`` batch/atom/edge dimensions, so variable
padded shapes never retrace.

Example:
    >>> from pipelines.drugscreen.screening import AffinityModelScorer  # doctest: +SKIP
    >>> scorer = AffinityModelScorer.from_run_dir("runs/davis", ["target.fasta"])  # doctest: +SKIP
    >>> scorer.score(batch).shape  # doctest: +SKIP
    (1024, 1)
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from sciarch.io.molecules import DEFAULT_GRAPH_FEATURES, FINGERPRINT_KEY, GRAPH_KEYS, feature_dims
from sciarch.screening.scoring import (
    ScorerError,
    file_sha256,
    load_target_records,
    truncation_notes,
    truncation_warning,
)

from pipelines.drugscreen.model import (
    AFFINITY_HEAD,
    LIGAND_ENCODER,
    PROTEIN_ENCODER,
    affinity_members,
    fingerprint_bits_of,
    graph_features_of,
    sub_models,
)

__all__ = ["AffinityModelScorer"]


def _input_names(model) -> list[str] | None:
    inp = model.input
    if isinstance(inp, dict):
        return list(inp.keys())
    return None


def _sub_models(model):
    """The (ligand encoder, protein encoder, head) sub-models of one affinity model."""
    try:
        return sub_models(model)
    except ValueError as exc:
        raise ScorerError(
            f"the model has no sub-model named in ({exc}); a screening model needs "
            f"'{LIGAND_ENCODER}', '{PROTEIN_ENCODER}' and '{AFFINITY_HEAD}'"
        ) from None


def _feed(encoder, tokens):
    names = _input_names(encoder)
    return {names[0]: tokens} if names else tokens


class AffinityModelScorer:
    """Score ligand graph batches against fixed protein targets with a drugscreen affinity model.

    Args:
        model: the Keras affinity model (with the sub-models :data:`~pipelines.drugscreen.model.SUB_MODELS`).
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
        #: (ligand encoder, protein encoder, head) of each member (one for a single model, N for a
        #: ``train.ensemble: N`` model, whose score is the mean over its members)
        self.members = [_sub_models(m) for m in affinity_members(model)]
        self.ligand_encoder, self.protein_encoder, self.affinity_head = self.members[0]
        self.target_names = [n for n, _ in targets]
        #: targets cut to the model's length (also in summary.json); each warned about on stderr
        self.truncated_targets = truncation_notes(targets, max_protein_length, sources)
        for note in self.truncated_targets:
            print(truncation_warning(note), file=sys.stderr, flush=True)
        tokens = np.stack([tokenize_protein(s, max_protein_length, name=n) for n, s in targets])
        self.target_embeddings = [
            tf.constant(np.asarray(prot(_feed(prot, tokens), training=False), dtype=np.float32))
            for _, prot, _ in self.members
        ]  # per member [T, Dp], computed once
        self._lig_inputs = _input_names(self.ligand_encoder) or list(GRAPH_KEYS)
        #: the ligand graph feature version the model was trained with (the screen featurises with it)
        self.graph_features = graph_features_of(self.ligand_encoder)
        self._atom_dim = feature_dims(self.graph_features)[0]
        #: bits of the Morgan fingerprint the model reads beside the graph (0: none; the screen's
        #: featuriser computes it, see :func:`sciarch.screening.scoring.with_scorer_features`)
        self.fingerprint_bits = fingerprint_bits_of(self.ligand_encoder)
        other = {fingerprint_bits_of(lig) for lig, _, _ in self.members} - {self.fingerprint_bits}
        if other:
            raise ScorerError(f"the ensemble's members read ligand fingerprints of different sizes "
                              f"({sorted(other | {self.fingerprint_bits})} bits)")
        self.fingerprint = {
            "sha256": model_sha256,
            "targets": {n: hashlib.sha256(s.encode()).hexdigest()[:16] for n, s in targets},
            "max_protein_length": int(max_protein_length),
        }
        if self.graph_features != DEFAULT_GRAPH_FEATURES:  # fingerprints of v1 models stay as they were
            self.fingerprint["graph_features"] = self.graph_features
        if self.fingerprint_bits:
            self.fingerprint["ligand_fingerprint"] = self.fingerprint_bits
        bond_dim = feature_dims(self.graph_features)[1]
        spec = {  # static feature widths: edge-conditioned layers size their edge network from them
            "atom_features": tf.TensorSpec([None, None, self._atom_dim], tf.uint8),
            "atom_mask": tf.TensorSpec([None, None], tf.uint8),
            "edge_index": tf.TensorSpec([None, None, 2], tf.int32),
            "bond_features": tf.TensorSpec([None, None, bond_dim], tf.uint8),
            "bond_mask": tf.TensorSpec([None, None], tf.uint8),
        }
        if self.fingerprint_bits:
            spec[FINGERPRINT_KEY] = tf.TensorSpec([None, self.fingerprint_bits], tf.uint8)
        spec_f = {k: tf.TensorSpec(s.shape, tf.int32 if k == "edge_index" else tf.float32) for k, s in spec.items()}

        def by_transport(fn):  # {compact (uint8 transport): traced fn}
            return {compact: tf.function(fn, input_signature=[sig], reduce_retracing=True)
                    for compact, sig in ((True, spec), (False, spec_f))}

        self._fn_score = by_transport(self._score_graph)
        #: unranked output columns: an ensemble's spread (standard deviation over its members) per target
        self.extra_columns = [f"spread_{n}" for n in self.target_names] if len(self.members) > 1 else []
        if self.extra_columns:
            self._fn_spread = by_transport(self._spread_graph)

    def _spread_graph(self, batch):
        import tensorflow as tf

        per_member = tf.stack(self._member_scores(batch))  # [M, B, T]
        return tf.reduce_mean(per_member, axis=0), tf.math.reduce_std(per_member, axis=0)

    def _score_graph(self, batch):
        import tensorflow as tf

        scores = self._member_scores(batch)
        return scores[0] if len(scores) == 1 else tf.reduce_mean(tf.stack(scores), axis=0)

    def _member_scores(self, batch) -> list:
        import tensorflow as tf

        x = {k: tf.cast(batch[k], tf.int32 if k == "edge_index" else tf.float32) for k in self._lig_inputs}
        scores = []
        for (ligand_encoder, _, head), target_embeddings in zip(self.members, self.target_embeddings):
            lig = ligand_encoder(x, training=False)  # [B, D]
            t = tf.shape(target_embeddings)[0]
            b = tf.shape(lig)[0]
            lig_rep = tf.repeat(lig, t, axis=0)  # [B*T, D]: molecule-major
            prot = tf.tile(target_embeddings, [b, 1])  # [B*T, Dp]
            out = head([lig_rep, prot], training=False)
            scores.append(tf.reshape(tf.cast(out, tf.float32), [b, t]))
        return scores

    def score_with_extras(self, arrays: dict) -> tuple[np.ndarray, np.ndarray]:
        """``(scores [B, T], spread [B, T])`` of an ensemble: the member mean (what :meth:`score`
        gives) and the members' standard deviation per target."""
        if not self.extra_columns:
            raise ScorerError("extra columns (the member spread) exist for ensemble models only")
        batch = self._batch(arrays)
        mean, std = self._fn_spread[batch["atom_features"].dtype == np.uint8](batch)
        return mean.numpy(), std.numpy()

    def _batch(self, arrays: dict) -> dict:
        batch = {k: arrays[k] for k in GRAPH_KEYS}
        if self.fingerprint_bits:
            fp = arrays.get(FINGERPRINT_KEY)
            if fp is None or fp.shape[-1] != self.fingerprint_bits:
                got = "none" if fp is None else f"{fp.shape[-1]} bits"
                raise ScorerError(
                    f"this model reads a {self.fingerprint_bits}-bit Morgan fingerprint of each ligand beside its "
                    f"graph ('{FINGERPRINT_KEY}'); the batch has {got} (featurise with "
                    f"FeaturizeOptions(fingerprint_bits={self.fingerprint_bits}))"
                )
            batch[FINGERPRINT_KEY] = fp
        if batch["atom_features"].shape[-1] != self._atom_dim:
            raise ScorerError(
                f"the ligand batch has {batch['atom_features'].shape[-1]} atom features; this model was trained on "
                f"graph features {self.graph_features} ({self._atom_dim} atom features)"
            )
        if batch["atom_features"].dtype == np.uint8:
            batch = {k: (v if k == "edge_index" else v.astype(np.uint8, copy=False)) for k, v in batch.items()}
        elif FINGERPRINT_KEY in batch:
            batch[FINGERPRINT_KEY] = batch[FINGERPRINT_KEY].astype(np.float32, copy=False)
        return batch

    def score(self, arrays: dict) -> np.ndarray:
        """Scores ``[B, T]`` (float32) for one padded graph batch (uint8 transport or float32)."""
        batch = self._batch(arrays)
        return self._fn_score[batch["atom_features"].dtype == np.uint8](batch).numpy()

    @classmethod
    def from_run_dir(cls, run_dir: str | os.PathLike, target_fastas: Sequence[str | os.PathLike]) -> "AffinityModelScorer":
        """Load ``<run>/model.keras`` and ``<run>/config.yaml`` (validated; ``data.max_protein_length``
        tokenises the targets) and encode the targets.

        Raises:
            ScorerError: no run directory, no model, bad targets, a model that cannot be loaded.
            ConfigError: ``config.yaml`` missing or not a valid drugscreen config.
        """
        from sciarch.config import ConfigError
        from sciarch.runs import open_run

        run_dir = Path(run_dir)
        model_path = run_dir / "model.keras"
        if not run_dir.is_dir():
            raise ScorerError(f"{run_dir}: model run directory not found")
        if not model_path.is_file():
            raise ScorerError(f"{model_path}: no trained model in this run directory")
        opened = open_run(run_dir, pipeline="drugscreen")
        max_len = opened.config.data.max_protein_length
        records = load_target_records(target_fastas)
        try:
            model = opened.load_model()
        except ConfigError as exc:  # one line naming the file and the reason
            raise ScorerError(str(exc)) from None
        return cls(
            model, [(n, s) for n, s, _ in records], int(max_len), file_sha256(model_path), {n: p for n, _, p in records}
        )
