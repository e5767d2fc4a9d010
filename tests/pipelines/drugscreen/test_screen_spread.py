"""An ensemble's spread is an unranked uncertainty column of the screen's outputs.

``AffinityModelScorer`` of an ensemble names ``spread_<target>`` extra columns: the standard
deviation of its members' scores. The screen writes them after the score columns in
``hits.csv`` and ``scores.parquet`` and never ranks by them; a single model writes none.
"""

import csv

import keras
import numpy as np
import pyarrow.parquet as pq

from pipelines.drugscreen.screening import AffinityModelScorer
from sciarch.io.molecules import collate_graphs, featurize_smiles
from sciarch.screening.engine import run_screen
from sciarch.screening.options import ScreenOptions
from tests.pipelines.drugscreen.test_screening import SMILES, TARGETS, _randomised

ZINC = ["CCO a", "c1ccccc1O b", "CC(=O)Nc1ccc(O)cc1 c", "CCN(CC)CC d", "O=C(O)c1ccccc1 e", "not_smiles f",
        "Cc1ccccc1N g", "CCOC(=O)C h"]


def _ensemble():
    a, b = _randomised(1), _randomised(2)
    inputs = {k: keras.Input(t.shape[1:], dtype=t.dtype, name=k) for k, t in a.input.items()}
    a.name, b.name = "member_0", "member_1"
    return keras.Model(inputs, keras.layers.Average()([a(inputs), b(inputs)])), (a, b)


def test_spread_is_the_members_standard_deviation():
    batch = collate_graphs([featurize_smiles(s) for s in SMILES])
    ensemble, members = _ensemble()
    scorer = AffinityModelScorer(ensemble, TARGETS, max_protein_length=64)
    assert scorer.extra_columns == ["spread_t1", "spread_t2"]
    each = np.stack([AffinityModelScorer(m, TARGETS, max_protein_length=64).score(batch) for m in members])
    mean, spread = scorer.score_with_extras(batch)
    np.testing.assert_allclose(mean, scorer.score(batch), atol=1e-6)
    np.testing.assert_allclose(spread, each.std(axis=0), atol=1e-5)
    assert (spread > 1e-3).all()  # the members disagree
    assert AffinityModelScorer(members[0], TARGETS, max_protein_length=64).extra_columns == []


def test_screen_writes_spread_columns_that_never_rank(tmp_path):
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join(ZINC) + "\n")
    ensemble, members = _ensemble()
    outs = {}
    for name, model in (("ensemble", ensemble), ("single", members[0])):
        cfg = ScreenOptions(library=str(lib), out=str(tmp_path / name), workers=0, progress=False, top_n=4,
                            chunk_records=3, batch_size=2)
        run_screen(cfg, lambda m=model: AffinityModelScorer(m, TARGETS, max_protein_length=64))
        with open(tmp_path / name / "hits.csv") as fh:
            outs[name] = (list(csv.DictReader(fh)), pq.read_table(tmp_path / name / "scores.parquet"))
    hits, table = outs["ensemble"]
    assert list(hits[0])[-4:] == ["score_t1", "score_t2", "spread_t1", "spread_t2"]
    assert table.column_names[-4:] == ["score_t1", "score_t2", "spread_t1", "spread_t2"]
    assert table.num_rows == 7
    # ranked by the mean of the score columns only, best first
    mean = (table.column("score_t1").to_numpy() + table.column("score_t2").to_numpy()) / 2
    ids = table.column("id").to_pylist()
    assert [h["id"] for h in hits] == [ids[i] for i in np.argsort(-mean, kind="stable")[:4]]
    spread = table.column("spread_t1").to_numpy()
    batch = collate_graphs([featurize_smiles(line.split()[0]) for line in ZINC if not line.startswith("not")])
    each = np.stack([AffinityModelScorer(m, TARGETS, max_protein_length=64).score(batch) for m in members])
    np.testing.assert_allclose(spread, each.std(axis=0)[:, 0], atol=1e-5)
    single_hits, single_table = outs["single"]
    assert not any(c.startswith("spread_") for c in single_table.column_names)
    assert not any(c.startswith("spread_") for c in single_hits[0])
