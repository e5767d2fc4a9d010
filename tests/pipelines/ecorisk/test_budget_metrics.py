"""Budget metrics and calibration on a hand-computed case (10 records, exact values)."""

import numpy as np
import pytest

from pipelines.ecorisk.metrics import budget_metrics, calibration, flag_top, prior_corrected, risk_metrics

#          0    1    2    3    4    5    6    7    8    9
RISK = np.array([.95, .90, .80, .70, .60, .50, .40, .30, .20, .10])
Y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0])
IMP = np.array([1., 1., 4., 2., 1., 1., 3., 1., 1., 1.])
ZONE = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])


def test_flag_top_counts_and_area():
    assert np.flatnonzero(flag_top(RISK, 0.05)).tolist() == [0]            # ceil(0.5) = 1 record
    assert np.flatnonzero(flag_top(RISK, 0.10)).tolist() == [0]
    assert np.flatnonzero(flag_top(RISK, 0.20)).tolist() == [0, 1]
    assert np.flatnonzero(flag_top(RISK, 0.30)).tolist() == [0, 1, 2]
    # record 0 covers half the area: a 20% budget flags it alone
    area = np.array([9., 1, 1, 1, 1, 1, 1, 1, 1, 1])
    assert np.flatnonzero(flag_top(RISK, 0.20, area)).tolist() == [0]
    # ties keep record order; order of the input does not change the flagged set
    perm = np.random.default_rng(0).permutation(10)
    assert set(perm[flag_top(RISK[perm], 0.3)]) == {0, 1, 2}
    with pytest.raises(ValueError, match="budget"):
        flag_top(RISK, 0.0)


def test_budget_capture_hand_computed():
    m = budget_metrics(Y, RISK, IMP, ZONE, ["a", "b"], budgets=(0.1, 0.3, 0.5))
    # positives 0, 2, 3, 6 (importance 1, 4, 2, 3: total 10)
    assert m["capture@10%"] == pytest.approx(1 / 4) and m["weighted_capture@10%"] == pytest.approx(1 / 10)
    assert m["capture@30%"] == pytest.approx(2 / 4) and m["weighted_capture@30%"] == pytest.approx(5 / 10)
    assert m["capture@50%"] == pytest.approx(3 / 4) and m["weighted_capture@50%"] == pytest.approx(7 / 10)
    assert m["flag_rate@50%/a"] == pytest.approx(1.0) and m["flag_rate@50%/b"] == pytest.approx(0.0)
    assert m["flag_rate@30%/a"] == pytest.approx(3 / 5)


def test_weighted_capture_rewards_ranking_important_losses_first():
    swapped = RISK.copy()
    swapped[[0, 2]] = swapped[[2, 0]]  # the importance-4 loss now ranks first
    a = budget_metrics(Y, RISK, IMP, budgets=(0.1,))
    b = budget_metrics(Y, swapped, IMP, budgets=(0.1,))
    assert a["capture@10%"] == b["capture@10%"]
    assert b["weighted_capture@10%"] == pytest.approx(4 / 10)
    assert a["weighted_capture@10%"] == pytest.approx(1 / 10)


def test_calibration_hand_computed():
    c = calibration(np.array([1, 0, 1, 0]), np.array([0.9, 0.15, 0.45, 0.05]), bins=2)
    assert c["brier"] == pytest.approx((0.01 + 0.0225 + 0.3025 + 0.0025) / 4)
    # bin [0, .5): risks .15 .45 .05 (mean 0.2167), observed 1/3; bin [.5, 1): .9, observed 1
    assert [r[4] for r in c["reliability"]] == [3, 1]
    assert c["ece"] == pytest.approx(3 / 4 * abs(0.65 / 3 - 1 / 3) + 1 / 4 * 0.1)


def test_risk_metrics_carry_budget_and_calibration_keys():
    m = risk_metrics(Y, RISK, IMP, ZONE, ["a", "b"])
    assert m["observed_rate"] == pytest.approx(0.4)
    assert m["brier"] == pytest.approx(np.mean((RISK - Y) ** 2))
    assert {"capture@5%", "capture@10%", "capture@20%", "weighted_capture@20%", "flag_rate@10%/b"} <= set(m)


def test_prior_correction_inverts_the_positive_weighting():
    q = np.array([0.1, 0.5, 0.8])
    imp = np.array([0.5, 1.0, 3.0])
    w = 1 + 2.0 * imp
    inflated = w * q / (w * q + 1 - q)
    np.testing.assert_allclose(prior_corrected(inflated, imp, 2.0), q, rtol=1e-5)
    np.testing.assert_allclose(prior_corrected(q, imp, 0.0), q, rtol=1e-5)
