"""Film: bubbles along the drawn tracks and the scanned frame (grain, scratches, dust, fiducials).

Example:
    >>> import numpy as np
    >>> from pipelines.bubble.simulation.config import Chamber, SimulatorConfig
    >>> from pipelines.bubble.simulation.film import render
    >>> chamber = Chamber(SimulatorConfig(image_size=(48, 64)))
    >>> frame = render(np.random.default_rng(0), chamber, np.array([10.5]), np.array([20.0]), np.array([0.8]))
    >>> frame.shape, frame.dtype.name
    ((48, 64), 'uint8')
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pipelines.bubble.simulation.config import Chamber
from pipelines.bubble.simulation.particles import CHARGE, MASS
from pipelines.bubble.simulation.physics import beta_of
from pipelines.bubble.simulation.tracks import Tracks


def sample_bubbles(rng, chamber: Chamber, tracks: Tracks, res: dict, px, py, inside, drawn):
    """Bubble centres ``bx, by`` (pixels), their image and size along the drawn tracks.

    The density is ``bubbles_per_mm`` times ``z^2 / beta^2`` (capped at ``max_ionisation``).
    """
    c = chamber.config
    ionisation = CHARGE[tracks.pid][None, :] ** 2 / np.maximum(beta_of(res["p"], MASS[tracks.pid][None, :]) ** 2, 1e-6)
    ionisation = np.minimum(ionisation, c.max_ionisation)
    seg = inside[1:] & inside[:-1] & drawn[None, :]
    lam = np.where(seg, c.bubbles_per_mm * c.pixel_mm * c.step_px * np.cos(tracks.dip)[None, :] * ionisation[1:], 0.0)
    counts = rng.poisson(lam)
    si, ti = np.nonzero(counts)
    reps = counts[si, ti]
    si, ti = np.repeat(si, reps), np.repeat(ti, reps)
    u = rng.random(len(si))
    bx = px[si, ti] + u * (px[si + 1, ti] - px[si, ti])
    by = py[si, ti] + u * (py[si + 1, ti] - py[si, ti])
    bimg = tracks.image[ti]
    bsize = c.bubble_radius_px * rng.uniform(0.7, 1.3, len(si)) * (1 + 0.08 * ionisation[si + 1, ti])
    return bx, by, bimg, bsize


def render_frames(rng, chamber: Chamber, n_images: int, bx, by, bimg, bsize) -> np.ndarray:
    """uint8 ``[n_images, H, W]`` frames, image by image (see :func:`render`)."""
    images = np.empty((n_images, chamber.height, chamber.width), np.uint8)
    for img in range(n_images):
        sel = bimg == img
        images[img] = render(rng, chamber, bx[sel], by[sel], bsize[sel])
    return images


def render(rng, chamber: Chamber, bx, by, bsize) -> np.ndarray:
    """Film scan: bubbles darken a lit background; grain, scratches, dust, fiducials."""
    c = chamber.config
    H, W = chamber.height, chamber.width
    opacity = np.zeros((H, W), np.float64)
    # splat bubbles bilinearly, weight ~ bubble area, then blur to bubble size
    x0 = np.floor(bx).astype(int)
    y0 = np.floor(by).astype(int)
    fx, fy = bx - x0, by - y0
    w = 1.6 * bsize**2
    for dx, dy, ww in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xx, yy = x0 + dx, y0 + dy
        ok = (xx >= 0) & (xx < W) & (yy >= 0) & (yy < H)
        np.add.at(opacity, (yy[ok], xx[ok]), (w * ww)[ok])
    # dust specks (unlabelled blobs of various sizes)
    n_dust = rng.poisson(c.n_dust)
    dust = np.zeros((H, W))
    if n_dust:
        dx_ = rng.integers(0, W, n_dust)
        dy_ = rng.integers(0, H, n_dust)
        dust[dy_, dx_] = rng.uniform(2, 12, n_dust)
    opacity = ndimage.gaussian_filter(opacity, c.bubble_radius_px * 0.8)
    opacity += ndimage.gaussian_filter(dust, rng.uniform(0.8, 1.8))
    if c.n_flash > 0:
        opacity += flash_smears(rng, H, W, rng.poisson(c.n_flash))
    # fiducial crosses at fixed chamber positions, scratches
    marks = np.zeros((H, W))
    if c.fiducials:
        for fx_, fy_ in ((0.08, 0.1), (0.92, 0.1), (0.08, 0.9), (0.92, 0.9)):
            draw_cross(marks, fx_ * W, fy_ * H, max(3, W // 40))
    for _ in range(rng.poisson(c.n_scratches)):
        if rng.random() < 0.7:  # horizontal scratch along the film transport
            r = rng.integers(0, H)
            marks[r, :] += rng.uniform(0.05, 0.25)
        else:
            col = rng.integers(0, W)
            marks[:, col] += rng.uniform(0.05, 0.2)
    dark = 1.0 - np.exp(-opacity) + 0.9 * np.minimum(marks, 1.0)
    dark = np.minimum(dark, 1.0)
    # illumination: linear gradient + vignetting
    yy, xx = np.mgrid[0:H, 0:W]
    gx, gy = rng.normal(0, 1, 2)
    r2 = ((xx - W / 2) / W) ** 2 + ((yy - H / 2) / H) ** 2
    light = c.light_level * (1 + c.illumination * (0.5 * gx * (xx / W - 0.5) + 0.5 * gy * (yy / H - 0.5)) - c.illumination * r2)
    img = light * (1 - 0.88 * dark) + rng.normal(0, c.film_noise, (H, W))
    return np.clip(img, 0, 255).astype(np.uint8)


def flash_smears(rng, H, W, n):
    """Opacity of ``n`` elongated dark smears (Gaussian blobs, long axis mostly vertical)."""
    out = np.zeros((H, W))
    if n == 0:
        return out
    yy, xx = np.mgrid[0:H, 0:W]
    for _ in range(n):
        cx, cy = rng.uniform(0, W), rng.uniform(0, H)
        sx = rng.uniform(0.004, 0.012) * W
        sy = sx * rng.uniform(2.0, 8.0)
        out += rng.uniform(0.6, 2.5) * np.exp(-0.5 * (((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2))
    return out


def draw_cross(canvas, cx, cy, half):
    """Set the pixels of an X-shaped fiducial cross centred at ``(cx, cy)`` to 1."""
    t = np.arange(-half, half + 1)
    for sx in (1, -1):
        xs = np.round(cx + t).astype(int)
        ys = np.round(cy + sx * t).astype(int)
        ok = (xs >= 0) & (xs < canvas.shape[1]) & (ys >= 0) & (ys < canvas.shape[0])
        canvas[ys[ok], xs[ok]] = 1.0
