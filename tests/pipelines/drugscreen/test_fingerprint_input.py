"""``model.ligand_fingerprint``: a Morgan (ECFP4) fingerprint read beside the ligand graph.

The model gains a ``ligand_fingerprint`` input that changes its output; the graph branch stays
invariant to atom order; training batches carry the data set's fingerprints (the same bits
:func:`sciarch.io.molecules.morgan_fingerprints` gives); a small real Davis slice learns with
it end to end, and the alanine scan, the ΔΔG model and a saved / reloaded model work with it.
Models without the option keep their exact inputs.
"""

import json

import keras
import numpy as np
import pytest

from pipelines.drugscreen.model import (
    DrugScreenModelConfig,
    build_affinity_model,
    build_siamese_model,
    fingerprint_bits_of,
    ligand_batch,
)
from sciarch.io.molecules import FINGERPRINT_KEY, GRAPH_KEYS, collate_graphs, featurize_smiles, morgan_fingerprints
from sciarch.io.sequences import tokenize_protein

from tests.pipelines.drugscreen.test_model import SEQS, TINY

SMILES = ["CC(=O)Nc1ccc(O)cc1", "Cn1cnc2c1c(=O)n(C)c(=O)n2C", "c1ccc2ccccc2c1"]
BITS = 64


def _model(bits=BITS, seed=0):
    keras.utils.set_random_seed(seed)
    model = build_affinity_model(DrugScreenModelConfig(**TINY, ligand_fingerprint=bits), output_bias=5.0)
    head = model.get_layer("affinity_head").get_layer("affinity")
    k, b = head.get_weights()
    head.set_weights([np.random.default_rng(0).normal(size=k.shape).astype("float32"), b])
    if bits:  # the fingerprint's projection starts at zero (a trained model's would not)
        fp = model.get_layer("ligand_encoder").get_layer("fingerprint_projection")
        fp.kernel.assign(np.random.default_rng(1).normal(0, 0.3, size=fp.kernel.shape).astype("float32"))
    return model


def _inputs(smiles, seqs, bits=BITS):
    x = collate_graphs([featurize_smiles(s) for s in smiles])
    if bits:
        x[FINGERPRINT_KEY] = morgan_fingerprints(smiles, bits).astype(np.float32)
    x["protein_tokens"] = np.stack([tokenize_protein(s, 16) for s in seqs])
    return x


def test_the_fingerprint_starts_unread_then_changes_the_output(tmp_path):
    keras.utils.set_random_seed(0)
    fresh = build_affinity_model(DrugScreenModelConfig(**TINY, ligand_fingerprint=BITS), output_bias=5.0)
    assert not np.asarray(fresh.get_layer("ligand_encoder").get_layer("fingerprint_projection").kernel).any()
    model = _model()
    assert fingerprint_bits_of(model) == BITS
    assert fingerprint_bits_of(model.get_layer("ligand_encoder")) == BITS
    assert model.input[FINGERPRINT_KEY].shape[-1] == BITS
    x = _inputs(SMILES, SEQS)
    a = np.asarray(model(x, training=False))
    flipped = dict(x, **{FINGERPRINT_KEY: 1.0 - x[FINGERPRINT_KEY]})
    b = np.asarray(model(flipped, training=False))
    assert np.abs(a - b).max() > 1e-4  # the fingerprint is read
    # the graph is still read too: same fingerprints, other molecules' graphs
    other = dict(_inputs(SMILES[::-1], SEQS), **{FINGERPRINT_KEY: x[FINGERPRINT_KEY]})
    assert np.abs(a - np.asarray(model(other, training=False))).max() > 1e-4
    # a saved model reloads with safe_mode and gives the same outputs
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(again(x, training=False)), a, rtol=1e-6, atol=1e-6)


def test_unique_ligands_path_equals_the_plain_path_and_atom_order_does_not_matter():
    model = _model()
    cfg = DrugScreenModelConfig(**TINY, ligand_fingerprint=BITS, unique_ligands=False, unique_proteins=False)
    plain = build_affinity_model(cfg, output_bias=5.0)
    for name in ("ligand_encoder", "protein_encoder", "affinity_head"):
        plain.get_layer(name).set_weights(model.get_layer(name).get_weights())
    x = _inputs(SMILES + SMILES[:1], SEQS + SEQS[1:2])
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(plain(x)), rtol=1e-6, atol=1e-6)
    # renumbering the atoms of a molecule leaves its prediction unchanged
    from sciarch.io.molecules import MolGraph

    g = featurize_smiles(SMILES[0])
    perm = np.random.default_rng(2).permutation(g.num_atoms)
    inv = np.argsort(perm)
    h = MolGraph(g.atom_features[perm], inv[g.edge_index].astype(np.int32), g.bond_features)
    x1 = _inputs(SMILES[:1], SEQS[:1])
    x2 = dict(x1, **{k: v for k, v in collate_graphs([h]).items()})
    np.testing.assert_allclose(np.asarray(model(x1)), np.asarray(model(x2)), rtol=1e-5, atol=1e-5)


def test_models_without_the_option_keep_their_inputs():
    keras.utils.set_random_seed(0)
    model = build_affinity_model(DrugScreenModelConfig(**TINY))
    assert fingerprint_bits_of(model) == 0
    assert sorted(model.input) == sorted([*GRAPH_KEYS, "protein_tokens"])
    batch = ligand_batch(model.get_layer("ligand_encoder"), SMILES)
    assert sorted(batch) == sorted(GRAPH_KEYS)


def test_ligand_batch_and_the_siamese_model_carry_the_fingerprint():
    model = _model()
    lig = model.get_layer("ligand_encoder")
    batch = ligand_batch(lig, SMILES)
    np.testing.assert_array_equal(batch[FINGERPRINT_KEY], morgan_fingerprints(SMILES, BITS))
    assert np.asarray(lig(batch)).shape == (3, TINY["ligand_embedding"])
    siamese = build_siamese_model(DrugScreenModelConfig(**TINY, ligand_fingerprint=BITS), lig,
                                  model.get_layer("protein_encoder"))
    assert siamese.input[FINGERPRINT_KEY].shape[-1] == BITS


def test_training_batches_carry_the_data_sets_fingerprints():
    from pipelines.drugscreen.batching import make_dataset
    from pipelines.drugscreen.data import DTAData

    data = DTAData.load("davis", graph_features="v2")
    idx = np.arange(0, len(data.pairs), 97)[:40]
    x, _ = next(iter(make_dataset(data, data.pairs, idx, 40, shuffle=False, fingerprint_bits=256)))
    order = np.lexsort((np.arange(len(idx)), data.pairs.protein[idx]))  # eval batches are sorted by protein
    drugs = data.pairs.drug[idx][order]
    expect = morgan_fingerprints([data.smiles[d] for d in drugs], 256).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(x[FINGERPRINT_KEY]), expect)
    assert np.asarray(x[FINGERPRINT_KEY]).sum(axis=1).min() > 0  # every Davis ligand sets bits
    plain, _ = next(iter(make_dataset(data, data.pairs, idx, 40, shuffle=False)))
    assert FINGERPRINT_KEY not in plain


@pytest.fixture(scope="module")
def fingerprint_run(tmp_path_factory):
    from pipelines.drugscreen.pipeline import DrugScreenConfig
    from sciarch.runner import run_pipeline

    cfg = DrugScreenConfig.model_validate({
        "pipeline": "drugscreen", "seed": 0,
        "data": {"dataset": "davis", "graph_features": "v2", "max_train_pairs": 2000, "max_eval_pairs": 800,
                 "protein_chunk": 8, "max_protein_length": 256},
        "model": {"gnn_depth": 2, "gnn_units": 32, "ligand_embedding": 32, "ligand_fingerprint": 512,
                  "protein_embedding_dim": 8, "protein_filters": [16], "protein_kernel": 8,
                  "protein_stem_stride": 4, "protein_embedding": 32, "head_units": [64], "dropout": 0.0},
        "train": {"epochs": 4, "batch_size": 32, "learning_rate": 0.001, "tensorboard": False,
                  "backup_and_restore": False, "verbose": 0},
    })
    return run_pipeline(cfg, out=tmp_path_factory.mktemp("run") / "davis_fp")


def test_learns_on_a_small_davis_slice_and_scans_with_the_fingerprint(fingerprint_run):
    from pipelines.drugscreen.alascan import alanine_scan
    from sciarch.runner import load_run_model

    ev = json.loads(fingerprint_run.metrics_path.read_text())["evaluation"]
    assert ev["n"] == 800 and ev["ci"] > 0.6, ev  # a constant predictor scores 0.5
    model = load_run_model(fingerprint_run.dir)
    assert fingerprint_bits_of(model) == 512
    res = alanine_scan(model, "CC(=O)Nc1ccc(O)cc1", "MKVLAAGIWHHEMSTNPKPQRKTK", max_length=256)
    assert len(res.positions) == sum(c != "A" for c in "MKVLAAGIWHHEMSTNPKPQRKTK")
    assert np.isfinite(res.drops).all()


def test_ddg_experiment_runs_with_the_fingerprint(fingerprint_run):
    from pipelines.drugscreen.pipeline import DrugScreenPipeline
    from pipelines.drugscreen.siamese import run_ddg_experiment
    from sciarch.runner import load_run_model
    from sciarch.runs import open_run

    opened = open_run(fingerprint_run.dir, pipeline="drugscreen")
    pipe = DrugScreenPipeline(opened.config)
    model = load_run_model(fingerprint_run.dir)
    r = run_ddg_experiment(pipe.data, model, opened.config.model, pipe.data.split_index("train"),
                           pipe.data.split_index("validation"), epochs=1, batch_size=128)
    assert r["pairs_validation"] > 100
    for key in ("siamese", "subtraction"):
        assert np.isfinite(r[key]["mse"])


def test_a_fingerprint_model_starts_from_a_graph_only_models_weights(tmp_path):
    """``train.init_weights`` grows a trained graph-only model: the fingerprint's projection is the
    one weight left fresh (zero), so the grown model predicts exactly what the source does."""
    from sciarch.config import ConfigError
    from sciarch.model_io import init_weights_from

    keras.utils.set_random_seed(3)
    source = _model(bits=0)
    source.save(tmp_path / "graph_only.keras")
    grown = build_affinity_model(DrugScreenModelConfig(**TINY, ligand_fingerprint=BITS), output_bias=0.0)
    fresh = init_weights_from(grown, tmp_path / "graph_only.keras")
    assert fresh == ["fingerprint_projection/kernel"]
    x = _inputs(SMILES, SEQS)
    expect = np.asarray(source({k: v for k, v in x.items() if k != FINGERPRINT_KEY}, training=False))
    np.testing.assert_allclose(np.asarray(grown(x, training=False)), expect, rtol=1e-6, atol=1e-6)
    # the other way round drops a layer: refused in one line
    _model().save(tmp_path / "with_fp.keras")
    with pytest.raises(ConfigError, match=r"train\.init_weights.*weight tensors.*architectures differ"):
        init_weights_from(build_affinity_model(DrugScreenModelConfig(**TINY)), tmp_path / "with_fp.keras")
