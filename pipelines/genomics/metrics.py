"""Splice-site metrics: top-k accuracy and PR-AUC per class (scikit-learn), window accuracy.

Example:
    >>> import numpy as np
    >>> from pipelines.genomics.metrics import topk_accuracy
    >>> y = np.array([0, 2, 0, 2, 0]); s = np.array([0.1, 0.9, 0.8, 0.2, 0.0])
    >>> topk_accuracy(y == 2, s)   # k = 2 true sites; top-2 scores hold one of them
    0.5
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve

from pipelines.genomics.data import ACCEPTOR, CLASSES, DONOR, NEITHER


def topk_accuracy(is_true: np.ndarray, scores: np.ndarray) -> float:
    """Fraction of true sites among the k highest scores, k = number of true sites
    (SpliceAI's top-k accuracy). Ties are broken by position (stable sort)."""
    is_true = np.asarray(is_true, bool)
    k = int(is_true.sum())
    if k == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")[:k]
    return float(is_true[order].mean())


def pr_auc(is_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve (average precision, scikit-learn)."""
    is_true = np.asarray(is_true, bool)
    if not is_true.any() or is_true.all():
        return float("nan")
    s = np.nan_to_num(np.asarray(scores, np.float64), neginf=-1e30, posinf=1e30)
    return float(average_precision_score(is_true, s))


def pr_curve(is_true, scores):
    s = np.nan_to_num(np.asarray(scores, np.float64), neginf=-1e30, posinf=1e30)
    return precision_recall_curve(np.asarray(is_true, bool), s)


def site_metrics(labels: np.ndarray, probs: np.ndarray, prefix: str) -> dict[str, float]:
    """Top-k and PR-AUC for acceptor and donor over pooled positions (``probs`` [n, 3])."""
    out = {}
    for cls in (ACCEPTOR, DONOR):
        name = CLASSES[cls]
        out[f"{prefix}{name}_topk"] = topk_accuracy(labels == cls, probs[:, cls])
        out[f"{prefix}{name}_pr_auc"] = pr_auc(labels == cls, probs[:, cls])
        out[f"{prefix}{name}_sites"] = float((labels == cls).sum())
    out[f"{prefix}topk_mean"] = float(np.nanmean([out[f"{prefix}acceptor_topk"], out[f"{prefix}donor_topk"]]))
    out[f"{prefix}pr_auc_mean"] = float(np.nanmean([out[f"{prefix}acceptor_pr_auc"], out[f"{prefix}donor_pr_auc"]]))
    return out


def window_metrics(labels: np.ndarray, probs: np.ndarray, is_donor_cand: np.ndarray, is_acc_cand: np.ndarray,
                   sources: np.ndarray | None, prefix: str, pred: np.ndarray | None = None) -> dict[str, float]:
    """Window accuracy (3-class decision ``pred``, default argmax of ``probs``), per-kind
    accuracy on the true-vs-decoy task, PR-AUC per class (from ``probs``).

    ``donor_accuracy`` is measured on true donor windows plus negative windows with GT at
    the junction (the task of donor classifiers such as DeepSplice); likewise acceptors.
    """
    labels = np.asarray(labels)
    pred = probs.argmax(1) if pred is None else np.asarray(pred)
    out = {f"{prefix}accuracy": float((pred == labels).mean()), f"{prefix}windows": float(len(labels))}
    for cls, cand in ((DONOR, is_donor_cand), (ACCEPTOR, is_acc_cand)):
        name = CLASSES[cls]
        task = (labels == cls) | ((labels == NEITHER) & cand)
        out[f"{prefix}{name}_accuracy"] = float(((pred[task] == cls) == (labels[task] == cls)).mean()) if task.any() else float("nan")
        out[f"{prefix}{name}_recall"] = float((pred[labels == cls] == cls).mean()) if (labels == cls).any() else float("nan")
        out[f"{prefix}{name}_pr_auc"] = pr_auc(labels == cls, probs[:, cls])
    if sources is not None:
        for src in sorted(set(sources.tolist())):
            m = sources == src
            out[f"{prefix}{src}_accuracy"] = float((pred[m] == labels[m]).mean())
    return out
