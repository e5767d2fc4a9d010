"""Genomics pipeline: splice-site prediction (window classification and per-nucleotide labelling).

Importing the package registers the ``genomics`` pipeline.
"""

from pipelines.genomics.pipeline import GenomicsConfig, GenomicsPipeline

__all__ = ["GenomicsConfig", "GenomicsPipeline"]
