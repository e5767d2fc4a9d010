"""Deep ensembles (``train.ensemble: N``): one ``model.keras`` that averages N trained members.

The runner trains member k (k = 0 .. N-1) with random seed ``seed + k`` (weight
initialisation, dropout; the data, its splits and the shuffling stay those of ``seed``),
each in its own resumable run directory ``members/<k>/``, then saves one functional model:
the members side by side on the same inputs, reduced by :class:`EnsembleStatistic`
(the element-wise mean of their outputs; dict outputs are averaged key by key; multi-input
models take the same inputs as a member). Reload it like any sciarch model::

    import sciarch.ensemble  # registers EnsembleStatistic (sciarch.model_io imports it)
    model = keras.models.load_model("runs/x/model.keras", safe_mode=True)

The spread of the members is the uncertainty: :func:`with_spread` turns an ensemble into a
model with outputs ``{"mean": ..., "std": ...}`` (same weights, nothing retrained);
``std`` is the population standard deviation over the members (ddof 0).

Example:
    >>> spread_model = with_spread(model)                     # doctest: +SKIP
    >>> out = spread_model.predict(x)                         # doctest: +SKIP
    >>> out["mean"], out["std"]                               # doctest: +SKIP
"""

from __future__ import annotations

import keras
from keras import ops, tree

from sciarch.errors import ConfigError

STATISTICS = ("mean", "std")


@keras.saving.register_keras_serializable(package="sciarch")
class EnsembleStatistic(keras.layers.Layer):
    """Reduces a list of member outputs (tensors, or dicts/lists of tensors with one structure)
    to their element-wise ``mean`` or ``std`` over the members."""

    def __init__(self, statistic: str = "mean", **kwargs):
        super().__init__(**kwargs)
        if statistic not in STATISTICS:
            raise ValueError(f"EnsembleStatistic: statistic must be one of {STATISTICS}, got {statistic!r}")
        self.statistic = statistic

    def call(self, member_outputs):
        reduce = ops.mean if self.statistic == "mean" else ops.std

        def combine(*xs):
            return reduce(ops.stack(xs, axis=0), axis=0)

        return tree.map_structure(combine, *member_outputs)

    def compute_output_spec(self, member_outputs):
        return tree.map_structure(lambda x: keras.KerasTensor(x.shape, x.dtype), member_outputs[0])

    def get_config(self):
        return {**super().get_config(), "statistic": self.statistic}


def _member_inputs(member: keras.Model):
    try:
        return member.input
    except (AttributeError, ValueError) as exc:
        raise ConfigError(f"key 'train.ensemble': the member model '{member.name}' has no symbolic inputs "
                          f"(a subclassed model?); ensembles need functional models ({exc})") from None


def build_ensemble(members: list[keras.Model], name: str = "ensemble") -> keras.Model:
    """A functional model that feeds its inputs to every member and outputs the mean of their outputs.

    The members are renamed ``member_<k>``; their input names, dtypes and structure (tensor,
    list or dict) become the ensemble's.
    """
    if not members:
        raise ValueError("build_ensemble needs at least one member")
    spec = _member_inputs(members[0])
    inputs = tree.map_structure(
        lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype, sparse=t.sparse, name=t.name), spec
    )
    for k, m in enumerate(members):
        m.name = f"member_{k}"
    outputs = [m(inputs) for m in members]
    mean = EnsembleStatistic("mean", name="ensemble_mean")(outputs)
    return keras.Model(inputs, mean, name=name)


def _statistic_layer(model: keras.Model) -> EnsembleStatistic | None:
    return next((layer for layer in model.layers if isinstance(layer, EnsembleStatistic)), None)


def is_ensemble(model: keras.Model) -> bool:
    """Whether ``model`` was built by :func:`build_ensemble` (a ``train.ensemble`` > 1 run's model)."""
    return _statistic_layer(model) is not None


def ensemble_members(model: keras.Model) -> list[keras.Model]:
    """The member models of an ensemble (shared weights), or ``[model]`` for a single model."""
    if not is_ensemble(model):
        return [model]
    return sorted((layer for layer in model.layers if isinstance(layer, keras.Model)
                   and layer.name.startswith("member_")), key=lambda m: int(m.name.split("_")[-1]))


def with_spread(model: keras.Model) -> keras.Model:
    """The ensemble's inputs mapped to ``{"mean": <outputs>, "std": <outputs>}`` (std over the members).

    Raises:
        ValueError: ``model`` is not an ensemble.
    """
    if not is_ensemble(model):
        raise ValueError(f"model '{model.name}' is not an ensemble (train.ensemble was 1): it has no member spread")
    member_outputs = [m(model.input) for m in ensemble_members(model)]
    mean = EnsembleStatistic("mean", name="ensemble_mean")(member_outputs)
    std = EnsembleStatistic("std", name="ensemble_std")(member_outputs)
    return keras.Model(model.input, {"mean": mean, "std": std}, name=f"{model.name}_with_spread")
