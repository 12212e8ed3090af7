"""`python -m formalpi.devtools.imports`: the import graph of `formalpi` and `domains` has no cycle, the engine
imports no domain module, and no engine module imports another module's private name.

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

ROOTS = ("formalpi", "domains")
ENGINE = "formalpi.engine"


@dataclass
class ImportReport:
    modules: int = 0
    imports: int = 0
    cycles: list[list[str]] = field(default_factory=list)
    engine_to_domains: list[tuple[str, str]] = field(default_factory=list)
    private_names: list[tuple[str, str, str]] = field(default_factory=list)  # (importer, module, name)

    @property
    def ok(self) -> bool:
        return not (self.cycles or self.engine_to_domains or self.private_names)

    def lines(self) -> list[str]:
        out = [f"{self.modules} modules, {self.imports} imports (packages: {', '.join(ROOTS)})"]
        out += [f"CYCLE: {' -> '.join(c + [c[0]])}" for c in self.cycles]
        out += [f"ENGINE IMPORTS A DOMAIN: {a} -> {b}" for a, b in self.engine_to_domains]
        out += [f"PRIVATE NAME: {a} imports {n} from {m}" for a, m, n in self.private_names]
        out.append("no import cycles; the engine imports no domain module and no private name" if self.ok
                   else f"{len(out) - 1} violation(s)")
        return out


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


def private_imports(module: str, path: Path) -> list[tuple[str, str, str]]:
    """`from X import _name` in `module` where X is another module of ours (dunder names are not private)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] in ROOTS and node.module != module:
            out += [(module, node.module, a.name) for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")]
    return out


def check() -> ImportReport:
    graph = _graph()
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    report = ImportReport(modules=len(edges), imports=sum(len(v) for v in edges.values()))
    report.cycles = find_cycles(edges)
    report.engine_to_domains = sorted((a, b) for a, bs in edges.items() if a.startswith(ENGINE)
                                      for b in bs if b.split(".")[0] == "domains")
    for m in sorted(edges):
        if m.startswith(ENGINE):
            spec = sys.modules.get(m)
            path = Path(spec.__file__) if spec and getattr(spec, "__file__", None) else _module_path(m)
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
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
