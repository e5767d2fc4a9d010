"""The Beam screen's RunInference model handler: :class:`ScreenModelHandler`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable, Optional, Sequence

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from sciarch.screening.beam.transforms import is_remote
from sciarch.screening.scoring import make_scorer, score_chunk

__all__ = ["ScreenModelHandler"]

#: files of a run directory a worker copies from a Beam filesystem before it builds the scorer
RUN_FILES = ("model.keras", "config.yaml")


class ScreenModelHandler(ModelHandler):
    """RunInference handler over a trained sciarch run (no tensorflow_hub / tf-keras).

    ``load_model`` builds the local screen's scorer (once per worker process; Beam shares it
    between the worker's threads) with :func:`~sciarch.screening.scoring.make_scorer`: the
    run's pipeline hook ``screen_scorer`` (which loads ``model.keras`` and encodes each target
    once), or the custom ``--scorer``. ``run_inference`` scores each featurised chunk with
    :func:`~sciarch.screening.scoring.score_chunk`, the local screen's call.

    Args:
        model_dir: run directory (local path or Beam filesystem URI) with ``model.keras`` and
            ``config.yaml``.
        fasta_texts: ``[(file name, FASTA text), ...]`` of the targets (read by the launcher).
        scorer: optional ``'package.module:factory'`` custom scorer instead of the model.
        max_chunks_per_call: featurised chunks per ``run_inference`` call.
        target_names: the score columns the launcher expects (checked against the loaded scorer).

    Example:
        >>> from sciarch.screening.beam.handler import ScreenModelHandler  # doctest: +SKIP
        >>> h = ScreenModelHandler("runs/davis", [("egfr.fasta", open("egfr.fasta").read())])  # doctest: +SKIP
        >>> RunInference(KeyedModelHandler(h))  # doctest: +SKIP
    """

    def __init__(
        self,
        model_dir: Optional[str],
        fasta_texts: Sequence[tuple[str, str]],
        scorer: Optional[str] = None,
        max_chunks_per_call: int = 1,
        target_names: Optional[Sequence[str]] = None,
    ):
        super().__init__(min_batch_size=1, max_batch_size=max_chunks_per_call)
        self.target_names = None if target_names is None else list(target_names)
        self.model_dir = model_dir
        self.fasta_texts = list(fasta_texts)
        self.scorer_spec = scorer

    def load_model(self):
        tmp = tempfile.mkdtemp(prefix="sciarch_screen_")
        fastas = []
        for i, (name, text) in enumerate(self.fasta_texts):
            p = Path(tmp) / f"{i:03d}_{Path(name).name}"
            p.write_text(text)
            fastas.append(p)
        model_dir = self.model_dir
        if model_dir is not None and is_remote(model_dir):
            from apache_beam.io.filesystems import FileSystems

            local = Path(tmp) / "run"
            local.mkdir()
            for name in RUN_FILES:
                with FileSystems.open(FileSystems.join(model_dir, name), compression_type="uncompressed") as src:
                    (local / name).write_bytes(src.read())
            model_dir = str(local)
        return make_scorer(None if model_dir is None else Path(model_dir), fastas, self.scorer_spec)

    def run_inference(self, batch, model, inference_args=None) -> Iterable:
        if self.target_names is not None and list(model.target_names) != self.target_names:
            raise RuntimeError(
                f"the scorer on this worker scores targets {model.target_names}, the launcher expected "
                f"{self.target_names}"
            )
        for fc in batch:
            yield PredictionResult(fc, score_chunk(model, fc))

    def get_num_bytes(self, batch) -> int:
        return int(sum(a.nbytes for fc in batch for _, arrs in fc.batches for a in arrs.values()))

    def get_metrics_namespace(self) -> str:
        return "sciarch_screen_inference"
