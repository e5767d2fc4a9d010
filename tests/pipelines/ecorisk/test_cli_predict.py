"""``sciarch ecorisk predict``: risk GeoTIFF + PNG of a raster folder, on the folder's grid."""

import shutil

import numpy as np
import pytest
import rasterio
import yaml
from rasterio.windows import Window
from typer.testing import CliRunner

from pipelines.ecorisk import data as D
from pipelines.ecorisk.cli import app
from pipelines.ecorisk.train import fit_with_loss

MODEL = {"filters": 8, "dilations": [1, 2], "baselines": ["logistic"]}
TRAIN = {"batch_size": 16, "epochs": 1, "learning_rate": 0.004}
#: native (30 m) pixel window of the hold-out folder: the corner of the training window (forest of Basse-Terre)
CROP = Window(col_off=450, row_off=750, width=300, height=240)


@pytest.fixture(scope="module")
def raster_data(raster_pipeline):
    """The conftest's raster slice (``RASTER_DATA``) as a config section."""
    return raster_pipeline.config.data.model_dump(mode="json", exclude_unset=True)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, new_pipeline, raster_data):
    pipe = new_pipeline(data=raster_data, model=MODEL, train=TRAIN)
    model = fit_with_loss(pipe, epochs=1)
    run = tmp_path_factory.mktemp("ecorisk_run")
    model.save(run / "model.keras")
    cfg = {"pipeline": "ecorisk", "seed": 0, "data": raster_data, "model": MODEL, "train": TRAIN}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    return run


@pytest.fixture(scope="module")
def raster_folder(tmp_path_factory):
    """The embedded layers, the 30 m ones cut to ``CROP`` (the coarse ones are warped onto it)."""
    src_dir = D.DATA_DIR / "guadeloupe"
    folder = tmp_path_factory.mktemp("rasters")
    for name in D.RASTER_LAYERS:
        src = src_dir / f"{name}.tif"
        if name not in D.NATIVE_LAYERS:
            shutil.copy(src, folder / src.name)
            continue
        with rasterio.open(src) as s:
            profile = s.profile | {"width": CROP.width, "height": CROP.height,
                                   "transform": s.window_transform(CROP)}
            profile.pop("blockxsize", None), profile.pop("blockysize", None), profile.pop("tiled", None)
            with rasterio.open(folder / src.name, "w", **profile) as d:
                d.write(s.read(window=CROP))
    return folder


def test_predict_writes_risk_geotiff_on_the_input_grid(trained_run, raster_folder, raster_data, tmp_path):
    out = tmp_path / "maps" / "risk.tif"
    res = CliRunner().invoke(app, ["predict", "--model", str(trained_run), "--rasters", str(raster_folder),
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output.split() == [str(out), str(out.with_suffix(".png"))]
    assert out.with_suffix(".png").stat().st_size > 0
    scale = raster_data["scale"]
    with rasterio.open(raster_folder / "fcc23.tif") as ref, rasterio.open(out) as got:
        assert got.crs == ref.crs
        # the run's grid scale (data.scale) on the folder's fcc23 grid: same extent, same origin
        assert (got.height, got.width) == (round(ref.height / scale), round(ref.width / scale))
        assert got.res == pytest.approx((ref.res[0] * scale, ref.res[1] * scale))
        assert (got.bounds.left, got.bounds.top) == pytest.approx((ref.bounds.left, ref.bounds.top))
        risk = got.read(1)
        nodata = got.nodata
    valid = risk != nodata
    assert nodata == -9999.0 and valid.sum() > 500  # the forest pixels of the crop get a risk
    assert np.all((risk[valid] >= 0) & (risk[valid] <= 1))


def test_predict_missing_raster_folder_is_one_error_line(tmp_path, capsys):
    from sciarch.cli import main

    missing = tmp_path / "nope"
    with pytest.raises(SystemExit) as exc:
        main(["ecorisk", "predict", "--model", str(tmp_path), "--rasters", str(missing),
              "--out", str(tmp_path / "r.tif")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {missing}: no such raster folder"]
    assert not (tmp_path / "r.tif").exists()
