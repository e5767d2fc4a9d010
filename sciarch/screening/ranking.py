"""Top-N ranking with a bounded heap (memory O(N) whatever the library size).

Molecules are ordered by a ranking key (higher is better; the screen negates scores when
lower is better) and ties are broken by line number (earlier line first), so the ranking
is a total order and identical however the library is chunked, interrupted or sharded.
:meth:`TopN.merge` combines partial rankings (a Beam ``CombineFn`` or per-shard results).

Example:
    >>> import numpy as np
    >>> from sciarch.screening.ranking import TopN
    >>> top = TopN(2)
    >>> top.offer(np.array([0.1, 0.9, 0.5]), np.array([1, 2, 3]), ["a", "b", "c"], ["C", "CC", "CCC"],
    ...           np.array([[0.1], [0.9], [0.5]], dtype=np.float32))
    >>> [h.id for h in top.ranked()]
    ['b', 'c']
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

__all__ = ["Hit", "TopN", "ranking_key"]


@dataclass(frozen=True, order=False)
class Hit:
    """One ranked molecule: its key, line, id, SMILES and the score per target."""

    key: float
    line: int
    id: str
    smiles: str
    scores: tuple[float, ...]

    def sort_tuple(self) -> tuple[float, int]:
        # larger is better: higher key, then earlier line
        return (self.key, -self.line)

    def to_json(self) -> list:
        return [self.key, self.line, self.id, self.smiles, list(self.scores)]

    @classmethod
    def from_json(cls, item: Sequence) -> "Hit":
        return cls(float(item[0]), int(item[1]), str(item[2]), str(item[3]), tuple(float(s) for s in item[4]))


def ranking_key(scores: np.ndarray, rank_by: str | int = "mean", higher_is_better: bool = True) -> np.ndarray:
    """Reduce ``[B, T]`` scores to one key per molecule (larger = better).

    Args:
        scores: float array ``[B, T]``.
        rank_by: a target column index, or ``"mean"``, ``"max"``, ``"min"`` over targets.
        higher_is_better: ``False`` negates the key (e.g. for Kd in nM).
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"scores must be [B, T], got shape {s.shape}")
    if isinstance(rank_by, (int, np.integer)):
        key = s[:, int(rank_by)]
    elif rank_by == "mean":
        key = s.mean(axis=1)
    elif rank_by == "max":
        key = s.max(axis=1)
    elif rank_by == "min":
        key = s.min(axis=1)
    else:
        raise ValueError(f"rank_by must be a target index or 'mean'/'max'/'min', got {rank_by!r}")
    key = key if higher_is_better else -key
    return np.where(np.isnan(key), -np.inf, key)  # a NaN score ranks last


class TopN:
    """Keep the ``n`` best molecules seen so far.

    Args:
        n: how many to keep (``n >= 1``).
    """

    def __init__(self, n: int):
        if n < 1:
            raise ValueError("top N must be >= 1")
        self.n = int(n)
        self._heap: list[tuple[float, int, int, Hit]] = []  # (key, -line, tiebreak, hit); root = worst kept

    def __len__(self) -> int:
        return len(self._heap)

    def threshold(self) -> tuple[float, int] | None:
        """``(key, -line)`` of the worst kept molecule once full, else ``None``."""
        if len(self._heap) < self.n:
            return None
        k, nl, _, _ = self._heap[0]
        return (k, nl)

    def push(self, hit: Hit) -> None:
        item = (hit.key, -hit.line, 0, hit)
        if len(self._heap) < self.n:
            heapq.heappush(self._heap, item)
        elif item[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, item)

    def offer(
        self,
        keys: np.ndarray,
        lines: np.ndarray,
        ids: Sequence[str],
        smiles: Sequence[str],
        scores: np.ndarray,
    ) -> None:
        """Offer a batch; only molecules that can enter the top N are turned into :class:`Hit` objects."""
        keys = np.asarray(keys, dtype=np.float64)
        if keys.size == 0:
            return
        thr = self.threshold()
        if thr is None:
            cand = np.arange(keys.size)
        else:
            cand = np.nonzero(keys >= thr[0])[0]
        if cand.size > self.n:  # only the n best of this batch can matter
            # order by (-key, line) and keep n
            sub = np.lexsort((lines[cand], -keys[cand]))[: self.n]
            cand = cand[sub]
        for i in cand.tolist():
            self.push(Hit(float(keys[i]), int(lines[i]), ids[i], smiles[i], tuple(float(x) for x in scores[i])))

    def merge(self, other: "TopN | Iterable[Hit]") -> "TopN":
        """Add another ranking's hits (commutative and associative)."""
        hits = other.hits() if isinstance(other, TopN) else other
        for h in hits:
            self.push(h)
        return self

    def hits(self) -> list[Hit]:
        return [item[3] for item in self._heap]

    def ranked(self) -> list[Hit]:
        """The kept molecules, best first."""
        return sorted(self.hits(), key=lambda h: (-h.key, h.line))

    def to_json(self) -> list:
        return [h.to_json() for h in self.ranked()]

    @classmethod
    def from_json(cls, n: int, items: Iterable[Sequence]) -> "TopN":
        top = cls(n)
        for item in items:
            top.push(Hit.from_json(item))
        return top
