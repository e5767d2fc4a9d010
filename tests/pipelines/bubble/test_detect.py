"""`sciarch bubble detect` / detect_files: input checks, bit depth, duplicate names, tiled inference.

Tiling is tested with a translation-equivariant stand-in detector (one box per connected dark
component) so that the expected boxes are known exactly; the real detector is checked for
the single-frame path (unchanged) and for 8-bit vs 16-bit inputs.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from pipelines.bubble.inference import detect_image, merge_tile_detections, output_stems, tile_origins
from pipelines.bubble.inference import detect_files

REAL_SCAN = Path(__file__).resolve().parents[3] / "data" / "bubble" / "bubble_chamber_photo_left.png"


class BlobDetector:
    """Stand-in for the detector's ``detect``: one box (yxyx) per connected component darker than 100."""

    def __init__(self, max_detections=50):
        self.max_detections = max_detections
        self.calls = []

    def detect(self, images):
        images = np.asarray(images)[..., 0]
        self.calls.append(images.shape)
        b, d = len(images), self.max_detections
        boxes = np.zeros((b, d, 4), np.float32)
        scores = np.zeros((b, d), np.float32)
        classes = np.full((b, d), -1, np.int32)
        for i in range(b):
            lab, _ = ndimage.label(images[i] < 100)
            for k, sl in enumerate(ndimage.find_objects(lab)[:d]):
                boxes[i, k] = [sl[0].start, sl[1].start, sl[0].stop, sl[1].stop]
                scores[i, k] = 0.9 - 0.001 * k
                classes[i, k] = 1
        return {"boxes": boxes, "scores": scores, "classes": classes}


def _frame(n_blobs=5, size=128, seed=0):
    """A light 128x128 frame with ``n_blobs`` dark separated rectangles and one long horizontal track."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size), 220, np.uint8)
    boxes = []
    img[60:63, 4:124] = 20  # a long track crossing most of the frame
    boxes.append([60, 4, 63, 124])
    cells = [(r, c) for r in range(4) for c in range(4) if r != 1 and r != 2]  # rows away from the track
    for r, c in [cells[i] for i in rng.permutation(len(cells))[:n_blobs - 1]]:
        y, x = 6 + 30 * r + int(rng.integers(0, 8)), 6 + 30 * c + int(rng.integers(0, 8))
        h, w = int(rng.integers(3, 12)), int(rng.integers(3, 12))
        img[y:y + h, x:x + w] = 30
        boxes.append([y, x, y + h, x + w])
    return img, np.array(sorted(boxes), np.float64)


def _sorted(b):
    b = np.asarray(b, np.float64).reshape(-1, 4)
    return b[np.lexsort(b.T[::-1])]


# ---------------------------------------------------------------------------------------- tiling
def test_tile_origins_cover_with_overlap():
    assert tile_origins(100, 128, 32) == [0]
    assert tile_origins(256, 128, 32) == [0, 96, 128]
    o = tile_origins(1000, 128, 32)
    assert o[0] == 0 and o[-1] == 1000 - 128 and all(b - a <= 96 for a, b in zip(o, o[1:]))


def test_single_tile_image_is_one_padded_frame():
    img, truth = _frame()
    det = BlobDetector()
    out = detect_image(det, img.astype(np.float32), tile_size=(128, 128), score_threshold=0.3)
    assert out["n_tiles"] == 1 and det.calls == [(1, 128, 128)]
    np.testing.assert_array_equal(_sorted(out["boxes"]), truth)
    untiled = detect_image(BlobDetector(), img.astype(np.float32), tile_size=None)
    np.testing.assert_array_equal(_sorted(untiled["boxes"]), _sorted(out["boxes"]))


def test_mosaic_of_four_copies_gives_four_times_the_boxes_at_matching_positions():
    img, truth = _frame()
    mosaic = np.tile(img, (2, 2))
    out = detect_image(BlobDetector(), mosaic.astype(np.float32), tile_size=(128, 128), score_threshold=0.3,
                       progress=True)
    assert out["n_tiles"] == 9 and out["tile_size"] == (128, 128)
    want = np.concatenate([truth + [dy, dx, dy, dx] for dy in (0, 128) for dx in (0, 128)])
    np.testing.assert_array_equal(_sorted(out["boxes"]), _sorted(want))
    assert out["max_detections"] == 9 * 50


def test_track_cut_by_several_seams_is_one_box():
    img = np.full((64, 400), 220, np.float32)
    img[30:33, 5:395] = 10  # crosses 3 seams of 128-wide tiles
    img[5:9, 200:206] = 10  # a blob inside one overlap strip: seen whole by two tiles, reported once
    out = detect_image(BlobDetector(), img, tile_size=(64, 128), score_threshold=0.3)
    assert out["n_tiles"] == 4
    np.testing.assert_array_equal(_sorted(out["boxes"]), [[5, 200, 9, 206], [30, 5, 33, 395]])


def test_crowded_image_is_not_capped_at_one_frame():
    img = np.full((128, 128), 220, np.uint8)
    for k in range(10):
        img[8 + 11 * k:12 + 11 * k, 50:60] = 0
    mosaic = np.tile(img, (3, 3)).astype(np.float32)
    det = BlobDetector(max_detections=10)
    single = detect_image(det, img.astype(np.float32), tile_size=(128, 128))
    assert len(single["boxes"]) == 10
    out = detect_image(BlobDetector(max_detections=10), mosaic, tile_size=(128, 128))
    assert len(out["boxes"]) == 90 and out["max_detections"] > 90


def test_merge_keeps_distinct_tracks_of_one_tile_and_other_classes():
    rects = np.array([[0, 0, 128, 128], [0, 96, 128, 224]], float)
    boxes = np.array([[10, 100, 20, 128], [10, 96, 20, 140], [10, 100, 20, 128], [50, 5, 60, 30]], float)
    b, s, c, n = merge_tile_detections(boxes, [0.9, 0.8, 0.7, 0.6], [1, 1, 2, 1], [0, 1, 1, 0], rects)
    # 0 and 1 are one track (same class, agree inside the shared strip); 2 has another class
    assert sorted(n.tolist()) == [1, 1, 2]
    assert [10, 96, 20, 140] in b.tolist() and [10, 100, 20, 128] in b.tolist()


def test_output_stems_disambiguate_same_names():
    assert output_stems(["a/scan.png", "b/scan.png", "c/other.png"]) == ["a_scan", "b_scan", "other"]
    assert output_stems(["a/scan.png", "a/scan.png"]) == ["a_scan", "a_scan-2"]


# ---------------------------------------------------------------------------------------- files
def test_duplicate_file_names_get_distinct_outputs(tmp_path):
    img, truth = _frame()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.fromarray(img).save(tmp_path / "a" / "scan.png")
    Image.fromarray(img[:, ::-1]).save(tmp_path / "b" / "scan.png")
    _, jsons = detect_files(BlobDetector(), [tmp_path / "a" / "scan.png", tmp_path / "b" / "scan.png"],
                            tmp_path / "out", scale=1.0, tile_size=(128, 128))
    assert [j.name for j in jsons] == ["a_scan.boxes.json", "b_scan.boxes.json"]
    a, b = (json.loads(j.read_text()) for j in jsons)
    assert a["output"] == "a_scan" and "same file name" in a["output_note"]
    assert a["image"].endswith("a/scan.png") and b["image"].endswith("b/scan.png")
    assert a["detections"] != b["detections"] and len(a["detections"]) == len(b["detections"]) == len(truth)
    assert (tmp_path / "out" / "a_scan.overlay.png").is_file() and (tmp_path / "out" / "b_scan.overlay.png").is_file()


@pytest.fixture(scope="module")
def tiny_model():
    from pipelines.bubble.model import build_detector
    from pipelines.bubble.pipeline import BubbleModelConfig

    cfg = BubbleModelConfig(backbone_widths=(8, 16, 16, 16), fpn_filters=16, head_units=32, max_level=5,
                            rpn_post_nms_top_n_test=64, rpn_pre_nms_top_n_test=200, score_threshold=0.0)
    import keras

    keras.utils.set_random_seed(0)
    m = build_detector(cfg, num_classes=5, seed=0)
    m.build((None, 64, 64, 1))
    return m


def test_sixteen_bit_scan_gives_the_8bit_detections(tmp_path, tiny_model):
    grey = np.asarray(Image.open(REAL_SCAN).convert("L"))[:256, :512]
    Image.fromarray(grey).save(tmp_path / "scan8.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "scan16.png")
    assert Image.open(tmp_path / "scan16.png").mode.startswith("I")
    _, jsons = detect_files(tiny_model, [tmp_path / "scan8.png", tmp_path / "scan16.png"], tmp_path / "out",
                            scale=0.5, score_threshold=0.0, tile_size=(128, 128))
    d8, d16 = (json.loads(j.read_text()) for j in jsons)
    assert d8["tiles"] == d16["tiles"] == 3
    assert len(d8["detections"]) > 0
    assert d16["detections"] == d8["detections"]


def test_single_frame_image_detections_unchanged(tmp_path, tiny_model):
    """An image that fits one training frame: exactly the historical resize + pad + detect."""
    grey = np.asarray(Image.open(REAL_SCAN).convert("L"))[300:500, 800:1000]
    Image.fromarray(grey).save(tmp_path / "crop.png")
    _, (js,) = detect_files(tiny_model, [tmp_path / "crop.png"], tmp_path / "out", scale=0.5, score_threshold=0.0,
                            tile_size=(128, 128))
    got = json.loads(js.read_text())
    assert got["tiles"] == 1
    # the former implementation, inline
    img = Image.open(tmp_path / "crop.png").convert("L")
    arr = np.asarray(img.resize((100, 100), Image.BILINEAR), dtype=np.float32)
    padded = np.pad(arr, ((0, 28), (0, 28)), constant_values=float(np.median(arr)))
    det = tiny_model.detect(padded[None, ..., None])
    s, c = np.asarray(det["scores"])[0], np.asarray(det["classes"])[0]
    keep = (c >= 0) & (s >= 0.0)
    yxyx = np.asarray(det["boxes"])[0][keep] / 0.5
    want = [[round(float(v), 1) for v in (b[1], b[0], min(b[3], 200), min(b[2], 200))] for b in yxyx]
    assert [d["box_xyxy"] for d in got["detections"]] == want
    assert [d["score"] for d in got["detections"]] == [round(float(v), 4) for v in s[keep]]


# ---------------------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model):
    run = tmp_path_factory.mktemp("run")
    tiny_model.save(run / "model.keras")
    (run / "config.yaml").write_text("pipeline: bubble\ndata:\n  image_size: [64, 64]\n")
    return run


def _invoke(args):
    from typer.testing import CliRunner

    from pipelines.bubble.cli import app

    return CliRunner().invoke(app, ["detect", *args])


def _one_error_line(res):
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2, res.output
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.output, res.output
    return lines[0]


def test_cli_bad_image_fails_before_any_work(tmp_path, run_dir):
    good = tmp_path / "good.png"
    Image.fromarray(_frame()[0]).save(good)
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(REAL_SCAN.read_bytes()[:20000])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("not an image\n")
    out = tmp_path / "det"
    cases = {truncated: "unreadable or truncated image", tmp_path / "empty.png": "empty file, not an image",
             tmp_path / "notes.png": "not an image file", tmp_path / "missing.png": "no such image file"}
    for bad, reason in cases.items():
        line = _one_error_line(_invoke(["--model", str(run_dir), "--image", str(good), "--image", str(bad),
                                        "--out", str(out)]))
        assert line.startswith(f"error: {bad}: {reason}"), line
        assert not out.exists()  # validated first: the good image was not processed either


@pytest.mark.parametrize("opt,value,msg", [("--scale", "0", "--scale 0.0: must be a resize factor > 0"),
                                           ("--scale", "-1", "--scale -1.0: must be a resize factor > 0"),
                                           ("--scale", "nan", "--scale nan"), ("--scale", "inf", "--scale inf"),
                                           ("--score", "1.5", "--score 1.5: must be a score in [0, 1]"),
                                           ("--score", "-0.1", "--score -0.1: must be a score in [0, 1]")])
def test_cli_refuses_bad_scale_and_score(tmp_path, run_dir, opt, value, msg):
    img = tmp_path / "frame.png"
    Image.fromarray(_frame()[0]).save(img)
    line = _one_error_line(_invoke(["--model", str(run_dir), "--image", str(img), opt, value,
                                    "--out", str(tmp_path / "det")]))
    assert line.startswith(f"error: {msg}"), line
    assert not (tmp_path / "det").exists()


def test_cli_tiles_by_the_run_config_frame_size(tmp_path, run_dir):
    img = tmp_path / "wide.png"
    Image.fromarray(np.tile(_frame()[0], (1, 2))).save(img)  # 128 x 256 at scale 0.5 -> 64 x 128: 3 tiles of 64
    res = _invoke(["--model", str(run_dir), "--image", str(img), "--scale", "0.5", "--score", "0.0",
                   "--out", str(tmp_path / "det")])
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "det" / "wide.boxes.json").read_text())
    assert out["tiles"] == 3 and out["tile_size"] == [64, 64] and out["max_detections"] == 3 * 300
    assert all(np.isfinite(d["box_xyxy"]).all() and 0 <= d["box_xyxy"][0] <= d["box_xyxy"][2] <= 256
               for d in out["detections"])


def _dotted_scan(rng):
    """A 300 x 420 film-like frame: a straight beam broken by a 60 px gap, an arc of radius 150 px,
    a dark frame edge along the bottom row and grain."""
    img = np.full((300, 420), 225.0) + rng.normal(0, 4, (300, 420))
    yy, xx = np.mgrid[:300, :420]

    def dot(x, y, r=1.6):
        img[(xx - x) ** 2 + (yy - y) ** 2 <= r * r] = 60

    for s in np.r_[np.arange(10, 170, 6.0), np.arange(230, 410, 6.0)]:
        dot(s, 60 + 0.02 * s)
    for t in np.linspace(0.35, 1.35, 26):  # 6 px apart
        dot(60 + 150 * np.cos(t), 90 + 150 * np.sin(t))
    for x, y in rng.uniform([5, 5], [415, 295], (25, 2)):
        dot(x, y, 1.0)
    for x in np.arange(3, 418, 5.0):  # the scan's frame edge: dark specks along the last rows
        dot(x, 298.5, 1.2)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_cli_classical_finder_needs_no_run_and_reads_each_track(tmp_path):
    img = tmp_path / "scan.png"
    Image.fromarray(_dotted_scan(np.random.default_rng(0))).save(img)
    res = _invoke(["--method", "classical", "--image", str(img), "--scale", "1.0", "--field-t", "1.5",
                   "--pixel-mm", "1.0", "--out", str(tmp_path / "det")])
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "det" / "scan.boxes.json").read_text())
    assert out["method"] == "classical" and out["score_threshold"] is None
    dets = sorted(out["detections"], key=lambda d: d["box_xyxy"][1])
    assert len(dets) == 2, [d["box_xyxy"] for d in dets]  # the beam in one piece, the arc; no frame edge
    beam, arc = dets
    assert beam["box_xyxy"][0] < 15 and beam["box_xyxy"][2] > 405  # across the 60 px gap
    assert beam["n_bubbles"] >= 50 and beam["class"] == "track"
    assert abs(arc["radius_m"] - 0.150) < 0.006  # 150 px at 1 mm per pixel
    assert abs(arc["pt_gev"] - 0.2998 * 1.5 * arc["radius_m"]) < 1e-3
    ends = np.asarray(arc["polyline"])[[0, -1]]
    assert np.allclose(sorted(ends[:, 0]), [60 + 150 * np.cos(1.35), 60 + 150 * np.cos(0.35)], atol=4)
    rows = (tmp_path / "det" / "scan.tracks.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("x0,y0,x1,y1,score,class,pt_gev")


def test_consensus_keeps_what_most_runs_find_as_its_medoid():
    from pipelines.bubble.inference import consensus_tracks

    beam = np.stack([np.arange(0, 200, 5.0), np.full(40, 50.0)], -1)
    arc = np.stack([100 + 80 * np.cos(np.linspace(0, 1, 20)), 100 + 80 * np.sin(np.linspace(0, 1, 20))], -1)
    clutter = np.stack([np.arange(300, 340, 4.0), np.arange(300, 340, 4.0)], -1)
    runs = [[beam, arc], [arc[2:], beam[:30], clutter], [beam[5:], arc]]  # the clutter in one run of three
    keep = consensus_tracks(runs)
    assert [(r, t) for r, t, _ in keep] == [(0, 0), (0, 1)]  # beam, arc: the medoids are run 0's (whole) tracks
    assert [n for *_, n in keep] == [3, 3]
    # a track found by exactly half of the runs is not a majority
    assert consensus_tracks([[beam], [arc]]) == []
    # disjoint halves are two tracks; the whole beam of a third run joins the first (a tie: the earlier cluster)
    assert consensus_tracks([[beam[:20]], [beam[20:]], [beam]]) == [(0, 0, 2)]
    assert consensus_tracks([[beam[:20]], [beam[20:]], [beam]], jaccard=0.6) == []


def test_classical_finder_consensus_agrees_with_one_run_on_a_clean_scan():
    from pipelines.bubble.inference import ClassicalFinder

    scan = _dotted_scan(np.random.default_rng(0)).astype(np.float64)
    one = ClassicalFinder(curls=False).detect_scan(scan)
    three = ClassicalFinder(curls=False, consensus=3).detect_scan(scan)
    assert len(three["boxes"]) == len(one["boxes"]) == 2 and list(three["support"]) == [3, 3]
    assert np.abs(np.sort(three["boxes"], 0) - np.sort(one["boxes"], 0)).max() < 3
    with pytest.raises(ValueError, match="consensus must be >= 1"):
        ClassicalFinder(consensus=0)


def test_cli_model_method_needs_a_run(tmp_path):
    img = tmp_path / "frame.png"
    Image.fromarray(_frame()[0]).save(img)
    line = _one_error_line(_invoke(["--image", str(img), "--out", str(tmp_path / "det")]))
    assert line.startswith("error: --model RUN is required with --method model"), line
    line = _one_error_line(_invoke(["--method", "hough", "--image", str(img)]))
    assert line.startswith("error: --method 'hough': must be 'model' or 'classical'"), line
    line = _one_error_line(_invoke(["--method", "classical", "--consensus", "0", "--image", str(img)]))
    assert line.startswith("error: --consensus 0: must be >= 1, and applies to --method classical only"), line


def test_classical_finder_reports_a_spiral_as_one_box_without_charge(tmp_path):
    """A dotted spiral (three shrinking, drifting turns) beside a straight beam: the spiral is one
    box of class ``spiral`` around all its turns, its readout has no charge sign; the beam stays a track."""
    rng = np.random.default_rng(3)
    img = np.full((240, 320), 225.0) + rng.normal(0, 4, (240, 320))
    yy, xx = np.mgrid[:240, :320]

    def dot(x, y, r=1.4):
        img[(xx - x) ** 2 + (yy - y) ** 2 <= r * r] = 60

    for x in np.arange(10, 310, 6.0):
        dot(x, 30 + 0.01 * x)
    t = np.linspace(0, 6 * np.pi, 4000)
    radius = 24 - 2.5 * t / np.pi  # 24 px shrinking to 9 px over three turns
    cx, cy = 160 + 1.5 * t, 140.0
    px, py = cx + radius * np.cos(t), cy + radius * np.sin(t)
    arc = np.r_[0, np.cumsum(np.hypot(np.diff(px), np.diff(py)))]
    for s in np.arange(0, arc[-1], 4.5):  # a bubble every 4.5 px along the path
        i = int(np.searchsorted(arc, s))
        dot(px[i], py[i])
    path = tmp_path / "spiral.png"
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    res = _invoke(["--method", "classical", "--image", str(path), "--scale", "1.0", "--field-t", "1.5",
                   "--out", str(tmp_path / "det")])
    assert res.exit_code == 0, res.output
    dets = json.loads((tmp_path / "det" / "spiral.boxes.json").read_text())["detections"]
    spirals = [d for d in dets if d["class"] == "spiral"]
    tracks = [d for d in dets if d["class"] == "track"]
    assert len(spirals) == 1 and len(tracks) == 1, [(d["class"], d["box_xyxy"]) for d in dets]
    x0, y0, x1, y1 = spirals[0]["box_xyxy"]
    truth = (px.min(), py.min(), px.max(), py.max())
    assert abs(x0 - truth[0]) < 6 and abs(y0 - truth[1]) < 6 and abs(x1 - truth[2]) < 6 and abs(y1 - truth[3]) < 6
    assert spirals[0]["charge_sign"] is None and spirals[0]["radius_m"] is not None
    assert tracks[0]["box_xyxy"][0] < 15 and tracks[0]["box_xyxy"][2] > 300 and tracks[0]["charge_sign"] is not None
    # without the spiral search the same scan gives no spiral
    from pipelines.bubble.inference import ClassicalFinder

    found = ClassicalFinder(curls=False).detect_scan(np.asarray(Image.open(path), np.float64))
    assert "spiral" not in found.get("kinds", [])
