"""Two-stage (Faster R-CNN family) track detector.

backbone + FPN -> RPN (keras-hub anchors, objectness, box deltas, top-N + NMS
proposals) -> multi-level RoIAlign (``tf.image.crop_and_resize``) -> box head (class
+ box refinement) -> per-class NMS. The model computes its own loss
(``compute_loss`` override, like keras-hub's detection tasks): compile it with an
optimizer only, then ``fit`` on ``(images, {"boxes": [B, M, 4] yxyx, "labels": [B, M]})``
with padded rows set to -1.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from pipelines.bubble import box_ops
from pipelines.bubble.detector import DetectorMixin, huber, pop_common, with_channel
from pipelines.bubble.roi_align import MultiLevelRoIAlign
from pipelines.bubble.rpn import RegionProposalNetwork


@keras.saving.register_keras_serializable(package="sciarch.bubble")
class TwoStageDetector(DetectorMixin, keras.Model):
    """Faster R-CNN-style detector of bubble-chamber tracks.

    Args:
        num_classes: foreground classes (background is added internally).
        backbone_widths: channels of the backbone stages (strides 4..32).
        fpn_filters: channels of the pyramid levels, the RPN and the RoI features.
        (backbone_widths ... aspect_ratios, score_threshold, nms_iou, max_detections and
        normalization are keyword arguments shared with ``OneStageDetector``, defaults in
        ``pipelines.bubble.detector.COMMON_DEFAULTS``.)
        min_level: lowest pyramid level with anchors / RoI features.
        max_level: highest pyramid level with anchors.
        anchor_size: base anchor side as a multiple of the level stride.
        num_scales: anchor scales per octave.
        aspect_ratios: anchor height/width ratios (thin tracks need extreme ratios).
        rpn_pre_nms_top_n_train: proposals kept by objectness before NMS (training).
        rpn_post_nms_top_n_train: proposals kept after NMS (training).
        rpn_pre_nms_top_n_test: same at inference.
        rpn_post_nms_top_n_test: same at inference.
        rpn_nms_iou: IoU of the proposal NMS.
        rpn_positive_iou / rpn_negative_iou: anchor matching bands.
        rpn_batch_per_image: anchors sampled per image for the RPN loss.
        rpn_positive_fraction: largest share of positives among them.
        roi_batch_per_image: proposals sampled per image for the head loss.
        roi_positive_fraction: largest share of foreground RoIs.
        roi_positive_iou: IoU from which a RoI is foreground.
        roi_size: RoIAlign output side.
        head_units: width of the two fully connected layers of the box head.
        score_threshold: lowest score of a reported detection.
        nms_iou: IoU of the final per-class NMS.
        max_detections: detections per image (>= 300 for crowded frames).
        rpn_objectness_weight, rpn_box_weight, head_class_weight, head_box_weight: loss weights.
        normalization: normalisation in the backbone blocks.
        seed: seed of the anchor / RoI sampling.
        **kwargs: standard Model arguments.

    Example:
        >>> import numpy as np
        >>> m = TwoStageDetector(num_classes=2, backbone_widths=(8, 16, 16, 16), fpn_filters=16,
        ...                      head_units=32, rpn_post_nms_top_n_test=20, max_detections=10)
        >>> det = m.detect(np.zeros((1, 64, 64, 1), "float32"))
        >>> tuple(det["boxes"].shape)
        (1, 10, 4)
    """

    def __init__(
        self,
        num_classes,
        *,
        rpn_pre_nms_top_n_train=2000,
        rpn_post_nms_top_n_train=512,
        rpn_pre_nms_top_n_test=2000,
        rpn_post_nms_top_n_test=512,
        rpn_nms_iou=0.7,
        rpn_positive_iou=0.7,
        rpn_negative_iou=0.3,
        rpn_batch_per_image=256,
        rpn_positive_fraction=0.5,
        roi_batch_per_image=256,
        roi_positive_fraction=0.5,
        roi_positive_iou=0.5,
        roi_size=7,
        head_units=256,
        rpn_objectness_weight=1.0,
        rpn_box_weight=1.0,
        head_class_weight=1.0,
        head_box_weight=1.0,
        seed=0,
        **kwargs,
    ):
        common = pop_common(kwargs)  # backbone / anchor / NMS arguments, see detector.COMMON_DEFAULTS
        super().__init__(**kwargs)
        self.rpn_pre_nms_top_n_train = int(rpn_pre_nms_top_n_train)
        self.rpn_post_nms_top_n_train = int(rpn_post_nms_top_n_train)
        self.rpn_pre_nms_top_n_test = int(rpn_pre_nms_top_n_test)
        self.rpn_post_nms_top_n_test = int(rpn_post_nms_top_n_test)
        self.rpn_nms_iou = float(rpn_nms_iou)
        self.rpn_positive_iou = float(rpn_positive_iou)
        self.rpn_negative_iou = float(rpn_negative_iou)
        self.rpn_batch_per_image = int(rpn_batch_per_image)
        self.rpn_positive_fraction = float(rpn_positive_fraction)
        self.roi_batch_per_image = int(roi_batch_per_image)
        self.roi_positive_fraction = float(roi_positive_fraction)
        self.roi_positive_iou = float(roi_positive_iou)
        self.roi_size = int(roi_size)
        self.head_units = int(head_units)
        self.rpn_objectness_weight = float(rpn_objectness_weight)
        self.rpn_box_weight = float(rpn_box_weight)
        self.head_class_weight = float(head_class_weight)
        self.head_box_weight = float(head_box_weight)
        self.seed = int(seed)
        if self.rpn_post_nms_top_n_train > self.rpn_pre_nms_top_n_train:
            raise ValueError("TwoStageDetector: rpn_post_nms_top_n_train must be <= rpn_pre_nms_top_n_train")
        if self.rpn_post_nms_top_n_test > self.rpn_pre_nms_top_n_test:
            raise ValueError("TwoStageDetector: rpn_post_nms_top_n_test must be <= rpn_pre_nms_top_n_test")
        self._init_common(num_classes, **common)
        self.rpn = RegionProposalNetwork(self.num_scales * len(self.aspect_ratios), self.fpn_filters, name="rpn")
        roi_levels = min(self.max_level, 5)
        self.roi_align = MultiLevelRoIAlign(self.roi_size, canonical_size=64.0,
                                            canonical_level=min(4, roi_levels), name="roi_align")
        self.head_flatten = layers.Flatten(name="head_flatten")
        self.head_fc1 = layers.Dense(self.head_units, activation="relu", name="head_fc1")
        self.head_fc2 = layers.Dense(self.head_units, activation="relu", name="head_fc2")
        self.head_cls = layers.Dense(self.num_classes + 1, name="head_cls")
        self.head_box = layers.Dense(4, kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
                                     name="head_box")
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.loss_trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("rpn_objectness_loss", "rpn_box_loss", "head_class_loss", "head_box_loss")
        }

    # ------------------------------------------------------------------ forward
    def call(self, images, training=False):
        """Backbone, RPN and proposals (the box head runs in ``detect`` / ``compute_loss``)."""
        images = with_channel(images)
        height, width = images.shape[1], images.shape[2]
        features = self.backbone(images, training=training)
        logits, deltas = self.rpn(features)
        anchors = self.anchors_for(images)
        pre = self.rpn_pre_nms_top_n_train if training else self.rpn_pre_nms_top_n_test
        post = self.rpn_post_nms_top_n_train if training else self.rpn_post_nms_top_n_test
        proposals, proposal_scores, proposal_valid = self._proposals(anchors, logits, deltas, height, width, pre, post)
        out = {
            "features": features,
            "rpn_logits": logits,
            "rpn_deltas": deltas,
            "proposals": proposals,
            "proposal_scores": proposal_scores,
            "proposal_valid": proposal_valid,
        }
        if not training or not self.head_fc1.built:
            # at inference the box head scores every proposal (training samples RoIs in compute_loss)
            out["roi_class_logits"], out["roi_box_deltas"] = self._head(features, proposals, training=training)
        return out

    def _proposals(self, anchors, logits, deltas, height, width, pre, post):
        pre = min(pre, int(anchors.shape[0]))
        post = min(post, pre)
        scores = ops.sigmoid(ops.stop_gradient(logits))
        top_scores, top_idx = ops.top_k(scores, k=pre)
        top_deltas = box_ops.gather_rows(ops.stop_gradient(deltas), top_idx)
        top_anchors = ops.take(anchors, top_idx, axis=0)
        boxes = box_ops.clip_boxes(box_ops.decode(top_anchors, top_deltas, box_ops.RPN_VARIANCE), height, width)
        big_enough = ops.logical_and(boxes[..., 2] - boxes[..., 0] > 1.0, boxes[..., 3] - boxes[..., 1] > 1.0)
        top_scores = ops.where(big_enough, top_scores, 0.0)
        keep, valid = box_ops.nms(boxes, top_scores, post, self.rpn_nms_iou, score_threshold=0.0)
        props = box_ops.gather_rows(boxes, keep)
        pscores = ops.take_along_axis(top_scores, keep, axis=1)
        props = ops.where(ops.expand_dims(valid, -1), props, 0.0)
        return ops.stop_gradient(props), pscores, valid

    def _head(self, features, rois, training=False):
        roi_feats = {k: features[k] for k in features if int(k[1:]) <= min(self.max_level, 5)}
        pooled = self.roi_align(roi_feats, rois)
        b = ops.shape(pooled)[0]
        r = ops.shape(pooled)[1]
        flat = ops.reshape(pooled, (b * r, -1))
        h = self.head_fc2(self.head_fc1(flat))
        cls = ops.reshape(self.head_cls(h), (b, r, self.num_classes + 1))
        box = ops.reshape(self.head_box(h), (b, r, 4))
        return cls, box

    def _detect(self, images):
        out = self(images, training=False)
        height, width = images.shape[1], images.shape[2]
        probs = ops.softmax(out["roi_class_logits"], axis=-1)[..., 1:]
        probs = probs * ops.expand_dims(ops.cast(out["proposal_valid"], probs.dtype), -1)
        boxes = box_ops.clip_boxes(box_ops.decode(out["proposals"], out["roi_box_deltas"], box_ops.HEAD_VARIANCE),
                                   height, width)
        return self._final_nms(boxes, probs, height, width)

    # ------------------------------------------------------------------ training
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        gt_boxes, gt_labels, gt_valid, anchors = self._loss_inputs(x, y)

        # ---- RPN: match anchors, sample, objectness BCE + box Huber on positives
        anchor_iou = box_ops.iou(anchors, gt_boxes)  # [B, N, M]
        matched, labels = box_ops.match(anchor_iou, gt_valid, self.rpn_negative_iou, self.rpn_positive_iou)
        idx, weight, positive = box_ops.sample_rows(labels, self.rpn_batch_per_image, self.rpn_positive_fraction,
                                                    self.seed_generator)
        logits = ops.take_along_axis(y_pred["rpn_logits"], idx, axis=1)
        target = ops.cast(positive, "float32")
        bce = ops.binary_crossentropy(target, logits, from_logits=True)
        rpn_obj = ops.sum(bce * weight) / ops.maximum(ops.sum(weight), 1.0)
        pos_w = weight * target
        matched_boxes = box_ops.gather_rows(gt_boxes, ops.take_along_axis(matched, idx, axis=1))
        sel_anchors = ops.take(anchors, idx, axis=0)
        rpn_targets = box_ops.encode(sel_anchors, matched_boxes, box_ops.RPN_VARIANCE)
        rpn_pred = box_ops.gather_rows(y_pred["rpn_deltas"], idx)
        rpn_box = ops.sum(huber(rpn_pred - rpn_targets, 1.0 / 9.0) * pos_w) / ops.maximum(ops.sum(weight), 1.0)

        # ---- head: proposals + ground truth as RoIs, match at 0.5, sample, CE + Huber on foreground
        rois = ops.concatenate([y_pred["proposals"], ops.where(ops.expand_dims(gt_valid, -1), gt_boxes, 0.0)], axis=1)
        roi_ok = ops.concatenate([y_pred["proposal_valid"], gt_valid], axis=1)
        roi_iou = box_ops.iou(rois, gt_boxes)
        r_matched, r_labels = box_ops.match(roi_iou, gt_valid, self.roi_positive_iou, self.roi_positive_iou,
                                            allow_low_quality=False)
        r_labels = ops.where(roi_ok, r_labels, -1)
        r_idx, r_weight, r_pos = box_ops.sample_rows(r_labels, self.roi_batch_per_image, self.roi_positive_fraction,
                                                     self.seed_generator)
        s_rois = ops.stop_gradient(box_ops.gather_rows(rois, r_idx))
        s_gt_idx = ops.take_along_axis(r_matched, r_idx, axis=1)
        s_gt_boxes = box_ops.gather_rows(gt_boxes, s_gt_idx)
        s_gt_cls = ops.take_along_axis(gt_labels, s_gt_idx, axis=1)
        cls_target = ops.where(r_pos, s_gt_cls + 1, 0)
        cls_logits, box_deltas = self._head(y_pred["features"], s_rois, training=training)
        ce = ops.sparse_categorical_crossentropy(cls_target, cls_logits, from_logits=True)
        head_cls = ops.sum(ce * r_weight) / ops.maximum(ops.sum(r_weight), 1.0)
        fg_w = r_weight * ops.cast(r_pos, "float32")
        head_targets = box_ops.encode(s_rois, s_gt_boxes, box_ops.HEAD_VARIANCE)
        head_box = ops.sum(huber(box_deltas - head_targets, 1.0) * fg_w) / ops.maximum(ops.sum(r_weight), 1.0)

        self._track("rpn_objectness_loss", rpn_obj)
        self._track("rpn_box_loss", rpn_box)
        self._track("head_class_loss", head_cls)
        self._track("head_box_loss", head_box)
        return self._total_loss(self.rpn_objectness_weight * rpn_obj + self.rpn_box_weight * rpn_box
                                + self.head_class_weight * head_cls + self.head_box_weight * head_box)

    def get_config(self):
        return self._common_config(super().get_config(), (
            "rpn_pre_nms_top_n_train", "rpn_post_nms_top_n_train", "rpn_pre_nms_top_n_test",
            "rpn_post_nms_top_n_test", "rpn_nms_iou", "rpn_positive_iou", "rpn_negative_iou", "rpn_batch_per_image",
            "rpn_positive_fraction", "roi_batch_per_image", "roi_positive_fraction", "roi_positive_iou", "roi_size",
            "head_units", "rpn_objectness_weight", "rpn_box_weight", "head_class_weight", "head_box_weight", "seed"))
