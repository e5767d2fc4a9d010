"""Backbone, RPN and RoIAlign layers: shapes, values, serialisation."""

import keras
import numpy as np

from pipelines.bubble.backbone import TrackBackbone
from pipelines.bubble.roi_align import MultiLevelRoIAlign
from pipelines.bubble.rpn import RegionProposalNetwork


def test_roi_align_output_shape_and_level_sampling():
    # feature value = column index of the image pixel at the centre of each cell (stride 8 / 16)
    p3 = np.tile((np.arange(8) * 8 + 3.5)[None, None, :, None], (2, 8, 1, 3)).astype("float32")
    p4 = np.tile((np.arange(4) * 16 + 7.5)[None, None, :, None], (2, 4, 1, 3)).astype("float32")
    boxes = np.array([[[8, 8, 24, 40], [0, 0, 64, 64], [30, 20, 31, 22]]] * 2, "float32")
    ra = MultiLevelRoIAlign(output_size=4, canonical_size=32.0, canonical_level=4)
    out = np.asarray(ra({"P3": p3, "P4": p4}, boxes))
    assert out.shape == (2, 3, 4, 4, 3)
    # bilinear sampling of a linear ramp returns the x coordinate: the mean over the patch is the box centre
    np.testing.assert_allclose(out[0, 0].mean(), 24.0, atol=0.6)
    np.testing.assert_allclose(out[0, 1].mean(), 32.0, atol=1.0)
    # columns increase left to right inside a patch
    assert (np.diff(out[0, 0, 0, :, 0]) > 0).all()
    cfg = ra.get_config()
    assert MultiLevelRoIAlign.from_config(cfg).get_config() == cfg


def test_rpn_shapes_follow_anchor_order():
    rpn = RegionProposalNetwork(num_anchors=10, filters=8)
    feats = {"P3": np.zeros((2, 8, 8, 4), "float32"), "P4": np.zeros((2, 4, 4, 4), "float32")}
    logits, deltas = rpn(feats)
    assert tuple(logits.shape) == (2, (64 + 16) * 10) and tuple(deltas.shape) == (2, 800, 4)


def test_backbone_levels_and_serialisation(tmp_path):
    bb = TrackBackbone(widths=(8, 16, 16, 24), fpn_filters=8, min_level=3, max_level=6)
    feats = bb(np.full((1, 96, 64, 1), 255.0, "float32"))
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        "P3": (1, 12, 8, 8), "P4": (1, 6, 4, 8), "P5": (1, 3, 2, 8), "P6": (1, 2, 1, 8)}
    inp = keras.Input((64, 64, 1))
    model = keras.Model(inp, bb(inp)["P4"])
    model.save(tmp_path / "bb.keras")
    again = keras.models.load_model(tmp_path / "bb.keras", safe_mode=True)
    x = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), atol=1e-5)
