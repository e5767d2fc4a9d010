"""Genome pieces: FASTA records with their genes, exon annotation and labelled splice sites.

A piece is ``<asm>_chr<N>_<start>-<end>.fa[.gz]`` with ``.splice_sites.tsv`` labels beside
it and a SpliceAI exon annotation table (``spliceai_grch38_canonical_annotation*.tsv``, or a
``<piece>.*annotation*.tsv`` of its own). Coordinates and classes are those of
:mod:`pipelines.genomics.sequence`.

Example:
    >>> from pipelines.genomics.genome import Gene, GenomePiece, gene_labels, transcript_region
    >>> piece = GenomePiece("toy", "chr1", 1, "AAACAGGTAAGTTTTTTTTAGGTTT")
    >>> gene = Gene("G", "+", 2, 23)
    >>> transcript_region(piece, gene, 2)
    'AAACAGGTAAGTTTTTTTTAGGTTT'
    >>> int(gene_labels(piece, gene).sum())
    0
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sciarch.io.fasta import FastaError, open_text, read_fasta

from pipelines.genomics.sequence import KIND_TO_CLASS, GenomicsDataError, cut_window, junction_of, pad_slice, revcomp

PIECE_RE = re.compile(r"^(?P<asm>[A-Za-z0-9]+)_(?P<chrom>chr[0-9XYM]+)_(?P<start>\d+)-(?P<end>\d+)\.fa(\.gz)?$")
HEADER_START_RE = re.compile(r"position 1 of this record = (chr[0-9XYM]+):(\d+)")
RECORD_RANGE_RE = re.compile(r"^(chr[0-9XYM]+|[0-9XYM]+):(\d+)-(\d+)$")
#: the shared SpliceAI annotation tables of the embedded layout
SHARED_ANNOTATION_GLOB = "spliceai_grch38_canonical_annotation*.tsv*"
#: reserved for evaluation, never loaded as training data (hg38 and hg19 alike): (chrom, first, last), 1-based
RESERVED_REGIONS = (("chr2", 1_700_000, 2_400_000),)


def piece_stem(file_name: str) -> str:
    """File stem of a genome-piece FASTA (``hg38_chr2_1-1699999.fa.gz`` -> ``hg38_chr2_1-1699999``)."""
    return re.sub(r"\.fa(\.gz)?$", "", file_name)


@dataclass
class Site:
    gene: str
    strand: str
    kind: str  # donor | acceptor
    pos0: int  # 0-based exon-base index in the piece
    dinucleotide: str = ""

@dataclass
class Gene:
    name: str
    strand: str
    start0: int  # 0-based, inclusive (piece index)
    end0: int  # 0-based, exclusive
    complete: bool = True  # whole transcript inside the piece

@dataclass
class GenomePiece:
    """A genome FASTA record with its coordinates, genes and labelled sites.

    Args:
        name: file stem (e.g. ``hg38_chr2_1-1699999``).
        chrom: chromosome name with ``chr``.
        start: chromosome coordinate (1-based) of index 0.
        sequence: the sequence (case preserved).
        genes: annotated genes overlapping the piece.
        sites: labelled splice sites inside the piece.
    """

    name: str
    chrom: str
    start: int
    sequence: str
    genes: dict[str, Gene] = field(default_factory=dict)
    sites: list[Site] = field(default_factory=list)

    @property
    def upper(self) -> str:
        if not hasattr(self, "_upper"):
            self._upper = self.sequence.upper()
        return self._upper

    def sites_of(self, gene: str) -> list[Site]:
        return [s for s in self.sites if s.gene == gene]

def read_annotation(path: Path) -> list[dict]:
    """SpliceAI annotation table (``#NAME CHROM STRAND TX_START TX_END EXON_START EXON_END``;
    0-based starts, 1-based inclusive ends)."""
    rows = []
    with open_text(path) as fh:
        for line_no, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            f = line.split("\t")
            if len(f) < 7:
                raise GenomicsDataError(f"{path}: line {line_no}: expected 7 tab-separated fields, got {len(f)}")
            try:
                starts = [int(x) for x in f[5].strip(",").split(",")]
                ends = [int(x) for x in f[6].strip(",").split(",")]
                rows.append(dict(name=f[0], chrom=f[1].removeprefix("chr"), strand=f[2], tx_start=int(f[3]),
                                 tx_end=int(f[4]), exons=sorted(zip(starts, ends))))
            except ValueError as exc:
                raise GenomicsDataError(f"{path}: line {line_no}: bad coordinate ({exc})") from None
            if f[2] not in "+-" or len(starts) != len(ends):
                raise GenomicsDataError(f"{path}: line {line_no}: bad strand or exon lists")
    return rows

def sites_from_annotation(rows: list[dict], chrom: str, start: int, length: int) -> list[Site]:
    """Splice sites of annotated introns lying entirely inside the piece."""
    out = []
    hi = start + length - 1
    for r in rows:
        if r["chrom"] != chrom.removeprefix("chr"):
            continue
        for (s1, e1), (s2, e2) in zip(r["exons"][:-1], r["exons"][1:]):
            if start <= e1 + 1 and s2 <= hi:
                d, a = (e1, s2 + 1) if r["strand"] == "+" else (s2 + 1, e1)
                out.append(Site(r["name"], r["strand"], "donor", d - start))
                out.append(Site(r["name"], r["strand"], "acceptor", a - start))
    return sorted(out, key=lambda s: (s.pos0, s.kind))

def read_sites(path: Path, start: int) -> list[Site]:
    """``.splice_sites.tsv`` (``chrom pos_1based_exon_boundary strand type gene intron_dinucleotide``)."""
    out = []
    with open_text(path) as fh:
        header = fh.readline().rstrip("\n").split("\t")
        need = ["chrom", "pos_1based_exon_boundary", "strand", "type", "gene"]
        if header[:5] != need:
            raise GenomicsDataError(f"{path}: line 1: expected columns {need}, got {header}")
        for line_no, line in enumerate(fh, 2):
            if not line.strip():
                continue
            f = line.rstrip("\n").split("\t")
            try:
                pos = int(f[1])
            except (ValueError, IndexError):
                raise GenomicsDataError(f"{path}: line {line_no}: bad position") from None
            if f[2] not in ("+", "-") or f[3] not in ("donor", "acceptor"):
                raise GenomicsDataError(f"{path}: line {line_no}: bad strand/type {f[2]!r}/{f[3]!r}")
            out.append(Site(f[4], f[2], f[3], pos - start, f[5] if len(f) > 5 else ""))
    return out

def _piece_start(path: Path, rec_desc: str) -> tuple[str, int]:
    m = PIECE_RE.match(path.name)
    if m:
        return m.group("chrom"), int(m.group("start"))
    m = HEADER_START_RE.search(rec_desc)
    if m:
        return m.group(1), int(m.group(2))
    m = RECORD_RANGE_RE.match(rec_desc.split()[0])
    if m:
        c = m.group(1)
        return (c if c.startswith("chr") else "chr" + c), int(m.group(2))
    return rec_desc.split()[0], 1

def load_piece(
    fasta: Path,
    annotation: list[dict] | None = None,
    sites_tsv: Path | None = None,
    chrom: str | None = None,
    start: int | None = None,
) -> GenomePiece:
    """One genome piece: the FASTA's single record, its genes (from ``annotation``) and
    sites (from ``sites_tsv`` when given, else derived from ``annotation``)."""
    fasta = Path(fasta)
    recs = read_fasta(fasta)
    if len(recs) != 1:
        raise GenomicsDataError(f"{fasta}: expected one sequence record, found {len(recs)}")
    rec = recs[0]
    c0, s0 = _piece_start(fasta, rec.description)
    chrom = chrom or c0
    start = start if start is not None else s0
    name = piece_stem(fasta.name)
    piece = GenomePiece(name, chrom, start, rec.sequence)
    n = len(rec.sequence)
    for r in annotation or []:
        if r["chrom"] != chrom.removeprefix("chr"):
            continue
        s, e = r["tx_start"] - (start - 1), r["tx_end"] - (start - 1)  # 0-based, exclusive end
        if e <= 0 or s >= n:
            continue
        piece.genes[r["name"]] = Gene(r["name"], r["strand"], max(0, s), min(n, e), s >= 0 and e <= n)
    if sites_tsv is not None:
        piece.sites = read_sites(sites_tsv, start)
    elif annotation:
        piece.sites = sites_from_annotation(annotation, chrom, start, n)
    for s in piece.sites:
        if not 0 <= s.pos0 < n:
            raise GenomicsDataError(f"{sites_tsv}: site of {s.gene} at piece index {s.pos0} lies outside {fasta}")
        if s.gene not in piece.genes:  # label without an annotation row: span of its sites
            g = piece.sites_of(s.gene)
            lo, hi = min(x.pos0 for x in g), max(x.pos0 for x in g)
            piece.genes[s.gene] = Gene(s.gene, s.strand, lo, hi + 1, False)
    return piece

def check_not_reserved(fasta: Path, chrom: str, start: int, length: int) -> None:
    """Refuse a piece overlapping a region reserved for evaluation (:data:`RESERVED_REGIONS`).

    Applies to every assembly (the hg38 and hg19 regions are reserved with the same coordinates)."""
    end = start + length - 1
    for c, lo, hi in RESERVED_REGIONS:
        if chrom.removeprefix("chr") == c.removeprefix("chr") and start <= hi and end >= lo:
            raise GenomicsDataError(
                f"{fasta}: {chrom}:{start:,}-{end:,} overlaps {c}:{lo:,}-{hi:,}, which is reserved for evaluation "
                f"and must never be used as training data; cut the piece to end before {lo:,} or start after {hi:,}")


def find_pieces(folder: Path) -> list[Path]:
    """Genome-piece FASTA files of the embedded layout in ``folder`` and ``folder/extra``."""
    folder = Path(folder)
    out = []
    for sub in (folder, folder / "extra"):
        if sub.is_dir():
            out += sorted(p for p in sub.iterdir() if PIECE_RE.match(p.name))
    return out

def load_pieces(folder: Path, names: list[str] | None = None, training: bool = True) -> list[GenomePiece]:
    """Load genome pieces with their labels and annotation from the embedded layout.

    Annotation: a ``<piece>.*annotation*.tsv`` beside the piece wins (the GRCh37 rows of
    the hg19 piece); otherwise every ``spliceai_grch38_canonical_annotation*.tsv[.gz]``
    in ``folder``. With ``training`` (the default: data folders of a run) a piece overlapping
    a region reserved for evaluation is refused (:func:`check_not_reserved`), before its
    sequence is read when the file name gives the coordinates; ``training=False`` is for
    scoring external evaluation data.
    """
    folder = Path(folder)
    shared_ann = []
    for p in sorted(folder.glob(SHARED_ANNOTATION_GLOB)):
        shared_ann += read_annotation(p)
    pieces = []
    for fa in find_pieces(folder):
        stem = piece_stem(fa.name)
        if names is not None and stem not in names:
            continue
        m = PIECE_RE.match(fa.name)
        if training and m:
            lo, hi = int(m.group("start")), int(m.group("end"))
            check_not_reserved(fa, m.group("chrom"), lo, hi - lo + 1)
        own = sorted(fa.parent.glob(stem + ".*annotation*.tsv*"))
        ann = read_annotation(own[0]) if own else shared_ann
        tsv = fa.parent / (stem + ".splice_sites.tsv")
        piece = load_piece(fa, ann, tsv if tsv.is_file() else None)
        if training:
            check_not_reserved(fa, piece.chrom, piece.start, len(piece.sequence))
        pieces.append(piece)
    return pieces

def transcript_region(piece: GenomePiece, gene: Gene, flank: int) -> str:
    """Transcript-sense gene sequence with ``flank`` nt each side (N beyond the piece)."""
    s = pad_slice(piece.sequence, gene.start0 - flank, gene.end0 + flank)
    return s if gene.strand == "+" else revcomp(s)

def to_piece_index(gene: Gene, t: np.ndarray | int):
    """Transcript-sense gene offset(s) -> + strand piece index."""
    return gene.start0 + t if gene.strand == "+" else gene.end0 - 1 - t

def gene_labels(piece: GenomePiece, gene: Gene) -> np.ndarray:
    """Per-position class (transcript sense) over the gene body."""
    y = np.zeros(gene.end0 - gene.start0, dtype=np.int8)
    for s in piece.sites_of(gene.name):
        if s.strand != gene.strand:
            continue
        t = s.pos0 - gene.start0 if gene.strand == "+" else gene.end0 - 1 - s.pos0
        if 0 <= t < len(y):
            y[t] = KIND_TO_CLASS[s.kind]
    return y

def site_window(piece: GenomePiece, pos0: int, strand: str, kind: str, width: int) -> str:
    return cut_window(piece.sequence, junction_of(pos0, strand, kind), strand, width)

def read_genome_fasta(path: Path) -> dict[str, str]:
    """All records of a genome FASTA as ``{id: sequence}`` (validated)."""
    try:
        return {r.id: r.sequence for r in read_fasta(path)}
    except FastaError:
        raise
