"""Extra verbs of the genomics pipeline, mounted as ``sciarch genomics ...``.

* ``predict RUN --fasta seqs.fa --out calls`` -> ``calls.tsv`` (per-position acceptor and
  donor probabilities) and ``calls.bed`` (positions above ``--threshold``). Each record is
  read as transcript sense (``--strand +``), its reverse complement (``-``) or both.
* ``predict RUN --genome piece.fa.gz --annotation table.tsv --gene TPO --out tpo`` ->
  scores over the gene in chromosome coordinates, strand-aware, with the annotated sites
  as a ``label`` column and the gene's top-k / PR-AUC printed.
* ``variants RUN --vcf in.vcf --genome FA --annotation TSV --out out.vcf|out.tsv [--distance 50]``
  -> acceptor/donor gain/loss delta scores and their positions within ``--distance`` nt of each
  variant, per annotated gene covering it (SpliceAI's ``ALLELE|SYMBOL|DS_AG|DS_AL|DS_DG|DS_DL|
  DP_AG|DP_AL|DP_DG|DP_DL`` INFO convention; :mod:`pipelines.genomics.variants`), streamed with a
  progress bar on stderr.
* ``build-tfds --data-dir DIR`` builds the TFDS data sets offline from ``data/genomics``.

Window-mode runs score GT/AG candidates (other positions are not written); nucleotide-mode
runs score every position.

Example:
    sciarch genomics predict runs/genomics/2026... --fasta my_genes.fa --out my_calls --threshold 0.5
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer

app = typer.Typer(help="Splice-site prediction verbs.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)


def _load(run_dir: Path):
    from sciarch.runs import open_run

    opened = open_run(run_dir, pipeline="genomics")
    return opened.pipeline(), opened.load_model()


def write_outputs(rows, out: Path, threshold: float, scored_only: bool, with_label: bool = False):
    """rows: iterable of (chrom, pos1, strand, probs[L,3] aligned to pos1.., labels or None)."""
    tsv, bed = Path(str(out) + ".tsv"), Path(str(out) + ".bed")
    n_calls = 0
    with open(tsv, "w") as ft, open(bed, "w") as fb:
        ft.write("chrom\tposition\tstrand\tacceptor\tdonor" + ("\tlabel" if with_label else "") + "\n")
        for chrom, positions, strand, probs, labels in rows:
            keep = np.ones(len(positions), bool)
            if scored_only:
                keep = (probs[:, 1] > 0) | (probs[:, 2] > 0)
            order = np.argsort(positions)
            for i in order[keep[order]]:
                lab = f"\t{['neither', 'acceptor', 'donor'][labels[i]]}" if with_label else ""
                ft.write(f"{chrom}\t{positions[i]}\t{strand}\t{probs[i, 1]:.5f}\t{probs[i, 2]:.5f}{lab}\n")
                for cls, kind in ((1, "acceptor"), (2, "donor")):
                    if probs[i, cls] >= threshold:
                        n_calls += 1
                        fb.write(f"{chrom}\t{positions[i] - 1}\t{positions[i]}\t{kind}\t"
                                 f"{int(round(1000 * probs[i, cls]))}\t{strand}\n")
    return tsv, bed, n_calls


@app.command("predict")
def predict(
    run_dir: Path = typer.Argument(..., help="trained run directory (holds model.keras and config.yaml)"),
    out: Path = typer.Option(..., "--out", "-o", help="output prefix: writes PREFIX.tsv and PREFIX.bed"),
    fasta: Optional[Path] = typer.Option(None, "--fasta", help="FASTA of sequences to score (plain or .gz)"),
    strand: str = typer.Option("+", "--strand", help="'+', '-' or 'both' (FASTA input)"),
    genome: Optional[Path] = typer.Option(None, "--genome", help="genome FASTA (one record) for --gene"),
    annotation: Optional[Path] = typer.Option(None, "--annotation", help="SpliceAI-style exon annotation table"),
    gene: Optional[str] = typer.Option(None, "--gene", help="gene name in the annotation"),
    start: Optional[int] = typer.Option(None, "--start", help="chromosome coordinate of the genome record's first base"),
    threshold: float = typer.Option(0.5, "--threshold", help="BED calls: probability at or above this"),
) -> None:
    """Score sequences (FASTA) or one annotated gene of a genome piece; write TSV and BED."""
    from pipelines.genomics import genome as G
    from pipelines.genomics.inference import score_record
    from pipelines.genomics.metrics import site_metrics
    from pipelines.genomics.sequence import GenomicsDataError
    from sciarch.io.fasta import FastaError, read_fasta

    if (fasta is None) == (genome is None):
        raise typer.BadParameter("give either --fasta, or --genome with --annotation and --gene")
    try:
        pipe, model = _load(run_dir)
        scored_only = pipe.config.data.mode == "window"
        if fasta is not None:
            if strand not in ("+", "-", "both"):
                raise typer.BadParameter("--strand must be '+', '-' or 'both'")
            recs = read_fasta(fasta)
            rows = []
            for rec in recs:
                for s in (("+", "-") if strand == "both" else (strand,)):
                    probs = score_record(model, rec.sequence, s, pipe.config.data)
                    rows.append((rec.id, np.arange(1, len(rec.sequence) + 1), s, probs, None))
            tsv, bed, n = write_outputs(rows, out, threshold, scored_only)
            typer.echo(f"scored {len(recs)} record(s), {sum(len(r) for r in recs):,} nt; {n} call(s) >= {threshold}")
        else:
            if annotation is None or gene is None:
                raise typer.BadParameter("--genome needs --annotation and --gene")
            ann = G.read_annotation(annotation)
            if not any(r["name"] == gene for r in ann):
                raise typer.BadParameter(f"{annotation}: gene '{gene}' not in the annotation")
            piece = G.load_piece(genome, [r for r in ann if r["name"] == gene], start=start)
            if gene not in piece.genes:
                raise typer.BadParameter(
                    f"{genome}: gene '{gene}' does not overlap this sequence ({piece.chrom}:{piece.start}-"
                    f"{piece.start + len(piece.sequence) - 1}); set --start if the coordinates are off")
            g = piece.genes[gene]
            probs = pipe.score_gene(model, piece, g)
            labels = G.gene_labels(piece, g)
            t = np.arange(len(labels))
            positions = piece.start + G.to_piece_index(g, t)
            tsv, bed, n = write_outputs([(piece.chrom, positions, g.strand, probs, labels)], out, threshold,
                                        scored_only, with_label=True)
            typer.echo(f"{gene} ({g.strand}): {len(labels):,} nt scored; {n} call(s) >= {threshold}")
            if (labels > 0).any():
                m = site_metrics(labels, probs, "")
                typer.echo("  " + "  ".join(f"{k}={v:.3f}" for k, v in m.items() if not k.endswith("_sites")))
    except (FastaError, GenomicsDataError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    typer.echo(f"wrote {tsv} and {bed}")


@app.command("variants")
def variants(
    run_dir: Path = typer.Option(..., "--model", help="trained run directory (holds model.keras and config.yaml)"),
    vcf: Path = typer.Option(..., "--vcf", help="input VCF (plain or .gz)"),
    genome: Path = typer.Option(..., "--genome", help="genome FASTA (chromosomes or pieces, plain or .gz)"),
    annotation: Path = typer.Option(..., "--annotation", help="SpliceAI-style exon annotation table"),
    out: Path = typer.Option(..., "--out", "-o", help="output: .tsv for a table, anything else for a VCF"),
    distance: int = typer.Option(50, "--distance", "-D", min=0, help="score positions within this many nt"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar on stderr"),
) -> None:
    """Score VCF variants: splice acceptor/donor gain and loss (delta scores and positions)."""
    from pipelines.genomics import genome as G
    from pipelines.genomics import variants as V
    from pipelines.genomics.sequence import GenomicsDataError
    from sciarch.io.fasta import FastaError

    try:
        pipe, model = _load(run_dir)
        scorer = V.VariantScorer(model, pipe.config.data, V.GenomeSequences(genome), G.read_annotation(annotation),
                                 distance)
        n = V.score_vcf(scorer, vcf, out, progress=progress)
    except (FastaError, GenomicsDataError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    typer.echo(f"{n['records']:,} record(s), {n['scored']:,} inside an annotated gene, {n['rows']:,} score row(s); "
               f"wrote {out}")


@app.command("build-tfds")
def build_tfds(
    data_dir: Path = typer.Option(..., "--data-dir", help="TFDS data_dir to build into"),
    width: int = typer.Option(140, "--width", help="window width of the window data set"),
) -> None:
    """Build the ``splice_windows`` and ``splice_genome_pieces`` TFDS data sets offline."""
    from pipelines.genomics.tfds_builders import build_all

    for name, info in build_all(data_dir, width=width).items():
        typer.echo(f"{name}: " + ", ".join(f"{k} {v.num_examples}" for k, v in info.splits.items()))
