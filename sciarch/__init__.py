"""sciarch: Keras 3 / TensorFlow layers, losses and a generic runner for scientific pipelines."""

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"
