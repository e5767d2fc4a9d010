"""Bubble-chamber track detection pipeline.

Reads top to bottom like the run does:

1. **Data** -- no labelled real bubble-chamber images exist in reach, so frames are
   simulated with exact labels (:mod:`pipelines.bubble.simulation`, physics from
   ``data/bubble/PROVENANCE.md``) and cached as ``.npz`` (``data/bubble`` holds one
   real, unlabelled film scan used for a qualitative run in the report).
2. **Model** -- ``model.detector: two_stage`` (Faster R-CNN family: FPN backbone from
   ``sciarch.layers`` -> RPN -> RoIAlign -> box head -> per-class NMS) or ``one_stage``
   (RetinaNet from keras-hub's parts, same backbone and anchors). Both compute their own
   loss, so ``build_loss`` returns ``None`` and the runner only compiles and fits.
3. **Evaluation** -- pycocotools AP / AP50 / AR with ``maxDets`` up to 300+ and
   class-agnostic recall per track-density bin (the crowded-scene claim: a region-based
   two-stage detector keeps recall where a one-stage detector with NMS loses tracks).
4. **Report** -- detections overlaid on simulated frames, recall vs density, and the
   detector run on the real film scan.

Example:
    >>> from sciarch.pipeline import get_pipeline_class
    >>> cls = get_pipeline_class("bubble")
    >>> cfg = cls.config_cls.model_validate({"pipeline": "bubble", "data": {"n_train": 8}})
    >>> cfg.model.detector
    'two_stage'
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from sciarch.config import PipelineConfig, Section
from sciarch.pipeline import PROJECT_ROOT, Pipeline, register_pipeline

REAL_SCAN = PROJECT_ROOT / "data" / "bubble" / "bubble_chamber_photo_left.png"


class BubbleDataConfig(Section):
    """Simulated data: frame size, density range, split sizes and simulator overrides."""

    image_size: tuple[int, int] = (256, 256)
    tracks_per_image: tuple[int, int] = (5, 80)
    n_train: int = Field(512, ge=1)
    n_validation: int = Field(128, ge=1)
    n_test: int = Field(128, ge=1, description="density-stratified evaluation split 'test'")
    test_tracks_per_image: tuple[int, int] = (2, 90)
    max_boxes: int = Field(128, ge=1, description="padded ground-truth rows per image (error if exceeded)")
    density_bins: list[int] = Field(default_factory=lambda: [1, 10, 20, 40, 60, 1000])
    simulator: dict = Field(default_factory=dict, description="extra SimulatorConfig fields (field_t, pixel_mm, ...)")
    cache_dir: str | None = Field(None, description="cache of simulated splits (default: <run>/cache or none)")
    real_scan_scale: float = Field(0.5, gt=0, le=4, description="resize factor of the real scan for the report")

    @field_validator("tracks_per_image", "test_tracks_per_image")
    @classmethod
    def _range(cls, v):
        if not 1 <= v[0] <= v[1]:
            raise ValueError(f"need 1 <= min <= max, got {list(v)}")
        return v

    @field_validator("density_bins")
    @classmethod
    def _bins(cls, v):
        if len(v) < 2 or any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError(f"need at least two increasing edges, got {v}")
        return v

    @field_validator("simulator")
    @classmethod
    def _sim(cls, v):
        import dataclasses

        from pipelines.bubble.simulation import SimulatorConfig

        allowed = {f.name for f in dataclasses.fields(SimulatorConfig)} - {"image_size", "tracks_per_image"}
        unknown = sorted(set(v) - allowed)
        if unknown:
            raise ValueError(f"unknown simulator field(s) {unknown} (allowed: {', '.join(sorted(allowed))})")
        return v


class BubbleModelConfig(Section):
    """Detector architecture, anchors, proposal and NMS settings, loss weights."""

    detector: Literal["two_stage", "one_stage"] = "two_stage"
    backbone_widths: tuple[int, int, int, int] = (32, 48, 64, 96)
    fpn_filters: int = Field(64, ge=4)
    normalization: Literal["batch", "instance", "layer"] | None = Field(
        "layer", description="backbone normalisation; batch statistics differ between training and inference")
    min_level: int = Field(3, ge=2, le=6)
    max_level: int = Field(6, ge=2, le=6)
    anchor_size: float = Field(2.0, gt=0)
    num_scales: int = Field(2, ge=1)
    aspect_ratios: list[float] = Field(default_factory=lambda: [0.125, 0.333, 1.0, 3.0, 8.0])
    # two-stage: RPN and head
    rpn_pre_nms_top_n_train: int = Field(2000, ge=1)
    rpn_post_nms_top_n_train: int = Field(512, ge=1)
    rpn_pre_nms_top_n_test: int = Field(2000, ge=1)
    rpn_post_nms_top_n_test: int = Field(512, ge=1)
    rpn_nms_iou: float = Field(0.7, gt=0, le=1)
    rpn_batch_per_image: int = Field(256, ge=2)
    rpn_positive_fraction: float = Field(0.5, gt=0, le=1)
    roi_batch_per_image: int = Field(256, ge=2)
    roi_positive_fraction: float = Field(0.5, gt=0, le=1)
    roi_size: int = Field(7, ge=2)
    head_units: int = Field(256, ge=8)
    # one-stage head
    head_conv_layers: int = Field(2, ge=0)
    # both: inference
    score_threshold: float = Field(0.05, ge=0, lt=1)
    nms_iou: float = Field(0.5, gt=0, le=1)
    max_detections: int = Field(300, ge=1)
    loss_weights: dict[str, float] = Field(default_factory=dict, description=(
        "two_stage: rpn_objectness, rpn_box, head_class, head_box; one_stage: class, box"))

    @model_validator(mode="after")
    def _check(self):
        if self.min_level > self.max_level:
            raise ValueError(f"min_level={self.min_level} > max_level={self.max_level}")
        allowed = {"two_stage": {"rpn_objectness", "rpn_box", "head_class", "head_box"},
                   "one_stage": {"class", "box"}}[self.detector]
        unknown = sorted(set(self.loss_weights) - allowed)
        if unknown:
            raise ValueError(f"loss_weights: unknown key(s) {unknown} for detector={self.detector} "
                             f"(allowed: {sorted(allowed)})")
        if self.rpn_post_nms_top_n_train > self.rpn_pre_nms_top_n_train:
            raise ValueError("rpn_post_nms_top_n_train must be <= rpn_pre_nms_top_n_train")
        if self.rpn_post_nms_top_n_test > self.rpn_pre_nms_top_n_test:
            raise ValueError("rpn_post_nms_top_n_test must be <= rpn_pre_nms_top_n_test")
        return self


class BubbleConfig(PipelineConfig):
    data: BubbleDataConfig = Field(default_factory=BubbleDataConfig)
    model: BubbleModelConfig = Field(default_factory=BubbleModelConfig)


@register_pipeline
class BubblePipeline(Pipeline):
    """Track detection in (simulated) bubble-chamber photographs."""

    name = "bubble"
    description = "bubble-chamber track detection: physics simulator, two-stage R-CNN vs one-stage NMS baseline"
    config_cls = BubbleConfig
    default_loss = "none"
    headline_metric = "AP50"
    splits = ("train", "validation", "test")
    #: boxes of several detectors cannot be averaged: train.ensemble > 1 is refused
    supports_ensemble = False

    # ------------------------------------------------------------------ data
    def simulator_config(self, split: str):
        from pipelines.bubble.simulation import SimulatorConfig

        d = self.config.data
        rng = d.test_tracks_per_image if split == "test" else d.tracks_per_image
        return SimulatorConfig(image_size=d.image_size, tracks_per_image=rng, **d.simulator)

    def _cache_dir(self) -> Path | None:
        if self.config.data.cache_dir:
            return Path(self.config.data.cache_dir)
        return self.run_dir / "cache" if self.run_dir is not None else None

    def sample(self, split: str):
        """The simulated split (cached); seeds differ per split so splits never share frames."""
        from pipelines.bubble.data import cached_simulation

        if split not in self.splits:
            raise ValueError(f"bubble: unknown split '{split}' (known: {', '.join(self.splits)})")
        d = self.config.data
        n = {"train": d.n_train, "validation": d.n_validation, "test": d.n_test}[split]
        seed = self.config.seed * 1000 + {"train": 1, "validation": 2, "test": 3}[split]
        return cached_simulation(self.simulator_config(split), n, seed, self._cache_dir())

    def build_inputs(self, split, input_context=None):
        from pipelines.bubble.data import detection_arrays, make_dataset

        from sciarch.distribute import per_replica_batch_size

        t = self.config.train
        batch = per_replica_batch_size(t.batch_size, input_context)
        images, boxes, labels = detection_arrays(self.sample(split), self.config.data.max_boxes, f"bubble/{split}")
        training = split == "train"
        repeat = training and t.steps_per_epoch is not None
        return make_dataset(images, boxes, labels, batch, shuffle=training, seed=self.config.seed, repeat=repeat,
                            input_context=input_context, epoch=self.epoch if training else None)

    # ------------------------------------------------------------------ model
    def build_model(self):
        from pipelines.bubble.model import build_detector
        from pipelines.bubble.simulation import CLASS_NAMES

        model = build_detector(self.config.model, len(CLASS_NAMES), seed=self.config.seed)
        h, w = self.config.data.image_size
        model.build((None, h, w, 1))
        return model

    def build_loss(self):
        return None  # the detectors override compute_loss (RPN + head / focal + box losses)

    def build_metrics(self):
        return []

    # ------------------------------------------------------------------ evaluation
    def predict(self, model, images, batch_size: int = 8) -> dict:
        """Detections for ``images [N, H, W(, 1)]`` as numpy, boxes converted to xyxy."""
        from pipelines.bubble.inference import predict_frames

        return predict_frames(model, images, batch_size)

    def evaluate(self, model, split="validation", data_path=None):
        from pipelines.bubble.data import load_npz
        from pipelines.bubble.metrics import coco_evaluate

        sample = load_npz(data_path) if data_path is not None else self.sample(split)
        det = self.predict(model, sample.images, batch_size=max(1, min(8, self.config.train.batch_size)))
        max_dets = max(300, int(getattr(model, "max_detections", 300)))
        result = coco_evaluate(sample.boxes, sample.classes, det, sample.images.shape[1:], max_dets=max_dets,
                               density_bins=tuple(self.config.data.density_bins))
        self._last_eval = (sample, det, result)
        return result

    # ------------------------------------------------------------------ report
    def report(self, run, model, metrics):
        from pipelines.bubble import report as figures
        from pipelines.bubble.inference import detect_files

        dpi = self.config.report.dpi
        files = []
        cached = getattr(self, "_last_eval", None)
        if cached is None:
            self.evaluate(model, "validation")
            cached = self._last_eval
        sample, det, result = cached
        files.append(figures.plot_detections(sample, det, run.dir / "detections.png", dpi=dpi))
        files.append(figures.plot_recall_vs_density({self.config.model.detector: result},
                                                    self.config.data.density_bins, run.dir / "recall_vs_density.png",
                                                    dpi=dpi))
        if REAL_SCAN.is_file():
            png, js = detect_files(model, [REAL_SCAN], run.dir / "real_scan", scale=self.config.data.real_scan_scale,
                                   dpi=dpi, tile_size=tuple(self.config.data.image_size))
            files.extend(png)
        return files

    # ------------------------------------------------------------------ CLI
    cli_module = "pipelines.bubble.cli"
