"""ecorisk pipeline: registry and configs, short training runs that learn, evaluate on files, report."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from sciarch.config import load_config
from sciarch.io.raster import RasterGridError
from sciarch.pipeline import PROJECT_ROOT, available_pipelines

from pipelines.ecorisk import data as D
from pipelines.ecorisk.pipeline import EcoRiskPipeline
from pipelines.ecorisk.train import fit_with_loss


def test_registered_and_every_config_validates():
    assert available_pipelines()["ecorisk"] is EcoRiskPipeline
    files = EcoRiskPipeline.config_files()
    assert {"quick.yaml", "amazon_full.yaml", "guadeloupe_full.yaml"} <= {f.name for f in files}
    for f in files:
        cfg = load_config(f, pipeline="ecorisk")
        assert cfg.loss.name in ("default", "ecological_fairness")


def test_model_kind_must_fit_the_data(new_pipeline):
    with pytest.raises(ValueError, match="'fcn' needs data.dataset 'guadeloupe_raster'"):
        new_pipeline(data={"dataset": "amazon_grid"}, model={"kind": "fcn"}).build_model()


@pytest.fixture(scope="module")
def amazon_model(amazon_pipeline):
    return fit_with_loss(amazon_pipeline)


def test_short_tabular_training_learns(amazon_pipeline, amazon_model):
    m = amazon_pipeline.evaluate(amazon_model, "test")
    assert m["auc"] > 0.9, m  # held-out 1 deg blocks; last year's deforestation alone gives ~0.9
    assert set(m) >= {"auc", "weighted_fnr", "fnr", "zone_gap", "zone_mean_risk/protected"}
    assert 0 <= m["weighted_fnr"] <= 1 and m["zone_gap"] >= 0


def test_evaluate_on_a_csv_file(tmp_path, amazon_pipeline, amazon_model):
    import pandas as pd

    raw = pd.read_csv(D.DATA_DIR / "amazon" / "deforestation_grid_25km2.csv.gz")
    sub = raw[raw["ref_year"].isin([2019, 2020, 2023])].head(3000)
    path = tmp_path / "cells.csv.gz"
    sub.to_csv(path, index=False)
    m = amazon_pipeline.evaluate(amazon_model, data_path=str(path))
    assert m["n"] == int(sub["ref_year"].isin([2019, 2020]).sum())  # 2023 rows have no label
    assert m["auc"] > 0.85


@pytest.fixture(scope="module")
def raster_model(raster_pipeline):
    return fit_with_loss(raster_pipeline)


def test_short_fcn_training_learns_a_risk_map(raster_pipeline, raster_model):
    m = raster_pipeline.evaluate(raster_model, "test")
    assert m["n"] > 500 and m["positives"] > 10
    assert m["auc"] > 0.75, m  # well above chance after ~200 steps (logistic on pixels: ~0.9)


def _crop_folder(dst: Path, names, window: Window, shift_layer: str | None = None):
    dst.mkdir()
    for n in names:
        with rasterio.open(D.DATA_DIR / "guadeloupe" / f"{n}.tif") as src:
            if src.res[0] != 30.0:  # coarse layers are copied whole (they are resampled anyway)
                prof, arr, t = src.profile, src.read(1), src.transform
            else:
                arr, t = src.read(1, window=window), src.window_transform(window)
                prof = src.profile
            prof = dict(prof, width=arr.shape[1], height=arr.shape[0],
                        transform=t if n != shift_layer else t * t.translation(1, 0))
            with rasterio.open(dst / f"{n}.tif", "w", **prof) as out:
                out.write(arr, 1)


def test_evaluate_on_a_raster_folder_and_mismatch_fails(tmp_path, raster_pipeline, raster_model):
    layers = ["fcc23", *raster_pipeline.raster().feature_names, "AGB"]
    win = Window(450, 750, 300, 240)  # 30 m pixels, a slice of Basse-Terre
    _crop_folder(tmp_path / "ok", layers, win)
    m = raster_pipeline.evaluate(raster_model, data_path=str(tmp_path / "ok"))
    assert m["n"] > 300 and 0 <= m["auc"] <= 1
    _crop_folder(tmp_path / "bad", layers, win, shift_layer="dist_edge")
    with pytest.raises(RasterGridError, match=r"dist_edge\.tif: grid does not match .*fcc23\.tif.*transform"):
        raster_pipeline.evaluate(raster_model, data_path=str(tmp_path / "bad"))


def test_report_writes_risk_map_on_the_input_grid(tmp_path, raster_pipeline, raster_model):
    files = raster_pipeline.report(SimpleNamespace(dir=tmp_path), raster_model, {})
    names = {Path(f).name for f in files}
    assert {"risk_map.png", "zone_risk.png", "comparison.png"} <= names
    rd = raster_pipeline.raster()
    with rasterio.open(tmp_path / "risk_map.tif") as t:
        assert t.crs == rd.grid.crs_obj()
        assert t.transform.almost_equals(rd.grid.transform)
        assert (t.height, t.width) == rd.grid.shape
        assert t.nodata == -9999.0
        risk = t.read(1)
    np.testing.assert_array_equal(risk != -9999.0, rd.valid)
    assert ((risk[rd.valid] >= 0) & (risk[rd.valid] <= 1)).all()
    # the window of the fcc23 grid at 90 m: same CRS as the input file, origin on its pixel corners
    with rasterio.open(D.DATA_DIR / "guadeloupe" / "fcc23.tif") as src:
        assert t.crs == src.crs
        col, row = ~src.transform @ (t.transform.c, t.transform.f)
        assert abs(col - round(col)) < 1e-6 and abs(row - round(row)) < 1e-6
    import json

    comp = json.loads((tmp_path / "comparison.json").read_text())["models"]
    assert "logistic regression" in comp and comp["logistic regression"]["auc"] > 0.6
