"""The simulator: events of a chunk of images, traced generation by generation, then labelled and filmed.

Example:
    >>> from pipelines.bubble.simulation import BubbleChamberSimulator, SimulatorConfig
    >>> sim = BubbleChamberSimulator(SimulatorConfig(image_size=(96, 96), tracks_per_image=(2, 4)))
    >>> int(sim.generate(2, seed=1).n_tracks.min()) >= 1
    True
"""

from __future__ import annotations

import numpy as np

from pipelines.bubble.simulation.config import Chamber, SimulatorConfig
from pipelines.bubble.simulation.events import beam_tracks, children, delta_rays
from pipelines.bubble.simulation.film import render_frames, sample_bubbles
from pipelines.bubble.simulation.labels import frame_coords, select_drawn, track_boxes, track_labels
from pipelines.bubble.simulation.sample import Sample, slice_sample
from pipelines.bubble.simulation.tracing import trace
from pipelines.bubble.simulation.tracks import Tracks, cat_results


class BubbleChamberSimulator:
    """Simulate bubble-chamber frames (see :mod:`pipelines.bubble.simulation` for the physics).

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
        self.chamber = Chamber(self.config)
        self.m_per_px = self.chamber.m_per_px
        self.height, self.width = self.chamber.height, self.chamber.width
        self.step_m = self.chamber.step_m

    def generate(self, n_images: int, seed: int = 0, start_index: int = 0, keep_paths: bool = False) -> Sample:
        """Simulate ``n_images`` frames; image ``start_index + i`` is the same whatever ``n_images``."""
        if n_images < 1:
            raise ValueError(f"n_images must be >= 1, got {n_images}")
        c = self.config
        chunks = []
        first_chunk = start_index // c.chunk_size
        last_chunk = (start_index + n_images - 1) // c.chunk_size
        for chunk in range(first_chunk, last_chunk + 1):
            sample = self.generate_chunk(seed, chunk, keep_paths)
            lo = max(start_index - chunk * c.chunk_size, 0)
            hi = min(start_index + n_images - chunk * c.chunk_size, c.chunk_size)
            chunks.append(slice_sample(sample, lo, hi))
        return Sample.concatenate(chunks) if len(chunks) > 1 else chunks[0]

    def generate_chunk(self, seed: int, chunk: int, keep_paths: bool = False) -> Sample:
        """The ``chunk_size`` images of chunk ``chunk``: one random stream per ``(seed, chunk)``."""
        c = self.config
        chamber = self.chamber
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(chunk), 0xB0BB1E]))
        n = c.chunk_size
        target = rng.integers(c.tracks_per_image[0], c.tracks_per_image[1] + 1, size=n)
        # expected labelled tracks per event ~ 1 + f_int * (prongs + 2 * v0) + deltas; over-supply
        per_event = 1.0 + c.interaction_fraction * (4.0 + 2 * c.v0_per_interaction) + 0.3
        n_events = np.ceil(1.6 * target / per_event + 3).astype(int)
        image_of_event = np.repeat(np.arange(n), n_events)
        g = beam_tracks(rng, chamber, image_of_event)
        traced = []
        # generation loop: trace, then create children from ends (interactions/decays)
        offset = 0
        while len(g):
            res = trace(rng, chamber, g)
            traced.append((g, res))
            offset += len(g)
            g = children(rng, chamber, g, res, offset - len(g), offset)
        tracks = Tracks.cat([t for t, _ in traced])
        results = cat_results([r for _, r in traced])
        # delta rays from every charged track
        deltas = delta_rays(rng, chamber, tracks, results, offset)
        if len(deltas):
            dres = trace(rng, chamber, deltas)
            tracks = Tracks.cat([tracks, deltas])
            results = cat_results([results, dres])
        return self.assemble(rng, n, target, tracks, results, keep_paths)

    def assemble(self, rng, n_images: int, target, tracks: Tracks, res: dict, keep_paths: bool) -> Sample:
        """Select, label and film the traced tracks of a chunk (bubbles and film draw from ``rng``)."""
        chamber = self.chamber
        px, py, inside = frame_coords(chamber, res)
        drawn = select_drawn(chamber, n_images, target, tracks, inside)
        boxes = track_boxes(chamber, px, py, inside)
        bx, by, bimg, bsize = sample_bubbles(rng, chamber, tracks, res, px, py, inside, drawn)
        images = render_frames(rng, chamber, n_images, bx, by, bimg, bsize)
        labels = track_labels(chamber, n_images, tracks, res, drawn, boxes, px, py, keep_paths)
        return Sample(images=images, **labels)
