"""Physics readout: circle fits, p_T from radius, charge sign from curl and field, bubble finding."""

import numpy as np
import pytest

from pipelines.bubble.readout import (C_CURV, find_bubbles, fit_circle_kasa, fit_circle_taubin, near_polyline,
                                      readout_in_box, robust_circle, track_readout)
from pipelines.bubble.simulation import BubbleChamberSimulator, SimulatorConfig


@pytest.mark.parametrize("fit", [fit_circle_kasa, fit_circle_taubin])
def test_exact_circle_recovers_radius(fit):
    t = np.linspace(0.3, 1.4, 40)
    x, y = 210.0 + 123.4 * np.cos(t), -35.0 + 123.4 * np.sin(t)
    f = fit(x, y)
    assert abs(f["radius"] - 123.4) < 1e-6
    assert np.allclose(f["center"], (210.0, -35.0), atol=1e-6)
    assert f["residual_rms"] < 1e-8


def test_straight_line_has_zero_curvature_and_bad_input_errors():
    f = fit_circle_taubin(np.arange(10.0), 3 * np.arange(10.0) + 1)
    assert f["curvature"] == 0.0 and np.isinf(f["radius"]) and f["residual_rms"] < 1e-9
    with pytest.raises(ValueError, match="at least 3 points"):
        fit_circle_taubin([0, 1], [0, 1])
    with pytest.raises(ValueError, match="field_t = 0"):
        track_readout(np.arange(5.0), np.arange(5.0) ** 2, 0.0, 1e-3)


def test_pt_from_radius_and_sign_flips_with_field():
    # 0.5 GeV/c positive track in 1.5 T: R = 0.5 / (0.2998 * 1.5) m; 1 mm per pixel
    radius_px = 0.5 / (C_CURV * 1.5) / 1e-3
    # a positive charge turns with dphi/ds < 0 (simulator convention): clockwise in (x, y)
    phi = np.linspace(np.pi / 2, np.pi / 2 - 0.2, 60)
    x, y = 100 + radius_px * np.cos(phi), 100 + radius_px * np.sin(phi)
    r = track_readout(x, y, 1.5, 1e-3)
    assert abs(r["pt_gev"] - 0.5) < 1e-6
    assert r["charge_sign"] == 1
    assert track_readout(x, y, -1.5, 1e-3)["charge_sign"] == -1
    assert track_readout(x[::-1], y[::-1], 1.5, 1e-3)["charge_sign"] == -1  # reversed travel
    # unordered points are ordered towards +x by default
    perm = np.random.default_rng(0).permutation(len(x))
    assert track_readout(x[perm], y[perm], 1.5, 1e-3, ordered=False)["charge_sign"] == 1


def test_robust_fit_ignores_far_outliers():
    rng = np.random.default_rng(1)
    t = np.linspace(0, 1.5, 80)
    x, y = 50 + 60 * np.cos(t) + rng.normal(0, 0.2, 80), 20 + 60 * np.sin(t) + rng.normal(0, 0.2, 80)
    ox, oy = rng.uniform(0, 120, 40), rng.uniform(0, 120, 40)
    far = np.abs(np.hypot(ox - 50, oy - 20) - 60) > 5
    xs, ys = np.r_[x, ox[far]], np.r_[y, oy[far]]
    f = robust_circle(xs, ys, tol=1.0)
    assert abs(f["radius"] - 60) < 1.5
    assert f["inliers"][:80].mean() > 0.95 and not f["inliers"][80:].any()
    assert abs(fit_circle_taubin(xs, ys)["radius"] - 60) > 3  # the plain fit is pulled by them


def _sim(seed=3):
    cfg = SimulatorConfig(image_size=(192, 192), tracks_per_image=(2, 4), chunk_size=8)
    return cfg, BubbleChamberSimulator(cfg).generate(8, seed=seed, keep_paths=True)


def test_noisy_simulated_tracks_recover_pt_and_charge():
    cfg, s = _sim()
    errs, signs = [], []
    for i in range(8):
        for path, pt, q in zip(s.paths[i], s.path_pt[i], s.charge[i]):
            ins = (path[:, 0] >= 0) & (path[:, 0] <= 191) & (path[:, 1] >= 0) & (path[:, 1] <= 191)
            p = path[ins].astype(float)
            if len(p) < 8 or np.hypot(*np.diff(p, axis=0).T).sum() < 192 / 4:
                continue
            r = track_readout(p[:, 0], p[:, 1], cfg.field_t, cfg.pixel_mm * 1e-3)
            errs.append(abs(r["pt_gev"] - np.median(pt[ins])) / np.median(pt[ins]))
            signs.append(r["charge_sign"] == np.sign(q))
    assert len(errs) >= 10
    assert np.median(errs) < 0.05  # multiple scattering + energy loss limit
    assert np.mean(signs) >= 0.95


def test_bubbles_found_on_a_simulated_track_follow_its_path():
    cfg, s = _sim(5)
    centres, areas = find_bubbles(s.images[0])
    assert len(centres) > 20 and (areas >= 1).all()
    path = s.paths[0][0]
    pts, key = near_polyline(centres, path, 2.0)
    assert len(pts) >= 6 and np.all(np.diff(key) >= 0)
    box = s.boxes[0, 0]
    assert (pts[:, 0] >= box[0] - 2).all() and (pts[:, 0] <= box[2] + 2).all()
    r = readout_in_box(centres, [0, 0, 1, 1], cfg.field_t, 1e-3)
    assert r is None  # an empty box gives no readout


class TruthBoxDetector:
    """Stand-in detector returning fixed boxes (yxyx) for every frame."""

    max_detections = 4

    def __init__(self, boxes_yxyx):
        self.boxes = np.asarray(boxes_yxyx, np.float32)

    def detect(self, images):
        b, d = len(images), self.max_detections
        boxes = np.zeros((b, d, 4), np.float32)
        boxes[:, : len(self.boxes)] = self.boxes
        scores = np.zeros((b, d), np.float32)
        scores[:, : len(self.boxes)] = 0.9
        classes = np.full((b, d), -1, np.int32)
        classes[:, : len(self.boxes)] = 0
        return {"boxes": boxes, "scores": scores, "classes": classes}


def test_detect_files_writes_readout_per_track(tmp_path):
    import csv
    import json

    from PIL import Image

    from pipelines.bubble.inference import detect_files

    cfg, s = _sim(5)
    Image.fromarray(s.images[0]).save(tmp_path / "f.png")
    x0, y0, x1, y1 = s.boxes[0, 0]
    net = TruthBoxDetector([[y0, x0, y1, x1], [0, 0, 1, 1]])
    _, (js,) = detect_files(net, [tmp_path / "f.png"], tmp_path / "out", scale=1.0, field_t=cfg.field_t,
                            pixel_mm=cfg.pixel_mm)
    recs = json.loads(js.read_text())["detections"]
    centres, _ = find_bubbles(s.images[0].astype(float))
    want = readout_in_box(centres, recs[0]["box_xyxy"], cfg.field_t, 1e-3)
    assert recs[0]["n_points"] == want["n_points"] and recs[0]["charge_sign"] == want["charge_sign"]
    assert recs[0]["pt_gev"] == pytest.approx(want["pt_gev"], rel=1e-4)
    assert recs[1]["pt_gev"] is None  # a box without bubbles has no readout
    rows = list(csv.DictReader(open(tmp_path / "out" / "f.tracks.csv")))
    assert len(rows) == 2 and float(rows[0]["pt_gev"]) == pytest.approx(recs[0]["pt_gev"])


def test_film_calibration_knobs_change_the_look_not_the_labels():
    base = dict(image_size=(96, 96), tracks_per_image=(2, 4), chunk_size=4)
    a = BubbleChamberSimulator(SimulatorConfig(**base)).generate(4, seed=2)
    b = BubbleChamberSimulator(SimulatorConfig(**base, n_flash=3.0, light_level=200.0)).generate(4, seed=2)
    assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.classes, b.classes)
    assert np.median(b.images) < np.median(a.images) - 20  # darker background
    # flash smears: extra large dark regions (darker than 120) that are not tracks
    assert (b.images < 120).sum() > (a.images < 120).sum()


def test_find_tracks_separates_two_tracks_from_grain():
    from pipelines.bubble.readout import find_tracks

    rng = np.random.default_rng(4)
    s = np.arange(0, 300, 6.0)
    beam = np.stack([20 + s, 80 + 0.02 * s], -1)  # nearly straight, one bubble per 6 px
    t = np.linspace(0.2, 1.6, 40)
    arc = np.stack([150 + 90 * np.cos(t), 150 + 90 * np.sin(t)], -1)
    grain = rng.uniform(0, 320, (60, 2))
    pts = np.concatenate([beam + rng.normal(0, 0.3, beam.shape), arc + rng.normal(0, 0.3, arc.shape), grain])
    found = find_tracks(pts, tol_px=1.2, min_bubbles=12, seed=0)
    assert len(found) == 2
    sets = sorted((set(f["indices"].tolist()) for f in found), key=min)
    assert len(sets[0] & set(range(len(beam)))) >= 0.9 * len(beam)
    arc_ids = set(range(len(beam), len(beam) + len(arc)))
    assert len(sets[1] & arc_ids) >= 0.9 * len(arc)
    arc_fit = next(f["fit"] for f in found if set(f["indices"].tolist()) & arc_ids)
    assert abs(arc_fit["radius"] - 90) < 3


def test_find_tracks_joins_a_broken_track_but_not_its_parallel_neighbour():
    from pipelines.bubble.readout import find_tracks

    rng = np.random.default_rng(5)
    s = np.r_[np.arange(0, 150, 6.0), np.arange(220, 400, 6.0)]  # a 70 px gap (a crossing, a faint stretch)
    broken = np.stack([20 + s, 80 + 0.03 * s], -1)
    neighbour = np.stack([20 + np.arange(0, 400, 6.0), 92 + 0.03 * np.arange(0, 400, 6.0)], -1)  # 12 px below
    pts = np.concatenate([broken, neighbour]) + rng.normal(0, 0.3, (len(broken) + len(neighbour), 2))
    pts = np.concatenate([pts, rng.uniform(0, 420, (40, 2))])
    apart = find_tracks(pts, tol_px=1.2, min_bubbles=12, max_gap_px=25.0, seed=0, merge_gap_px=0)
    joined = find_tracks(pts, tol_px=1.2, min_bubbles=12, max_gap_px=25.0, seed=0)
    assert len(apart) == 3  # the broken track comes out as two fragments without the merge
    assert len(joined) == 2
    broken_ids = set(range(len(broken)))
    track = max(joined, key=lambda f: len(set(f["indices"].tolist()) & broken_ids))
    assert len(set(track["indices"].tolist()) & broken_ids) >= 0.9 * len(broken)
    assert not set(track["indices"].tolist()) & set(range(len(broken), len(broken) + len(neighbour)))
    assert track["box_xyxy"][2] - track["box_xyxy"][0] > 380  # the box spans the whole track


def test_merge_tracks_extends_a_track_over_a_short_faint_stretch():
    from pipelines.bubble.readout import find_tracks, merge_tracks

    rng = np.random.default_rng(6)
    s = np.r_[np.arange(0, 180, 6.0), np.arange(250, 292, 6.0)]  # 30 bubbles, a 70 px gap, 7 more (too few alone)
    track = np.stack([30 + s, 60 + 0.0004 * (s - 150) ** 2], -1) + rng.normal(0, 0.3, (len(s), 2))
    pts = np.concatenate([track, rng.uniform(0, 340, (30, 2))])
    plain = find_tracks(pts, tol_px=1.2, min_bubbles=12, max_gap_px=25.0, seed=0, merge_gap_px=0)
    assert len(plain) == 1 and len(plain[0]["indices"]) <= 31  # the 7-bubble tail is left behind
    grown = merge_tracks(pts, plain, tol_px=1.2, max_gap_px=100.0, join=False)
    assert len(grown) == 1
    ids = set(grown[0]["indices"].tolist())
    assert set(range(30, 37)) <= ids  # the tail joins
    assert len(ids - set(range(len(s)))) <= 1  # grain stays out (at most one stray on the circle)
    short = merge_tracks(pts, plain, tol_px=1.2, max_gap_px=50.0, join=False)  # a 70 px gap is too wide here
    assert not set(range(30, 37)) & set(short[0]["indices"].tolist())


def _ring(centre, radius, n, rng, start=0.0, span=2 * np.pi):
    t = start + np.linspace(0, span, n, endpoint=span < 2 * np.pi)
    return np.stack([centre[0] + radius * np.cos(t), centre[1] + radius * np.sin(t)], -1) + rng.normal(0, 0.25, (n, 2))


def test_find_curls_takes_closed_turns_not_arcs_lines_or_grain():
    from pipelines.bubble.readout import find_curls

    rng = np.random.default_rng(7)
    turn = _ring((60, 60), 14, 16, rng)  # a closed turn
    arc = _ring((200, 60), 14, 16, rng, span=np.pi / 2)  # as many bubbles, a quarter turn
    line = np.stack([np.arange(20, 200, 3.0), np.full(60, 160.0)], -1)  # a dotted straight track
    grain = rng.uniform(0, 260, (80, 2))
    pts = np.concatenate([turn, arc, line, grain])
    loops = find_curls(pts, radius_px=(6, 50), tol_px=1.0, min_bubbles=10, seed=0)
    assert len(loops) == 1, [(lp["centre"], lp["radius"]) for lp in loops]
    assert np.hypot(*np.subtract(loops[0]["centre"], (60, 60))) < 1.5 and abs(loops[0]["radius"] - 14) < 1.0
    assert len(set(loops[0]["indices"].tolist()) & set(range(16))) >= 14  # the turn's bubbles
    assert not set(loops[0]["indices"].tolist()) & set(range(16, 32))  # not the arc's bubbles
    # the same turn too small for the radius range, or with too few bubbles: nothing
    assert find_curls(pts, radius_px=(20, 50), tol_px=1.0, min_bubbles=10, seed=0) == []
    assert find_curls(pts, radius_px=(6, 50), tol_px=1.0, min_bubbles=18, seed=0) == []


def test_group_curls_chains_a_spirals_turns_and_keeps_apart_distant_loops():
    from pipelines.bubble.readout import group_curls

    spiral = [{"centre": (100 + 4 * k, 100), "radius": 30 - 6 * k} for k in range(4)]  # shrinking, drifting turns
    alone = {"centre": (300, 100), "radius": 20}
    groups = group_curls([spiral[0], alone, *spiral[1:]])
    assert sorted(map(sorted, groups)) == [[0, 2, 3, 4], [1]]
    assert group_curls([]) == []
