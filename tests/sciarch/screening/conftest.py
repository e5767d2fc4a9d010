"""Fixtures for the screening tests (helpers live in screening_cases.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from screening_cases import AtomScorer, atom_scorer, targets, tiny_run  # noqa: E402,F401
