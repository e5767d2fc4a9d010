"""Drug-target affinity models: ligand GNN || protein 1D-CNN -> late fusion -> regression head.

The absolute-affinity model is a functional ``keras.Model`` with inputs

* the five graph-batch keys of CONTRIBUTING.md (``atom_features``, ``atom_mask``,
  ``edge_index``, ``bond_features``, ``bond_mask``) and
* ``protein_tokens`` int32 ``[B, L]`` (:mod:`sciarch.io.sequences` ids, 0 = padding),

composed of three named nested functional sub-models, so that a screen can encode the
target once and run only the ligand side per batch:

* ``model.get_layer(LIGAND_ENCODER)`` (``"ligand_encoder"``): graph dict -> ligand embedding ``[B, D_l]``
  (atom embedding -> ``depth`` x GINConv / EdgeConditionedConv with residual sums ->
  concatenated :class:`~sciarch.layers.GraphReadout` s -> Dense [+ linear projection of the
  molecule's Morgan fingerprint, input ``ligand_fingerprint [B, bits]``, with
  ``ligand_fingerprint: bits``; zero at the start] -> ReLU);
* ``model.get_layer(PROTEIN_ENCODER)`` (``"protein_encoder"``): ``protein_tokens`` -> ``[B, D_p]``
  (token embedding -> Conv1D stem -> 1D CNN motif detectors (plain convolutions as in
  DeepDTA, or a :class:`~sciarch.layers.DilatedResidualStack`) -> global max pool
  [|| standardised residue / dipeptide frequencies, :class:`~sciarch.layers.KmerComposition`,
  with ``protein_composition: [1, 2]``] -> Dense);
* ``model.get_layer(AFFINITY_HEAD)`` (``"affinity_head"``): ``[ligand_emb, protein_emb]`` -> ``[B, 1]``.

With ``fusion: cross_attention`` the protein encoder ends in a
:class:`~sciarch.layers.LatentAttentionPooling` (``protein_slots`` learned queries over the
unpadded residues) instead of the max pool, its output is the flattened slots, and the head lets
the ligand embedding attend over them (:class:`~sciarch.layers.MultiHeadCrossAttention`); the
three sub-models keep their one-vector interfaces, so screening and the Siamese model are unchanged.

Between each input and its encoder sits :class:`UniqueRows`: the encoder runs once per
*distinct* protein / ligand of the batch and the embeddings are gathered back, so batches
grouped by protein (see :mod:`pipelines.drugscreen.batching`) cost one CNN pass per protein
instead of one per pair, and Davis' 68 ligands are encoded at most 68 times per batch.
The result is exactly the same as encoding every row (dropout aside, which then acts per
distinct protein / ligand rather than per pair).

The Siamese ΔΔG model (:func:`build_siamese_model`) shares the protein encoder between the
wild-type and the mutant sequence through :class:`~sciarch.layers.SiameseEncoder` and
predicts ``ΔpKd = pKd(mutant) - pKd(wild type)`` with an antisymmetric head
(``g(l, s, d) - g(l, s, -d)``), so swapping the two sequences flips the sign exactly.

Example:
    >>> from pipelines.drugscreen.model import SUB_MODELS, DrugScreenModelConfig, build_affinity_model
    >>> cfg = DrugScreenModelConfig(gnn_units=16, gnn_depth=1, protein_filters=[8], head_units=[8])
    >>> model = build_affinity_model(cfg)
    >>> [model.get_layer(n).name for n in SUB_MODELS]
    ['ligand_encoder', 'protein_encoder', 'affinity_head']
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from pipelines.drugscreen.config import DrugScreenModelConfig  # noqa: F401  (the model section, TF-free)
from sciarch.io.molecules import (
    DEFAULT_GRAPH_FEATURES,
    FINGERPRINT_KEY,
    GRAPH_FEATURE_VERSIONS,
    GRAPH_KEYS,
    collate_graphs,
    feature_dims,
    featurize_smiles,
    morgan_fingerprints,
)
from sciarch.io.sequences import STANDARD_AMINO_ACIDS, VOCAB_SIZE
from sciarch.layers import (
    DilatedResidualStack,
    EdgeConditionedConv,
    GINConv,
    GraphReadout,
    KmerComposition,
    LatentAttentionPooling,
    MultiHeadCrossAttention,
    SiameseEncoder,
)

#: names of the affinity model's three sub-models (``model.get_layer(NAME)``); a screen
#: (:mod:`pipelines.drugscreen.screening`), the alanine scan and the Siamese model use them
LIGAND_ENCODER = "ligand_encoder"
PROTEIN_ENCODER = "protein_encoder"
AFFINITY_HEAD = "affinity_head"
SUB_MODELS = (LIGAND_ENCODER, PROTEIN_ENCODER, AFFINITY_HEAD)


# ----------------------------------------------------------------------------- helper layer
@keras.saving.register_keras_serializable(package="sciarch.drugscreen")
class UniqueRows(keras.layers.Layer):
    """Find the distinct samples of a batch: ``(keep [U], inverse [B])``.

    Called on one tensor or a list of tensors sharing the batch axis; sample ``i`` is the
    concatenation of every tensor's row ``i`` (flattened). ``keep`` lists the first
    occurrence of each distinct sample in batch order and ``inverse[i]`` is the position in
    ``keep`` of sample ``i``'s representative, so for every input
    ``x == take(take(x, keep), inverse)`` exactly (samples are compared exactly; a hash
    only narrows the candidates). Lets an expensive encoder run once per distinct sample:
    ``take(encoder(take(x, keep)), inverse)``.

    Args:
        **kwargs: standard Layer arguments.

    Example:
        >>> import numpy as np
        >>> keep, inv = UniqueRows()(np.array([[1, 2], [3, 4], [1, 2]], "int32"))
        >>> np.asarray(keep).tolist(), np.asarray(inv).tolist()
        ([0, 1], [0, 1, 0])
    """

    def call(self, inputs):
        parts = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        b = ops.shape(parts[0])[0]
        flat = []
        for x in parts:
            x = ops.reshape(x, (b, -1))
            if "float" in str(x.dtype):  # one-hot / mask values: compare exactly via scaled ints
                x = ops.cast(ops.round(x * 1024.0), "int64")
            flat.append(ops.cast(x, "int64"))
        x = ops.concatenate(flat, axis=1) if len(flat) > 1 else flat[0]
        pos = ops.arange(ops.shape(x)[1], dtype="int64")
        k1 = ops.sum(x * ((pos * 7919 + 13) % 1000003 + 1), axis=1)
        k2 = ops.sum(x * ((pos * 104729 + 17) % 999983 + 1), axis=1)
        same = ops.logical_and(ops.equal(k1[:, None], k1[None, :]), ops.equal(k2[:, None], k2[None, :]))
        first = ops.cast(ops.argmax(ops.cast(same, "int32"), axis=1), "int32")
        idx = ops.arange(b, dtype="int32")
        exact = ops.all(ops.equal(x, ops.take(x, first, axis=0)), axis=1)
        first = ops.where(exact, first, idx)  # hash collision -> the sample stands alone
        is_first = ops.equal(first, idx)
        keep = ops.reshape(ops.cast(ops.nonzero(is_first)[0], "int32"), (-1,))
        rank = ops.cumsum(ops.cast(is_first, "int32")) - 1
        return keep, ops.take(rank, first, axis=0)

    def compute_output_spec(self, inputs):
        first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        return keras.KerasTensor((None,), dtype="int32"), keras.KerasTensor((first.shape[0],), dtype="int32")


def _take_all(tensors: dict, index) -> dict:
    return {k: ops.take(v, index, axis=0) for k, v in tensors.items()}


# ----------------------------------------------------------------------------- inputs
def graph_inputs(
    graph_features: str = DEFAULT_GRAPH_FEATURES, encoder: keras.Model | None = None, fingerprint_bits: int = 0
) -> dict:
    """Symbolic inputs of a padded graph batch (names = the graph-batch keys), sized for the
    feature version ``graph_features`` or for the inputs of a ligand ``encoder``; with
    ``fingerprint_bits`` (or an encoder that reads one) also ``ligand_fingerprint [B, bits]``."""
    if encoder is not None:
        atom_dim = encoder.input["atom_features"].shape[-1]
        bond_dim = encoder.input["bond_features"].shape[-1]
        fingerprint_bits = fingerprint_bits_of(encoder)
    else:
        atom_dim, bond_dim = feature_dims(graph_features)
    g = {
        "atom_features": keras.Input((None, atom_dim), dtype="float32", name="atom_features"),
        "atom_mask": keras.Input((None,), dtype="float32", name="atom_mask"),
        "edge_index": keras.Input((None, 2), dtype="int32", name="edge_index"),
        "bond_features": keras.Input((None, bond_dim), dtype="float32", name="bond_features"),
        "bond_mask": keras.Input((None,), dtype="float32", name="bond_mask"),
    }
    if fingerprint_bits:
        g[FINGERPRINT_KEY] = keras.Input((fingerprint_bits,), dtype="float32", name=FINGERPRINT_KEY)
    return g


def fingerprint_bits_of(encoder: keras.Model) -> int:
    """Bits of the Morgan fingerprint a ligand encoder (or an affinity model, or an ensemble of
    them) reads beside the graph (0: graph only)."""
    inp = encoder.input
    return int(inp[FINGERPRINT_KEY].shape[-1]) if isinstance(inp, dict) and FINGERPRINT_KEY in inp else 0


def ligand_batch(encoder: keras.Model, smiles) -> dict:
    """The input dict of a ligand ``encoder`` for the molecules ``smiles`` (its graph feature
    version, plus the Morgan fingerprint when it reads one); ``FeaturizationError`` names a
    SMILES that cannot be featurised."""
    version = graph_features_of(encoder)
    batch = collate_graphs([featurize_smiles(s, features=version) for s in smiles])
    bits = fingerprint_bits_of(encoder)
    if bits:
        batch[FINGERPRINT_KEY] = morgan_fingerprints(list(smiles), bits).astype(np.float32)
    return batch


def graph_features_of(encoder: keras.Model) -> str:
    """The graph feature version ("v1" / "v2") a ligand encoder was built for (from its input sizes)."""
    dims = (encoder.input["atom_features"].shape[-1], encoder.input["bond_features"].shape[-1])
    for version in GRAPH_FEATURE_VERSIONS:
        if feature_dims(version) == dims:
            return version
    raise ValueError(f"ligand encoder '{encoder.name}' takes atom/bond features of sizes {dims}, which match no graph "
                     f"feature version ({', '.join(f'{v}: {feature_dims(v)}' for v in GRAPH_FEATURE_VERSIONS)})")


# ----------------------------------------------------------------------------- encoders
def build_ligand_encoder(
    cfg: DrugScreenModelConfig, name: str = LIGAND_ENCODER, graph_features: str = DEFAULT_GRAPH_FEATURES
) -> keras.Model:
    """Graph dict -> ``[B, ligand_embedding]``; invariant to atom order. With
    ``cfg.ligand_fingerprint`` the dict also holds the molecule's Morgan fingerprint, whose
    linear projection (zero at the start) is added to the readout's before the ReLU."""
    g = graph_inputs(graph_features, fingerprint_bits=cfg.ligand_fingerprint)
    h = keras.layers.Dense(cfg.gnn_units, name="atom_embedding")(g["atom_features"])
    for i in range(cfg.gnn_depth):
        if cfg.gnn == "gin":
            m = GINConv(cfg.gnn_units, name=f"gin_{i}")(
                h, g["edge_index"], node_mask=g["atom_mask"], edge_mask=g["bond_mask"]
            )
        else:
            m = EdgeConditionedConv(cfg.gnn_units, edge_network_units=cfg.gnn_units // 2 or 1, name=f"ecc_{i}")(
                h, g["edge_index"], g["bond_features"], node_mask=g["atom_mask"], edge_mask=g["bond_mask"]
            )
        h = keras.layers.Add(name=f"residual_{i}")([h, m])
        h = keras.layers.LayerNormalization(name=f"norm_{i}")(h)
    pooled = [
        GraphReadout(mode, units=cfg.gnn_units if mode == "attention" else None, name=f"readout_{mode}")(
            h, g["atom_mask"]
        )
        for mode in cfg.readout
    ]
    z = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="readouts")(pooled)
    if cfg.ligand_fingerprint:
        # one Dense over [readout, fingerprint], split in two: the fingerprint's part starts at
        # zero, so the encoder starts as the graph-only one (and can start from its weights,
        # ``train.init_weights``) and learns how much the fingerprint adds
        z = keras.layers.Dense(cfg.ligand_embedding, name="ligand_projection")(z)
        fp = keras.layers.Dense(cfg.ligand_embedding, use_bias=False, kernel_initializer="zeros",
                                name="fingerprint_projection")(g[FINGERPRINT_KEY])
        z = keras.layers.Activation("relu", name="ligand_activation")(
            keras.layers.Add(name="graph_plus_fingerprint")([z, fp]))
    else:
        z = keras.layers.Dense(cfg.ligand_embedding, activation="relu", name="ligand_projection")(z)
    if cfg.dropout:
        z = keras.layers.Dropout(cfg.dropout, name="ligand_dropout")(z)
    return keras.Model(g, z, name=name)


def _composition_features(cfg: DrugScreenModelConfig, tokens, reference_tokens=None):
    """Standardised k-mer composition of the standard amino acids of ``tokens`` (KmerComposition ->
    fixed Normalization). The mean and variance come from ``reference_tokens`` (the training
    proteins' token rows) when given, else from a uniform composition (mean 1, variance 1);
    a feature constant over the reference proteins keeps variance 1, so a protein unlike all
    of them is not blown up."""
    comp = KmerComposition(
        len(STANDARD_AMINO_ACIDS), k=list(cfg.protein_composition), first_token=1, scale=True, name="composition"
    )
    if reference_tokens is not None and len(reference_tokens):
        ref = np.concatenate([np.asarray(comp(chunk)) for chunk in np.array_split(
            np.asarray(reference_tokens, np.int32), max(1, len(reference_tokens) // 256))])
        mean = ref.mean(axis=0)
        variance = ref.var(axis=0)
        variance = np.where(variance > 1e-6, variance, 1.0)
    else:
        mean = np.ones(comp.output_dim, np.float32)
        variance = np.ones(comp.output_dim, np.float32)
    norm = keras.layers.Normalization(mean=mean.tolist(), variance=variance.tolist(), name="composition_norm")
    return norm(comp(tokens))


def build_protein_encoder(
    cfg: DrugScreenModelConfig, name: str = PROTEIN_ENCODER, composition_tokens=None
) -> keras.Model:
    """``protein_tokens [B, L]`` -> ``[B, protein_embedding]`` (any L).

    ``composition_tokens``: token rows of the training proteins, the standardisation reference
    of the composition features (``cfg.protein_composition``; without them the features are
    centred on a uniform composition, see :func:`_composition_features`)."""
    tokens = keras.Input((None,), dtype="int32", name="protein_tokens")
    x = keras.layers.Embedding(VOCAB_SIZE, cfg.protein_embedding_dim, name="token_embedding")(tokens)
    if cfg.protein_token_norm:
        x = keras.layers.LayerNormalization(name="token_norm")(x)
    if cfg.protein_encoder == "cnn":
        for i, f in enumerate(cfg.protein_filters):
            stride = cfg.protein_stem_stride if i == 0 else 1
            x = keras.layers.Conv1D(f, cfg.protein_kernel, strides=stride, padding="same", activation="relu", name=f"conv_{i}")(x)
    else:
        f = cfg.protein_filters[0]
        x = keras.layers.Conv1D(
            f, cfg.protein_kernel, strides=cfg.protein_stem_stride, padding="same", activation="relu", name="stem"
        )(x)
        x = DilatedResidualStack(
            f, kernel_size=3, num_layers=cfg.protein_layers, normalization="layer", name="dilated_stack"
        )(x)
    if cfg.fusion == "cross_attention":
        # residue features -> protein_slots learned-query summaries, flattened [B, slots * embedding]
        # so every consumer of the encoder (screen, alanine scan, Siamese) still sees one vector per protein
        residues = keras.layers.Dense(cfg.protein_embedding, activation="relu", name="residue_projection")(x)
        valid = ops.cast(ops.not_equal(tokens, 0), "float32")
        if cfg.protein_stem_stride > 1:  # mask of the downsampled positions
            valid = keras.layers.MaxPooling1D(cfg.protein_stem_stride, padding="same", name="mask_pool")(valid[..., None])[..., 0]
        slots = LatentAttentionPooling(
            cfg.protein_slots, cfg.attention_heads, attention_key_dim(cfg),
            output_dim=cfg.protein_embedding, name="protein_slots",
        )(residues, mask=valid)
        x = keras.layers.LayerNormalization(name="slot_norm")(slots)
        x = keras.layers.Flatten(name="slots_flat")(x)
    else:
        x = keras.layers.GlobalMaxPooling1D(name="max_pool")(x)
        if cfg.protein_composition:
            x = keras.layers.Concatenate(name="protein_features")(
                [x, _composition_features(cfg, tokens, composition_tokens)]
            )
        x = keras.layers.Dense(cfg.protein_embedding, activation="relu", name="protein_projection")(x)
    if cfg.dropout:
        x = keras.layers.Dropout(cfg.dropout, name="protein_dropout")(x)
    return keras.Model(tokens, x, name=name)


def protein_output_dim(cfg: DrugScreenModelConfig) -> int:
    """Width of the protein encoder's output vector (``protein_slots * protein_embedding`` for
    cross-attention fusion, else ``protein_embedding``)."""
    return cfg.protein_embedding * (cfg.protein_slots if cfg.fusion == "cross_attention" else 1)


def attention_key_dim(cfg: DrugScreenModelConfig) -> int:
    """Per-head key width of the cross-attention layers (``protein_embedding / attention_heads``, at least 1)."""
    return max(1, cfg.protein_embedding // cfg.attention_heads)


def build_affinity_head(cfg: DrugScreenModelConfig, output_bias: float = 0.0, name: str = AFFINITY_HEAD) -> keras.Model:
    """``[ligand_emb, protein_emb]`` -> affinity ``[B, 1]`` (late fusion or cross-attention + MLP)."""
    lig = keras.Input((cfg.ligand_embedding,), name="ligand_embedding")
    prot = keras.Input((protein_output_dim(cfg),), name="protein_embedding")
    if cfg.fusion == "cross_attention":
        # the ligand embedding is the query; the protein's latent slots are keys and values
        slots = keras.layers.Reshape((cfg.protein_slots, cfg.protein_embedding), name="slots")(prot)
        query = keras.layers.Reshape((1, cfg.ligand_embedding), name="ligand_query")(lig)
        attended = MultiHeadCrossAttention(
            cfg.attention_heads, attention_key_dim(cfg),
            output_dim=cfg.protein_embedding, name="ligand_to_protein",
        )(query, slots)
        attended = keras.layers.Flatten(name="attended_protein")(attended)
        pooled = keras.layers.GlobalAveragePooling1D(name="slot_mean")(slots)
        z = keras.layers.Concatenate(name="fusion")([lig, attended, pooled])
    else:
        z = keras.layers.Concatenate(name="fusion")([lig, prot])
    if cfg.fusion == "concat_product":
        if cfg.ligand_embedding != cfg.protein_embedding:
            raise ValueError("fusion 'concat_product' needs ligand_embedding == protein_embedding")
        z = keras.layers.Concatenate(name="fusion_product")([z, keras.layers.Multiply(name="product")([lig, prot])])
    if cfg.head_norm:
        z = keras.layers.LayerNormalization(name="fusion_norm")(z)
    for i, u in enumerate(cfg.head_units):
        z = keras.layers.Dense(u, activation=cfg.head_activation, name=f"dense_{i}")(z)
        if cfg.dropout:
            z = keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}")(z)
    # zero kernel + bias at the label mean: training starts from the mean predictor
    out = keras.layers.Dense(
        1, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(output_bias), name="affinity"
    )(z)
    return keras.Model([lig, prot], out, name=name)


def affinity_members(model: keras.Model) -> list[keras.Model]:
    """The affinity models inside ``model``: ``[model]`` itself, or the members of an ensemble
    (nested models that hold the sub-models, in the ensemble's order)."""
    names = {layer.name for layer in model.layers}
    if LIGAND_ENCODER in names or not any(hasattr(layer, "layers") for layer in model.layers):
        return [model]
    members = [layer for layer in model.layers
               if hasattr(layer, "layers") and LIGAND_ENCODER in {sub.name for sub in layer.layers}]
    return members or [model]


def sub_models(model: keras.Model) -> tuple[keras.Model, keras.Model, keras.Model]:
    """``(ligand encoder, protein encoder, head)`` of one affinity model (``ValueError`` when one is missing)."""
    return tuple(model.get_layer(n) for n in SUB_MODELS)


def unique_rows_encoder(encoder: keras.Model, name: str = "unique_protein_encoder") -> keras.Model:
    """Wrap ``encoder`` so it runs once per distinct row of its token input."""
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    keep, inverse = UniqueRows(name="unique_rows")(tokens)
    return keras.Model(tokens, ops.take(encoder(ops.take(tokens, keep, axis=0)), inverse, axis=0), name=name)


def build_affinity_model(
    cfg: DrugScreenModelConfig,
    output_bias: float = 0.0,
    graph_features: str = DEFAULT_GRAPH_FEATURES,
    composition_tokens=None,
) -> keras.Model:
    """The full absolute-affinity model (see the module docstring for its structure); the ligand
    inputs are sized for the graph feature version ``graph_features``; ``composition_tokens``
    (the training proteins' token rows) standardise the protein composition features."""
    ligand_encoder = build_ligand_encoder(cfg, graph_features=graph_features)
    protein_encoder = build_protein_encoder(cfg, composition_tokens=composition_tokens)
    head = build_affinity_head(cfg, output_bias)
    g = graph_inputs(graph_features, fingerprint_bits=cfg.ligand_fingerprint)
    tokens = keras.Input((None,), dtype="int32", name="protein_tokens")
    if cfg.unique_ligands:
        keep_l, inverse_l = UniqueRows(name="unique_ligands")([g[k] for k in (*GRAPH_KEYS, FINGERPRINT_KEY) if k in g])
        lig = ops.take(ligand_encoder(_take_all(g, keep_l)), inverse_l, axis=0)
    else:
        lig = ligand_encoder(g)
    if cfg.unique_proteins:
        keep_p, inverse_p = UniqueRows(name="unique_proteins")(tokens)
        prot = ops.take(protein_encoder(ops.take(tokens, keep_p, axis=0)), inverse_p, axis=0)
    else:
        prot = protein_encoder(tokens)
    out = head([lig, prot])
    return keras.Model({**g, "protein_tokens": tokens}, out, name="drug_target_affinity")


def build_siamese_model(
    cfg: DrugScreenModelConfig,
    ligand_encoder: keras.Model | None = None,
    protein_encoder: keras.Model | None = None,
) -> keras.Model:
    """Siamese ΔpKd model: inputs = graph keys + ``wt_tokens`` + ``mut_tokens``; output
    ``[B, 1]`` = predicted ``pKd(mutant) - pKd(wild type)``.

    The protein encoder (optionally the pre-trained one of an affinity model) is shared
    through :class:`SiameseEncoder`; the head is antisymmetric in (mutant, wild type).
    """
    ligand_encoder = ligand_encoder or build_ligand_encoder(cfg)
    protein_encoder = protein_encoder or build_protein_encoder(cfg)
    g = graph_inputs(encoder=ligand_encoder)
    wt = keras.Input((None,), dtype="int32", name="wt_tokens")
    mut = keras.Input((None,), dtype="int32", name="mut_tokens")
    lig = ligand_encoder(g)
    shared = unique_rows_encoder(protein_encoder) if cfg.unique_proteins else protein_encoder
    both = SiameseEncoder(shared, combine="concat", name="siamese_protein")(mut, wt)
    d = protein_encoder.output.shape[-1]
    e_mut, e_wt = both[:, :d], both[:, d:]
    diff = keras.layers.Subtract(name="mut_minus_wt")([e_mut, e_wt])
    neg = keras.layers.Subtract(name="wt_minus_mut")([e_wt, e_mut])
    context = keras.layers.Add(name="pair_context")([e_mut, e_wt])
    layers = []
    for i, u in enumerate(cfg.head_units):
        layers.append(keras.layers.Dense(u, activation="relu", name=f"ddg_dense_{i}"))
    final = keras.layers.Dense(1, use_bias=False, name="ddg_out")
    concat = keras.layers.Concatenate(name="ddg_features")

    def g_fn(delta):
        z = concat([lig, context, delta])
        for layer in layers:
            z = layer(z)
        return final(z)

    out = keras.layers.Subtract(name="delta_pkd")([g_fn(diff), g_fn(neg)])
    return keras.Model({**g, "wt_tokens": wt, "mut_tokens": mut}, out, name="siamese_ddg")
