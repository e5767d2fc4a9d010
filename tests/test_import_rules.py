"""Import rules of the code base (the checker is tests/import_graph.py; its own tests are in
tests/test_import_graph_checker.py):

1. the framework (``sciarch/``) never imports ``pipelines``;
2. no import cycle between modules of ``sciarch/`` and ``pipelines/``;
3. no private name (``_x``) imported from another module.

Every ``import`` counts, at module level and inside functions, except under ``if TYPE_CHECKING:``.
"""

from pathlib import Path

import pytest

from tests.import_graph import ImportGraph, cycle_violations, framework_violations, private_violations


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def graph():
    return ImportGraph.scan(ROOT, ("sciarch", "pipelines"))


def _listing(violations) -> str:
    return "\n".join(str(v) for v in violations)


def test_framework_does_not_import_pipelines(graph):
    found = framework_violations(graph)
    assert not found, f"{len(found)} import(s) of pipelines from sciarch/:\n{_listing(found)}"


def test_no_import_cycles(graph):
    found = cycle_violations(graph)
    assert not found, f"{len(found)} import cycle(s):\n{_listing(found)}"


def test_no_private_names_imported_across_modules(graph):
    found = private_violations(graph)
    assert not found, f"{len(found)} private import(s):\n{_listing(found)}"


def test_the_scan_sees_both_packages(graph):
    assert "sciarch.pipeline" in graph.modules and "pipelines.ecorisk" in graph.modules
    assert not graph.unresolved, _listing(graph.unresolved)
