"""A model trained on graph features v2 is screened with the v2 featuriser; v1 models keep v1.

The screen reads the version from the model (its ligand input sizes), featurises with it in
its worker processes, scores exactly what one-by-one model calls on ``featurize_smiles(...,
features="v2")`` give, and records the version in the model fingerprint (so a resume with
another model is refused). A batch of the wrong version is refused in one line.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from sciarch.screening.engine import run_screen
from sciarch.screening.options import ScreenOptions

from screening_cases import _build_tiny_run, one_by_one_scores, zinc_lines


@pytest.fixture(scope="module")
def tiny_run_v2(tmp_path_factory):
    return _build_tiny_run(tmp_path_factory.mktemp("tiny_run_v2"), graph_features="v2")


def _scorer(run, targets):
    from pipelines.drugscreen.screening import AffinityModelScorer

    return AffinityModelScorer.from_run_dir(run, targets)


def test_v2_model_is_screened_with_v2_features_in_workers(tmp_path, tiny_run_v2, targets):
    lines = zinc_lines(40)
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join(lines) + "\n")
    cfg = ScreenOptions(library=str(lib), out=str(tmp_path / "out"), workers=1, progress=False, top_n=5,
                        chunk_records=16, batch_size=8)
    summary = run_screen(cfg, lambda: _scorer(tiny_run_v2, targets))
    assert summary["counts"]["scored"] == 40
    assert summary["model"]["graph_features"] == "v2"
    ref = one_by_one_scores(tiny_run_v2, targets, lines, graph_features="v2")
    t = pq.read_table(tmp_path / "out" / "scores.parquet")
    got = np.stack([t.column("score_AAK1").to_numpy(), t.column("score_ABL1(E255K)").to_numpy()], axis=1)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert np.std(ref[:, 0]) > 1e-3


def test_versions_are_told_apart(tiny_run, tiny_run_v2, targets):
    from sciarch.io.molecules import collate_graphs, featurize_smiles
    from sciarch.screening.scoring import ScorerError

    v1, v2 = _scorer(tiny_run, targets), _scorer(tiny_run_v2, targets)
    assert (v1.graph_features, v2.graph_features) == ("v1", "v2")
    assert "graph_features" not in v1.fingerprint  # fingerprints of v1 models are unchanged
    assert json.dumps(v2.fingerprint).count('"v2"') == 1
    batch_v1 = collate_graphs([featurize_smiles("CCO")])
    assert v1.score(batch_v1).shape == (1, 2)
    with pytest.raises(ScorerError, match="44 atom features; this model was trained on graph features v2"):
        v2.score(batch_v1)


@pytest.mark.parametrize("hint", ["v2", "v1"])
def test_prefetch_while_the_model_loads_gives_the_same_outputs(tmp_path, tiny_run_v2, targets, hint, monkeypatch):
    """With a graph-features hint the first chunks are featurised before the scorer exists; the
    outputs are byte-identical to a screen without prefetch, also when the hint was wrong (the
    prefetched chunks are then read again with the model's version)."""
    from sciarch.screening import engine
    from sciarch.screening.scoring import model_graph_features

    prefetched = []
    original = engine._Screen._prefetch

    def spy(self, pool):
        original(self, pool)
        prefetched.append(len(self._prefetched[2]))  # chunks submitted before the scorer existed

    monkeypatch.setattr(engine._Screen, "_prefetch", spy)

    assert model_graph_features(tiny_run_v2) == "v2" and model_graph_features(tmp_path) is None
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join(zinc_lines(120)) + "\nnot_a_smiles x\n")
    outs = {}
    for name, h in (("plain", None), ("prefetch", hint)):
        cfg = ScreenOptions(library=str(lib), out=str(tmp_path / name), workers=1, progress=False, top_n=7,
                            chunk_records=16, batch_size=8)
        summary = run_screen(cfg, lambda: _scorer(tiny_run_v2, targets), graph_features_hint=h)
        c = summary["counts"]
        assert (c["read"], c["scored"], c["rejected"]) == (121, 120, 1)
        outs[name] = {f: (tmp_path / name / f).read_bytes() for f in ("hits.csv", "rejected.tsv", "scores.parquet")}
        outs[name]["summary"] = {k: v for k, v in summary.items() if k in ("counts", "library", "library_sha256")}
    assert prefetched == [8]  # 121 lines in chunks of 16, all submitted while the model loaded
    assert outs["plain"] == outs["prefetch"]
