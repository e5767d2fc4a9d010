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

Modules, by concern: :mod:`~pipelines.bubble.simulation.physics` (constants and formulae),
:mod:`~pipelines.bubble.simulation.particles` (species, classes, vertex kinds),
:mod:`~pipelines.bubble.simulation.config` (:class:`SimulatorConfig`, chamber geometry),
:mod:`~pipelines.bubble.simulation.events` (beams, interactions, decays, delta rays),
:mod:`~pipelines.bubble.simulation.tracing` (stepping), :mod:`~pipelines.bubble.simulation.labels`
(selection, boxes, padded labels), :mod:`~pipelines.bubble.simulation.film` (bubbles, rendering),
:mod:`~pipelines.bubble.simulation.sample` (:class:`Sample`) and
:mod:`~pipelines.bubble.simulation.simulator` (:class:`BubbleChamberSimulator`, the orchestration).

Example:
    >>> from pipelines.bubble.simulation import BubbleChamberSimulator, SimulatorConfig
    >>> sim = BubbleChamberSimulator(SimulatorConfig(image_size=(128, 128), tracks_per_image=(3, 8)))
    >>> sample = sim.generate(4, seed=0)
    >>> sample.images.shape, sample.images.dtype.name
    ((4, 128, 128), 'uint8')
"""

from pipelines.bubble.simulation.config import SIMULATOR_VERSION, Chamber, SimulatorConfig
from pipelines.bubble.simulation.particles import (
    BEAM,
    CHARGE,
    CLASS_NAMES,
    CTAU,
    DELTA_RAY,
    KINK_DAUGHTER,
    MASS,
    PARTICLE_IDS,
    PARTICLES,
    SECONDARY,
    V0_DAUGHTER,
    VERTEX_KINDS,
)
from pipelines.bubble.simulation.physics import (
    C_CURV,
    K_BETHE,
    LH2_DENSITY,
    LH2_I_MEV,
    LH2_X0_M,
    LH2_Z_OVER_A,
    M_E,
    beta_of,
    bethe_dedx_gev_per_m,
    delta_rate_per_m,
    delta_tmax_mev,
    highland_theta0,
    mean_charged_multiplicity,
)
from pipelines.bubble.simulation.sample import Sample
from pipelines.bubble.simulation.simulator import BubbleChamberSimulator

__all__ = [
    "BEAM", "BubbleChamberSimulator", "CHARGE", "CLASS_NAMES", "CTAU", "C_CURV", "Chamber", "DELTA_RAY",
    "KINK_DAUGHTER", "K_BETHE", "LH2_DENSITY", "LH2_I_MEV", "LH2_X0_M", "LH2_Z_OVER_A", "MASS", "M_E",
    "PARTICLES", "PARTICLE_IDS", "SECONDARY", "SIMULATOR_VERSION", "Sample", "SimulatorConfig", "V0_DAUGHTER",
    "VERTEX_KINDS", "beta_of", "bethe_dedx_gev_per_m", "delta_rate_per_m", "delta_tmax_mev", "highland_theta0",
    "mean_charged_multiplicity",
]
