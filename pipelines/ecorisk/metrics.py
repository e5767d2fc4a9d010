"""Risk-map metrics: ROC-AUC, importance-weighted false-negative rate, per-zone mean risk.

* ``auc`` -- ROC-AUC (scikit-learn).
* ``weighted_fnr`` -- share of the ecological importance of the deforested records that
  the model misses at ``threshold``: ``sum(imp * y * [p < t]) / sum(imp * y)``.
* ``fnr`` -- the plain false-negative rate at ``threshold``.
* per-zone mean predicted risk and ``zone_gap`` = largest minus smallest zone mean
  (a fairlearn ``MetricFrame`` grouped by zone, ``difference()``); ``zone_std`` is the
  standard deviation of the zone means (the square root of the loss's fairness term).
* fixed alert budgets (:func:`budget_metrics`): rangers patrol a fixed share of the forest,
  so the records are ranked by risk and the top ``b`` of the forest area (5 / 10 / 20%) is
  flagged; ``capture@b`` = share of the deforested area inside the flagged area,
  ``weighted_capture@b`` = share of the deforested importance (biomass, protected weight)
  inside it, ``flag_rate@b/<zone>`` = share of the zone's area flagged (next to
  ``zone_observed_rate/<zone>``). Threshold-free: a model cannot win them by flagging more.
* calibration (:func:`calibration`): ``brier`` (mean squared error of the probability),
  ``ece`` (count-weighted gap between mean risk and observed rate over 10 equal-width bins)
  and the reliability table the report plots.

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


#: alert budgets: shares of the forest area flagged
BUDGETS = (0.05, 0.10, 0.20)


def budget_key(budget: float) -> str:
    """``0.1`` -> ``"10%"`` (the suffix of the budget metric keys)."""
    return f"{100 * budget:g}%"


def flag_top(risk, budget: float, area=None) -> np.ndarray:
    """Boolean mask of the records flagged at ``budget``: ranked by risk (highest first, ties
    in record order), a record is flagged while the area flagged before it is below
    ``budget`` x the total area (uniform areas: the ``ceil(budget * N)`` riskiest records)."""
    p = np.asarray(risk, np.float64).ravel()
    a = np.ones_like(p) if area is None else np.asarray(area, np.float64).ravel()
    if not 0 < budget <= 1:
        raise ValueError(f"budget must be in (0, 1], got {budget}")
    order = np.argsort(-p, kind="stable")
    before = np.cumsum(a[order]) - a[order]
    flagged = np.zeros(p.size, bool)
    flagged[order[before < budget * a.sum() - 1e-9 * a.sum()]] = True
    return flagged


def budget_metrics(target, risk, importance=None, zone=None, zone_names=None, area=None,
                   budgets=BUDGETS) -> dict:
    """Capture at fixed alert budgets (see the module docstring); ``area`` per record (default 1)."""
    y = np.asarray(target, np.float64).ravel()
    a = np.ones_like(y) if area is None else np.asarray(area, np.float64).ravel()
    imp = np.ones_like(y) if importance is None else np.asarray(importance, np.float64).ravel()
    out: dict[str, float] = {}
    for b in budgets:
        f = flag_top(risk, b, a)
        k = budget_key(b)
        out[f"capture@{k}"] = float((a * y * f).sum() / max((a * y).sum(), 1e-12))
        out[f"weighted_capture@{k}"] = float((a * imp * y * f).sum() / max((a * imp * y).sum(), 1e-12))
        if zone is not None:
            z = np.asarray(zone).ravel()
            ids = [i for i in np.unique(z) if i >= 0]
            if len(ids) <= 12:
                for zid in ids:
                    m = z == zid
                    zname = zone_names[int(zid)] if zone_names is not None and int(zid) < len(zone_names) else str(zid)
                    out[f"flag_rate@{k}/{zname}"] = float((a * f)[m].sum() / max(a[m].sum(), 1e-12))
    return out


def calibration(target, risk, bins: int = 10) -> dict:
    """``{"brier", "ece", "reliability": [(bin low, bin high, mean risk, observed rate, count)]}``."""
    y = np.asarray(target, np.float64).ravel()
    p = np.asarray(risk, np.float64).ravel()
    idx = np.minimum((p * bins).astype(int), bins - 1)
    table, ece = [], 0.0
    for i in range(bins):
        m = idx == i
        if m.any():
            table.append((i / bins, (i + 1) / bins, float(p[m].mean()), float(y[m].mean()), int(m.sum())))
            ece += m.sum() / max(y.size, 1) * abs(p[m].mean() - y[m].mean())
    return {"brier": float(np.mean((p - y) ** 2)), "ece": float(ece), "reliability": table}


def prior_corrected(risk, importance, lambda_eco: float) -> np.ndarray:
    """Undo the positive-class weighting of the ecological term.

    ``BCE + λ_eco · importance · y · −log p`` weights a positive by ``w = 1 + λ_eco · importance``;
    its minimiser is ``p' = w q / (w q + 1 − q)`` for the true rate ``q``, so
    ``logit q = logit p' − log w`` (the fairness term is not undone).
    """
    p = np.clip(np.asarray(risk, np.float64), 1e-7, 1 - 1e-7)
    w = 1.0 + float(lambda_eco) * np.maximum(np.asarray(importance, np.float64), 0.0)
    logit = np.log(p / (1 - p)) - np.log(w)
    return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)


def risk_metrics(target, risk, importance=None, zone=None, zone_names=None, threshold: float = 0.5,
                 min_zone_count: int = 1, area=None, budgets=BUDGETS) -> dict:
    """Flat dict of floats (JSON-ready) for one set of predictions.

    Args:
        target: ``[N]`` 0/1 labels (1 = deforested).
        risk: ``[N]`` predicted probabilities.
        importance: ``[N]`` ecological importance (default 1).
        zone: ``[N]`` int zone ids; ids < 0 are left out of the zone metrics.
        zone_names: names of the zone ids for the per-zone keys.
        threshold: decision threshold for the false-negative rates.
        min_zone_count: zones with fewer records are left out of the gap.
        area: ``[N]`` forest area per record for the budget metrics (default 1).
        budgets: alert budgets (shares of the forest area) of the capture metrics.
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
    out["observed_rate"] = float(y.mean()) if y.size else float("nan")
    cal = calibration(y, p)
    out["brier"], out["ece"] = cal["brier"], cal["ece"]
    out.update(budget_metrics(y, p, imp, zone, zone_names, area, budgets))
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
