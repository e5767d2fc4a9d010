"""Fixtures: small real slices of data/genomics written in the embedded layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from genomics_helpers import DATA, GENES, MARGIN, annotation_rows, chr2_sequence, write_piece


@pytest.fixture(scope="session")
def chr2():
    return chr2_sequence()


@pytest.fixture(scope="session")
def mini_data(tmp_path_factory, chr2) -> Path:
    """Two gene pieces of chr2 (ACP1 +, TMEM18 -) with labels and annotation, plus the
    first records of every window file."""
    folder = tmp_path_factory.mktemp("genomics_mini")
    sites = (DATA / "hg38_chr2_1-1699999.splice_sites.tsv").read_text().splitlines()
    for name, (a, b) in GENES.items():
        start = a - MARGIN + 1
        seq = chr2[start - 1 : b + MARGIN]
        fa = write_piece(folder, seq, "chr2", start)
        stem = fa.name.removesuffix(".fa.gz")
        (folder / f"{stem}.splice_sites.tsv").write_text(
            "\n".join([sites[0]] + [ln for ln in sites[1:] if ln.split("\t")[4] == name]) + "\n")
    (folder / "spliceai_grch38_canonical_annotation.tsv").write_text("\n".join(annotation_rows(GENES)) + "\n")
    for f, n in (("hs3d_donor_true.fa", 300), ("hs3d_acceptor_true.fa", 300), ("dranet_donor_positive.fa", 60),
                 ("dranet_donor_negative.fa", 60), ("dranet_acceptor_positive.fa", 60),
                 ("dranet_acceptor_negative.fa", 60)):
        lines = (DATA / f).read_text().splitlines()
        (folder / f).write_text("\n".join(lines[: 2 * n]) + "\n")
    uci = (DATA / "uci_splice.tsv").read_text().splitlines()
    (folder / "uci_splice.tsv").write_text("\n".join(uci[:301]) + "\n")
    return folder
