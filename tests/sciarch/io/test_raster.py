"""sciarch.io.raster: stacking on one grid, nodata, resampling, normalisation, patches, writing."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from sciarch.io.raster import (
    RasterGrid,
    RasterGridError,
    normalise,
    patch_origins,
    read_grid,
    stack_rasters,
    write_geotiff,
)

GLP = Path(__file__).resolve().parents[3] / "data" / "ecorisk" / "guadeloupe"
GRID = RasterGrid("EPSG:3395", from_origin(1000.0, 2000.0, 30.0, 30.0), 6, 4)


def _write(path, arr, grid=GRID, nodata=-1.0, dtype="float32"):
    return write_geotiff(path, np.asarray(arr, float), grid, nodata=nodata, dtype=dtype)


def test_stack_reads_values_and_nodata(tmp_path):
    a = np.arange(24, dtype=float).reshape(4, 6)
    b = np.ones((4, 6))
    b[1, 2] = -1.0  # nodata
    s = stack_rasters([_write(tmp_path / "a.tif", a), _write(tmp_path / "b.tif", b)])
    assert s.names == ["a", "b"]
    assert s.data.shape == (4, 6, 2) and s.data.dtype == np.float32
    np.testing.assert_array_equal(s.layer("a"), a)
    assert not s.valid[1, 2, 1] and s.valid[..., 1].sum() == 23
    assert np.isnan(s.data[1, 2, 1])
    assert s.grid.differences(GRID) == []


def test_mismatched_transform_names_the_file(tmp_path):
    a = _write(tmp_path / "a.tif", np.zeros((4, 6)))
    shifted = RasterGrid("EPSG:3395", from_origin(1030.0, 2000.0, 30.0, 30.0), 6, 4)
    odd = _write(tmp_path / "odd_layer.tif", np.zeros((4, 6)), grid=shifted)
    with pytest.raises(RasterGridError, match=r"odd_layer\.tif.*transform"):
        stack_rasters([a, odd])


def test_mismatched_crs_and_shape_name_the_file(tmp_path):
    a = _write(tmp_path / "a.tif", np.zeros((4, 6)))
    other_crs = RasterGrid("EPSG:32620", GRID.transform, 6, 4)
    b = _write(tmp_path / "utm.tif", np.zeros((4, 6)), grid=other_crs)
    with pytest.raises(RasterGridError, match=r"utm\.tif.*CRS"):
        stack_rasters([a, b])
    c = _write(tmp_path / "small.tif", np.zeros((3, 6)), grid=RasterGrid("EPSG:3395", GRID.transform, 6, 3))
    with pytest.raises(RasterGridError, match=r"small\.tif.*shape 3x6 != 4x6"):
        stack_rasters([a, c])


def test_real_layers_on_different_grids_fail_then_resample():
    fcc, slope = GLP / "fcc23.tif", GLP / "slope.tif"
    with pytest.raises(RasterGridError, match=r"slope\.tif: grid does not match .*fcc23\.tif"):
        stack_rasters([fcc, slope])
    s = stack_rasters([fcc, slope], resampling={"slope": "bilinear"}, window=(750, 1200, 60, 40))
    assert s.data.shape == (40, 60, 2)
    assert s.grid.differences(read_grid(fcc).window(750, 1200, 60, 40)) == []
    # the 90 m slope pixel covering a 30 m pixel centre: compare with a direct read
    with rasterio.open(slope) as src:
        x, y = s.grid.transform @ (30.5, 20.5)
        direct = next(src.sample([(x, y)]))[0]
    assert abs(s.layer("slope")[20, 30] - direct) <= 2.0 + 1e-3 * abs(direct)


def test_scale_needs_resampling_and_coarsens(tmp_path):
    a = _write(tmp_path / "a.tif", np.arange(24, dtype=float).reshape(4, 6))
    with pytest.raises(RasterGridError, match="a.tif: scale=2"):
        stack_rasters([a], scale=2)
    s = stack_rasters([a], scale=2, resampling="average")
    assert s.data.shape == (2, 3, 1)
    assert s.grid.transform.a == 60.0
    np.testing.assert_allclose(s.data[0, 0, 0], np.mean([0, 1, 6, 7]))


def test_normalise_uses_region_stats_and_zeroes_nodata():
    data = np.array([[[1.0], [3.0]], [[100.0], [np.nan]]], np.float32)
    valid = np.isfinite(data)
    region = np.array([[True, True], [False, False]])
    x, stats = normalise(data, valid, region=region)
    assert stats["mean"] == [2.0] and stats["std"] == [1.0]
    np.testing.assert_allclose(x[..., 0], [[-1.0, 1.0], [98.0, 0.0]])
    x2, _ = normalise(data, valid, stats=stats)  # reuse training statistics
    np.testing.assert_allclose(x2, x)
    xl, sl = normalise(data, valid, log=[True])
    assert sl["log"] == [True] and np.isfinite(xl).all()


def test_patch_origins_cover_the_region():
    region = np.zeros((10, 12), bool)
    region[7:, 9:] = True
    o = patch_origins(region, 4, stride=4)
    assert {tuple(r) for r in o} == {(4, 8), (6, 8)}  # last row shifted inward to row 6
    o = patch_origins(region, 4, stride=4, min_fraction=0.5)  # (4, 8) holds only 3 of 16 region pixels
    assert [tuple(r) for r in o] == [(6, 8)]
    assert len(patch_origins(np.ones((10, 12), bool), 4, stride=4)) == 3 * 3
    with pytest.raises(ValueError, match="larger than"):
        patch_origins(region, 20)


def test_written_geotiff_matches_the_input_grid(tmp_path):
    src = GLP / "fcc23.tif"
    s = stack_rasters([src], window=(500, 700, 32, 16))
    risk = np.random.default_rng(0).random(s.grid.shape)
    out = write_geotiff(tmp_path / "risk.tif", risk, s.grid, nodata=-9999.0, valid=s.valid[..., 0])
    with rasterio.open(out) as dst, rasterio.open(src) as ref:
        assert dst.crs == ref.crs
        assert dst.transform.almost_equals(ref.window_transform(rasterio.windows.Window(500, 700, 32, 16)))
        assert (dst.height, dst.width) == (16, 32)
        assert dst.nodata == -9999.0
        back = dst.read(1)
    np.testing.assert_allclose(back[s.valid[..., 0]], risk[s.valid[..., 0]], rtol=1e-6)
    assert (back[~s.valid[..., 0]] == -9999.0).all()


def test_write_rejects_wrong_shape_and_missing_nodata(tmp_path):
    with pytest.raises(ValueError, match="does not match grid"):
        write_geotiff(tmp_path / "x.tif", np.zeros((3, 3)), GRID)
    with pytest.raises(ValueError, match="no nodata"):
        write_geotiff(tmp_path / "x.tif", np.full((4, 6), np.nan), GRID)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(RasterGridError, match="nope.tif: raster file not found"):
        stack_rasters([tmp_path / "nope.tif"])
