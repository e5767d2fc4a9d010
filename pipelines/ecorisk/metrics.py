"""Risk-map metrics: ROC-AUC, importance-weighted false-negative rate, per-zone mean risk.

* ``auc`` -- ROC-AUC (scikit-learn).
* ``weighted_fnr`` -- share of the ecological importance of the deforested records that
  the model misses at ``threshold``: ``sum(imp * y * [p < t]) / sum(imp * y)``.
* ``fnr`` -- the plain false-negative rate at ``threshold``.
* per-zone mean predicted risk and ``zone_gap`` = largest minus smallest zone mean
  (a fairlearn ``MetricFrame`` grouped by zone, ``difference()``); ``zone_std`` is the
  standard deviation of the zone means (the square root of the loss's fairness term).

Example:
    >>> import numpy as np
    >>> from pipelines.ecorisk.metrics import risk_metrics
    >>> m = risk_metrics(np.array([1, 0, 1, 0]), np.array([.9, .2, .3, .1]),
    ...                  importance=np.array([1., 1., 3., 1.]), zone=np.array([0, 0, 1, 1]))
    >>> round(m["auc"], 2), round(m["weighted_fnr"], 2), round(m["zone_gap"], 2)
    (1.0, 0.75, 0.35)
"""

from __future__ import annotations

import numpy as np
from fairlearn.metrics import MetricFrame
from sklearn.metrics import roc_auc_score


def _mean_risk(y_true, y_pred):
    return float(np.mean(y_pred))


def zone_frame(target, risk, zone) -> MetricFrame:
    """fairlearn MetricFrame of mean predicted risk, deforestation rate and count per zone."""
    return MetricFrame(
        metrics={"mean_risk": _mean_risk, "observed_rate": lambda yt, yp: float(np.mean(yt)),
                 "count": lambda yt, yp: float(len(yt))},
        y_true=np.asarray(target), y_pred=np.asarray(risk), sensitive_features=np.asarray(zone))


def risk_metrics(target, risk, importance=None, zone=None, zone_names=None, threshold: float = 0.5,
                 min_zone_count: int = 1) -> dict:
    """Flat dict of floats (JSON-ready) for one set of predictions.

    Args:
        target: ``[N]`` 0/1 labels (1 = deforested).
        risk: ``[N]`` predicted probabilities.
        importance: ``[N]`` ecological importance (default 1).
        zone: ``[N]`` int zone ids; ids < 0 are left out of the zone metrics.
        zone_names: names of the zone ids for the per-zone keys.
        threshold: decision threshold for the false-negative rates.
        min_zone_count: zones with fewer records are left out of the gap.
    """
    y = np.asarray(target, np.float64).ravel()
    p = np.asarray(risk, np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"risk_metrics: target has {y.size} values, risk {p.size}")
    imp = np.ones_like(y) if importance is None else np.asarray(importance, np.float64).ravel()
    out: dict[str, float] = {"n": float(y.size), "positives": float(y.sum())}
    out["auc"] = float(roc_auc_score(y, p)) if 0 < y.sum() < y.size else float("nan")
    pos = y > 0.5
    miss = pos & (p < threshold)
    out["fnr"] = float(miss.sum() / max(pos.sum(), 1))
    out["weighted_fnr"] = float((imp * miss).sum() / max((imp * pos).sum(), 1e-12))
    out["mean_risk"] = float(p.mean())
    if zone is not None:
        z = np.asarray(zone).ravel()
        keep = z >= 0
        frame = zone_frame(y[keep], p[keep], z[keep])
        by = frame.by_group
        by = by[by["count"] >= min_zone_count]
        means = by["mean_risk"].to_numpy(np.float64)
        out["zone_gap"] = float(means.max() - means.min()) if len(means) > 1 else 0.0
        out["zone_std"] = float(means.std()) if len(means) > 1 else 0.0
        out["zones"] = float(len(means))
        if len(by) <= 12:  # per-zone keys only for a handful of zones
            for zid, row in by.iterrows():
                zname = zone_names[int(zid)] if zone_names is not None and int(zid) < len(zone_names) else str(zid)
                out[f"zone_mean_risk/{zname}"] = float(row["mean_risk"])
                out[f"zone_observed_rate/{zname}"] = float(row["observed_rate"])
    return out


def per_zone_table(target, risk, zone, zone_names=None):
    """``[(zone name, mean risk, observed rate, count)]`` for the chart."""
    z = np.asarray(zone).ravel()
    keep = z >= 0
    by = zone_frame(np.asarray(target).ravel()[keep], np.asarray(risk).ravel()[keep], z[keep]).by_group
    rows = []
    for zid, row in by.iterrows():
        zname = zone_names[int(zid)] if zone_names is not None and int(zid) < len(zone_names) else str(zid)
        rows.append((zname, float(row["mean_risk"]), float(row["observed_rate"]), int(row["count"])))
    return rows


def fit_logistic(x_train, y_train, seed: int = 0, max_rows: int = 200_000):
    """scikit-learn logistic regression on (already normalised) features; the anchor baseline."""
    from sklearn.linear_model import LogisticRegression

    x_train = np.asarray(x_train)
    y_train = np.asarray(y_train).ravel()
    if len(y_train) > max_rows:
        idx = np.random.default_rng(seed).choice(len(y_train), max_rows, replace=False)
        x_train, y_train = x_train[idx], y_train[idx]
    return LogisticRegression(max_iter=2000).fit(x_train, y_train)
