"""Flat per-particle arrays (:class:`Tracks`) and the per-step arrays the tracer returns.

A trace result is a dict of ``[steps, n]`` arrays (``x``, ``y``, ``z``, ``p``, ``phi``,
``valid``) and of ``[n]`` end values (``x_end``, ``y_end``, ``z_end``, ``p_end``,
``phi_end``, ``reached_stop``); see :func:`pipelines.bubble.simulation.tracing.trace`.

Example:
    >>> from pipelines.bubble.simulation.tracks import Tracks, empty_tracks
    >>> len(Tracks.cat([empty_tracks(), empty_tracks()]))
    0
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


@dataclass
class Tracks:
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
    def cat(parts: list["Tracks"]) -> "Tracks":
        return Tracks(*[np.concatenate([getattr(t, f.name) for t in parts]) for f in dataclasses.fields(Tracks)])

    def __len__(self):
        return len(self.x)


def empty_tracks() -> Tracks:
    z = np.zeros(0)
    zi = np.zeros(0, int)
    return Tracks(image=zi, event=zi, pid=zi, cls=zi, parent=zi, x=z, y=z, phi=z, dip=z, p=z, zpos=z,
                  stop_after=z, end_kind=zi)


def empty_result() -> dict:
    """The trace result of no particles."""
    z2 = np.zeros((1, 0))
    z = np.zeros(0)
    return {"x": z2, "y": z2, "z": z2, "p": z2, "phi": z2, "valid": np.zeros((1, 0), bool),
            "x_end": z, "y_end": z, "z_end": z, "p_end": z, "phi_end": z, "reached_stop": np.zeros(0, bool)}


def cat_results(results: list[dict]) -> dict:
    """Concatenate trace results along the particle axis, padding the step axis (invalid)."""
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
