"""Particle species, track classes and vertex kinds of the bubble-chamber simulator.

Example:
    >>> from pipelines.bubble.simulation.particles import CHARGE, PARTICLE_IDS
    >>> int(CHARGE[PARTICLE_IDS["pi-"]])
    -1
"""

from __future__ import annotations

import numpy as np

from pipelines.bubble.simulation.physics import M_E

CLASS_NAMES: tuple[str, ...] = ("beam", "secondary", "delta_ray", "v0_daughter", "kink_daughter")
BEAM, SECONDARY, DELTA_RAY, V0_DAUGHTER, KINK_DAUGHTER = range(5)

#: vertex kinds in ``Sample.vertices[..., 2]``
VERTEX_KINDS: tuple[str, ...] = ("interaction", "v0_decay", "kink", "delta_origin")

# name: (mass GeV, charge, c tau in m (inf = stable here))
PARTICLES: dict[str, tuple[float, int, float]] = {
    "e-": (M_E, -1, np.inf),
    "mu+": (0.105658, 1, np.inf),
    "mu-": (0.105658, -1, np.inf),
    "pi+": (0.139570, 1, 7.8045),
    "pi-": (0.139570, -1, 7.8045),
    "K+": (0.493677, 1, 3.711),
    "K-": (0.493677, -1, 3.711),
    "p": (0.938272, 1, np.inf),
    "K0S": (0.497611, 0, 0.02684),
    "Lambda": (1.115683, 0, 0.0789),
}
PARTICLE_IDS = {name: i for i, name in enumerate(PARTICLES)}
#: per-species arrays indexed by particle id: mass (GeV), charge, c tau (m)
MASS = np.array([v[0] for v in PARTICLES.values()])
CHARGE = np.array([v[1] for v in PARTICLES.values()], dtype=np.int64)
CTAU = np.array([v[2] for v in PARTICLES.values()])
