"""Shared Keras layers of sciarch, one concept per module.

All layers are registered for serialisation under the package name ``"sciarch"`` and can be
saved with ``model.save("x.keras")`` and reloaded with ``keras.models.load_model`` (safe mode).
"""

from sciarch.layers.attention import (
    LatentAttentionPooling,
    MultiHeadCrossAttention,
    MultiHeadSelfAttention,
    ScaledDotProductAttention,
    WindowedAttention,
)
from sciarch.layers.composition import KmerComposition
from sciarch.layers.dilated import DilatedResidualStack
from sciarch.layers.graph import EdgeConditionedConv, GINConv, GraphReadout
from sciarch.layers.inception import InceptionBlock
from sciarch.layers.normalization import InstanceNormalization
from sciarch.layers.pooling import AttentionPooling
from sciarch.layers.positional import LearnedPositionalEncoding, SinusoidalPositionalEncoding
from sciarch.layers.residual import ResidualBlock
from sciarch.layers.separable import DepthwiseSeparableBlock
from sciarch.layers.siamese import SiameseEncoder
from sciarch.layers.ssm import DiagonalStateSpace
import sciarch.ensemble  # noqa: F401,E402  (registers EnsembleStatistic: `import sciarch.layers` reloads ensemble models too)

__all__ = [
    "AttentionPooling",
    "DepthwiseSeparableBlock",
    "DiagonalStateSpace",
    "DilatedResidualStack",
    "EdgeConditionedConv",
    "GINConv",
    "GraphReadout",
    "InceptionBlock",
    "InstanceNormalization",
    "KmerComposition",
    "LatentAttentionPooling",
    "LearnedPositionalEncoding",
    "MultiHeadCrossAttention",
    "MultiHeadSelfAttention",
    "ResidualBlock",
    "ScaledDotProductAttention",
    "SiameseEncoder",
    "SinusoidalPositionalEncoding",
    "WindowedAttention",
]
