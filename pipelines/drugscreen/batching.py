"""Drug-target pairs -> ``tf.data`` batches (the padded graph batch plus protein tokens).

The ligand graphs of a :class:`~pipelines.drugscreen.data.DTAData` live in ragged tensors
(:func:`graph_tables`), and a batch of ``(drug, protein)`` indices is turned into the padded
graph batch of CONTRIBUTING.md ("Graph batches") plus ``protein_tokens [B, L]`` by gathering
(:func:`graph_gatherer`, :func:`make_dataset`). Training batches can be *grouped by protein*
(``protein_chunk`` pairs of one protein next to each other, :func:`batch_order`): the model
encodes each distinct protein of a batch once, so grouping cuts the cost of the protein CNN
by about ``protein_chunk`` times. TensorFlow is imported inside the functions that need it.

Example:
    >>> from pipelines.drugscreen.data import DTAData
    >>> from pipelines.drugscreen.batching import make_dataset
    >>> data = DTAData.load("davis")  # doctest: +SKIP
    >>> ds = make_dataset(data, data.pairs, data.split_index("validation"), 64, shuffle=False)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from sciarch.io.molecules import FINGERPRINT_KEY, MolGraph, feature_dims

from pipelines.drugscreen.data import DTAData, Pairs


def graph_tables(data: DTAData):
    """Ragged per-drug tables (TensorFlow) used to gather graph batches; an invalid ligand
    (``None`` graph) is stood in for by a one-atom placeholder."""
    import tensorflow as tf

    atom_dim, bond_dim = feature_dims(data.graph_features)
    placeholder = MolGraph(
        np.zeros((1, atom_dim), np.float32),
        np.zeros((0, 2), np.int32),
        np.zeros((0, bond_dim), np.float32),
    )
    graphs = [g if g is not None else placeholder for g in data.graphs]
    n_atoms = np.array([g.num_atoms for g in graphs], np.int64)
    n_edges = np.array([g.num_edges for g in graphs], np.int64)
    atoms = tf.RaggedTensor.from_row_lengths(np.concatenate([g.atom_features for g in graphs]), n_atoms)
    edges = tf.RaggedTensor.from_row_lengths(
        np.concatenate([g.edge_index for g in graphs]).reshape(-1, 2), n_edges
    )
    bonds = tf.RaggedTensor.from_row_lengths(
        np.concatenate([g.bond_features for g in graphs]).reshape(-1, bond_dim), n_edges
    )
    return atoms, edges, bonds


def batch_order(
    drug: np.ndarray,
    protein: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    protein_chunk: int | None,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Row indices per batch.

    ``shuffle=False``: sorted by protein (each protein's rows contiguous) so the model
    encodes each protein of a batch once. ``shuffle=True`` with ``protein_chunk``: each
    protein's rows are shuffled and cut into chunks of ``protein_chunk``; the chunks are
    shuffled and packed into batches. Without ``protein_chunk``: uniform shuffling.
    """
    n = len(drug)
    if not shuffle:
        order = np.lexsort((np.arange(n), protein))
    elif protein_chunk:
        chunks = []
        for p in np.unique(protein):
            rows = np.flatnonzero(protein == p)
            rows = rows[rng.permutation(len(rows))]
            chunks += [rows[i : i + protein_chunk] for i in range(0, len(rows), protein_chunk)]
        chunks = [chunks[i] for i in rng.permutation(len(chunks))]
        order = np.concatenate(chunks) if chunks else np.zeros(0, np.int64)
    else:
        order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def graph_gatherer(data: DTAData, fingerprint_bits: int = 0):
    """``f(drug_indices [B]) -> padded graph batch dict`` (TensorFlow ops, usable in ``tf.data``);
    with ``fingerprint_bits`` the dict also holds the ligands' Morgan fingerprints
    (``ligand_fingerprint`` float32 ``[B, bits]``, for a model with ``model.ligand_fingerprint``)."""
    import tensorflow as tf

    atoms_rt, edges_rt, bonds_rt = graph_tables(data)
    atom_dim, bond_dim = feature_dims(data.graph_features)
    fingerprints = tf.constant(data.fingerprints(fingerprint_bits)) if fingerprint_bits else None

    def gather(d):
        atoms = tf.gather(atoms_rt, d)
        edges = tf.gather(edges_rt, d)
        bonds = tf.gather(bonds_rt, d)
        n_atoms = atoms.row_lengths()
        n_edges = edges.row_lengths()
        max_n = tf.maximum(tf.reduce_max(n_atoms), 1)
        max_e = tf.maximum(tf.reduce_max(n_edges), 1)
        b = tf.shape(d, out_type=tf.int64)[0]
        batch = {
            "atom_features": atoms.to_tensor(shape=tf.stack([b, max_n, atom_dim])),
            "atom_mask": tf.sequence_mask(n_atoms, max_n, dtype=tf.float32),
            "edge_index": edges.to_tensor(shape=tf.stack([b, max_e, 2])),
            "bond_features": bonds.to_tensor(shape=tf.stack([b, max_e, bond_dim])),
            "bond_mask": tf.sequence_mask(n_edges, max_e, dtype=tf.float32),
        }
        if fingerprints is not None:
            batch[FINGERPRINT_KEY] = tf.cast(tf.gather(fingerprints, d), tf.float32)
        return batch

    return gather


def make_dataset(
    data: DTAData,
    pairs: Pairs,
    index: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    protein_chunk: int | None = None,
    seed: int = 0,
    input_context=None,
    target_as_dict: bool = False,
    epoch=None,
    fingerprint_bits: int = 0,
):
    """``tf.data.Dataset`` of ``(x, y)`` batches for ``pairs[index]``.

    ``x`` holds the five graph keys and ``protein_tokens`` (and the ligands' fingerprints with
    ``fingerprint_bits``, see :func:`graph_gatherer`); ``y`` is ``[B, 1]`` float32.
    With ``input_context`` the batches are dealt round-robin to the input pipelines
    (each pipeline gets the same number of batches; the remainder is dropped so the
    replicas stay in step) and ``batch_size`` must already be the per-replica size.
    Shuffled datasets draw a new order at every pass (every epoch): with ``epoch`` (the
    runner's epoch counter, ``Pipeline.epoch``) the order of epoch e depends on ``(seed, e)``
    only, so a resumed run repeats an uninterrupted one; without it, on the pass number.
    """
    import tensorflow as tf

    drug = pairs.drug[index]
    prot = pairs.protein[index]
    y = pairs.y[index]
    tokens = tf.constant(data.tokens)
    n_pipes = input_context.num_input_pipelines if input_context is not None else 1
    pipe_id = input_context.input_pipeline_id if input_context is not None else 0
    passes = {"n": 0}

    def gen(e):
        e = int(e)
        if e < 0:  # no epoch counter: count the passes of this dataset
            e = passes["n"]
            passes["n"] += 1
        rng = np.random.default_rng([seed, e])
        batches = batch_order(drug, prot, batch_size, shuffle=shuffle, protein_chunk=protein_chunk, rng=rng)
        if n_pipes > 1:
            usable = (len(batches) // n_pipes) * n_pipes
            batches = batches[pipe_id:usable:n_pipes]
        for b in batches:
            yield drug[b], prot[b], y[b]

    signature = (
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None], tf.float32),
    )
    n_batches = -(-len(index) // batch_size)
    if n_pipes > 1:
        n_batches = n_batches // n_pipes
    if shuffle and epoch is not None:
        from sciarch.epochs import per_epoch

        ds = per_epoch(lambda e: tf.data.Dataset.from_generator(gen, args=(e,), output_signature=signature),
                       epoch, n_batches)
    else:
        ds = tf.data.Dataset.from_generator(gen, args=(tf.constant(-1, tf.int64),), output_signature=signature)

    gather = graph_gatherer(data, fingerprint_bits)

    def to_batch(d, p, target):
        x = dict(gather(d), protein_tokens=tf.gather(tokens, p))
        t = tf.expand_dims(target, -1)
        return x, ({"target": t} if target_as_dict else t)

    ds = ds.map(to_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    ds = ds.with_options(options)
    return ds.prefetch(2)

