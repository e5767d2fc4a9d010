import numpy as np
import pytest

from pipelines.drugscreen.metrics import (
    concordance_index,
    concordance_index_bruteforce,
    pearson_r,
    regression_metrics,
    rm2,
)


@pytest.mark.parametrize("seed", range(8))
def test_ci_matches_bruteforce_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 120))
    y = rng.integers(0, 6, n).astype(float)  # many ties in y
    p = np.round(rng.normal(size=n), 1)  # ties in predictions too
    assert concordance_index(y, p) == pytest.approx(concordance_index_bruteforce(y, p), abs=1e-12)


def test_ci_known_values():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert concordance_index(y, y) == 1.0
    assert concordance_index(y, -y) == 0.0
    assert concordance_index(y, np.zeros(4)) == 0.5
    assert np.isnan(concordance_index([1.0, 1.0], [0.0, 1.0]))  # no comparable pair
    # continuous data: agrees with brute force
    rng = np.random.default_rng(0)
    y = rng.normal(size=300)
    p = y + rng.normal(size=300)
    assert concordance_index(y, p) == pytest.approx(concordance_index_bruteforce(y, p))


def test_regression_metrics():
    y = np.array([5.0, 6.0, 7.0, 8.0])
    m = regression_metrics(y, y)
    assert m["mse"] == 0 and m["ci"] == 1 and m["pearson_r"] == pytest.approx(1) and m["rm2"] == pytest.approx(1)
    assert pearson_r(y, -y) == pytest.approx(-1)
    assert rm2(y, y + 10) < rm2(y, y)  # offset predictions are penalised by r0^2
