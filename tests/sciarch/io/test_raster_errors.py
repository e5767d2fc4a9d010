"""Unreadable rasters (truncated, corrupt, not a GeoTIFF) give ONE documented error naming the
file -- :class:`RasterReadError` from the library, ``error: <file>: ...`` + exit 2 from the CLI --
and never another exception. Property-based over random bytes, truncations and byte edits."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sciarch.config import ConfigError
from sciarch.io.raster import RasterGridError, RasterReadError, open_raster, read_grid, stack_rasters

GLP = Path(__file__).resolve().parents[3] / "data" / "ecorisk" / "guadeloupe"
SMALL = GLP / "AGB.tif"  # 101 x 90 float32, deflate, 7.8 kB
SMALL_BYTES = SMALL.read_bytes()
REFERENCE = stack_rasters([SMALL])

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _truncated(tmp_path, src: Path, n_bytes: int) -> Path:
    dst = tmp_path / src.name
    dst.write_bytes(src.read_bytes()[:n_bytes])
    return dst


def _load_or_documented_error(path: Path):
    """Load ``path``; the only exception allowed is a one-line RasterReadError/RasterGridError naming it."""
    try:
        return stack_rasters([path])
    except RasterGridError as exc:
        msg = str(exc)
        assert msg.startswith(f"{path}: "), msg
        assert "\n" not in msg, msg
        assert isinstance(exc, ConfigError)
        return None


def test_error_is_a_config_error_subclass():
    assert issubclass(RasterReadError, RasterGridError) and issubclass(RasterGridError, ConfigError)
    assert issubclass(RasterReadError, ValueError)


def test_truncated_pixel_data_names_the_file(tmp_path):
    bad = _truncated(tmp_path, GLP / "altitude.tif", 100_000)
    assert read_grid(bad).shape == (987, 1114)  # the header is intact ...
    with pytest.raises(RasterReadError, match=r"altitude\.tif: unreadable raster \(truncated, corrupt or not a "
                                              r"GeoTIFF\): .*[Rr]ead error"):
        stack_rasters([bad])  # ... the pixels are not
    other = GLP / "slope.tif"  # resampled reads fail the same way
    with pytest.raises(RasterReadError, match=r"altitude\.tif: unreadable raster"):
        stack_rasters([other, bad], resampling="bilinear")


def test_not_a_raster_and_empty_file(tmp_path):
    (tmp_path / "empty.tif").write_bytes(b"")
    (tmp_path / "text.tif").write_text("hello\n")
    for name in ("empty.tif", "text.tif"):
        with pytest.raises(RasterReadError, match=rf"{name}: unreadable raster"):
            read_grid(tmp_path / name)
    with pytest.raises(RasterReadError, match=r"missing\.tif: raster file not found"):
        with open_raster(tmp_path / "missing.tif"):
            pass


def test_ecorisk_sample_raster_at_names_the_file(tmp_path):
    from pipelines.ecorisk.data import sample_raster_at

    bad = _truncated(tmp_path, GLP / "altitude.tif", 100_000)
    with rasterio_open(GLP / "altitude.tif") as src:
        x, y = src.xy(900, 500)
    with pytest.raises(RasterReadError, match=r"altitude\.tif: unreadable raster"):
        sample_raster_at(bad, np.array([x]), np.array([y]))


def rasterio_open(path):
    import rasterio

    return rasterio.open(path)


def test_cli_evaluate_data_with_truncated_layer_one_line_exit_2(tmp_path):
    """`sciarch evaluate <run> --data <folder>` with a truncated altitude.tif: one line, exit 2."""
    from typer.testing import CliRunner

    import yaml

    from sciarch.cli import app, _mount_extensions
    from pipelines.ecorisk.pipeline import EcoRiskConfig, EcoRiskPipeline

    raw = {"pipeline": "ecorisk", "seed": 0,
           "data": {"dataset": "guadeloupe_raster", "scale": 3.0, "window": [150, 250, 96, 96], "patch_stride": 16,
                    "raster_block_m": 3000.0, "patch_size": 32, "importance": "biomass", "zone": "protected"},
           "model": {"filters": 4, "dilations": [1], "baselines": []}}
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(raw))
    EcoRiskPipeline(EcoRiskConfig.model_validate(raw)).build_model().save(run / "model.keras")
    data = tmp_path / "new_area"
    data.mkdir()
    for f in GLP.glob("*.tif"):
        (data / f.name).symlink_to(f)
    (data / "altitude.tif").unlink()
    _truncated(data, GLP / "altitude.tif", 100_000)
    _mount_extensions(["evaluate"])
    res = CliRunner().invoke(app, ["evaluate", str(run), "--data", str(data)])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert lines[0].startswith(f"error: {data / 'altitude.tif'}: unreadable raster (truncated, corrupt or not a "
                               "GeoTIFF): "), lines[0]
    assert "Traceback" not in res.output


def test_unmodified_file_loads_identically(tmp_path):
    copy = tmp_path / "AGB.tif"
    shutil.copyfile(SMALL, copy)
    s = stack_rasters([copy])
    np.testing.assert_array_equal(s.data, REFERENCE.data)
    np.testing.assert_array_equal(s.valid, REFERENCE.valid)
    assert s.grid.differences(REFERENCE.grid) == [] and s.nodata == REFERENCE.nodata


@FUZZ
@given(raw=st.binary(max_size=2048), tiff_magic=st.booleans())
def test_random_bytes_give_only_the_documented_error(tmp_path, raw, tiff_magic):
    p = tmp_path / "random.tif"
    p.write_bytes((SMALL_BYTES[:8] if tiff_magic else b"") + raw)
    _load_or_documented_error(p)


@FUZZ
@given(n=st.integers(min_value=0, max_value=len(SMALL_BYTES) - 1))
def test_truncations_give_only_the_documented_error(tmp_path, n):
    p = tmp_path / "truncated.tif"
    p.write_bytes(SMALL_BYTES[:n])
    _load_or_documented_error(p)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, len(SMALL_BYTES) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       header_only=st.booleans())
def test_random_byte_edits_give_only_the_documented_error(tmp_path, edits, header_only):
    b = bytearray(SMALL_BYTES)
    for pos, val in edits:
        b[pos % 512 if header_only else pos] = val
    p = tmp_path / "edited.tif"
    p.write_bytes(bytes(b))
    s = _load_or_documented_error(p)
    if s is not None and bytes(b) == SMALL_BYTES:
        np.testing.assert_array_equal(s.data, REFERENCE.data)
