"""Ecological-risk pipeline (deforestation risk with an ecological + fairness loss).

Importing this package registers the ``ecorisk`` pipeline.
"""

from pipelines.ecorisk.pipeline import EcoRiskConfig, EcoRiskPipeline

__all__ = ["EcoRiskConfig", "EcoRiskPipeline"]
