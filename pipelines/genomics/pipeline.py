"""Genomics pipeline: splice-site prediction with a CNN -> RNN -> attention network.

Read top to bottom:

1. **Configuration** (:class:`GenomicsDataConfig`, :class:`GenomicsModelConfig`): task
   mode (``window`` classification of the junction at a window's centre, or SpliceAI-style
   ``nucleotide`` labelling of gene regions), context length, sources, split, network size.
2. **Data** (:meth:`GenomicsPipeline.prepare` -> :mod:`pipelines.genomics.prepare`): window
   sets (:mod:`~pipelines.genomics.data`: HS3D, DRANet, UCI) plus true-site and GT/AG decoy
   windows cut from the genome pieces (:mod:`~pipelines.genomics.genome`); or
   transcript-sense gene chunks with ``context // 2`` nt of flank each side (N beyond the
   piece). Splits are by group (gene, GenBank locus/accession, 100-kb block), never by
   window; whole genome pieces can be held out. Training windows sharing an exact 40-mer
   with any validation site window are removed from training (counted in the data summary).
3. **Model** (:mod:`pipelines.genomics.model`).
4. **Evaluation** (:mod:`pipelines.genomics.evaluation`, scoring in
   :mod:`pipelines.genomics.inference`): on windows (accuracy, donor/acceptor accuracy on
   true-vs-decoy tasks, PR-AUC) and on whole held-out genes (top-k accuracy and PR-AUC per
   class over every position of the gene bodies), always next to the PWM baseline fitted on
   the same training windows and scored on the same candidates.
5. **Report** (:mod:`pipelines.genomics.report`): PR curves model vs PWM, attention weights
   over an example sequence, in-silico mutagenesis around a true site.

Example:
    >>> from pipelines.genomics.pipeline import GenomicsPipeline
    >>> cfg = GenomicsPipeline.config_cls.model_validate({"pipeline": "genomics", "data": {"mode": "window"}})
    >>> cfg.data.context, cfg.model.rnn
    (140, 'lstm')
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from sciarch.config import PipelineConfig, Section
from sciarch.pipeline import PROJECT_ROOT, Pipeline, register_pipeline

from pipelines.genomics import evaluation, inference, prepare
from pipelines.genomics.data import WindowSet
from pipelines.genomics.genome import Gene, GenomePiece, find_pieces, piece_stem
from pipelines.genomics.prepare import Prepared


# ============================================================================ configuration
class GenomicsDataConfig(Section):
    """Data section of the genomics pipeline."""

    mode: Literal["window", "nucleotide"] = "window"
    root: str = Field("data/genomics", description="data folder (relative paths are from the project root)")
    context: int = Field(
        140, ge=20, le=20000,
        description="window mode: window width (junction at the centre); nucleotide mode: total flanking "
        "context (context/2 each side of a block), e.g. 80, 400, 2000, 10000",
    )
    block: int = Field(1000, ge=50, description="nucleotide mode: positions labelled per example")
    sources: list[Literal["hs3d", "dranet", "uci", "genome"]] = ["hs3d", "dranet", "uci", "genome"]
    pieces: list[str] | None = Field(None, description="genome pieces to use (file stems); None = all")
    validation_pieces: list[str] = Field(default_factory=list, description="genome pieces held out whole")
    validation_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="fraction of groups held out")
    decoys_per_site: float = Field(10.0, ge=0, description="in-gene GT/AG decoys per true site (window mode)")
    intergenic_decoys: float = Field(2.0, ge=0, description="decoys anywhere in a piece per true site of it")
    flank_mask_prob: float = Field(0.15, ge=0, le=1, description="train-time prob. of masking flanks to N")
    flank_mask_width: int = Field(30, ge=4, description="nt kept each side of the junction when masking")
    padded_sources: Literal["exclude", "include"] = Field(
        "exclude", description="training on window sources shorter than the window (N-padded) invites a "
        "padding shortcut; 'exclude' keeps them for evaluation only")
    decontaminate: bool = True
    max_train_examples: int | None = Field(None, ge=1)
    site_weight: float = Field(1.0, gt=0, description="nucleotide mode: loss weight of splice-site positions")
    eval_genes: bool = True
    eval_windows: bool = True
    eval_max_genes: int | None = Field(None, ge=1)
    decision_prior: Literal["balanced", "train"] = Field(
        "balanced", description="window decisions: 'balanced' divides the probabilities by the training class "
        "frequencies (equal priors, as in window benchmarks); 'train' keeps the training prior (argmax)")

    @model_validator(mode="after")
    def _check(self):
        if self.mode == "nucleotide" and self.context % 2:
            raise ValueError("data.context must be even in nucleotide mode")
        if self.mode == "window" and self.context > 402:
            raise ValueError("data.context (window width) must be <= 402 in window mode (longest window set)")
        self._check_pieces()
        return self

    def _check_pieces(self) -> None:
        """Genome pieces named in the config must exist under ``root`` (checked before a run starts)."""
        root = Path(self.root) if Path(self.root).is_absolute() else PROJECT_ROOT / self.root
        if not root.is_dir():
            raise ValueError(f"data.root: folder not found: {root}")
        if self.pieces is None and not self.validation_pieces:
            return
        stems = {piece_stem(f.name) for f in find_pieces(root)}
        uses_genome = "genome" in self.sources or self.mode == "nucleotide"
        if self.pieces is not None:
            missing = sorted(set(self.pieces) - stems) if uses_genome else sorted(self.pieces)
            if missing:
                have = ", ".join(sorted(stems)) or "none"
                why = "" if uses_genome else " ('genome' is not in data.sources)"
                raise ValueError(f"data.pieces: genome piece(s) not found under {root}{why}: "
                                 f"{', '.join(missing)} (available: {have})")
        loaded = (stems & set(self.pieces) if self.pieces is not None else stems) if uses_genome else set()
        bad = sorted(set(self.validation_pieces) - loaded)
        if bad:
            raise ValueError(f"data.validation_pieces: unknown piece(s) {', '.join(bad)} "
                             f"(pieces in use: {', '.join(sorted(loaded)) or 'none'})")


class GenomicsModelConfig(Section):
    """Model section: CNN trunk, recurrent layer, attention, head (window mode: ``stem_kernel``,
    ``kernel_size``, ``num_layers``, ``dilation_base`` shape the trunk; nucleotide mode: ``stages``)."""

    filters: int = Field(32, ge=1)
    stem_kernel: int = Field(11, ge=1)
    kernel_size: int = Field(5, ge=1)
    num_layers: int = Field(4, ge=1, description="dilated residual blocks")
    dilation_base: int = Field(2, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    pool: int = Field(2, ge=1, description="window mode: pooling before the RNN")
    rnn: Literal["lstm", "gru", "none"] = "lstm"
    rnn_units: int = Field(32, ge=1)
    attention_heads: int = Field(2, ge=0)
    key_dim: int = Field(16, ge=1)
    attention_window: int | None = Field(65, ge=1, description="nucleotide mode: local attention width; None = global")
    stages: list[tuple[int, int, int]] | None = Field(
        None, description="nucleotide mode: residual stages [kernel, dilation, blocks]; None = SpliceAI's rung for "
        "data.context (80/400/2000/10000 nt of receptive field)")
    centre_radius: int = Field(12, ge=1, description="window mode: central positions fed to the head directly")
    hidden: int = Field(64, ge=1)
    linear_radius: int = Field(40, ge=0, description="window mode: linear read-out of bases within this radius")


class GenomicsConfig(PipelineConfig):
    data: GenomicsDataConfig = Field(default_factory=GenomicsDataConfig)
    model: GenomicsModelConfig = Field(default_factory=GenomicsModelConfig)



# ============================================================================ pipeline
@register_pipeline
class GenomicsPipeline(Pipeline):
    """Splice-site prediction (acceptor / donor / neither) from DNA sequence."""

    name = "genomics"
    description = "Splice sites: dilated residual CNN -> BiLSTM/GRU -> attention vs a PWM baseline (top-k, PR-AUC)"
    config_cls = GenomicsConfig
    default_loss = "sparse_categorical_crossentropy"
    headline_metric = "genes/topk_mean"
    splits = ("train", "validation")
    cli_module = "pipelines.genomics.cli"

    def __init__(self, config, run_dir=None):
        super().__init__(config, run_dir)
        self._prepared: Prepared | None = None
        self.last_eval: dict | None = None

    @property
    def root(self) -> Path:
        p = Path(self.config.data.root)
        return p if p.is_absolute() else PROJECT_ROOT / p

    @property
    def width(self) -> int:
        """Window width used for window sets and PWM windows (nucleotide mode: 140)."""
        return prepare.window_width(self.config.data)

    def split_of(self, group: str) -> str:
        return prepare.split_of(group, self.config.data, self.config.seed)

    # ------------------------------------------------------------------ data
    def prepare(self) -> Prepared:
        """Load, split and encode everything once (cached on the instance)."""
        if self._prepared is None:
            self._prepared = prepare.prepare(self.config.data, self.root, self.config.seed)
        return self._prepared

    def eval_genes(self, P: Prepared, split: str) -> list[tuple[GenomePiece, Gene]]:
        return prepare.eval_genes(P, split, self.config.data.eval_max_genes)

    def build_inputs(self, split, input_context=None):
        return prepare.make_dataset(self.prepare(), self.config, split, self.epoch, input_context)

    # ------------------------------------------------------------------ model
    def build_model(self):
        from pipelines.genomics.model import build_nucleotide_model, build_window_model

        m, d = self.config.model, self.config.data
        common = dict(filters=m.filters, stem_kernel=m.stem_kernel, kernel_size=m.kernel_size,
                      num_layers=m.num_layers, dilation_base=m.dilation_base, dropout=m.dropout, rnn=m.rnn,
                      rnn_units=m.rnn_units, attention_heads=m.attention_heads, key_dim=m.key_dim)
        if d.mode == "window":
            return build_window_model(d.context, pool=m.pool, centre_radius=m.centre_radius, hidden=m.hidden,
                                      linear_radius=m.linear_radius, **common)
        return build_nucleotide_model(d.context, filters=m.filters, stages=m.stages, dropout=m.dropout, rnn=m.rnn,
                                      rnn_units=m.rnn_units, attention_heads=m.attention_heads, key_dim=m.key_dim,
                                      attention_window=m.attention_window)

    def build_metrics(self):
        import keras

        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    # ------------------------------------------------------------------ evaluation
    def score_gene(self, model, piece: GenomePiece, gene: Gene) -> np.ndarray:
        """Per-position class probabilities ``[gene length, 3]`` over a gene body."""
        return inference.score_gene(model, piece, gene, self.config.data)

    def evaluate(self, model, split="validation", data_path=None) -> dict:
        P = self.prepare()
        if data_path is not None:
            wset, genes = prepare.load_external(Path(data_path), self.width)
        else:
            if split not in self.splits:
                raise ValueError(f"unknown split '{split}' (known: {', '.join(self.splits)})")
            wset, genes = P.windows[split], self.eval_genes(P, split)
        return self.evaluate_sets(model, wset, genes)

    def evaluate_sets(self, model, wset: WindowSet, genes: list) -> dict:
        """Metrics of ``model`` and the PWM on windows ``wset`` and on ``[(piece, gene), ...]``
        (see :func:`pipelines.genomics.evaluation.evaluate_sets`); keeps the arrays for the report."""
        metrics, self.last_eval = evaluation.evaluate_sets(model, self.prepare(), wset, genes, self.config.data)
        return metrics

    # ------------------------------------------------------------------ report
    def report(self, run, model, metrics) -> list[Path]:
        from pipelines.genomics.report import write_report_figures

        if self.last_eval is None:
            self.evaluate(model, "validation")
        import json

        out_dir = Path(run.dir) if run is not None else self.run_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "data_summary.json").write_text(json.dumps(self.prepare().summary, indent=1) + "\n")
        return write_report_figures(self, model, out_dir, dpi=self.config.report.dpi)
