"""The bubble model role: the configured detector built from its parts.

``model.detector: two_stage`` -> :class:`~pipelines.bubble.two_stage.TwoStageDetector`
(backbone -> RPN -> RoIAlign -> box head), ``one_stage`` ->
:class:`~pipelines.bubble.one_stage.OneStageDetector` (RetinaNet heads); both share the
backbone, anchors and NMS of :mod:`pipelines.bubble.detector`.
"""

from __future__ import annotations


def build_detector(model_cfg, num_classes: int, seed: int = 0):
    """The configured detector (uncompiled) for ``model_cfg``, a
    :class:`~pipelines.bubble.pipeline.BubbleModelConfig` (the ``model`` section)."""
    from pipelines.bubble.one_stage import OneStageDetector
    from pipelines.bubble.two_stage import TwoStageDetector

    m = model_cfg
    common = dict(num_classes=num_classes, backbone_widths=m.backbone_widths, fpn_filters=m.fpn_filters,
                  min_level=m.min_level, max_level=m.max_level, anchor_size=m.anchor_size, num_scales=m.num_scales,
                  aspect_ratios=m.aspect_ratios, score_threshold=m.score_threshold, nms_iou=m.nms_iou,
                  max_detections=m.max_detections, normalization=m.normalization)
    w = m.loss_weights
    if m.detector == "two_stage":
        return TwoStageDetector(
            **common,
            rpn_pre_nms_top_n_train=m.rpn_pre_nms_top_n_train, rpn_post_nms_top_n_train=m.rpn_post_nms_top_n_train,
            rpn_pre_nms_top_n_test=m.rpn_pre_nms_top_n_test, rpn_post_nms_top_n_test=m.rpn_post_nms_top_n_test,
            rpn_nms_iou=m.rpn_nms_iou, rpn_batch_per_image=m.rpn_batch_per_image,
            rpn_positive_fraction=m.rpn_positive_fraction, roi_batch_per_image=m.roi_batch_per_image,
            roi_positive_fraction=m.roi_positive_fraction, roi_size=m.roi_size, head_units=m.head_units,
            rpn_objectness_weight=w.get("rpn_objectness", 1.0), rpn_box_weight=w.get("rpn_box", 1.0),
            head_class_weight=w.get("head_class", 1.0), head_box_weight=w.get("head_box", 1.0), seed=seed,
            name="two_stage_detector",
        )
    return OneStageDetector(**common, head_conv_layers=m.head_conv_layers, class_weight=w.get("class", 1.0),
                            box_weight=w.get("box", 1.0), name="one_stage_detector")
