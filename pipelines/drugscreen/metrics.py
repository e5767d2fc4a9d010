"""Affinity-regression metrics: concordance index, MSE, Pearson r and r_m^2.

Definitions follow the DeepDTA / GraphDTA papers so numbers are comparable with them.

* **CI** (Gönen & Heller 2005): over all pairs with ``y_i > y_j``, the fraction with
  ``p_i > p_j``, ties in the prediction counting 1/2; pairs tied in ``y`` are ignored.
  Computed in ``O(n log n)`` with a Fenwick tree over prediction ranks
  (:func:`concordance_index`); :func:`concordance_index_bruteforce` is the ``O(n^2)``
  reference used in the tests.
* **r_m^2** (Roy & Roy 2008) as implemented by DeepDTA:
  ``r2 * (1 - sqrt(|r2^2 - r0^2^2|))`` with ``r0^2`` the squared correlation of the
  regression through the origin.

Example:
    >>> from pipelines.drugscreen.metrics import concordance_index
    >>> concordance_index([1, 2, 3, 4], [0.1, 0.4, 0.3, 0.9])
    0.8333333333333334
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "concordance_index",
    "concordance_index_bruteforce",
    "pearson_r",
    "rm2",
    "regression_metrics",
    "per_target_ci",
]


def concordance_index(y_true, y_pred) -> float:
    """Concordance index in ``O(n log n)`` (see module docstring). NaN if no comparable pair."""
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y.size} vs {p.size}")
    n = y.size
    if n < 2:
        return float("nan")
    # dense ranks of the predictions (1-based) for the Fenwick tree
    p_rank = np.unique(p, return_inverse=True)[1].astype(np.int64) + 1
    m = int(p_rank.max())
    order = np.argsort(y, kind="stable")
    y_sorted = y[order]
    r_sorted = p_rank[order]
    # group boundaries of equal y (pairs inside a group are not comparable)
    starts = np.flatnonzero(np.r_[True, y_sorted[1:] != y_sorted[:-1]])
    ends = np.r_[starts[1:], n]
    tree = [0] * (m + 1)

    def prefix(i: int) -> int:  # number of inserted ranks <= i
        s = 0
        while i > 0:
            s += tree[i]
            i -= i & -i
        return s

    concordant = 0.0
    inserted = 0
    comparable = 0
    for s, e in zip(starts.tolist(), ends.tolist()):
        ranks = r_sorted[s:e].tolist()
        # every earlier element has strictly smaller y
        for r in ranks:
            less = prefix(r - 1)
            equal = prefix(r) - less
            concordant += less + 0.5 * equal
        comparable += inserted * (e - s)
        for r in ranks:
            i = r
            while i <= m:
                tree[i] += 1
                i += i & -i
        inserted += e - s
    if comparable == 0:
        return float("nan")
    return float(concordant / comparable)


def concordance_index_bruteforce(y_true, y_pred) -> float:
    """``O(n^2)`` reference implementation of :func:`concordance_index` (tests only)."""
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    num = 0.0
    den = 0
    for i in range(len(y)):
        for j in range(len(y)):
            if y[i] > y[j]:
                den += 1
                if p[i] > p[j]:
                    num += 1.0
                elif p[i] == p[j]:
                    num += 0.5
    return num / den if den else float("nan")


def pearson_r(y_true, y_pred) -> float:
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if y.size < 2 or y.std() == 0 or p.std() == 0:
        return float("nan")
    return float(np.corrcoef(y, p)[0, 1])


def rm2(y_true, y_pred) -> float:
    """r_m^2 of Roy & Roy, DeepDTA's formula (``get_rm2`` in its emetrics.py)."""
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    r = pearson_r(y, p)
    if not np.isfinite(r):
        return float("nan")
    r2 = r * r
    k = float(np.sum(y * p) / np.sum(p * p))
    r02 = 1.0 - float(np.sum((y - k * p) ** 2) / np.sum((y - y.mean()) ** 2))
    return float(r2 * (1.0 - np.sqrt(np.abs(r2 * r2 - r02 * r02))))


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    """``{"ci", "mse", "rmse", "pearson_r", "rm2", "n"}`` for one set of predictions."""
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    mse = float(np.mean((y - p) ** 2)) if y.size else float("nan")
    return {
        "ci": concordance_index(y, p),
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "pearson_r": pearson_r(y, p),
        "rm2": rm2(y, p),
        "n": int(y.size),
    }


def per_target_ci(y_true, y_pred, target, min_pairs: int = 5) -> list[float]:
    """CI within each target (how well its drugs are ranked), in sorted target order, for the
    targets with at least ``min_pairs`` pairs and more than one distinct label."""
    y = np.asarray(y_true)
    p = np.asarray(y_pred)
    target = np.asarray(target)
    cis = []
    for t in np.unique(target):
        m = target == t
        if m.sum() >= min_pairs and np.unique(y[m]).size > 1:
            cis.append(concordance_index(y[m], p[m]))
    return cis
