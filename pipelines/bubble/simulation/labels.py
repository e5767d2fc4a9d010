"""Labels: which tracks are drawn, their boxes, and the padded per-track label arrays.

No random numbers are drawn here: the labels follow from the traced tracks alone.

Example:
    >>> import numpy as np
    >>> from pipelines.bubble.simulation.labels import padded_vertices
    >>> padded_vertices([np.array([[1.0, 2.0, 0.0]]), []]).shape
    (2, 1, 3)
"""

from __future__ import annotations

import numpy as np

from pipelines.bubble.simulation.config import Chamber
from pipelines.bubble.simulation.particles import CHARGE, DELTA_RAY, KINK_DAUGHTER, SECONDARY, V0_DAUGHTER
from pipelines.bubble.simulation.tracks import Tracks


def frame_coords(chamber: Chamber, res: dict):
    """Per-step pixel coordinates ``px, py`` and whether each valid step lies in the frame."""
    H, W = chamber.height, chamber.width
    px = res["x"] / chamber.m_per_px
    py = res["y"] / chamber.m_per_px
    valid = res["valid"]
    inside = valid & (px >= 0) & (px <= W - 1) & (py >= 0) & (py <= H - 1)
    return px, py, inside


def select_drawn(chamber: Chamber, n_images: int, target, tracks: Tracks, inside) -> np.ndarray:
    """Tracks drawn and labelled: visible charged tracks of whole events, up to ``target`` per image."""
    c = chamber.config
    visible_len = inside.sum(0) * c.step_px * np.cos(tracks.dip)
    charged = CHARGE[tracks.pid] != 0
    visible = charged & (visible_len >= c.min_visible_px)
    # choose events per image: keep whole events (in order) while the count stays <= target
    n_ev_tracks = np.bincount(tracks.event, weights=visible, minlength=tracks.event.max() + 1)
    ev_image = np.zeros(len(n_ev_tracks), int)
    ev_image[tracks.event] = tracks.image
    keep_event = np.zeros(len(n_ev_tracks), bool)
    for img in range(n_images):
        evs = np.flatnonzero(ev_image == img)
        total = 0
        for ev in evs:  # greedy: add every event that still fits under the target
            c_ev = n_ev_tracks[ev]
            if c_ev > 0 and total + c_ev <= target[img]:
                keep_event[ev] = True
                total += c_ev
        if total == 0 and len(evs):  # every event is larger than the target: keep the smallest
            nonzero = evs[n_ev_tracks[evs] > 0]
            if len(nonzero):
                keep_event[nonzero[np.argmin(n_ev_tracks[nonzero])]] = True
    drawn = visible & keep_event[tracks.event]
    # a delta ray is drawn only with its (visible) parent; parents precede children in row order
    is_delta = tracks.cls == DELTA_RAY
    drawn[is_delta] &= drawn[tracks.parent[is_delta]]
    return drawn


def track_boxes(chamber: Chamber, px, py, inside) -> np.ndarray:
    """``[n, 4]`` boxes ``(x0, y0, x1, y1)`` around each track's in-frame path, padded and clipped."""
    c = chamber.config
    H, W = chamber.height, chamber.width
    big = 1e9
    x0 = np.where(inside, px, big).min(0) - c.box_pad_px
    y0 = np.where(inside, py, big).min(0) - c.box_pad_px
    x1 = np.where(inside, px, -big).max(0) + c.box_pad_px
    y1 = np.where(inside, py, -big).max(0) + c.box_pad_px
    return np.stack([np.clip(x0, 0, W), np.clip(y0, 0, H), np.clip(x1, 0, W), np.clip(y1, 0, H)], -1)


def padded_vertices(v_out: list) -> np.ndarray:
    """Stack per-image ``[V_i, 3]`` vertex arrays into ``[N, max V_i, 3]`` padded with -1."""
    n_images = len(v_out)
    v_max = max([len(v) for v in v_out] + [1])
    vertices = np.full((n_images, v_max, 3), -1, np.float32)
    for img, v in enumerate(v_out):
        if len(v):
            vertices[img, : len(v)] = v
    return vertices


def track_labels(chamber: Chamber, n_images: int, tracks: Tracks, res: dict, drawn, boxes, px, py,
                 keep_paths: bool) -> dict:
    """Padded label arrays of the drawn tracks (every :class:`Sample` field but ``images``)."""
    valid = res["valid"]
    order = np.lexsort((np.arange(len(tracks)), tracks.image))
    order = order[drawn[order]]
    per_img = np.bincount(tracks.image[order], minlength=n_images)
    m_max = max(int(per_img.max()), 1)
    slot = np.arange(len(order)) - np.repeat(np.cumsum(per_img) - per_img, per_img)
    row_to_slot = np.full(len(tracks), -1)
    row_to_slot[order] = slot

    def pad(values, fill=-1, dtype=np.float32, extra=()):
        out = np.full((n_images, m_max) + extra, fill, dtype=dtype)
        out[tracks.image[order], slot] = values[order]
        return out

    parent_rows = tracks.parent
    parent_slot = np.where(parent_rows >= 0, row_to_slot[np.maximum(parent_rows, 0)], -1)
    start = np.stack([tracks.x, tracks.y], -1) / chamber.m_per_px
    end = np.stack([res["x_end"], res["y_end"]], -1) / chamber.m_per_px
    # vertices: interactions (beam ends with children), V0 decay points, kinks, delta origins
    vert = []
    vimg = []
    drawn_rows = np.flatnonzero(drawn)
    for r in drawn_rows:
        cl = tracks.cls[r]
        kind = {SECONDARY: 0, V0_DAUGHTER: 1, KINK_DAUGHTER: 2, DELTA_RAY: 3}.get(int(cl))
        if kind is not None:
            vert.append((start[r, 0], start[r, 1], kind))
            vimg.append(tracks.image[r])
    vert = np.array(vert, np.float32).reshape(-1, 3)
    vimg = np.array(vimg, int)
    # unique vertices per image (daughters share a start point)
    v_out = [[] for _ in range(n_images)]
    if len(vert):
        key = np.round(vert, 3)
        for img in range(n_images):
            rowsv = key[vimg == img]
            if len(rowsv):
                v_out[img] = np.unique(rowsv, axis=0)
    vertices = padded_vertices(v_out)
    cos_dip = np.cos(tracks.dip)
    paths = path_pt = None
    if keep_paths:
        paths = [[] for _ in range(n_images)]
        path_pt = [[] for _ in range(n_images)]
        for r in order:
            ok = valid[:, r]
            paths[tracks.image[r]].append(np.stack([px[ok, r], py[ok, r]], -1).astype(np.float32))
            path_pt[tracks.image[r]].append((res["p"][ok, r] * cos_dip[r]).astype(np.float32))
    return dict(
        boxes=pad(boxes, extra=(4,)),
        classes=pad(tracks.cls, dtype=np.int32),
        particle=pad(tracks.pid, dtype=np.int32),
        charge=pad(CHARGE[tracks.pid], dtype=np.int32, fill=0),
        momentum=pad(tracks.p),
        pt_xy=pad(tracks.p * cos_dip),
        parent=pad(parent_slot, dtype=np.int32),
        start=pad(start, extra=(2,)),
        end=pad(end, extra=(2,)),
        vertices=vertices,
        n_tracks=per_img.astype(np.int32),
        paths=paths,
        path_pt=path_pt,
    )
