"""Ecological-risk pipeline (deforestation risk with an ecological + fairness loss).

Importing this package registers the ``ecorisk`` pipeline and its loss,
``ecological_fairness`` (:class:`~pipelines.ecorisk.losses.EcologicalFairnessLoss`).
"""

from pipelines.ecorisk.losses import EcologicalFairnessLoss
from pipelines.ecorisk.pipeline import EcoRiskConfig, EcoRiskPipeline

__all__ = ["EcoRiskConfig", "EcoRiskPipeline", "EcologicalFairnessLoss"]
