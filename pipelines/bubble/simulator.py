"""Physics-based bubble-chamber image simulator with exact per-track labels.

The simulator draws liquid-hydrogen bubble-chamber frames as a film scan would
show them (light background, dark bubbles) and returns, for every visible track,
its box, class, particle, momentum, charge, parent and vertex points. The physics
follows the standard formulae collected in ``data/bubble/PROVENANCE.md`` (PDG
Review of Particle Physics, "Passage of particles through matter" and
"Kinematics"):

* **Curvature.** A charged particle moves on a helix around the field ``B`` (along
  the camera axis); its projection has radius ``R = p_xy / (0.2998 |z| B)``
  (``p_xy = p cos(dip)`` in GeV/c, ``B`` in T, ``R`` in m). Tracks are stepped
  along their path, so the radius follows the momentum as it falls.
* **Energy loss.** Bethe formula ``dE/dx = K z^2 (Z/A) rho / beta^2 *
  [ln(2 m_e c^2 beta^2 gamma^2 / I) - beta^2]`` (no density or shell correction;
  electrons use the same collision term, radiation is negligible with X0 = 8.9 m).
  Slow electrons therefore spiral inwards; slow protons stop.
* **Bubble density** is proportional to ``z^2 / beta^2`` (normalised to a
  minimum-ionising track, capped where bubbles merge), so slow protons and kaons
  give dark tracks and relativistic pions and electrons faint, dotted ones.
* **Multiple scattering** (Highland): per step the projected direction turns by a
  Gaussian angle with ``theta0 = 13.6 MeV / (beta c p) * |z| * sqrt(x/X0) * [1 +
  0.038 ln(x z^2 / (X0 beta^2))]``; the logarithm is evaluated at 1 cm of
  hydrogen (the formula's range of validity) and the angle is scaled with
  ``sqrt(step / 1 cm)``.
* **Delta rays** (knock-on electrons) are emitted only by charged tracks, at the
  rate ``N(T > T_min) = (K/2)(Z/A)(z^2/beta^2)(1/T_min - 1/T_max)`` per g/cm^2,
  with ``T`` drawn from ``dN/dT ~ 1/T^2`` and the emission angle from two-body
  kinematics ``cos(theta) = (T/p_e) (p_max/T_max)``.
* **Interactions.** A chosen fraction of beam tracks interacts inside the view
  (an event selection, as scanners kept frames with interactions). The charged
  multiplicity at the vertex has mean ``a + b ln s + c ln^2 s`` with KNO-like
  (Gamma) fluctuations and charge conservation fixing its parity (pi- p -> even
  number of charged prongs). Secondaries get an exponential transverse momentum
  and a flat centre-of-mass rapidity, boosted to the laboratory; one positive
  prong is the recoil proton.
* **Decays.** Neutral V0s (K0_S -> pi+ pi-, c tau = 2.684 cm; Lambda -> p pi-,
  c tau = 7.89 cm) fly invisibly and decay into two charged daughters that meet at
  the decay vertex; charged pions and kaons decay to a muon (a kink) with their
  c tau (7.80 m, 3.71 m). Decay points follow ``exp(-L / (beta gamma c tau))``.
* **Film.** Illumination gradient and vignetting, film grain, horizontal and
  vertical scratches, dust specks (unlabelled dark blobs) and fiducial crosses.

Track classes (``CLASS_NAMES``): ``beam``, ``secondary``, ``delta_ray``,
``v0_daughter``, ``kink_daughter``.

Everything is vectorised over the tracks of a whole batch of images; the random
stream of image ``i`` depends only on ``(seed, i // chunk_size)``, so a data set is
reproducible image by image.

Example:
    >>> from pipelines.bubble.simulator import BubbleChamberSimulator, SimulatorConfig
    >>> sim = BubbleChamberSimulator(SimulatorConfig(image_size=(128, 128), tracks_per_image=(3, 8)))
    >>> sample = sim.generate(4, seed=0)
    >>> sample.images.shape, sample.images.dtype.name
    ((4, 128, 128), 'uint8')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

# --------------------------------------------------------------------------- constants

#: bump when the simulator's output for a given config and seed changes (invalidates caches)
SIMULATOR_VERSION = "1.0"

CLASS_NAMES: tuple[str, ...] = ("beam", "secondary", "delta_ray", "v0_daughter", "kink_daughter")
BEAM, SECONDARY, DELTA_RAY, V0_DAUGHTER, KINK_DAUGHTER = range(5)

#: vertex kinds in ``Sample.vertices[..., 2]``
VERTEX_KINDS: tuple[str, ...] = ("interaction", "v0_decay", "kink", "delta_origin")

M_E = 0.000510999  # GeV
K_BETHE = 0.307075  # MeV cm^2 / mol
LH2_DENSITY = 0.0708  # g / cm^3
LH2_Z_OVER_A = 0.992
LH2_X0_M = 63.04 / LH2_DENSITY / 100.0  # radiation length in metres (8.9 m)
LH2_I_MEV = 21.8e-6  # mean excitation energy of hydrogen
C_CURV = 0.2998  # p_T [GeV/c] = C_CURV * |z| * B [T] * R [m]

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
_MASS = np.array([v[0] for v in PARTICLES.values()])
_CHARGE = np.array([v[1] for v in PARTICLES.values()], dtype=np.int64)
_CTAU = np.array([v[2] for v in PARTICLES.values()])


@dataclass
class SimulatorConfig:
    """Chamber, beam, event and film parameters of :class:`BubbleChamberSimulator`.

    Args:
        image_size: (height, width) of the film frame in pixels.
        pixel_mm: chamber millimetres per pixel (sets the scale of curvature and spirals).
        field_t: magnetic field along the camera axis in tesla (hydrogen chambers: 1.5-2 T).
        beam_particle: beam species (a key of ``PARTICLES``).
        beam_momentum_gev: beam momentum in GeV/c.
        beam_momentum_spread: relative r.m.s. spread of the beam momentum.
        beam_divergence_deg: r.m.s. beam angle around the horizontal (enters from the left).
        tracks_per_image: inclusive range of labelled tracks per image; the simulator adds
            whole events until the count is reached (density parameter).
        interaction_fraction: fraction of beam tracks that interact inside the view.
        v0_per_interaction: mean number of V0s (K0_S or Lambda) produced per interaction.
        lambda_fraction: fraction of V0s that are Lambdas.
        kaon_fraction: fraction of charged secondaries that are kaons.
        mean_pt_gev: mean transverse momentum of secondaries.
        delta_tmin_mev: lowest kinetic energy of a drawn (and labelled) delta ray.
        delta_rate_scale: multiplies the physical delta-ray rate (1 = PDG rate).
        decay_length_scale: multiplies c tau of charged pion/kaon decays (1 = physical).
        bubbles_per_mm: bubble density of a minimum-ionising track (z^2/beta^2 = 1).
        max_ionisation: cap on the relative bubble density (bubbles merge beyond it).
        bubble_radius_px: mean bubble radius in pixels.
        step_px: tracking step in pixels of path length.
        box_pad_px: margin added around a track's extent to form its box.
        min_visible_px: shortest in-frame path (pixels) for a track to be drawn and labelled.
        chunk_size: images simulated together (vectorisation unit and random-stream unit).
        film_noise: r.m.s. film grain in grey levels.
        n_dust: mean number of dust specks per frame (unlabelled).
        n_scratches: mean number of scratches per frame (unlabelled).
        fiducials: draw fiducial crosses.
        illumination: strength of the illumination gradient / vignetting (0 = flat).
        depth_mm: chamber depth along the camera axis; tracks leaving it end.
    """

    image_size: tuple[int, int] = (256, 256)
    pixel_mm: float = 1.0
    field_t: float = 1.5
    beam_particle: str = "pi-"
    beam_momentum_gev: float = 10.0
    beam_momentum_spread: float = 0.02
    beam_divergence_deg: float = 2.0
    tracks_per_image: tuple[int, int] = (5, 80)
    interaction_fraction: float = 0.5
    v0_per_interaction: float = 0.35
    lambda_fraction: float = 0.4
    kaon_fraction: float = 0.1
    mean_pt_gev: float = 0.35
    delta_tmin_mev: float = 1.0
    delta_rate_scale: float = 1.0
    decay_length_scale: float = 1.0
    bubbles_per_mm: float = 0.45
    max_ionisation: float = 6.0
    bubble_radius_px: float = 0.8
    step_px: float = 0.75
    box_pad_px: float = 2.0
    min_visible_px: float = 8.0
    chunk_size: int = 32
    film_noise: float = 5.0
    n_dust: float = 6.0
    n_scratches: float = 2.0
    fiducials: bool = True
    illumination: float = 0.12
    depth_mm: float = 120.0

    def __post_init__(self):
        self.image_size = tuple(int(v) for v in self.image_size)
        self.tracks_per_image = tuple(int(v) for v in self.tracks_per_image)
        problems = []
        if len(self.image_size) != 2 or min(self.image_size) < 32:
            problems.append(f"image_size={self.image_size} (need two sizes >= 32)")
        lo, hi = self.tracks_per_image if len(self.tracks_per_image) == 2 else (-1, -1)
        if not 1 <= lo <= hi:
            problems.append(f"tracks_per_image={self.tracks_per_image} (need 1 <= min <= max)")
        if self.beam_particle not in PARTICLES or PARTICLES[self.beam_particle][1] == 0:
            problems.append(f"beam_particle={self.beam_particle!r} (need a charged species of {list(PARTICLES)})")
        for name in ("pixel_mm", "field_t", "beam_momentum_gev", "delta_tmin_mev", "bubbles_per_mm", "step_px"):
            if getattr(self, name) <= 0:
                problems.append(f"{name}={getattr(self, name)} (must be > 0)")
        if not 0 <= self.interaction_fraction <= 1:
            problems.append(f"interaction_fraction={self.interaction_fraction} (must be in [0, 1])")
        if problems:
            raise ValueError("SimulatorConfig: " + "; ".join(problems))


@dataclass
class Sample:
    """A batch of simulated frames and their labels (padded arrays, pad = -1).

    Attributes:
        images: uint8 ``[N, H, W]`` grey-scale frames (dark = bubbles).
        boxes: float32 ``[N, M, 4]`` track boxes ``(x0, y0, x1, y1)`` in pixels.
        classes: int32 ``[N, M]`` class index into ``CLASS_NAMES``; -1 = padding.
        particle: int32 ``[N, M]`` index into ``PARTICLES``.
        charge: int32 ``[N, M]``.
        momentum: float32 ``[N, M]`` momentum (GeV/c) where the track starts.
        pt_xy: float32 ``[N, M]`` momentum component in the film plane at the start.
        parent: int32 ``[N, M]`` index (same image) of the track that emitted it; -1 = none
            (beam) or invisible parent (V0 daughters: the neutral V0 is not a track).
        start: float32 ``[N, M, 2]`` start point (x, y) in pixels (may lie outside the frame).
        end: float32 ``[N, M, 2]`` end point (x, y) in pixels.
        vertices: float32 ``[N, V, 3]`` (x, y, kind) with kind indexing ``VERTEX_KINDS``.
        n_tracks: int32 ``[N]`` number of labelled tracks.
        paths: optional per-image list of per-track ``[K, 2]`` pixel paths (for tests/plots).
    """

    images: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    particle: np.ndarray
    charge: np.ndarray
    momentum: np.ndarray
    pt_xy: np.ndarray
    parent: np.ndarray
    start: np.ndarray
    end: np.ndarray
    vertices: np.ndarray
    n_tracks: np.ndarray
    paths: list | None = None

    ARRAYS = ("images", "boxes", "classes", "particle", "charge", "momentum", "pt_xy", "parent",
              "start", "end", "vertices", "n_tracks")

    def to_npz_dict(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in self.ARRAYS}

    @staticmethod
    def concatenate(samples: list["Sample"]) -> "Sample":
        """Stack samples, padding the track and vertex axes to the longest."""
        out = {}
        for name in Sample.ARRAYS:
            arrays = [getattr(s, name) for s in samples]
            if name in ("images", "n_tracks"):
                out[name] = np.concatenate(arrays, axis=0)
                continue
            width = max(a.shape[1] for a in arrays)
            padded = []
            for a in arrays:
                pad = [(0, 0)] * a.ndim
                pad[1] = (0, width - a.shape[1])
                padded.append(np.pad(a, pad, constant_values=-1))
            out[name] = np.concatenate(padded, axis=0)
        paths = None
        if all(s.paths is not None for s in samples):
            paths = [p for s in samples for p in s.paths]
        return Sample(**out, paths=paths)


# --------------------------------------------------------------------------- physics helpers


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
    """Projected-plane r.m.s. scattering angle for a step (log term at 1 cm, see module doc)."""
    beta = beta_of(p, m)
    x_ref = 0.01 / LH2_X0_M
    log_term = 1.0 + 0.038 * np.log(x_ref * np.maximum(z * z, 1.0) / (beta * beta))
    theta_ref = 0.0136 / (beta * p) * np.abs(z) * np.sqrt(x_ref) * log_term
    return theta_ref * np.sqrt(step_m / 0.01)


def mean_charged_multiplicity(sqrt_s):
    """<n_ch> = a + b ln s + c ln^2 s (a standard fit of this form for pp; approximate)."""
    ls = np.log(sqrt_s**2)
    return 0.88 + 0.44 * ls + 0.118 * ls * ls


# --------------------------------------------------------------------------- tracker


@dataclass
class _Tracks:
    """Flat arrays describing particles to be stepped (one row per particle)."""

    image: np.ndarray
    event: np.ndarray
    pid: np.ndarray
    cls: np.ndarray
    parent: np.ndarray  # global track row of the parent (-1 none)
    x: np.ndarray  # metres, film plane
    y: np.ndarray
    phi: np.ndarray  # direction in the film plane
    dip: np.ndarray  # angle out of the film plane
    p: np.ndarray  # GeV/c
    zpos: np.ndarray  # depth along the camera axis (m)
    stop_after: np.ndarray  # path length (m) after which the track ends (interaction/decay)
    end_kind: np.ndarray  # 0 none, 1 interaction, 2 decay

    @staticmethod
    def cat(parts: list["_Tracks"]) -> "_Tracks":
        return _Tracks(*[np.concatenate([getattr(t, f.name) for t in parts]) for f in dataclasses.fields(_Tracks)])

    def __len__(self):
        return len(self.x)


class BubbleChamberSimulator:
    """Simulate bubble-chamber frames (see the module docstring for the physics).

    Args:
        config: a :class:`SimulatorConfig`.

    Example:
        >>> sim = BubbleChamberSimulator(SimulatorConfig(image_size=(96, 96), tracks_per_image=(2, 4)))
        >>> s = sim.generate(2, seed=1)
        >>> int(s.n_tracks.min()) >= 1
        True
    """

    def __init__(self, config: SimulatorConfig | None = None):
        self.config = config or SimulatorConfig()
        c = self.config
        self.m_per_px = c.pixel_mm * 1e-3
        self.height, self.width = c.image_size
        self.step_m = c.step_px * self.m_per_px

    # ------------------------------------------------------------------ public
    def generate(self, n_images: int, seed: int = 0, start_index: int = 0, keep_paths: bool = False) -> Sample:
        """Simulate ``n_images`` frames; image ``start_index + i`` is the same whatever ``n_images``."""
        if n_images < 1:
            raise ValueError(f"n_images must be >= 1, got {n_images}")
        c = self.config
        chunks = []
        first_chunk = start_index // c.chunk_size
        last_chunk = (start_index + n_images - 1) // c.chunk_size
        for chunk in range(first_chunk, last_chunk + 1):
            sample = self._generate_chunk(seed, chunk, keep_paths)
            lo = max(start_index - chunk * c.chunk_size, 0)
            hi = min(start_index + n_images - chunk * c.chunk_size, c.chunk_size)
            chunks.append(_slice_sample(sample, lo, hi))
        return Sample.concatenate(chunks) if len(chunks) > 1 else chunks[0]

    # ------------------------------------------------------------------ events
    def _generate_chunk(self, seed: int, chunk: int, keep_paths: bool) -> Sample:
        c = self.config
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(chunk), 0xB0BB1E]))
        n = c.chunk_size
        target = rng.integers(c.tracks_per_image[0], c.tracks_per_image[1] + 1, size=n)
        # expected labelled tracks per event ~ 1 + f_int * (prongs + 2 * v0) + deltas; over-supply
        per_event = 1.0 + c.interaction_fraction * (4.0 + 2 * c.v0_per_interaction) + 0.3
        n_events = np.ceil(1.6 * target / per_event + 3).astype(int)
        image_of_event = np.repeat(np.arange(n), n_events)
        beams = self._beam_tracks(rng, image_of_event)
        generations = [beams]
        g = beams
        all_points = []
        traced = []
        # generation loop: trace, then create children from ends (interactions/decays)
        offset = 0
        while len(g):
            res = self._trace(rng, g)
            traced.append((g, res, offset))
            offset += len(g)
            g = self._children(rng, g, res, offset - len(g), offset)
            generations.append(g)
        tracks = _Tracks.cat([t for t, _, _ in traced])
        results = _cat_results([r for _, r, _ in traced])
        # delta rays from every charged track
        deltas = self._delta_rays(rng, tracks, results, offset)
        if len(deltas):
            dres = self._trace(rng, deltas)
            tracks = _Tracks.cat([tracks, deltas])
            results = _cat_results([results, dres])
        return self._assemble(rng, n, target, tracks, results, keep_paths)

    def _beam_tracks(self, rng, image_of_event) -> _Tracks:
        c = self.config
        k = len(image_of_event)
        pid = PARTICLE_IDS[c.beam_particle]
        width_m = self.width * self.m_per_px
        height_m = self.height * self.m_per_px
        p = c.beam_momentum_gev * (1 + c.beam_momentum_spread * rng.standard_normal(k))
        interacts = rng.random(k) < c.interaction_fraction
        stop = np.where(interacts, rng.uniform(0.12, 0.85, k) * width_m + 0.02 * width_m, np.inf)
        return _Tracks(
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

    def _children(self, rng, g: _Tracks, res: dict, row0: int, row1: int) -> _Tracks:
        """Secondaries of interactions, V0 daughters and kink muons of the tracks in ``g``."""
        c = self.config
        ended = res["reached_stop"]
        parts = []
        rows = np.arange(row0, row1)
        # ---- interactions (beam tracks only)
        inter = np.flatnonzero(ended & (g.end_kind == 1))
        if len(inter):
            parts.append(self._interaction_products(rng, g, res, inter, rows))
        # ---- decays
        dec = np.flatnonzero(ended & (g.end_kind == 2))
        if len(dec):
            parts.append(self._decay_products(rng, g, res, dec, rows))
        if not parts:
            return _Tracks.cat([_empty_tracks()])
        return _Tracks.cat(parts)

    def _interaction_products(self, rng, g, res, inter, rows) -> _Tracks:
        c = self.config
        m_beam = _MASS[g.pid[inter]]
        p_beam = res["p_end"][inter]
        m_p = PARTICLES["p"][0]
        e_beam = np.sqrt(p_beam**2 + m_beam**2)
        sqrt_s = np.sqrt(m_beam**2 + m_p**2 + 2 * e_beam * m_p)
        mean_n = mean_charged_multiplicity(sqrt_s)
        # KNO: n / <n> ~ Gamma(k=4); charge conservation (pi- p: total charge 0) -> even count
        beam_charge = _CHARGE[g.pid[inter]]
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
        mass = _MASS[pid]
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
        stop, kind = self._decay_distance(rng, pid, p_tot)
        return _Tracks(
            image=g.image[inter][vid], event=g.event[inter][vid], pid=pid,
            cls=np.full(len(vid), SECONDARY), parent=np.where(is_v0, -2 - rows[inter][vid], rows[inter][vid]),
            x=res["x_end"][inter][vid], y=res["y_end"][inter][vid], phi=phi, dip=dip, p=p_tot,
            zpos=res["z_end"][inter][vid], stop_after=stop, end_kind=kind,
        )

    def _decay_distance(self, rng, pid, p):
        c = self.config
        ctau = _CTAU[pid] * np.where(_CHARGE[pid] != 0, c.decay_length_scale, 1.0)
        mass = _MASS[pid]
        length = rng.exponential(1.0, len(pid)) * (p / mass) * ctau
        finite = np.isfinite(length)
        return np.where(finite, length, np.inf), np.where(finite, 2, 0)

    def _decay_products(self, rng, g, res, dec, rows) -> _Tracks:
        """Two-body decays: V0 -> two charged daughters; pi/K -> mu (+ invisible neutrino)."""
        pid = g.pid[dec]
        is_v0 = _CHARGE[pid] == 0
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
                d1[i] = PARTICLE_IDS["mu+"] if _CHARGE[q] > 0 else PARTICLE_IDS["mu-"]
                d2[i] = -1  # neutrino (invisible)
        M = _MASS[pid]
        m1 = _MASS[d1]
        m2 = np.where(d2 >= 0, _MASS[np.maximum(d2, 0)], 0.0)
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
            stop, kind = self._decay_distance(rng, pdk, ptot)
            sel = np.flatnonzero(keep)
            out.append(_Tracks(
                image=g.image[dec][sel], event=g.event[dec][sel], pid=pdk[sel],
                cls=np.where(is_v0, V0_DAUGHTER, KINK_DAUGHTER)[sel],
                parent=np.where(is_v0, g.parent[dec], rows[dec])[sel],
                x=res["x_end"][dec][sel], y=res["y_end"][dec][sel], phi=phi[sel], dip=dip[sel], p=ptot[sel],
                zpos=res["z_end"][dec][sel], stop_after=stop[sel], end_kind=kind[sel],
            ))
        return _Tracks.cat(out)

    def _delta_rays(self, rng, tracks: _Tracks, results: dict, row_offset: int) -> _Tracks:
        """Knock-on electrons along every charged track (neutral V0s emit none)."""
        c = self.config
        pts_x, pts_y, pts_p, pts_phi, valid = results["x"], results["y"], results["p"], results["phi"], results["valid"]
        z = _CHARGE[tracks.pid].astype(float)
        m = _MASS[tracks.pid]
        steps = pts_x.shape[0]
        zz = np.broadcast_to(z, (steps, len(tracks)))
        mm = np.broadcast_to(m, (steps, len(tracks)))
        rate = delta_rate_per_m(np.maximum(pts_p, 1e-6), mm, zz, c.delta_tmin_mev) * c.delta_rate_scale
        # only where the step is inside the frame (deltas outside are never seen) and charged
        inside = valid & self._inside(pts_x, pts_y) & (zz != 0)
        lam = np.where(inside, rate * self.step_m, 0.0)
        counts = rng.poisson(lam)
        si, ti = np.nonzero(counts)
        reps = counts[si, ti]
        si = np.repeat(si, reps)
        ti = np.repeat(ti, reps)
        k = len(ti)
        if k == 0:
            return _empty_tracks()
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
        return _Tracks(
            image=tracks.image[ti], event=tracks.event[ti], pid=np.full(k, PARTICLE_IDS["e-"]),
            cls=np.full(k, DELTA_RAY), parent=ti + 0, x=pts_x[si, ti], y=pts_y[si, ti], phi=phi, dip=dip,
            p=pe, zpos=results["z"][si, ti], stop_after=np.full(k, np.inf), end_kind=np.zeros(k, int),
        )

    # ------------------------------------------------------------------ stepping
    def _inside(self, x, y, margin=0.0):
        w = self.width * self.m_per_px
        h = self.height * self.m_per_px
        return (x >= -margin) & (x <= w + margin) & (y >= -margin) & (y <= h + margin)

    def _trace(self, rng, t: _Tracks) -> dict:
        """Step all particles of ``t`` together; returns per-step arrays ``[steps, n]``."""
        c = self.config
        n = len(t)
        if n == 0:
            return _empty_result()
        mass = _MASS[t.pid]
        z = _CHARGE[t.pid].astype(float)
        x, y, phi, p = t.x.copy(), t.y.copy(), t.phi.copy(), t.p.copy()
        cos_dip = np.cos(t.dip)
        travelled = np.zeros(n)
        depth = c.depth_mm * 1e-3
        zpos = t.zpos.copy()
        sin_dip = np.sin(t.dip)
        alive = np.ones(n, bool)
        reached = np.zeros(n, bool)
        margin = 0.05 * max(self.width, self.height) * self.m_per_px
        max_steps = int(6 * (self.width + self.height) / c.step_px)
        xs, ys, zs, ps, phis, valids = [x.copy()], [y.copy()], [zpos.copy()], [p.copy()], [phi.copy()], [alive.copy()]
        ds = self.step_m
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
            left = ~self._inside(x, y, margin)
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

    # ------------------------------------------------------------------ labels + rendering
    def _assemble(self, rng, n_images, target, tracks: _Tracks, res: dict, keep_paths: bool) -> Sample:
        c = self.config
        H, W = self.height, self.width
        px = res["x"] / self.m_per_px
        py = res["y"] / self.m_per_px
        valid = res["valid"]
        inside = valid & (px >= 0) & (px <= W - 1) & (py >= 0) & (py <= H - 1)
        visible_len = inside.sum(0) * c.step_px * np.cos(tracks.dip)
        charged = _CHARGE[tracks.pid] != 0
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
        # boxes from the in-frame path
        big = 1e9
        x0 = np.where(inside, px, big).min(0) - c.box_pad_px
        y0 = np.where(inside, py, big).min(0) - c.box_pad_px
        x1 = np.where(inside, px, -big).max(0) + c.box_pad_px
        y1 = np.where(inside, py, -big).max(0) + c.box_pad_px
        boxes = np.stack([np.clip(x0, 0, W), np.clip(y0, 0, H), np.clip(x1, 0, W), np.clip(y1, 0, H)], -1)
        # --- bubbles (vectorised over all drawn tracks)
        ionisation = _CHARGE[tracks.pid][None, :] ** 2 / np.maximum(beta_of(res["p"], _MASS[tracks.pid][None, :]) ** 2, 1e-6)
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
        # --- render per image
        images = np.empty((n_images, H, W), np.uint8)
        for img in range(n_images):
            sel = bimg == img
            images[img] = self._render(rng, bx[sel], by[sel], bsize[sel])
        # --- labels, padded
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
        start = np.stack([tracks.x, tracks.y], -1) / self.m_per_px
        end = np.stack([res["x_end"], res["y_end"]], -1) / self.m_per_px
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
        v_max = max([len(v) for v in v_out] + [1])
        vertices = np.full((n_images, v_max, 3), -1, np.float32)
        for img, v in enumerate(v_out):
            if len(v):
                vertices[img, : len(v)] = v
        cos_dip = np.cos(tracks.dip)
        paths = None
        if keep_paths:
            paths = [[] for _ in range(n_images)]
            for r in order:
                ok = valid[:, r]
                paths[tracks.image[r]].append(np.stack([px[ok, r], py[ok, r]], -1).astype(np.float32))
        return Sample(
            images=images,
            boxes=pad(boxes, extra=(4,)),
            classes=pad(tracks.cls, dtype=np.int32),
            particle=pad(tracks.pid, dtype=np.int32),
            charge=pad(_CHARGE[tracks.pid], dtype=np.int32, fill=0),
            momentum=pad(tracks.p),
            pt_xy=pad(tracks.p * cos_dip),
            parent=pad(parent_slot, dtype=np.int32),
            start=pad(start, extra=(2,)),
            end=pad(end, extra=(2,)),
            vertices=vertices,
            n_tracks=per_img.astype(np.int32),
            paths=paths,
        )

    def _render(self, rng, bx, by, bsize) -> np.ndarray:
        """Film scan: bubbles darken a lit background; grain, scratches, dust, fiducials."""
        c = self.config
        H, W = self.height, self.width
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
        # fiducial crosses at fixed chamber positions, scratches
        marks = np.zeros((H, W))
        if c.fiducials:
            for fx_, fy_ in ((0.08, 0.1), (0.92, 0.1), (0.08, 0.9), (0.92, 0.9)):
                _draw_cross(marks, fx_ * W, fy_ * H, max(3, W // 40))
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
        light = 232 * (1 + c.illumination * (0.5 * gx * (xx / W - 0.5) + 0.5 * gy * (yy / H - 0.5)) - c.illumination * r2)
        img = light * (1 - 0.88 * dark) + rng.normal(0, c.film_noise, (H, W))
        return np.clip(img, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- helpers


def _draw_cross(canvas, cx, cy, half):
    t = np.arange(-half, half + 1)
    for sx in (1, -1):
        xs = np.round(cx + t).astype(int)
        ys = np.round(cy + sx * t).astype(int)
        ok = (xs >= 0) & (xs < canvas.shape[1]) & (ys >= 0) & (ys < canvas.shape[0])
        canvas[ys[ok], xs[ok]] = 1.0


def _empty_tracks() -> _Tracks:
    z = np.zeros(0)
    zi = np.zeros(0, int)
    return _Tracks(image=zi, event=zi, pid=zi, cls=zi, parent=zi, x=z, y=z, phi=z, dip=z, p=z, zpos=z,
                   stop_after=z, end_kind=zi)


def _empty_result() -> dict:
    z2 = np.zeros((1, 0))
    z = np.zeros(0)
    return {"x": z2, "y": z2, "z": z2, "p": z2, "phi": z2, "valid": np.zeros((1, 0), bool),
            "x_end": z, "y_end": z, "z_end": z, "p_end": z, "phi_end": z, "reached_stop": np.zeros(0, bool)}


def _cat_results(results: list[dict]) -> dict:
    steps = max(r["x"].shape[0] for r in results)
    out = {}
    for key in ("x", "y", "z", "p", "phi", "valid"):
        parts = []
        for r in results:
            a = r[key]
            if a.shape[0] < steps:  # repeat the last row (invalid beyond the end)
                filler = np.repeat(a[-1:], steps - a.shape[0], axis=0)
                if key == "valid":
                    filler = np.zeros_like(filler)
                a = np.concatenate([a, filler])
            parts.append(a)
        out[key] = np.concatenate(parts, axis=1)
    for key in ("x_end", "y_end", "z_end", "p_end", "phi_end", "reached_stop"):
        out[key] = np.concatenate([r[key] for r in results])
    return out


def _slice_sample(s: Sample, lo: int, hi: int) -> Sample:
    kw = {name: getattr(s, name)[lo:hi] for name in Sample.ARRAYS}
    return Sample(**kw, paths=None if s.paths is None else s.paths[lo:hi])
