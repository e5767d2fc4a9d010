"""The simulator's output: frames and padded per-track labels (:class:`Sample`).

Example:
    >>> from pipelines.bubble.simulation.sample import Sample
    >>> "images" in Sample.ARRAYS and "n_tracks" in Sample.ARRAYS
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
        path_pt: optional per-image list of per-track ``[K]`` film-plane momenta (GeV/c) at the
            path points (``keep_paths``; truth for the physics readout).
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
    path_pt: list | None = None

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
        path_pt = None
        if all(s.path_pt is not None for s in samples):
            path_pt = [p for s in samples for p in s.path_pt]
        return Sample(**out, paths=paths, path_pt=path_pt)


def slice_sample(s: Sample, lo: int, hi: int) -> Sample:
    """Images ``lo:hi`` of ``s`` (labels and paths alike)."""
    kw = {name: getattr(s, name)[lo:hi] for name in Sample.ARRAYS}
    return Sample(**kw, paths=None if s.paths is None else s.paths[lo:hi],
                  path_pt=None if s.path_pt is None else s.path_pt[lo:hi])
