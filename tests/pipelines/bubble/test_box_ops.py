"""Box coding, anchor/RoI target assignment, sampling and NMS on hand-made cases."""

import keras
import numpy as np
import pytest

from pipelines.bubble import box_ops


def test_box_coding_round_trip_with_and_without_variance():
    rng = np.random.default_rng(0)
    anchors = np.concatenate([rng.uniform(0, 100, (50, 2)), rng.uniform(0, 100, (50, 2))], 1).astype("float32")
    anchors[:, 2:] = anchors[:, :2] + rng.uniform(2, 80, (50, 2))
    boxes = anchors + rng.normal(0, 3, (50, 4)).astype("float32")
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    for var in (None, box_ops.HEAD_VARIANCE):
        deltas = box_ops.encode(anchors, boxes, var)
        back = np.asarray(box_ops.decode(anchors, deltas, var))
        np.testing.assert_allclose(back, boxes, atol=1e-3)
    # a known value: same centre, twice the height -> (0, 0, log 2, 0) / variance
    d = np.asarray(box_ops.encode(np.array([[0, 0, 10, 10]], "float32"), np.array([[-5, 0, 15, 10]], "float32"),
                                  box_ops.HEAD_VARIANCE))
    np.testing.assert_allclose(d[0], [0, 0, np.log(2) / 0.2, 0], atol=1e-5)


def test_rpn_target_assignment_hand_made():
    # anchors (yxyx): 0 = exactly gt0; 1 = half overlap with gt0 (IoU 1/3); 2 = far away;
    # 3 = thin box overlapping gt1 with IoU 0.25 (gt1's best anchor -> forced positive)
    anchors = np.array([[0, 0, 10, 10], [0, 5, 10, 15], [50, 50, 60, 60], [20, 0, 24, 40]], "float32")
    gt = np.array([[[0, 0, 10, 10], [20, 0, 36, 40], [-1, -1, -1, -1]]], "float32")
    valid = np.array([[True, True, False]])
    iou = box_ops.iou(anchors, gt)
    matched, labels = box_ops.match(iou, valid, negative_below=0.3, positive_from=0.7)
    matched, labels = np.asarray(matched)[0], np.asarray(labels)[0]
    assert labels.tolist() == [1, -1, 0, 1]
    assert matched[0] == 0 and matched[3] == 1
    # without low-quality matches the thin anchor is only "ignored" (0.25 is in [0.3, 0.7)? no: background)
    _, strict = box_ops.match(iou, valid, negative_below=0.3, positive_from=0.7, allow_low_quality=False)
    assert np.asarray(strict)[0].tolist() == [1, -1, 0, 0]
    # the padded ground-truth row is never matched, even when it is the only one
    _, none = box_ops.match(box_ops.iou(anchors, gt[:, 2:]), valid[:, 2:], 0.3, 0.7)
    assert np.asarray(none)[0].tolist() == [0, 0, 0, 0]


def test_sample_rows_respects_fraction_and_ignores():
    labels = np.array([[1] * 10 + [0] * 30 + [-1] * 20, [1] * 2 + [0] * 3 + [-1] * 55], "int32")
    idx, w, pos = box_ops.sample_rows(labels, 16, 0.25, keras.random.SeedGenerator(1))
    idx, w, pos = np.asarray(idx), np.asarray(w), np.asarray(pos)
    assert pos[0].sum() == 4 and w[0].sum() == 16  # 4 positives + 12 negatives
    assert pos[1].sum() == 2 and w[1].sum() == 5  # only 5 labelled rows exist
    for b in range(2):
        chosen = idx[b][w[b] > 0]
        assert len(set(chosen.tolist())) == len(chosen)
        assert (labels[b][chosen] >= 0).all()
        np.testing.assert_array_equal(labels[b][idx[b][pos[b]]], 1)


def test_per_class_nms_suppresses_within_class_only():
    boxes = np.array([[[0, 0, 10, 50], [0, 1, 10, 51], [0, 0, 10, 50], [30, 30, 40, 40]]], "float32")
    scores = np.zeros((1, 4, 2), "float32")
    scores[0, 0, 0] = 0.9  # class 0
    scores[0, 1, 0] = 0.8  # class 0, duplicate of box 0 -> suppressed
    scores[0, 2, 1] = 0.7  # class 1, same place as box 0 -> kept (another class)
    scores[0, 3, 0] = 0.6
    out = box_ops.per_class_nms(boxes, scores, max_detections=8, iou_threshold=0.5, score_threshold=0.05,
                                pre_nms_top_k=8, image_size=64)
    n = int(out["num_detections"][0])
    assert n == 3
    got = sorted(zip([round(float(v), 2) for v in np.asarray(out["scores"])[0, :n]],
                     np.asarray(out["classes"])[0, :n].tolist()))
    assert got == [(0.6, 0), (0.7, 1), (0.9, 0)]
    assert (np.asarray(out["classes"])[0, n:] == -1).all()


@pytest.mark.parametrize("batch", [1, 3])
def test_nms_with_unknown_batch_size(batch):
    import tensorflow as tf

    boxes = tf.random.uniform((batch, 20, 2), 0, 50)
    boxes = tf.concat([boxes, boxes + 5], -1)
    scores = tf.random.uniform((batch, 20))
    fn = tf.function(lambda b, s: box_ops.nms(b, s, 10, 0.5),
                     input_signature=[tf.TensorSpec([None, 20, 4]), tf.TensorSpec([None, 20])])
    idx, valid = fn(boxes, scores)
    assert tuple(idx.shape) == (batch, 10) and tuple(valid.shape) == (batch, 10)
