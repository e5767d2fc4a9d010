"""Genomics pipeline: splice-site prediction with a CNN -> RNN -> attention network.

Read top to bottom:

1. **Configuration** (:class:`GenomicsDataConfig`, :class:`GenomicsModelConfig`): task
   mode (``window`` classification of the junction at a window's centre, or SpliceAI-style
   ``nucleotide`` labelling of gene regions), context length, sources, split, network size.
2. **Data** (:meth:`GenomicsPipeline.prepare`): window sets (HS3D, DRANet, UCI) plus
   true-site and GT/AG decoy windows cut from the genome pieces; or transcript-sense gene
   chunks with ``context // 2`` nt of flank each side (N beyond the piece). Splits are by
   group (gene, GenBank locus/accession, 100-kb block), never by window; whole genome
   pieces can be held out. Training windows sharing an exact 40-mer with any validation
   site window are removed from training (counted in the data summary).
3. **Model** (:mod:`pipelines.genomics.model`).
4. **Evaluation**: on windows (accuracy, donor/acceptor accuracy on true-vs-decoy tasks,
   PR-AUC) and on whole held-out genes (top-k accuracy and PR-AUC per class over every
   position of the gene bodies), always next to the PWM baseline fitted on the same
   training windows and scored on the same candidates.
5. **Report**: PR curves model vs PWM, attention weights over an example sequence,
   in-silico mutagenesis around a true site.

Example:
    >>> from pipelines.genomics.pipeline import GenomicsPipeline
    >>> cfg = GenomicsPipeline.config_cls.model_validate({"pipeline": "genomics", "data": {"mode": "window"}})
    >>> cfg.data.context, cfg.model.rnn
    (140, 'lstm')
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from sciarch.config import PipelineConfig, Section
from sciarch.pipeline import PROJECT_ROOT, Pipeline, register_pipeline

from pipelines.genomics import data as D
from pipelines.genomics.metrics import site_metrics, window_metrics
from pipelines.genomics.pwm import SplicePWM

log = logging.getLogger("sciarch.genomics")

WINDOW_SOURCES = ("hs3d", "dranet", "uci")
SOURCE_WIDTH = {"uci": 60, "hs3d": 140, "dranet": 402}


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
        stems = {re.sub(r"\.fa(\.gz)?$", "", f.name) for f in D.find_pieces(root)}
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
    """Model section: CNN trunk, recurrent layer, attention, head."""

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
    centre_radius: int = Field(12, ge=1, description="window mode: central positions fed to the head directly")
    hidden: int = Field(64, ge=1)
    linear_radius: int = Field(40, ge=0, description="window mode: linear read-out of bases within this radius")


class GenomicsConfig(PipelineConfig):
    data: GenomicsDataConfig = Field(default_factory=GenomicsDataConfig)
    model: GenomicsModelConfig = Field(default_factory=GenomicsModelConfig)


# ============================================================================ prepared data
@dataclass
class Prepared:
    windows: dict[str, D.WindowSet] = field(default_factory=dict)  # split -> windows
    pieces: list[D.GenomePiece] = field(default_factory=list)
    gene_split: dict[tuple[str, str], str] = field(default_factory=dict)  # (piece, gene) -> split
    chunks: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    pwm: SplicePWM | None = None
    summary: dict = field(default_factory=dict)


@register_pipeline
class GenomicsPipeline(Pipeline):
    """Splice-site prediction (acceptor / donor / neither) from DNA sequence."""

    name = "genomics"
    description = "Splice sites: dilated residual CNN -> BiLSTM/GRU -> attention vs a PWM baseline (top-k, PR-AUC)"
    config_cls = GenomicsConfig
    default_loss = "sparse_categorical_crossentropy"
    headline_metric = "genes/topk_mean"
    splits = ("train", "validation")

    def __init__(self, config, run_dir=None):
        super().__init__(config, run_dir)
        self._prepared: Prepared | None = None
        self.last_eval: dict | None = None

    # ------------------------------------------------------------------ paths
    @property
    def root(self) -> Path:
        p = Path(self.config.data.root)
        return p if p.is_absolute() else PROJECT_ROOT / p

    @property
    def width(self) -> int:
        """Window width used for window sets and PWM windows (nucleotide mode: 140)."""
        return self.config.data.context if self.config.data.mode == "window" else 140

    def split_of(self, group: str) -> str:
        d = self.config.data
        if group.split(":")[0] in d.validation_pieces:
            return "validation"
        return "validation" if D.stable_fraction(group, self.config.seed) < d.validation_fraction else "train"

    # ------------------------------------------------------------------ data
    def prepare(self) -> Prepared:
        """Load, split and encode everything once (cached on the instance)."""
        if self._prepared is not None:
            return self._prepared
        d = self.config.data
        P = Prepared()
        W = self.width
        srcs = [s for s in d.sources if s in WINDOW_SOURCES]
        ws = D.load_window_folder(self.root, W, srcs) if srcs else D.WindowSet()
        P.pieces = D.load_pieces(self.root, d.pieces) if ("genome" in d.sources or d.mode == "nucleotide") else []
        if d.pieces is not None:
            missing = set(d.pieces) - {p.name for p in P.pieces}
            if missing:
                raise D.GenomicsDataError(f"{self.root}: genome piece(s) not found: {sorted(missing)}")
        bad = set(d.validation_pieces) - {p.name for p in P.pieces}
        if bad:
            raise D.GenomicsDataError(f"data.validation_pieces: unknown piece(s) {sorted(bad)}")
        for p in P.pieces:
            for g in p.genes:
                P.gene_split[(p.name, g)] = self.split_of(f"{p.name}:{g}")
        if "genome" in d.sources and d.mode == "window":
            ws.extend(D.genome_windows(P.pieces, W, d.decoys_per_site, d.intergenic_decoys, self.config.seed))
        elif d.mode == "nucleotide" and P.pieces:  # true-site windows for the window evaluation
            ws.extend(D.genome_windows(P.pieces, W, 2.0, 0.0, self.config.seed))
        split = np.array([self.split_of(g) for g in ws.groups])
        train_idx = np.flatnonzero(split == "train")
        val_idx = np.flatnonzero(split == "validation")
        summary = {"width": W, "all": ws.counts()}
        # sources shorter than the window are N-padded: evaluation only (padding shortcut)
        if d.mode == "window" and d.padded_sources == "exclude":
            short = {s for s, w in SOURCE_WIDTH.items() if w < W}
            keep = np.array([ws.sources[i] not in short for i in train_idx], bool)
            summary["train_excluded_padded_sources"] = sorted(short & set(srcs))
            summary["train_excluded_padded_windows"] = int((~keep).sum())
            train_idx = train_idx[keep]
        if d.decontaminate and len(val_idx):
            val_pos = [ws.seqs[i] for i in val_idx if ws.labels[i] != D.NEITHER or ws.sources[i] != "genome"]
            kset = D.kmer_set(val_pos)
            keep = np.array([ws.sources[i] == "genome" and ws.labels[i] == D.NEITHER
                             or not D.shares_kmer(ws.seqs[i], kset) for i in train_idx], bool)
            summary["train_removed_sharing_40mer_with_validation"] = int((~keep).sum())
            train_idx = train_idx[keep]
        if d.max_train_examples and len(train_idx) > d.max_train_examples:
            rng = np.random.default_rng(self.config.seed)
            train_idx = np.sort(rng.choice(train_idx, d.max_train_examples, replace=False))
        P.windows = {"train": ws.subset(train_idx), "validation": ws.subset(val_idx)}
        summary["train"] = P.windows["train"].counts()
        summary["validation"] = P.windows["validation"].counts()
        if len(P.windows["train"]):
            P.pwm = SplicePWM().fit(P.windows["train"].seqs, P.windows["train"].labels)
        if d.mode == "nucleotide":
            for s in ("train", "validation"):
                P.chunks[s] = self._gene_chunks(P, s)
            n = len(P.chunks["train"][0])
            if d.max_train_examples and n > d.max_train_examples:  # keep every chunk with a site first
                has = P.chunks["train"][1].max(1) > 0
                rng = np.random.default_rng(self.config.seed)
                order = np.concatenate([rng.permutation(np.flatnonzero(has)), rng.permutation(np.flatnonzero(~has))])
                keep = np.sort(order[: d.max_train_examples])
                P.chunks["train"] = tuple(a[keep] for a in P.chunks["train"])
            summary["chunks"] = {s: int(len(v[0])) for s, v in P.chunks.items()}
        summary["genes"] = {s: sorted(f"{p}:{g}" for (p, g), v in P.gene_split.items() if v == s
                                      and self._has_sites(P, p, g)) for s in ("train", "validation")}
        P.summary = summary
        log.info("genomics data: %s", {k: v for k, v in summary.items() if k != "genes"})
        self._prepared = P
        return P

    @staticmethod
    def _has_sites(P, piece_name, gene_name) -> bool:
        piece = next(p for p in P.pieces if p.name == piece_name)
        g = piece.genes[gene_name]
        return any(s.strand == g.strand for s in piece.sites_of(gene_name))

    def eval_genes(self, P: Prepared, split: str) -> list[tuple[D.GenomePiece, D.Gene]]:
        out = []
        for p in P.pieces:
            for name, g in sorted(p.genes.items()):
                if P.gene_split.get((p.name, name)) == split and self._has_sites(P, p.name, name):
                    out.append((p, g))
        if self.config.data.eval_max_genes:
            out = out[: self.config.data.eval_max_genes]
        return out

    def _gene_chunks(self, P: Prepared, split: str):
        d = self.config.data
        xs, ys, ws_ = [], [], []
        for piece, gene in self.eval_genes(P, split) if split == "validation" else [
            (p, g) for p in P.pieces for n, g in p.genes.items()
            if P.gene_split[(p.name, n)] == split and self._has_sites(P, p.name, n)
        ]:
            tseq = D.transcript_region(piece, gene, d.context // 2)
            y = D.gene_labels(piece, gene)
            for a in range(0, len(y), d.block):
                xs.append(D.pad_slice(tseq, a, a + d.block + d.context))
                yy = np.zeros(d.block, np.int8)
                ww = np.zeros(d.block, np.float32)
                part = y[a : a + d.block]
                yy[: len(part)] = part
                ww[: len(part)] = 1.0
                ww[yy > 0] = d.site_weight
                ys.append(yy)
                ws_.append(ww)
        L = d.block + d.context
        if not xs:
            return np.zeros((0, L, 4), np.uint8), np.zeros((0, d.block), np.int8), np.zeros((0, d.block), np.float32)
        return D.encode(xs, L), np.stack(ys), np.stack(ws_)

    def build_inputs(self, split, input_context=None):
        import tensorflow as tf

        from sciarch.distribute import per_replica_batch_size, shard_for_worker
        from sciarch.epochs import map_with_seed, shuffle

        P = self.prepare()
        d = self.config.data
        bs = per_replica_batch_size(self.config.train.batch_size, input_context)
        if d.mode == "window":
            wset = P.windows[split]
            if not len(wset):
                raise D.GenomicsDataError(f"split '{split}' has no windows (check data.sources / validation_fraction)")
            x = D.encode(wset.seqs, self.width)
            y = np.asarray(wset.labels, np.int32)
            ds = tf.data.Dataset.from_tensor_slices((x, y))
        else:
            x, y, w = P.chunks[split]
            if not len(x):
                raise D.GenomicsDataError(f"split '{split}' has no gene chunks")
            ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32), w))
        ds = shard_for_worker(ds, input_context)
        training = split == "train"
        if training:  # epoch e's order and flank masks depend on (seed, e) only (resumes repeat them)
            ds = shuffle(ds, min(len(x), 50_000), self.config.seed, epoch=self.epoch)
        W = x.shape[1]
        h = W // 2
        m = d.flank_mask_width
        p = d.flank_mask_prob if (training and d.mode == "window") else 0.0
        central = tf.constant(((np.arange(W) >= h - m) & (np.arange(W) < h + m)).astype(np.float32))[:, None]

        def to_float(rng, *ex):
            xf = tf.cast(ex[0], tf.float32)
            if p > 0:
                mask = tf.random.stateless_uniform((), rng) < p
                xf = tf.where(mask, xf * central, xf)
            return (xf,) + tuple(ex[1:])

        if p > 0:
            ds = map_with_seed(ds, to_float, self.config.seed, epoch=self.epoch)
        else:
            ds = ds.map(lambda *ex: to_float(None, *ex), num_parallel_calls=tf.data.AUTOTUNE)
        if training and self.config.train.steps_per_epoch:
            ds = ds.repeat()
        return ds.batch(bs).prefetch(tf.data.AUTOTUNE)

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
        return build_nucleotide_model(d.context, attention_window=m.attention_window, **common)

    def build_metrics(self):
        import keras

        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    # ------------------------------------------------------------------ scoring
    def predict(self, model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """``model(x)`` in fixed-size batches through one traced function per model (the
        last batch is padded, so nothing is retraced across calls)."""
        import tensorflow as tf

        fn = getattr(model, "_sciarch_predict_fn", None)
        if fn is None:
            fn = tf.function(lambda t: model(t, training=False), reduce_retracing=True)
            model._sciarch_predict_fn = fn
        n = len(x)
        if n == 0:
            return np.zeros((0,) + tuple(model.output_shape[1:]), np.float32)
        bs = min(batch_size, n) if n < batch_size else batch_size
        out = []
        for a in range(0, n, bs):
            xb = x[a : a + bs]
            m = len(xb)
            if m < bs:
                xb = np.concatenate([xb, np.zeros((bs - m,) + xb.shape[1:], xb.dtype)])
            out.append(np.asarray(fn(tf.constant(xb, tf.float32)))[:m])
        return np.concatenate(out)

    def window_probs(self, model, windows: list[str]) -> np.ndarray:
        """Class probabilities ``[n, 3]`` for transcript-sense windows (junction at centre)."""
        if not windows:
            return np.zeros((0, 3), np.float32)
        if self.config.data.mode == "window":
            out = []
            for a in range(0, len(windows), 4096):
                x = D.encode(windows[a : a + 4096], self.config.data.context).astype(np.float32)
                out.append(self.predict(model, x, 512))
            return np.concatenate(out)
        # nucleotide model: read the junction's exon bases from a per-position prediction
        ctx = self.config.data.context
        W = len(windows[0])
        h = W // 2
        x = D.encode([D.pad_slice(w, -(ctx // 2), W + ctx // 2) for w in windows], W + ctx).astype(np.float32)
        p = self.predict(model, x, 64)
        acc, don = p[:, h, 1], p[:, h - 1, 2]
        return np.stack([1 - np.maximum(acc, don), acc, don], 1)

    def class_prior(self) -> np.ndarray:
        """Class frequencies of the training windows (window mode) or positions (nucleotide)."""
        P = self.prepare()
        if self.config.data.mode == "window":
            y = np.asarray(P.windows["train"].labels)
        else:
            y = P.chunks["train"][1][P.chunks["train"][2] > 0] if len(P.chunks["train"][1]) else np.zeros(0)
        counts = np.bincount(y.astype(int), minlength=3).astype(np.float64) + 1.0
        return counts / counts.sum()

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """Window class decisions under ``data.decision_prior``."""
        if self.config.data.decision_prior == "train":
            return probs.argmax(1)
        return (probs / self.class_prior()[None, :]).argmax(1)

    def score_transcript(self, model, tseq: str, flank: int, length: int) -> np.ndarray:
        """Per-position class probabilities ``[length, 3]`` over a transcript-sense region
        ``tseq`` that carries ``flank`` nt of context each side. Window mode scores the GT/AG
        candidates only (others stay 0), nucleotide mode every position."""
        d = self.config.data
        probs = np.zeros((length, 3), np.float32)
        if d.mode == "window":
            W = d.context
            h = W // 2
            cands = D.candidates_in(tseq)
            for kind, cls in (("donor", D.DONOR), ("acceptor", D.ACCEPTOR)):
                t = cands[kind] - flank
                t = t[(t >= 0) & (t < length)]
                for a in range(0, len(t), 8192):
                    tt = t[a : a + 8192]
                    junction = tt + flank + (1 if kind == "donor" else 0)
                    wins = [tseq[j - h : j - h + W] if j - h >= 0 and j - h + W <= len(tseq)
                            else D.pad_slice(tseq, j - h, j - h + W) for j in junction]
                    x = D.encode(wins, W).astype(np.float32)
                    probs[tt, cls] = self.predict(model, x, 1024)[:, cls]
            return probs
        ctx, B = d.context, d.block
        need = ctx // 2
        src = D.pad_slice(tseq, flank - need, flank + length + need)  # exactly ctx/2 of context
        starts = list(range(0, length, B))
        for a in range(0, len(starts), 16):
            xs = [D.pad_slice(src, s, s + B + ctx) for s in starts[a : a + 16]]
            p = self.predict(model, D.encode(xs, B + ctx).astype(np.float32), 16)
            for s, pp in zip(starts[a : a + 16], p):
                n = min(B, length - s)
                probs[s : s + n] = pp[:n]
        return probs

    def pwm_transcript(self, pwm: SplicePWM, tseq: str, flank: int, length: int) -> np.ndarray:
        """PWM pseudo-probabilities on the GT/AG candidates of a transcript-sense region."""
        W = self.width
        h = W // 2
        probs = np.zeros((length, 3), np.float32)
        cands = D.candidates_in(tseq)
        for kind, cls in (("donor", D.DONOR), ("acceptor", D.ACCEPTOR)):
            t = cands[kind] - flank
            t = t[(t >= 0) & (t < length)]
            for a in range(0, len(t), 50_000):
                tt = t[a : a + 50_000]
                junction = tt + flank + (1 if kind == "donor" else 0)
                wins = [D.pad_slice(tseq, j - h, j - h + W) for j in junction]
                probs[tt, cls] = pwm.predict_proba(D.encode(wins, W))[:, cls]
        return probs

    def score_gene(self, model, piece: D.GenomePiece, gene: D.Gene) -> np.ndarray:
        flank = max(self.config.data.context, self.width)
        tseq = D.transcript_region(piece, gene, flank)
        return self.score_transcript(model, tseq, flank, gene.end0 - gene.start0)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, model, split="validation", data_path=None) -> dict:
        P = self.prepare()
        d = self.config.data
        if data_path is not None:
            wset, genes = self._external(Path(data_path))
        else:
            if split not in self.splits:
                raise ValueError(f"unknown split '{split}' (known: {', '.join(self.splits)})")
            wset, genes = P.windows[split], self.eval_genes(P, split)
        return self.evaluate_sets(model, wset, genes)

    def evaluate_sets(self, model, wset: D.WindowSet, genes: list) -> dict:
        """Metrics of ``model`` and the PWM on windows ``wset`` and on ``[(piece, gene), ...]``.

        Metrics that are undefined on the given data (PR-AUC or top-k of a class without true
        sites, accuracy on an empty task) are left out rather than reported as NaN.
        """
        P = self.prepare()
        d = self.config.data
        out: dict[str, float] = {}
        store: dict = {}
        if d.eval_windows and len(wset):
            x = D.encode(wset.seqs, self.width)
            y = np.asarray(wset.labels)
            cand = np.array([D.candidate_type(s) for s in wset.seqs], bool).reshape(-1, 2)
            src = np.asarray(wset.sources)
            pm = self.window_probs(model, wset.seqs)
            out.update(window_metrics(y, pm, cand[:, 0], cand[:, 1], src, "windows/", self.decide(pm)))
            store["windows"] = {"labels": y, "model": pm, "seqs": wset.seqs}
            if P.pwm is not None:
                pp = P.pwm.predict_proba(x)
                out.update(window_metrics(y, pp, cand[:, 0], cand[:, 1], src, "windows/pwm/"))
                store["windows"]["pwm"] = pp
        if d.eval_genes and genes:
            labels, pm, pp = [], [], []
            from rich.progress import track

            flank = max(d.context, self.width)
            for piece, gene in track(genes, description="scoring genes", transient=True, disable=len(genes) < 3):
                tseq = D.transcript_region(piece, gene, flank)
                L = gene.end0 - gene.start0
                labels.append(D.gene_labels(piece, gene))
                pm.append(self.score_transcript(model, tseq, flank, L))
                if P.pwm is not None:
                    pp.append(self.pwm_transcript(P.pwm, tseq, flank, L))
            y = np.concatenate(labels)
            pmc = np.concatenate(pm)
            out.update(site_metrics(y, pmc, "genes/"))
            out["genes/genes"] = float(len(genes))
            out["genes/positions"] = float(len(y))
            store["genes"] = {"labels": y, "model": pmc, "names": [f"{p.name}:{g.name}" for p, g in genes]}
            if pp:
                ppc = np.concatenate(pp)
                out.update(site_metrics(y, ppc, "genes/pwm/"))
                store["genes"]["pwm"] = ppc
        self.last_eval = store
        tr = P.windows.get("train")
        out["data/train_windows"] = float(len(tr)) if tr is not None else 0.0
        if P.chunks:
            out["data/train_chunks"] = float(len(P.chunks["train"][0]))
        out["data/train_removed_40mer"] = float(P.summary.get("train_removed_sharing_40mer_with_validation", 0))
        # metrics undefined on this data (e.g. PR-AUC of a class with no true site) are left out
        return {k: v for k, v in out.items() if np.isfinite(v)}

    def _external(self, path: Path):
        """Windows and genes from a user file or folder in the embedded formats."""
        W = self.width
        if path.is_dir():
            wset = D.load_window_folder(path, W)
            pieces = D.load_pieces(path)
            genes = [(p, g) for p in pieces for n, g in sorted(p.genes.items())
                     if any(s.strand == g.strand for s in p.sites_of(n))]
            if not len(wset) and not genes:
                raise D.GenomicsDataError(f"{path}: no window files or labelled genome pieces found")
            return wset, genes
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file or folder")
        name = path.name
        if D.PIECE_RE.match(name):
            stem = D.re.sub(r"\.fa(\.gz)?$", "", name)
            tsv = path.parent / (stem + ".splice_sites.tsv")
            ann = []
            for a in sorted(path.parent.glob("spliceai_grch38_canonical_annotation*.tsv*")):
                ann += D.read_annotation(a)
            piece = D.load_piece(path, ann, tsv if tsv.is_file() else None)
            return D.WindowSet(), [(piece, g) for n, g in sorted(piece.genes.items()) if piece.sites_of(n)]
        wset = D.load_window_file(path, W)
        if wset is not None:
            return wset, []
        return D.load_labelled_fasta(path, W), []

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

    cli_module = "pipelines.genomics.cli"
