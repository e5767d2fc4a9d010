"""Material constants of liquid hydrogen and the formulae of the tracker (PDG, see the package doc).

Example:
    >>> from pipelines.bubble.simulation.physics import beta_of
    >>> round(float(beta_of(1.0, 0.938272)), 3)
    0.729
"""

from __future__ import annotations

import numpy as np

M_E = 0.000510999  # GeV
K_BETHE = 0.307075  # MeV cm^2 / mol
LH2_DENSITY = 0.0708  # g / cm^3
LH2_Z_OVER_A = 0.992
LH2_X0_M = 63.04 / LH2_DENSITY / 100.0  # radiation length in metres (8.9 m)
LH2_I_MEV = 21.8e-6  # mean excitation energy of hydrogen
C_CURV = 0.2998  # p_T [GeV/c] = C_CURV * |z| * B [T] * R [m]


def beta_of(p, m):
    return p / np.sqrt(p * p + m * m)


def bethe_dedx_gev_per_m(p, m, z):
    """Mean collision energy loss in liquid hydrogen, GeV per metre (Bethe, no corrections)."""
    bg = np.maximum(p / m, 1e-3)
    b2 = bg * bg / (1.0 + bg * bg)
    gamma = np.sqrt(1.0 + bg * bg)
    ratio = M_E / m
    tmax = 2 * M_E * 1e3 * bg * bg / (1.0 + 2 * gamma * ratio + ratio * ratio)  # MeV
    arg = 2 * M_E * 1e3 * bg * bg * tmax / (LH2_I_MEV**2)
    bracket = np.maximum(0.5 * np.log(np.maximum(arg, 1.0)) - b2, 0.5)
    mev_per_cm = K_BETHE * z * z * LH2_Z_OVER_A * LH2_DENSITY / b2 * bracket
    return mev_per_cm * 1e-3 * 100.0  # GeV / m


def delta_tmax_mev(p, m):
    bg = p / m
    gamma = np.sqrt(1.0 + bg * bg)
    ratio = M_E / m
    return 2 * M_E * 1e3 * bg * bg / (1.0 + 2 * gamma * ratio + ratio * ratio)


def delta_rate_per_m(p, m, z, tmin_mev):
    """Expected number of delta rays with T > tmin per metre of liquid hydrogen."""
    b2 = beta_of(p, m) ** 2
    tmax = delta_tmax_mev(p, m)
    per_gcm2 = 0.5 * K_BETHE * LH2_Z_OVER_A * z * z / b2 * np.clip(1.0 / tmin_mev - 1.0 / tmax, 0.0, None)
    return per_gcm2 * LH2_DENSITY * 100.0


def highland_theta0(p, m, z, step_m):
    """Projected-plane r.m.s. scattering angle for a step (log term at 1 cm, see the package doc)."""
    beta = beta_of(p, m)
    x_ref = 0.01 / LH2_X0_M
    log_term = 1.0 + 0.038 * np.log(x_ref * np.maximum(z * z, 1.0) / (beta * beta))
    theta_ref = 0.0136 / (beta * p) * np.abs(z) * np.sqrt(x_ref) * log_term
    return theta_ref * np.sqrt(step_m / 0.01)


def mean_charged_multiplicity(sqrt_s):
    """<n_ch> = a + b ln s + c ln^2 s (a standard fit of this form for pp; approximate)."""
    ls = np.log(sqrt_s**2)
    return 0.88 + 0.44 * ls + 0.118 * ls * ls
