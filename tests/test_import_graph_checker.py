"""The import-rule checker (tests/import_graph.py) on small synthetic trees."""

import textwrap
from pathlib import Path

import pytest

from tests.import_graph import ImportGraph, check, cycle_violations, framework_violations, private_violations


def make_tree(root: Path, files: dict[str, str]) -> ImportGraph:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return ImportGraph.scan(root, ("fw", "dom"))


CLEAN = {
    "fw/__init__.py": "from fw.core import run\n",
    "fw/core.py": "import os\n\ndef run():\n    from fw import util\n    return util.helper()\n",
    "fw/util.py": "def helper():\n    return 1\n",
    "fw/_impl.py": "x = 1\n",
    "fw/sub/__init__.py": "from .._impl import x\nfrom . import leaf\n",
    "fw/sub/leaf.py": "from fw.util import helper\n",
    "dom/__init__.py": "from dom.app import App\n",
    "dom/app.py": "from fw.core import run\nfrom fw import util as _u\n\nclass App:\n    pass\n",
}


def test_a_clean_tree_has_no_violations(tmp_path):
    graph = make_tree(tmp_path, CLEAN)
    assert check(graph, "fw", "dom") == []
    assert set(graph.modules) == {"fw", "fw.core", "fw.util", "fw._impl", "fw.sub", "fw.sub.leaf", "dom", "dom.app"}
    # `from fw import util` inside a function resolves to the submodule fw.util
    assert "fw.util" in graph.edges()["fw.core"]
    # a relative import from a package __init__ resolves against the package itself
    assert {"fw._impl", "fw.sub.leaf"} <= set(graph.edges()["fw.sub"])


def test_framework_importing_the_domain_is_reported_with_file_and_line(tmp_path):
    files = dict(CLEAN)
    files["fw/core.py"] = "import os\n\ndef run():\n    import dom.app\n    return dom.app\n"
    files["fw/util.py"] = "from dom import app\n"
    found = framework_violations(make_tree(tmp_path, files), "fw", "dom")
    assert [v.where for v in found] == ["fw/core.py:4", "fw/util.py:1"]
    assert "fw.core imports dom.app (`import dom.app`)" in found[0].message


def test_type_checking_imports_do_not_count_but_their_else_branch_does(tmp_path):
    files = dict(CLEAN)
    files["fw/util.py"] = """\
        import typing
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from dom.app import App
        if typing.TYPE_CHECKING:
            import dom
        else:
            from fw import core

        def helper():
            return 1
        """
    graph = make_tree(tmp_path, files)
    assert framework_violations(graph, "fw", "dom") == []
    found = cycle_violations(graph)  # fw.core -> fw.util (in run) -> fw.core (else branch)
    assert len(found) == 1
    assert found[0].message.startswith("fw.core -> fw.util -> fw.core via fw/core.py:4")
    assert "fw/util.py:9 `from fw import core`" in found[0].message


def test_every_cycle_of_a_component_is_listed_with_its_path(tmp_path):
    files = dict(CLEAN)
    files["fw/util.py"] = "def helper():\n    from fw.sub.leaf import helper as h\n    return h\n"
    files["fw/sub/leaf.py"] = "from fw.util import helper\nfrom fw import core\n"
    found = cycle_violations(make_tree(tmp_path, files))
    chains = [v.message.split(" via ")[0] for v in found]
    assert chains == ["fw.sub.leaf -> fw.util -> fw.sub.leaf",
                      "fw.core -> fw.util -> fw.sub.leaf -> fw.core"]


def test_a_package_importing_its_own_submodules_is_no_cycle(tmp_path):
    # fw.core's `from fw import util` imports the fw package too, which imports fw.core:
    # parent packages are not edges, so this is not reported
    assert cycle_violations(make_tree(tmp_path, CLEAN)) == []


@pytest.mark.parametrize("text, expected", [
    ("from fw.util import _secret\n", "imports private name '_secret' from fw.util"),
    ("from fw.sub import _impl_name\n", "imports private name '_impl_name' from fw.sub"),
    ("from fw._impl import x\n", "imports private module fw._impl from outside fw"),
    ("import fw._impl\n", "imports private module fw._impl from outside fw"),
])
def test_private_imports_across_modules_are_reported(tmp_path, text, expected):
    files = dict(CLEAN)
    files["dom/app.py"] = text
    found = private_violations(make_tree(tmp_path, files))
    assert len(found) == 1 and found[0].where == "dom/app.py:1"
    assert expected in found[0].message


def test_dunder_names_and_private_aliases_are_allowed(tmp_path):
    files = dict(CLEAN)
    files["dom/app.py"] = "from fw import __doc__\nfrom fw.util import helper as _helper\n"
    assert private_violations(make_tree(tmp_path, files)) == []
