"""Drug-target affinity pipeline (``sciarch run drugscreen``): ligand GNN || protein 1D-CNN,
late fusion; Siamese ΔΔG for kinase mutants; in-silico alanine scanning."""

from pipelines.drugscreen.pipeline import DrugScreenConfig, DrugScreenPipeline

__all__ = ["DrugScreenConfig", "DrugScreenPipeline"]
