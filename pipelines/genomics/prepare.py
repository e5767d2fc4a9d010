"""Data preparation of the genomics pipeline: group splits, leak removal, gene chunks, tf.data.

Read top to bottom:

1. :func:`split_of`: a window's split group (gene, GenBank locus/accession, 100-kb block)
   goes to ``validation`` by a seeded hash (:func:`stable_fraction`) or because its genome
   piece is held out whole (``data.validation_pieces``); never by window.
2. :func:`prepare`: window sets (HS3D, DRANet, UCI) plus true-site and GT/AG decoy windows
   cut from the genome pieces, split by group; N-padded sources kept out of training;
   training windows sharing an exact 40-mer with any validation site window removed
   (:func:`kmer_set`, :func:`shares_kmer`; counted in the data summary); the PWM baseline
   fitted on the training windows; in nucleotide mode transcript-sense gene chunks with
   ``context // 2`` nt of flank each side (:func:`gene_chunks`, N beyond the piece).
3. :func:`make_dataset`: the ``tf.data`` pipeline of one split (per-replica batches,
   sharded per worker, seeded per-epoch shuffle and flank masking).
4. :func:`load_external`: windows and genes from a user file or folder (``evaluate --data``).

Example:
    >>> from pipelines.genomics.prepare import kmer_set, shares_kmer
    >>> shares_kmer("A" * 45, kmer_set(["T" * 40]))  # either strand counts
    True
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipelines.genomics.data import (
    WindowSet, genome_windows, load_labelled_fasta, load_window_file, load_window_folder,
)
from pipelines.genomics.genome import (
    PIECE_RE, SHARED_ANNOTATION_GLOB, Gene, GenomePiece, gene_labels, load_piece, load_pieces, piece_stem,
    read_annotation, transcript_region,
)
from pipelines.genomics.pwm import SplicePWM
from pipelines.genomics.sequence import NEITHER, GenomicsDataError, base_codes, encode, pad_slice, revcomp

if TYPE_CHECKING:
    from pipelines.genomics.pipeline import GenomicsConfig, GenomicsDataConfig

log = logging.getLogger("sciarch.genomics")

WINDOW_SOURCES = ("hs3d", "dranet", "uci")
SOURCE_WIDTH = {"uci": 60, "hs3d": 140, "dranet": 402}


@dataclass
class Prepared:
    windows: dict[str, WindowSet] = field(default_factory=dict)  # split -> windows
    pieces: list[GenomePiece] = field(default_factory=list)
    gene_split: dict[tuple[str, str], str] = field(default_factory=dict)  # (piece, gene) -> split
    chunks: dict[str, tuple[ChunkSet, np.ndarray, np.ndarray]] = field(default_factory=dict)
    pwm: SplicePWM | None = None
    summary: dict = field(default_factory=dict)


# ============================================================================ splits
def stable_fraction(key: str, seed: int) -> float:
    """A reproducible number in [0, 1) for ``key`` (used for group splits)."""
    return (zlib.crc32(f"{seed}:{key}".encode()) % 100_000) / 100_000.0


def window_width(d: GenomicsDataConfig) -> int:
    """Window width used for window sets and PWM windows (nucleotide mode: 140)."""
    return d.context if d.mode == "window" else 140


def split_of(group: str, d: GenomicsDataConfig, seed: int) -> str:
    """``train`` or ``validation`` for a split group (``piece:gene``, ``uci:locus``, ...)."""
    if group.split(":")[0] in d.validation_pieces:
        return "validation"
    return "validation" if stable_fraction(group, seed) < d.validation_fraction else "train"


# ============================================================================ leak removal
def kmer_set(seqs, k: int = 40) -> set[str]:
    out: set[str] = set()
    for s in seqs:
        for t in (s.upper(), revcomp(s.upper())):
            out.update(t[i : i + k] for i in range(len(t) - k + 1) if "N" not in t[i : i + k])
    return out


def shares_kmer(seq: str, kmers: set[str], k: int = 40) -> bool:
    u = seq.upper()
    return any(u[i : i + k] in kmers for i in range(len(u) - k + 1))


# ============================================================================ genes
def has_sites(P: Prepared, piece_name: str, gene_name: str) -> bool:
    """Whether the gene has a labelled site on its own strand."""
    piece = next(p for p in P.pieces if p.name == piece_name)
    g = piece.genes[gene_name]
    return any(s.strand == g.strand for s in piece.sites_of(gene_name))


def eval_genes(P: Prepared, split: str, max_genes: int | None = None) -> list[tuple[GenomePiece, Gene]]:
    """``[(piece, gene), ...]`` of a split with labelled sites, sorted by name (at most ``max_genes``).

    Only whole genes: a transcript cut by the piece's end (e.g. PXDN, which runs into the
    region reserved for evaluation) would be scored against N and miss its outside sites."""
    out = []
    for p in P.pieces:
        for name, g in sorted(p.genes.items()):
            if P.gene_split.get((p.name, name)) == split and g.complete and has_sites(P, p.name, name):
                out.append((p, g))
    if max_genes:
        out = out[:max_genes]
    return out


class ChunkSet:
    """Nucleotide-mode inputs of a split, streamed: each gene's transcript-sense region (with
    ``context // 2`` nt of flank, N beyond the piece) is kept once as base codes, and chunk
    ``i`` (``block + context`` nt, one-hot ``uint8``) is cut from it on demand, so no
    ``[n, block + context, 4]`` array is ever materialised for training. ``np.asarray(chunks)``
    encodes them all (small sets, tests)."""

    def __init__(self, block: int, context: int):
        self.block, self.context = block, context
        self.regions: list[np.ndarray] = []  # int8 base codes per gene (4 = N)
        self.index: list[tuple[int, int]] = []  # (region, offset) per chunk

    def add_region(self, tseq: str, n_positions: int) -> None:
        r = len(self.regions)
        self.regions.append(base_codes(tseq))
        self.index += [(r, a) for a in range(0, n_positions, self.block)]

    @property
    def width(self) -> int:
        return self.block + self.context

    def __len__(self) -> int:
        return len(self.index)

    def subset(self, keep: np.ndarray) -> "ChunkSet":
        out = ChunkSet(self.block, self.context)
        out.regions, out.index = self.regions, [self.index[i] for i in keep]
        return out

    def x(self, i: int) -> np.ndarray:
        """One-hot ``uint8 [block + context, 4]`` of chunk ``i`` (N past the region's end)."""
        r, a = self.index[int(i)]
        codes = self.regions[r][a : a + self.width]
        out = np.zeros((self.width, 4), np.uint8)
        ok = codes < 4
        out[np.flatnonzero(ok), codes[ok]] = 1
        return out

    def __array__(self, dtype=None, copy=None):
        x = np.stack([self.x(i) for i in range(len(self))]) if len(self) else np.zeros((0, self.width, 4), np.uint8)
        return x if dtype is None else x.astype(dtype)


def gene_chunks(P: Prepared, split: str, d: GenomicsDataConfig):
    """Nucleotide mode: ``(x ChunkSet [n] of block + context nt, y int8 [n, block], w float32 [n, block])``
    of the split's genes, in ``block``-nt chunks with ``context // 2`` nt of flank each side."""
    xs = ChunkSet(d.block, d.context)
    ys, ws_ = [], []
    for piece, gene in eval_genes(P, split, d.eval_max_genes) if split == "validation" else [
        (p, g) for p in P.pieces for n, g in p.genes.items()
        if P.gene_split[(p.name, n)] == split and has_sites(P, p.name, n)
    ]:
        tseq = transcript_region(piece, gene, d.context // 2)
        y = gene_labels(piece, gene)
        xs.add_region(tseq, len(y))
        for a in range(0, len(y), d.block):
            yy = np.zeros(d.block, np.int8)
            ww = np.zeros(d.block, np.float32)
            part = y[a : a + d.block]
            yy[: len(part)] = part
            ww[: len(part)] = 1.0
            ww[yy > 0] = d.site_weight
            ys.append(yy)
            ws_.append(ww)
    if not ys:
        return xs, np.zeros((0, d.block), np.int8), np.zeros((0, d.block), np.float32)
    return xs, np.stack(ys), np.stack(ws_)


# ============================================================================ prepare
def prepare(d: GenomicsDataConfig, root: Path, seed: int) -> Prepared:
    """Load, split and encode everything of the data section ``d`` (data folder ``root``)."""
    P = Prepared()
    W = window_width(d)
    srcs = [s for s in d.sources if s in WINDOW_SOURCES]
    ws = load_window_folder(root, W, srcs) if srcs else WindowSet()
    P.pieces = load_pieces(root, d.pieces) if ("genome" in d.sources or d.mode == "nucleotide") else []
    if d.pieces is not None:
        missing = set(d.pieces) - {p.name for p in P.pieces}
        if missing:
            raise GenomicsDataError(f"{root}: genome piece(s) not found: {sorted(missing)}")
    bad = set(d.validation_pieces) - {p.name for p in P.pieces}
    if bad:
        raise GenomicsDataError(f"data.validation_pieces: unknown piece(s) {sorted(bad)}")
    for p in P.pieces:
        for g in p.genes:
            P.gene_split[(p.name, g)] = split_of(f"{p.name}:{g}", d, seed)
    if "genome" in d.sources and d.mode == "window":
        ws.extend(genome_windows(P.pieces, W, d.decoys_per_site, d.intergenic_decoys, seed))
    elif d.mode == "nucleotide" and P.pieces:  # true-site windows for the window evaluation
        ws.extend(genome_windows(P.pieces, W, 2.0, 0.0, seed))
    split = np.array([split_of(g, d, seed) for g in ws.groups])
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
        val_pos = [ws.seqs[i] for i in val_idx if ws.labels[i] != NEITHER or ws.sources[i] != "genome"]
        kset = kmer_set(val_pos)
        keep = np.array([ws.sources[i] == "genome" and ws.labels[i] == NEITHER
                         or not shares_kmer(ws.seqs[i], kset) for i in train_idx], bool)
        summary["train_removed_sharing_40mer_with_validation"] = int((~keep).sum())
        train_idx = train_idx[keep]
    if d.max_train_examples and len(train_idx) > d.max_train_examples:
        rng = np.random.default_rng(seed)
        train_idx = np.sort(rng.choice(train_idx, d.max_train_examples, replace=False))
    P.windows = {"train": ws.subset(train_idx), "validation": ws.subset(val_idx)}
    summary["train"] = P.windows["train"].counts()
    summary["validation"] = P.windows["validation"].counts()
    if len(P.windows["train"]):
        P.pwm = SplicePWM().fit(P.windows["train"].seqs, P.windows["train"].labels)
    if d.mode == "nucleotide":
        for s in ("train", "validation"):
            P.chunks[s] = gene_chunks(P, s, d)
        n = len(P.chunks["train"][0])
        if d.max_train_examples and n > d.max_train_examples:  # keep every chunk with a site first
            has = P.chunks["train"][1].max(1) > 0
            rng = np.random.default_rng(seed)
            order = np.concatenate([rng.permutation(np.flatnonzero(has)), rng.permutation(np.flatnonzero(~has))])
            keep = np.sort(order[: d.max_train_examples])
            x, y, w = P.chunks["train"]
            P.chunks["train"] = (x.subset(keep), y[keep], w[keep])
        summary["chunks"] = {s: int(len(v[0])) for s, v in P.chunks.items()}
    summary["genes"] = {s: sorted(f"{p}:{g}" for (p, g), v in P.gene_split.items() if v == s
                                  and has_sites(P, p, g)) for s in ("train", "validation")}
    P.summary = summary
    log.info("genomics data: %s", {k: v for k, v in summary.items() if k != "genes"})
    return P


# ============================================================================ tf.data
def make_dataset(P: Prepared, config: GenomicsConfig, split: str, epoch=None, input_context=None):
    """The batched ``tf.data.Dataset`` of ``split`` (see ``Pipeline.build_inputs``)."""
    import tensorflow as tf

    from sciarch.distribute import per_replica_batch_size, shard_for_worker
    from sciarch.epochs import map_with_seed, shuffle

    d = config.data
    bs = per_replica_batch_size(config.train.batch_size, input_context)
    if d.mode == "window":
        wset = P.windows[split]
        if not len(wset):
            raise GenomicsDataError(f"split '{split}' has no windows (check data.sources / validation_fraction)")
        x = encode(wset.seqs, window_width(d))
        y = np.asarray(wset.labels, np.int32)
        ds = tf.data.Dataset.from_tensor_slices((x, y))
    else:  # streamed: chunk indices through the pipeline, sequences cut from the gene regions on the fly
        chunks, y, w = P.chunks[split]
        if not len(chunks):
            raise GenomicsDataError(f"split '{split}' has no gene chunks")
        ds = tf.data.Dataset.from_tensor_slices((np.arange(len(chunks), dtype=np.int64), y.astype(np.int32), w))
        L = chunks.width

        def cut(i, yy, ww):
            xx = tf.numpy_function(chunks.x, [i], tf.uint8, stateful=False)
            return tf.ensure_shape(xx, (L, 4)), yy, ww

        x = chunks
    ds = shard_for_worker(ds, input_context)
    training = split == "train"
    if training:  # epoch e's order and flank masks depend on (seed, e) only (resumes repeat them)
        ds = shuffle(ds, min(len(x), 50_000), config.seed, epoch=epoch)
    if d.mode == "nucleotide":
        ds = ds.map(cut, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    W = x.shape[1] if d.mode == "window" else x.width
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
        ds = map_with_seed(ds, to_float, config.seed, epoch=epoch)
    else:
        ds = ds.map(lambda *ex: to_float(None, *ex), num_parallel_calls=tf.data.AUTOTUNE)
    if training and config.train.steps_per_epoch:
        ds = ds.repeat()
    return ds.batch(bs).prefetch(tf.data.AUTOTUNE)


# ============================================================================ external data
def load_external(path: Path, width: int) -> tuple[WindowSet, list[tuple[GenomePiece, Gene]]]:
    """Windows and genes from a user file or folder in the embedded formats."""
    W = width
    if path.is_dir():
        wset = load_window_folder(path, W)
        pieces = load_pieces(path, training=False)  # evaluation data
        genes = [(p, g) for p in pieces for n, g in sorted(p.genes.items())
                 if any(s.strand == g.strand for s in p.sites_of(n))]
        if not len(wset) and not genes:
            raise GenomicsDataError(f"{path}: no window files or labelled genome pieces found")
        return wset, genes
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file or folder")
    name = path.name
    if PIECE_RE.match(name):
        stem = piece_stem(name)
        tsv = path.parent / (stem + ".splice_sites.tsv")
        ann = []
        for a in sorted(path.parent.glob(SHARED_ANNOTATION_GLOB)):
            ann += read_annotation(a)
        piece = load_piece(path, ann, tsv if tsv.is_file() else None)
        return WindowSet(), [(piece, g) for n, g in sorted(piece.genes.items()) if piece.sites_of(n)]
    wset = load_window_file(path, W)
    if wset is not None:
        return wset, []
    return load_labelled_fasta(path, W), []
