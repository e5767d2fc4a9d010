"""Box coding, matching, sampling and NMS for the bubble-chamber detectors.

Boxes are ``yxyx`` in absolute pixels throughout (the order ``tf.image.crop_and_resize``
wants). Coding and IoU come from ``keras.utils.bounding_boxes``; non-maximum
suppression is keras-hub's (the function behind ``keras_hub.layers.NonMaxSuppression``);
``BoxMatcher`` from keras-hub assigns the IoU bands. Padded ground-truth rows (all
coordinates -1, label -1) never match anything.

Example:
    >>> import numpy as np
    >>> from pipelines.bubble import box_ops
    >>> anchors = np.array([[0, 0, 10, 10], [5, 5, 25, 15]], "float32")
    >>> boxes = np.array([[1, 2, 11, 9], [4, 6, 26, 14]], "float32")
    >>> deltas = box_ops.encode(anchors, boxes)
    >>> np.allclose(box_ops.decode(anchors, deltas), boxes, atol=1e-4)
    True
"""

from __future__ import annotations

import keras
from keras import ops
from keras_hub.layers import BoxMatcher
from keras_hub.src.layers.modeling.non_max_supression import non_max_suppression

FORMAT = "yxyx"
#: standard Faster R-CNN delta scaling (centre 0.1, size 0.2 -> targets ~ unit variance)
RPN_VARIANCE = (1.0, 1.0, 1.0, 1.0)
HEAD_VARIANCE = (0.1, 0.1, 0.2, 0.2)
_MAX_LOG = 4.135  # log(1000 / 16): clip of predicted log-size deltas (Detectron)


def encode(anchors, boxes, variance=None):
    """Deltas ``(dy, dx, log dh, log dw) / variance`` of ``boxes`` w.r.t. ``anchors``."""
    return keras.utils.bounding_boxes.encode_box_to_deltas(
        anchors=anchors, boxes=boxes, anchor_format=FORMAT, box_format=FORMAT,
        encoding_format="center_yxhw", variance=variance,
    )


def decode(anchors, deltas, variance=None):
    """Inverse of :func:`encode`; log-size deltas are clipped to avoid overflow."""
    if variance is not None:
        var = ops.convert_to_tensor(variance, "float32")
        clip = ops.convert_to_tensor([1e9, 1e9, _MAX_LOG, _MAX_LOG], "float32") / var
        deltas = ops.minimum(deltas, clip)
    else:
        deltas = ops.concatenate([deltas[..., :2], ops.minimum(deltas[..., 2:], _MAX_LOG)], axis=-1)
    return keras.utils.bounding_boxes.decode_deltas_to_boxes(
        anchors=anchors, boxes_delta=deltas, anchor_format=FORMAT, box_format=FORMAT,
        encoded_format="center_yxhw", variance=variance,
    )


def clip_boxes(boxes, height, width):
    y0 = ops.clip(boxes[..., 0], 0.0, height)
    x0 = ops.clip(boxes[..., 1], 0.0, width)
    y1 = ops.clip(boxes[..., 2], 0.0, height)
    x1 = ops.clip(boxes[..., 3], 0.0, width)
    return ops.stack([y0, x0, y1, x1], axis=-1)


def iou(boxes1, boxes2):
    """Pairwise IoU (``[B, N, M]`` or ``[N, M]``) via ``keras.utils.bounding_boxes.compute_iou``."""
    return keras.utils.bounding_boxes.compute_iou(boxes1, boxes2, bounding_box_format=FORMAT)


def match(iou_matrix, gt_valid, negative_below, positive_from, allow_low_quality=True):
    """Assign every row (anchor / RoI) to a ground-truth column.

    Rows with best IoU ``>= positive_from`` are positive (label 1), rows below
    ``negative_below`` negative (0), the rest ignored (-1). With
    ``allow_low_quality`` each valid ground truth also claims the row(s) with its
    highest IoU (Faster R-CNN's rule, so thin tracks with no good anchor still get one).

    Args:
        iou_matrix: ``[B, N, M]`` IoU of N rows with M ground-truth boxes.
        gt_valid: ``[B, M]`` bool, False for padding.
        negative_below: IoU below which a row is background.
        positive_from: IoU from which a row is foreground.
        allow_low_quality: force-match each ground truth's best row(s).

    Returns:
        ``(matched_index [B, N] int32, labels [B, N] int32)``.
    """
    valid = ops.expand_dims(gt_valid, 1)
    masked = ops.where(valid, iou_matrix, -1.0)
    matcher = BoxMatcher(thresholds=[negative_below, positive_from], match_values=[0, -1, 1],
                         force_match_for_each_col=False)
    matched, labels = matcher(masked)
    # rows whose best IoU is -1 (no valid ground truth at all) are background
    best = ops.max(masked, axis=-1)
    labels = ops.where(best < 0, 0, labels)
    if allow_low_quality:
        best_per_gt = ops.max(masked, axis=1, keepdims=True)  # [B, 1, M]
        is_best = ops.logical_and(ops.equal(masked, best_per_gt), valid)
        is_best = ops.logical_and(is_best, best_per_gt > 1e-6)
        forced = ops.any(is_best, axis=-1)
        forced_idx = ops.cast(ops.argmax(ops.cast(is_best, "float32"), axis=-1), "int32")
        matched = ops.where(forced, forced_idx, matched)
        labels = ops.where(forced, 1, labels)
    return ops.cast(matched, "int32"), ops.cast(labels, "int32")


def sample_rows(labels, num_samples, positive_fraction, seed_generator):
    """Random fixed-size subset of labelled rows: up to ``fraction * n`` positives, the rest negatives.

    Args:
        labels: ``[B, N]`` int (1 positive, 0 negative, -1 ignore).
        num_samples: rows kept per image.
        positive_fraction: largest share of positives.
        seed_generator: ``keras.random.SeedGenerator``.

    Returns:
        ``(indices [B, num_samples] int32, weights [B, num_samples] float32, is_positive
        [B, num_samples] bool)``; weight 0 marks a slot without a valid row.
    """
    n_pos_max = max(1, int(round(num_samples * positive_fraction)))
    shape = ops.shape(labels)
    noise = keras.random.uniform(shape, seed=seed_generator)
    pos_score = ops.where(ops.equal(labels, 1), noise, -1.0)
    neg_score = ops.where(ops.equal(labels, 0), noise, -1.0)
    pos_val, pos_idx = ops.top_k(pos_score, k=n_pos_max)
    neg_val, neg_idx = ops.top_k(neg_score, k=num_samples)
    pos_ok = pos_val >= 0
    n_pos = ops.sum(ops.cast(pos_ok, "int32"), axis=1, keepdims=True)
    rank = ops.expand_dims(ops.arange(num_samples, dtype="int32"), 0)
    neg_ok = ops.logical_and(neg_val >= 0, rank < (num_samples - n_pos))
    # pack: positives first, then the negatives that fit
    idx = ops.concatenate([pos_idx, neg_idx], axis=1)
    ok = ops.concatenate([pos_ok, neg_ok], axis=1)
    positive = ops.concatenate([pos_ok, ops.zeros_like(neg_ok)], axis=1)
    # keep a fixed width of num_samples: sort valid slots first (stable by position)
    order_key = ops.where(ok, 0, 1) * (n_pos_max + num_samples) + ops.arange(n_pos_max + num_samples)
    order = ops.argsort(order_key, axis=1)[:, :num_samples]
    idx = ops.take_along_axis(idx, order, axis=1)
    ok = ops.take_along_axis(ok, order, axis=1)
    positive = ops.take_along_axis(positive, order, axis=1)
    return ops.cast(idx, "int32"), ops.cast(ok, "float32"), positive


def gather_rows(values, indices):
    """``values[b, indices[b, k]]`` for ``values [B, N, ...]`` and ``indices [B, K]``."""
    idx = indices
    extra = len(values.shape) - 2
    for _ in range(extra):
        idx = ops.expand_dims(idx, -1)
    return ops.take_along_axis(values, idx, axis=1)


def nms(boxes, scores, max_output, iou_threshold, score_threshold=0.0):
    """Class-agnostic NMS on ``[B, N, 4]`` yxyx boxes; returns ``(indices [B, K], valid [B, K])``.

    keras-hub's ``non_max_suppression`` needs a static batch size; it is mapped over the
    images one at a time so that batches of unknown size (``predict``, last batches) work.
    """
    import tensorflow as tf

    n = boxes.shape[1]

    def one(args):
        b, s = args
        idx, num_valid = non_max_suppression(
            ops.reshape(b, (1, n, 4)), ops.reshape(s, (1, n)), max_output_size=max_output,
            iou_threshold=iou_threshold, score_threshold=score_threshold,
        )
        return ops.cast(idx[0, :max_output], "int32"), ops.cast(num_valid[0], "int32")

    idx, num_valid = tf.map_fn(one, (boxes, scores), fn_output_signature=(tf.TensorSpec([max_output], tf.int32),
                                                                         tf.TensorSpec([], tf.int32)))
    valid = ops.expand_dims(ops.arange(max_output, dtype="int32"), 0) < ops.expand_dims(num_valid, 1)
    return idx, valid


def per_class_nms(boxes, class_scores, max_detections, iou_threshold, score_threshold, pre_nms_top_k, image_size):
    """Per-class NMS (boxes of different classes never suppress each other).

    Args:
        boxes: ``[B, N, 4]`` yxyx (shared by all classes) or ``[B, N, C, 4]``.
        class_scores: ``[B, N, C]`` probabilities of the C foreground classes.
        max_detections: detections kept per image (>= 300 for crowded frames).
        iou_threshold: suppression IoU.
        score_threshold: lowest kept score.
        pre_nms_top_k: candidates (box, class) entering NMS, by score.
        image_size: largest image side; classes are separated by offsets of this size.

    Returns:
        dict ``boxes [B, D, 4]``, ``scores [B, D]``, ``classes [B, D]`` (int32, -1 for empty
        slots), ``num_detections [B]``.
    """
    b = ops.shape(class_scores)[0]
    n = class_scores.shape[1]
    c = class_scores.shape[2]
    if len(boxes.shape) == 3:
        boxes = ops.repeat(ops.expand_dims(boxes, 2), c, axis=2)
    flat_boxes = ops.reshape(boxes, (b, n * c, 4))
    flat_scores = ops.reshape(class_scores, (b, n * c))
    flat_cls = ops.tile(ops.arange(c, dtype="int32"), (n,))
    k = min(pre_nms_top_k, n * c)
    top_scores, top_idx = ops.top_k(flat_scores, k=k)
    top_boxes = gather_rows(flat_boxes, top_idx)
    top_cls = ops.take(flat_cls, top_idx)
    offset = ops.cast(ops.expand_dims(top_cls, -1), "float32") * (float(image_size) + 2.0)
    keep, valid = nms(top_boxes + offset, top_scores, max_detections, iou_threshold, score_threshold)
    out_boxes = gather_rows(top_boxes, keep)
    out_scores = ops.take_along_axis(top_scores, keep, axis=1)
    out_cls = ops.take_along_axis(top_cls, keep, axis=1)
    valid = ops.logical_and(valid, out_scores > score_threshold)
    return {
        "boxes": ops.where(ops.expand_dims(valid, -1), out_boxes, -1.0),
        "scores": ops.where(valid, out_scores, 0.0),
        "classes": ops.where(valid, out_cls, -1),
        "num_detections": ops.sum(ops.cast(valid, "int32"), axis=1),
    }
