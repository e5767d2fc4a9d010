"""The drugscreen model section: plain pydantic, no TensorFlow, so a config loads and is
checked before TensorFlow is imported.

Example:
    >>> from pipelines.drugscreen.config import DrugScreenModelConfig
    >>> DrugScreenModelConfig(gnn="ecc").gnn_depth
    3
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sciarch.config import Section


class DrugScreenModelConfig(Section):
    """Model section of the drugscreen config."""

    gnn: Literal["gin", "ecc"] = Field("gin", description="GINConv or EdgeConditionedConv (bond-aware) layers")
    gnn_depth: int = Field(3, ge=1)
    gnn_units: int = Field(128, ge=1)
    readout: list[Literal["sum", "mean", "max", "attention"]] = Field(default_factory=lambda: ["mean", "max"])
    ligand_embedding: int = Field(128, ge=1)
    ligand_fingerprint: int = Field(
        0,
        ge=0,
        description="bits of a Morgan (ECFP4) fingerprint the ligand encoder reads beside its graph network "
        "(projected and joined to the graph readout); 0 = graph only. Screens, the alanine scan and the "
        "ΔΔG model compute it from the same molecule",
    )
    protein_encoder: Literal["cnn", "dilated"] = "cnn"
    protein_embedding_dim: int = Field(32, ge=1, description="token embedding width")
    protein_stem_stride: int = Field(1, ge=1, description="stride of the first convolution (downsampling)")
    protein_filters: list[int] = Field(default_factory=lambda: [32, 64, 96], description="cnn: filters per conv")
    protein_kernel: int = Field(8, ge=1)
    protein_layers: int = Field(4, ge=1, description="dilated: residual blocks in the stack")
    protein_embedding: int = Field(128, ge=1)
    protein_composition: list[Literal[1, 2, 3]] = Field(
        default_factory=list,
        description="k-mer lengths of the amino-acid composition the protein encoder adds beside its CNN features "
        "([1, 2]: residue and dipeptide frequencies, standardised on the training proteins); [] = none. "
        "Late fusion only (concat, concat_product)",
    )
    protein_token_norm: bool = Field(
        False, description="LayerNorm on the token embeddings (gives distinct proteins distinct embeddings from the start)"
    )
    fusion: Literal["concat", "concat_product", "cross_attention"] = Field(
        "concat",
        description="late fusion of the two embeddings (concat, concat_product), or cross_attention: the protein "
        "encoder keeps protein_slots latent-attention summaries of its residues and the ligand embedding "
        "cross-attends over them",
    )
    protein_slots: int = Field(8, ge=1, description="cross_attention: latent summaries of the protein residues")
    attention_heads: int = Field(4, ge=1, description="cross_attention: heads of the latent pooling and the fusion")
    head_units: list[int] = Field(default_factory=lambda: [512, 256])
    head_activation: str = Field("relu", description="activation of the head's hidden layers")
    head_norm: bool = Field(False, description="LayerNorm on the fused embedding (keeps the head's units alive)")
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    unique_proteins: bool = Field(True, description="encode each distinct protein of a batch once")
    unique_ligands: bool = Field(True, description="encode each distinct ligand of a batch once")

    @model_validator(mode="after")
    def _composition_needs_late_fusion(self):
        if self.protein_composition and self.fusion == "cross_attention":
            raise ValueError("protein_composition: the composition features join the pooled CNN features of late "
                             "fusion; set fusion to concat or concat_product, or protein_composition to []")
        return self
