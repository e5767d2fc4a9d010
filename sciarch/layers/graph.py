"""Message passing on batched molecular graphs, processed as a disjoint union with edge lists.

Batch convention (see CONTRIBUTING.md, "Graph batches"): graphs are padded per batch only,
never to a fixed atom cap, and the layers never build a dense adjacency.

=================  =============================  ==============================================
argument           dtype / shape                  meaning
=================  =============================  ==============================================
``nodes``          float ``[B, N, F]``            N = most atoms in this batch; padding rows 0
``edge_index``     int ``[B, E, 2]``              directed edges ``(src, dst)``, local indices
                                                  in ``[0, N)``; padding edges are ``(0, 0)``
``node_mask``      bool/float ``[B, N]``          1 for real atoms (optional)
``edge_mask``      bool/float ``[B, E]``          1 for real edges (optional)
``edge_features``  float ``[B, E, Fe]``           bond features
=================  =============================  ==============================================

Internally the batch is flattened to ``[B*N, F]``, edge indices are offset by ``b*N``, source
features are gathered and messages are segment-summed into their destinations. Masked edges
contribute nothing; when ``edge_mask`` is omitted but ``node_mask`` is given, an edge is
valid when both its ends are valid. Outputs at masked nodes are zero.
"""

from __future__ import annotations

import keras
from keras import ops

from sciarch.layers._utils import check_choice, check_positive_int, float_mask
from sciarch.layers.attention import large_negative


def _check_edge_index(layer_name, edge_index, num_nodes):
    """Fail loudly (TensorFlow backend, outside XLA) on a local index outside ``[0, N)``:
    such an index would otherwise silently address a node of another graph in the batch."""
    if keras.backend.backend() != "tensorflow":
        return edge_index
    import tensorflow as tf

    checks = [
        tf.debugging.assert_non_negative(
            edge_index, message=f"{layer_name}: edge_index has a negative node index"
        ),
        tf.debugging.assert_less(
            edge_index,
            tf.cast(num_nodes, edge_index.dtype),
            message=(
                f"{layer_name}: edge_index has a node index >= N (the node axis length of "
                "`nodes`); indices must be local to each graph"
            ),
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(edge_index)


def flatten_graph_batch(layer_name, nodes, edge_index, node_mask=None, edge_mask=None):
    """Turn a padded graph batch into a disjoint union.

    Returns ``(flat_nodes [B*N, F], src [B*E], dst [B*E], edge_weight [B*E] float,
    flat_node_mask [B*N] float or None, num_nodes_total)``.
    """
    if len(nodes.shape) != 3:
        raise ValueError(f"{layer_name}: `nodes` must be [batch, nodes, features]; got {nodes.shape}.")
    if len(edge_index.shape) != 3 or (edge_index.shape[-1] not in (None, 2)):
        raise ValueError(
            f"{layer_name}: `edge_index` must be [batch, edges, 2] (src, dst); got {edge_index.shape}."
        )
    batch = ops.shape(nodes)[0]
    n = ops.shape(nodes)[1]
    total = batch * n
    flat_nodes = ops.reshape(nodes, (-1, nodes.shape[-1]))
    edge_index = ops.cast(edge_index, "int32")
    edge_index = _check_edge_index(layer_name, edge_index, n)
    offsets = ops.reshape(ops.arange(batch, dtype="int32") * ops.cast(n, "int32"), (-1, 1))
    src = ops.reshape(edge_index[..., 0] + offsets, (-1,))
    dst = ops.reshape(edge_index[..., 1] + offsets, (-1,))
    dtype = nodes.dtype
    flat_node_mask = None
    if node_mask is not None:
        flat_node_mask = ops.reshape(float_mask(node_mask, dtype), (-1,))
    if edge_mask is not None:
        edge_weight = ops.reshape(float_mask(edge_mask, dtype), (-1,))
    elif flat_node_mask is not None:
        edge_weight = ops.take(flat_node_mask, src, axis=0) * ops.take(flat_node_mask, dst, axis=0)
    else:
        edge_weight = ops.ones_like(ops.cast(src, dtype))
    return flat_nodes, src, dst, edge_weight, flat_node_mask, total


def _unflatten(flat, like_nodes, flat_node_mask):
    if flat_node_mask is not None:
        flat = flat * ops.expand_dims(flat_node_mask, -1)
    shape = ops.shape(like_nodes)
    return ops.reshape(flat, (shape[0], shape[1], flat.shape[-1]))


def _check_nodes_shape(layer_name, nodes_shape):
    if len(nodes_shape) != 3 or nodes_shape[-1] is None:
        raise ValueError(
            f"{layer_name}: `nodes` must be [batch, nodes, features] with known features; "
            f"got shape {tuple(nodes_shape)}."
        )


@keras.saving.register_keras_serializable(package="sciarch")
class GINConv(keras.layers.Layer):
    """Graph Isomorphism Network layer (Xu et al., 2019):
    ``h_i' = MLP((1 + eps) * h_i + sum_{j -> i} h_j)``.

    Sum aggregation over incoming edges ``(src=j, dst=i)`` makes the layer as discriminative
    as the 1-WL test, and the layer is equivariant to any renumbering of the atoms (the
    readouts are then invariant).

    Call arguments:
        nodes: float ``[B, N, F]``.
        edge_index: int ``[B, E, 2]`` local ``(src, dst)`` pairs.
        node_mask: optional ``[B, N]``; outputs at masked nodes are zero.
        edge_mask: optional ``[B, E]``; masked edges send no message.

    Returns ``[B, N, units]``.

    Args:
        units: output features (width of every MLP layer).
        mlp_layers: number of Dense layers in the MLP.
        learn_eps: learn ``eps`` (initialised at 0); otherwise ``eps = 0`` (GIN-0).
        activation: activation after every MLP layer (None for linear layers).
        **kwargs: standard Layer arguments.

    Example:

    >>> import numpy as np
    >>> from sciarch.layers import GINConv
    >>> nodes = np.random.default_rng(0).normal(size=(2, 3, 5)).astype("float32")
    >>> edges = np.array([[[0, 1], [1, 0], [1, 2], [2, 1]],
    ...                   [[0, 1], [1, 0], [0, 0], [0, 0]]], "int32")
    >>> edge_mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], "float32")
    >>> node_mask = np.array([[1, 1, 1], [1, 1, 0]], "float32")
    >>> tuple(GINConv(16)(nodes, edges, node_mask=node_mask, edge_mask=edge_mask).shape)
    (2, 3, 16)
    """

    def __init__(self, units, mlp_layers=2, learn_eps=True, activation="relu", **kwargs):
        super().__init__(**kwargs)
        check_positive_int(type(self).__name__, "units", units)
        check_positive_int(type(self).__name__, "mlp_layers", mlp_layers)
        self.units = units
        self.mlp_layers = mlp_layers
        self.learn_eps = bool(learn_eps)
        self.activation = keras.activations.get(activation)
        self.mlp = [
            keras.layers.Dense(units, activation=self.activation, name=f"mlp_{i}")
            for i in range(mlp_layers)
        ]
        self.eps = None

    def build(self, nodes_shape, edge_index_shape=None, node_mask_shape=None, edge_mask_shape=None):
        _check_nodes_shape(type(self).__name__, nodes_shape)
        if self.learn_eps:
            self.eps = self.add_weight(name="eps", shape=(), initializer="zeros")
        shape = (None, nodes_shape[-1])
        for layer in self.mlp:
            layer.build(shape)
            shape = (None, self.units)

    def call(self, nodes, edge_index, node_mask=None, edge_mask=None):
        name = type(self).__name__
        flat, src, dst, weight, flat_mask, total = flatten_graph_batch(
            name, nodes, edge_index, node_mask, edge_mask
        )
        messages = ops.take(flat, src, axis=0) * ops.expand_dims(weight, -1)
        aggregated = ops.segment_sum(messages, dst, num_segments=total)
        h = flat + aggregated if self.eps is None else (1.0 + self.eps) * flat + aggregated
        for layer in self.mlp:
            h = layer(h)
        return _unflatten(h, nodes, flat_mask)

    def compute_output_shape(self, nodes_shape, edge_index_shape=None, node_mask_shape=None, edge_mask_shape=None):
        return tuple(nodes_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "mlp_layers": self.mlp_layers,
                "learn_eps": self.learn_eps,
                "activation": keras.activations.serialize(self.activation),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="sciarch")
class EdgeConditionedConv(keras.layers.Layer):
    """Message passing conditioned on bond features, GINE style (Hu et al., 2020):

    ``m_ij = act(h_j + phi(e_ij))``, ``h_i' = MLP((1 + eps) * h_i + sum_{j -> i} m_ij)``

    where ``phi`` maps the bond features to the node-feature width: one Dense layer, or a
    small edge network ``Dense(edge_network_units, act) -> Dense(F)`` when
    ``edge_network_units`` is given. The MLP has two Dense(units) layers with ``activation``.
    This is cheaper than NNConv/ECC (which predicts a full ``F x units`` matrix per edge)
    while still letting the bond type change what a neighbour contributes.

    Call arguments:
        nodes: float ``[B, N, F]``.
        edge_index: int ``[B, E, 2]`` local ``(src, dst)``.
        edge_features: float ``[B, E, Fe]``.
        node_mask: optional ``[B, N]``.
        edge_mask: optional ``[B, E]``.

    Returns ``[B, N, units]``.

    Args:
        units: output features.
        activation: activation of the messages and of the MLP layers.
        edge_network_units: hidden width of the edge network, or None for a single Dense.
        **kwargs: standard Layer arguments.

    Example:

    >>> import numpy as np
    >>> from sciarch.layers import EdgeConditionedConv
    >>> nodes = np.ones((1, 3, 4), "float32")
    >>> edges = np.array([[[0, 1], [1, 0], [1, 2], [2, 1]]], "int32")
    >>> bonds = np.eye(4, dtype="float32")[None]  # one-hot bond types
    >>> tuple(EdgeConditionedConv(8, edge_network_units=16)(nodes, edges, bonds).shape)
    (1, 3, 8)
    """

    def __init__(self, units, activation="relu", edge_network_units=None, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(type(self).__name__, "units", units)
        if edge_network_units is not None:
            check_positive_int(type(self).__name__, "edge_network_units", edge_network_units)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.edge_network_units = edge_network_units
        self.mlp = [
            keras.layers.Dense(units, activation=self.activation, name=f"mlp_{i}") for i in range(2)
        ]
        self.edge_hidden = (
            keras.layers.Dense(edge_network_units, activation=self.activation, name="edge_hidden")
            if edge_network_units
            else None
        )
        self.edge_out = None

    def build(
        self,
        nodes_shape,
        edge_index_shape=None,
        edge_features_shape=None,
        node_mask_shape=None,
        edge_mask_shape=None,
    ):
        name = type(self).__name__
        _check_nodes_shape(name, nodes_shape)
        if edge_features_shape is None or edge_features_shape[-1] is None:
            raise ValueError(f"{name}: `edge_features` [batch, edges, Fe] with known Fe is required.")
        features = nodes_shape[-1]
        self.eps = self.add_weight(name="eps", shape=(), initializer="zeros")
        self.edge_out = keras.layers.Dense(features, name="edge_out")
        shape = (None, edge_features_shape[-1])
        if self.edge_hidden is not None:
            self.edge_hidden.build(shape)
            shape = (None, self.edge_network_units)
        self.edge_out.build(shape)
        shape = (None, features)
        for layer in self.mlp:
            layer.build(shape)
            shape = (None, self.units)

    def call(self, nodes, edge_index, edge_features, node_mask=None, edge_mask=None):
        name = type(self).__name__
        flat, src, dst, weight, flat_mask, total = flatten_graph_batch(
            name, nodes, edge_index, node_mask, edge_mask
        )
        e = ops.reshape(edge_features, (-1, edge_features.shape[-1]))
        if self.edge_hidden is not None:
            e = self.edge_hidden(e)
        e = self.edge_out(e)
        messages = self.activation(ops.take(flat, src, axis=0) + e)
        messages = messages * ops.expand_dims(weight, -1)
        aggregated = ops.segment_sum(messages, dst, num_segments=total)
        h = (1.0 + self.eps) * flat + aggregated
        for layer in self.mlp:
            h = layer(h)
        return _unflatten(h, nodes, flat_mask)

    def compute_output_shape(
        self,
        nodes_shape,
        edge_index_shape=None,
        edge_features_shape=None,
        node_mask_shape=None,
        edge_mask_shape=None,
    ):
        return tuple(nodes_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "edge_network_units": self.edge_network_units,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="sciarch")
class GraphReadout(keras.layers.Layer):
    """Graph-level readout ``[B, N, F] -> [B, F]`` over the valid nodes of each graph.

    Modes: "sum", "mean" (sum / number of valid nodes), "max" (graphs with no valid node give
    0), "attention" (:class:`AttentionPooling` with ``units``). All are invariant to the order
    of the nodes.

    Call arguments:
        nodes: ``[B, N, F]``.
        node_mask: optional ``[B, N]`` (bool or 0/1 float); if omitted, a Keras mask
            attached to ``nodes`` is used.
        return_weights: also return per-node weights ``[B, N]``: the attention weights
            ("attention"), ``mask / count`` ("mean") or the mask ("sum"); not defined for "max".

    Args:
        mode: "sum", "mean", "max" or "attention".
        units: hidden width of the attention scorer (attention mode only; None = linear).
        **kwargs: standard Layer arguments.

    Example:

    >>> import numpy as np
    >>> from sciarch.layers import GraphReadout
    >>> nodes = np.ones((2, 4, 3), "float32")
    >>> mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], "float32")
    >>> np.asarray(GraphReadout("sum")(nodes, mask))[:, 0].tolist()
    [3.0, 2.0]
    """

    MODES = ("sum", "mean", "max", "attention")

    def __init__(self, mode="sum", units=None, **kwargs):
        super().__init__(**kwargs)
        check_choice(type(self).__name__, "mode", mode, self.MODES)
        if units is not None:
            check_positive_int(type(self).__name__, "units", units)
        self.mode = mode
        self.units = units
        self.supports_masking = True
        self.pool = None
        if mode == "attention":
            from sciarch.layers.pooling import AttentionPooling

            self.pool = AttentionPooling(units, name="attention_pool")

    def build(self, nodes_shape, node_mask_shape=None):
        _check_nodes_shape(type(self).__name__, nodes_shape)
        if self.pool is not None:
            self.pool.build(nodes_shape)

    def call(self, nodes, node_mask=None, return_weights=False, mask=None):
        if return_weights and self.mode == "max":
            raise ValueError("GraphReadout: `return_weights` is not defined for mode='max'.")
        if node_mask is None:
            node_mask = mask  # a Keras mask attached to `nodes`
        m = float_mask(node_mask, nodes.dtype)
        if m is None:
            m = ops.ones(ops.shape(nodes)[:2], dtype=nodes.dtype)
        if self.mode == "attention":
            pooled, weights = self.pool(nodes, mask=m)
        elif self.mode == "sum":
            pooled = ops.sum(nodes * ops.expand_dims(m, -1), axis=1)
            weights = m
        elif self.mode == "mean":
            count = ops.maximum(ops.sum(m, axis=1, keepdims=True), 1.0)
            weights = m / count
            pooled = ops.sum(nodes * ops.expand_dims(weights, -1), axis=1)
        else:
            valid = ops.expand_dims(ops.not_equal(m, 0), -1)
            neg = ops.cast(large_negative(nodes.dtype), nodes.dtype)
            pooled = ops.max(ops.where(valid, nodes, neg), axis=1)
            any_valid = ops.any(valid, axis=1)
            pooled = ops.where(any_valid, pooled, ops.zeros_like(pooled))
            weights = None
        if return_weights:
            return pooled, weights
        return pooled

    def compute_mask(self, nodes, node_mask=None, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "units": self.units})
        return config
