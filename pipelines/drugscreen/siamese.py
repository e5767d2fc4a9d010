"""Siamese ΔΔG on Davis kinase mutants: predict ΔpKd = pKd(mutant) - pKd(wild type) directly,
and compare with subtracting two absolute predictions.

Pairs: for every Davis mutant construct whose mutation could be applied to its wild-type
sequence (:func:`pipelines.drugscreen.mutations.mutant_sequences`) and every drug measured on
both, one pair ``(drug, wild type, mutant, ΔpKd)``.

Split (no label leaks into training): a pair is **validation** when its mutant
measurement lies in the absolute model's validation split; it is **training** when both
measurements lie in the training split; pairs whose wild-type measurement is in the
validation split but whose mutant measurement is not are left out.

Both methods are scored on the same validation pairs: MSE, Pearson r, CI on ΔpKd, and
the sign accuracy on pairs with ``|ΔpKd| >= 0.5`` (does the model call resistance vs
sensitisation right?). The "no change" predictor (ΔpKd = 0) is reported as a reference:
most Davis pairs sit at the 10 µM assay floor on both sides, so Δ = 0 is common.

Example:
    >>> from pipelines.drugscreen.siamese import ddg_pairs  # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from pipelines.drugscreen.batching import graph_gatherer
from pipelines.drugscreen.data import DTAData
from pipelines.drugscreen.metrics import concordance_index, pearson_r
from pipelines.drugscreen.model import (
    LIGAND_ENCODER,
    PROTEIN_ENCODER,
    DrugScreenModelConfig,
    affinity_members,
    build_siamese_model,
    fingerprint_bits_of,
)


@dataclass
class DDGPairs:
    drug: np.ndarray
    wt: np.ndarray
    mut: np.ndarray
    delta: np.ndarray
    is_train: np.ndarray
    is_val: np.ndarray
    mutation_visible: np.ndarray  # the mutated residue lies within max_protein_length

    def __len__(self):
        return int(self.drug.size)


def ddg_pairs(data: DTAData, train_index: np.ndarray, val_index: np.ndarray) -> DDGPairs:
    """All (drug, wild type, mutant) pairs measured on both sides, with the split flags."""
    pairs = data.pairs
    where = {}
    for row in range(len(pairs)):
        where[(int(pairs.drug[row]), int(pairs.protein[row]))] = row
    in_train = np.zeros(len(pairs), bool)
    in_train[train_index] = True
    in_val = np.zeros(len(pairs), bool)
    in_val[val_index] = True
    out = {k: [] for k in ("drug", "wt", "mut", "delta", "is_train", "is_val", "visible")}
    for mut, wt in sorted(data.mutants.items()):
        visible = bool((data.tokens[mut] != data.tokens[wt]).any())
        for d in range(len(data.graphs)):
            rm, rw = where.get((d, mut)), where.get((d, wt))
            if rm is None or rw is None:
                continue
            out["drug"].append(d)
            out["wt"].append(wt)
            out["mut"].append(mut)
            out["delta"].append(float(pairs.y[rm] - pairs.y[rw]))
            out["is_train"].append(bool(in_train[rm] and in_train[rw]))
            out["is_val"].append(bool(in_val[rm]))
            out["visible"].append(visible)
    return DDGPairs(
        np.asarray(out["drug"], np.int32),
        np.asarray(out["wt"], np.int32),
        np.asarray(out["mut"], np.int32),
        np.asarray(out["delta"], np.float32),
        np.asarray(out["is_train"], bool),
        np.asarray(out["is_val"], bool),
        np.asarray(out["visible"], bool),
    )


def _dataset(data: DTAData, p: DDGPairs, idx: np.ndarray, batch: int, shuffle: bool, seed: int,
             fingerprint_bits: int = 0):
    import tensorflow as tf

    gather = graph_gatherer(data, fingerprint_bits)
    tokens = tf.constant(data.tokens)
    ds = tf.data.Dataset.from_tensor_slices((p.drug[idx], p.wt[idx], p.mut[idx], p.delta[idx]))
    if shuffle:
        ds = ds.shuffle(len(idx), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch)

    def to_batch(d, w, m, y):
        x = dict(gather(d), wt_tokens=tf.gather(tokens, w), mut_tokens=tf.gather(tokens, m))
        return x, tf.expand_dims(y, -1)

    return ds.map(to_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def _abs_inputs(x: dict, key: str) -> dict:
    out = {k: v for k, v in x.items() if k not in ("wt_tokens", "mut_tokens")}
    out["protein_tokens"] = x[key]
    return out


def delta_scores(delta: np.ndarray, pred: np.ndarray) -> dict:
    big = np.abs(delta) >= 0.5
    return {
        "mse": float(np.mean((delta - pred) ** 2)),
        "pearson_r": pearson_r(delta, pred),
        "ci": concordance_index(delta, pred),
        "sign_accuracy_abs_delta_ge_0.5": float(np.mean(np.sign(pred[big]) == np.sign(delta[big]))) if big.any() else float("nan"),
        "n_abs_delta_ge_0.5": int(big.sum()),
    }


def run_ddg_experiment(
    data: DTAData,
    absolute_model,
    model_cfg: DrugScreenModelConfig,
    train_index: np.ndarray,
    val_index: np.ndarray,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    learning_rate: float = 5e-4,
    seed: int = 0,
    verbose: int = 0,
) -> dict:
    """Train the Siamese ΔpKd model (encoders initialised from ``absolute_model``, which is
    left untouched) and score it against subtraction of absolute predictions."""
    import keras

    keras.utils.set_random_seed(seed)
    p = ddg_pairs(data, train_index, val_index)
    tr, va = np.flatnonzero(p.is_train), np.flatnonzero(p.is_val)
    if len(tr) == 0 or len(va) == 0:
        raise ValueError(f"ΔΔG needs mutant/wild-type pairs in both splits (train {len(tr)}, validation {len(va)})")

    # copies of the trained encoders (the absolute model keeps its weights); an ensemble lends
    # its first member's encoders, while the subtraction baseline below uses the whole ensemble
    first = affinity_members(absolute_model)[0]
    lig = keras.models.clone_model(first.get_layer(LIGAND_ENCODER))
    lig.set_weights(first.get_layer(LIGAND_ENCODER).get_weights())
    prot = keras.models.clone_model(first.get_layer(PROTEIN_ENCODER))
    prot.set_weights(first.get_layer(PROTEIN_ENCODER).get_weights())
    siamese = build_siamese_model(model_cfg, lig, prot)
    siamese.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    t0 = time.perf_counter()
    bits = fingerprint_bits_of(lig)
    hist = siamese.fit(
        _dataset(data, p, tr, batch_size, True, seed, bits), epochs=epochs, verbose=verbose
    )
    train_s = time.perf_counter() - t0

    y, pred_siam, pred_sub = [], [], []
    for x, t in _dataset(data, p, va, 256, False, seed, bits):
        y.append(np.asarray(t).reshape(-1))
        pred_siam.append(np.asarray(siamese(x, training=False)).reshape(-1))
        a_mut = np.asarray(absolute_model(_abs_inputs(x, "mut_tokens"), training=False)).reshape(-1)
        a_wt = np.asarray(absolute_model(_abs_inputs(x, "wt_tokens"), training=False)).reshape(-1)
        pred_sub.append(a_mut - a_wt)
    y = np.concatenate(y)
    ps, pb = np.concatenate(pred_siam), np.concatenate(pred_sub)
    vis = p.mutation_visible[va]
    return {
        "pairs_total": len(p),
        "pairs_train": int(len(tr)),
        "pairs_validation": int(len(va)),
        "mutants": int(len(np.unique(p.mut))),
        "validation_pairs_mutation_beyond_max_length": int((~vis).sum()),
        "siamese": delta_scores(y, ps),
        "subtraction": delta_scores(y, pb),
        "no_change_baseline": {"mse": float(np.mean(y**2))},
        "siamese_visible_only": delta_scores(y[vis], ps[vis]) if vis.any() else None,
        "subtraction_visible_only": delta_scores(y[vis], pb[vis]) if vis.any() else None,
        "siamese_epochs": epochs,
        "siamese_train_s": round(train_s, 1),
        "siamese_final_loss": float(hist.history["loss"][-1]),
    }
