"""Train a comparison model outside the runner (the BCE twin in reports, the benchmark sweep, tests).

``sciarch run`` trains the main model through the generic runner; this helper trains the
same architecture with another loss for the comparisons the report and the benchmark need,
with the same data, optimiser and epochs.

Example:
    >>> from pipelines.ecorisk.pipeline import EcoRiskConfig, EcoRiskPipeline
    >>> from pipelines.ecorisk.train import fit_with_loss
    >>> cfg = EcoRiskConfig.model_validate({"pipeline": "ecorisk", "data": {"dataset": "amazon_grid"},
    ...                                     "train": {"epochs": 1, "batch_size": 512}})
    >>> model = fit_with_loss(EcoRiskPipeline(cfg), "binary_crossentropy")  # doctest: +SKIP
"""

from __future__ import annotations

import keras

from sciarch.losses import with_loss
from sciarch.runner import make_optimizer


def fit_with_loss(pipeline, loss_name: str | None = None, epochs: int | None = None, seed: int | None = None,
                  verbose: int = 0, **loss_params):
    """A fresh model of ``pipeline`` trained with ``loss_name`` (default: the configured loss).

    Returns the (inference) model; the training view shares its weights.
    """
    keras.utils.set_random_seed(pipeline.config.seed if seed is None else seed)
    model = pipeline.build_model()
    loss = pipeline.build_loss(loss_name, **loss_params)
    trainable = with_loss(model, loss)
    trainable.compile(optimizer=make_optimizer(pipeline.config.train), jit_compile=False)
    train = pipeline.build_inputs("train")
    steps = pipeline.config.train.steps_per_epoch
    trainable.fit(train, epochs=epochs or pipeline.config.train.epochs, steps_per_epoch=steps,
                  verbose=verbose)
    return model
