import numpy as np
import pytest
import tensorflow as tf
from rdkit import Chem

import keras

from sciarch.io.molecules import (
    ATOM_FEATURE_DIM,
    BOND_FEATURE_DIM,
    collate_graphs,
    featurize_mol,
    featurize_smiles,
)
from sciarch.layers import EdgeConditionedConv, GINConv, GraphReadout

# small real drug-like molecules (aspirin, caffeine, ibuprofen, paracetamol, nicotine, ethanol)
SMILES = [
    "CC(=O)Oc1ccccc1C(=O)O",
    "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "CC(=O)Nc1ccc(O)cc1",
    "CN1CCCC1c1cccnc1",
    "CCO",
]


def _batch(mols):
    return collate_graphs([featurize_mol(m) for m in mols])


def _permuted_batch(seed):
    """The same molecules with atoms renumbered by a random permutation (RDKit RenumberAtoms)."""
    rng = np.random.default_rng(seed)
    mols = [Chem.MolFromSmiles(s) for s in SMILES]
    perms, permuted = [], []
    for m in mols:
        p = rng.permutation(m.GetNumAtoms())
        perms.append(p)
        permuted.append(Chem.RenumberAtoms(m, [int(i) for i in p]))
    return _batch(mols), _batch(permuted), perms


def _gnn(kind, readout):
    keras.utils.set_random_seed(0)
    g = {
        "atom_features": keras.Input((None, ATOM_FEATURE_DIM), name="atom_features"),
        "edge_index": keras.Input((None, 2), dtype="int32", name="edge_index"),
        "bond_features": keras.Input((None, BOND_FEATURE_DIM), name="bond_features"),
        "atom_mask": keras.Input((None,), name="atom_mask"),
        "bond_mask": keras.Input((None,), name="bond_mask"),
    }
    h = keras.layers.Dense(16)(g["atom_features"])
    for _ in range(3):
        if kind == "gin":
            h = GINConv(16)(h, g["edge_index"], node_mask=g["atom_mask"], edge_mask=g["bond_mask"])
        else:
            h = EdgeConditionedConv(16, edge_network_units=8)(
                h, g["edge_index"], g["bond_features"], node_mask=g["atom_mask"], edge_mask=g["bond_mask"]
            )
    out = GraphReadout(readout, units=8 if readout == "attention" else None)(h, g["atom_mask"])
    return keras.Model(g, [h, out])


@pytest.mark.parametrize(
    "kind,readout", [("gin", "sum"), ("gin", "attention"), ("ecc", "mean"), ("ecc", "max")]
)
def test_invariant_to_random_atom_permutation(kind, readout):
    model = _gnn(kind, readout)
    original, permuted, perms = _permuted_batch(seed=hash((kind, readout)) % 1000)
    h, g = (np.asarray(t) for t in model(original))
    hp, gp = (np.asarray(t) for t in model(permuted))
    np.testing.assert_allclose(gp, g, atol=1e-5, rtol=1e-5)  # graph level: invariant
    for b, p in enumerate(perms):  # node level: equivariant (new atom i = old atom p[i])
        np.testing.assert_allclose(hp[b, : len(p)], h[b, p], atol=1e-5, rtol=1e-5)
    assert np.abs(g).max() > 1e-3  # not trivially zero


def test_output_does_not_depend_on_padding_order_or_edge_order():
    model = _gnn("ecc", "sum")
    batch = _batch([Chem.MolFromSmiles(s) for s in SMILES])
    rng = np.random.default_rng(0)
    shuffled = dict(batch)
    order = rng.permutation(batch["edge_index"].shape[1])
    for key in ("edge_index", "bond_features", "bond_mask"):
        shuffled[key] = batch[key][:, order]
    np.testing.assert_allclose(model(shuffled)[1], model(batch)[1], atol=1e-5)


def test_graphs_in_a_batch_do_not_interact():
    model = _gnn("gin", "sum")
    batch = _batch([Chem.MolFromSmiles(s) for s in SMILES])
    g = np.asarray(model(batch)[1])
    other = dict(batch)
    other["atom_features"] = batch["atom_features"].copy()
    other["atom_features"][1:] = np.random.default_rng(0).normal(size=other["atom_features"][1:].shape) * batch["atom_mask"][1:, :, None]
    g2 = np.asarray(model(other)[1])
    np.testing.assert_allclose(g2[0], g[0], atol=1e-6)
    assert not np.allclose(g2[1], g[1])
    single = _batch([Chem.MolFromSmiles(SMILES[0])])
    np.testing.assert_allclose(np.asarray(model(single)[1])[0], g[0], atol=1e-5)  # same alone


def test_masked_edges_and_padding_nodes():
    keras.utils.set_random_seed(1)
    nodes = np.random.default_rng(0).normal(size=(1, 4, 3)).astype("float32")
    nodes[0, 3] = 0.0
    edges = np.array([[[0, 1], [1, 0], [1, 2], [2, 1], [2, 0], [3, 0]]], "int32")
    edge_mask = np.array([[1, 1, 1, 1, 0, 0]], "float32")
    node_mask = np.array([[1, 1, 1, 0]], "float32")
    layer = GINConv(5)
    out = np.asarray(layer(nodes, edges, node_mask=node_mask, edge_mask=edge_mask))
    ref = np.asarray(layer(nodes, edges[:, :4], node_mask=node_mask, edge_mask=edge_mask[:, :4]))
    np.testing.assert_allclose(out, ref, atol=1e-6)  # masked edges contribute nothing
    assert np.all(out[0, 3] == 0)  # padded node output is zero
    # no edge mask: edges touching a padded node are dropped through the node mask
    out_nm = np.asarray(layer(nodes, edges[:, [0, 1, 2, 3, 5]], node_mask=node_mask))
    np.testing.assert_allclose(out_nm, ref, atol=1e-6)
    # bool masks behave like float masks
    out_b = np.asarray(layer(nodes, edges, node_mask=node_mask > 0, edge_mask=edge_mask > 0))
    np.testing.assert_allclose(out_b, out, atol=1e-6)


def test_gin_matches_dense_reference():
    rng = np.random.default_rng(3)
    b, n, f = 3, 6, 4
    nodes = rng.normal(size=(b, n, f)).astype("float32")
    edges = rng.integers(0, n, size=(b, 9, 2)).astype("int32")
    edge_mask = (rng.random((b, 9)) > 0.3).astype("float32")
    layer = GINConv(f, mlp_layers=1, activation=None)
    layer(nodes, edges, edge_mask=edge_mask)
    layer.mlp[0].kernel.assign(np.eye(f, dtype="float32"))
    layer.mlp[0].bias.assign(np.zeros(f, "float32"))
    layer.eps.assign(0.5)
    adj = np.zeros((b, n, n), "float32")
    for i in range(b):
        for (s, d), m in zip(edges[i], edge_mask[i]):
            adj[i, d, s] += m  # multi-edges add up
    ref = 1.5 * nodes + adj @ nodes
    np.testing.assert_allclose(layer(nodes, edges, edge_mask=edge_mask), ref, atol=1e-5)


def test_edge_conditioned_messages_use_bond_features():
    keras.utils.set_random_seed(2)
    mol = featurize_smiles("C=CC#N")
    batch = collate_graphs([mol])
    layer = EdgeConditionedConv(6)
    args = (batch["atom_features"], batch["edge_index"])
    out = np.asarray(layer(*args, batch["bond_features"], edge_mask=batch["bond_mask"]))
    flipped = batch["bond_features"][:, ::-1].copy()  # different bond types on each edge
    out2 = np.asarray(layer(*args, flipped, edge_mask=batch["bond_mask"]))
    assert not np.allclose(out, out2)
    # GINE reference with the layer's weights
    x, ei, e = batch["atom_features"][0], batch["edge_index"][0], batch["bond_features"][0]
    phi = e @ np.asarray(layer.edge_out.kernel) + np.asarray(layer.edge_out.bias)
    msg = np.maximum(x[ei[:, 0]] + phi, 0)
    agg = np.zeros_like(x)
    np.add.at(agg, ei[:, 1], msg)
    h = (1 + float(layer.eps)) * x + agg
    for dense in layer.mlp:
        h = np.maximum(h @ np.asarray(dense.kernel) + np.asarray(dense.bias), 0)
    np.testing.assert_allclose(out[0], h, atol=1e-5)


def test_no_atom_cap_and_varying_sizes_in_one_model():
    model = _gnn("gin", "mean")
    big = "C" * 150  # 150-atom chain
    out_big = model(collate_graphs([featurize_smiles(big), featurize_smiles("CCO")]))[1]
    out_small = model(collate_graphs([featurize_smiles("CCO")]))[1]
    np.testing.assert_allclose(np.asarray(out_big)[1], np.asarray(out_small)[0], atol=1e-5)


def test_out_of_range_edge_index_raises():
    layer = GINConv(4)
    nodes = np.ones((2, 3, 2), "float32")
    bad = np.array([[[0, 1], [1, 3]], [[0, 1], [1, 0]]], "int32")  # 3 would be graph 1's node 0
    with pytest.raises(tf.errors.InvalidArgumentError, match="GINConv: edge_index has a node index >= N"):
        layer(nodes, bad)
    with pytest.raises(tf.errors.InvalidArgumentError, match="negative"):
        layer(nodes, -bad)


def test_readout_modes():
    nodes = np.arange(2 * 4 * 2, dtype="float32").reshape(2, 4, 2) - 5.0
    mask = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], "float32")
    valid = mask[..., None] > 0
    np.testing.assert_allclose(GraphReadout("sum")(nodes, mask), (nodes * valid).sum(1))
    np.testing.assert_allclose(GraphReadout("mean")(nodes, mask), (nodes * valid).sum(1) / valid.sum(1))
    np.testing.assert_allclose(GraphReadout("max")(nodes, mask), np.where(valid, nodes, -np.inf).max(1))
    empty = GraphReadout("max")(nodes, np.zeros((2, 4), "float32"))
    assert np.all(np.asarray(empty) == 0)
    pooled, w = GraphReadout("attention", units=4)(nodes, mask, return_weights=True)
    np.testing.assert_allclose(np.asarray(w).sum(1), 1.0, atol=1e-6)
    assert np.all(np.asarray(w)[mask == 0] == 0)
    _, w_mean = GraphReadout("mean")(nodes, mask, return_weights=True)
    np.testing.assert_allclose(w_mean, mask / mask.sum(1, keepdims=True))
    with pytest.raises(ValueError, match="max"):
        GraphReadout("max")(nodes, mask, return_weights=True)
    with pytest.raises(ValueError, match="mode"):
        GraphReadout("median")


def test_functional_readout_with_weights():
    nodes = keras.Input((None, 4))
    mask = keras.Input((None,))
    pooled, weights = GraphReadout("attention", units=3)(nodes, mask, return_weights=True)
    assert tuple(pooled.shape) == (None, 4) and tuple(weights.shape) == (None, None)
    model = keras.Model([nodes, mask], [pooled, weights])
    m = np.array([[1, 1, 0]], "float32")
    _, w = model([np.ones((1, 3, 4), "float32"), m])
    np.testing.assert_allclose(w, [[0.5, 0.5, 0.0]], atol=1e-6)
