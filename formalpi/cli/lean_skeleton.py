"""`formalpi lean skeleton FILE`: print a proof's have-skeleton and its graph summary; `--dot`, `--png`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from formalpi.cli._common import console
from formalpi.errors import DataError
from formalpi.lean.skeleton import GOAL, NodeKind, ProofGraph, skeleton_of


NODE_SIZE = 900  # points², the area of a node's disk


def proof_graph_figure(graph: ProofGraph) -> Any:
    """Draw the graph left to right by longest-path level (matplotlib + networkx; no graphviz binary). The axes
    are padded by a node's radius, so no disk is cut at the edge; labels are never clipped."""
    import matplotlib

    matplotlib.use("Agg")
    import math

    import matplotlib.pyplot as plt
    import networkx as nx
    import numpy as np

    level: dict[str, int] = {}
    for n in nx.topological_sort(graph):
        level[n] = max((level[p] + 1 for p in graph.predecessors(n)), default=0)
    level[GOAL] = max(level.values(), default=0) + (1 if graph.in_degree(GOAL) else 0)
    for n in graph:
        graph.nodes[n]["_layer"] = level[n]
    pos = nx.multipartite_layout(graph, subset_key="_layer")
    for n in graph:
        del graph.nodes[n]["_layer"]
    colour = {NodeKind.HYPOTHESIS: "#9ecae1", NodeKind.HAVE: "#fdd0a2", NodeKind.GOAL: "#a1d99b"}
    fig, ax = plt.subplots(figsize=(max(6, 2 * (max(level.values(), default=0) + 1)), max(4, 0.6 * len(graph))))
    nx.draw_networkx(
        graph,
        pos,
        ax=ax,
        node_color=[colour[graph.nodes[n]["kind"]] for n in graph],
        node_size=NODE_SIZE,
        font_size=9,
        arrows=True,
    )
    ax.set_axis_off()
    fig.tight_layout()
    # pad each axis so a disk of radius r pixels centred on an extreme node stays inside the axes:
    # pad = r * span / (axes_pixels - 2 r)  (data units), from span + 2 pad = axes_pixels * (data per pixel)
    xy = np.array(list(pos.values()), dtype=float).reshape(-1, 2)
    r_px = 1.2 * math.sqrt(NODE_SIZE) / 2 * fig.dpi / 72
    ax.set_xlim(*_padded_limits(xy[:, 0], ax.bbox.width, r_px))
    ax.set_ylim(*_padded_limits(xy[:, 1], ax.bbox.height, r_px))
    for artist in ax.get_children():
        if hasattr(artist, "get_text"):
            artist.set_clip_on(False)  # a long have name may be wider than its disk
    return fig


def _padded_limits(values: Any, pixels: float, r_px: float) -> tuple[float, float]:
    """An axis' limits with room for a disk of radius `r_px` pixels around its extreme nodes."""
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return lo - 0.5, hi + 0.5
    pad = r_px * (hi - lo) / max(pixels - 2 * r_px, 1.0)
    return lo - pad, hi + pad


def write_png(graph: ProofGraph, path: Path) -> None:
    """The drawing as an image; the format follows the suffix (.png, or .svg/.pdf for vector output)."""
    import matplotlib.pyplot as plt

    fig = proof_graph_figure(graph)
    fig.savefig(path, dpi=200, bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)


def register(app: typer.Typer) -> None:
    @app.command("skeleton")
    def skeleton_cmd(
        file: Path = typer.Argument(..., help="a .lean file with a theorem and its proof"),
        depth: Optional[int] = typer.Option(1, help="keep haves up to this nesting depth"),
        all_depths: bool = typer.Option(False, "--all", help="keep nested haves at every depth"),
        dot: Optional[Path] = typer.Option(None, help="write the proof graph as Graphviz DOT here"),
        png: Optional[Path] = typer.Option(None, help="write a picture of the proof graph here"),
    ) -> None:
        """Print the have-skeleton of a Lean proof and a summary of its proof graph."""
        if not file.is_file():
            raise DataError(f"lean skeleton: {file} is not a file (give a .lean file with a theorem and proof)")
        if depth is not None and depth < 1:
            raise DataError(f"lean skeleton: --depth must be >= 1, got {depth}")
        sk = skeleton_of(file.read_text(encoding="utf-8"), source=str(file))
        console.print(sk.to_lean(None if all_depths else depth), highlight=False, markup=False, end="", soft_wrap=True)
        s = sk.graph.summary()
        console.print(
            f"haves: {s.haves}  hypotheses: {s.hypotheses}  edges: {s.edges}  "
            f"longest chain to goal: {s.longest_chain}  width: {s.width}",
            highlight=False,
        )
        console.print(
            f"not referenced by name on the way to the goal: haves {', '.join(s.unused_haves) or '-'}; "
            f"hypotheses {', '.join(s.unused_hypotheses) or '-'} (the text shows names only: a tactic "
            "such as linarith or simp [*] may use them without naming them)",
            highlight=False,
            markup=False,
        )
        if dot is not None:
            dot.write_text(sk.graph.to_dot(), encoding="utf-8")
            console.print(f"wrote {dot}", highlight=False)
        if png is not None:
            write_png(sk.graph, png)
            console.print(f"wrote {png}", highlight=False)
