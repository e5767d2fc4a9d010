"""Shared fixtures: a small real Davis slice written as a data set folder."""

import gzip
import shutil

import pytest

from sciarch.pipeline import PROJECT_ROOT

DAVIS = PROJECT_ROOT / "data" / "drugscreen" / "davis"


@pytest.fixture(scope="session")
def davis_rows():
    with gzip.open(DAVIS / "affinities.csv.gz", "rt") as fh:
        return fh.read().splitlines()


@pytest.fixture()
def davis_copy(tmp_path):
    """A writable copy of the Davis folder (to plant bad input)."""
    dst = tmp_path / "davis"
    shutil.copytree(DAVIS, dst)
    return dst
