"""Events: beam tracks, interactions (secondaries, V0s), decays (V0 daughters, kinks) and delta rays.

Each function draws from ``rng`` in a fixed order, so the stream of a chunk of images
depends only on ``(seed, chunk)``.

Example:
    >>> import numpy as np
    >>> from pipelines.bubble.simulation.config import Chamber, SimulatorConfig
    >>> from pipelines.bubble.simulation.events import beam_tracks
    >>> beams = beam_tracks(np.random.default_rng(0), Chamber(SimulatorConfig()), np.array([0, 0, 1]))
    >>> len(beams), beams.cls.tolist()
    (3, [0, 0, 0])
"""

from __future__ import annotations

import numpy as np

from pipelines.bubble.simulation.config import Chamber
from pipelines.bubble.simulation.particles import (
    BEAM,
    CHARGE,
    CTAU,
    DELTA_RAY,
    KINK_DAUGHTER,
    MASS,
    PARTICLE_IDS,
    PARTICLES,
    SECONDARY,
    V0_DAUGHTER,
)
from pipelines.bubble.simulation.physics import M_E, delta_rate_per_m, delta_tmax_mev, mean_charged_multiplicity
from pipelines.bubble.simulation.tracks import Tracks, empty_tracks


def beam_tracks(rng, chamber: Chamber, image_of_event) -> Tracks:
    c = chamber.config
    k = len(image_of_event)
    pid = PARTICLE_IDS[c.beam_particle]
    width_m = chamber.width * chamber.m_per_px
    height_m = chamber.height * chamber.m_per_px
    p = c.beam_momentum_gev * (1 + c.beam_momentum_spread * rng.standard_normal(k))
    interacts = rng.random(k) < c.interaction_fraction
    stop = np.where(interacts, rng.uniform(0.12, 0.85, k) * width_m + 0.02 * width_m, np.inf)
    return Tracks(
        image=image_of_event.astype(np.int64),
        event=np.arange(k),
        pid=np.full(k, pid),
        cls=np.full(k, BEAM),
        parent=np.full(k, -1),
        x=np.full(k, -0.02 * width_m),
        y=rng.uniform(0.06, 0.94, k) * height_m,
        phi=np.deg2rad(c.beam_divergence_deg) * rng.standard_normal(k),
        dip=np.deg2rad(c.beam_divergence_deg) * rng.standard_normal(k),
        p=p,
        zpos=rng.uniform(0.3, 0.7, k) * c.depth_mm * 1e-3,
        stop_after=stop,
        end_kind=np.where(interacts, 1, 0),
    )


def children(rng, chamber: Chamber, g: Tracks, res: dict, row0: int, row1: int) -> Tracks:
    """Secondaries of interactions, V0 daughters and kink muons of the tracks in ``g``."""
    ended = res["reached_stop"]
    parts = []
    rows = np.arange(row0, row1)
    # ---- interactions (beam tracks only)
    inter = np.flatnonzero(ended & (g.end_kind == 1))
    if len(inter):
        parts.append(interaction_products(rng, chamber, g, res, inter, rows))
    # ---- decays
    dec = np.flatnonzero(ended & (g.end_kind == 2))
    if len(dec):
        parts.append(decay_products(rng, chamber, g, res, dec, rows))
    if not parts:
        return Tracks.cat([empty_tracks()])
    return Tracks.cat(parts)


def interaction_products(rng, chamber: Chamber, g, res, inter, rows) -> Tracks:
    c = chamber.config
    m_beam = MASS[g.pid[inter]]
    p_beam = res["p_end"][inter]
    m_p = PARTICLES["p"][0]
    e_beam = np.sqrt(p_beam**2 + m_beam**2)
    sqrt_s = np.sqrt(m_beam**2 + m_p**2 + 2 * e_beam * m_p)
    mean_n = mean_charged_multiplicity(sqrt_s)
    # KNO: n / <n> ~ Gamma(k=4); charge conservation (pi- p: total charge 0) -> even count
    beam_charge = CHARGE[g.pid[inter]]
    total_charge = beam_charge + 1
    n = np.maximum(np.round(mean_n * rng.gamma(4.0, 0.25, len(inter))).astype(int), 2)
    n = n + ((n - np.abs(total_charge)) % 2)
    n_v0 = rng.poisson(c.v0_per_interaction, len(inter))
    # per-product arrays
    n_all = n + n_v0
    vid = np.repeat(np.arange(len(inter)), n_all)
    within = np.arange(len(vid)) - np.repeat(np.cumsum(n_all) - n_all, n_all)
    is_v0 = within >= np.repeat(n, n_all)
    # charges: first (n + total)/2 positive, rest negative among charged
    n_pos = (np.repeat(n, n_all) + np.repeat(total_charge, n_all)) // 2
    positive = (~is_v0) & (within < n_pos)
    kaon = rng.random(len(vid)) < c.kaon_fraction
    pid = np.where(positive, np.where(kaon, PARTICLE_IDS["K+"], PARTICLE_IDS["pi+"]),
                   np.where(kaon, PARTICLE_IDS["K-"], PARTICLE_IDS["pi-"]))
    recoil = positive & (within == 0) & (rng.random(len(vid)) < 0.7)
    pid = np.where(recoil, PARTICLE_IDS["p"], pid)
    lam = rng.random(len(vid)) < c.lambda_fraction
    pid = np.where(is_v0, np.where(lam, PARTICLE_IDS["Lambda"], PARTICLE_IDS["K0S"]), pid)
    mass = MASS[pid]
    # kinematics: exponential p_T (dN/dpT ~ pT exp(-2 pT/<pT>)), flat CM rapidity, boost
    pt = rng.gamma(2.0, c.mean_pt_gev / 2.0, len(vid))
    mt = np.sqrt(mass**2 + pt**2)
    s_v = sqrt_s[vid]
    y_max = np.log(np.maximum(s_v / mt, 1.05))
    ystar = rng.uniform(-1, 1, len(vid)) * y_max
    ystar = np.where(recoil, -y_max * rng.uniform(0.75, 1.0, len(vid)), ystar)
    pl_star = mt * np.sinh(ystar)
    e_star = mt * np.cosh(ystar)
    gamma_cm = (e_beam + m_p)[vid] / s_v
    bg_cm = p_beam[vid] / s_v
    pl = gamma_cm * pl_star + bg_cm * e_star
    azim = rng.uniform(0, 2 * np.pi, len(vid))
    p_in = pt * np.cos(azim)
    p_out = pt * np.sin(azim)
    p_tot = np.sqrt(pl**2 + pt**2)
    base_phi = res["phi_end"][inter][vid]
    phi = base_phi + np.arctan2(p_in, pl)
    dip = np.arcsin(np.clip(p_out / p_tot, -1, 1))
    stop, kind = decay_distance(rng, chamber, pid, p_tot)
    return Tracks(
        image=g.image[inter][vid], event=g.event[inter][vid], pid=pid,
        cls=np.full(len(vid), SECONDARY), parent=np.where(is_v0, -2 - rows[inter][vid], rows[inter][vid]),
        x=res["x_end"][inter][vid], y=res["y_end"][inter][vid], phi=phi, dip=dip, p=p_tot,
        zpos=res["z_end"][inter][vid], stop_after=stop, end_kind=kind,
    )


def decay_distance(rng, chamber: Chamber, pid, p):
    c = chamber.config
    ctau = CTAU[pid] * np.where(CHARGE[pid] != 0, c.decay_length_scale, 1.0)
    mass = MASS[pid]
    length = rng.exponential(1.0, len(pid)) * (p / mass) * ctau
    finite = np.isfinite(length)
    return np.where(finite, length, np.inf), np.where(finite, 2, 0)


def decay_products(rng, chamber: Chamber, g, res, dec, rows) -> Tracks:
    """Two-body decays: V0 -> two charged daughters; pi/K -> mu (+ invisible neutrino)."""
    pid = g.pid[dec]
    is_v0 = CHARGE[pid] == 0
    name_of = list(PARTICLES)
    d1 = np.empty(len(dec), int)
    d2 = np.empty(len(dec), int)
    for i, q in enumerate(pid):
        nm = name_of[q]
        if nm == "K0S":
            d1[i], d2[i] = PARTICLE_IDS["pi+"], PARTICLE_IDS["pi-"]
        elif nm == "Lambda":
            d1[i], d2[i] = PARTICLE_IDS["p"], PARTICLE_IDS["pi-"]
        else:  # charged pi/K -> mu nu
            d1[i] = PARTICLE_IDS["mu+"] if CHARGE[q] > 0 else PARTICLE_IDS["mu-"]
            d2[i] = -1  # neutrino (invisible)
    M = MASS[pid]
    m1 = MASS[d1]
    m2 = np.where(d2 >= 0, MASS[np.maximum(d2, 0)], 0.0)
    pstar = np.sqrt(np.maximum((M**2 - (m1 + m2) ** 2) * (M**2 - (m1 - m2) ** 2), 0)) / (2 * M)
    # isotropic in the rest frame
    cost = rng.uniform(-1, 1, len(dec))
    sint = np.sqrt(1 - cost**2)
    az = rng.uniform(0, 2 * np.pi, len(dec))
    p_par = res["p_end"][dec]
    gam = np.sqrt(p_par**2 + M**2) / M
    bg = p_par / M
    out = []
    for sign, mass, pd in ((1.0, m1, d1), (-1.0, m2, d2)):
        keep = pd >= 0
        pz = sign * pstar * cost
        px = sign * pstar * sint * np.cos(az)
        py = sign * pstar * sint * np.sin(az)
        e = np.sqrt(pstar**2 + mass**2)
        pl = gam * pz + bg * e
        p_in, p_out = px, py
        # parent direction: phi_end in plane, dip_end out of plane; rotate (pl, p_in, p_out)
        dip_par = g.dip[dec]
        # components in a frame (film-plane direction, film-plane normal, camera axis)
        a = pl * np.cos(dip_par) - p_out * np.sin(dip_par)
        cz = pl * np.sin(dip_par) + p_out * np.cos(dip_par)
        ptot = np.sqrt(a**2 + p_in**2 + cz**2)
        phi = res["phi_end"][dec] + np.arctan2(p_in, a)
        dip = np.arcsin(np.clip(cz / np.maximum(ptot, 1e-9), -1, 1))
        pdk = np.maximum(pd, 0)
        stop, kind = decay_distance(rng, chamber, pdk, ptot)
        sel = np.flatnonzero(keep)
        out.append(Tracks(
            image=g.image[dec][sel], event=g.event[dec][sel], pid=pdk[sel],
            cls=np.where(is_v0, V0_DAUGHTER, KINK_DAUGHTER)[sel],
            parent=np.where(is_v0, g.parent[dec], rows[dec])[sel],
            x=res["x_end"][dec][sel], y=res["y_end"][dec][sel], phi=phi[sel], dip=dip[sel], p=ptot[sel],
            zpos=res["z_end"][dec][sel], stop_after=stop[sel], end_kind=kind[sel],
        ))
    return Tracks.cat(out)


def delta_rays(rng, chamber: Chamber, tracks: Tracks, results: dict, row_offset: int) -> Tracks:
    """Knock-on electrons along every charged track (neutral V0s emit none)."""
    c = chamber.config
    pts_x, pts_y, pts_p, pts_phi, valid = results["x"], results["y"], results["p"], results["phi"], results["valid"]
    z = CHARGE[tracks.pid].astype(float)
    m = MASS[tracks.pid]
    steps = pts_x.shape[0]
    zz = np.broadcast_to(z, (steps, len(tracks)))
    mm = np.broadcast_to(m, (steps, len(tracks)))
    rate = delta_rate_per_m(np.maximum(pts_p, 1e-6), mm, zz, c.delta_tmin_mev) * c.delta_rate_scale
    # only where the step is inside the frame (deltas outside are never seen) and charged
    inside = valid & chamber.inside(pts_x, pts_y) & (zz != 0)
    lam = np.where(inside, rate * chamber.step_m, 0.0)
    counts = rng.poisson(lam)
    si, ti = np.nonzero(counts)
    reps = counts[si, ti]
    si = np.repeat(si, reps)
    ti = np.repeat(ti, reps)
    k = len(ti)
    if k == 0:
        return empty_tracks()
    p_par = pts_p[si, ti]
    m_par = m[ti]
    tmax = delta_tmax_mev(p_par, m_par)
    tmin = c.delta_tmin_mev
    u = rng.random(k)
    inv_t = 1.0 / tmin - u * np.clip(1.0 / tmin - 1.0 / tmax, 0, None)
    t_mev = 1.0 / inv_t
    t_gev = t_mev * 1e-3
    pe = np.sqrt(t_gev**2 + 2 * t_gev * M_E)
    tmax_gev = tmax * 1e-3
    pmax = np.sqrt(tmax_gev**2 + 2 * tmax_gev * M_E)
    cos_theta = np.clip((t_gev / pe) * (pmax / tmax_gev), -1, 1)
    sin_theta = np.sqrt(1 - cos_theta**2)
    az = rng.uniform(0, 2 * np.pi, k)
    p_in = sin_theta * np.cos(az)
    p_out = sin_theta * np.sin(az)
    phi = pts_phi[si, ti] + np.arctan2(p_in, cos_theta)
    dip = np.arcsin(np.clip(p_out, -1, 1))
    return Tracks(
        image=tracks.image[ti], event=tracks.event[ti], pid=np.full(k, PARTICLE_IDS["e-"]),
        cls=np.full(k, DELTA_RAY), parent=ti + 0, x=pts_x[si, ti], y=pts_y[si, ti], phi=phi, dip=dip,
        p=pe, zpos=results["z"][si, ti], stop_after=np.full(k, np.inf), end_kind=np.zeros(k, int),
    )
