"""Reference predictors a drug-target affinity model must beat, on the same splits.

* :func:`additive_baseline` -- ``y ~ mean + drug effect + protein effect`` (alternating least
  squares on the training pairs): what is left when a model learns only how promiscuous a
  drug and how druggable a target is, no interaction.
* :func:`ecfp_mlp_baseline` -- ECFP4 fingerprints of the ligands (RDKit Morgan, radius 2,
  2,048 bits) and composition features of the proteins (amino-acid and dipeptide
  frequencies, :func:`protein_composition`), concatenated per pair and fed to an MLP
  trained with Adam and early stopping on the same monitor as the GNN (``val_loss`` of
  the validation split, best weights restored).

Both take a :class:`~pipelines.drugscreen.data.DTAData` and the training / validation
row indices of its pairs and return :func:`~pipelines.drugscreen.metrics.regression_metrics`
of the validation rows.

Example:
    >>> from pipelines.drugscreen.baselines import ecfp4, protein_composition
    >>> ecfp4(["CCO", "c1ccccc1"]).shape
    (2, 2048)
    >>> protein_composition(["ACDA"]).shape
    (1, 420)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from pipelines.drugscreen.data import DTAData
from pipelines.drugscreen.metrics import regression_metrics
from sciarch.io.sequences import STANDARD_AMINO_ACIDS, tokenize_proteins

#: the 20 standard amino acids (composition features ignore other letters), in token order
AMINO_ACIDS = STANDARD_AMINO_ACIDS


def ecfp4(smiles: Sequence[str], n_bits: int = 2048, radius: int = 2) -> np.ndarray:
    """Morgan (ECFP4 for ``radius=2``) bit vectors ``uint8 [n, n_bits]``; an unparsable SMILES
    gets an all-zero row (:func:`sciarch.io.molecules.morgan_fingerprints`, the fingerprint a
    model with ``model.ligand_fingerprint`` reads too)."""
    from sciarch.io.molecules import morgan_fingerprints

    return morgan_fingerprints(smiles, n_bits, radius)


def protein_composition(sequences: Sequence[str]) -> np.ndarray:
    """Amino-acid (20) and dipeptide (400) frequencies ``float32 [n, 420]`` of whole sequences
    (no truncation); each block sums to 1 over the standard residues of the sequence.

    The counting is :class:`sciarch.layers.KmerComposition`'s, the layer behind the model's
    ``protein_composition`` option (which sees the tokens truncated at
    ``data.max_protein_length``)."""
    from sciarch.layers import KmerComposition

    sequences = list(sequences)
    tokens = tokenize_proteins(sequences, max((len(s) for s in sequences), default=1))  # one token per letter
    layer = KmerComposition(len(AMINO_ACIDS), k=[1, 2], first_token=1)
    return np.asarray(layer(tokens), np.float32).reshape(len(sequences), 420)


def additive_baseline(data: DTAData, tr: np.ndarray, va: np.ndarray, iterations: int = 20) -> dict:
    """Validation metrics of ``y ~ mean + drug effect + protein effect`` fitted on ``tr``
    (a drug or protein unseen in training gets effect 0)."""
    P = data.pairs
    mu = float(P.y[tr].mean())
    dm = np.zeros(len(data.graphs))
    pm = np.zeros(len(data.protein_ids))
    for _ in range(iterations):
        r = P.y[tr] - mu - pm[P.protein[tr]]
        dm = np.bincount(P.drug[tr], r, len(dm)) / np.maximum(np.bincount(P.drug[tr], None, len(dm)), 1)
        r = P.y[tr] - mu - dm[P.drug[tr]]
        pm = np.bincount(P.protein[tr], r, len(pm)) / np.maximum(np.bincount(P.protein[tr], None, len(pm)), 1)
    return regression_metrics(P.y[va], mu + dm[P.drug[va]] + pm[P.protein[va]])


def _standardise(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    mean = x[rows].mean(axis=0)
    sd = x[rows].std(axis=0)
    return ((x - mean) / np.where(sd > 0, sd, 1.0)).astype(np.float32)


def ecfp_mlp_baseline(
    data: DTAData,
    tr: np.ndarray,
    va: np.ndarray,
    *,
    hidden: Sequence[int] = (1024, 512),
    dropout: float = 0.2,
    epochs: int = 100,
    patience: int = 10,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
    verbose: int = 0,
    drug_features: str = "ecfp4",
    protein_features: str = "composition",
) -> dict:
    """Validation metrics of an MLP on ``[ECFP4(drug), composition(protein)]`` trained on ``tr``.

    ``drug_features`` / ``protein_features`` = ``"identity"`` replace the ECFP4 bits / the
    composition by a one-hot code of the drug / protein (a feature ablation: what the MLP gets
    from the features rather than from telling the drugs and proteins apart).

    The first layer of the MLP is applied to the feature tables of the distinct drugs and
    proteins and gathered per pair (``W [f_d; f_p] = W_d f_d + W_p f_p``): the same network as
    one Dense layer on the concatenated pair features, at a fraction of the cost. Returns the
    metrics plus ``epochs`` (trained) and ``best_epoch``.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    used_drugs = np.unique(data.pairs.drug[tr])
    used_prots = np.unique(data.pairs.protein[tr])
    tables = {
        "drug_features": {"ecfp4": lambda: ecfp4(data.smiles), "identity": lambda: np.eye(len(data.smiles))},
        "protein_features": {"composition": lambda: protein_composition(data.sequences),
                             "identity": lambda: np.eye(len(data.sequences))},
    }
    for name, value in (("drug_features", drug_features), ("protein_features", protein_features)):
        if value not in tables[name]:
            raise ValueError(f"{name} must be one of {sorted(tables[name])}, got {value!r}")
    drug_raw = tables["drug_features"][drug_features]().astype(np.float32)
    prot_raw = tables["protein_features"][protein_features]().astype(np.float32)
    drug_x = _standardise(drug_raw, used_drugs)
    prot_x = _standardise(prot_raw, used_prots)
    y = data.pairs.y.astype(np.float32)

    d_in = keras.Input((), dtype="int32", name="drug")
    p_in = keras.Input((), dtype="int32", name="protein")
    drug_table = keras.layers.Embedding(len(drug_x), drug_x.shape[1], trainable=False, name="ecfp4")
    prot_table = keras.layers.Embedding(len(prot_x), prot_x.shape[1], trainable=False, name="composition")
    # every layer named: Keras' automatic names would collide with them in a second call
    z = keras.layers.Concatenate(name="pair_features")([drug_table(d_in), prot_table(p_in)])
    for i, u in enumerate(hidden):
        z = keras.layers.Dense(u, activation="relu", name=f"mlp_dense_{i}")(z)
        if dropout:
            z = keras.layers.Dropout(dropout, seed=seed + i, name=f"mlp_dropout_{i}")(z)
    out = keras.layers.Dense(1, bias_initializer=keras.initializers.Constant(float(y[tr].mean())), name="affinity")(z)
    model = keras.Model([d_in, p_in], out, name="ecfp_mlp")
    drug_table.set_weights([drug_x])
    prot_table.set_weights([prot_x])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")

    def inputs(rows, shuffle):
        ds = tf.data.Dataset.from_tensor_slices(
            ((data.pairs.drug[rows].astype(np.int32), data.pairs.protein[rows].astype(np.int32)), y[rows, None])
        )
        if shuffle:
            ds = ds.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).prefetch(2)

    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    hist = model.fit(inputs(tr, True), validation_data=inputs(va, False), epochs=epochs, callbacks=[stop],
                     verbose=verbose)
    pred = model.predict(inputs(va, False), verbose=0).reshape(-1)
    metrics = regression_metrics(y[va], pred)
    losses = hist.history["val_loss"]
    metrics["epochs"] = len(losses)
    metrics["best_epoch"] = int(np.argmin(losses)) + 1
    return metrics
