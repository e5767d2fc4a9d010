"""Make the helper modules next to these tests (layer_cases, equivariance) importable in any
pytest import mode (``prepend`` adds this folder to sys.path itself, ``importlib`` does not)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
