"""Both detectors train end to end (loss falls), reload in safe mode, and the two-stage
detector finds the tracks of a sparse frame."""

import keras
import numpy as np
import pytest

from pipelines.bubble.data import detection_arrays, make_dataset
from pipelines.bubble.metrics import coco_evaluate
from pipelines.bubble.one_stage import OneStageDetector
from pipelines.bubble.simulation import BubbleChamberSimulator, SimulatorConfig
from pipelines.bubble.two_stage import TwoStageDetector

TINY = dict(num_classes=5, backbone_widths=(8, 16, 16, 24), fpn_filters=16, normalization="layer",
            max_level=5, max_detections=300)
TWO = dict(TINY, head_units=64, rpn_pre_nms_top_n_train=300, rpn_post_nms_top_n_train=64,
           rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=64, rpn_batch_per_image=64, roi_batch_per_image=32)


@pytest.fixture(scope="module")
def sparse_data():
    cfg = SimulatorConfig(image_size=(64, 64), tracks_per_image=(1, 3), chunk_size=8, pixel_mm=3.0,
                          delta_rate_scale=0.0, n_dust=1.0)
    s = BubbleChamberSimulator(cfg).generate(8, seed=7)
    return s, detection_arrays(s, max_boxes=8)


def _fit(model, data, steps, epochs, eager):
    _, (x, boxes, labels) = data
    model.build((None, 64, 64, 1))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), run_eagerly=eager)
    ds = make_dataset(x, boxes, labels, batch_size=4, shuffle=True, seed=0, repeat=True)
    return model.fit(ds, steps_per_epoch=steps, epochs=epochs, verbose=0).history


@pytest.mark.parametrize("cls", [TwoStageDetector, OneStageDetector])
def test_short_training_run_loss_falls(cls, sparse_data):
    kw = TWO if cls is TwoStageDetector else dict(TINY, head_conv_layers=1)
    hist = _fit(cls(**kw), sparse_data, steps=4, epochs=3, eager=False)
    assert hist["loss"][-1] < 0.8 * hist["loss"][0], hist
    if cls is TwoStageDetector:  # both stages learn
        assert hist["rpn_objectness_loss"][-1] < hist["rpn_objectness_loss"][0]
        assert hist["head_class_loss"][-1] < hist["head_class_loss"][0]


def test_jit_compile_is_refused(sparse_data):
    model = TwoStageDetector(**TWO)
    with pytest.warns(UserWarning, match="jit_compile=True is not supported"):
        model.compile(optimizer="adam", jit_compile=True)
    assert model.jit_compile is False


@pytest.mark.parametrize("cls", [TwoStageDetector, OneStageDetector])
def test_detector_reloads_in_safe_mode(cls, sparse_data, tmp_path):
    import pipelines.bubble  # noqa: F401  (registers the classes)

    _, (x, _, _) = sparse_data
    model = cls(**(TWO if cls is TwoStageDetector else TINY))
    model.build((None, 64, 64, 1))
    model.save(tmp_path / "model.keras")
    again = keras.models.load_model(tmp_path / "model.keras", safe_mode=True, compile=False)
    assert type(again) is cls and again.get_config() == model.get_config()
    a, b = model.detect(x[:2].astype("float32")), again.detect(x[:2].astype("float32"))
    np.testing.assert_allclose(np.asarray(a["scores"]), np.asarray(b["scores"]), atol=1e-5)
    np.testing.assert_allclose(np.asarray(a["boxes"]), np.asarray(b["boxes"]), atol=1e-3)


@pytest.mark.slow
def test_two_stage_finds_the_tracks_of_a_sparse_frame(sparse_data):
    """Slow (about a minute of training); the fast tests above cover training and decoding."""
    keras.utils.set_random_seed(0)
    s, (x, _, _) = sparse_data
    model = TwoStageDetector(**TWO)
    hist = _fit(model, sparse_data, steps=30, epochs=4, eager=False)
    assert hist["loss"][-1] < 0.75 * hist["loss"][0]
    det = model.detect(x[:4].astype("float32"))
    det = {"boxes": np.asarray(det["boxes"])[..., [1, 0, 3, 2]], "scores": np.asarray(det["scores"]),
           "classes": np.asarray(det["classes"])}
    res = coco_evaluate(s.boxes[:4], s.classes[:4], det, (64, 64), density_bins=(1, 1000))
    assert res["recall50"] >= 0.9, res
    assert res["AP50"] >= 0.5, res
