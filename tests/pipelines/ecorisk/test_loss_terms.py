"""The composite loss on ecorisk data, through get_loss("ecological_fairness") as the pipeline builds it."""

import numpy as np
import pytest
import tensorflow as tf

from sciarch.losses import get_loss


def _batch(pipeline, split="train"):
    x, y = next(iter(pipeline.build_inputs(split)))
    return x, {k: v.numpy() for k, v in y.items()}


def test_pipeline_builds_the_registered_loss_with_zone_count(points_pipeline):
    loss = points_pipeline.build_loss()
    assert type(loss).__name__ == "EcologicalFairnessLoss"
    assert loss.num_zones == 2  # protected vs not
    with pytest.raises(ValueError, match="num_zones=1 but data.zone 'protected' has 2 zones"):
        points_pipeline.build_loss(num_zones=1)


def test_false_negative_on_high_importance_point_costs_more(points_pipeline):
    _, y = _batch(points_pipeline)
    loss = get_loss("ecological_fairness", lambda_eco=1.0, lambda_fair=0.0, num_zones=2)
    t, imp = y["target"][:, 0], y["importance"][:, 0]
    pos = np.flatnonzero(t == 1)
    hi, lo = pos[np.argmax(imp[pos])], pos[np.argmin(imp[pos])]
    assert imp[hi] > 2 * imp[lo]  # real biomass differences in one batch

    def loss_with_miss(i):
        p = np.where(t == 1, 0.9, 0.1).astype("float32")[:, None]
        p[i] = 0.1  # the one false negative
        return {k: float(v) for k, v in loss.terms(y["target"], p, context=y).items()}

    miss_hi, miss_lo = loss_with_miss(hi), loss_with_miss(lo)
    assert miss_hi["bce"] == pytest.approx(miss_lo["bce"], rel=1e-6)  # BCE does not see importance
    assert miss_hi["eco"] > miss_lo["eco"]
    n = len(t)
    # mean over the batch of importance * y * -log p: the missed point pays -log 0.1, the other -log 0.9
    expected = (imp[hi] - imp[lo]) * (np.log(0.9) - np.log(0.1)) / n
    assert miss_hi["eco"] - miss_lo["eco"] == pytest.approx(expected, rel=1e-4)


def test_equal_zone_means_give_zero_fairness_term(amazon_pipeline):
    _, y = _batch(amazon_pipeline)
    z = y["zone"][:, 0]
    assert set(np.unique(z)) == {0, 1}
    loss = amazon_pipeline.build_loss(lambda_fair=50.0)
    # every record 0.3 -> equal zone means
    p = np.full_like(y["target"], 0.3)
    assert float(loss.terms(y["target"], p, context=y)["fair"]) == pytest.approx(0.0, abs=1e-9)
    # different predictions, same mean in each zone: still zero
    rng = np.random.default_rng(0)
    p = np.zeros_like(y["target"])
    for k in (0, 1):
        idx = np.flatnonzero(z == k)
        v = rng.uniform(0.1, 0.9, len(idx))
        p[idx, 0] = v - v.mean() + 0.5
    assert float(loss.terms(y["target"], p, context=y)["fair"]) == pytest.approx(0.0, abs=1e-7)
    # zone means 0.2 and 0.6: λ · population variance = 50 · 0.2² = 2
    p = np.where(z == 0, 0.2, 0.6).astype("float32")[:, None]
    assert float(loss.terms(y["target"], p, context=y)["fair"]) == pytest.approx(50 * 0.04, rel=1e-4)


def test_bce_term_is_plain_binary_crossentropy(amazon_pipeline):
    _, y = _batch(amazon_pipeline)
    p = np.random.default_rng(1).uniform(0.05, 0.95, y["target"].shape).astype("float32")
    loss = amazon_pipeline.build_loss()
    bce = tf.keras.losses.binary_crossentropy(y["target"], p)
    assert float(loss.terms(y["target"], p, context=y)["bce"]) == pytest.approx(float(np.mean(bce)), rel=1e-3)


def test_raster_pixels_outside_the_split_are_ignored(raster_pipeline):
    x, y, w = next(iter(raster_pipeline.build_inputs("train")))
    y = {k: v.numpy() for k, v in y.items()}
    w = w.numpy()
    assert 0 < w.mean() < 1  # sea, non-forest and other-split pixels are weighted 0
    assert (y["zone"][w == 0] == -1).all()
    loss = raster_pipeline.build_loss()
    p = np.full_like(y["target"], 0.2)
    base = float(loss(y["target"], p, context=y, sample_weight=w))
    p2 = p.copy()
    p2[w == 0] = 0.999  # predictions on ignored pixels do not matter
    assert float(loss(y["target"], p2, context=y, sample_weight=w)) == pytest.approx(base, rel=1e-6)
