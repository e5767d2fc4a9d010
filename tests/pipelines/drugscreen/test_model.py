"""Model contract: named sub-models, permutation invariance of the GNN branch end to end,
exact equality of the unique-protein path, save/load, Siamese antisymmetry."""

import keras
import numpy as np
import pytest

from pipelines.drugscreen.model import (
    DrugScreenModelConfig,
    UniqueRows,
    build_affinity_model,
    build_siamese_model,
)
from sciarch.io.molecules import collate_graphs, featurize_smiles
from sciarch.io.sequences import tokenize_protein

TINY = dict(gnn_units=16, gnn_depth=2, ligand_embedding=8, protein_filters=[8], protein_kernel=3,
            protein_embedding_dim=8, protein_embedding=8, head_units=[16], dropout=0.0)
SMILES = ["CC(=O)Nc1ccc(O)cc1", "C[C@H](N)C(=O)[O-].[Na+]", "Cn1cnc2c1c(=O)n(C)c(=O)n2C"]
SEQS = ["MKVLAAGIWHHE", "MSTNPKPQRKTK", "MKVLAAGIWHHE"]


def _randomise_output(model):
    """The output layer starts at zero (mean predictor); give it weights so outputs vary."""
    head = model.get_layer("affinity_head").get_layer("affinity")
    k, b = head.get_weights()
    head.set_weights([np.random.default_rng(0).normal(size=k.shape).astype("float32"), b])
    return model


def _inputs(graphs, seqs):
    x = collate_graphs(graphs)
    x["protein_tokens"] = np.stack([tokenize_protein(s, 16) for s in seqs])
    return x


def _permute(graph, perm):
    """Renumber atoms: new atom i is old atom perm[i]; shuffle edge order too."""
    from sciarch.io.molecules import MolGraph

    inv = np.argsort(perm)
    rng = np.random.default_rng(1)
    e_order = rng.permutation(graph.num_edges)
    return MolGraph(graph.atom_features[perm], inv[graph.edge_index][e_order].astype(np.int32),
                    graph.bond_features[e_order])


@pytest.mark.parametrize("gnn", ["gin", "ecc"])
@pytest.mark.parametrize("readout", [["sum", "max"], ["mean", "attention"]])
def test_atom_permutation_invariance_end_to_end(gnn, readout):
    keras.utils.set_random_seed(0)
    model = _randomise_output(
        build_affinity_model(DrugScreenModelConfig(gnn=gnn, readout=readout, **TINY), output_bias=5.0)
    )
    graphs = [featurize_smiles(s) for s in SMILES]
    rng = np.random.default_rng(0)
    permuted = [_permute(g, rng.permutation(g.num_atoms)) for g in graphs]
    assert not np.array_equal(permuted[0].atom_features, graphs[0].atom_features)
    # also pad differently: add a big molecule so N/E padding changes
    big = featurize_smiles("CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC")
    a = np.asarray(model(_inputs(graphs, SEQS), training=False))
    b = np.asarray(model(_inputs(permuted + [big], SEQS + ["MK"]), training=False))[:3]
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # the output is not constant: a different molecule changes it
    c = np.asarray(model(_inputs(graphs[::-1], SEQS), training=False))
    assert np.abs(a - c).max() > 1e-6


def test_named_submodels_compose_to_the_full_model():
    keras.utils.set_random_seed(0)
    model = _randomise_output(build_affinity_model(DrugScreenModelConfig(**TINY), output_bias=5.0))
    x = _inputs([featurize_smiles(s) for s in SMILES], SEQS)
    lig = model.get_layer("ligand_encoder")({k: v for k, v in x.items() if k != "protein_tokens"})
    prot = model.get_layer("protein_encoder")(x["protein_tokens"])
    out = model.get_layer("affinity_head")([lig, prot])
    np.testing.assert_allclose(np.asarray(out), np.asarray(model(x)), rtol=1e-6, atol=1e-6)
    for name in ("ligand_encoder", "protein_encoder", "affinity_head"):
        assert isinstance(model.get_layer(name), keras.Model)


def test_unique_rows_path_equals_plain_path_and_roundtrips(tmp_path):
    keras.utils.set_random_seed(0)
    cfg = DrugScreenModelConfig(**TINY)
    model = _randomise_output(build_affinity_model(cfg, output_bias=5.0))
    plain = build_affinity_model(
        cfg.model_copy(update={"unique_proteins": False, "unique_ligands": False}), output_bias=5.0
    )
    for name in ("ligand_encoder", "protein_encoder", "affinity_head"):
        plain.get_layer(name).set_weights(model.get_layer(name).get_weights())
    x = _inputs([featurize_smiles(s) for s in SMILES + SMILES[:1]], SEQS + SEQS[1:2])
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(plain(x)), rtol=1e-6, atol=1e-6)
    keep, inv = UniqueRows()(x["protein_tokens"])
    assert np.asarray(keep).tolist() == [0, 1] and np.asarray(inv).tolist() == [0, 1, 0, 1]
    keep, inv = UniqueRows()([x[k] for k in ("atom_features", "atom_mask", "edge_index", "bond_features", "bond_mask")])
    assert np.asarray(keep).tolist() == [0, 1, 2] and np.asarray(inv).tolist() == [0, 1, 2, 0]
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), rtol=1e-6, atol=1e-6)


def test_siamese_is_antisymmetric_and_sees_the_mutation(tmp_path):
    keras.utils.set_random_seed(0)
    cfg = DrugScreenModelConfig(**TINY)
    model = build_siamese_model(cfg)
    g = collate_graphs([featurize_smiles(s) for s in SMILES])
    wt = np.stack([tokenize_protein(s, 16) for s in SEQS])
    mut = wt.copy()
    mut[:, 3] = tokenize_protein("A", 1)[0]
    x = dict(g, wt_tokens=wt, mut_tokens=mut)
    swapped = dict(g, wt_tokens=mut, mut_tokens=wt)
    same = dict(g, wt_tokens=wt, mut_tokens=wt)
    d = np.asarray(model(x))
    np.testing.assert_allclose(d, -np.asarray(model(swapped)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(model(same)), 0.0, atol=1e-6)
    assert np.abs(d).max() > 0
    model.save(tmp_path / "s.keras")
    np.testing.assert_allclose(np.asarray(keras.models.load_model(tmp_path / "s.keras")(x)), d, atol=1e-6)


def test_optional_normalisations_build_and_roundtrip(tmp_path):
    keras.utils.set_random_seed(0)
    cfg = DrugScreenModelConfig(**TINY, head_norm=True, protein_token_norm=True, gnn="ecc")
    model = _randomise_output(build_affinity_model(cfg, output_bias=11.0))
    assert model.get_layer("affinity_head").get_layer("fusion_norm") is not None
    assert model.get_layer("protein_encoder").get_layer("token_norm") is not None
    x = _inputs([featurize_smiles(s) for s in SMILES], SEQS)
    model.save(tmp_path / "n.keras")
    np.testing.assert_allclose(np.asarray(keras.models.load_model(tmp_path / "n.keras")(x)), np.asarray(model(x)), atol=1e-5)


def test_protein_composition_is_standardised_on_the_reference_and_roundtrips(tmp_path):
    keras.utils.set_random_seed(0)
    cfg = DrugScreenModelConfig(**TINY, protein_composition=[1, 2])
    rng = np.random.default_rng(0)
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    reference = np.stack([tokenize_protein("".join(rng.choice(letters, 14)), 16) for _ in range(40)])
    model = _randomise_output(build_affinity_model(cfg, output_bias=5.0, composition_tokens=reference))
    encoder = model.get_layer("protein_encoder")
    features = keras.Model(encoder.input, encoder.get_layer("composition_norm").output)
    z = np.asarray(features(reference))
    assert z.shape == (40, 420)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-4)
    # a feature that varies over the reference has unit variance; a constant one is left at 0
    varies = np.asarray(encoder.get_layer("composition")(reference)).var(axis=0) > 1e-6
    np.testing.assert_allclose(z[:, varies].std(axis=0), 1.0, rtol=1e-3)
    assert np.all(z[:, ~varies] == 0) and 20 < varies.sum() < 420  # 40 x 13 pairs cannot cover all 400
    x = _inputs([featurize_smiles(s) for s in SMILES], SEQS)
    model.save(tmp_path / "c.keras")
    again = keras.models.load_model(tmp_path / "c.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), rtol=1e-6, atol=1e-6)


def test_protein_composition_needs_late_fusion():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="protein_composition.*late fusion"):
        DrugScreenModelConfig(protein_composition=[1, 2], fusion="cross_attention")
    with pytest.raises(ValidationError):
        DrugScreenModelConfig(protein_composition=[4])
