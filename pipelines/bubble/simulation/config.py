"""Simulator parameters (:class:`SimulatorConfig`) and the chamber geometry derived from them.

Example:
    >>> from pipelines.bubble.simulation.config import Chamber, SimulatorConfig
    >>> chamber = Chamber(SimulatorConfig(image_size=(64, 96), pixel_mm=2.0))
    >>> chamber.height, chamber.width, chamber.m_per_px
    (64, 96, 0.002)
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.bubble.simulation.particles import PARTICLES

#: bump when the simulator's output for a given config and seed changes (invalidates caches)
SIMULATOR_VERSION = "1.0"


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
        light_level: grey level of the lit background at the frame centre (before saturation at 255).
        n_flash: mean number of flash smears per frame (unlabelled elongated dark blobs, mostly
            vertical, as on the real film; 0 = none, and no random numbers are drawn for them).
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
    light_level: float = 232.0
    n_flash: float = 0.0

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


class Chamber:
    """Frame geometry of a :class:`SimulatorConfig`: pixel scale, frame size and tracking step.

    Args:
        config: the simulator configuration.
    """

    def __init__(self, config: SimulatorConfig):
        self.config = config
        self.m_per_px = config.pixel_mm * 1e-3
        self.height, self.width = config.image_size
        self.step_m = config.step_px * self.m_per_px

    def inside(self, x, y, margin=0.0):
        """Whether film-plane points (metres) lie inside the frame, widened by ``margin``."""
        w = self.width * self.m_per_px
        h = self.height * self.m_per_px
        return (x >= -margin) & (x <= w + margin) & (y >= -margin) & (y <= h + margin)
