"""Pipeline-level behaviour: strand handling, padding, inputs, predict CLI, evaluation on files."""

import gzip

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

from genomics_helpers import GENES, MARGIN, TINY_MODEL, annotation_rows, make_pipeline, write_piece
from pipelines.genomics import genome as G, sequence as S


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory, chr2):
    """The TMEM18 (-) piece and its reverse complement, where TMEM18 lies on +."""
    a, b = GENES["TMEM18"]
    start = a - MARGIN + 1
    seq = chr2[start - 1 : b + MARGIN]
    n = len(seq)
    fwd = tmp_path_factory.mktemp("fwd")
    write_piece(fwd, seq, "chr2", start)
    (fwd / "spliceai_grch38_canonical_annotation.tsv").write_text("\n".join(annotation_rows({"TMEM18"})) + "\n")
    rev = tmp_path_factory.mktemp("rev")
    write_piece(rev, S.revcomp(seq), "chr2", 1)
    header, row = annotation_rows({"TMEM18"})
    f = row.split("\t")
    s0 = [int(x) - (start - 1) for x in f[5].strip(",").split(",")]  # piece 0-based starts
    e1 = [int(x) - (start - 1) for x in f[6].strip(",").split(",")]  # piece exclusive ends
    rs = sorted(n - e for e in e1)
    re_ = sorted(n - s for s in s0)
    f_rev = [f[0], "2", "+", str(n - (int(f[4]) - (start - 1))), str(n - (int(f[3]) - (start - 1))),
             ",".join(map(str, rs)) + ",", ",".join(map(str, re_)) + ","]
    (rev / "spliceai_grch38_canonical_annotation.tsv").write_text(header + "\n" + "\t".join(f_rev) + "\n")
    return fwd, rev, n


@pytest.mark.parametrize("mode", ["window", "nucleotide"])
def test_minus_strand_gene_scores_like_its_reverse_complement(mirrored, mode):
    fwd, rev, n = mirrored
    context = 80 if mode == "window" else 200
    p_f = make_pipeline(fwd, mode=mode, context=context, block=500)
    p_r = make_pipeline(rev, mode=mode, context=context, block=500)
    (piece_f,) = G.load_pieces(fwd)
    (piece_r,) = G.load_pieces(rev)
    g_f, g_r = piece_f.genes["TMEM18"], piece_r.genes["TMEM18"]
    assert (g_f.strand, g_r.strand) == ("-", "+")
    # the same sites: labels from the file's annotation on either strand agree position by position
    y_f, y_r = G.gene_labels(piece_f, g_f), G.gene_labels(piece_r, g_r)
    assert (y_f > 0).sum() == 8 and np.array_equal(y_f, y_r)
    keras.utils.set_random_seed(0)
    model = p_f.build_model()
    s_f = p_f.score_gene(model, piece_f, g_f)
    s_r = p_r.score_gene(model, piece_r, g_r)
    assert s_f.shape == (g_f.end0 - g_f.start0, 3)
    np.testing.assert_allclose(s_f, s_r, atol=1e-5)
    if mode == "window":  # scores only at GT/AG candidates, including every true site
        scored = (s_f[:, 1] > 0) | (s_f[:, 2] > 0)
        assert scored[y_f > 0].all() and scored.mean() < 0.2
    # the + strand positions of a minus-strand gene map back to the mirrored positions
    t = np.flatnonzero(y_f)
    assert np.array_equal(G.to_piece_index(g_f, t), n - 1 - G.to_piece_index(g_r, t))


def test_nucleotide_chunks_are_padded_with_n_and_masked(mini_data):
    p = make_pipeline(mini_data, mode="nucleotide", context=400, block=1000, validation_fraction=0.5,
                      sources=["genome"])
    P = p.prepare()
    xs, ys, ws = np.concatenate([P.chunks["train"][0], P.chunks["validation"][0]]), \
        np.concatenate([P.chunks["train"][1], P.chunks["validation"][1]]), \
        np.concatenate([P.chunks["train"][2], P.chunks["validation"][2]])
    assert xs.shape[1:] == (1400, 4) and ys.shape[1:] == (1000,)
    assert (ys == S.DONOR).sum() == 5 + 4 and (ys == S.ACCEPTOR).sum() == 5 + 4  # ACP1 + TMEM18
    # the first chunk of a gene starts 200 nt before the gene, inside the 3-kb margin: no N
    assert xs[0, :200].sum() == 200
    # the last chunk of a gene ends past the gene end: labels masked there, N beyond the piece
    last = np.flatnonzero(ws.sum(1) < 1000)
    assert len(last) >= 2 and all(ws[i, -1] == 0 and ys[i, -1] == 0 for i in last)
    ds = p.build_inputs("train")
    x, y, w = next(iter(ds))
    assert x.shape[1:] == (1400, 4) and x.dtype.name == "float32" and w.shape == y.shape


def test_window_inputs_sharded_and_batched_per_replica(mini_data):
    import tensorflow as tf

    p = make_pipeline(mini_data, context=140, decoys_per_site=3, validation_fraction=0.3)
    n = len(p.prepare().windows["validation"])
    ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    batches = list(p.build_inputs("validation", ctx))
    assert batches[0][0].shape[1:] == (140, 4) and batches[0][0].shape[0] == 16  # 32 global / 2 replicas
    assert sum(int(b[0].shape[0]) for b in batches) == n // 2


def test_splits_keep_whole_groups_apart(mini_data):
    p = make_pipeline(mini_data, context=140, decoys_per_site=3, validation_fraction=0.4)
    P = p.prepare()
    tr, va = set(P.windows["train"].groups), set(P.windows["validation"].groups)
    assert tr and va and not (tr & va)
    assert P.summary["train_removed_sharing_40mer_with_validation"] >= 0
    # a validation piece sends every gene and decoy of it to validation
    name = next(x.name for x in P.pieces if "ACP1" in x.genes)
    p2 = make_pipeline(mini_data, context=140, decoys_per_site=3, validation_fraction=0.0, validation_pieces=[name])
    P2 = p2.prepare()
    assert all(not g.startswith(name) for g in P2.windows["train"].groups)
    assert any(g.startswith(name) for g in P2.windows["validation"].groups)
    assert P2.summary["genes"]["validation"] == [f"{name}:ACP1"]


def test_config_errors_are_one_line():
    from sciarch.config import ConfigError, validate
    from pipelines.genomics.pipeline import GenomicsPipeline

    with pytest.raises(ConfigError, match="data.mode"):
        validate({"pipeline": "genomics", "data": {"mode": "codon"}}, GenomicsPipeline.config_cls)
    with pytest.raises(ConfigError, match="did you mean 'model.rnn_units'"):
        validate({"pipeline": "genomics", "model": {"rnn_unit": 3}}, GenomicsPipeline.config_cls)
    with pytest.raises(ConfigError, match="context must be even"):
        validate({"pipeline": "genomics", "data": {"mode": "nucleotide", "context": 81}}, GenomicsPipeline.config_cls)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, mini_data):
    """A run directory with an (untrained, tiny) window model and its config."""
    run = tmp_path_factory.mktemp("run")
    p = make_pipeline(mini_data, context=80)
    keras.utils.set_random_seed(0)
    p.build_model().save(run / "model.keras")
    from sciarch.config import dump_config

    (run / "config.yaml").write_text(dump_config(p.config))
    return run


def test_predict_fasta_and_gene(tiny_run, mini_data, tmp_path):
    from pipelines.genomics.cli import app

    fa = tmp_path / "in.fa"
    fa.write_text(">s1 test\n" + "ACGTAAGGTAAGTCCTTTTTTCAGGAAA" * 4 + "\n>s2\nNNNNAGGTAAGTNNNN\n")
    res = CliRunner().invoke(app, ["predict", str(tiny_run), "--fasta", str(fa), "--out", str(tmp_path / "o"),
                                   "--strand", "both", "--threshold", "0"])
    assert res.exit_code == 0, res.output
    rows = [ln.split("\t") for ln in (tmp_path / "o.tsv").read_text().splitlines()]
    assert rows[0] == ["chrom", "position", "strand", "acceptor", "donor"]
    s1 = "ACGTAAGGTAAGTCCTTTTTTCAGGAAA" * 4
    for r in rows[1:]:  # window mode: every scored donor is a GT on its strand
        pos = int(r[1])
        t = s1 if r[0] == "s1" else "NNNNAGGTAAGTNNNN"
        if r[2] == "+" and float(r[4]) > 0:
            assert t[pos : pos + 2].upper() == "GT"
    bed = (tmp_path / "o.bed").read_text().splitlines()
    assert bed and all(len(b.split("\t")) == 6 for b in bed)
    # genome + annotation + gene name -> scores over the gene in chromosome coordinates
    fa_gene = next(p for p in mini_data.iterdir() if p.name.endswith(".fa.gz") and "664335" in p.name)
    res = CliRunner().invoke(app, ["predict", str(tiny_run), "--genome", str(fa_gene), "--annotation",
                                   str(mini_data / "spliceai_grch38_canonical_annotation.tsv"), "--gene", "TMEM18",
                                   "--out", str(tmp_path / "g")])
    assert res.exit_code == 0, res.output
    assert "donor_topk" in res.output
    lab = [ln.split("\t") for ln in (tmp_path / "g.tsv").read_text().splitlines()[1:]]
    donors = sorted(int(r[1]) for r in lab if r[5] == "donor")
    assert donors == [669757, 672808, 675510, 677289]  # the label file's TMEM18 donors
    assert all(r[0] == "chr2" and r[2] == "-" for r in lab)


def test_predict_reports_bad_fasta(tiny_run, tmp_path):
    from pipelines.genomics.cli import app

    fa = tmp_path / "bad.fa"
    fa.write_text(">ok\nACGT\n>oops\nACGTXACGT\n>ok\nAC\n>empty\n")
    res = CliRunner().invoke(app, ["predict", str(tiny_run), "--fasta", str(fa), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    out = res.output
    assert "record 2 'oops'" in out and "'X' at position 5" in out
    assert "duplicate id 'ok'" in out and "'empty'" in out and "empty sequence" in out
    assert not (tmp_path / "o.tsv").exists()


def test_evaluate_on_a_folder_and_on_files(tiny_run, mini_data, tmp_path):
    from sciarch.runner import load_run_model

    model = load_run_model(tiny_run)
    p = make_pipeline(mini_data, context=80, validation_fraction=0.3)
    r = p.evaluate(model, data_path=str(mini_data))
    assert r["genes/genes"] == 2 and r["genes/donor_sites"] == 9 and r["genes/acceptor_sites"] == 9
    for k in ("windows/donor_accuracy", "windows/pwm/donor_accuracy", "genes/pwm/acceptor_topk"):
        assert 0.0 <= r[k] <= 1.0
    # a gzipped window file on its own
    src = (mini_data / "dranet_donor_positive.fa").read_text()
    gz = tmp_path / "dranet_donor_positive.fa.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(src)
    r2 = p.evaluate(model, data_path=str(gz))
    assert r2["windows/windows"] == 60 and "genes/genes" not in r2
    # a labelled FASTA of the user's own windows
    lab = tmp_path / "mine.fa"
    lab.write_text(">w1 label=donor\n" + "A" * 40 + "GTAAGT" + "A" * 34 + "\n>w2 neither\n" + "C" * 80 + "\n")
    assert p.evaluate(model, data_path=str(lab))["windows/windows"] == 2
    bad = tmp_path / "nolabel.fa"
    bad.write_text(">w1\n" + "A" * 80 + "\n")
    with pytest.raises(S.GenomicsDataError, match="record 1 'w1'.*needs a label"):
        p.evaluate(model, data_path=str(bad))
