"""The figures: every report plot labelled, with a legend, written as PNG + SVG + PDF; the proof graph never
clips a node."""

from __future__ import annotations

import json

import math
import sys
from pathlib import Path

import pytest

from formalpi.analysis import plots
from formalpi.analysis.report import ReportOptions, build_report, write_plots
from formalpi.analysis.synthetic import synthetic_store

sys.path.insert(0, str(Path(__file__).parent))
from skeleton_cases import CASES  # noqa: E402


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots") / "runs"
    synthetic_store(root, conditions=["gold", "try_again"], seeds=[1, 2], problems=40, n=4)
    return build_report([root], ReportOptions(n_boot=200))


def test_retries_plot_left_out_when_every_row_has_one_k(tmp_path):
    root = tmp_path / "runs"
    synthetic_store(root, conditions=["gold", "try_again"], seeds=[1], problems=20, n=2)
    for manifest in root.rglob("manifest.json"):  # the synthetic rows have K = 2 and 3: make every K 1
        m = json.loads(manifest.read_text())
        if "retry" in m["config"]:  # the baseline's config has no [retry] (it does not retry)
            m["config"]["retry"]["k"] = 1
            manifest.write_text(json.dumps(m))
    groups, diversity = build_report([root], ReportOptions(n_boot=100))
    assert [p.stem for p in write_plots(groups, diversity, tmp_path)] == ["gains", "inverted_u", "levels", "diversity"]
    assert not (tmp_path / "retries.png").exists()


def test_every_report_plot_is_labelled_with_a_legend_and_vector_copies(analysed, tmp_path, monkeypatch):
    seen = {}
    real_save = plots._save

    def spy(fig, path):
        ax = fig.axes[0]
        seen[path.stem] = (ax.get_xlabel(), ax.get_ylabel(), ax.get_legend())
        return real_save(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    groups, diversity = analysed
    pngs = write_plots(groups, diversity, tmp_path)
    assert [p.stem for p in pngs] == ["gains", "inverted_u", "levels", "retries", "diversity"]
    for name, (xlabel, ylabel, legend) in seen.items():
        assert xlabel and ylabel, name
        assert legend is not None and [t.get_text() for t in legend.get_texts()], name
    # retries.png had no legend: now one entry per condition row
    assert sorted(t.get_text() for t in seen["retries"][2].get_texts()) == ["gold", "try_again"]
    assert "95%" in seen["inverted_u"][1] and "baseline pass@1" in seen["inverted_u"][0]
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert p.with_suffix(".svg").read_text().lstrip().startswith("<?xml")
        assert p.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    # 300 dpi: a 7 x 4.5 inch figure is about 2100 pixels wide
    import struct

    width = struct.unpack(">I", (tmp_path / "levels.png").read_bytes()[16:20])[0]
    assert width > 1500


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.id in {"intro_shadows_hypothesis", "obtain_typed", "empty_proof_minif2f", "nested_by"}],
    ids=lambda c: c.id,
)
def test_proof_graph_never_clips_a_node(case):
    """Each node's disk (radius from its marker size) lies inside the axes; these cases were cut at the edge."""
    import matplotlib.pyplot as plt

    from formalpi.cli.lean_skeleton import NODE_SIZE, proof_graph_figure
    from formalpi.lean.skeleton import skeleton_of

    fig = proof_graph_figure(skeleton_of(case.text).graph)
    try:
        fig.canvas.draw()
        ax = fig.axes[0]
        r = math.sqrt(NODE_SIZE) / 2 * fig.dpi / 72
        bb = ax.bbox
        centres = ax.transData.transform(ax.collections[0].get_offsets())
        assert len(centres) >= 2
        for x, y in centres:
            assert bb.x0 <= x - r and x + r <= bb.x1 and bb.y0 <= y - r and y + r <= bb.y1, (x, y, r, bb)
    finally:
        plt.close(fig)
