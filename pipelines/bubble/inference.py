"""Detection on image files of any size: input checks, bit-depth scaling, tiled inference.

* :func:`check_images` -- open and fully decode every file first; the first unreadable one
  (missing, empty, not an image, truncated) raises :class:`~sciarch.config.ConfigError`
  naming it, before any detection runs.
* :func:`load_grey` -- the grey-scale image in the model's 0..255 range (the detector is
  trained on 8-bit frames): 8-bit images as before (``convert("L")``); 16-bit images scaled
  by their bit depth (``v / 65535 * 255``, rounded to the 8-bit grid, so a 16-bit copy of an
  8-bit picture gives exactly its detections); 32-bit integer images by ``2**32 - 1`` (or
  ``65535`` when every value fits 16 bits, as for 16-bit files some readers widen); float
  images are taken as 0..1 intensities when they lie in [0, 1] (else as 0..255) and kept as
  floats; bilevel images as 0 / 255.
* :func:`detect_image` -- resize by ``scale`` (to the training pixel scale), then, when the
  image is larger than one training frame, cut it into overlapping tiles of the training
  image size, detect per tile (each tile keeps the model's own ``max_detections``, so the
  per-image capacity grows with the number of tiles), map the boxes back to image
  coordinates and merge the pieces of one track across tile seams
  (:func:`merge_tile_detections`). An image that fits one tile is detected as one padded
  frame, exactly as without tiling.
* :func:`output_stems` -- distinct output names for inputs that share a file name.
* :func:`predict_frames` -- ``model.predict`` on a stack of frames, boxes as xyxy (evaluation).
* :func:`detect_files` -- all of the above for a list of files: ``<stem>.boxes.json`` and
  ``<stem>.overlay.png`` per image (``sciarch bubble detect`` and the report's real scan).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from sciarch.config import ConfigError

#: the coarsest stride of the detector's pyramid: frames are padded to a multiple of it
STRIDE = 32


def _ceil_to(n: int, m: int = STRIDE) -> int:
    return int(-(-int(n) // m) * m)


def check_scale(scale: float, score_threshold: float | None = None) -> None:
    """``scale`` must be a finite factor in (0, 4]; ``score_threshold`` a number in [0, 1]."""
    if not isinstance(scale, (int, float)) or not math.isfinite(scale) or not 0 < scale <= 4:
        raise ConfigError(f"--scale {scale}: must be a resize factor > 0 and <= 4 (match the training pixel scale)")
    if score_threshold is not None and (not math.isfinite(score_threshold) or not 0 <= score_threshold <= 1):
        raise ConfigError(f"--score {score_threshold}: must be a score in [0, 1]")


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise ConfigError(f"{path}: no such image file")
    if path.stat().st_size == 0:
        raise ConfigError(f"{path}: empty file, not an image")
    try:
        img = Image.open(path)
        img.load()  # decodes every pixel: truncated data fails here, not half-way through a run
    except UnidentifiedImageError:
        raise ConfigError(f"{path}: not an image file (PNG/JPEG/TIFF expected)") from None
    except Image.DecompressionBombError as exc:
        raise ConfigError(f"{path}: image too large to open safely ({exc})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # PIL's decoders raise these on bad data
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"{path}: unreadable or truncated image ({reason})") from None
    return img


def check_images(paths: Sequence[str | Path]) -> None:
    """Open and decode every image; raise ConfigError naming the first unreadable one."""
    for p in paths:
        _open(Path(p)).close()


def load_grey(path: str | Path) -> tuple["object", np.ndarray | None]:
    """``(pil_image, scaled)``: ``pil_image`` is the grey image on 0..255 (mode "L", or "F"
    for float inputs); ``scaled`` is None for 8-bit inputs (read as before) and otherwise the
    scaled values as an array (for the overlay)."""
    from PIL import Image

    path = Path(path)
    img = _open(path)
    mode = img.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img)
        if mode.startswith("I;16"):
            arr = arr.astype(np.float64) * (255.0 / 65535.0)
        elif mode == "I":
            arr = arr.astype(np.float64)
            top = 65535.0 if arr.min(initial=0) >= 0 and arr.max(initial=0) <= 65535 else 4294967295.0
            if arr.min(initial=0) < 0:  # signed 32-bit
                arr = arr + 2147483648.0
            arr = arr * (255.0 / top)
        else:  # float: 0..1 intensities, or already 0..255
            arr = arr.astype(np.float64)
            finite = np.isfinite(arr)
            if not finite.any():
                raise ConfigError(f"{path}: image holds no finite pixel value")
            arr = np.where(finite, arr, np.nanmedian(np.where(finite, arr, np.nan)))
            if arr.min() >= 0 and arr.max() <= 1.0:
                arr = arr * 255.0
        arr = np.clip(arr, 0, 255)
        if mode == "F":
            arr = arr.astype(np.float32)
            return Image.fromarray(arr, mode="F"), arr
        arr = np.rint(arr).astype(np.uint8)
        return Image.fromarray(arr, mode="L"), arr
    return img.convert("L"), None


def tile_origins(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of ``tile``-long windows covering ``length`` with at least ``overlap``
    shared pixels; the last window is shifted inwards to end at ``length``."""
    if length <= tile:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def _clip(boxes: np.ndarray, rect: np.ndarray) -> np.ndarray:
    y0 = np.maximum(boxes[..., 0], rect[0])
    x0 = np.maximum(boxes[..., 1], rect[1])
    y1 = np.minimum(boxes[..., 2], rect[2])
    x1 = np.minimum(boxes[..., 3], rect[3])
    return np.stack([y0, x0, y1, x1], -1)


def merge_tile_detections(boxes, scores, classes, tile_ids, tile_rects, match_iou: float = 0.5, min_side: float = 1.0):
    """Merge detections of overlapping tiles into one per track.

    Two detections of the same class from two overlapping tiles are the same track when
    their parts inside the pixels both tiles see (the tiles' common rectangle) overlap with
    IoU >= ``match_iou`` -- that holds both for a track seen whole by both tiles and for the
    two halves of a track cut by a seam. Greedy by score: the best detection seeds a group,
    which grows through neighbouring tiles (at most one detection per tile); the group's box
    is the union of its members, its score the highest.

    Args:
        boxes: ``[N, 4]`` yxyx in image pixels. scores, classes, tile_ids: ``[N]``.
        tile_rects: ``[T, 4]`` yxyx extent of each tile in image pixels.

    Returns:
        ``(boxes [K, 4], scores [K], classes [K], group sizes [K])`` sorted by score.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).ravel()
    classes = np.asarray(classes).ravel()
    tile_ids = np.asarray(tile_ids).ravel()
    tile_rects = np.asarray(tile_rects, np.float64).reshape(-1, 4)
    n = len(boxes)
    if n == 0:
        return boxes.reshape(0, 4), scores, classes, np.zeros(0, np.int64)
    # overlapping tile pairs and their common rectangle
    t = len(tile_rects)
    cy0 = np.maximum(tile_rects[:, None, 0], tile_rects[None, :, 0])
    cx0 = np.maximum(tile_rects[:, None, 1], tile_rects[None, :, 1])
    cy1 = np.minimum(tile_rects[:, None, 2], tile_rects[None, :, 2])
    cx1 = np.minimum(tile_rects[:, None, 3], tile_rects[None, :, 3])
    overlaps = (cy1 > cy0) & (cx1 > cx0) & ~np.eye(t, dtype=bool)
    by_tile = {k: np.flatnonzero(tile_ids == k) for k in np.unique(tile_ids)}
    order = np.argsort(-scores, kind="stable")
    assigned = np.zeros(n, bool)
    out_b, out_s, out_c, out_n = [], [], [], []
    for i in order:
        if assigned[i]:
            continue
        assigned[i] = True
        members, tiles_in, frontier = [i], {int(tile_ids[i])}, [i]
        while frontier:
            m = frontier.pop()
            tm = int(tile_ids[m])
            for tn in np.flatnonzero(overlaps[tm]):
                tn = int(tn)
                if tn in tiles_in or tn not in by_tile:
                    continue
                cand = by_tile[tn]
                cand = cand[~assigned[cand] & (classes[cand] == classes[m])]
                if not len(cand):
                    continue
                common = np.array([cy0[tm, tn], cx0[tm, tn], cy1[tm, tn], cx1[tm, tn]])
                a = _clip(boxes[m], common)
                ah, aw = a[2] - a[0], a[3] - a[1]
                if ah < min_side or aw < min_side:
                    continue  # this detection does not reach into the shared pixels
                b = _clip(boxes[cand], common)
                bh, bw = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
                ih = np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0])
                iw = np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1])
                inter = np.clip(ih, 0, None) * np.clip(iw, 0, None)
                union = ah * aw + np.clip(bh, 0, None) * np.clip(bw, 0, None) - inter
                iou = np.where((bh >= min_side) & (bw >= min_side) & (union > 0), inter / np.maximum(union, 1e-9), 0)
                best = int(np.argmax(iou))
                if iou[best] >= match_iou:
                    j = int(cand[best])
                    assigned[j] = True
                    members.append(j)
                    tiles_in.add(tn)
                    frontier.append(j)
        g = boxes[members]
        out_b.append([g[:, 0].min(), g[:, 1].min(), g[:, 2].max(), g[:, 3].max()])
        out_s.append(scores[members].max())
        out_c.append(classes[i])
        out_n.append(len(members))
    return (np.asarray(out_b, np.float64).reshape(-1, 4), np.asarray(out_s), np.asarray(out_c),
            np.asarray(out_n, np.int64))


def _detect_batch(model, frames: np.ndarray):
    det = model.detect(frames[..., None])
    return np.asarray(det["boxes"]), np.asarray(det["scores"]), np.asarray(det["classes"])


def detect_image(model, arr: np.ndarray, tile_size: tuple[int, int] | None = None, score_threshold: float = 0.3,
                 overlap: float = 0.25, batch_size: int = 8, progress: bool = False, label: str = "image") -> dict:
    """Detections on a resized grey image ``arr [H, W]`` (0..255, at the training pixel scale).

    ``tile_size``: the training frame ``(height, width)``; None or an image that fits one
    tile: one padded frame (the whole image). Otherwise overlapping tiles of that size
    (``overlap`` as a fraction of the tile side), merged across seams.

    Returns dict ``boxes [K, 4]`` yxyx pixels of ``arr``, ``scores``, ``classes``, ``n_tiles``,
    ``tile_size``, ``max_detections`` (the capacity: tiles x the model's per-frame cap).
    """
    arr = np.asarray(arr, np.float32)
    h1, w1 = arr.shape
    bg = float(np.median(arr))
    per_frame = int(getattr(model, "max_detections", 0)) or None
    if tile_size is None or (h1 <= _ceil_to(tile_size[0]) and w1 <= _ceil_to(tile_size[1])):
        # one frame: pad with the background grey to a multiple of the coarsest stride
        padded = np.pad(arr, ((0, -h1 % STRIDE), (0, -w1 % STRIDE)), constant_values=bg)
        b, s, c = _detect_batch(model, padded[None])
        keep = (c[0] >= 0) & (s[0] >= score_threshold)
        return {"boxes": b[0][keep].astype(np.float64), "scores": s[0][keep], "classes": c[0][keep], "n_tiles": 1,
                "tile_size": None, "max_detections": per_frame}
    th = _ceil_to(tile_size[0]) if h1 > _ceil_to(tile_size[0]) else _ceil_to(h1)
    tw = _ceil_to(tile_size[1]) if w1 > _ceil_to(tile_size[1]) else _ceil_to(w1)
    canvas = np.pad(arr, ((0, max(0, th - h1)), (0, max(0, tw - w1))), constant_values=bg)
    ys = tile_origins(h1, th, int(round(overlap * th)))
    xs = tile_origins(w1, tw, int(round(overlap * tw)))
    origins = [(y, x) for y in ys for x in xs]
    rects = np.array([[y, x, min(y + th, h1), min(x + tw, w1)] for y, x in origins], np.float64)
    all_b, all_s, all_c, all_t = [], [], [], []
    batches = range(0, len(origins), batch_size)
    prog = None
    if progress:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        prog = Progress(TextColumn(f"detecting {label}: tiles"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=Console(stderr=True), transient=True)
        task = prog.add_task("tiles", total=len(origins))
        prog.start()
    try:
        for start in batches:
            chunk = origins[start:start + batch_size]
            frames = np.full((batch_size, th, tw), bg, np.float32)  # fixed batch shape: one trace
            for k, (y, x) in enumerate(chunk):
                frames[k] = canvas[y:y + th, x:x + tw]
            b, s, c = _detect_batch(model, frames)
            for k, (y, x) in enumerate(chunk):
                keep = (c[k] >= 0) & (s[k] >= score_threshold)
                bb = b[k][keep].astype(np.float64) + np.array([y, x, y, x], np.float64)
                bb = _clip(bb, rects[start + k])
                all_b.append(bb)
                all_s.append(s[k][keep])
                all_c.append(c[k][keep])
                all_t.append(np.full(int(keep.sum()), start + k))
            if prog is not None:
                prog.advance(task, len(chunk))
    finally:
        if prog is not None:
            prog.stop()
    boxes, scores, classes, _ = merge_tile_detections(
        np.concatenate(all_b), np.concatenate(all_s), np.concatenate(all_c), np.concatenate(all_t), rects)
    return {"boxes": boxes, "scores": scores, "classes": classes, "n_tiles": len(origins), "tile_size": (th, tw),
            "max_detections": per_frame * len(origins) if per_frame else None}


def output_stems(paths: Sequence[str | Path]) -> list[str]:
    """Output base names: the file stem, or ``<parent folder>_<stem>`` for inputs whose stems
    collide (then ``-2``, ``-3`` ... where even that collides)."""
    paths = [Path(p) for p in paths]
    stems = [p.stem for p in paths]
    counts = {s: stems.count(s) for s in stems}
    names = [f"{p.parent.name or 'root'}_{p.stem}" if counts[p.stem] > 1 else p.stem for p in paths]
    seen: dict[str, int] = {}
    out = []
    for nm in names:
        k = seen.get(nm, 0) + 1
        seen[nm] = k
        out.append(nm if k == 1 else f"{nm}-{k}")
    # a suffixed name must not hit another input's own name
    while len(set(out)) != len(out):  # pragma: no cover - pathological names only
        out = [f"{nm}-{i + 1}" for i, nm in enumerate(out)]
    return out


def predict_frames(model, images, batch_size: int = 8) -> dict:
    """Detections for ``images [N, H, W(, 1)]`` as numpy, boxes converted to xyxy."""
    import tensorflow as tf

    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    ds = tf.data.Dataset.from_tensor_slices(images.astype(np.float32)).batch(batch_size)
    out = model.predict(ds, verbose=0)
    boxes = np.asarray(out["boxes"])
    return {"boxes": boxes[..., [1, 0, 3, 2]], "scores": np.asarray(out["scores"]),
            "classes": np.asarray(out["classes"])}


READOUT_COLUMNS = ("pt_gev", "charge_sign", "radius_m", "fit_residual_px", "n_points")


def box_readouts(grey, xyxy, field_t: float, m_per_px: float) -> list[dict | None]:
    """Physics readout per box (:func:`pipelines.bubble.readout.readout_in_box`) from the dark
    blobs of the full-resolution grey image; None where a box holds too few bubbles."""
    from pipelines.bubble.readout import find_bubbles, readout_in_box

    centres, _ = find_bubbles(np.asarray(grey, np.float64))
    return [readout_in_box(centres, b, field_t, m_per_px) for b in xyxy]


def _readout_fields(r: dict | None) -> dict:
    if r is None:
        return {k: None for k in READOUT_COLUMNS}
    out = {k: r[k] for k in READOUT_COLUMNS}
    out["pt_gev"] = round(out["pt_gev"], 5) if math.isfinite(out["pt_gev"]) else None  # straight: no p_T
    out["radius_m"] = round(out["radius_m"], 5) if math.isfinite(out["radius_m"]) else None
    out["fit_residual_px"] = round(out["fit_residual_px"], 3)
    return out


CONSENSUS_JACCARD = 0.3  # ClassicalFinder(consensus=N): two runs' tracks are one when their bubble sets overlap this much


def consensus_tracks(runs: list[list[np.ndarray]], jaccard: float = CONSENSUS_JACCARD) -> list[tuple[int, int, int]]:
    """The tracks more than half of ``runs`` agree on. ``runs``: per run of a track search, per
    track its points ``[K, 2]`` (the same bubble centres in every run). Tracks are clustered run
    by run: a track joins the cluster (holding no track of its run yet) whose tracks its bubble set
    overlaps most, by mean Jaccard index >= ``jaccard``; else it starts a cluster. Returns per
    cluster found by more than half of the runs (run, track) of its medoid (the member with the
    highest mean Jaccard index to the others) and its support (runs that found it), in the order
    the clusters were started."""
    def key(q):
        return frozenset(map(tuple, np.round(np.asarray(q, np.float64), 3).tolist()))

    def jaccard_to(k, keys) -> list[float]:
        return [len(k & o) / max(1, len(k | o)) for o in keys]

    clusters: list[dict] = []
    for r, tracks in enumerate(runs):
        for t, q in enumerate(tracks):
            k, best, best_j = key(q), None, jaccard
            for c in clusters:
                if c["runs"][-1] == r:
                    continue
                j = float(np.mean(jaccard_to(k, c["keys"])))
                if j > best_j or (best is None and j >= best_j):  # ties: the earlier cluster
                    best, best_j = c, j
            if best is None:
                clusters.append({"runs": [r], "tracks": [t], "keys": [k]})
            else:
                best["runs"].append(r), best["tracks"].append(t), best["keys"].append(k)
    out = []
    for c in clusters:
        if 2 * len(c["runs"]) <= len(runs):
            continue
        ks = c["keys"]
        m = int(np.argmax([np.mean(jaccard_to(a, ks)) for a in ks]))
        out.append((c["runs"][m], c["tracks"][m], len(c["runs"])))
    return out


TURN_RADIUS_FACTOR = 3.0  # a track this tight (radius <= factor x the largest loop radius) can be a spiral's turn


class ClassicalFinder:
    """The classical track finder (no learned model) as a detector for :func:`detect_files`.

    Dark blobs of the resized scan (:func:`pipelines.bubble.readout.find_bubbles`), sequential
    RANSAC circles / lines with fragments joined and tracks extended
    (:func:`pipelines.bubble.readout.find_tracks`). The defaults are those of
    ``benchmarks/bubble_real.py --method ransac`` (measured on the labelled real left half at
    scale 0.5). It sees the whole image at once (no tiles, no detection cap) and has no score:
    every track gets score 1 and its bubble count in ``n_bubbles``; tracks are not classified.
    A "track" with most of its bubbles within ``border_px`` of the image edge is the scan's
    frame edge, not a track, and is dropped.

    ``curls``: then spirals. The bubbles left over by the tracks are searched for closed loops
    (:func:`pipelines.bubble.readout.find_curls`: radius ``curl_radius_px``, bubbles within
    ``curl_tol_px`` of the circle, at least ``curl_min_bubbles`` over 60 % of its sectors), and
    overlapping loops become one spiral (:func:`pipelines.bubble.readout.group_curls`); a tight
    track (a turn the RANSAC step took as a track: radius <= ``TURN_RADIUS_FACTOR`` x the largest
    loop radius) whose circle overlaps one of its loops joins it. Small
    turns are sparse at the track search's resolution: given ``fine``, the scan at a higher
    resolution (``detect_files`` passes it at twice the scale, up to the file's own), the loops are
    sought among its bubbles, with the radii, tolerance, blob scale and areas above (in pixels of
    the resized scan) scaled by the resolution ratio; ``curl_min_bubbles`` counts bubbles of
    whichever image is searched. Spirals get class ``spiral``, their largest turn as polyline
    and readout, and no charge sign (a closed turn does not show which way it was run).

    ``consensus``: the RANSAC search is random, and on the labelled real film one seed's recall
    at IoU 0.5 ranges 0.47-0.76 over seeds 0-7. With ``consensus`` N > 1 the whole search runs
    with seeds ``seed`` .. ``seed + N - 1`` and a track (or spiral) is kept when more than half of
    the runs find it: the runs' tracks are clustered by the overlap of their bubble sets (mean
    Jaccard index >= ``consensus_jaccard`` with a cluster's tracks, one track per run), and each
    kept cluster is represented by its medoid (the member with the highest mean Jaccard index to
    the others). N times slower; a track that only some draws assemble is dropped with the clutter.
    """

    method = "classical"

    def __init__(self, tol_px: float = 1.0, max_gap_px: float = 45.0, min_bubbles: int = 12, sigma_bg: float = 6.0,
                 k: float = 4.0, max_area: int = 60, seed: int = 0, border_px: float = 4.0, curls: bool = True,
                 curl_radius_px: tuple[float, float] = (3.0, 25.0), curl_tol_px: float = 0.75, curl_min_bubbles: int = 10,
                 curl_fine_factor: float = 2.0, consensus: int = 1, consensus_jaccard: float = CONSENSUS_JACCARD):
        if consensus < 1:
            raise ValueError(f"ClassicalFinder: consensus must be >= 1 (runs of the search), got {consensus}")
        self.consensus = int(consensus)
        self.consensus_jaccard = consensus_jaccard
        self.border_px = border_px
        self.finder = dict(tol_px=tol_px, max_gap_px=max_gap_px, min_bubbles=min_bubbles, seed=seed)
        self.blobs = dict(sigma_bg=sigma_bg, k=k, max_area=max_area)
        self.curls = curls
        self.curl = dict(radius_px=tuple(curl_radius_px), tol_px=curl_tol_px, min_bubbles=curl_min_bubbles)
        self.curl_fine_factor = curl_fine_factor

    def detect_scan(self, arr: np.ndarray, fine: np.ndarray | None = None) -> dict:
        """Tracks of one grey image ``[H, W]``: boxes (yxyx), scores, classes (-1), ``kinds``
        (``track`` / ``spiral``) and per track its bubble centres ``[K, 2]`` (x, y), ordered along
        the track (a spiral: its largest turn, by angle), in the image's pixels. ``fine``: the same
        scan at a higher resolution, for the spiral search (see the class). With ``consensus`` > 1
        the tracks most runs agree on (see the class); ``support`` then counts the runs that found each."""
        if self.consensus == 1:
            return self._search(arr, fine, self.finder["seed"])
        seed = self.finder["seed"]
        runs = [self._search(arr, fine, seed + n) for n in range(self.consensus)]
        keep = consensus_tracks([r["points"] for r in runs], self.consensus_jaccard)
        out = {k: runs[0][k] for k in ("n_tiles", "tile_size", "max_detections")}
        out["boxes"] = np.array([runs[r]["boxes"][t] for r, t, _ in keep], np.float64).reshape(-1, 4)
        out["kinds"] = [runs[r]["kinds"][t] for r, t, _ in keep]
        out["points"] = [runs[r]["points"][t] for r, t, _ in keep]
        out["support"] = np.array([n for _, _, n in keep], int)
        out["scores"] = np.ones(len(keep))
        out["classes"] = np.full(len(keep), -1)
        return out

    def _search(self, arr: np.ndarray, fine: np.ndarray | None, seed: int) -> dict:
        """One run of the search (tracks, then spirals) with RANSAC seed ``seed``."""
        from pipelines.bubble.readout import find_bubbles, find_tracks, order_points

        finder = dict(self.finder, seed=seed)
        centres, _ = find_bubbles(np.asarray(arr, np.float64), **self.blobs)
        h, w = np.shape(arr)[:2]
        tracks, points = [], []
        for t in find_tracks(centres, **finder):
            q = centres[t["indices"]]
            edge = np.minimum(np.minimum(q[:, 0], w - 1 - q[:, 0]), np.minimum(q[:, 1], h - 1 - q[:, 1]))
            if np.mean(edge <= self.border_px) > 0.5:
                continue  # the frame edge
            tracks.append(t["box_xyxy"])
            points.append(q[order_points(q[:, 0], q[:, 1])])
        kinds = ["track"] * len(tracks)
        if self.curls:
            spirals, turns = self._spirals(arr, fine, tracks, points, seed)
            tracks = [b for n, b in enumerate(tracks) if n not in turns] + [b for b, _ in spirals]
            points = [q for n, q in enumerate(points) if n not in turns] + [q for _, q in spirals]
            kinds = ["track"] * (len(tracks) - len(spirals)) + ["spiral"] * len(spirals)
        boxes = np.array([[b[i] for i in (1, 0, 3, 2)] for b in tracks], np.float64).reshape(-1, 4)
        return {"boxes": boxes, "scores": np.ones(len(tracks)), "classes": np.full(len(tracks), -1), "kinds": kinds,
                "points": points, "n_tiles": 1, "tile_size": None, "max_detections": None}

    def _spirals(self, arr, fine, boxes: list, points: list, seed: int) -> tuple[list, set]:
        """Spirals among the bubbles the tracks (``boxes``, ``points``) left. A tight track (circle
        radius at most ``TURN_RADIUS_FACTOR`` times the largest loop radius) overlapping a spiral's
        loop is one of its turns and joins the spiral; a group of tight tracks with no loop stays
        tracks; a tight track that itself closes a turn (radius in ``curl_radius_px``, bubbles in
        ``CURL_COVERAGE`` of the sectors around its centre) counts as a loop. Returns the spirals as
        (box_xyxy, the largest turn's points by angle) and the indices of the tracks that became turns."""
        from scipy.spatial import cKDTree

        from pipelines.bubble.readout import (CURL_COVERAGE, bubble_box, find_bubbles, find_curls, fit_circle_taubin,
                                              group_curls, turn_coverage)

        img = np.asarray(arr if fine is None else fine, np.float64)
        f = img.shape[1] / np.shape(arr)[1]
        b = self.blobs
        fc, _ = find_bubbles(img, sigma_bg=b["sigma_bg"] * f, k=b["k"], max_area=int(round(b["max_area"] * f * f)))
        if points and len(fc):
            dist, _ = cKDTree(np.concatenate(points) * f).query(fc)
            fc = fc[dist > 1.5 * f]  # bubbles of the tracks found (at the fine resolution: within 1.5 scan px)
        r0, r1 = self.curl["radius_px"]
        turns = []  # in scan pixels: the loops, then the tight tracks
        for lp in find_curls(fc, radius_px=(r0 * f, r1 * f), tol_px=self.curl["tol_px"] * f,
                             min_bubbles=self.curl["min_bubbles"], seed=seed):
            q = fc[lp["indices"]] / f
            turns.append({"centre": np.divide(lp["centre"], f), "radius": lp["radius"] / f, "points": q,
                          "box": bubble_box(q)})
        for n, q in enumerate(points):
            fit = fit_circle_taubin(q[:, 0], q[:, 1])
            if np.isfinite(fit["radius"]) and fit["radius"] <= TURN_RADIUS_FACTOR * r1:
                closed = r0 <= fit["radius"] <= r1 and turn_coverage(q, fit["center"]) >= CURL_COVERAGE
                turns.append({"centre": np.asarray(fit["center"]), "radius": fit["radius"], "points": q,
                              "box": boxes[n], "track": n, "closed": closed})
        spirals, taken = [], set()
        for group in group_curls(turns):
            loops = [turns[g] for g in group if turns[g].get("closed", True)]
            if not loops:
                continue  # open tight tracks only: they stay tracks
            taken.update(turns[g]["track"] for g in group if "track" in turns[g])
            box = np.array([turns[g]["box"] for g in group], np.float64)
            big = max(loops, key=lambda t: t["radius"])
            q = big["points"]
            spirals.append(([float(box[:, 0].min()), float(box[:, 1].min()), float(box[:, 2].max()), float(box[:, 3].max())],
                            q[np.argsort(np.arctan2(q[:, 1] - big["centre"][1], q[:, 0] - big["centre"][0]))]))
        return spirals, taken


def resize_scan(img, scale: float) -> np.ndarray:
    """A PIL image resized by ``scale`` (bilinear, at least 32 px a side) as float32 ``[H, W]``."""
    from PIL import Image

    w0, h0 = img.size
    return np.asarray(img.resize((max(32, round(w0 * scale)), max(32, round(h0 * scale))), Image.BILINEAR), np.float32)


def classical_inputs(img, scale: float, finder: "ClassicalFinder") -> tuple[np.ndarray, np.ndarray | None]:
    """The scan resized by ``scale`` for :meth:`ClassicalFinder.detect_scan`, and its spiral search's
    finer copy: at ``finder.curl_fine_factor`` times the scale, at most the file's own resolution
    (None when that is no finer, or the finder looks for no spirals)."""
    arr = resize_scan(img, scale)
    fine_scale = min(1.0, scale * finder.curl_fine_factor)
    if not finder.curls or fine_scale <= scale:
        return arr, None
    return arr, resize_scan(img, fine_scale)


def _polyline(points: np.ndarray, n_max: int = 64) -> list[list[float]]:
    """At most ``n_max`` vertices of an ordered point chain (its ends kept), rounded to 0.1 px."""
    idx = np.unique(np.linspace(0, len(points) - 1, min(n_max, len(points))).round().astype(int))
    return [[round(float(x), 1), round(float(y), 1)] for x, y in points[idx]]


def detect_files(model, paths, out_dir: Path, scale: float = 0.5, score_threshold: float = 0.3, dpi: int = 110,
                 tile_size: tuple[int, int] | None = None, progress: bool = False, field_t: float | None = None,
                 pixel_mm: float = 1.0):
    """Run ``model`` on image files; write ``<stem>.boxes.json`` and ``<stem>.overlay.png``.

    Every file is opened and decoded first: the first unreadable one raises
    :class:`~sciarch.config.ConfigError` naming it before any detection runs (nothing is
    written). Images are resized by ``scale``; with ``tile_size`` (the training frame size)
    an image larger than one frame is detected in overlapping tiles of that size, merged
    across seams (:func:`detect_image`). 16-bit images are scaled by their bit
    depth. Inputs sharing a file stem get ``<parent folder>_<stem>`` outputs (the JSON's
    ``output`` field says which).

    With ``field_t`` (tesla) each detection also gets the physics readout of the bubbles in its
    box (``pt_gev``, ``charge_sign``, ``radius_m``, ``fit_residual_px``, ``n_points``; see
    :mod:`pipelines.bubble.readout`), taking one scan pixel as ``pixel_mm * scale`` millimetres
    (``pixel_mm``: chamber millimetres per model pixel), and a ``<stem>.tracks.csv`` is written.

    ``model`` may be a :class:`ClassicalFinder` instead of a trained detector: its tracks get
    their own bubbles' readout (not a re-fit of the bubbles in the box), a ``polyline`` (the
    ordered bubble centres, at most 64 vertices) and ``n_bubbles``; ``score_threshold`` does not
    apply (no scores) and the class is ``track`` or ``spiral`` (no charge sign in its readout).
    """
    from pipelines.bubble import report
    from pipelines.bubble.simulation import CLASS_NAMES

    check_scale(scale, score_threshold)
    paths = [Path(p) for p in paths]
    check_images(paths)
    stems = output_stems(paths)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs, jsons = [], []
    classical = isinstance(model, ClassicalFinder)
    for path, stem in zip(paths, stems):
        img, scaled = load_grey(path)
        w0, h0 = img.size
        if classical:
            arr, fine = classical_inputs(img, scale, model)
            det = model.detect_scan(arr, fine)
        else:
            arr = resize_scan(img, scale)
            det = detect_image(model, arr, tile_size=tile_size, score_threshold=score_threshold, progress=progress,
                               label=path.name)
        yxyx = det["boxes"] / scale
        scores, classes = det["scores"], det["classes"]
        xyxy = np.stack([np.maximum(yxyx[:, 1], 0), np.maximum(yxyx[:, 0], 0), np.minimum(yxyx[:, 3], w0),
                         np.minimum(yxyx[:, 2], h0)], -1)
        kinds = det["kinds"] if classical else [CLASS_NAMES[int(c)] for c in classes]
        records = [{"box_xyxy": [round(float(v), 1) for v in b], "score": round(float(s), 4), "class": k}
                   for b, s, k in zip(xyxy, scores, kinds)]
        if classical:
            for rec, pts in zip(records, det["points"]):
                rec.update(polyline=_polyline(pts / scale), n_bubbles=int(len(pts)))
        if field_t is not None:
            m_per_px = pixel_mm * 1e-3 * scale
            if classical:
                from pipelines.bubble.readout import track_readout

                readouts = [track_readout(p[:, 0] / scale, p[:, 1] / scale, field_t, m_per_px, ordered=True)
                            for p in det["points"]]
                for r, k in zip(readouts, kinds):
                    if k == "spiral":
                        r["charge_sign"] = None  # a closed turn does not show which way it was run
            else:
                grey = np.asarray(img, np.float64) if scaled is None else np.asarray(scaled, np.float64)
                readouts = box_readouts(grey, xyxy, field_t, m_per_px)
            for rec, r in zip(records, readouts):
                rec.update(_readout_fields(r))
            _write_csv(out_dir / f"{stem}.tracks.csv", records)
        info = {"image": str(path), "method": "classical" if classical else "model", "width": w0, "height": h0,
                "scale": scale, "score_threshold": None if classical else score_threshold,
                "field_t": field_t, "pixel_mm": pixel_mm if field_t is not None else None,
                "output": stem, "tiles": det["n_tiles"],
                "tile_size": list(det["tile_size"]) if det["tile_size"] else None,
                "max_detections": det["max_detections"]}
        if stem != path.stem:
            info["output_note"] = "another --image has the same file name: outputs are prefixed by the parent folder"
        js = out_dir / f"{stem}.boxes.json"
        js.write_text(json.dumps({**info, "detections": records}, indent=1))
        shown = np.asarray(img) if scaled is None else np.clip(scaled, 0, 255).astype(np.uint8)
        title = (f"{path.name}: {len(records)} tracks (classical finder)" if classical
                 else f"{path.name}: {len(records)} tracks (score >= {score_threshold})")
        png = report.plot_overlay(shown, xyxy, classes, scores, out_dir / f"{stem}.overlay.png", title=title, dpi=dpi,
                                  polylines=[np.asarray(r["polyline"]) for r in records] if classical else None)
        pngs.append(png)
        jsons.append(js)
    return pngs, jsons


def _write_csv(path: Path, records: list[dict]) -> None:
    import csv

    cols = ["x0", "y0", "x1", "y1", "score", "class", *READOUT_COLUMNS]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for r in records:
            w.writerow([*r["box_xyxy"], r["score"], r["class"], *["" if r[k] is None else r[k] for k in READOUT_COLUMNS]])
