"""Stepping every particle of a batch together through the chamber (curvature, dE/dx, scattering).

Example:
    >>> import numpy as np
    >>> from pipelines.bubble.simulation.config import Chamber, SimulatorConfig
    >>> from pipelines.bubble.simulation.tracing import trace
    >>> from pipelines.bubble.simulation.tracks import empty_tracks
    >>> trace(np.random.default_rng(0), Chamber(SimulatorConfig()), empty_tracks())["x"].shape
    (1, 0)
"""

from __future__ import annotations

import numpy as np

from pipelines.bubble.simulation.config import Chamber
from pipelines.bubble.simulation.particles import CHARGE, MASS
from pipelines.bubble.simulation.physics import C_CURV, bethe_dedx_gev_per_m, highland_theta0
from pipelines.bubble.simulation.tracks import Tracks, empty_result


def trace(rng, chamber: Chamber, t: Tracks) -> dict:
    """Step all particles of ``t`` together; returns per-step arrays ``[steps, n]``."""
    c = chamber.config
    n = len(t)
    if n == 0:
        return empty_result()
    mass = MASS[t.pid]
    z = CHARGE[t.pid].astype(float)
    x, y, phi, p = t.x.copy(), t.y.copy(), t.phi.copy(), t.p.copy()
    cos_dip = np.cos(t.dip)
    travelled = np.zeros(n)
    depth = c.depth_mm * 1e-3
    zpos = t.zpos.copy()
    sin_dip = np.sin(t.dip)
    alive = np.ones(n, bool)
    reached = np.zeros(n, bool)
    margin = 0.05 * max(chamber.width, chamber.height) * chamber.m_per_px
    max_steps = int(6 * (chamber.width + chamber.height) / c.step_px)
    xs, ys, zs, ps, phis, valids = [x.copy()], [y.copy()], [zpos.copy()], [p.copy()], [phi.copy()], [alive.copy()]
    ds = chamber.step_m
    curv_k = C_CURV * c.field_t
    e_stop = 0.2e-3  # GeV: below 200 keV kinetic energy a track is considered stopped
    charged = z != 0
    for _ in range(max_steps):
        if not alive.any():
            break
        e = np.sqrt(p * p + mass * mass)
        de = np.where(charged, bethe_dedx_gev_per_m(p, mass, z) * ds, 0.0)
        e_new = e - de
        stopped = (e_new - mass) < e_stop
        p_new = np.sqrt(np.maximum(e_new * e_new - mass * mass, 1e-12))
        p_mid = 0.5 * (p + p_new)
        dphi = -z * curv_k * ds / p_mid  # curvature of the projected helix
        theta0 = np.where(charged, highland_theta0(p_mid, mass, z, ds), 0.0)
        dphi = dphi + theta0 * rng.standard_normal(n)
        phi_mid = phi + 0.5 * dphi
        step_xy = ds * cos_dip
        x = np.where(alive, x + step_xy * np.cos(phi_mid), x)
        y = np.where(alive, y + step_xy * np.sin(phi_mid), y)
        phi = np.where(alive, phi + dphi, phi)
        p = np.where(alive, p_new, p)
        travelled = travelled + np.where(alive, ds, 0.0)
        zpos = np.where(alive, zpos + ds * sin_dip, zpos)
        hit_end = alive & (travelled >= t.stop_after)
        reached |= hit_end
        left = ~chamber.inside(x, y, margin)
        # leaving the view: heading outward only (beams enter from outside the frame)
        was_alive = alive
        out_of_depth = (zpos < 0) | (zpos > depth)
        alive = alive & ~hit_end & ~stopped & ~out_of_depth & ~(left & (travelled > 3 * margin))
        xs.append(x.copy())
        ys.append(y.copy())
        zs.append(zpos.copy())
        ps.append(p.copy())
        phis.append(phi.copy())
        valids.append(was_alive)
    return {
        "x": np.stack(xs), "y": np.stack(ys), "z": np.stack(zs), "p": np.stack(ps), "phi": np.stack(phis),
        "valid": np.stack(valids),
        "x_end": x, "y_end": y, "z_end": zpos, "p_end": p, "phi_end": phi, "reached_stop": reached,
    }
