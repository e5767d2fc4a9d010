"""One small functional model per sciarch layer, with matching example inputs.

Shared by the serialisation test and the MirroredStrategy subprocess test (which imports
this file by path), so every layer is covered by both. Inputs use ``None`` for every length
axis (time, nodes, edges) so the functional API path with unknown sizes is exercised.
"""

from __future__ import annotations

import numpy as np

import keras

import sciarch.layers as L

BATCH = 4


def _seq_inputs(rng, t=12, c=4):
    return rng.normal(size=(BATCH, t, c)).astype("float32")


def _graph_batch(rng, n=5, f=6, fe=3):
    """Four small path/ring graphs, padded to n atoms and E edges (real varying sizes)."""
    sizes = [5, 3, 4, 2][:BATCH]
    edges = []
    for size in sizes:
        e = []
        for i in range(size - 1):
            e += [(i, i + 1), (i + 1, i)]
        if size > 3:  # close the ring
            e += [(size - 1, 0), (0, size - 1)]
        edges.append(e)
    max_e = max(len(e) for e in edges)
    edge_index = np.zeros((BATCH, max_e, 2), "int32")
    edge_mask = np.zeros((BATCH, max_e), "float32")
    node_mask = np.zeros((BATCH, n), "float32")
    for b, (size, e) in enumerate(zip(sizes, edges)):
        edge_index[b, : len(e)] = e
        edge_mask[b, : len(e)] = 1.0
        node_mask[b, :size] = 1.0
    nodes = rng.normal(size=(BATCH, n, f)).astype("float32") * node_mask[..., None]
    bonds = rng.normal(size=(BATCH, max_e, fe)).astype("float32") * edge_mask[..., None]
    return {
        "nodes": nodes,
        "edge_index": edge_index,
        "node_mask": node_mask,
        "edge_mask": edge_mask,
        "edge_features": bonds,
    }


def _graph_inputs(f=6, fe=3):
    return {
        "nodes": keras.Input((None, f), name="nodes"),
        "edge_index": keras.Input((None, 2), dtype="int32", name="edge_index"),
        "node_mask": keras.Input((None,), name="node_mask"),
        "edge_mask": keras.Input((None,), name="edge_mask"),
        "edge_features": keras.Input((None, fe), name="edge_features"),
    }


def _seq_model(layer_fn, c=4, head=True):
    x = keras.Input((None, c), name="x")
    y = layer_fn(x)
    if head:
        y = keras.layers.GlobalAveragePooling1D()(y)
        y = keras.layers.Dense(1)(y)
    return keras.Model(x, y)


def _img_model(layer_fn, c=3):
    x = keras.Input((None, None, c), name="x")
    y = layer_fn(x)
    y = keras.layers.GlobalAveragePooling2D()(y)
    y = keras.layers.Dense(1)(y)
    return keras.Model(x, y)


def build_cases():
    """Return {name: (model_factory, make_inputs(rng) -> x)}; every model maps x -> [B, 1]."""
    seq = lambda rng: _seq_inputs(rng)  # noqa: E731
    img = lambda rng: rng.normal(size=(BATCH, 8, 8, 3)).astype("float32")  # noqa: E731

    def mask_seq(rng):
        x = _seq_inputs(rng)
        mask = np.ones((BATCH, x.shape[1]), "float32")
        mask[0, 8:] = 0.0
        mask[2, 5:] = 0.0
        return {"x": x, "mask": mask}

    def masked_seq_model(layer_fn):
        def factory():
            x = keras.Input((None, 4), name="x")
            m = keras.Input((None,), name="mask")
            pooled = layer_fn(x, m)
            return keras.Model({"x": x, "mask": m}, keras.layers.Dense(1)(pooled))

        return factory

    def mhsa(x, m):
        y = L.MultiHeadSelfAttention(2, 4)(x, mask=m)
        return L.AttentionPooling()(y, mask=m)[0]

    def windowed(x, m):
        y = L.WindowedAttention(window=5, num_heads=2)(x, mask=m)
        return L.AttentionPooling(units=6)(y, mask=m)[0]

    def sdpa(x, m):
        q = keras.layers.Dense(4)(x)
        out = L.ScaledDotProductAttention(learnable=True)(q, x, x, mask=m)
        return L.GraphReadout("mean")(out, m)

    def cross(x, m):
        slots = L.LatentAttentionPooling(3, num_heads=2, key_dim=2)(x, mask=m)
        q = keras.layers.Dense(5)(L.GraphReadout("mean")(x, m))[:, None, :]
        return keras.layers.Flatten()(L.MultiHeadCrossAttention(2, 3, output_dim=4)(q, slots))

    def ssm_scan(x, m):
        return L.GraphReadout("mean")(L.DiagonalStateSpace(6, output_dim=5, mode="scan")(x, mask=m), m)

    def ssm_conv(x, m):
        return L.GraphReadout("mean")(L.DiagonalStateSpace(6, output_dim=5, mode="conv")(x, mask=m), m)

    def inorm(x, m):
        return L.GraphReadout("mean")(L.InstanceNormalization()(x, mask=m), m)

    def graph_model(kind):
        def factory():
            inp = _graph_inputs()
            if kind == "gin":
                h = L.GINConv(8)(inp["nodes"], inp["edge_index"], node_mask=inp["node_mask"], edge_mask=inp["edge_mask"])
                h = L.GINConv(8, learn_eps=False)(h, inp["edge_index"], node_mask=inp["node_mask"], edge_mask=inp["edge_mask"])
                g = L.GraphReadout("sum")(h, inp["node_mask"])
            else:
                h = L.EdgeConditionedConv(8, edge_network_units=4)(
                    inp["nodes"], inp["edge_index"], inp["edge_features"],
                    node_mask=inp["node_mask"], edge_mask=inp["edge_mask"],
                )
                g = keras.layers.Concatenate()(
                    [
                        L.GraphReadout("attention", units=4)(h, inp["node_mask"]),
                        L.GraphReadout("max")(h, inp["node_mask"]),
                    ]
                )
            return keras.Model(inp, keras.layers.Dense(1)(g))

        return factory

    def siamese_factory():
        enc_in = keras.Input((None, 4))
        enc = keras.Model(
            enc_in,
            keras.layers.GlobalAveragePooling1D()(L.ResidualBlock(6, normalization=None)(enc_in)),
            name="encoder",
        )
        a = keras.Input((None, 4), name="a")
        b = keras.Input((None, 4), name="b")
        d = L.SiameseEncoder(enc, combine="difference")(a, b)
        return keras.Model({"a": a, "b": b}, keras.layers.Dense(1)(d))

    def siamese_inputs(rng):
        return {"a": _seq_inputs(rng), "b": _seq_inputs(rng)}

    def pos_model(kind):
        def layer_fn(x):
            enc = L.SinusoidalPositionalEncoding() if kind == "sin" else L.LearnedPositionalEncoding(64)
            return enc(keras.layers.Dense(6)(x))

        return lambda: _seq_model(layer_fn)

    def kmer_factory():
        tokens = keras.Input((None,), dtype="int32", name="tokens")
        comp = L.KmerComposition(4, k=[1, 2], scale=True)(tokens)
        return keras.Model(tokens, keras.layers.Dense(1)(comp))

    def kmer_inputs(rng):
        tokens = rng.integers(1, 6, size=(BATCH, 12)).astype("int32")  # 5 = not a letter
        tokens[1, 7:] = 0
        return tokens

    return {
        "KmerComposition": (kmer_factory, kmer_inputs),
        "ResidualBlock": (lambda: _seq_model(lambda x: L.ResidualBlock(6, dilation_rate=2, causal=True)(x)), seq),
        "ResidualBlock2D": (lambda: _img_model(lambda x: L.ResidualBlock(5, rank=2, normalization="instance")(x)), img),
        "DilatedResidualStack": (lambda: _seq_model(lambda x: L.DilatedResidualStack(6, num_layers=2, dropout=0.1)(x)), seq),
        "DepthwiseSeparableBlock": (lambda: _seq_model(lambda x: L.DepthwiseSeparableBlock(6, strides=2)(x)), seq),
        "DepthwiseSeparableBlock2D": (lambda: _img_model(lambda x: L.DepthwiseSeparableBlock(6, rank=2, normalization=None)(x)), img),
        "InceptionBlock": (lambda: _seq_model(lambda x: L.InceptionBlock(2, 3, 2, 2, bottleneck=2)(x)), seq),
        "InceptionBlock2D": (lambda: _img_model(lambda x: L.InceptionBlock(2, 3, 2, 2, bottleneck=(2, 3), rank=2)(x)), img),
        "ScaledDotProductAttention": (masked_seq_model(sdpa), mask_seq),
        "MultiHeadSelfAttention": (masked_seq_model(mhsa), mask_seq),
        "WindowedAttention": (masked_seq_model(windowed), mask_seq),
        "AttentionPooling": (masked_seq_model(lambda x, m: L.AttentionPooling(units=5)(x, mask=m)[0]), mask_seq),
        "MultiHeadCrossAttention": (masked_seq_model(cross), mask_seq),
        "SinusoidalPositionalEncoding": (pos_model("sin"), seq),
        "LearnedPositionalEncoding": (pos_model("learned"), seq),
        "InstanceNormalization": (masked_seq_model(inorm), mask_seq),
        "DiagonalStateSpaceScan": (masked_seq_model(ssm_scan), mask_seq),
        "DiagonalStateSpaceConv": (masked_seq_model(ssm_conv), mask_seq),
        "GINConv": (graph_model("gin"), lambda rng: _graph_batch(rng)),
        "EdgeConditionedConv": (graph_model("ecc"), lambda rng: _graph_batch(rng)),
        "SiameseEncoder": (siamese_factory, siamese_inputs),
    }


# Layer classes each case exercises (used to check that every public layer is covered).
COVERS = {
    "KmerComposition": ["KmerComposition"],
    "ResidualBlock": ["ResidualBlock"],
    "ResidualBlock2D": ["ResidualBlock", "InstanceNormalization"],
    "DilatedResidualStack": ["DilatedResidualStack"],
    "DepthwiseSeparableBlock": ["DepthwiseSeparableBlock"],
    "DepthwiseSeparableBlock2D": ["DepthwiseSeparableBlock"],
    "InceptionBlock": ["InceptionBlock"],
    "InceptionBlock2D": ["InceptionBlock"],
    "ScaledDotProductAttention": ["ScaledDotProductAttention", "GraphReadout"],
    "MultiHeadSelfAttention": ["MultiHeadSelfAttention", "AttentionPooling"],
    "WindowedAttention": ["WindowedAttention", "AttentionPooling"],
    "AttentionPooling": ["AttentionPooling"],
    "MultiHeadCrossAttention": ["MultiHeadCrossAttention", "LatentAttentionPooling", "GraphReadout"],
    "SinusoidalPositionalEncoding": ["SinusoidalPositionalEncoding"],
    "LearnedPositionalEncoding": ["LearnedPositionalEncoding"],
    "InstanceNormalization": ["InstanceNormalization"],
    "DiagonalStateSpaceScan": ["DiagonalStateSpace"],
    "DiagonalStateSpaceConv": ["DiagonalStateSpace"],
    "GINConv": ["GINConv", "GraphReadout"],
    "EdgeConditionedConv": ["EdgeConditionedConv", "GraphReadout"],
    "SiameseEncoder": ["SiameseEncoder", "ResidualBlock"],
}


def build_combined(cases=None):
    """One model running every case side by side: inputs ``{"<case>__<input>": ...}``,
    output ``[B, len(cases)]`` (column i = case i in ``cases`` order).

    Returns ``(model, make_inputs(rng) -> dict, names)``. One model keeps the number of
    traced functions (and so the test time) low when every layer must be run under a
    strategy or XLA.
    """
    cases = cases or build_cases()
    names = list(cases)
    inputs, outputs, specs = {}, [], []
    for name in names:
        factory, make = cases[name]
        sub = factory()
        flat = keras.tree.flatten(sub.input)
        new = [
            keras.Input(batch_shape=t.shape, dtype=t.dtype, name=f"{name}__{i}")
            for i, t in enumerate(flat)
        ]
        for t in new:
            inputs[t.name] = t
        outputs.append(sub(keras.tree.pack_sequence_as(sub.input, new)))
        specs.append((name, make, [t.name for t in new]))
    model = keras.Model(inputs, keras.layers.Concatenate(name="all_cases")(outputs))

    def make_inputs(rng):
        x = {}
        for _, make, keys in specs:
            for key, value in zip(keys, keras.tree.flatten(make(rng))):
                x[key] = value
        return x

    return model, make_inputs, names


# One case per layer class (together they cover every public layer, see COVERS): used where
# each case is expensive, e.g. under MirroredStrategy.
ONE_PER_CLASS = [
    "KmerComposition",
    "ResidualBlock2D",
    "DilatedResidualStack",
    "DepthwiseSeparableBlock",
    "InceptionBlock",
    "ScaledDotProductAttention",
    "MultiHeadSelfAttention",
    "WindowedAttention",
    "MultiHeadCrossAttention",
    "SinusoidalPositionalEncoding",
    "LearnedPositionalEncoding",
    "DiagonalStateSpaceScan",
    "GINConv",
    "EdgeConditionedConv",
    "SiameseEncoder",
]
