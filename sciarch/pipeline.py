"""The pipeline contract and its registry.

A pipeline is one class, registered by name, with small methods that each do one
thing (after TF Model Garden's ``Task``, lighter). The generic runner in
:mod:`sciarch.runner` owns everything else: strategy scope, ``fit``, callbacks,
checkpoints, the run directory and export. A fifth domain is one new folder under
``pipelines/`` whose ``__init__`` imports a class decorated with
:func:`register_pipeline`.

Data convention (the same for every pipeline)::

    build_inputs(split) -> tf.data.Dataset of (x, y) or (x, y, sample_weight)

``x`` is a tensor or a dict of tensors matching the model's inputs. ``y`` is the
target tensor, or a dict ``{"target": tensor, <context name>: tensor, ...}`` when
the loss needs per-sample context (ecological importance, zone id, pair id). The
runner hands the context to losses that accept it (see :mod:`sciarch.losses`);
metrics only ever see ``target``.

Example:
    >>> from sciarch.pipeline import available_pipelines
    >>> "genomics" in available_pipelines()  # doctest: +SKIP
    True
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from sciarch.config import PipelineConfig
from sciarch.errors import ConfigError
from sciarch.registry import (  # noqa: F401  (the registry's public names, re-exported)
    available_pipelines,
    discover,
    get_pipeline_class,
    load_pipeline_class,
    register_pipeline,
)

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf

    from sciarch.runs import Run
    from sciarch.screening.scoring import Scorer

#: root of the repository checkout / installed project (holds configs/ and data/)
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Pipeline:
    """Base class of a domain pipeline.

    Subclasses set ``name``, ``config_cls`` (a :class:`PipelineConfig` subclass with
    the pipeline's ``data`` and ``model`` sections) and ``description``, and
    implement the ``build_*`` methods.

    Args:
        config: the validated configuration.
        run_dir: the run directory when called from the runner (for caches and plots).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    config_cls: ClassVar[type[PipelineConfig]] = PipelineConfig
    #: registry name of the loss used when the config says ``loss.name: default``
    default_loss: ClassVar[str] = "mse"
    #: metric the runner reports as the headline (key in ``evaluate``'s dict)
    headline_metric: ClassVar[str] = "loss"
    #: the splits ``evaluate`` understands
    splits: ClassVar[tuple[str, ...]] = ("train", "validation")
    #: whether ``train.ensemble: N > 1`` may average N trained models' outputs (False for models
    #: whose outputs cannot be averaged, e.g. a detector returning boxes: the config is refused)
    supports_ensemble: ClassVar[bool] = True

    #: the training epoch counter (a scalar int64 ``tf.Variable``) the runner sets before it calls
    #: ``build_inputs("train")``; ``None`` outside the runner. Shuffle the train split with
    #: ``sciarch.epochs.shuffle(ds, buffer, seed, epoch=self.epoch)`` (and draw augmentation
    #: noise with ``sciarch.epochs.map_with_seed``) so that epoch e's order depends on
    #: ``(seed, e)`` only and a resumed run repeats the uninterrupted one exactly.
    epoch: Any = None

    def __init__(self, config: PipelineConfig, run_dir: Path | None = None):
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None

    # ------------------------------------------------------------------ contract
    def build_inputs(
        self, split: str, input_context: "tf.distribute.InputContext | None" = None
    ) -> "tf.data.Dataset":
        """Dataset for ``split``, batched to the per-replica batch size, sharded per worker."""
        raise NotImplementedError

    def build_model(self) -> "keras.Model":
        """A fresh, uncompiled Keras model built only from ``sciarch.layers`` and Keras layers."""
        raise NotImplementedError

    def build_loss(self):
        """The training loss; by default resolved from ``config.loss`` via the loss registry."""
        from sciarch.losses import get_loss

        name = self.config.loss.name
        if name == "default":
            name = self.default_loss
        return get_loss(name, **self.config.loss.params)

    def build_metrics(self) -> list:
        """Keras metrics tracked during ``fit`` (they see the target only, never the context)."""
        return []

    def evaluate(self, model: "keras.Model", split: str = "validation", data_path: str | None = None) -> dict:
        """Score ``model`` on ``split`` or, with ``data_path``, on a file/folder in the
        same format as the embedded data. Returns a flat dict of floats (JSON-ready)."""
        raise NotImplementedError

    def report(self, run: "Run", model: "keras.Model", metrics: dict) -> list[Path]:
        """Write pipeline-specific plots into ``run.dir``; return the files (for report.md)."""
        return []

    # ------------------------------------------------------------------ helpers
    def steps_per_epoch(self) -> int | None:
        return self.config.train.steps_per_epoch

    @classmethod
    def config_files(cls) -> list[Path]:
        folder = PROJECT_ROOT / "configs" / cls.name
        return sorted(folder.glob("*.yaml")) if folder.is_dir() else []

    @classmethod
    def quick_config(cls) -> Path | None:
        """The config the demo runs: ``configs/<name>/quick.yaml``, else the first ``*quick*.yaml``."""
        files = cls.config_files()
        for f in files:
            if f.name == "quick.yaml":
                return f
        return next((f for f in files if "quick" in f.stem), None)

    #: modules whose import registers the Keras classes of the pipeline's saved models (imported
    #: before a run's ``model.keras`` is loaded; a package that imports them itself needs none)
    model_modules: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def register_model_classes(cls) -> None:
        """Import :attr:`model_modules` so that ``keras.models.load_model`` finds the classes."""
        for module in cls.model_modules:
            importlib.import_module(module)

    #: module holding the pipeline's extra verbs as a ``typer.Typer`` named ``app``, e.g.
    #: ``"pipelines.genomics.cli"`` (imported by name, so the verbs may import the pipeline)
    cli_module: ClassVar[str | None] = None

    @classmethod
    def cli(cls) -> Any:
        """Optional ``typer.Typer`` with extra verbs, mounted as ``sciarch <name> ...``."""
        if not cls.cli_module:
            return None
        return importlib.import_module(cls.cli_module).app

    @classmethod
    def screen_scorer(cls, run_dir: Path, targets: "Sequence[str | os.PathLike]", **opts: Any) -> "Scorer":
        """The scorer ``sciarch screen --model RUN`` ranks a molecule library with.

        Args:
            run_dir: a run directory of this pipeline (``model.keras`` + ``config.yaml``).
            targets: the ``--target`` FASTA files.
            opts: reserved for screening settings a pipeline may take.

        Returns:
            an object with ``target_names``, ``fingerprint`` and ``score(batch) -> [B, T]``
            (:class:`sciarch.screening.scoring.Scorer`).

        Raises:
            ConfigError: this pipeline's models do not screen molecules (the default).
        """
        raise ConfigError(f"{run_dir}: pipeline '{cls.name}' cannot screen molecule libraries (it has no screen_scorer)")
