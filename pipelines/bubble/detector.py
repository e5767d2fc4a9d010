"""Shared pieces of both bubble detectors (:mod:`~pipelines.bubble.two_stage`, :mod:`~pipelines.bubble.one_stage`).

:class:`DetectorMixin` holds what the two-stage R-CNN and the one-stage RetinaNet have in
common: the backbone / anchor settings (``COMMON_DEFAULTS``) with their attributes, the
backbone + keras-hub anchor generator, the jit guard of ``compile``, ``build``, the
``detect`` / ``predict_step`` API, the ground-truth unpacking of ``compute_loss``, the final
per-class NMS and the shared ``get_config`` fields. :func:`huber` is the smooth-L1 of both
box losses.
"""

from __future__ import annotations

import warnings

import keras
from keras import ops
from keras_hub.layers import AnchorGenerator

from pipelines.bubble import box_ops
from pipelines.bubble.backbone import TrackBackbone

#: constructor arguments both detectors take, with their defaults (backbone, anchors, NMS)
COMMON_DEFAULTS = dict(
    backbone_widths=(32, 48, 64, 96),
    fpn_filters=64,
    min_level=3,
    max_level=6,
    anchor_size=2.0,
    num_scales=2,
    aspect_ratios=(0.125, 0.333, 1.0, 3.0, 8.0),
    score_threshold=0.05,
    nms_iou=0.5,
    max_detections=300,
    normalization="layer",
)

#: scalar attributes of ``COMMON_DEFAULTS`` written by ``get_config`` (the tuples are written as lists)
_COMMON_SCALARS = ("num_classes", "fpn_filters", "min_level", "max_level", "anchor_size", "num_scales",
                   "score_threshold", "nms_iou", "max_detections", "normalization")


def pop_common(kwargs: dict) -> dict:
    """The ``COMMON_DEFAULTS`` arguments taken out of ``kwargs`` (defaults where absent)."""
    return {k: kwargs.pop(k, v) for k, v in COMMON_DEFAULTS.items()}


class DetectorMixin:
    """Shared pieces of both detectors: settings, backbone, anchors, jit guard, detection API, loss inputs."""

    def _init_common(self, num_classes, backbone_widths, fpn_filters, min_level, max_level, anchor_size, num_scales,
                     aspect_ratios, score_threshold, nms_iou, max_detections, normalization):
        """Set the shared attributes and build the backbone and the anchor generator."""
        self.num_classes = int(num_classes)
        self.backbone_widths = tuple(int(w) for w in backbone_widths)
        self.fpn_filters = int(fpn_filters)
        self.min_level, self.max_level = int(min_level), int(max_level)
        self.anchor_size = float(anchor_size)
        self.num_scales = int(num_scales)
        self.aspect_ratios = tuple(float(a) for a in aspect_ratios)
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.max_detections = int(max_detections)
        self.normalization = normalization
        self.backbone = TrackBackbone(self.backbone_widths, self.fpn_filters, self.min_level, self.max_level,
                                      normalization=normalization, name="backbone")
        self.anchor_generator = self._make_anchor_generator()

    def _make_anchor_generator(self):
        return AnchorGenerator(
            bounding_box_format=box_ops.FORMAT, min_level=self.min_level, max_level=self.max_level,
            num_scales=self.num_scales, aspect_ratios=list(self.aspect_ratios), anchor_size=self.anchor_size,
        )

    def anchors_for(self, images):
        levels = self.anchor_generator(images)
        return ops.concatenate([levels[f"P{lvl}"] for lvl in range(self.min_level, self.max_level + 1)], axis=0)

    def compile(self, *args, jit_compile=False, **kwargs):
        if jit_compile is True:
            warnings.warn(f"{type(self).__name__}: jit_compile=True is not supported (crop_and_resize / NMS have "
                          "no XLA kernels on CPU); compiling with jit_compile=False", stacklevel=2)
        kwargs.pop("loss", None)
        return super().compile(*args, jit_compile=False, **kwargs)

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def build(self, input_shape):
        if self.built:
            return
        shape = tuple(input_shape)
        if any(d is None for d in shape[1:]):
            raise ValueError(f"{type(self).__name__}.build needs a fully known image shape, got {shape}")
        self.call(ops.zeros((1,) + tuple(shape[1:]), "float32"), training=False)
        self.built = True

    def predict_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        return self._detect(as_images(x))

    def detect(self, images):
        """Detections for a batch ``[B, H, W(, 1)]`` of grey-scale frames (0..255, dark tracks):
        dict ``boxes [B, D, 4]`` (yxyx pixels), ``scores``, ``classes`` (0-based foreground
        class, -1 for empty slots) and ``num_detections``. Eager calls run a cached
        ``tf.function`` (one trace per image size)."""
        import tensorflow as tf

        images = as_images(images)
        if not tf.executing_eagerly():
            return self._detect(images)
        fn = self.__dict__.get("_compiled_detect")
        if fn is None:
            fn = tf.function(self._detect)
            self.__dict__["_compiled_detect"] = fn
        return fn(images)

    def _final_nms(self, boxes, probs, height, width):
        """Per-class NMS of decoded ``boxes`` and class ``probs`` (the last step of ``_detect``)."""
        return box_ops.per_class_nms(boxes, probs, self.max_detections, self.nms_iou, self.score_threshold,
                                     pre_nms_top_k=4 * self.max_detections, image_size=max(height, width))

    def _loss_inputs(self, x, y):
        """``(gt_boxes, gt_labels, gt_valid, anchors)`` of a training batch ``(x, y)``."""
        images = with_channel(x)
        gt_boxes = ops.cast(y["boxes"], "float32")
        gt_labels = ops.cast(y["labels"], "int32")
        return gt_boxes, gt_labels, gt_labels >= 0, self.anchors_for(images)

    def _total_loss(self, total):
        return total + ops.sum(self.losses) if self.losses else total

    def _track(self, name, value):
        tracker = self.loss_trackers[name]
        tracker.update_state(value)

    def _common_config(self, config: dict, names) -> dict:
        """``config`` with the shared fields and the subclass's scalar ``names`` added."""
        for name in _COMMON_SCALARS + tuple(names):
            config[name] = getattr(self, name)
        config["backbone_widths"] = list(self.backbone_widths)
        config["aspect_ratios"] = list(self.aspect_ratios)
        return config


def with_channel(images):
    """``images`` as a tensor with a trailing channel axis (added to ``[B, H, W]``)."""
    images = ops.convert_to_tensor(images)
    return ops.expand_dims(images, -1) if len(images.shape) == 3 else images


def as_images(images):
    """float32 ``[B, H, W, 1]`` frames."""
    images = ops.cast(ops.convert_to_tensor(images), "float32")
    return ops.expand_dims(images, -1) if len(images.shape) == 3 else images


def huber(diff, beta):
    """Smooth-L1 summed over the 4 box coordinates."""
    a = ops.abs(diff)
    return ops.sum(ops.where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta), axis=-1)
