"""The comparison step: the trained model next to its baselines on one split (default: test).

Baselines (``model.baselines``): ``bce`` -- a plain-BCE twin, the same architecture, data,
optimiser and epochs trained with ``binary_crossentropy`` (:func:`pipelines.ecorisk.train.fit_with_loss`);
``logistic`` -- a scikit-learn logistic regression on the same normalised features. A model
trained with the ecological term is also scored with its prior correction
(:func:`pipelines.ecorisk.metrics.prior_corrected`: the positive weighting undone, for
calibrated probabilities). Every
model is scored with :func:`pipelines.ecorisk.metrics.risk_metrics`. The report only reads
the result (``comparison.json``, ``comparison.png``, ``zone_risk.png``).

Example:
    >>> from pipelines.ecorisk.comparison import compare_models  # doctest: +SKIP
    >>> result = compare_models(pipeline, model)                 # doctest: +SKIP
    >>> sorted(result.metrics)                                   # doctest: +SKIP
    ['logistic regression', 'model (ecological_fairness)', 'plain BCE']
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipelines.ecorisk.metrics import prior_corrected, risk_metrics

CORRECTED = "model, prior-corrected"


@dataclass
class Comparison:
    """Predicted risk and metrics of each compared model on ``split``.

    Attributes:
        split: the split scored.
        target, importance, zone: the split's labels, ecological importance and zone ids.
        zone_names: names of the zone ids.
        predictions: model name -> predicted risk (same order as ``target``), the trained model first.
        metrics: model name -> :func:`risk_metrics` dict.
    """

    split: str
    target: np.ndarray
    importance: np.ndarray
    zone: np.ndarray
    zone_names: list
    predictions: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"split": self.split, "models": self.metrics}

    def save(self, path: Path) -> Path:
        """Write ``{"split": ..., "models": {name: metrics}}`` (``comparison.json``)."""
        Path(path).write_text(json.dumps(self.to_json(), indent=2))
        return Path(path)


def model_label(pipe) -> str:
    """Name of the trained model in the comparison: ``model (<loss name>)``."""
    cfg = pipe.config
    return "model (" + (cfg.loss.name if cfg.loss.name != "default" else pipe.default_loss) + ")"


def compare_models(pipe, model, split: str = "test") -> Comparison:
    """Score ``model`` and the configured baselines (training the BCE twin) on ``split``."""
    cfg = pipe.config
    zone_names = pipe.raster().zone_names if pipe.is_raster else pipe.table()[0].zone_names
    risk, t, imp, z = pipe.predict_split(model, split)
    preds = {model_label(pipe): risk}
    lam_eco = eco_weight(pipe)
    if lam_eco > 0:
        preds[CORRECTED] = prior_corrected(risk, imp, lam_eco)
    if "bce" in cfg.model.baselines:
        from pipelines.ecorisk.train import fit_with_loss

        twin = fit_with_loss(pipe, "binary_crossentropy")
        preds["plain BCE"] = pipe.predict_split(twin, split)[0]
    if "logistic" in cfg.model.baselines:
        preds["logistic regression"] = pipe.baseline_logistic(split)
    metrics = {name: risk_metrics(t, p, imp, z, zone_names, cfg.data.threshold) for name, p in preds.items()}
    return Comparison(split, t, imp, z, zone_names, preds, metrics)


def eco_weight(pipe) -> float:
    """``λ_eco`` of the configured loss (0 when it is not ``ecological_fairness``)."""
    cfg = pipe.config
    name = cfg.loss.name if cfg.loss.name != "default" else pipe.default_loss
    if name != "ecological_fairness":
        return 0.0
    return float(cfg.loss.params.get("lambda_eco", 1.0))
