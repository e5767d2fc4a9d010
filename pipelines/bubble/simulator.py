"""Compatibility alias of :mod:`pipelines.bubble.simulation` (the simulator, split by concern).

New code imports from ``pipelines.bubble.simulation``; this module re-exports the same
public names for the importers that still use the old path.

Example:
    >>> from pipelines.bubble.simulator import BubbleChamberSimulator
    >>> from pipelines.bubble.simulation import BubbleChamberSimulator as Same
    >>> BubbleChamberSimulator is Same
    True
"""

from pipelines.bubble.simulation import *  # noqa: F401,F403
from pipelines.bubble.simulation import __all__  # noqa: F401
