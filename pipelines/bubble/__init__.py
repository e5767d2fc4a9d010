"""Bubble-chamber track detection: physics simulator, two-stage R-CNN and one-stage baseline.

Importing the package registers the pipeline (``sciarch run bubble ...``) and the Keras
classes needed to reload a saved detector with ``keras.models.load_model(..., safe_mode=True)``.
"""

from pipelines.bubble.backbone import TrackBackbone
from pipelines.bubble.one_stage import OneStageDetector
from pipelines.bubble.pipeline import BubblePipeline
from pipelines.bubble.roi_align import MultiLevelRoIAlign
from pipelines.bubble.rpn import RegionProposalNetwork
from pipelines.bubble.two_stage import TwoStageDetector

__all__ = ["BubblePipeline", "MultiLevelRoIAlign", "OneStageDetector", "RegionProposalNetwork", "TrackBackbone",
           "TwoStageDetector"]
