"""TFDS builder for the Davis / KIBA drug-target pair tables (builds offline).

``DrugTargetPairs`` (configs ``davis`` and ``kiba``): one example per labelled pair with
the ligand SMILES (isomeric), the protein sequence (Davis mutants carry their mutation,
see :func:`pipelines.drugscreen.mutations.mutant_sequences`), ids, the affinity (pKd for
Davis, KIBA score for KIBA) and DeepDTA's training fold. Splits ``fold0`` ... ``fold4``
are DeepDTA's five training folds (combine them with TFDS split arithmetic, e.g.
``"fold1+fold2+fold3+fold4"`` to train and ``"fold0"`` to validate). The held-back test
fold is not part of the embedded data.

Input is validated exactly as in the pipeline (:class:`~pipelines.drugscreen.data.DTAData`):
an invalid SMILES, protein letter or CSV row stops the build with file and line.
Nothing is downloaded: pass ``source_dir`` (default ``data/drugscreen``) and ``data_dir``.

Example:
    >>> import tempfile
    >>> from pipelines.drugscreen.tfds_builders import DrugTargetPairs
    >>> b = DrugTargetPairs(config="davis", data_dir=tempfile.mkdtemp())  # doctest: +SKIP
    >>> b.download_and_prepare()                                          # doctest: +SKIP
    >>> ds = b.as_dataset(split="fold1+fold2+fold3+fold4")                # doctest: +SKIP
"""

from __future__ import annotations


import numpy as np
import tensorflow_datasets as tfds
from sciarch.io.tfds import LocalSourceBuilder

from pipelines.drugscreen.data import DATA_ROOT, DTAData

CITATION = """Davis et al. (2011) Nat. Biotechnol. 29:1046; Tang et al. (2014) J. Chem. Inf. Model. 54:735;
He et al. (2017) J. Cheminform. 9:24; Öztürk, Özgür & Ozkirimli (2018) Bioinformatics 34:i821 (DeepDTA)."""
NUM_FOLDS = 5


class DrugTargetPairs(LocalSourceBuilder):
    """Labelled drug-target pairs of Davis or KIBA with SMILES and protein sequence."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "DeepDTA copies of Davis and KIBA; five training folds; Davis mutants mutated."}
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name="davis", description="Davis: 68 ligands x 442 kinase constructs, pKd"),
        tfds.core.BuilderConfig(name="kiba", description="KIBA: 2,111 ligands x 229 kinases, KIBA score"),
    ]

    SOURCE_DIR = DATA_ROOT
    SOURCE_NAME = "drugscreen"

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__.split("\n\n")[1],
            features=tfds.features.FeaturesDict({
                "smiles": tfds.features.Text(),
                "protein_sequence": tfds.features.Text(),
                "drug_id": tfds.features.Text(),
                "protein_id": tfds.features.Text(),
                "drug_index": tfds.features.Scalar(dtype=np.int32),
                "protein_index": tfds.features.Scalar(dtype=np.int32),
                "affinity": tfds.features.Scalar(dtype=np.float32),
                "cv_fold": tfds.features.Scalar(dtype=np.int32),
            }),
            supervised_keys=None,
            citation=CITATION,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # offline
        data = DTAData.load(self.source_dir / self.builder_config.name)
        return {f"fold{k}": self._generate_examples(data, k) for k in range(NUM_FOLDS)}

    def _generate_examples(self, data: DTAData, fold: int):
        p = data.pairs
        for i in np.flatnonzero(p.fold == fold):
            d, t = int(p.drug[i]), int(p.protein[i])
            yield f"{int(p.line[i])}", {
                "smiles": data.smiles[d],
                "protein_sequence": data.sequences[t],
                "drug_id": data.drug_ids[d],
                "protein_id": data.protein_ids[t],
                "drug_index": d,
                "protein_index": t,
                "affinity": float(p.y[i]),
                "cv_fold": fold,
            }
