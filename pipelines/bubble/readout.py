"""Physics readout of a track: circle fit to its bubbles -> radius -> transverse momentum and charge sign.

Units and conventions:

* Points are ``(x, y)`` in image pixels (``x`` = column, ``y`` = row, the simulator's film-plane
  frame); ``m_per_px`` (metres per pixel of the image the points come from) converts to metres.
  For a scan resized by ``scale`` before detection, one scan pixel is
  ``pixel_mm * 1e-3 * scale`` metres, where ``pixel_mm`` is the simulator's chamber millimetres
  per model pixel (``data.simulator.pixel_mm`` of the run's config, default 1.0).
* ``p_T = 0.2998 * |z| * B * R`` with ``p_T`` in GeV/c, ``B`` in tesla (``data.simulator.field_t``,
  default 1.5; its sign is the field direction along the camera axis), ``R`` in metres. ``p_T``
  is the momentum component in the film plane.
* Charge sign: in the simulator, a particle of charge ``z`` in a field ``B > 0`` turns with
  ``d(phi)/ds = -z * 0.2998 * B / p_T`` where ``phi = atan2(dy, dx)`` in the ``(x, y)`` frame
  above. A track whose points, in travel order, turn towards increasing ``phi`` (the fitted
  centre lies on the left of the travel direction: positive cross product) therefore has
  ``sign(z) = -sign(B)``; flipping the field flips the inferred sign.
* Travel order: truth paths are ordered; bubbles found in an image are not, and are ordered
  along the track's principal axis in the ``direction`` given (default ``+x``: tracks enter from
  the left, as the beam does). The sign of a track running the other way (e.g. a backward
  secondary) comes out flipped; spirals have no single principal direction.

Fits (numpy only): :func:`fit_circle_kasa` (algebraic least squares, Kasa 1976) and
:func:`fit_circle_taubin` (Taubin 1991, SVD form after Chernov), which has less bias on short
arcs. Both return the curvature ``k = 1 / R`` as well, which stays finite (0) for a straight
line. :func:`robust_circle` adds a seeded RANSAC step for points with outliers (other tracks'
bubbles, grain inside a box). :func:`find_bubbles` extracts dark-blob centres from a grey
image; :func:`track_readout` gives the per-track record that ``sciarch bubble detect`` writes.

Example:
    >>> import numpy as np
    >>> t = np.linspace(0, 1.0, 50)
    >>> x, y = 100 + 40 * np.cos(t), 50 + 40 * np.sin(t)
    >>> round(fit_circle_taubin(x, y)["radius"], 6)
    40.0
"""

from __future__ import annotations

import numpy as np

C_CURV = 0.2998  # p_T [GeV/c] = C_CURV * |z| * B [T] * R [m]
CURL_COVERAGE = 0.6  # a closed turn has bubbles in this fraction of the angular sectors around its centre
MERGE_GAP_FACTOR = 4.0  # find_tracks joins fragments across gaps up to this many times its run gap


def _prepare(x, y):
    x = np.asarray(x, np.float64).ravel()
    y = np.asarray(y, np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"circle fit: x and y differ in length ({len(x)} vs {len(y)})")
    if len(x) < 3:
        raise ValueError(f"circle fit: needs at least 3 points, got {len(x)}")
    return x, y


def _result(a, b, c, d, x, y, mx, my):
    """Circle ``a (X^2 + Y^2) + b X + c Y + d = 0`` in centred coordinates -> fit record."""
    disc = b * b + c * c - 4 * a * d
    if disc <= 0:
        raise ValueError("circle fit: degenerate points (all coincide)")
    root = np.sqrt(disc)
    curvature = 2 * abs(a) / root  # 1 / R, 0 for a straight line
    if curvature > 1e-10:  # radius below 1e10 point units; beyond that the points are a line
        cx, cy = -b / (2 * a) + mx, -c / (2 * a) + my
        radius = 1.0 / curvature
        dist = np.hypot(x - cx, y - cy) - radius
    else:
        curvature = 0.0
        cx = cy = np.inf
        radius = np.inf
        dist = (b * (x - mx) + c * (y - my) + d) / root
    return {"center": (float(cx), float(cy)), "radius": float(radius), "curvature": float(curvature),
            "residual_rms": float(np.sqrt(np.mean(dist * dist))), "n_points": int(len(x))}


def fit_circle_kasa(x, y) -> dict:
    """Kasa's algebraic fit: least squares of ``x^2 + y^2 + D x + E y + F`` (exact on a circle).

    Returns dict ``center (cx, cy)``, ``radius``, ``curvature`` (1 / radius), ``residual_rms``
    (r.m.s. geometric distance of the points to the circle, in the points' units), ``n_points``.
    """
    x, y = _prepare(x, y)
    mx, my = x.mean(), y.mean()
    u, v = x - mx, y - my
    z = u * u + v * v
    design = np.stack([u, v, np.ones_like(u)], -1)
    (dd, ee, ff), *_ = np.linalg.lstsq(design, -z, rcond=None)
    return _result(1.0, dd, ee, ff, x, y, mx, my)


def fit_circle_taubin(x, y) -> dict:
    """Taubin's algebraic fit (SVD form): less biased than Kasa on short arcs; same return as Kasa."""
    x, y = _prepare(x, y)
    mx, my = x.mean(), y.mean()
    u, v = x - mx, y - my
    z = u * u + v * v
    zmean = z.mean()
    if zmean <= 0:
        raise ValueError("circle fit: degenerate points (all coincide)")
    z0 = (z - zmean) / (2 * np.sqrt(zmean))
    _, _, vt = np.linalg.svd(np.stack([z0, u, v], -1), full_matrices=False)
    a0, a1, a2 = vt[-1]
    a0 = a0 / (2 * np.sqrt(zmean))
    return _result(a0, a1, a2, -zmean * a0, x, y, mx, my)


def robust_circle(x, y, tol: float = 1.5, iterations: int = 200, seed: int = 0, min_inliers: int = 5) -> dict:
    """RANSAC over 3-point circles (and lines), then a Taubin fit to the inliers (distance < ``tol``).

    Returns the Taubin record plus ``inliers`` (boolean mask over the input points).
    """
    x, y = _prepare(x, y)
    n = len(x)
    rng = np.random.default_rng(seed)
    best = np.ones(n, bool)
    best_count = -1
    if n > 3:
        for _ in range(iterations):
            i, j, k = rng.choice(n, 3, replace=False)
            try:
                f = fit_circle_taubin(x[[i, j, k]], y[[i, j, k]])
            except ValueError:
                continue
            inl = _distance(f, x, y) < tol
            cnt = int(inl.sum())
            if cnt > best_count:
                best, best_count = inl, cnt
        if best_count < max(3, min_inliers):
            best = np.ones(n, bool)
    for _ in range(3):  # refit and re-select the inliers of the refined circle
        f = fit_circle_taubin(x[best], y[best])
        new = _distance(f, x, y) < tol
        if new.sum() < 3 or np.array_equal(new, best):
            break
        best = new
    f = fit_circle_taubin(x[best], y[best])
    f["inliers"] = best
    return f


def _distance(fit: dict, x, y):
    cx, cy = fit["center"]
    if not np.isfinite(fit["radius"]):  # straight line through the points' centroid: refit as a line
        pts = np.stack([x, y], -1)
        return np.zeros(len(x)) if len(x) < 2 else np.abs((pts - pts.mean(0)) @ _normal(pts))
    return np.abs(np.hypot(x - cx, y - cy) - fit["radius"])


def _normal(pts):
    _, _, vt = np.linalg.svd(pts - pts.mean(0), full_matrices=False)
    return vt[-1]


def order_points(x, y, direction: str = "+x"):
    """Order unordered points along their principal axis, heading towards ``direction``
    (``+x``, ``-x``, ``+y`` or ``-y``). Returns the index order."""
    if direction not in ("+x", "-x", "+y", "-y"):
        raise ValueError(f"direction {direction!r}: must be one of +x, -x, +y, -y")
    pts = np.stack([np.asarray(x, float), np.asarray(y, float)], -1)
    _, _, vt = np.linalg.svd(pts - pts.mean(0), full_matrices=False)
    axis = vt[0]
    want = {"+x": (1, 0), "-x": (-1, 0), "+y": (0, 1), "-y": (0, -1)}[direction]
    if axis @ np.array(want) < 0:
        axis = -axis
    return np.argsort((pts - pts.mean(0)) @ axis, kind="stable")


def turn_sign(fit: dict, x, y) -> int:
    """+1 when the ordered points turn towards increasing ``phi`` (centre left of the travel
    direction, positive cross product), -1 when they turn the other way, 0 for a straight fit."""
    if not np.isfinite(fit["radius"]):
        return 0
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    cx, cy = fit["center"]
    # angular travel around the centre, summed over consecutive points (robust for any arc length)
    a = np.unwrap(np.arctan2(y - cy, x - cx))
    swept = a[-1] - a[0]
    return int(np.sign(swept)) if swept != 0 else 0


def charge_sign(turn: int, field_t: float) -> int:
    """Sign of the charge from the turning sign and the field (see the module doc)."""
    return int(-turn * np.sign(field_t))


def track_readout(x, y, field_t: float, m_per_px: float, z: int = 1, ordered: bool = True, direction: str = "+x",
                  robust: bool = False, tol_px: float = 1.5, seed: int = 0) -> dict:
    """Per-track physics record from its points (pixels).

    Args:
        x, y: track points in pixels (truth path or bubble centres).
        field_t: magnetic field in tesla (sign = direction along the camera axis).
        m_per_px: metres per pixel of the points' image.
        z: charge magnitude assumed for ``p_T`` (1 for all tracks in the simulator's beam).
        ordered: whether the points are in travel order; else ordered by :func:`order_points`.
        direction: travel direction for unordered points.
        robust: RANSAC (``tol_px``, ``seed``) before the final Taubin fit.

    Returns:
        dict ``radius_m``, ``curvature_per_m``, ``pt_gev`` (inf for a straight fit),
        ``charge_sign`` (+1 / -1 / 0), ``fit_residual_px``, ``n_points``, ``arc_length_px``
        (length of the fitted points' polyline), ``center_px``.
    """
    if field_t == 0:
        raise ValueError("track_readout: field_t = 0 T gives no curvature (set data.simulator.field_t)")
    if m_per_px <= 0:
        raise ValueError(f"track_readout: m_per_px = {m_per_px} must be > 0")
    x, y = _prepare(x, y)
    if not ordered:
        o = order_points(x, y, direction)
        x, y = x[o], y[o]
    fit = robust_circle(x, y, tol=tol_px, seed=seed) if robust else fit_circle_taubin(x, y)
    keep = fit.get("inliers", np.ones(len(x), bool))
    xs, ys = x[keep], y[keep]
    curv_m = fit["curvature"] / m_per_px
    radius_m = fit["radius"] * m_per_px
    pt = C_CURV * abs(z) * abs(field_t) * radius_m if np.isfinite(radius_m) else float("inf")
    arc = float(np.hypot(np.diff(xs), np.diff(ys)).sum())
    return {"radius_m": float(radius_m), "curvature_per_m": float(curv_m), "pt_gev": float(pt),
            "charge_sign": charge_sign(turn_sign(fit, xs, ys), field_t), "fit_residual_px": fit["residual_rms"],
            "n_points": int(keep.sum()), "arc_length_px": arc,
            "center_px": [float(v) for v in fit["center"]]}


def find_bubbles(grey, sigma_bg: float = 8.0, k: float = 4.0, min_area: int = 1, max_area: int = 400):
    """Dark-blob centres ``[K, 2]`` (x, y) in a grey image (dark = bubbles), with their areas.

    The background is a wide Gaussian blur (``sigma_bg`` pixels); a pixel belongs to a blob when
    it is darker than the background by ``k`` times the robust noise level (median absolute
    deviation). Blobs of area outside ``[min_area, max_area]`` (grain specks, large flash smears,
    ruler bars) are dropped. Centres are darkness-weighted centroids.
    """
    from scipy import ndimage

    g = np.asarray(grey, np.float64)
    if g.ndim != 2:
        raise ValueError(f"find_bubbles: expects a 2-D grey image, got shape {g.shape}")
    bg = ndimage.gaussian_filter(g, sigma_bg)
    dark = bg - g
    noise = 1.4826 * np.median(np.abs(dark - np.median(dark))) + 1e-6
    mask = dark > k * noise
    lab, n = ndimage.label(mask)
    if n == 0:
        return np.zeros((0, 2)), np.zeros(0, int)
    idx = np.arange(1, n + 1)
    area = ndimage.sum(np.ones_like(g), lab, idx)
    w = np.clip(dark, 0, None)
    cy, cx = np.asarray(ndimage.center_of_mass(w, lab, idx)).T
    ok = (area >= min_area) & (area <= max_area)
    return np.stack([cx[ok], cy[ok]], -1), area[ok].astype(int)


def readout_in_box(centres, box_xyxy, field_t: float, m_per_px: float, min_points: int = 6, tol_px: float = 1.5,
                   seed: int = 0, direction: str = "+x") -> dict | None:
    """:func:`track_readout` of the bubble centres inside ``box_xyxy`` (RANSAC, unordered points);
    None when fewer than ``min_points`` centres lie in the box or on the fitted circle."""
    centres = np.asarray(centres, np.float64).reshape(-1, 2)
    x0, y0, x1, y1 = box_xyxy
    inside = (centres[:, 0] >= x0) & (centres[:, 0] <= x1) & (centres[:, 1] >= y0) & (centres[:, 1] <= y1)
    pts = centres[inside]
    if len(pts) < min_points:
        return None
    r = track_readout(pts[:, 0], pts[:, 1], field_t, m_per_px, ordered=False, direction=direction, robust=True,
                      tol_px=tol_px, seed=seed)
    return r if r["n_points"] >= min_points else None


def near_polyline(centres, polyline, width_px: float = 2.0):
    """Bubble centres within ``width_px`` of a polyline ``[K, 2]`` (x, y), in the polyline's order.

    Returns ``(points [M, 2], order key [M])``: each kept centre with the arc-length position
    of its nearest polyline point, sorted along the polyline (its travel order).
    """
    centres = np.asarray(centres, np.float64).reshape(-1, 2)
    line = np.asarray(polyline, np.float64).reshape(-1, 2)
    if len(line) < 2:
        raise ValueError(f"near_polyline: a polyline needs at least 2 points, got {len(line)}")
    a, b = line[:-1], line[1:]
    ab = b - a
    seg_len2 = np.maximum((ab * ab).sum(-1), 1e-12)
    arc0 = np.r_[0.0, np.cumsum(np.sqrt(seg_len2))][:-1]
    best_d = np.full(len(centres), np.inf)
    best_s = np.zeros(len(centres))
    for start in range(0, len(a), 256):  # segments in blocks: bounded memory for long paths
        sl = slice(start, start + 256)
        t = np.clip(((centres[:, None, :] - a[None, sl]) * ab[None, sl]).sum(-1) / seg_len2[None, sl], 0, 1)
        proj = a[None, sl] + t[..., None] * ab[None, sl]
        d = np.hypot(*(centres[:, None, :] - proj).transpose(2, 0, 1))
        k = d.argmin(1)
        dk = d[np.arange(len(centres)), k]
        better = dk < best_d
        best_d[better] = dk[better]
        best_s[better] = (arc0[sl][k] + t[np.arange(len(centres)), k] * np.sqrt(seg_len2[sl][k]))[better]
    keep = best_d <= width_px
    order = np.argsort(best_s[keep], kind="stable")
    return centres[keep][order], best_s[keep][order]


def _circumcircles(p1, p2, p3):
    """Centres ``[N, 2]`` and radii ``[N]`` of the circles through three points each (inf: collinear)."""
    ax, ay = p1[:, 0], p1[:, 1]
    bx, by = p2[:, 0], p2[:, 1]
    cx, cy = p3[:, 0], p3[:, 1]
    d = 2 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    a2, b2, c2 = ax * ax + ay * ay, bx * bx + by * by, cx * cx + cy * cy
    with np.errstate(divide="ignore", invalid="ignore"):
        ux = (a2 * (by - cy) + b2 * (cy - ay) + c2 * (ay - by)) / d
        uy = (a2 * (cx - bx) + b2 * (ax - cx) + c2 * (bx - ax)) / d
    r = np.hypot(ax - ux, ay - uy)
    r = np.where(np.abs(d) > 1e-9, r, np.inf)
    return np.stack([ux, uy], -1), r


def find_tracks(centres, tol_px: float = 1.2, min_bubbles: int = 12, max_gap_px: float = 25.0, neighbourhood=(10.0, 120.0),
                samples: int = 1500, max_tracks: int = 60, min_radius_px: float = 8.0, seed: int = 0,
                merge_gap_px: float | None = None) -> list[dict]:
    """Classical track finder on bubble centres ``[K, 2]``: sequential, locality-guided RANSAC.

    Repeatedly: draw ``samples`` triples (a seed bubble and two others at a distance within
    ``neighbourhood``), take the circle (or line) through the triple with most bubbles within
    ``tol_px``, keep its longest run of bubbles with gaps <= ``max_gap_px`` along the arc, and
    remove them; stop when the best run has fewer than ``min_bubbles``. Then fragments of one track
    (broken by a gap wider than ``max_gap_px``, e.g. where another track crosses it) are joined by
    :func:`merge_tracks` with gaps up to ``merge_gap_px`` (default ``MERGE_GAP_FACTOR * max_gap_px``, 4x; 0 turns it
    off). Returns per track ``box_xyxy`` (padded by 3 px), ``indices`` (into ``centres``) and the
    Taubin fit of its bubbles.
    """
    c = np.asarray(centres, np.float64).reshape(-1, 2)
    rng = np.random.default_rng(seed)
    alive = np.ones(len(c), bool)
    out: list[dict] = []
    lo, hi = neighbourhood
    for _ in range(max_tracks * 3):
        idx = np.flatnonzero(alive)
        if len(idx) < min_bubbles or len(out) >= max_tracks:
            break
        pts = c[idx]
        seeds = rng.integers(0, len(idx), samples)
        d = np.hypot(*(pts[seeds][:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
        ok = (d > lo) & (d < hi)
        counts = ok.sum(1)
        keep = counts >= 2
        if not keep.any():
            break
        seeds, ok, counts = seeds[keep], ok[keep], counts[keep]
        # two distinct partners per seed, uniformly among its neighbours
        r1 = (rng.random(len(seeds)) * counts).astype(int)
        r2 = (r1 + 1 + (rng.random(len(seeds)) * (counts - 1)).astype(int)) % counts
        cum = np.cumsum(ok, 1)
        j = np.argmax(cum > r1[:, None], 1)
        k = np.argmax(cum > r2[:, None], 1)
        centre, radius = _circumcircles(pts[seeds], pts[j], pts[k])
        line = ~np.isfinite(radius) | (radius > 1e6)
        radius = np.where(radius < min_radius_px, np.nan, radius)  # tiny circles: grain triples
        with np.errstate(invalid="ignore"):
            dist = np.abs(np.hypot(pts[None, :, 0] - centre[:, None, 0], pts[None, :, 1] - centre[:, None, 1]) - radius[:, None])
        if line.any():
            dvec = pts[k[line]] - pts[seeds[line]]
            nrm = np.stack([-dvec[:, 1], dvec[:, 0]], -1) / np.maximum(np.hypot(*dvec.T), 1e-9)[:, None]
            dist[line] = np.abs(((pts[None, :, :] - pts[seeds[line]][:, None, :]) * nrm[:, None, :]).sum(-1))
        inl_count = np.where(np.isnan(dist), 0, dist < tol_px).sum(1)
        best = int(np.argmax(inl_count))
        if inl_count[best] < min_bubbles:
            break
        inl = idx[dist[best] < tol_px]
        run = _longest_run(c[inl], max_gap_px)
        alive[inl[run]] = False
        if len(run) < min_bubbles:
            continue
        out.append(_track(c, inl[run]))
    gap = MERGE_GAP_FACTOR * max_gap_px if merge_gap_px is None else merge_gap_px
    return merge_tracks(c, out, tol_px=tol_px, max_gap_px=gap) if gap > 0 else out


def bubble_box(q, pad: float = 3.0) -> list[float]:
    """Box x0, y0, x1, y1 of bubble centres ``q`` ``[K, 2]`` padded by ``pad`` pixels."""
    return [float(q[:, 0].min() - pad), float(q[:, 1].min() - pad), float(q[:, 0].max() + pad), float(q[:, 1].max() + pad)]


def _track(c, members) -> dict:
    q = c[members]
    return {"box_xyxy": bubble_box(q), "indices": members, "fit": fit_circle_taubin(q[:, 0], q[:, 1])}


def _rms(q, worst: bool = False):
    """R.m.s. distance of points ``q`` to their Taubin circle (and the largest distance)."""
    d = _distance(fit_circle_taubin(q[:, 0], q[:, 1]), q[:, 0], q[:, 1])
    rms = float(np.sqrt((d * d).mean()))
    return (rms, float(d.max())) if worst else rms


def _ordered_steps(p):
    """Order of points ``p`` along their principal axis and the lengths of the steps between them."""
    o = order_points(p[:, 0], p[:, 1])
    return o, np.hypot(*np.diff(p[o], axis=0).T)


def _max_gap(p) -> float:
    """Largest step between consecutive points ``p`` ordered along their principal axis."""
    return float(_ordered_steps(p)[1].max()) if len(p) > 1 else 0.0


def merge_tracks(centres, tracks: list[dict], tol_px: float = 1.2, max_gap_px: float = 100.0, rel_rms: float = 1.5,
                 join: bool = True, extend: bool = True) -> list[dict]:
    """Join fragments of one track and extend tracks along their fits; ``tracks`` are records of
    :func:`find_tracks` (``indices`` into ``centres``).

    ``join``: two tracks join when one circle (Taubin) fits their bubbles together with r.m.s.
    residual <= ``tol_px`` and <= ``rel_rms`` times the worse of their own fits' residuals (one
    track's pieces fit each other as well as they fit themselves; a secondary leaving a vertex
    along nearly the same circle does not), every bubble within ``2.5 * tol_px``, and their joint
    chain along the arc has no gap wider than ``max_gap_px``. Pairs are taken closest first
    (smallest joint residual) and the search repeats until no pair joins, so a track broken in
    several places comes back whole. Parallel neighbours (separate beams a few pixels apart) fail
    the residual test and stay apart.

    ``extend``: then each track takes the free bubbles (in no track) within ``tol_px`` of its
    circle that chain onto it with gaps <= ``max_gap_px`` (a faint stretch the longest-run cut of
    the RANSAC step left behind).
    """
    c = np.asarray(centres, np.float64).reshape(-1, 2)
    groups = [np.asarray(t["indices"]) for t in tracks]
    own = [_rms(c[g]) for g in groups]
    while join and len(groups) > 1:
        best = None
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                q = c[np.concatenate([groups[i], groups[j]])]
                rms, worst = _rms(q, worst=True)
                if rms > min(tol_px, rel_rms * max(own[i], own[j])) or worst > 2.5 * tol_px:
                    continue
                if best is not None and rms >= best[0]:
                    continue
                if _max_gap(q) <= max_gap_px:
                    best = (rms, i, j)
        if best is None:
            break
        _, i, j = best
        groups[i] = np.concatenate([groups[i], groups[j]])
        own[i] = _rms(c[groups[i]])
        del groups[j], own[j]
    used = np.zeros(len(c), bool)
    for g in groups:
        used[g] = True
    grown = False
    for n, g in enumerate(groups if extend else []):
        q = c[g]
        fit = fit_circle_taubin(q[:, 0], q[:, 1])
        free = np.flatnonzero(~used)
        if not len(free):
            break
        near = free[_distance(fit, c[free, 0], c[free, 1]) <= tol_px]
        if not len(near):
            continue
        cand = np.concatenate([g, near])
        run = cand[_chain_containing(c[cand], len(g), max_gap_px)]
        new = np.setdiff1d(run, g)
        if len(new):
            groups[n] = np.concatenate([g, new])
            used[new] = True
            grown = True
    if len(groups) == len(tracks) and not grown:
        return tracks
    return [_track(c, g) for g in groups]


def _chain_containing(p, n_core: int, max_gap: float):
    """Indices of ``p`` on the chain (points ordered along the principal axis, gaps <= ``max_gap``)
    that holds the first ``n_core`` points; points beyond a wider gap are left out."""
    o, steps = _ordered_steps(p)
    seg = np.r_[0, np.cumsum(steps > max_gap)]
    core = np.isin(o, np.arange(n_core))
    lo, hi = seg[core].min(), seg[core].max()
    return o[(seg >= lo) & (seg <= hi)]


def _longest_run(p, max_gap):
    """Indices of the longest chain of points ``p`` ordered along their fitted arc with gaps <= ``max_gap``."""
    if len(p) < 3:
        return np.arange(len(p))
    o, steps = _ordered_steps(p)
    cut = np.flatnonzero(steps > max_gap)
    segs = np.split(np.arange(len(o)), cut + 1)
    return o[max(segs, key=len)]


def find_curls(centres, radius_px=(6.0, 50.0), tol_px: float = 1.5, min_bubbles: int = 10, coverage: float = CURL_COVERAGE,
               samples: int = 300, seed: int = 0, bins: int = 16, max_shared: float = 0.3) -> list[dict]:
    """Closed loops of bubbles (the turns of a spiralling slow electron) among ``centres`` ``[K, 2]``.

    A spiral's turns are circles too small and too sparse for the sequential search of
    :func:`find_tracks` (its partners are drawn from a wide neighbourhood and it needs a long run).
    Here every bubble seeds ``samples`` circles through itself and two bubbles within
    ``2 * radius_px[1]``; a circle of radius in ``radius_px`` counts its bubbles within ``tol_px``
    and the angular sectors (of ``bins``) they occupy. A loop must hold ``min_bubbles`` bubbles
    spread over at least ``coverage`` of the sectors: a closed turn, not a short arc (a circle
    through a few bubbles of a straight track or of grain has them in a few sectors). Loops are
    taken most bubbles first; one sharing more than ``max_shared`` of its bubbles with a loop
    already taken is dropped. Returns per loop ``centre`` (x, y), ``radius``, ``indices``.
    """
    from scipy.spatial import cKDTree

    c = np.asarray(centres, np.float64).reshape(-1, 2)
    rmin, rmax = radius_px
    if len(c) < min_bubbles:
        return []
    rng = np.random.default_rng(seed)
    tree = cKDTree(c)
    cands = []
    for i, nb in enumerate(tree.query_ball_point(c, 2 * rmax)):
        nb = np.asarray([n for n in nb if n != i], int)
        if len(nb) < min_bubbles - 1:
            continue
        j, k = rng.choice(nb, samples), rng.choice(nb, samples)
        ok = j != k
        centre, radius = _circumcircles(np.repeat(c[i:i + 1], ok.sum(), 0), c[j[ok]], c[k[ok]])
        good = (radius >= rmin) & (radius <= rmax)
        if not good.any():
            continue
        centre, radius = centre[good], radius[good]
        dx = c[nb][None, :, 0] - centre[:, None, 0]
        dy = c[nb][None, :, 1] - centre[:, None, 1]
        inl = np.abs(np.hypot(dx, dy) - radius[:, None]) < tol_px
        sector = ((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * bins).astype(int) % bins
        occupied = np.zeros((len(radius), bins), bool)
        rows = np.broadcast_to(np.arange(len(radius))[:, None], inl.shape)
        occupied[rows[inl], sector[inl]] = True
        n = inl.sum(1) + 1  # the seed itself
        n = np.where(occupied.sum(1) >= coverage * bins, n, 0)
        b = int(np.argmax(n))
        if n[b] >= min_bubbles:
            cands.append((int(n[b]), i, centre[b], float(radius[b]), np.r_[i, nb[inl[b]]]))
    cands.sort(key=lambda t: (-t[0], t[1]))
    taken = np.zeros(len(c), bool)
    loops = []
    for _, _, centre, radius, members in cands:
        if taken[members].mean() > max_shared:
            continue
        taken[members] = True
        loops.append({"centre": (float(centre[0]), float(centre[1])), "radius": radius, "indices": members})
    return loops


def turn_coverage(points, centre, bins: int = 16) -> float:
    """Fraction of the ``bins`` angular sectors around ``centre`` that hold one of ``points``
    ``[K, 2]``: 1 for a closed turn, about a quarter for a quarter-circle arc."""
    q = np.asarray(points, np.float64).reshape(-1, 2)
    sector = ((np.arctan2(q[:, 1] - centre[1], q[:, 0] - centre[0]) + np.pi) / (2 * np.pi) * bins).astype(int) % bins
    return len(np.unique(sector)) / bins


def group_curls(loops: list[dict]) -> list[list[int]]:
    """Spirals: loops (``centre``, ``radius``; of :func:`find_curls` or tight tracks) chained by
    overlap: two loops whose circles overlap (centres closer than the sum of their radii) belong to
    one spiral, whose turns shrink and drift. Returns the groups as lists of indices into ``loops``
    (each sorted, groups in order of their first loop)."""
    parent = list(range(len(loops)))

    def root(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a in range(len(loops)):
        for b in range(a + 1, len(loops)):
            d = np.hypot(*np.subtract(loops[a]["centre"], loops[b]["centre"]))
            if d < loops[a]["radius"] + loops[b]["radius"]:
                parent[root(b)] = root(a)
    groups: dict[int, list[int]] = {}
    for a in range(len(loops)):
        groups.setdefault(root(a), []).append(a)
    return list(groups.values())
