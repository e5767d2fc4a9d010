"""Splice-site data: window sets, genome pieces with exon annotation, splits and encodings.

Coordinates used throughout
---------------------------
* A **site** is the exon base next to the intron, as in the ``*.splice_sites.tsv`` files:
  for a donor the last exon base before the intron, for an acceptor the first exon base
  after it (transcript sense). ``pos0`` is its 0-based index in a genome piece (+ strand).
* A **window** is cut in transcript sense (reverse-complemented for minus-strand sites)
  so that the exon/intron junction lies between indices ``h - 1`` and ``h`` with
  ``h = width // 2``: a donor has ``GT`` at ``[h, h + 2)``, an acceptor ``AG`` at
  ``[h - 2, h)``. Positions outside the piece are padded with ``N``.
* Classes: 0 = neither, 1 = acceptor, 2 = donor (SpliceAI's order).

Sources (all in ``data/genomics``; see ``PROVENANCE.md`` there): UCI splice junctions
(60 nt, junction at 30), HS3D true donors/acceptors (140 nt, junction at 70),
DRANetSplicer sample windows (402 nt, junction at 200 for donors and 202 for
acceptors), and genome pieces ``<asm>_chr<N>_<start>-<end>.fa.gz`` with
``.splice_sites.tsv`` labels and the SpliceAI exon annotation tables.

Splits are by group, never by window: a UCI GenBank locus, an HS3D accession, a
genome gene (with every decoy inside it), a 100-kb block of intergenic sequence; a
DRANet record is its own group (the sample carries no gene ids). Groups are assigned
by a seeded hash, and whole genome pieces can be held out by name.

Example:
    >>> from pipelines.genomics.data import cut_window, revcomp
    >>> seq = "AAAACAGGTAAGTTTT"          # + strand; a donor junction between 6 and 7
    >>> cut_window(seq, 7, "+", 8)
    'ACAGGTAA'
    >>> cut_window(revcomp(seq), len(seq) - 7, "-", 8) == cut_window(seq, 7, "+", 8)
    True
"""

from __future__ import annotations

import csv
import gzip
import logging
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sciarch.io.fasta import FastaError, open_text, read_fasta

log = logging.getLogger("sciarch.genomics")

CLASSES = ("neither", "acceptor", "donor")
NEITHER, ACCEPTOR, DONOR = 0, 1, 2
KIND_TO_CLASS = {"acceptor": ACCEPTOR, "donor": DONOR}

_COMP = str.maketrans("ACGTNacgtn", "TGCANtgcan")
_LUT = np.full(256, 4, dtype=np.int8)
for _i, _c in enumerate("ACGT"):
    _LUT[ord(_c)] = _i
    _LUT[ord(_c.lower())] = _i
_EYE = np.concatenate([np.eye(4, dtype=np.uint8), np.zeros((1, 4), np.uint8)])

PIECE_RE = re.compile(r"^(?P<asm>[A-Za-z0-9]+)_(?P<chrom>chr[0-9XYM]+)_(?P<start>\d+)-(?P<end>\d+)\.fa(\.gz)?$")
HEADER_START_RE = re.compile(r"position 1 of this record = (chr[0-9XYM]+):(\d+)")
RECORD_RANGE_RE = re.compile(r"^(chr[0-9XYM]+|[0-9XYM]+):(\d+)-(\d+)$")


class GenomicsDataError(ValueError):
    """A data file of the genomics pipeline is malformed (message names file and line)."""


# ----------------------------------------------------------------------------- encoding
def revcomp(seq: str) -> str:
    """Reverse complement (case and N preserved)."""
    return seq.translate(_COMP)[::-1]


def encode(seqs: list[str] | str, length: int | None = None) -> np.ndarray:
    """One-hot encode sequences into ``uint8 [n, L, 4]`` (A, C, G, T; N = all zeros).

    Shorter sequences are right-padded with N to ``length`` (default: the longest).
    """
    if isinstance(seqs, str):
        seqs = [seqs]
    length = length or max((len(s) for s in seqs), default=0)
    idx = np.full((len(seqs), length), 4, dtype=np.int8)
    for i, s in enumerate(seqs):
        b = np.frombuffer(s.encode("ascii", "replace")[:length], dtype=np.uint8)
        idx[i, : len(b)] = _LUT[b]
    return _EYE[idx]


def pad_slice(seq: str, a: int, b: int) -> str:
    """``seq[a:b]`` with N where the range leaves the sequence."""
    n = len(seq)
    left = "N" * max(0, -a)
    right = "N" * max(0, b - max(n, a))
    return left + seq[max(0, a) : max(0, min(b, n))] + right


def cut_window(seq: str, junction: int, strand: str, width: int) -> str:
    """Transcript-sense window of ``width`` nt around the + strand junction index
    ``junction`` (the junction lies between ``junction - 1`` and ``junction``); the window's
    junction is at ``width // 2``. Minus-strand windows are reverse-complemented."""
    h = width // 2
    if strand == "+":
        return pad_slice(seq, junction - h, junction + width - h)
    return revcomp(pad_slice(seq, junction - (width - h), junction + h))


def junction_of(pos0: int, strand: str, kind: str) -> int:
    """+ strand junction index of a site whose exon base is at 0-based ``pos0``."""
    if (strand == "+") == (kind == "donor"):
        return pos0 + 1
    return pos0


def candidate_type(window: str) -> tuple[bool, bool]:
    """(is a GT donor candidate, is an AG acceptor candidate) for a transcript-sense window."""
    h = len(window) // 2
    w = window.upper()
    return w[h : h + 2] == "GT", w[h - 2 : h] == "AG"


def stable_fraction(key: str, seed: int) -> float:
    """A reproducible number in [0, 1) for ``key`` (used for group splits)."""
    return (zlib.crc32(f"{seed}:{key}".encode()) % 100_000) / 100_000.0


# ----------------------------------------------------------------------------- windows
@dataclass
class WindowSet:
    """Aligned windows (transcript sense, junction at ``width // 2``).

    Args:
        seqs: window strings (``width`` long).
        labels: class per window (0 neither, 1 acceptor, 2 donor).
        sources: data set name per window (``hs3d``, ``dranet``, ``uci``, ``genome``).
        groups: split group per window (locus / accession / gene / block).
        names: record name per window (for reports).
        native: nucleotides of real sequence each side of the junction in the source
            (the rest of the window is N padding).
    """

    seqs: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    native: list[int] = field(default_factory=list)

    def add(self, seq, label, source, group, name, native):
        self.seqs.append(seq)
        self.labels.append(int(label))
        self.sources.append(source)
        self.groups.append(group)
        self.names.append(name)
        self.native.append(int(native))

    def extend(self, other: "WindowSet") -> "WindowSet":
        for f in ("seqs", "labels", "sources", "groups", "names", "native"):
            getattr(self, f).extend(getattr(other, f))
        return self

    def subset(self, idx) -> "WindowSet":
        out = WindowSet()
        for i in idx:
            out.add(self.seqs[i], self.labels[i], self.sources[i], self.groups[i], self.names[i], self.native[i])
        return out

    def __len__(self) -> int:
        return len(self.seqs)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s, y in zip(self.sources, self.labels):
            k = f"{s}/{CLASSES[y]}"
            out[k] = out.get(k, 0) + 1
        return dict(sorted(out.items()))


def recentre(seq: str, junction: int, width: int) -> tuple[str, int]:
    """Re-cut an already transcript-sense window with its junction at ``junction`` into
    ``width`` nt with the junction at ``width // 2``; return it and the native half-width."""
    h = width // 2
    native = min(junction, len(seq) - junction)
    return pad_slice(seq, junction - h, junction + width - h), native


def load_uci(path: Path, width: int) -> WindowSet:
    """UCI splice junctions TSV (``class instance locus sequence``; junction at 30).

    IUPAC ambiguity letters in the original (D, N, R, S) become N; any other letter is
    an error naming the line.
    """
    ws = WindowSet()
    cls_map = {"EI": DONOR, "IE": ACCEPTOR, "N": NEITHER}
    with open_text(path) as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:4]] != ["class", "instance", "locus", "sequence"]:
            raise GenomicsDataError(f"{path}: line 1: expected header 'class instance locus sequence', got {header}")
        for line_no, row in enumerate(reader, 2):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 4:
                raise GenomicsDataError(f"{path}: line {line_no}: expected 4 tab-separated fields, got {len(row)}")
            cls, inst, locus, seq = (x.strip() for x in row[:4])
            if cls not in cls_map:
                raise GenomicsDataError(f"{path}: line {line_no}: class must be EI, IE or N, got {cls!r}")
            bad = re.search(r"[^ACGTNacgtnRYSWKMBDHVrykwsmbdhv]", seq)
            if bad:
                raise GenomicsDataError(
                    f"{path}: line {line_no} ({inst}): invalid letter {bad.group()!r} at position {bad.start() + 1}"
                )
            if len(seq) != 60:
                raise GenomicsDataError(f"{path}: line {line_no} ({inst}): expected 60 nt, got {len(seq)}")
            seq = re.sub(r"[RYSWKMBDHVrykwsmbdhv]", "N", seq)
            w, native = recentre(seq, 30, width)
            ws.add(w, cls_map[cls], "uci", f"uci:{locus}", inst, native)
    return ws


def _fasta_windows(path: Path, width: int, junction: int, label: int, source: str, group_fn) -> WindowSet:
    ws = WindowSet()
    for rec in read_fasta(path):
        w, native = recentre(rec.sequence, junction, width)
        ws.add(w, label, source, group_fn(rec.id), rec.id, native)
    return ws


WINDOW_FILE_RE = re.compile(
    r"^(?:(?P<hs3d>hs3d_(?P<hkind>donor|acceptor)_true)|(?P<dra>dranet_(?P<dkind>donor|acceptor)_(?P<lab>positive|negative))"
    r"|(?P<uci>uci_splice))\.(?:fa|fasta|tsv)(?:\.gz)?$"
)


def load_window_file(path: Path, width: int) -> WindowSet | None:
    """One window file of the embedded layout (recognised by name), else None."""
    path = Path(path)
    m = WINDOW_FILE_RE.match(path.name)
    if not m:
        return None
    if m.group("hs3d"):
        return _fasta_windows(path, width, 70, KIND_TO_CLASS[m.group("hkind")], "hs3d",
                              lambda rid: "hs3d:" + rid.split("(")[0])
    if m.group("dra"):
        kind = m.group("dkind")
        y = KIND_TO_CLASS[kind] if m.group("lab") == "positive" else NEITHER
        return _fasta_windows(path, width, 200 if kind == "donor" else 202, y, "dranet", lambda rid: "dranet:" + rid)
    return load_uci(path, width)


def load_window_folder(folder: Path, width: int, sources=("hs3d", "dranet", "uci")) -> WindowSet:
    """Every window file of the embedded layout found in ``folder`` (plain or .gz)."""
    ws = WindowSet()
    for p in sorted(Path(folder).iterdir()):
        m = WINDOW_FILE_RE.match(p.name)
        if m and any(m.group(s if s != "dranet" else "dra") for s in sources):
            ws.extend(load_window_file(p, width))
    return ws


def load_labelled_fasta(path: Path, width: int) -> WindowSet:
    """A user FASTA of labelled windows: the junction is at the centre (``len // 2``) and the
    label is the header's first word after the id or a ``label=`` field: acceptor/donor/neither."""
    ws = WindowSet()
    for rec in read_fasta(path):
        m = re.search(r"\b(?:label=)?(acceptor|donor|neither)\b", rec.description.split(None, 1)[1]
                      if " " in rec.description else "", re.I)
        if not m:
            raise GenomicsDataError(
                f"{path}: record {rec.index + 1} '{rec.id}' (line {rec.line}): header needs a label "
                "(acceptor, donor or neither, e.g. '>id label=donor')"
            )
        w, native = recentre(rec.sequence, len(rec.sequence) // 2, width)
        ws.add(w, KIND_TO_CLASS.get(m.group(1).lower(), NEITHER), "fasta", f"fasta:{rec.id}", rec.id, native)
    return ws


# ----------------------------------------------------------------------------- genome
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
        name: file stem (e.g. ``hg38_chr2_1-1760000``).
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
    name = re.sub(r"\.fa(\.gz)?$", "", fasta.name)
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


def find_pieces(folder: Path) -> list[Path]:
    """Genome-piece FASTA files of the embedded layout in ``folder`` and ``folder/extra``."""
    folder = Path(folder)
    out = []
    for sub in (folder, folder / "extra"):
        if sub.is_dir():
            out += sorted(p for p in sub.iterdir() if PIECE_RE.match(p.name))
    return out


def load_pieces(folder: Path, names: list[str] | None = None) -> list[GenomePiece]:
    """Load genome pieces with their labels and annotation from the embedded layout.

    Annotation: a ``<piece>.*annotation*.tsv`` beside the piece wins (the GRCh37 rows of
    the hg19 piece); otherwise every ``spliceai_grch38_canonical_annotation*.tsv[.gz]``
    in ``folder``.
    """
    folder = Path(folder)
    shared_ann = []
    for p in sorted(folder.glob("spliceai_grch38_canonical_annotation*.tsv*")):
        shared_ann += read_annotation(p)
    pieces = []
    for fa in find_pieces(folder):
        stem = re.sub(r"\.fa(\.gz)?$", "", fa.name)
        if names is not None and stem not in names:
            continue
        own = sorted(fa.parent.glob(stem + ".*annotation*.tsv*"))
        ann = read_annotation(own[0]) if own else shared_ann
        tsv = fa.parent / (stem + ".splice_sites.tsv")
        pieces.append(load_piece(fa, ann, tsv if tsv.is_file() else None))
    return pieces


# ----------------------------------------------------------------------------- candidates
def transcript_region(piece: GenomePiece, gene: Gene, flank: int) -> str:
    """Transcript-sense gene sequence with ``flank`` nt each side (N beyond the piece)."""
    s = pad_slice(piece.sequence, gene.start0 - flank, gene.end0 + flank)
    return s if gene.strand == "+" else revcomp(s)


def to_piece_index(gene: Gene, t: np.ndarray | int):
    """Transcript-sense gene offset(s) -> + strand piece index."""
    return gene.start0 + t if gene.strand == "+" else gene.end0 - 1 - t


def candidates_in(tseq: str) -> dict[str, np.ndarray]:
    """Exon-base offsets in a transcript-sense string of GT donor / AG acceptor candidates."""
    u = tseq.upper()
    donor = np.array([m.start() - 1 for m in re.finditer("(?=GT)", u) if m.start() >= 1], dtype=np.int64)
    acceptor = np.array([m.start() + 2 for m in re.finditer("(?=AG)", u) if m.start() + 2 < len(u)], dtype=np.int64)
    return {"donor": donor, "acceptor": acceptor}


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


def genome_windows(
    pieces: list[GenomePiece],
    width: int,
    decoys_per_site: float,
    intergenic_decoys: float,
    seed: int,
) -> WindowSet:
    """True-site windows of every piece plus GT/AG decoy windows cut from the genome.

    Decoys: for each labelled gene and kind, ``decoys_per_site`` x (number of its true
    sites) candidates drawn from the gene body on the gene's strand (the hard negatives a
    gene scan faces), plus ``intergenic_decoys`` x (sites of the piece) candidates drawn
    anywhere on either strand. A decoy inside a gene belongs to that gene's split group.
    """
    rng = np.random.default_rng(seed)
    ws = WindowSet()
    for piece in pieces:
        true = {(s.pos0, s.strand, s.kind) for s in piece.sites}
        for s in piece.sites:
            w = site_window(piece, s.pos0, s.strand, s.kind, width)
            ws.add(w, KIND_TO_CLASS[s.kind], "genome", f"{piece.name}:{s.gene}",
                   f"{piece.name}:{s.gene}:{s.kind}:{s.pos0 + piece.start}{s.strand}", width // 2)
        spans = sorted(((g.start0, g.end0, g.name) for g in piece.genes.values()))
        starts = np.array([s[0] for s in spans]) if spans else np.zeros(0, int)

        def group_of(pos0, strand):
            for a, b, name in spans:
                if a <= pos0 < b and piece.genes[name].strand == strand:
                    return f"{piece.name}:{name}"
            return f"{piece.name}:block{pos0 // 100_000}"

        del starts
        for gname, gene in piece.genes.items():
            gsites = [s for s in piece.sites_of(gname) if s.strand == gene.strand]
            if not gsites:
                continue
            tseq = transcript_region(piece, gene, 0)
            cands = candidates_in(tseq)
            for kind in ("donor", "acceptor"):
                n_true = sum(s.kind == kind for s in gsites)
                pos = to_piece_index(gene, cands[kind])
                pos = np.array([p for p in pos if (int(p), gene.strand, kind) not in true])
                n = min(len(pos), int(round(decoys_per_site * n_true)))
                for p in rng.choice(pos, size=n, replace=False) if n else []:
                    p = int(p)
                    ws.add(site_window(piece, p, gene.strand, kind, width), NEITHER, "genome",
                           f"{piece.name}:{gname}", f"{piece.name}:decoy:{kind}:{p + piece.start}{gene.strand}",
                           width // 2)
        n_extra = int(round(intergenic_decoys * len(piece.sites)))
        u = piece.upper
        n = len(u)
        made = 0
        tries = 0
        while made < n_extra and tries < 50 * max(1, n_extra):
            tries += 1
            p = int(rng.integers(2, n - 3))
            strand = "+" if rng.random() < 0.5 else "-"
            kind = "donor" if rng.random() < 0.5 else "acceptor"
            if (p, strand, kind) in true:
                continue
            w = site_window(piece, p, strand, kind, width)
            is_d, is_a = candidate_type(w)
            if (kind == "donor" and not is_d) or (kind == "acceptor" and not is_a) or "N" in w[width // 2 - 20: width // 2 + 20].upper():
                continue
            ws.add(w, NEITHER, "genome", group_of(p, strand),
                   f"{piece.name}:decoy:{kind}:{p + piece.start}{strand}", width // 2)
            made += 1
    return ws


def kmer_set(seqs, k: int = 40) -> set[str]:
    out: set[str] = set()
    for s in seqs:
        for t in (s.upper(), revcomp(s.upper())):
            out.update(t[i : i + k] for i in range(len(t) - k + 1) if "N" not in t[i : i + k])
    return out


def shares_kmer(seq: str, kmers: set[str], k: int = 40) -> bool:
    u = seq.upper()
    return any(u[i : i + k] in kmers for i in range(len(u) - k + 1))


def read_genome_fasta(path: Path) -> dict[str, str]:
    """All records of a genome FASTA as ``{id: sequence}`` (validated)."""
    try:
        return {r.id: r.sequence for r in read_fasta(path)}
    except FastaError:
        raise
