"""ecorisk inputs: file checks, labels, spatial splits, batching and sharding, raster patches."""

import gzip

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from pipelines.ecorisk import data as D


def test_points_labels_importance_and_zones(points_pipeline):
    td, split, x = points_pipeline.table()
    raw = pd.read_csv(D.DATA_DIR / "guadeloupe" / "sample_points.csv.gz")
    assert len(td) + td.dropped == len(raw) and td.dropped == int(raw[D.GLP_FEATURES].isna().any(axis=1).sum())
    assert set(np.unique(td.target)) == {0.0, 1.0}
    assert 0.45 < td.target.mean() < 0.55  # balanced by design
    assert td.importance.mean() == pytest.approx(1.0, rel=1e-5) and td.importance.std() > 0.3  # biomass
    np.testing.assert_array_equal(td.zone, (td.features[:, td.names.index("pa")] > 0).astype(int))
    assert x.shape == td.features.shape and np.isfinite(x).all()
    tr = split == 0
    np.testing.assert_allclose(x[tr].mean(0), 0, atol=1e-4)  # z-scored on the training blocks


def test_spatial_split_keeps_blocks_whole(points_pipeline, amazon_pipeline):
    for pipe in (points_pipeline, amazon_pipeline):
        td, split, _ = pipe.table()
        assert {0, 1, 2} == set(np.unique(split))
        for g in np.unique(td.group):
            assert len(np.unique(split[td.group == g])) == 1, f"block {g} is in two splits"
        assert 0.1 < (split == 2).mean() < 0.3


def test_test_region_is_the_island_part(new_pipeline):
    box = [-6852000, 1700000, -6700000, 1900000]
    pipe = new_pipeline(data={"dataset": "guadeloupe_points", "test_region": box})
    td, split, _ = pipe.table()
    inside = td.x >= box[0]
    np.testing.assert_array_equal(split == 2, inside)
    assert (split[~inside] != 2).all() and (split[~inside] == 1).mean() > 0.1


def test_amazon_labels_come_from_def_or_next_years_lag(amazon_pipeline):
    td, _, _ = amazon_pipeline.table()
    raw = pd.read_csv(D.DATA_DIR / "amazon" / "deforestation_grid_25km2.csv.gz")
    assert len(td) == int((raw["ref_year"] <= 2022).sum())  # 2023 has no label yet
    assert td.extra["unlabelled"] == int((raw["ref_year"] == 2023).sum())
    cell = raw["id"].iloc[3]
    r = raw[raw["id"] == cell].set_index("ref_year")
    expect_2021 = float(r.loc[2022, "def_1_ly"] > 0)
    i = np.flatnonzero((td.extra["year"] == 2021) & (td.group == r.loc[2021, "block"]))
    rows = td.features[i, td.names.index("def_1_ly")] == np.float32(r.loc[2021, "def_1_ly"])
    assert rows.any()
    assert expect_2021 in set(td.target[i[rows]])
    lab = D.amazon_targets(raw)
    np.testing.assert_allclose(lab[raw["ref_year"] <= 2020], raw["def"][raw["ref_year"] <= 2020])


def test_bad_csv_names_file_line_and_field(tmp_path, new_pipeline):
    cfg = new_pipeline(data={"dataset": "guadeloupe_points"}).config.data
    df = pd.read_csv(D.DATA_DIR / "guadeloupe" / "sample_points.csv.gz").head(20)
    bad = df.copy()
    bad["slope"] = bad["slope"].astype(object)
    bad.loc[4, "slope"] = "steep"
    p = tmp_path / "bad.csv"
    bad.to_csv(p, index=False)
    with pytest.raises(D.EcoDataError, match=r"bad\.csv: line 6, field 'slope': not a number \('steep'\)"):
        D.load_points(p, cfg)
    p2 = tmp_path / "nolabel.csv.gz"
    with gzip.open(p2, "wt") as fh:
        df.drop(columns=["fcc23"]).to_csv(fh, index=False)
    with pytest.raises(D.EcoDataError, match=r"nolabel\.csv\.gz: missing column\(s\) fcc23"):
        D.load_points(p2, cfg)
    df.loc[2, "fcc23"] = 7
    p3 = tmp_path / "label7.csv"
    df.to_csv(p3, index=False)
    with pytest.raises(D.EcoDataError, match=r"label7\.csv: record 3, field 'fcc23': expected 0 or 1"):
        D.load_points(p3, cfg)


def test_per_replica_batch_and_worker_shards(amazon_pipeline):
    ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=4)
    ds = amazon_pipeline.build_inputs("validation", ctx)
    x, y = next(iter(ds))
    assert x.shape[0] == amazon_pipeline.config.train.batch_size // 4
    assert set(y) == {"target", "importance", "zone"}
    assert y["target"].shape == (x.shape[0], 1) and y["zone"].dtype == tf.int32
    n_shard = sum(int(b[0].shape[0]) for b in ds)
    n_all = int((amazon_pipeline.table()[1] == 1).sum())
    assert n_shard == n_all // 2  # shard 1 of 2 holds records 1, 3, 5, ...


def test_raster_stack_masks_and_patches(raster_pipeline):
    rd = raster_pipeline.raster()
    assert rd.features.shape[:2] == rd.valid.shape == (224, 224)
    assert rd.valid.sum() > 5000 and 0.01 < rd.target[rd.valid].mean() < 0.2
    assert (rd.zone[~rd.valid] == -1).all() and set(np.unique(rd.zone[rd.valid])) == {0, 1}
    assert (rd.importance[~rd.valid] == 0).all()
    for s in ("train", "validation", "test"):
        assert (rd.valid & (rd.split == D.SPLIT_ID[s])).sum() > 500
    x, y, w, origins = D.raster_patches(rd, "validation", 32, 32, 0.02)
    assert x.shape[1:] == (32, 32, len(rd.feature_names)) and y["target"].shape == w.shape
    r, c = origins[0]
    sl = (slice(r, r + 32), slice(c, c + 32))
    np.testing.assert_array_equal(w[0, ..., 0], rd.valid[sl] & (rd.split[sl] == D.SPLIT_ID["validation"]))


def test_unknown_raster_layer_and_missing_file(tmp_path, new_pipeline):
    with pytest.raises(D.EcoDataError, match="unknown raster layer"):
        new_pipeline(data={"dataset": "guadeloupe_raster", "features": ["roads"]}).raster()
    pipe = new_pipeline(data={"dataset": "guadeloupe_raster", "data_dir": str(tmp_path)})
    with pytest.raises(D.EcoDataError, match=r"fcc23\.tif: raster layer missing"):
        pipe.raster()
