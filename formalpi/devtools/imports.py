"""`python -m formalpi.devtools.imports`: the import graph of `formalpi` has no cycle, between modules
or between packages (`formalpi.engine`, `formalpi.lean`, `formalpi.records`, `formalpi.domains`, ...), the engine imports no
domain module, and no engine module imports another module's private name. It prints the package graph.

The graph is grimp's (the library import-linter is built on; function-level imports count, they are real
dependencies); cycles are its strongly connected components with more than one module. The layered contracts in
pyproject.toml (`lint-imports`) say which way the layers point; this command finds any cycle at all.
Exit status 0 when clean, 1 with one line per violation.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOTS = ("formalpi",)
DOMAINS = "formalpi.domains"
ENGINE = "formalpi.engine"


@dataclass
class ImportReport:
    modules: int = 0
    imports: int = 0
    cycles: list[list[str]] = field(default_factory=list)
    packages: dict[str, set[str]] = field(default_factory=dict)  # package -> the packages it imports
    package_cycles: list[list[str]] = field(default_factory=list)  # each: the packages of one import cycle, sorted
    engine_to_domains: list[tuple[str, str]] = field(default_factory=list)
    private_names: list[tuple[str, str, str]] = field(default_factory=list)  # (importer, module, name)

    @property
    def ok(self) -> bool:
        return not (self.cycles or self.package_cycles or self.engine_to_domains or self.private_names)

    def lines(self) -> list[str]:
        out = [f"{self.modules} modules, {self.imports} imports (packages: {', '.join(ROOTS)})"]
        out += [f"CYCLE: {' -> '.join(c + [c[0]])}" for c in self.cycles]
        out += [f"PACKAGE CYCLE among: {', '.join(c)}" for c in self.package_cycles]
        out += [f"ENGINE IMPORTS A DOMAIN: {a} -> {b}" for a, b in self.engine_to_domains]
        out += [f"PRIVATE NAME: {a} imports {n} from {m}" for a, m, n in self.private_names]
        out.append(
            "no import cycles; the engine imports no domain module and no private name"
            if self.ok
            else f"{len(out) - 1} violation(s)"
        )
        return out

    def package_lines(self) -> list[str]:
        """The package graph, one line per package: what it imports."""
        return [f"{p} -> {', '.join(sorted(self.packages[p])) or '(nothing)'}" for p in sorted(self.packages)]


def _graph():
    import grimp

    return grimp.build_graph(*ROOTS, cache_dir=None)


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a module path) per strongly connected component of more than one module."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(edges)
    g.add_edges_from((a, b) for a, bs in edges.items() for b in bs)
    out = []
    for comp in nx.strongly_connected_components(g):
        if len(comp) > 1:
            path = [a for a, _ in nx.find_cycle(g.subgraph(comp), source=min(comp))]
            i = path.index(min(path))
            out.append(path[i:] + path[:i])  # starts at its smallest module: stable output
    return sorted(out)


def package_of(module: str) -> str:
    """`formalpi.engine.experiment` -> `formalpi.engine`, `formalpi.records` -> `formalpi.records`, `formalpi.domains.math.domain` ->
    `formalpi.domains`: the units the layers are drawn in."""
    parts = module.split(".")
    return parts[0] if parts[0] != "formalpi" else ".".join(parts[:2])


def package_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for a, bs in edges.items():
        pa = package_of(a)
        out.setdefault(pa, set()).update(pb for pb in map(package_of, bs) if pb != pa)
    return out


def find_components(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one node, sorted: the packages that import each other
    round a cycle (one cycle path would name only some of them)."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(edges)
    g.add_edges_from((a, b) for a, bs in edges.items() for b in bs)
    return sorted(sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1)


def private_imports(module: str, path: Path) -> list[tuple[str, str, str]]:
    """`from X import _name` in `module` where X is another module of ours (dunder names are not private)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and node.module.split(".")[0] in ROOTS
            and node.module != module
        ):
            out += [
                (module, node.module, a.name)
                for a in node.names
                if a.name.startswith("_") and not a.name.startswith("__")
            ]
    return out


def check() -> ImportReport:
    graph = _graph()
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    report = ImportReport(modules=len(edges), imports=sum(len(v) for v in edges.values()))
    report.cycles = find_cycles(edges)
    report.packages = package_edges(edges)
    report.package_cycles = find_components(report.packages)
    report.engine_to_domains = sorted(
        (a, b)
        for a, bs in edges.items()
        if a.startswith(ENGINE)
        for b in bs
        if b == DOMAINS or b.startswith(DOMAINS + ".")
    )
    for m in sorted(edges):
        if m.startswith(ENGINE):
            loaded = getattr(sys.modules.get(m), "__file__", None)
            path = Path(loaded) if loaded else _module_path(m)
            report.private_names += private_imports(m, path)
    return report


def _module_path(module: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"cannot locate module {module}")
    return Path(spec.origin)


def main() -> int:
    report = check()
    print("\n".join(report.package_lines() + report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
