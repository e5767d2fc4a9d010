"""Pipeline contract: config validation, inputs, evaluation, data format errors, TFDS, CLI."""

import json

import numpy as np
import pytest

from sciarch.config import ConfigError, validate
from sciarch.pipeline import get_pipeline_class

from pipelines.bubble.data import load_npz, save_npz
from pipelines.bubble.metrics import coco_evaluate
from pipelines.bubble.simulation import CLASS_NAMES
from pipelines.bubble.simulation import BubbleChamberSimulator, SimulatorConfig

SMALL = {"pipeline": "bubble", "data": {"image_size": [64, 64], "tracks_per_image": [2, 6], "n_train": 6,
                                         "n_validation": 4, "n_test": 4, "max_boxes": 16,
                                         "simulator": {"chunk_size": 4, "pixel_mm": 3.0}},
         "model": {"backbone_widths": [8, 16, 16, 16], "fpn_filters": 16, "head_units": 32, "max_level": 5,
                   "rpn_post_nms_top_n_test": 64, "rpn_pre_nms_top_n_test": 200},
         "train": {"batch_size": 4}}


def _pipeline(tmp_path, **over):
    cls = get_pipeline_class("bubble")
    raw = json.loads(json.dumps(SMALL))
    for k, v in over.items():
        raw[k].update(v)
    return cls(validate(raw, cls.config_cls), run_dir=tmp_path)


def test_config_errors_name_the_key():
    cls = get_pipeline_class("bubble")
    with pytest.raises(ConfigError, match="data.simulator"):
        validate({"pipeline": "bubble", "data": {"simulator": {"feild_t": 2}}}, cls.config_cls)
    with pytest.raises(ConfigError, match="model"):
        validate({"pipeline": "bubble", "model": {"detector": "one_stage", "loss_weights": {"rpn_box": 2}}},
                 cls.config_cls)
    with pytest.raises(ConfigError, match="model.detector"):
        validate({"pipeline": "bubble", "model": {"detector": "yolo"}}, cls.config_cls)


def test_ensembles_are_refused():
    from sciarch.runner import check_ensemble

    cls = get_pipeline_class("bubble")
    assert cls.supports_ensemble is False
    with pytest.raises(ConfigError, match="train.ensemble.*'bubble' does not support ensembles"):
        check_ensemble(cls, validate({**SMALL, "train": {"batch_size": 4, "ensemble": 2}}, cls.config_cls))
    check_ensemble(cls, validate(SMALL, cls.config_cls))  # ensemble 1 is fine


def test_build_inputs_per_replica_batch_and_shards(tmp_path):
    import tensorflow as tf

    p = _pipeline(tmp_path)
    x, y = next(iter(p.build_inputs("train")))
    assert x.shape == (4, 64, 64, 1) and x.dtype == tf.float32
    assert y["boxes"].shape == (4, 16, 4) and y["labels"].shape == (4, 16)
    ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    n = sum(int(b[0].shape[0]) for b in p.build_inputs("validation", ctx))
    assert n == 2  # half of the 4 validation frames on this worker
    assert int(next(iter(p.build_inputs("validation", ctx)))[0].shape[0]) <= 2  # per-replica batch 4 / 2
    # splits are different frames, cached per run
    assert not np.array_equal(p.sample("train").images[:4], p.sample("validation").images)
    assert list((tmp_path / "cache").glob("bubble_*.npz"))


def test_evaluate_perfect_and_missing_detections():
    s = BubbleChamberSimulator(SimulatorConfig(image_size=(96, 96), tracks_per_image=(3, 12), chunk_size=6)).generate(
        6, seed=1)
    det = {"boxes": s.boxes.copy(), "scores": np.where(s.classes >= 0, 0.9, 0.0), "classes": s.classes.copy()}
    perfect = coco_evaluate(s.boxes, s.classes, det, (96, 96), density_bins=(1, 8, 1000))
    assert perfect["AP50"] == pytest.approx(1.0) and perfect["recall50"] == pytest.approx(1.0)
    assert perfect["max_dets"] >= 300
    # drop every detection of the densest frame: recall falls only in its bin
    dense = int(np.argmax(s.n_tracks))
    det["classes"][dense] = -1
    res = coco_evaluate(s.boxes, s.classes, det, (96, 96), density_bins=(1, 8, 1000))
    tag = "8-1000" if s.n_tracks[dense] >= 8 else "1-8"
    assert res[f"recall50@{tag}"] < 1.0 and res["recall50"] < 1.0
    other = "1-8" if tag == "8-1000" else "8-1000"
    if res[f"n_images@{other}"] > 0:
        assert res[f"recall50@{other}"] == pytest.approx(1.0)


def test_per_class_ap50_names_the_class_that_is_wrong():
    s = BubbleChamberSimulator(SimulatorConfig(image_size=(96, 96), tracks_per_image=(6, 14), chunk_size=6)).generate(
        6, seed=3)
    det = {"boxes": s.boxes.copy(), "scores": np.where(s.classes >= 0, 0.9, 0.0), "classes": s.classes.copy()}
    present = sorted({int(c) for c in s.classes.ravel() if c >= 0})
    assert 0 in present and 1 in present
    det["classes"][s.classes == 0] = 1  # every beam called a secondary
    res = coco_evaluate(s.boxes, s.classes, det, (96, 96), density_bins=(1, 1000))
    assert res["AP50[beam]"] == pytest.approx(0.0)
    for k in present[2:]:
        assert res[f"AP50[{CLASS_NAMES[k]}]"] == pytest.approx(1.0)
    assert 0.0 < res["AP50[secondary]"] < 1.0  # the relabelled beams are its false positives
    absent = [n for k, n in enumerate(CLASS_NAMES) if k not in present]
    assert all(np.isnan(res[f"AP50[{n}]"]) for n in absent)
    # the class-aware AP50 is the mean over the classes present; the agnostic one is untouched
    assert res["AP50"] == pytest.approx(np.mean([res[f"AP50[{CLASS_NAMES[k]}]"] for k in present]), abs=1e-6)
    assert res["AP50_agnostic"] == pytest.approx(1.0)
    # no detections at all: the same keys, 0 for the classes present and NaN for the others
    empty = {"boxes": np.zeros_like(s.boxes), "scores": np.zeros_like(det["scores"]),
             "classes": np.full_like(s.classes, -1)}
    none = coco_evaluate(s.boxes, s.classes, empty, (96, 96), density_bins=(1, 1000))
    assert {k for k in none if k.startswith("AP50[")} == {k for k in res if k.startswith("AP50[")}
    assert all(none[f"AP50[{CLASS_NAMES[k]}]"] == 0.0 for k in present)
    assert all(np.isnan(none[f"AP50[{n}]"]) for n in absent)


def test_evaluate_reads_a_data_path_and_reports_bad_records(tmp_path):
    s = BubbleChamberSimulator(SimulatorConfig(image_size=(64, 64), tracks_per_image=(2, 4), chunk_size=3)).generate(
        3, seed=2)
    path = save_npz(s, tmp_path / "frames.npz.gz", compress_gzip=True)
    back = load_npz(path)
    np.testing.assert_array_equal(back.images, s.images)
    np.testing.assert_array_equal(back.classes, s.classes)
    bad = s.to_npz_dict()
    bad["boxes"] = bad["boxes"].copy()
    bad["boxes"][1, 0] = [10, 10, 5, 20]
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(ValueError, match=r"bad\.npz: record 1, track 0: field 'boxes'"):
        load_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "nolabels.npz", images=s.images)
    with pytest.raises(ValueError, match="missing array"):
        load_npz(tmp_path / "nolabels.npz")


def test_max_boxes_overflow_is_an_error(tmp_path):
    p = _pipeline(tmp_path, data={"max_boxes": 1})
    with pytest.raises(ValueError, match="raise data.max_boxes"):
        p.build_inputs("train")


def test_tfds_builder_tiny(tmp_path):
    from pipelines.bubble.tfds_builders import BubbleChamber

    b = BubbleChamber(config="sparse", data_dir=str(tmp_path), n_train=3, n_validation=1, n_test=1,
                      simulator={"chunk_size": 3})
    b.download_and_prepare()
    assert b.info.splits["train"].num_examples == 3
    ex = next(iter(b.as_dataset(split="train")))
    assert tuple(ex["image"].shape) == (256, 256, 1)
    n = int(ex["n_tracks"])
    assert ex["objects"]["bbox"].shape == (n, 4) and 2 <= n <= 10
    bb = ex["objects"]["bbox"].numpy()
    assert (bb[:, 2] > bb[:, 0]).all() and (bb[:, 3] > bb[:, 1]).all()


def test_cli_detect_writes_json_and_overlay(tmp_path):
    from PIL import Image
    from typer.testing import CliRunner

    from pipelines.bubble.cli import app

    p = _pipeline(tmp_path)
    model = p.build_model()
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    (run / "config.yaml").write_text("pipeline: bubble\n")
    img = tmp_path / "scan.png"
    Image.fromarray(p.sample("test").images[0]).save(img)
    res = CliRunner().invoke(app, ["detect", "--model", str(run), "--image", str(img), "--scale", "1.0",
                                   "--score", "0.0", "--out", str(tmp_path / "det")])
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "det" / "scan.boxes.json").read_text())
    assert out["width"] == 64 and isinstance(out["detections"], list)
    assert (tmp_path / "det" / "scan.overlay.png").stat().st_size > 1000
    res = CliRunner().invoke(app, ["detect", "--model", str(run), "--image", str(tmp_path / "missing.png")])
    assert res.exit_code != 0 and "missing.png" in res.output
