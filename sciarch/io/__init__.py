"""Readers shared by pipelines: FASTA / SMILES / raster (thin wrappers on Biopython, RDKit, rasterio)."""
