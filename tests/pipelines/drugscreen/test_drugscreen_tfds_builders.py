"""The TFDS builder builds offline from a (small) copy of the Davis folder."""

import gzip

import numpy as np

from pipelines.drugscreen.tfds_builders import DrugTargetPairs


def test_builds_offline_and_matches_source(tmp_path, davis_copy, davis_rows):
    rows = davis_rows[:1] + davis_rows[1:201]
    with gzip.open(davis_copy / "affinities.csv.gz", "wt") as fh:
        fh.write("\n".join(rows) + "\n")
    builder = DrugTargetPairs(config="davis", source_dir=davis_copy.parent, data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare()
    counts = {k: v.num_examples for k, v in builder.info.splits.items()}
    assert sum(counts.values()) == 200 and set(counts) == {f"fold{k}" for k in range(5)}
    expected = {}
    for r in rows[1:]:
        f = r.split(",")
        expected[(int(f[1]), int(f[2]))] = (float(f[6]), int(f[7]))
    seen = 0
    for ex in builder.as_dataset(split="fold0+fold1+fold2+fold3+fold4").as_numpy_iterator():
        y, fold = expected[(int(ex["drug_index"]), int(ex["protein_index"]))]
        assert np.isclose(ex["affinity"], y, atol=1e-5) and ex["cv_fold"] == fold
        assert ex["smiles"] and ex["protein_sequence"].isalpha()
        seen += 1
    assert seen == 200
