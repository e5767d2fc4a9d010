"""Static import graph of the ``sciarch`` and ``pipelines`` packages, and the three import rules.

Every ``import`` / ``from ... import`` statement counts, at module level and inside functions,
classes, ``try`` blocks and conditionals, except in the body of ``if TYPE_CHECKING:`` (or
``if typing.TYPE_CHECKING:``; its ``else`` branch still counts). The source is parsed, never
imported.

* A module is a ``.py`` file; a package's ``__init__.py`` is the module named after the package.
* ``import a.b.c`` is an edge to ``a.b.c`` (the longest prefix that is a known module).
* ``from a.b import name`` is an edge to ``a.b.name`` when that is a module (a submodule),
  else to ``a.b`` (where ``name`` is defined). Relative imports are resolved first.
* Parent packages imported implicitly by ``import a.b.c`` are not edges: a package importing
  its own submodules in ``__init__`` is not a cycle with them.

Rules (:func:`check`):

1. ``framework``: no module under ``sciarch/`` imports ``pipelines`` (anything under it).
2. ``cycle``: no import cycle among the modules. Each strongly connected component is
   reported as the cycles that cover its edges (for each edge, a shortest cycle through
   it), each hop with its file:line and statement.
3. ``private``: no private name (``_x``, not a dunder) imported from another module with
   ``from a.b import _x``; a private *submodule* (``from a import _m``, ``import a._m``,
   ``from a._m import x``) counts only when the importer is outside the package that holds it.

Example:
    >>> from pathlib import Path
    >>> from tests.import_graph import ImportGraph, check
    >>> graph = ImportGraph.scan(Path("."), ("sciarch", "pipelines"))  # doctest: +SKIP
    >>> for v in check(graph): print(v)                                # doctest: +SKIP
"""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Import:
    """One imported thing: ``importer`` imports ``target`` (a known module) at ``path:line``."""

    importer: str
    target: str
    path: str
    line: int
    statement: str
    names: tuple[str, ...] = ()  # the names of a ``from`` import that are not submodules


@dataclass(frozen=True)
class Violation:
    rule: str  # "framework", "cycle" or "private"
    where: str  # "path:line" of the (first) offending statement
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.where}: {self.message}"


@dataclass
class ImportGraph:
    root: Path
    modules: dict[str, Path] = field(default_factory=dict)  # dotted name -> file
    imports: list[Import] = field(default_factory=list)
    #: statements whose absolute target lies under one of the scanned packages but is no known module
    unresolved: list[Import] = field(default_factory=list)
    #: every absolute module name each module imports (also third-party), for rule 1
    raw: list[Import] = field(default_factory=list)

    @classmethod
    def scan(cls, root: Path, packages: tuple[str, ...]) -> "ImportGraph":
        root = Path(root)
        graph = cls(root)
        for pkg in packages:
            for path in sorted((root / pkg).rglob("*.py")):
                rel = path.relative_to(root).with_suffix("")
                parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
                graph.modules[".".join(parts)] = path
        for name, path in graph.modules.items():
            graph._scan_module(name, path, packages)
        return graph

    def is_package(self, module: str) -> bool:
        return self.modules.get(module, Path()).name == "__init__.py"

    def _scan_module(self, module: str, path: Path, packages: tuple[str, ...]) -> None:
        rel = str(path.relative_to(self.root))
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=rel)
        for node in _import_nodes(tree):
            stmt = ast.get_source_segment(source, node) or ast.dump(node)
            stmt = " ".join(stmt.split())
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self._add(module, alias.name, (), rel, node.lineno, stmt, packages)
            else:
                base = self._absolute(module, node.module, node.level)
                if base is None:
                    continue
                plain = []
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if alias.name != "*" and sub in self.modules:
                        self._add(module, sub, (), rel, node.lineno, stmt, packages, via_from=True)
                    else:
                        plain.append(alias.name)
                if plain or not node.names:
                    self._add(module, base, tuple(plain), rel, node.lineno, stmt, packages)

    def _absolute(self, module: str, name: str | None, level: int) -> str | None:
        if level == 0:
            return name
        package = module if self.is_package(module) else module.rpartition(".")[0]
        parts = package.split(".")
        if level - 1 > len(parts) - 1:
            return None
        base = ".".join(parts[: len(parts) - (level - 1)])
        return f"{base}.{name}" if name else base

    def _add(self, importer, name, names, rel, line, stmt, packages, via_from=False) -> None:
        self.raw.append(Import(importer, name, rel, line, stmt, names))
        if name.split(".")[0] not in packages:
            return
        target = name
        while target and target not in self.modules:
            target = target.rpartition(".")[0]
        if not target:
            self.unresolved.append(Import(importer, name, rel, line, stmt, names))
            return
        if target != importer:
            self.imports.append(Import(importer, target, rel, line, stmt, names))

    # ------------------------------------------------------------------ graph
    def edges(self) -> dict[str, dict[str, Import]]:
        """importer -> target -> the first statement that imports it."""
        out: dict[str, dict[str, Import]] = {m: {} for m in self.modules}
        for imp in sorted(self.imports, key=lambda i: (i.path, i.line)):
            out[imp.importer].setdefault(imp.target, imp)
        return out


def _import_nodes(tree: ast.AST):
    """Import statements anywhere in ``tree`` except under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(reversed(node.orelse))
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


# ---------------------------------------------------------------------- rules


def framework_violations(graph: ImportGraph, framework: str = "sciarch", domain: str = "pipelines"):
    out = []
    for imp in graph.raw:
        if imp.importer.split(".")[0] == framework and imp.target.split(".")[0] == domain:
            out.append(Violation("framework", f"{imp.path}:{imp.line}",
                                 f"{imp.importer} imports {imp.target} (`{imp.statement}`)"))
    return sorted(set(out), key=lambda v: v.where)


def strongly_connected(edges: dict[str, dict]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); components in a deterministic order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    comps: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, {})))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                comps.append(sorted(comp))
    return sorted(comps)


def _path_within(edges: dict[str, dict], members: set[str], src: str, dst: str) -> list[str] | None:
    """Shortest path ``src .. dst`` (breadth first, sorted neighbours) using only ``members``."""
    prev = {src: None}
    queue = deque([src])
    while queue:
        node = queue.popleft()
        if node == dst:
            path = [node]
            while prev[path[-1]] is not None:
                path.append(prev[path[-1]])
            return list(reversed(path))
        for nxt in sorted(edges[node]):
            if nxt in members and nxt not in prev:
                prev[nxt] = node
                queue.append(nxt)
    return None


def component_cycles(edges: dict[str, dict], component: list[str]) -> list[list[str]]:
    """Cycles ``[a, b, ..., a]`` covering every import edge inside ``component``: for each edge
    ``a -> b``, a shortest cycle through it; each cycle once, rotated to start at its smallest module."""
    members = set(component)
    seen: set[tuple[str, ...]] = set()
    cycles = []
    for a in component:
        for b in sorted(edges[a]):
            if b not in members:
                continue
            back = _path_within(edges, members, b, a)
            if back is None:  # pragma: no cover - impossible inside a strongly connected component
                continue
            ring = [a] + back[:-1]
            k = ring.index(min(ring))
            ring = ring[k:] + ring[:k]
            if tuple(ring) not in seen:
                seen.add(tuple(ring))
                cycles.append(ring + [ring[0]])
    return sorted(cycles, key=lambda c: (len(c), c))


def cycle_violations(graph: ImportGraph):
    edges = graph.edges()
    out = []
    for comp in strongly_connected(edges):
        if len(comp) < 2:
            continue
        for cycle in component_cycles(edges, comp):
            hops = [edges[a][b] for a, b in zip(cycle, cycle[1:])]
            chain = " -> ".join(cycle)
            detail = "; ".join(f"{h.path}:{h.line} `{h.statement}`" for h in hops)
            out.append(Violation("cycle", f"{hops[0].path}:{hops[0].line}", f"{chain} via {detail}"))
    return out


def private_violations(graph: ImportGraph):
    out = []
    for imp in graph.imports:
        for name in imp.names:
            if _is_private(name):
                out.append(Violation("private", f"{imp.path}:{imp.line}",
                                     f"{imp.importer} imports private name {name!r} from {imp.target}"))
        # private modules on the path of the target, imported from outside their package
        parts = imp.target.split(".")
        for i, part in enumerate(parts):
            if _is_private(part):
                holder = ".".join(parts[:i])
                if not (imp.importer == holder or imp.importer.startswith(holder + ".")):
                    out.append(Violation("private", f"{imp.path}:{imp.line}",
                                         f"{imp.importer} imports private module {imp.target} from outside {holder}"))
                break
    return sorted(set(out), key=lambda v: (v.where, v.message))


def check(graph: ImportGraph, framework: str = "sciarch", domain: str = "pipelines") -> list[Violation]:
    """All violations of the three rules."""
    return framework_violations(graph, framework, domain) + cycle_violations(graph) + private_violations(graph)


def main() -> int:  # pragma: no cover - a convenience: python -m tests.import_graph
    root = Path(__file__).resolve().parent.parent
    violations = check(ImportGraph.scan(root, ("sciarch", "pipelines")))
    for v in violations:
        print(v)
    print(f"{len(violations)} violation(s)")
    return 1 if violations else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
