"""Splice-site window sets: aligned transcript-sense windows from the embedded window files
and cut from genome pieces (true sites and GT/AG decoys).

Sources (all in ``data/genomics``; see ``PROVENANCE.md`` there): UCI splice junctions
(60 nt, junction at 30), HS3D true donors/acceptors (140 nt, junction at 70),
DRANetSplicer sample windows (402 nt, junction at 200 for donors and 202 for
acceptors), and genome pieces (:mod:`pipelines.genomics.genome`). Coordinates and classes
are those of :mod:`pipelines.genomics.sequence`.

Each window carries its split group: a UCI GenBank locus, an HS3D accession, a genome gene
(with every decoy inside it), a 100-kb block of intergenic sequence; a DRANet record is its
own group (the sample carries no gene ids). The split itself is made in
:mod:`pipelines.genomics.prepare`.

Example:
    >>> from pipelines.genomics.data import WindowSet
    >>> ws = WindowSet()
    >>> ws.add("ACAGGTAA", 2, "fasta", "fasta:w1", "w1", 4)
    >>> len(ws), ws.counts()
    (1, {'fasta/donor': 1})
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sciarch.io.fasta import open_text, read_fasta

from pipelines.genomics.genome import GenomePiece, site_window, to_piece_index, transcript_region
from pipelines.genomics.sequence import (
    ACCEPTOR, CLASSES, DONOR, KIND_TO_CLASS, NEITHER, GenomicsDataError, candidate_type, candidates_in, pad_slice,
)


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
