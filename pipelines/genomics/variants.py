"""Variant scoring: splice-site gain/loss delta scores of VCF variants (SpliceAI's convention).

For every variant and every annotated gene whose transcript covers it, the reference and the
alternative sequence are scored on the gene's strand over the positions within ``distance`` nt
of the variant (with the model's full context around them, taken from the genome), and

* ``DS_AG`` / ``DS_DG`` (acceptor / donor gain) = max over positions of ``alt - ref``,
* ``DS_AL`` / ``DS_DL`` (acceptor / donor loss) = max over positions of ``ref - alt``,
* ``DP_*`` = offset (nt, + strand, relative to the variant's first base) where that maximum lies.

Deletions: the alternative's scores get zeros where the deleted bases were; insertions: the
inserted stretch is represented by its maximum (as SpliceAI 1.3 does), so the two score vectors
align position by position. VCF output adds ``SpliceAI=ALLELE|SYMBOL|DS_AG|DS_AL|DS_DG|DS_DL|
DP_AG|DP_AL|DP_DG|DP_DL`` to INFO (one entry per allele and gene, comma-separated); TSV output
has one row per allele and gene. The VCF is streamed: one record in, its line out.

Example:
    >>> delta_scores(np.array([[1, 0, 0], [0, 0.1, 0.9]]), np.array([[1, 0, 0], [1, 0, 0]]), 1)
    (0.0, 0.1, 0.0, 0.9, -1, 0, -1, 0)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from sciarch.io.fasta import open_text, read_fasta

from pipelines.genomics.genome import HEADER_START_RE, RECORD_RANGE_RE
from pipelines.genomics.inference import score_transcript, scoring_flank
from pipelines.genomics.sequence import GenomicsDataError, pad_slice, revcomp

if TYPE_CHECKING:
    from pipelines.genomics.pipeline import GenomicsDataConfig

INFO_FIELDS = ("DS_AG", "DS_AL", "DS_DG", "DS_DL", "DP_AG", "DP_AL", "DP_DG", "DP_DL")
INFO_HEADER = ('##INFO=<ID=SpliceAI,Number=.,Type=String,Description="sciarch splice-site variant scores. '
               'Format: ALLELE|SYMBOL|' + "|".join(INFO_FIELDS) + '">')
BASES = set("ACGTN")


@dataclass
class Variant:
    line_no: int
    chrom: str
    pos: int  # 1-based
    ref: str
    alts: list[str]
    fields: list[str]


class GenomeSequences:
    """Chromosome sequences of a genome FASTA (whole chromosomes or pieces).

    A record's first base is chromosome position 1 unless its header says otherwise
    (``chr2:1001-2000`` as the id, or ``position 1 of this record = chr2:1001``)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.records: dict[str, list[tuple[int, str]]] = {}
        for rec in read_fasta(self.path):
            chrom, start = rec.id, 1
            m = HEADER_START_RE.search(rec.description) or RECORD_RANGE_RE.match(rec.id)
            if m:
                chrom, start = m.group(1), int(m.group(2))
            self.records.setdefault(norm_chrom(chrom), []).append((start, rec.sequence))

    def record_at(self, chrom: str, pos: int) -> tuple[int, str] | None:
        """``(start, sequence)`` of the record covering 1-based ``pos``; None if none does."""
        for start, seq in self.records.get(norm_chrom(chrom), []):
            if start <= pos < start + len(seq):
                return start, seq
        return None


def norm_chrom(chrom: str) -> str:
    return chrom.removeprefix("chr")


def read_vcf(path: Path) -> Iterator[tuple[str, Variant | None]]:
    """Yield ``(raw line, Variant or None for header lines)``; a malformed record raises
    :class:`GenomicsDataError` naming the file and line."""
    with open_text(path) as fh:
        for line_no, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if line.startswith("#") or not line.strip():
                yield line, None
                continue
            f = line.split("\t")
            if len(f) < 5:
                raise GenomicsDataError(f"{path}: line {line_no}: expected at least 5 tab-separated VCF fields "
                                        f"(CHROM POS ID REF ALT), got {len(f)}")
            try:
                pos = int(f[1])
            except ValueError:
                raise GenomicsDataError(f"{path}: line {line_no}: POS {f[1]!r} is not an integer") from None
            ref, alts = f[3].upper(), f[4].upper().split(",")
            if pos < 1 or not ref or set(ref) - BASES:
                raise GenomicsDataError(f"{path}: line {line_no}: bad POS/REF {f[1]!r}/{f[3]!r}")
            yield line, Variant(line_no, f[0], pos, ref, alts, f)


def delta_scores(ref_p: np.ndarray, alt_p: np.ndarray, distance: int) -> tuple:
    """``(DS_AG, DS_AL, DS_DG, DS_DL, DP_AG, DP_AL, DP_DG, DP_DL)`` from aligned ``[n, 3]`` score
    arrays whose row ``distance`` is the variant's first base."""
    out_ds, out_dp = [], []
    for cls in (1, 2):  # acceptor, donor
        d = alt_p[:, cls] - ref_p[:, cls]
        for arr in (d, -d):  # gain, loss
            i = int(np.argmax(arr))
            out_ds.append(round(float(max(arr[i], 0.0)), 4))
            out_dp.append(i - distance)
    return tuple(out_ds) + tuple(out_dp)


def align_alt(alt_p: np.ndarray, ref_len: int, alt_len: int, distance: int) -> np.ndarray:
    """Alternative scores over ``2 * distance + alt_len`` positions -> aligned to the reference's
    ``2 * distance + ref_len`` (zeros for deleted bases, max over an insertion)."""
    d = distance
    if alt_len == ref_len:
        return alt_p
    if alt_len < ref_len:
        gap = np.zeros((ref_len - alt_len, alt_p.shape[1]), alt_p.dtype)
        return np.concatenate([alt_p[: d + alt_len], gap, alt_p[d + alt_len :]])
    ins = alt_p[d + ref_len - 1 : d + alt_len].max(0, keepdims=True)
    return np.concatenate([alt_p[: d + ref_len - 1], ins, alt_p[d + alt_len :]])


class VariantScorer:
    """Scores variants with a trained splice-site model (``d``: its data section)."""

    def __init__(self, model, d: GenomicsDataConfig, genome: GenomeSequences, annotation: list[dict],
                 distance: int = 50):
        if distance < 0:
            raise ValueError(f"--distance must be >= 0, got {distance}")
        self.model, self.d, self.genome, self.distance = model, d, genome, distance
        self.flank = scoring_flank(d)
        self.genes: dict[str, list[dict]] = {}
        for r in annotation:
            self.genes.setdefault(norm_chrom(r["chrom"]), []).append(r)

    def genes_at(self, chrom: str, pos: int) -> list[dict]:
        """Annotated transcripts covering 1-based ``pos`` (TX_START 0-based, TX_END 1-based inclusive)."""
        return [r for r in self.genes.get(norm_chrom(chrom), []) if r["tx_start"] < pos <= r["tx_end"]]

    def _scores(self, seq: str, strand: str, length: int) -> np.ndarray:
        """[length, 3] scores of the central ``length`` positions of ``seq`` (``flank`` each side),
        + strand order."""
        t = seq if strand == "+" else revcomp(seq)
        p = score_transcript(self.model, t, self.flank, length, self.d)
        return p if strand == "+" else p[::-1]

    def score(self, v: Variant) -> list[tuple[str, str, tuple]]:
        """``[(allele, gene, delta scores), ...]`` of a variant (empty when no gene covers it or
        the genome has no sequence there)."""
        D, F = self.distance, self.flank
        rec = self.genome.record_at(v.chrom, v.pos)
        if rec is None:
            return []
        start, seq = rec
        i = v.pos - start  # 0-based index of the variant in the record
        ref_len = len(v.ref)
        ref_seq = seq[i : i + ref_len].upper()
        if ref_seq != v.ref:
            raise GenomicsDataError(f"line {v.line_no}: REF {v.ref} does not match the genome "
                                    f"({ref_seq} at {v.chrom}:{v.pos})")
        left = pad_slice(seq, i - D - F, i).upper()  # N beyond the record
        right = pad_slice(seq, i + ref_len, i + ref_len + D + F).upper()
        out = []
        for gene in self.genes_at(v.chrom, v.pos):
            ref_p = self._scores(left + v.ref + right, gene["strand"], 2 * D + ref_len)
            for alt in v.alts:
                if alt in (".", "*") or alt.startswith("<") or set(alt) - BASES:
                    continue  # symbolic / missing alleles are not scored (SpliceAI likewise)
                alt_p = self._scores(left + alt + right, gene["strand"], 2 * D + len(alt))
                alt_p = align_alt(alt_p, ref_len, len(alt), D)
                out.append((alt, gene["name"], delta_scores(ref_p, alt_p, D)))
        return out


def format_info(entries) -> str:
    return ",".join(f"{a}|{g}|" + "|".join(f"{x:.2f}" for x in ds[:4]) + "|" + "|".join(str(x) for x in ds[4:])
                    for a, g, ds in entries)


def score_vcf(scorer: VariantScorer, vcf: Path, out: Path, progress: bool = True) -> dict:
    """Stream ``vcf`` through ``scorer`` into ``out`` (``.vcf`` / ``.vcf.gz``-less VCF, or ``.tsv``).
    Returns counts (records, scored records, rows)."""
    vcf, out = Path(vcf), Path(out)
    as_tsv = out.suffix == ".tsv"
    counts = {"records": 0, "scored": 0, "rows": 0}
    bar = _Progress(progress, vcf.stat().st_size, vcf.name)
    done = 0
    try:
        with open(out, "w") as fo:
            if as_tsv:
                fo.write("chrom\tpos\tref\talt\tgene\t" + "\t".join(INFO_FIELDS) + "\n")
            header_written = False
            try:
                for line, v in read_vcf(vcf):
                    done += len(line) + 1
                    if v is None:
                        if not as_tsv:
                            if line.startswith("#CHROM") and not header_written:
                                fo.write(INFO_HEADER + "\n")
                                header_written = True
                            fo.write(line + "\n")
                        continue
                    counts["records"] += 1
                    entries = scorer.score(v)
                    counts["scored"] += bool(entries)
                    counts["rows"] += len(entries)
                    if as_tsv:
                        for a, g, ds in entries:
                            fo.write(f"{v.chrom}\t{v.pos}\t{v.ref}\t{a}\t{g}\t" + "\t".join(map(str, ds)) + "\n")
                    else:
                        f = list(v.fields) + ["."] * (8 - len(v.fields))
                        if entries:
                            info = "SpliceAI=" + format_info(entries)
                            f[7] = info if f[7] in (".", "") else f[7] + ";" + info
                        fo.write("\t".join(f) + "\n")
                    bar.update(done, counts["records"])
            except GenomicsDataError as exc:
                msg = str(exc)
                raise GenomicsDataError(msg if msg.startswith(str(vcf)) else f"{vcf}: {msg}") from None
    finally:
        bar.close()
    return counts


class _Progress:
    """Rich progress bar over the VCF's bytes (stderr); a no-op when disabled."""

    def __init__(self, enabled: bool, total: int, label: str):
        self._p = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._p = Progress(TextColumn("[bold]variants[/] {task.description}"), BarColumn(),
                           TextColumn("{task.percentage:>5.1f}%"), TextColumn("{task.fields[n]:>10,} records"),
                           TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True))
        self._task = self._p.add_task(label, total=max(total, 1), n=0)
        self._p.start()

    def update(self, done: int, n: int) -> None:
        if self._p is not None:
            self._p.update(self._task, completed=done, n=n)

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None
