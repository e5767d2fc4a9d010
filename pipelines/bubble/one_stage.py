"""One-stage NMS baseline: RetinaNet assembled from keras-hub's RetinaNet parts.

Same backbone + FPN as :class:`~pipelines.bubble.two_stage.TwoStageDetector`, keras-hub
``AnchorGenerator`` with the same anchors, two keras-hub RetinaNet ``PredictionHead`` towers
(classification with the focal-loss prior, box regression) shared over the levels,
sigmoid focal loss + smooth-L1, and the same per-class NMS at inference.
``keras_hub.models.RetinaNetObjectDetector`` itself hard-codes 256-filter heads (far beyond
the two-stage model's budget on CPU); this class keeps its architecture and loss with a
head width that matches the two-stage detector.
"""

from __future__ import annotations

import keras
from keras import ops
from keras_hub.src.models.retinanet.prediction_head import PredictionHead

from pipelines.bubble import box_ops
from pipelines.bubble.detector import DetectorMixin, huber, pop_common, with_channel


@keras.saving.register_keras_serializable(package="sciarch.bubble")
class OneStageDetector(DetectorMixin, keras.Model):
    """RetinaNet-style dense detector (one-stage, per-class NMS) for track images.

    Args:
        num_classes: foreground classes.
        backbone_widths, fpn_filters, min_level, max_level, anchor_size, num_scales,
            aspect_ratios, normalization: as in ``TwoStageDetector`` (same backbone and anchors;
            keyword arguments, defaults in ``pipelines.bubble.detector.COMMON_DEFAULTS``).
        head_conv_layers: 3x3 convolutions in each prediction tower.
        positive_iou / negative_iou: anchor matching bands (RetinaNet: 0.5 / 0.4).
        allow_low_quality_matches: each ground truth also claims its best anchor.
        focal_alpha, focal_gamma: focal-loss parameters.
        score_threshold, nms_iou, max_detections: per-class NMS.
        class_weight, box_weight: loss weights.
        **kwargs: standard Model arguments.

    Example:
        >>> import numpy as np
        >>> m = OneStageDetector(num_classes=2, backbone_widths=(8, 16, 16, 16), fpn_filters=16,
        ...                      head_conv_layers=1, max_detections=10)
        >>> tuple(m.detect(np.zeros((1, 64, 64, 1), "float32"))["boxes"].shape)
        (1, 10, 4)
    """

    def __init__(
        self,
        num_classes,
        *,
        head_conv_layers=2,
        positive_iou=0.5,
        negative_iou=0.4,
        allow_low_quality_matches=True,
        focal_alpha=0.25,
        focal_gamma=2.0,
        class_weight=1.0,
        box_weight=1.0,
        **kwargs,
    ):
        common = pop_common(kwargs)  # backbone / anchor / NMS arguments, see detector.COMMON_DEFAULTS
        super().__init__(**kwargs)
        self.head_conv_layers = int(head_conv_layers)
        self.positive_iou = float(positive_iou)
        self.negative_iou = float(negative_iou)
        self.allow_low_quality_matches = bool(allow_low_quality_matches)
        self.focal_alpha = float(focal_alpha)
        self.focal_gamma = float(focal_gamma)
        self.class_weight = float(class_weight)
        self.box_weight = float(box_weight)
        self._init_common(num_classes, **common)
        a = self.num_scales * len(self.aspect_ratios)
        self.num_anchors = a
        self.class_head = PredictionHead(output_filters=a * self.num_classes, num_filters=self.fpn_filters,
                                         num_conv_layers=self.head_conv_layers, use_prior_probability=True,
                                         prior_probability=0.01, name="classification_head")
        self.box_head = PredictionHead(output_filters=a * 4, num_filters=self.fpn_filters,
                                       num_conv_layers=self.head_conv_layers, name="box_head")
        self.loss_trackers = {name: keras.metrics.Mean(name=name) for name in ("class_loss", "box_loss")}

    def call(self, images, training=False):
        images = with_channel(images)
        features = self.backbone(images, training=training)
        cls, box = [], []
        for lvl in range(self.min_level, self.max_level + 1):
            f = features[f"P{lvl}"]
            b = ops.shape(f)[0]
            cls.append(ops.reshape(self.class_head(f), (b, -1, self.num_classes)))
            box.append(ops.reshape(self.box_head(f), (b, -1, 4)))
        return {"cls_logits": ops.concatenate(cls, axis=1), "bbox_regression": ops.concatenate(box, axis=1)}

    def _detect(self, images):
        out = self(images, training=False)
        height, width = images.shape[1], images.shape[2]
        anchors = self.anchors_for(images)
        boxes = box_ops.clip_boxes(box_ops.decode(anchors, out["bbox_regression"], box_ops.RPN_VARIANCE),
                                   height, width)
        return self._final_nms(boxes, ops.sigmoid(out["cls_logits"]), height, width)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        gt_boxes, gt_labels, gt_valid, anchors = self._loss_inputs(x, y)
        matched, labels = box_ops.match(box_ops.iou(anchors, gt_boxes), gt_valid, self.negative_iou,
                                        self.positive_iou, allow_low_quality=self.allow_low_quality_matches)
        positive = ops.cast(ops.equal(labels, 1), "float32")
        not_ignored = ops.cast(labels >= 0, "float32")
        n_pos = ops.maximum(ops.sum(positive), 1.0)
        cls_id = ops.take_along_axis(gt_labels, matched, axis=1)
        target = ops.one_hot(ops.where(ops.equal(labels, 1), cls_id, -1), self.num_classes)  # -1 -> zeros
        logits = y_pred["cls_logits"]
        p = ops.sigmoid(logits)
        ce = ops.maximum(logits, 0) - logits * target + ops.log1p(ops.exp(-ops.abs(logits)))
        p_t = target * p + (1 - target) * (1 - p)
        alpha_t = target * self.focal_alpha + (1 - target) * (1 - self.focal_alpha)
        focal = alpha_t * ops.power(1.0 - p_t, self.focal_gamma) * ce
        class_loss = ops.sum(ops.sum(focal, axis=-1) * not_ignored) / n_pos
        matched_boxes = box_ops.gather_rows(gt_boxes, matched)
        targets = box_ops.encode(anchors, matched_boxes, box_ops.RPN_VARIANCE)
        box_loss = ops.sum(huber(y_pred["bbox_regression"] - targets, 1.0 / 9.0) * positive) / n_pos
        self._track("class_loss", class_loss)
        self._track("box_loss", box_loss)
        return self._total_loss(self.class_weight * class_loss + self.box_weight * box_loss)

    def get_config(self):
        return self._common_config(super().get_config(), (
            "head_conv_layers", "positive_iou", "negative_iou", "allow_low_quality_matches", "focal_alpha",
            "focal_gamma", "class_weight", "box_weight"))
