"""Forecast: expected deforested area allocated to the highest-risk pixels, raster + CSV."""

import csv

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
from typer.testing import CliRunner

from pipelines.ecorisk.cli import app
from pipelines.ecorisk.forecast import allocate, forecast, rate_from_fcc
from pipelines.ecorisk.spatial import DATA_DIR, EcoDataError
from sciarch.io.raster import RasterGrid, write_geotiff

RISK = np.array([[0.9, 0.2, 0.5], [0.7, 0.7, 0.1]])
VALID = np.array([[True, True, False], [True, True, True]])


def test_allocation_picks_highest_risk_valid_pixels_with_row_major_ties():
    assert allocate(RISK, VALID, 2).tolist() == [[True, False, False], [True, False, False]]
    assert allocate(RISK, VALID, 3).tolist() == [[True, False, False], [True, True, False]]
    assert allocate(RISK, VALID, 99).sum() == VALID.sum()  # capped at the forest


def test_yearly_table_hand_computed():
    # pixel 0.5 ha, 0.5 ha / year: one pixel a year; 5 forest pixels
    lost, rows = forecast(RISK, VALID, 0.5, 0.5, 2020, 2023)
    assert [r["deforested_pixels"] for r in rows] == [0, 1, 2, 3]
    assert [r["forest_ha"] for r in rows] == [2.5, 2.0, 1.5, 1.0]
    assert rows[1]["risk_threshold"] == 0.9 and rows[3]["risk_threshold"] == 0.7
    assert lost.tolist() == [[True, False, False], [True, True, False]]
    with pytest.raises(EcoDataError, match="horizon 2020 must be after"):
        forecast(RISK, VALID, 0.5, 0.5, 2020, 2020)


@pytest.fixture()
def fcc_cut(tmp_path):
    """A 200 x 200 px (30 m) cut of the embedded fcc23.tif over forest of Basse-Terre."""
    src_path = DATA_DIR / "guadeloupe" / "fcc23.tif"
    win = Window(600, 900, 200, 200)
    with rasterio.open(src_path) as src:
        arr = src.read(1, window=win)
        prof = src.profile | {"width": 200, "height": 200, "transform": src.window_transform(win)}
    path = tmp_path / "fcc23.tif"
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(arr, 1)
    return path, arr, prof


def test_cli_forecast_on_a_real_cut(tmp_path, fcc_cut):
    path, fcc, prof = fcc_cut
    forest = np.isin(fcc, (0, 1))
    lost_px = int((fcc == 0).sum())
    assert forest.sum() > 1000 and lost_px > 10
    assert rate_from_fcc(path, 10) == pytest.approx(lost_px * 0.09 / 10)
    risk = np.where(fcc == 0, 0.8, 0.2) + np.linspace(0, 0.01, fcc.size).reshape(fcc.shape)
    grid = RasterGrid(prof["crs"], prof["transform"], 200, 200)
    risk_tif = write_geotiff(tmp_path / "risk.tif", np.where(forest, risk, -9999.0), grid, nodata=-9999.0,
                             valid=forest)
    out = tmp_path / "forest_2030.tif"
    res = CliRunner().invoke(app, ["forecast", "--risk", str(risk_tif), "--fcc", str(path), "--period", "10",
                                   "--start", "2020", "--horizon", "2030", "--out", str(out)])
    assert res.exit_code == 0, res.output
    with rasterio.open(out) as src:
        cover = src.read(1)
        assert src.nodata == 255 and src.transform == prof["transform"]
    # ten years at the observed ten-year rate: exactly the pixels lost before, the riskiest ones
    assert int((cover == 0).sum()) == lost_px
    assert ((cover == 0) == (fcc == 0)).all() and ((cover == 255) == ~forest).all()
    rows = list(csv.DictReader(open(out.with_suffix(".csv"))))
    assert [int(r["year"]) for r in rows] == list(range(2020, 2031))
    assert float(rows[-1]["deforested_ha"]) == pytest.approx(lost_px * 0.09)

    bad = CliRunner().invoke(app, ["forecast", "--risk", str(risk_tif), "--horizon", "2030", "--out", str(out)])
    assert bad.exit_code == 2 and "exactly one of --rate-ha or --fcc" in bad.output
