"""The affinity scorer of `sciarch screen`: scores equal the full model's, and an ensemble
(members nested in one model) scores the mean of its members."""

import keras
import numpy as np

from pipelines.drugscreen.model import build_affinity_model
from pipelines.drugscreen.config import DrugScreenModelConfig
from pipelines.drugscreen.screening import AffinityModelScorer
from sciarch.io.molecules import collate_graphs, featurize_smiles
from sciarch.io.sequences import tokenize_protein

CFG = DrugScreenModelConfig(gnn_depth=1, gnn_units=16, ligand_embedding=16, protein_embedding_dim=8,
                            protein_filters=[8], protein_embedding=16, head_units=[16], dropout=0.0)
SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"]
TARGETS = [("t1", "MKTAYIAKQRQISFVKSHFSRQ"), ("t2", "MSDNGPQNQRNAPRITFGGPSDSTG")]


def _randomised(seed, cfg=CFG):
    """An affinity model built with ``seed`` whose zero-initialised output layer gets random weights
    (so that two seeds give different predictions)."""
    keras.utils.set_random_seed(seed)
    model = build_affinity_model(cfg, output_bias=5.0)
    # the head's output kernel starts at zero: give it weights so members differ
    out = model.get_layer("affinity_head").get_layer("affinity")
    out.set_weights([np.random.default_rng(seed).normal(size=w.shape).astype("float32") for w in out.get_weights()])
    return model


def _full_model_scores(model, batch):
    rows = []
    for _, seq in TARGETS:
        tokens = np.tile(tokenize_protein(seq, 64), (len(SMILES), 1))
        rows.append(np.asarray(model({**batch, "protein_tokens": tokens}, training=False)).reshape(-1))
    return np.stack(rows, axis=1)


def test_scores_match_model_and_ensemble_is_member_mean():
    batch = collate_graphs([featurize_smiles(s) for s in SMILES])
    a, b = _randomised(1), _randomised(2)
    single = AffinityModelScorer(a, TARGETS, max_protein_length=64).score(batch)
    assert single.shape == (3, 2)
    np.testing.assert_allclose(single, _full_model_scores(a, batch), atol=1e-4)

    inputs = {k: keras.Input(t.shape[1:], dtype=t.dtype, name=k) for k, t in a.input.items()}
    a.name, b.name = "member_0", "member_1"
    ensemble = keras.Model(inputs, keras.layers.Average()([a(inputs), b(inputs)]))
    scorer = AffinityModelScorer(ensemble, TARGETS, max_protein_length=64)
    assert len(scorer.members) == 2
    expected = (single + AffinityModelScorer(b, TARGETS, max_protein_length=64).score(batch)) / 2
    np.testing.assert_allclose(scorer.score(batch), expected, atol=1e-4)
    assert not np.allclose(expected, single, atol=1e-3)  # the members really differ


def test_edge_conditioned_model_screens_in_both_transports():
    """A GINE (``gnn: ecc``) model sizes its edge network from the bond-feature width: the screen's
    traced function must keep that width static, for uint8 and float32 batches alike."""
    batch = collate_graphs([featurize_smiles(s) for s in SMILES])
    model = _randomised(3, CFG.model_copy(update={"gnn": "ecc"}))
    scorer = AffinityModelScorer(model, TARGETS, max_protein_length=64)
    expected = _full_model_scores(model, batch)
    np.testing.assert_allclose(scorer.score(batch), expected, atol=1e-4)
    compact = {k: (v if k == "edge_index" else v.astype(np.uint8)) for k, v in batch.items()}
    np.testing.assert_allclose(scorer.score(compact), expected, atol=1e-4)
