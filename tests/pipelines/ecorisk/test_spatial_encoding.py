"""The learned spatial effect: coordinate features appended to the tabular inputs."""

import numpy as np
import pytest
from types import SimpleNamespace

from pipelines.ecorisk.spatial import EcoDataError, spatial_encoding
from tests.pipelines.ecorisk.conftest import make_pipeline


def _cfg(n, scale=1.0, seed=0):
    return SimpleNamespace(spatial_features=n, spatial_scale=scale, split_seed=seed)


def test_encoding_is_bounded_smooth_and_seeded():
    x = np.linspace(-60.0, -50.0, 101)
    y = np.full_like(x, -5.0)
    f = spatial_encoding(x, y, _cfg(16, scale=2.0))
    assert f.shape == (101, 16) and f.dtype == np.float32 and np.abs(f).max() <= 1.0
    np.testing.assert_array_equal(f, spatial_encoding(x, y, _cfg(16, scale=2.0)))
    # neighbours (0.1 deg apart) differ far less than points 10 deg apart at a 2 deg length scale
    assert np.abs(f[1] - f[0]).mean() < 0.5 * np.abs(f[-1] - f[0]).mean()
    assert not np.allclose(f, spatial_encoding(x, y, _cfg(16, scale=2.0, seed=1)))
    assert spatial_encoding(x, y, _cfg(0)).shape == (101, 0)
    with pytest.raises(EcoDataError, match="spatial_features must be even"):
        spatial_encoding(x, y, _cfg(3))


def test_pipeline_appends_the_encoding_to_the_inputs():
    plain = make_pipeline(data={"dataset": "amazon_grid"})
    spatial = make_pipeline(data={"dataset": "amazon_grid", "spatial_features": 8, "spatial_scale": 1.0})
    xp, xs = plain.table()[2], spatial.table()[2]
    assert xs.shape == (xp.shape[0], xp.shape[1] + 8)
    np.testing.assert_array_equal(xs[:, :xp.shape[1]], xp)
    assert spatial.build_model().input_shape == (None, xp.shape[1] + 8)
