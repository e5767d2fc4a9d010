"""Shared helpers of the genomics tests (small real slices of data/genomics)."""

from __future__ import annotations

import gzip
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "data" / "genomics"

# genes of the hg38 chr2:1-1,699,999 piece used by the tests: ACP1 (+), TMEM18 (-)
GENES = {"ACP1": (264_868, 278_283), "TMEM18": (667_334, 677_439)}
MARGIN = 3_000

TINY_MODEL = {"filters": 8, "num_layers": 2, "kernel_size": 3, "stem_kernel": 7, "rnn": "gru", "rnn_units": 8,
              "attention_heads": 1, "key_dim": 8, "hidden": 16, "pool": 2, "centre_radius": 8,
              "attention_window": 17, "linear_radius": 40}


def chr2_sequence() -> str:
    with gzip.open(DATA / "hg38_chr2_1-1699999.fa.gz", "rt") as fh:
        return "".join(line.strip() for line in fh if not line.startswith(">"))


def annotation_rows(names) -> list[str]:
    with gzip.open(DATA / "spliceai_grch38_canonical_annotation.tsv.gz", "rt") as fh:
        lines = fh.read().splitlines()
    return [lines[0]] + [ln for ln in lines[1:] if ln.split("\t")[0] in names]


def write_piece(folder: Path, seq: str, chrom: str, start: int) -> Path:
    end = start + len(seq) - 1
    path = folder / f"hg38_{chrom}_{start}-{end}.fa.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(f">{chrom}:{start}-{end} hg38 (position 1 of this record = {chrom}:{start})\n")
        for i in range(0, len(seq), 60):
            fh.write(seq[i : i + 60] + "\n")
    return path


def make_pipeline(root: Path, run_dir=None, **data):
    from pipelines.genomics.pipeline import GenomicsPipeline
    from sciarch.config import validate

    raw = {"pipeline": "genomics", "data": {"root": str(root), **data}, "model": dict(TINY_MODEL),
           "train": {"epochs": 1, "batch_size": 32}}
    if raw["data"].get("mode") == "nucleotide":
        raw["model"].pop("pool")
        raw["model"].pop("centre_radius")
        raw["model"].pop("linear_radius")
    return GenomicsPipeline(validate(raw, GenomicsPipeline.config_cls), run_dir)
