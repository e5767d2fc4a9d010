"""The full-raster path (30 m native grid, ``configs/ecorisk/full.yaml`` settings) on a small cut:
stack the layers at 30 m, predict the whole cut tile by tile (a freshly initialised seeded
model: the path, not the skill, is under test), write a Cloud-Optimized risk GeoTIFF + PNG."""

from types import SimpleNamespace

import numpy as np
import pytest
import rasterio

from pipelines.ecorisk.model import predict_map
from pipelines.ecorisk.report import NODATA, write_risk_map
import keras
from sciarch.config import load_config
from sciarch.pipeline import PROJECT_ROOT
from tests.pipelines.ecorisk.conftest import make_pipeline

#: 30 m window over forest of Basse-Terre (some deforestation and protected land)
WINDOW = [600, 900, 128, 128]


@pytest.fixture(scope="module")
def full_cut():
    full = load_config(PROJECT_ROOT / "configs" / "ecorisk" / "full.yaml", pipeline="ecorisk")
    assert full.data.scale == 1.0 and full.data.dataset == "guadeloupe_raster"
    data = full.data.model_dump(mode="json") | {"window": WINDOW, "raster_block_m": 1200.0, "patch_size": 32,
                                                 "patch_stride": 32, "predict_tile": 64, "map_blocksize": 64}
    pipe = make_pipeline(data=data, model={"filters": 8, "dilations": [1, 2], "baselines": []},
                         train={"batch_size": 16, "epochs": 1, "learning_rate": 0.004},
                         loss=full.loss.model_dump(mode="json"))
    keras.utils.set_random_seed(0)
    return pipe, pipe.build_model()


def test_cut_is_on_the_native_grid(full_cut):
    pipe, _ = full_cut
    rd = pipe.raster()
    assert rd.valid.shape == (128, 128)
    assert rd.grid.transform.a == pytest.approx(30.0) and rd.grid.transform.e == pytest.approx(-30.0)
    assert rd.valid.sum() > 2000 and 0 < rd.target[rd.valid].mean() < 0.5
    assert set(np.unique(rd.split[rd.valid])) == {0, 1, 2}


def test_tiled_prediction_matches_one_pass_and_reports_progress(full_cut, capsys):
    pipe, model = full_cut
    rd = pipe.raster()
    tiled = pipe.predict_raster(model, rd)            # 64 px tiles, progress bar on
    whole = predict_map(model, rd.features, tile=512, margin=8)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    assert "tiles" in capsys.readouterr().out


def test_cloud_optimized_risk_geotiff_and_png(full_cut, tmp_path):
    pipe, model = full_cut
    (png,) = write_risk_map(pipe, model, tmp_path, dpi=60)
    assert png.name == "risk_map.png" and png.stat().st_size > 1000
    rd = pipe.raster()
    with rasterio.open(tmp_path / "risk_map.tif") as src:
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.profile["tiled"] and src.block_shapes == [(64, 64)]
        assert src.overviews(1) == [2]  # 128 px -> 64 px: down to one tile
        assert src.transform == rd.grid.transform and src.nodata == NODATA
        risk = src.read(1)
    assert ((risk != NODATA) == rd.valid).all()
    assert 0 < risk[rd.valid].min() and risk[rd.valid].max() < 1
