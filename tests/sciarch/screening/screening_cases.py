"""Helpers for the screening tests: small real libraries, a tiny affinity model run directory,
and a deterministic numpy scorer (no TensorFlow) for the engine's bookkeeping tests."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
ZINC = ROOT / "data" / "drugscreen" / "zinc250k_jtvae_valid.smi.gz"
DAVIS_FASTA = ROOT / "data" / "drugscreen" / "davis" / "proteins.fasta"

HUGE = "C" * 400  # 400 atoms > max_atoms=150


def zinc_lines(n: int, start: int = 0) -> list[str]:
    with gzip.open(ZINC, "rt") as fh:
        return [line.rstrip("\n") for line in itertools.islice(fh, start, start + n)]


def write_malformed_library(path: Path, n_valid: int = 600) -> tuple[set[int], set[int], bytes]:
    """A .smi library of ``n_valid`` real ZINC lines with ~1% malformed lines mixed in.

    Returns ``(valid line numbers, bad line numbers, file bytes)``.
    """
    good = [line.encode() for line in zinc_lines(n_valid)]
    bad = [
        b"",  # empty line
        b"# a comment line",
        b"C1CC(",  # unclosed ring / branch
        b"\xff\xfe\x00garbage",  # invalid UTF-8
        b"c1cccc1 not_kekulizable",  # invalid aromatic ring
        HUGE.encode() + b" huge_molecule",
        b"   ",  # whitespace only
        b"Xx12 nonsense_element",
    ]
    lines: list[bytes] = []
    valid, badset = set(), set()
    step = max(1, n_valid // len(bad))
    gi = 0
    for bi, b in enumerate(bad):
        for _ in range(step):
            if gi < len(good):
                lines.append(good[gi])
                gi += 1
                valid.add(len(lines))
        lines.append(b)
        badset.add(len(lines))
    while gi < len(good):
        lines.append(good[gi])
        gi += 1
        valid.add(len(lines))
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(data)
    return valid, badset, data


class AtomScorer:
    """Deterministic scorer for bookkeeping tests: a fixed linear function of mean atom features."""

    def __init__(self, n_targets: int = 2, seed: int = 0):
        from sciarch.io.molecules import ATOM_FEATURE_DIM

        self.target_names = [f"T{i}" for i in range(n_targets)]
        self.fingerprint = {"sha256": f"atom-scorer-{n_targets}-{seed}"}
        self.w = np.random.default_rng(seed).normal(size=(ATOM_FEATURE_DIM, n_targets)).astype(np.float32)

    def score(self, arrays: dict) -> np.ndarray:
        x = arrays["atom_features"].astype(np.float32)
        m = arrays["atom_mask"].astype(np.float32)
        return ((x @ self.w).sum(axis=1) / m.sum(axis=1, keepdims=True)).astype(np.float32)


def atom_scorer_factory(model, targets):
    """``--scorer screening_cases:atom_scorer_factory``: one AtomScorer target per FASTA file."""
    return AtomScorer(len(targets))


@pytest.fixture
def atom_scorer():
    return AtomScorer


def _build_tiny_run(run_dir: Path, graph_features: str = "v1", ligand_fingerprint: int = 0) -> Path:
    import keras
    import yaml

    from pipelines.drugscreen.model import DrugScreenModelConfig, build_affinity_model

    keras.utils.set_random_seed(7)
    cfg = DrugScreenModelConfig(
        gnn_units=16,
        gnn_depth=2,
        ligand_embedding=16,
        protein_filters=[8],
        protein_kernel=4,
        protein_embedding=16,
        head_units=[16],
        dropout=0.0,
        ligand_fingerprint=ligand_fingerprint,
    )
    model = build_affinity_model(cfg, output_bias=5.0, graph_features=graph_features)
    # the output layer starts at zero (a trained model would not): give it seeded random weights
    out_layer = model.get_layer("affinity_head").get_layer("affinity")
    out_layer.kernel.assign(np.random.default_rng(3).normal(0, 0.5, size=out_layer.kernel.shape).astype("float32"))
    if ligand_fingerprint:  # likewise the fingerprint's projection
        fp = model.get_layer("ligand_encoder").get_layer("fingerprint_projection")
        fp.kernel.assign(np.random.default_rng(4).normal(0, 0.3, size=fp.kernel.shape).astype("float32"))
    run_dir.mkdir(parents=True, exist_ok=True)
    model.save(run_dir / "model.keras")
    (run_dir / "config.yaml").write_text(
        yaml.safe_dump(
            {"pipeline": "drugscreen", "data": {"max_protein_length": 128, "graph_features": graph_features},
             "model": cfg.model_dump(mode="json")},
            sort_keys=False,
        )
    )
    return run_dir


def one_by_one_scores(run_dir: Path, targets, lines, graph_features: str = "v1", fingerprint_bits: int = 0) -> np.ndarray:
    """``[len(lines), len(targets)]`` scores of the run's model called on one molecule at a time
    (featurised by ``featurize_smiles`` and, with ``fingerprint_bits``, ``morgan_fingerprints``)."""
    import keras

    from sciarch.io.molecules import FINGERPRINT_KEY, collate_graphs, featurize_smiles, morgan_fingerprints
    from sciarch.io.sequences import read_protein_fasta, tokenize_protein

    model = keras.models.load_model(run_dir / "model.keras", compile=False)
    toks = np.concatenate([tokenize_protein(next(iter(read_protein_fasta(t).values())), 128)[None] for t in targets])
    ref = np.zeros((len(lines), len(targets)), np.float32)
    for i, line in enumerate(lines):  # one molecule per call (the targets as rows)
        g = collate_graphs([featurize_smiles(line.split()[0], features=graph_features)] * len(targets))
        if fingerprint_bits:
            g[FINGERPRINT_KEY] = np.repeat(morgan_fingerprints([line.split()[0]], fingerprint_bits), len(targets), 0)
        ref[i] = np.asarray(model({**g, "protein_tokens": toks}, training=False))[:, 0]
    return ref


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    return _build_tiny_run(tmp_path_factory.mktemp("tiny_run"))


@pytest.fixture(scope="session")
def targets(tmp_path_factory) -> list[Path]:
    """Two one-record FASTA files (real Davis kinases, truncated for speed)."""
    from sciarch.io.sequences import read_protein_fasta

    seqs = read_protein_fasta(DAVIS_FASTA)
    d = tmp_path_factory.mktemp("targets")
    out = []
    for name in ("AAK1", "ABL1(E255K)"):
        p = d / f"{name.replace('(', '_').replace(')', '')}.fasta"
        p.write_text(f">{name}\n{seqs[name][:300]}\n")
        out.append(p)
    return out
