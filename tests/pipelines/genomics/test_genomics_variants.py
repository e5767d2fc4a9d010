"""Variant scoring (``sciarch genomics variants``) with a window model trained here on a real slice
(HS3D/DRANet windows + the hg38 chr9 piece), scored on genes of the chr2 piece it never saw:
destroying a true donor's GT gives a large donor loss at that position, on either strand; SNVs
deep in an intron give ~0; indels align; bad VCF lines name their line."""

from __future__ import annotations

import gzip

import keras
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from pipelines.genomics import genome as G, variants as V
from pipelines.genomics.sequence import GenomicsDataError

from genomics_helpers import DATA, TINY_MODEL

FA = DATA / "hg38_chr2_1-1699999.fa.gz"
ANN = DATA / "spliceai_grch38_canonical_annotation.tsv.gz"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from sciarch.config import load_config
    from sciarch.runner import run_pipeline

    tmp = tmp_path_factory.mktemp("variants_run")
    cfg = tmp / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({
        "pipeline": "genomics", "seed": 0,
        "data": {"sources": ["hs3d", "dranet", "genome"], "pieces": ["hg38_chr9_1-1000000"], "context": 140,
                 "decoys_per_site": 4, "intergenic_decoys": 0, "validation_fraction": 0.2,
                 "max_train_examples": 3000, "eval_genes": False, "eval_windows": False},
        "model": dict(TINY_MODEL),
        "train": {"epochs": 3, "batch_size": 64, "learning_rate": 0.003, "tensorboard": False, "verbose": 0},
    }))
    keras.utils.set_random_seed(0)
    run = run_pipeline(load_config(cfg, pipeline="genomics"), out=tmp / "run")
    return run.dir


@pytest.fixture(scope="module")
def scorer(trained):
    from sciarch.runs import open_run

    opened = open_run(trained, pipeline="genomics")
    return V.VariantScorer(opened.load_model(), opened.pipeline().config.data, V.GenomeSequences(FA),
                           G.read_annotation(ANN), distance=50)


@pytest.fixture(scope="module")
def chr2_sites():
    (piece,) = G.load_pieces(DATA, ["hg38_chr2_1-1699999"])
    return piece


def gt_destroying_snv(piece, site):
    """An SNV that turns the donor's intronic G (transcript sense) into C, in + strand coordinates."""
    pos1 = piece.start + site.pos0 + (1 if site.strand == "+" else -1)  # first intron base
    ref = piece.sequence[pos1 - piece.start].upper()
    alt = {"G": "C", "C": "G"}[ref]  # G on +, its complement C on -
    return pos1, ref, alt


@pytest.mark.parametrize("gene", ["ACP1", "TMEM18"])  # + and - strand
def test_destroying_a_donor_gt_gives_a_large_donor_loss(scorer, chr2_sites, gene):
    donors = [s for s in chr2_sites.sites_of(gene) if s.kind == "donor"]
    losses = []
    for s in donors:
        pos1, ref, alt = gt_destroying_snv(chr2_sites, s)
        (entry,) = [e for e in scorer.score(V.Variant(1, "chr2", pos1, ref, [alt], [])) if e[1] == gene]
        ds = dict(zip(V.INFO_FIELDS, entry[2]))
        # the loss sits on the donor's exon base, one nt 5' of the G (transcript sense)
        assert ds["DP_DL"] == (-1 if s.strand == "+" else 1) or ds["DS_DL"] < 0.05, (s, ds)
        losses.append(ds["DS_DL"])
    print(gene, np.round(losses, 2))
    # a tiny model trained for seconds: not every donor is confident, but the losses are large
    # next to the deep-intronic deltas below (median < 0.15)
    assert np.mean(losses) > 0.2 and max(losses) > 0.5, losses


def test_deep_intronic_snvs_score_about_zero(scorer, chr2_sites):
    """SNVs > 2 kb from every labelled site of SNTG2 (+): the typical delta stays small (this tiny
    model gives any GT/AG ~0.05-0.1, so a created or shifted candidate moves that much; the
    true-donor losses above are ~0.4-0.6 on average)."""
    sites = np.array([s.pos0 for s in chr2_sites.sites_of("SNTG2")])
    g = chr2_sites.genes["SNTG2"]
    rng = np.random.default_rng(0)
    cand = [p for p in rng.integers(g.start0, g.end0, 400) if np.abs(sites - p).min() > 2000][:12]
    worst = []
    for p0 in cand:
        ref = chr2_sites.sequence[p0].upper()
        if ref == "N":
            continue
        alt = "T" if ref != "T" else "A"
        (entry,) = [e for e in scorer.score(V.Variant(1, "chr2", int(p0) + 1, ref, [alt], [])) if e[1] == "SNTG2"]
        worst.append(max(entry[2][:4]))
    assert len(worst) >= 8
    # the typical one stays near 0; a few of the 12 make or shift a GT/AG candidate that this
    # tiny model scores highly (up to ~0.7): it has no notion of a cryptic site's context yet
    assert np.median(worst) < 0.15, worst


def test_indels_align_and_unknown_regions_are_skipped(scorer, chr2_sites):
    s = next(s for s in chr2_sites.sites_of("ACP1") if s.kind == "donor")
    pos1 = chr2_sites.start + s.pos0 + 1
    seq = chr2_sites.sequence
    ref = seq[pos1 - 1 : pos1 + 2].upper()
    (dele,) = [e for e in scorer.score(V.Variant(1, "chr2", pos1, ref, [ref[0]], [])) if e[1] == "ACP1"]
    (ins,) = [e for e in scorer.score(V.Variant(1, "chr2", pos1, ref[0], [ref[0] + "AAAA"], [])) if e[1] == "ACP1"]
    assert all(0 <= x <= 1 for x in dele[2][:4] + ins[2][:4])
    assert all(-50 <= x <= 52 for x in dele[2][4:] + ins[2][4:])
    assert scorer.score(V.Variant(1, "chr7", 1000, "A", ["C"], [])) == []  # no sequence there
    assert scorer.score(V.Variant(1, "chr2", 500_000, seq[499_999].upper(), ["N"], [])) == []  # intergenic
    a = np.arange(18, dtype=float).reshape(6, 3)
    assert V.align_alt(a[:4], 3, 1, 1).shape == (6, 3)  # deletion: zeros in the deleted bases
    assert V.align_alt(a, 1, 2, 2)[2].tolist() == a[2:4].max(0).tolist() and V.align_alt(a, 1, 2, 2).shape == (5, 3)


def test_cli_writes_vcf_and_tsv_and_names_bad_lines(trained, chr2_sites, tmp_path):
    from pipelines.genomics.cli import app

    s = next(s for s in chr2_sites.sites_of("TMEM18") if s.kind == "donor")
    pos1, ref, alt = gt_destroying_snv(chr2_sites, s)
    vcf = tmp_path / "in.vcf.gz"
    with gzip.open(vcf, "wt") as fh:
        fh.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                 f"chr2\t{pos1}\tv1\t{ref}\t{alt}\t.\t.\t.\n2\t500000\tv2\t"
                 f"{chr2_sites.sequence[499_999].upper()}\tA\t.\tPASS\tDP=3\n")
    runner = CliRunner()
    base = ["variants", "--model", str(trained), "--vcf", str(vcf), "--genome", str(FA), "--annotation", str(ANN),
            "--no-progress"]
    r = runner.invoke(app, base + ["--out", str(tmp_path / "o.vcf")])
    assert r.exit_code == 0, r.output
    lines = (tmp_path / "o.vcf").read_text().splitlines()
    assert lines[1].startswith("##INFO=<ID=SpliceAI") and lines[2].startswith("#CHROM")
    info = lines[3].split("\t")[7]
    assert info.startswith(f"SpliceAI={alt}|TMEM18|")
    fields = info.split("=", 1)[1].split("|")
    assert len(fields) == 10 and float(fields[5]) > 0.2 and int(fields[9]) == 1  # donor loss on the - strand
    assert lines[4].split("\t")[7] == "DP=3"  # intergenic: INFO unchanged
    r = runner.invoke(app, base + ["--out", str(tmp_path / "o.tsv"), "--distance", "10"])
    assert r.exit_code == 0, r.output
    rows = (tmp_path / "o.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:5] == ["chrom", "pos", "ref", "alt", "gene"] and len(rows) == 2
    bad = tmp_path / "bad.vcf"
    ok_base = chr2_sites.sequence[499_999].upper()
    bad.write_text(f"#CHROM\tPOS\tID\tREF\tALT\nchr2\t500000\t.\t{ok_base}\tC\nchr2\tx12\t.\tA\tC\n")
    r = runner.invoke(app, base[:4] + [str(bad)] + base[5:] + ["--out", str(tmp_path / "b.tsv")])
    assert r.exit_code == 2
    err = r.output.strip().splitlines()
    assert len(err) == 1 and f"{bad}: line 3: POS 'x12'" in err[0], r.output


def test_ref_mismatch_is_one_line_naming_the_line(scorer, tmp_path):
    vcf = tmp_path / "m.vcf"
    vcf.write_text("#CHROM\tPOS\tID\tREF\tALT\nchr2\t264900\t.\tACGTACGTAC\tA\n")
    with pytest.raises(GenomicsDataError, match=r"m.vcf: line 2: REF ACGTACGTAC does not match the genome"):
        V.score_vcf(scorer, vcf, tmp_path / "m.tsv", progress=False)
