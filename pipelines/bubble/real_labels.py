"""Hand labels of a real scan (``*.labels.json``) and detection recall / precision against them.

File format (``data/bubble/bubble_chamber_photo_left.labels.json``, data card
``data_cards/bubble_real_labels.md``)::

    {"image": "...png", "region_xyxy": [x0, y0, x1, y1],
     "tracks": [{"id": "beam_A", "class": "beam", "box_xyxy": [x0, y0, x1, y1],
                 "polyline": [[x, y], ...], "confidence": "clear"}, ...]}

Coordinates are full-resolution image pixels. ``polyline`` is optional (spirals have a box only).

Example:
    >>> import numpy as np
    >>> match_detections(np.array([[0, 0, 10, 10.]]), np.array([[0, 0, 10, 11.]]), 0.5)["recall"]
    1.0
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sciarch.config import ConfigError


def load_labels(path: str | Path) -> dict:
    """Read and check a labels file; a bad entry raises ConfigError naming the file, track and field."""
    from pipelines.bubble.simulation import CLASS_NAMES

    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such labels file") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    for key in ("region_xyxy", "tracks"):
        if key not in doc:
            raise ConfigError(f"{path}: missing field '{key}'")
    region = _box(doc["region_xyxy"], f"{path}: field 'region_xyxy'")
    boxes, classes, ids = [], [], []
    for k, t in enumerate(doc["tracks"]):
        where = f"{path}: track {k} ({t.get('id', '?')})"
        if "box_xyxy" not in t:
            raise ConfigError(f"{where}: missing field 'box_xyxy'")
        boxes.append(_box(t["box_xyxy"], f"{where}: field 'box_xyxy'"))
        if t.get("class") not in CLASS_NAMES:
            raise ConfigError(f"{where}: field 'class' = {t.get('class')!r} is not one of {list(CLASS_NAMES)}")
        if "polyline" in t:
            p = np.asarray(t["polyline"], float)
            if p.ndim != 2 or p.shape[1] != 2 or len(p) < 2:
                raise ConfigError(f"{where}: field 'polyline' must be a list of >= 2 [x, y] points")
        classes.append(CLASS_NAMES.index(t["class"]))
        ids.append(str(t.get("id", k)))
    return {"image": doc.get("image"), "region": region, "boxes": np.asarray(boxes, float).reshape(-1, 4),
            "classes": np.asarray(classes, int), "ids": ids, "tracks": doc["tracks"]}


def _box(v, where):
    try:
        b = np.asarray(v, float)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} = {v!r} is not four numbers") from None
    if b.shape != (4,) or not np.isfinite(b).all() or b[2] <= b[0] or b[3] <= b[1]:
        raise ConfigError(f"{where} = {v!r} is not an (x0, y0, x1, y1) box with x1 > x0, y1 > y0")
    return b


def iou_matrix(a, b) -> np.ndarray:
    """``[len(a), len(b)]`` IoU of xyxy boxes (numpy)."""
    a = np.asarray(a, float).reshape(-1, 4)
    b = np.asarray(b, float).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def in_region(boxes, region) -> np.ndarray:
    """Detections whose box centre lies inside ``region`` (xyxy)."""
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    cx, cy = 0.5 * (boxes[:, 0] + boxes[:, 2]), 0.5 * (boxes[:, 1] + boxes[:, 3])
    return (cx >= region[0]) & (cx < region[2]) & (cy >= region[1]) & (cy < region[3])


def match_detections(gt_boxes, det_boxes, iou_threshold: float = 0.5, det_scores=None) -> dict:
    """Greedy one-to-one matching by score (class-agnostic): recall = matched labels / labels,
    precision = matched detections / detections."""
    gt = np.asarray(gt_boxes, float).reshape(-1, 4)
    det = np.asarray(det_boxes, float).reshape(-1, 4)
    order = np.arange(len(det)) if det_scores is None else np.argsort(-np.asarray(det_scores), kind="stable")
    m = iou_matrix(det, gt)
    taken = np.zeros(len(gt), bool)
    matched_det = np.zeros(len(det), bool)
    for i in order:
        cand = np.where(~taken & (m[i] >= iou_threshold), m[i], -1)
        if len(cand) and cand.max() >= iou_threshold:
            j = int(cand.argmax())
            taken[j] = matched_det[i] = True
    return {"recall": float(taken.mean()) if len(gt) else float("nan"),
            "precision": float(matched_det.mean()) if len(det) else 0.0,
            "n_labels": int(len(gt)), "n_detections": int(len(det)), "n_matched": int(taken.sum()),
            "found": taken.tolist()}
