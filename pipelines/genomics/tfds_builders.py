"""TFDS builders for the splice-site data (build offline from ``data/genomics``).

* ``splice_windows``: every window of the window sets (HS3D, DRANet, UCI) plus the
  true-site and GT/AG decoy windows cut from the genome pieces, re-cut to a common width
  with the junction at the centre (configs ``w60``, ``w140``, ``w402``). Features:
  ``sequence`` (text), ``label`` (neither/acceptor/donor), ``source``, ``group``, ``name``,
  ``native`` (nt of real sequence each side; the rest is N padding).
* ``splice_genome_pieces``: one example per labelled gene of every genome piece:
  transcript-sense gene body with ``flank`` nt of context each side (config ``f200``,
  ``f1000``, ``f5000``; N beyond the piece), per-position ``labels`` over the body,
  chromosome, strand and the chromosome coordinate of every body position.

Splits ``train`` / ``validation`` (a split with no example is omitted) are by group (gene, locus, accession, record) with the
pipeline's seeded hash (``seed`` 0, 20% of groups held out), so the TFDS splits match the
pipeline's default splits. Nothing is downloaded: pass ``source_dir`` (default: the
project's ``data/genomics``) and ``data_dir``.

Example:
    >>> import tempfile
    >>> from pipelines.genomics.tfds_builders import SpliceWindows
    >>> b = SpliceWindows(config="w140", data_dir=tempfile.mkdtemp())  # doctest: +SKIP
    >>> b.download_and_prepare()                                        # doctest: +SKIP
    >>> ds = b.as_dataset(split="train", as_supervised=True)            # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from sciarch.io.tfds import LocalSourceBuilder

from pipelines.genomics import data as D
from pipelines.genomics import genome as G
from pipelines.genomics.prepare import stable_fraction
from pipelines.genomics.sequence import CLASSES
from sciarch.pipeline import PROJECT_ROOT

DEFAULT_SOURCE = PROJECT_ROOT / "data" / "genomics"
SEED = 0
VALIDATION_FRACTION = 0.2
CITATION = """Pollastro & Rampone (2002) Int. J. Mod. Phys. C 13:1105 (HS3D); Towell, Noordewier & Shavlik,
UCI splice-junction data (doi:10.24432/C5M888); Liu et al. (2024) Genes 15:404 (DRANetSplicer);
Jaganathan et al. (2019) Cell 176:535 (SpliceAI annotation, GENCODE V24)."""


def split_of(group: str) -> str:
    return "validation" if stable_fraction(group, SEED) < VALIDATION_FRACTION else "train"


@dataclasses.dataclass
class WindowsConfig(tfds.core.BuilderConfig):
    width: int = 140
    decoys_per_site: float = 10.0


@dataclasses.dataclass
class PiecesConfig(tfds.core.BuilderConfig):
    flank: int = 200


class _LocalBuilder(LocalSourceBuilder):
    """Builder reading local files only; ``source_dir`` holds the embedded data layout."""

    SOURCE_DIR = DEFAULT_SOURCE
    SOURCE_NAME = "genomics"

    def _split_generators(self, dl_manager):
        del dl_manager  # offline
        # a split without examples (e.g. a tiny folder whose genes all hash to train) is left out
        return {s: self._generate_examples(s) for s in ("train", "validation") if any(True for _ in self._generate_examples(s))}


class SpliceWindows(_LocalBuilder):
    """Splice-site windows (junction at the centre), labelled neither / acceptor / donor."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "HS3D, DRANet sample, UCI windows + genome true-site and GT/AG decoy windows."}
    BUILDER_CONFIGS = [WindowsConfig(name=f"w{w}", width=w, description=f"{w}-nt windows") for w in (60, 140, 402)]

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__.split("\n\n")[1],
            features=tfds.features.FeaturesDict({
                "sequence": tfds.features.Text(),
                "label": tfds.features.ClassLabel(names=list(CLASSES)),
                "source": tfds.features.Text(),
                "group": tfds.features.Text(),
                "name": tfds.features.Text(),
                "native": tfds.features.Scalar(dtype=np.int32),
            }),
            supervised_keys=("sequence", "label"),
            citation=CITATION,
        )

    def _generate_examples(self, split):
        cfg = self.builder_config
        ws = D.load_window_folder(self.source_dir, cfg.width)
        ws.extend(D.genome_windows(G.load_pieces(self.source_dir), cfg.width, cfg.decoys_per_site, 1.0, SEED))
        for i in range(len(ws)):
            if split_of(ws.groups[i]) != split:
                continue
            yield f"{i}", {"sequence": ws.seqs[i], "label": ws.labels[i], "source": ws.sources[i],
                           "group": ws.groups[i], "name": ws.names[i], "native": ws.native[i]}


class SpliceGenomePieces(_LocalBuilder):
    """Labelled genes of the genome pieces, transcript sense, with flanking context."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "hg38 chr2/chr8/chr9 and hg19 chr22 pieces, GENCODE V24 canonical sites."}
    BUILDER_CONFIGS = [PiecesConfig(name=f"f{f}", flank=f, description=f"{f} nt of context each side")
                       for f in (200, 1000, 5000)]

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__.split("\n\n")[1],
            features=tfds.features.FeaturesDict({
                "sequence": tfds.features.Text(),
                "labels": tfds.features.Tensor(shape=(None,), dtype=np.int8),
                "positions": tfds.features.Tensor(shape=(None,), dtype=np.int64),
                "piece": tfds.features.Text(),
                "gene": tfds.features.Text(),
                "chrom": tfds.features.Text(),
                "strand": tfds.features.Text(),
                "flank": tfds.features.Scalar(dtype=np.int32),
            }),
            citation=CITATION,
        )

    def _generate_examples(self, split):
        flank = self.builder_config.flank
        for piece in G.load_pieces(self.source_dir):
            for name, gene in sorted(piece.genes.items()):
                if not any(s.strand == gene.strand for s in piece.sites_of(name)):
                    continue
                if split_of(f"{piece.name}:{name}") != split:
                    continue
                labels = G.gene_labels(piece, gene)
                t = np.arange(len(labels))
                yield f"{piece.name}:{name}", {
                    "sequence": G.transcript_region(piece, gene, flank),
                    "labels": labels,
                    "positions": (piece.start + G.to_piece_index(gene, t)).astype(np.int64),
                    "piece": piece.name, "gene": name, "chrom": piece.chrom, "strand": gene.strand,
                    "flank": flank,
                }


def build_all(data_dir, width: int = 140, flank: int = 200, source_dir=None) -> dict:
    """Build both data sets into ``data_dir``; return their ``DatasetInfo`` by name."""
    out = {}
    for cls, config in ((SpliceWindows, f"w{width}"), (SpliceGenomePieces, f"f{flank}")):
        b = cls(config=config, data_dir=str(data_dir), source_dir=source_dir)
        b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(b.source_dir)))
        out[f"{b.name}/{config}"] = b.info
    return out
