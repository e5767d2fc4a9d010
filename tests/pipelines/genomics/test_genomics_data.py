"""Splice-site data: coordinates on real data, strand handling, N padding, input errors."""

import numpy as np
import pytest

from pipelines.genomics import data as D, genome as G, sequence as S

from genomics_helpers import DATA


def test_every_labelled_site_sits_on_its_dinucleotide():
    """All 158 sites of the chr2 piece: GT/AG exactly at the window junction, both strands."""
    (piece,) = G.load_pieces(DATA, ["hg38_chr2_1-1699999"])
    assert piece.start == 1 and len(piece.sequence) == 1_699_999 and len(piece.sites) == 158
    # PXDN runs into the reserved region: cut by the piece's end, no site beyond it
    assert not piece.genes["PXDN"].complete and max(s.pos0 for s in piece.sites) < 1_699_999
    for s in piece.sites:
        w = G.site_window(piece, s.pos0, s.strand, s.kind, 20)
        is_d, is_a = S.candidate_type(w)
        assert (is_d if s.kind == "donor" else is_a), (s, w)
        assert w[8:12].upper() == (w[8:10] + s.dinucleotide.upper() if s.kind == "donor"
                                    else s.dinucleotide.upper() + w[10:12]).upper()


def test_offset_pieces_use_chromosome_coordinates():
    (piece,) = G.load_pieces(DATA, ["hg38_chr8_22000001-23000000"])
    assert piece.chrom == "chr8" and piece.start == 22_000_001
    ok = sum(S.candidate_type(G.site_window(piece, s.pos0, s.strand, s.kind, 20))[s.kind == "acceptor"]
             for s in piece.sites)
    assert ok == 461 and len(piece.sites) == 462  # one GC donor (PROVENANCE: CCAR2)


def test_window_sets_are_aligned_on_the_junction():
    ws = D.load_window_folder(DATA, 140, sources=("hs3d", "dranet"))
    y = np.array(ws.labels)
    cand = np.array([S.candidate_type(s) for s in ws.seqs])
    assert cand[y == S.DONOR, 0].mean() > 0.98  # GT at [70, 72)
    assert cand[y == S.ACCEPTOR, 1].mean() > 0.98  # AG at [68, 70)
    assert all(len(s) == 140 for s in ws.seqs)
    # DRANet windows (402 nt) are cut, UCI (60 nt) padded with N
    uci = D.load_uci(DATA / "uci_splice.tsv", 140)
    assert all(s[:40] == "N" * 40 and s[100:] == "N" * 40 for s in uci.seqs[:50])
    assert S.candidate_type(uci.seqs[0])[0]  # first record is a GT donor (EI)


def test_minus_strand_window_is_reverse_complement_of_plus(chr2):
    seq = chr2[600_000:700_000]
    rc = S.revcomp(seq)
    n = len(seq)
    for j in (5, 1000, 54_321, n - 3):
        for width in (20, 21, 140):
            assert S.cut_window(seq, j, "-", width) == S.cut_window(rc, n - j, "+", width)


def test_padding_at_piece_edges():
    seq = "ACGTACGTAC"
    assert S.cut_window(seq, 2, "+", 8) == "NNACGTAC"
    assert S.cut_window(seq, 9, "+", 8) == "CGTACNNN"
    assert S.pad_slice(seq, -3, 2) == "NNNAC" and S.pad_slice(seq, 8, 13) == "ACNNN"
    assert S.cut_window(seq, 1, "-", 6) == S.revcomp("NNACGT")
    x = S.encode(["ACGN", "AC"], 4)
    assert x.shape == (2, 4, 4) and x[0, 3].sum() == 0 and x[1, 2:].sum() == 0


def test_gene_region_strand_and_labels(mini_data):
    pieces = {p.name: p for p in G.load_pieces(mini_data)}
    tm = next(p for p in pieces.values() if "TMEM18" in p.genes)
    g = tm.genes["TMEM18"]
    assert g.strand == "-" and g.complete
    y = G.gene_labels(tm, g)
    assert (y == S.DONOR).sum() == 4 and (y == S.ACCEPTOR).sum() == 4
    t = G.transcript_region(tm, g, 0)
    assert t == S.revcomp(tm.sequence[g.start0 : g.end0])
    # labels in transcript sense: GT right after every donor, AG right before every acceptor
    for i in np.flatnonzero(y == S.DONOR):
        assert t[i + 1 : i + 3].upper() == "GT"
    for i in np.flatnonzero(y == S.ACCEPTOR):
        assert t[i - 2 : i].upper() == "AG"
    # flanks run past the piece: padded with N on both sides
    big = G.transcript_region(tm, g, 5_000)
    assert big.startswith("N" * 1_000) and big.endswith("N" * 1_000)
    # the annotation gives the same sites as the label file
    derived = G.sites_from_annotation(G.read_annotation(mini_data / "spliceai_grch38_canonical_annotation.tsv"),
                                      tm.chrom, tm.start, len(tm.sequence))
    assert sorted((s.pos0, s.kind) for s in derived if s.gene == "TMEM18") == sorted(
        (s.pos0, s.kind) for s in tm.sites)


def test_candidates_recover_all_sites(mini_data):
    for piece in G.load_pieces(mini_data):
        for g in piece.genes.values():
            c = S.candidates_in(G.transcript_region(piece, g, 0))
            y = G.gene_labels(piece, g)
            assert set(np.flatnonzero(y == S.DONOR)) <= set(c["donor"].tolist())
            assert set(np.flatnonzero(y == S.ACCEPTOR)) <= set(c["acceptor"].tolist())


def test_bad_label_and_annotation_files(tmp_path, mini_data):
    p = tmp_path / "x.splice_sites.tsv"
    p.write_text("chrom\tpos_1based_exon_boundary\tstrand\ttype\tgene\nchr2\t12\t+\tdonor\tG\nchr2\tabc\t+\tdonor\tG\n")
    with pytest.raises(S.GenomicsDataError, match=r"x.splice_sites.tsv: line 3: bad position"):
        G.read_sites(p, 1)
    p.write_text("chrom\tpos_1based_exon_boundary\tstrand\ttype\tgene\nchr2\t12\t*\tdonor\tG\n")
    with pytest.raises(S.GenomicsDataError, match="line 2: bad strand/type"):
        G.read_sites(p, 1)
    a = tmp_path / "ann.tsv"
    a.write_text("#NAME\tCHROM\tSTRAND\tTX_START\tTX_END\tEXON_START\tEXON_END\nG\t2\t+\t10\t20\t10,x,\t12,20,\n")
    with pytest.raises(S.GenomicsDataError, match="ann.tsv: line 2: bad coordinate"):
        G.read_annotation(a)
    u = tmp_path / "uci_splice.tsv"
    u.write_text("class\tinstance\tlocus\tsequence\nEI\tX-DONOR-1\tX\t" + "A" * 29 + "Z" + "A" * 30 + "\n")
    with pytest.raises(S.GenomicsDataError, match=r"line 2 \(X-DONOR-1\): invalid letter 'Z' at position 30"):
        D.load_uci(u, 60)
    u.write_text("class\tinstance\tlocus\tsequence\nEI\tX-DONOR-1\tX\t" + "ACGTDSRN" * 7 + "ACGT\n")
    (one,) = D.load_uci(u, 60).seqs
    assert set(one) == set("ACGTN")  # IUPAC codes become N (documented)


@pytest.mark.parametrize("asm,start,end", [("hg38", 1_650_001, 1_700_000), ("hg19", 2_400_000, 2_500_000),
                                           ("hg38", 1_800_001, 1_900_000)])
def test_pieces_overlapping_the_reserved_region_are_refused(tmp_path, asm, start, end):
    """chr2:1,700,000-2,400,000 (hg38 and hg19) is reserved for evaluation: refused by name, one line."""
    fa = tmp_path / f"{asm}_chr2_{start}-{end}.fa.gz"
    fa.write_bytes(b"")  # refused before the sequence is read
    with pytest.raises(S.GenomicsDataError) as e:
        G.load_pieces(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and str(fa) in msg and "reserved for evaluation" in msg


def test_reserved_region_guard_uses_the_record_coordinates(tmp_path):
    """The guard on a record's own coordinates; pieces just outside the region load, and
    evaluation data (``training=False``) may cover it."""
    from genomics_helpers import write_piece
    with pytest.raises(S.GenomicsDataError, match="chr2_piece.fa.gz.*reserved for evaluation"):
        G.check_not_reserved(tmp_path / "chr2_piece.fa.gz", "chr2", 1_699_801, 200)
    ok = tmp_path / "ok"
    ok.mkdir()
    write_piece(ok, "ACGT" * 50, "chr2", 1_699_800)  # ends at 1,699,999
    write_piece(ok, "ACGT" * 50, "chr2", 2_400_001)
    write_piece(ok, "ACGT" * 50, "chr3", 1_800_000)
    assert len(G.load_pieces(ok)) == 3
    # evaluation data (training=False) may hold the reserved region
    bad = tmp_path / "eval"
    bad.mkdir()
    write_piece(bad, "ACGT" * 50, "chr2", 2_000_000)
    assert len(G.load_pieces(bad, training=False)) == 1
