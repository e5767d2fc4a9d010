"""TFDS builders of the ecorisk tables build offline and agree with the pipeline's split and labels."""

import numpy as np
import pandas as pd
import pytest

from pipelines.ecorisk import data as D
from pipelines.ecorisk.tfds_builders import AmazonDeforestationGrid, GuadeloupeSamplePoints


def test_sample_points_builder(tmp_path, points_pipeline):
    b = GuadeloupeSamplePoints(data_dir=str(tmp_path / "tfds"))
    b.download_and_prepare()
    raw = pd.read_csv(D.DATA_DIR / "guadeloupe" / "sample_points.csv.gz")
    counts = {s: b.info.splits[s].num_examples for s in D.SPLITS}
    assert sum(counts.values()) == len(raw)  # every record kept, NaNs included
    test = list(b.as_dataset(split="test").as_numpy_iterator())
    assert {int(e["deforested"]) for e in test} == {0, 1}
    # same blocks as the pipeline's default split (which drops records with missing values)
    td, split, _ = points_pipeline.table()
    assert {int(e["cell"]) for e in test} == {int(c) for c in np.unique(td.group[split == 2])}
    assert np.isfinite([e["biomass"] for e in test]).mean() > 0.9


def test_amazon_builder_labels(tmp_path):
    b = AmazonDeforestationGrid(data_dir=str(tmp_path / "tfds"))
    b.download_and_prepare()
    n = sum(b.info.splits[s].num_examples for s in D.SPLITS)
    assert n == 28815
    ex = list(b.as_dataset(split="validation").take(2000).as_numpy_iterator())
    for e in ex:
        if e["ref_year"] == 2023:
            assert e["deforested"] == -1 and np.isnan(e["def_target_km2"])
        else:
            assert e["deforested"] == int(e["def_target_km2"] > 0)
    blocks_val = {e["block"] for e in ex}
    blocks_train = {e["block"] for e in b.as_dataset(split="train").take(3000).as_numpy_iterator()}
    assert not blocks_val & blocks_train  # whole blocks per split


def test_builder_reports_bad_file(tmp_path):
    (tmp_path / "src" / "amazon").mkdir(parents=True)
    (tmp_path / "src" / "amazon" / "deforestation_grid_25km2.csv.gz").write_bytes(b"")
    b = AmazonDeforestationGrid(source_dir=tmp_path / "src", data_dir=str(tmp_path / "tfds"))
    with pytest.raises(D.EcoDataError, match=r"deforestation_grid_25km2\.csv\.gz: cannot parse CSV"):
        b.download_and_prepare()
