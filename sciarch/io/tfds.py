"""Base class for TFDS builders that build offline from the repository's embedded data.

Subclasses set ``SOURCE_DIR`` (the default data folder) and ``SOURCE_NAME`` (for error
messages) and implement ``_info``, ``_split_generators`` and ``_generate_examples`` as
usual; users pass ``source_dir`` to read another copy and ``data_dir`` for the output.

TFDS finds a builder's code through ``importlib`` resources, which needs the
``importlib_resources`` backport for packages like ``pipelines``; the path of the
defining module is known, so :meth:`code_path` returns it directly.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import ClassVar

import tensorflow_datasets as tfds
from etils import epath


class LocalSourceBuilder(tfds.core.GeneratorBasedBuilder):
    """A ``GeneratorBasedBuilder`` that reads local files only (never downloads).

    Args:
        source_dir: folder holding the embedded data layout (default ``SOURCE_DIR``).
        **kwargs: passed to ``tfds.core.GeneratorBasedBuilder`` (``data_dir``, ``config``, ...).
    """

    SOURCE_DIR: ClassVar[Path | None] = None
    SOURCE_NAME: ClassVar[str] = "data"

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls):
        return epath.Path(inspect.getfile(cls))

    def __init__(self, *, source_dir: str | Path | None = None, **kwargs):
        default = type(self).SOURCE_DIR
        self.source_dir = Path(source_dir) if source_dir is not None else (Path(default) if default else None)
        if self.source_dir is not None and not self.source_dir.is_dir():
            raise FileNotFoundError(f"{self.source_dir}: {self.SOURCE_NAME} data folder not found")
        super().__init__(**kwargs)
