"""COCO evaluation (pycocotools) of track detections, overall and per track-density bin.

``maxDets`` is ``(1, 100, D)`` with ``D = max(300, max_detections)``: COCO's default of 100
detections per image would cap recall on frames with 80+ tracks. AP / AP50 / AR are
class-aware (mean over the track classes present); ``recall50`` and ``AP50_agnostic`` are
class-agnostic (any detection of IoU >= 0.5 finds a track, whatever class it names);
``recall50`` is what the recall-vs-density curves show. ``AP50[<class>]`` is each class's own
AP50 (NaN for a class with no true track), so a class-aware mean pulled down by a rare class can
be read as such.

Example:
    >>> import numpy as np
    >>> gt_boxes = np.array([[[0, 0, 10, 20]]], "float32"); gt_cls = np.array([[0]])
    >>> det = {"boxes": gt_boxes, "scores": np.array([[0.9]]), "classes": np.array([[0]])}
    >>> round(coco_evaluate(gt_boxes, gt_cls, det, (32, 32))["AP50"], 3)
    1.0
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from pipelines.bubble.simulation import CLASS_NAMES

DEFAULT_BINS = (1, 10, 20, 40, 60, 1000)


def _coco_objects(gt_boxes, gt_classes, det, image_shape):
    """GT (xyxy boxes, class >= 0) and detections (xyxy, class >= 0) -> pycocotools COCO objects."""
    from pycocotools.coco import COCO

    h, w = image_shape
    images, annotations, results = [], [], []
    ann_id = 1
    for i in range(len(gt_boxes)):
        images.append({"id": i + 1, "height": int(h), "width": int(w)})
        for b, c in zip(gt_boxes[i], gt_classes[i]):
            if c < 0:
                continue
            bw, bh = float(b[2] - b[0]), float(b[3] - b[1])
            annotations.append({"id": ann_id, "image_id": i + 1, "category_id": int(c) + 1,
                                "bbox": [float(b[0]), float(b[1]), bw, bh], "area": bw * bh, "iscrowd": 0})
            ann_id += 1
        for b, s, c in zip(det["boxes"][i], det["scores"][i], det["classes"][i]):
            if c < 0:
                continue
            results.append({"image_id": i + 1, "category_id": int(c) + 1, "score": float(s),
                            "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": annotations,
                  "categories": [{"id": k + 1, "name": n} for k, n in enumerate(CLASS_NAMES)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(results) if results else None
    return gt, dt


def _run(gt, dt, img_ids, max_dets, use_cats=True):
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, dt, "bbox")
        ev.params.maxDets = [1, 100, max_dets]
        ev.params.imgIds = list(img_ids)
        ev.params.useCats = int(use_cats)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def coco_evaluate(gt_boxes, gt_classes, det, image_shape, max_dets=300, density_bins=DEFAULT_BINS) -> dict:
    """AP, AP50, AP75, AR (class-aware) and class-agnostic recall at IoU 0.5, overall and per bin.

    Args:
        gt_boxes: ``[N, M, 4]`` xyxy pixels. gt_classes: ``[N, M]`` (-1 padding).
        det: dict ``boxes [N, D, 4]`` xyxy, ``scores [N, D]``, ``classes [N, D]`` (-1 empty).
        image_shape: ``(H, W)``.
        max_dets: largest ``maxDets`` (>= 300).
        density_bins: edges of the track-count bins ``[lo, hi)``.

    Returns: flat dict of floats (``AP``, ``AP50``, ``AP75``, ``AR``, ``recall50``, ``AP50_agnostic``,
    ``AP50[<class name>]``;
    per bin ``recall50@lo-hi``, ``AR@lo-hi``, ``AP50@lo-hi``, ``AP50_agnostic@lo-hi``,
    ``n_images@lo-hi``, ``n_tracks@lo-hi``).
    """
    max_dets = max(300, int(max_dets))
    gt, dt = _coco_objects(gt_boxes, gt_classes, det, image_shape)
    n_img = len(gt_boxes)
    classes = np.asarray(gt_classes)
    counts = (classes >= 0).sum(1)
    out = {"n_images": float(n_img), "n_tracks": float(counts.sum()), "max_dets": float(max_dets)}
    if dt is None:  # no detections: 0 for every class with a true box, NaN (as COCOeval) for the others
        out.update(AP=0.0, AP50=0.0, AP75=0.0, AR=0.0, recall50=0.0, AP50_agnostic=0.0)
        present = set(classes[classes >= 0].tolist())
        out.update({f"AP50[{name}]": (0.0 if k in present else float("nan")) for k, name in enumerate(CLASS_NAMES)})
    else:
        ids = range(1, n_img + 1)
        ev = _run(gt, dt, ids, max_dets)
        out.update(AP=float(ev.stats[0]), AP50=float(ev.stats[1]), AP75=float(ev.stats[2]), AR=float(ev.stats[8]))
        out["recall50"], out["AP50_agnostic"] = _agnostic(gt, dt, ids, max_dets)
        out.update(_per_class_ap50(ev))
    for lo, hi in zip(density_bins[:-1], density_bins[1:]):
        sel = np.flatnonzero((counts >= lo) & (counts < hi)) + 1
        tag = f"{lo}-{hi}"
        out[f"n_images@{tag}"] = float(len(sel))
        out[f"n_tracks@{tag}"] = float(counts[sel - 1].sum()) if len(sel) else 0.0
        if len(sel) == 0 or dt is None:
            out[f"recall50@{tag}"] = float("nan") if len(sel) == 0 else 0.0
            out[f"AR@{tag}"] = out[f"recall50@{tag}"]
            out[f"AP50@{tag}"] = out[f"recall50@{tag}"]
            out[f"AP50_agnostic@{tag}"] = out[f"recall50@{tag}"]
            continue
        ev = _run(gt, dt, sel, max_dets)
        out[f"AR@{tag}"] = float(ev.stats[8])
        out[f"AP50@{tag}"] = float(ev.stats[1])
        out[f"recall50@{tag}"], out[f"AP50_agnostic@{tag}"] = _agnostic(gt, dt, sel, max_dets)
    return out


def _per_class_ap50(ev) -> dict:
    """``{"AP50[<class>]": AP at IoU 0.5, all areas, the largest maxDets}`` from an accumulated COCOeval."""
    prec = ev.eval["precision"][0, :, :, 0, -1]  # [recall thresholds, classes]
    out = {}
    for k, cat in enumerate(ev.params.catIds):
        p = prec[:, k]
        out[f"AP50[{CLASS_NAMES[cat - 1]}]"] = float(p[p > -1].mean()) if (p > -1).any() else float("nan")
    return out


def _agnostic(gt, dt, img_ids, max_dets) -> tuple[float, float]:
    """Class-agnostic recall and AP at IoU 0.5 (all areas, ``max_dets`` detections per image)."""
    ev = _run(gt, dt, img_ids, max_dets, use_cats=False)
    recall = ev.eval["recall"]  # [T, K, A, M]
    t = int(np.argmin(np.abs(ev.params.iouThrs - 0.5)))
    value = float(recall[t, 0, 0, -1])
    return (value if value >= 0 else float("nan")), float(ev.stats[1])
