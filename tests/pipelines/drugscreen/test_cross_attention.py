"""Cross-attention fusion (``model.fusion: cross_attention``): the ligand embedding attends over
latent summaries of the protein's residues. It keeps the three-sub-model contract, so the
screen, the Siamese model and save/load work unchanged; padding residues are masked."""

import keras
import numpy as np
import pytest

from pipelines.drugscreen.config import DrugScreenModelConfig
from pipelines.drugscreen.model import build_siamese_model, protein_output_dim
from pipelines.drugscreen.screening import AffinityModelScorer
from sciarch.io.molecules import collate_graphs, featurize_smiles
from sciarch.io.sequences import tokenize_protein
from tests.pipelines.drugscreen.test_screening import SMILES, TARGETS, _randomised


def _cfg(**kw):
    base = dict(gnn_depth=1, gnn_units=16, ligand_embedding=12, protein_embedding_dim=8, protein_filters=[8],
                protein_kernel=3, protein_embedding=8, head_units=[16], dropout=0.0, fusion="cross_attention",
                protein_slots=3, attention_heads=2)
    return DrugScreenModelConfig(**{**base, **kw})


def _x(seqs, length):
    x = collate_graphs([featurize_smiles(s) for s in SMILES])
    x["protein_tokens"] = np.stack([tokenize_protein(s, length) for s in seqs])
    return x


@pytest.mark.parametrize("stride", [1, 2])
def test_padding_residues_are_masked_and_proteins_matter(stride):
    model = _randomised(0, _cfg(protein_stem_stride=stride))
    seqs = ["MKVLAAGIW", "MSTNPKPQ", "MKKLLPTA"]
    short = np.asarray(model(_x(seqs, 16), training=False))
    long = np.asarray(model(_x(seqs, 64), training=False))  # 48 more padding positions, all masked
    np.testing.assert_allclose(short, long, atol=1e-5)
    other = np.asarray(model(_x(seqs[::-1], 16), training=False))
    assert np.abs(short - other).max() > 1e-4  # a different protein changes the prediction
    assert model.get_layer("protein_encoder").output.shape[-1] == protein_output_dim(_cfg()) == 3 * 8


def test_screen_scores_equal_the_model_and_save_load_is_exact(tmp_path):
    model = _randomised(0, _cfg())
    batch = collate_graphs([featurize_smiles(s) for s in SMILES])
    scores = AffinityModelScorer(model, TARGETS, max_protein_length=64).score(batch)
    for j, (_, seq) in enumerate(TARGETS):
        tokens = np.tile(tokenize_protein(seq, 64), (len(SMILES), 1))
        full = np.asarray(model({**batch, "protein_tokens": tokens}, training=False)).reshape(-1)
        np.testing.assert_allclose(scores[:, j], full, atol=1e-4)
    model.save(tmp_path / "x.keras")
    again = keras.models.load_model(tmp_path / "x.keras", safe_mode=True)
    x = _x([s for _, s in TARGETS] + ["MKV"], 32)
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), atol=1e-6)


def test_siamese_with_cross_attention_encoder_stays_antisymmetric():
    keras.utils.set_random_seed(0)
    model = build_siamese_model(_cfg())
    g = collate_graphs([featurize_smiles(s) for s in SMILES])
    wt = np.stack([tokenize_protein(s, 16) for s in ["MKVLAAGIWHHE", "MSTNPKPQRKTK", "MKVLAAGIWHHE"]])
    mut = wt.copy()
    mut[:, 3] = tokenize_protein("A", 1)[0]
    d = np.asarray(model(dict(g, wt_tokens=wt, mut_tokens=mut)))
    np.testing.assert_allclose(d, -np.asarray(model(dict(g, wt_tokens=mut, mut_tokens=wt))), atol=1e-6)
    assert np.abs(d).max() > 0
