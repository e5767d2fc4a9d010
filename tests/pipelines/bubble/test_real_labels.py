"""The hand labels of the real scan load and check; recall / precision matching is one-to-one."""

import json
from pathlib import Path

import numpy as np
import pytest

from pipelines.bubble.real_labels import in_region, iou_matrix, load_labels, match_detections
from sciarch.config import ConfigError

LABELS = Path(__file__).resolve().parents[3] / "data" / "bubble" / "bubble_chamber_photo_left.labels.json"


def test_shipped_labels_load_inside_the_left_half():
    lab = load_labels(LABELS)
    assert len(lab["boxes"]) == 17 and len(set(lab["ids"])) == 17
    assert in_region(lab["boxes"], lab["region"]).all()
    assert lab["region"][2] == 984  # the left half of the 1968-px-wide scan


def test_matching_is_one_to_one_and_counts_false_positives():
    gt = np.array([[0, 0, 100, 10], [0, 20, 100, 30.]])
    det = np.array([[0, 0, 100, 11], [1, 0, 100, 10], [0, 50, 10, 60.]])  # two on track 0, one on nothing
    r = match_detections(gt, det, 0.5, det_scores=[0.9, 0.8, 0.7])
    assert r["recall"] == 0.5 and r["precision"] == pytest.approx(1 / 3) and r["found"] == [True, False]
    assert iou_matrix(gt, gt).diagonal() == pytest.approx([1, 1])
    assert match_detections(gt, np.zeros((0, 4)))["recall"] == 0.0


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["tracks"][0].pop("box_xyxy"), "track 0 \\(beam_A\\): missing field 'box_xyxy'"),
    (lambda d: d["tracks"][1].update(box_xyxy=[5, 5, 1, 9]), "track 1 \\(beam_B\\): field 'box_xyxy'"),
    (lambda d: d["tracks"][2].update({"class": "muon"}), "field 'class' = 'muon'"),
    (lambda d: d.pop("region_xyxy"), "missing field 'region_xyxy'"),
])
def test_bad_labels_name_file_track_and_field(tmp_path, edit, message):
    doc = json.loads(LABELS.read_text())
    edit(doc)
    p = tmp_path / "bad.labels.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=message):
        load_labels(p)
    p.write_text("{\n  nope")
    with pytest.raises(ConfigError, match="line 2: not valid JSON"):
        load_labels(p)
